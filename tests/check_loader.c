/* check_loader: plugins the core must refuse (tests/plugins/broken.c, missing
 * and garbage files, typo'd settings): each names file, reason and fix, and
 * disables only its operation, which callers see as plugin_unavailable. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine.h"
#include "loader.h"
#include "testutil.h"

static char *dir;
static const char *plugin_dir;   /* TEST_PLUGIN_DIR: the broken plugins */
static char search_path[4096];   /* DCPROXY_PLUGIN_PATH: the real ones */
static char main_file[4200];
static char ini[16384];          /* the registry being written */
static struct engine *engine;
static FILE *log_file;
static char err[2048];

static void
setup(void)
{
	plugin_dir = getenv("TEST_PLUGIN_DIR");
	const char *path = getenv("DCPROXY_PLUGIN_PATH");
	ck_assert_msg(plugin_dir != NULL && path != NULL,
		      "TEST_PLUGIN_DIR and DCPROXY_PLUGIN_PATH must be set: run from make check");
	/* A copy: some tests change the variable. */
	snprintf(search_path, sizeof search_path, "%s", path);
	dir = test_tmpdir();
	snprintf(main_file, sizeof main_file, "%s/operations.ini", dir);
	snprintf(ini, sizeof ini, "%s", test_services_ini);
	/* Calls that get past the plugin fail fast on a closed port. */
	setenv("DATA_COLLECTION_URL", "http://127.0.0.1:1", 1);
	setenv("MAX_RETRIES", "0", 1);
	unsetenv("DCPROXY_REGISTRY");
	unsetenv("LOG_LEVEL");
	log_file = tmpfile();
	ck_assert_ptr_nonnull(log_file);
	engine = NULL;
	err[0] = '\0';
}

static void
teardown(void)
{
	engine_close(engine);
	fclose(log_file);
	test_rmdir(dir);
	/* Undo search_path_order's change should tests share one process. */
	setenv("DCPROXY_PLUGIN_PATH", search_path, 1);
}

/* Append an operation to the registry and return its header's line.
 * A plugin "@x" is x.so in TEST_PLUGIN_DIR, by absolute path. */
static int __attribute__((format(printf, 3, 4)))
add_op(const char *name, const char *plugin, const char *extra_fmt, ...)
{
	int line = 1;
	for (const char *p = ini; *p; p++)
		line += *p == '\n';
	size_t n = strlen(ini);
	char path[4096];
	if (plugin[0] == '@')
		snprintf(path, sizeof path, "%s/%s.so", plugin_dir, plugin + 1);
	else
		snprintf(path, sizeof path, "%s", plugin);
	n += (size_t)snprintf(ini + n, sizeof ini - n,
			      "[operation %s]\nplugin = %s\nmethod = GET\n"
			      "route = /api/v1/%s\nservice = data-collection\n",
			      name, path, name);
	va_list ap;
	va_start(ap, extra_fmt);
	n += (size_t)vsnprintf(ini + n, sizeof ini - n, extra_fmt, ap);
	va_end(ap);
	ck_assert_uint_lt(n, sizeof ini - 1);
	return line;
}

static void
open_engine(void)
{
	free(test_write_file(dir, "operations.ini", ini));
	struct engine_options opts = {
		.registry = main_file,
		.log_stream = log_file,
	};
	engine = engine_open(&opts, err, sizeof err);
	ck_assert_msg(engine != NULL, "engine_open: %s", err);
	ck_assert_int_eq(engine_registry(engine)->n_problems, 0);
}

/* The operation must refuse to load with exactly this message, and a call
 * must report it as plugin_unavailable. */
static void
assert_refused(const char *name, const char *message)
{
	ck_assert_msg(engine_load_operation(engine, name, err, sizeof err) == NULL,
		      "%s loaded", name);
	ck_assert_str_eq(err, message);

	struct call_outcome out;
	engine_call(engine, name, NULL, NULL, &out);
	ck_assert_int_eq(out.error, CALL_PLUGIN_UNAVAILABLE);
	const char *kind = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(out.result, "error_kind"));
	const char *error = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(out.result, "error"));
	ck_assert_str_eq(kind, "plugin_unavailable");
	char want[4096];
	snprintf(want, sizeof want, "Operation '%s' is unavailable: %s", name,
		 message);
	ck_assert_str_eq(error, want);
	cJSON_Delete(out.result);
}

static void
assert_loads(const char *name, const char *path)
{
	const struct loaded_plugin *lp =
		engine_load_operation(engine, name, err, sizeof err);
	ck_assert_msg(lp != NULL, "%s: %s", name, err);
	if (path != NULL)
		ck_assert_str_eq(lp->path, path);
}

/* How many log lines mention text. */
static int
log_lines_with(const char *text)
{
	char line[8192];
	int n = 0;
	fflush(log_file);
	rewind(log_file);
	while (fgets(line, sizeof line, log_file) != NULL)
		n += strstr(line, text) != NULL;
	return n;
}

/* The log lines whose msg starts with prefix, parsed, in order; caller
 * deletes. */
static cJSON *
log_docs_with(const char *prefix)
{
	char line[8192];
	cJSON *docs = cJSON_CreateArray();
	fflush(log_file);
	rewind(log_file);
	while (fgets(line, sizeof line, log_file) != NULL) {
		cJSON *doc = cJSON_Parse(line);
		ck_assert_msg(doc != NULL, "not a JSON line: %s", line);
		const char *msg = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(doc, "msg"));
		if (msg != NULL && strncmp(msg, prefix, strlen(prefix)) == 0)
			cJSON_AddItemToArray(docs, doc);
		else
			cJSON_Delete(doc);
	}
	fseek(log_file, 0, SEEK_END);
	return docs;
}

static const char *
doc_string(const cJSON *doc, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, key));
}

/* ---- descriptors and init ---- */

static const struct {
	const char *plugin;   /* in TEST_PLUGIN_DIR */
	const char *settings; /* extra registry lines */
	const char *reason;   /* after "PATH: " */
} refusals[] = {
	{ "no_descriptor", "",
	  "does not export 'dcproxy_plugin': not a dcproxy plugin, or not built with dcproxy/plugin.h" },
	{ "abi_major", "",
	  "plugin wants ABI 2.0, dcproxy provides 1.0: rebuild it against dcproxy-dev 1.0" },
	{ "abi_minor", "",
	  "plugin wants ABI 1.1, dcproxy provides 1.0: rebuild it against dcproxy-dev 1.0" },
	{ "no_name", "", "descriptor has no name: fix the plugin" },
	{ "init_fails", "", "init failed: the upstream credentials file is missing" },
	{ "settings", "colour = green\n",
	  "init failed: colour must be red or blue, not 'green'" },
	{ "settings", "", "init failed: colour must be red or blue, not '(unset)'" },
};

START_TEST(refused_with_reason)
{
	char plugin[64], message[4096];
	snprintf(plugin, sizeof plugin, "@%s", refusals[_i].plugin);
	add_op("health", "health", "%s", "");
	add_op("broken", plugin, "%s", refusals[_i].settings);
	add_op("symbols", "symbols", "%s", "");
	open_engine();
	snprintf(message, sizeof message, "%s/%s.so: %s", plugin_dir,
		 refusals[_i].plugin, refusals[_i].reason);
	assert_refused("broken", message);
	/* Its neighbours in the same engine are unaffected. */
	assert_loads("health", NULL);
	assert_loads("symbols", NULL);
}
END_TEST

START_TEST(descriptor_too_small)
{
	char message[4096];
	add_op("tiny", "@tiny_size", "%s", "");
	open_engine();
	snprintf(message, sizeof message,
		 "%s/tiny_size.so: descriptor is 8 bytes, ABI 1.0 needs %zu: "
		 "rebuild it against dcproxy-dev 1.0",
		 plugin_dir, sizeof(struct dcp_plugin));
	assert_refused("tiny", message);
}
END_TEST

/* ---- settings ---- */

START_TEST(settings_reach_the_plugin)
{
	char path[4096];
	add_op("painted", "@settings", "colour = blue\n");
	open_engine();
	snprintf(path, sizeof path, "%s/settings.so", plugin_dir);
	assert_loads("painted", path);
	const struct loaded_plugin *lp =
		engine_load_operation(engine, "painted", err, sizeof err);
	ck_assert_str_eq(lp->desc->name, "settings");
}
END_TEST

START_TEST(unknown_setting_names_registry_line)
{
	char message[8192];
	add_op("health", "health", "%s", "");
	int line = add_op("painted", "@settings", "colour = red\n; typo next\ncolur = red\n");
	open_engine();
	snprintf(message, sizeof message,
		 "%s:%d: unknown setting 'colur' for plugin %s/settings.so (it accepts: colour)",
		 main_file, line + 7, plugin_dir);
	assert_refused("painted", message);
	assert_loads("health", NULL);
}
END_TEST

START_TEST(setting_for_plugin_without_settings)
{
	char message[8192];
	int line = add_op("health", "health", "retries = 3\n");
	open_engine();
	snprintf(message, sizeof message,
		 "%s:%d: unknown setting 'retries' for plugin ", main_file,
		 line + 5);
	ck_assert_ptr_null(engine_load_operation(engine, "health", err, sizeof err));
	ck_assert_msg(strncmp(err, message, strlen(message)) == 0, "%s", err);
	ck_assert_msg(strstr(err, "/health.so (it accepts: none)") != NULL,
		      "%s", err);
}
END_TEST

/* ---- files ---- */

START_TEST(missing_by_name)
{
	char message[8192];
	add_op("health", "health", "%s", "");
	add_op("gone", "no_such_plugin", "%s", "");
	open_engine();
	snprintf(message, sizeof message,
		 "no_such_plugin.so: not found in %s: install the plugin or set DCPROXY_PLUGIN_PATH",
		 search_path);
	assert_refused("gone", message);
	assert_loads("health", NULL);
}
END_TEST

START_TEST(missing_by_path)
{
	char message[8192];
	int line = add_op("gone", "/nonexistent/dcproxy/gone.so", "%s", "");
	open_engine();
	snprintf(message, sizeof message,
		 "/nonexistent/dcproxy/gone.so: no such file: install the plugin or fix 'plugin' at %s:%d",
		 main_file, line);
	assert_refused("gone", message);
}
END_TEST

/* A directory where the plugin should be, by path or in the search path. */
START_TEST(directory_as_plugin)
{
	char message[8192];
	int line = add_op("dir", dir, "%s", "");
	open_engine();
	snprintf(message, sizeof message,
		 "%s: is a directory, not a plugin: install the plugin or fix 'plugin' at %s:%d",
		 dir, main_file, line);
	assert_refused("dir", message);
}
END_TEST

START_TEST(garbage_file)
{
	char *path = test_write_file(dir, "garbage.so",
				     "this is not a shared object\n");
	add_op("health", "health", "%s", "");
	add_op("junk", path, "%s", "");
	open_engine();
	ck_assert_ptr_null(engine_load_operation(engine, "junk", err, sizeof err));
	char prefix[4200];
	snprintf(prefix, sizeof prefix, "%s: cannot be loaded (", path);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "%s", err);
	ck_assert_msg(strstr(err, "): check it was built for this system and its libraries are installed") != NULL,
		      "%s", err);
	char message[4096];
	snprintf(message, sizeof message, "%s", err);
	assert_refused("junk", message);
	assert_loads("health", NULL);
	free(path);
}
END_TEST

/* Directories are searched in order; empty entries are skipped, and the
 * first file found is the one used, even when it is garbage. */
START_TEST(search_path_order)
{
	char path[16384], shadow[4200];
	snprintf(shadow, sizeof shadow, "%s/shadow", dir);
	ck_assert_int_eq(mkdir(shadow, 0755), 0);
	free(test_write_file(shadow, "symbols.so", "not an ELF file"));
	snprintf(path, sizeof path, "%s/empty::%s:%s:%s", dir, shadow,
		 plugin_dir, search_path);
	setenv("DCPROXY_PLUGIN_PATH", path, 1);

	add_op("painted", "settings", "colour = red\n");
	add_op("health", "health", "%s", "");
	add_op("symbols", "symbols", "%s", "");
	open_engine();
	snprintf(path, sizeof path, "%s/settings.so", plugin_dir);
	assert_loads("painted", path);
	snprintf(path, sizeof path, "%s/health.so", search_path);
	assert_loads("health", path);
	ck_assert_ptr_null(engine_load_operation(engine, "symbols", err, sizeof err));
	snprintf(path, sizeof path, "%s/symbols.so: cannot be loaded", shadow);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "%s", err);
}
END_TEST

START_TEST(locate)
{
	char path[4096], search[8192];
	loader_locate("/opt/x/plugin.so", "/a:/b", path, sizeof path);
	ck_assert_str_eq(path, "/opt/x/plugin.so");
	loader_locate("health", "/nonexistent/a:/nonexistent/b", path, sizeof path);
	ck_assert_str_eq(path, "/nonexistent/a/health.so");
	snprintf(search, sizeof search, "/nonexistent/a::%s", search_path);
	loader_locate("health", search, path, sizeof path);
	snprintf(search, sizeof search, "%s/health.so", search_path);
	ck_assert_str_eq(path, search);
	loader_locate("health", "", path, sizeof path);
	ck_assert_str_eq(path, "");
}
END_TEST

/* ---- the engine around failures ---- */

START_TEST(undefined_service)
{
	char message[8192];
	add_op("health", "health", "%s", "");
	size_t n = strlen(ini);
	int line = 1;
	for (const char *p = ini; *p; p++)
		line += *p == '\n';
	snprintf(ini + n, sizeof ini - n,
		 "[operation lost]\nplugin = health\nmethod = GET\n"
		 "route = /api/v1/lost\nservice = nowhere\n");
	open_engine();
	/* The plugin is fine; only the call cannot be routed. */
	assert_loads("lost", NULL);

	struct call_outcome out;
	engine_call(engine, "lost", NULL, NULL, &out);
	ck_assert_int_eq(out.error, CALL_SERVICE_UNRESOLVED);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				 out.result, "error_kind")),
			 "service_unresolved");
	snprintf(message, sizeof message,
		 "Cannot resolve the service URL: %s:%d: operation 'lost' uses service 'nowhere', which no [service nowhere] section defines",
		 main_file, line);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				 out.result, "error")),
			 message);
	cJSON_Delete(out.result);

	char url[256];
	ck_assert_int_eq(engine_service_url(engine, registry_find_operation(
				     engine_registry(engine), "lost"),
					    url, sizeof url, err, sizeof err), -1);
}
END_TEST

/* Every kind of broken plugin in one registry: each fails on its own, the
 * failure is logged once and remembered, and the healthy operations still
 * run their whole pipeline. */
START_TEST(one_engine_all_failures)
{
	static const char *const broken[] = { "no_descriptor", "abi_major",
					      "abi_minor", "tiny_size",
					      "no_name", "init_fails" };
	const size_t n_broken = sizeof broken / sizeof broken[0];
	char want_typo[8192];
	char *garbage = test_write_file(dir, "garbage.so", "\x7f" "ELF junk");
	add_op("health", "health", "%s", "");
	for (size_t i = 0; i < n_broken; i++) {
		char plugin[64];
		snprintf(plugin, sizeof plugin, "@%s", broken[i]);
		add_op(broken[i], plugin, "%s", "");
	}
	add_op("garbage", garbage, "%s", "");
	add_op("missing", "not_installed", "%s", "");
	int typo_line = add_op("typo", "@settings", "colour = red\ncolor = red\n");
	add_op("fetch_ohlcv", "fetch_ohlcv", "default_limit = 500\n");
	open_engine();

	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < n_broken; i++) {
			char want[4200];
			snprintf(want, sizeof want, "%s/%s.so: ", plugin_dir,
				 broken[i]);
			ck_assert_ptr_null(engine_load_operation(engine, broken[i],
								 err, sizeof err));
			ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
				      "%s: %s", broken[i], err);
			struct call_outcome out;
			engine_call(engine, broken[i], NULL, NULL, &out);
			ck_assert_int_eq(out.error, CALL_PLUGIN_UNAVAILABLE);
			cJSON_Delete(out.result);
		}
		static const char *const others[] = { "garbage", "missing", "typo" };
		for (size_t i = 0; i < 3; i++) {
			struct call_outcome out;
			engine_call(engine, others[i], NULL, NULL, &out);
			ck_assert_int_eq(out.error, CALL_PLUGIN_UNAVAILABLE);
			cJSON_Delete(out.result);
		}

		/* health gets as far as the network. */
		struct call_outcome out;
		engine_call(engine, "health", NULL, NULL, &out);
		ck_assert_int_eq(out.error, CALL_CONNECTION);
		cJSON_Delete(out.result);

		/* fetch_ohlcv's plugin validates. */
		cJSON *params = cJSON_Parse("{\"symbol\":\"BTCUSDT\"}");
		engine_call(engine, "fetch_ohlcv", params, NULL, &out);
		ck_assert_int_eq(out.error, CALL_INVALID_PARAMS);
		cJSON_Delete(out.result);
		cJSON_Delete(params);
	}

	/* One error line per failed plugin, despite two rounds. */
	for (size_t i = 0; i < n_broken; i++) {
		char want[4200];
		snprintf(want, sizeof want, "\"plugin: %s/%s.so: ", plugin_dir,
			 broken[i]);
		ck_assert_msg(log_lines_with(want) == 1, "%s logged %d times",
			      broken[i], log_lines_with(want));
	}
	ck_assert_int_eq(log_lines_with("\"level\":\"error\""), (int)n_broken + 3);
	snprintf(want_typo, sizeof want_typo,
		 "\"msg\":\"plugin: %s:%d: unknown setting 'color'", main_file,
		 typo_line + 6);
	ck_assert_int_eq(log_lines_with(want_typo), 1);
	free(garbage);
}
END_TEST

/* ---- a plugin's own log lines ---- */

/* Lines a plugin logs through host->log while preparing a call carry the
 * call's request id, as the engine's own lines do; lines from init, which
 * belongs to no call, carry none, and neither does a call without one. */
START_TEST(plugin_log_names_request)
{
	add_op("painted", "@settings", "colour = red\n");
	open_engine();
	static const char *const ids[] = { "req-paint-1", "req-paint-2", NULL };
	for (size_t i = 0; i < 3; i++) {
		struct call_context ctx = { .request_id = ids[i] };
		struct call_outcome out;
		engine_call(engine, "painted", NULL, &ctx, &out);
		/* past prepare, as far as the closed port */
		ck_assert_int_eq(out.error, CALL_CONNECTION);
		cJSON_Delete(out.result);
	}

	cJSON *lines = log_docs_with("prepare: painting red");
	ck_assert_int_eq(cJSON_GetArraySize(lines), 3);
	for (int i = 0; i < 3; i++) {
		const cJSON *line = cJSON_GetArrayItem(lines, i);
		ck_assert_str_eq(doc_string(line, "operation"), "painted");
		ck_assert_str_eq(doc_string(line, "level"), "info");
		if (ids[i] != NULL)
			ck_assert_str_eq(doc_string(line, "request_id") != NULL
						 ? doc_string(line, "request_id")
						 : "(none)",
					 ids[i]);
		else
			ck_assert_ptr_null(doc_string(line, "request_id"));
	}
	cJSON_Delete(lines);

	/* the engine's line for the same call names the same request */
	lines = log_docs_with("connection: ");
	ck_assert_int_eq(cJSON_GetArraySize(lines), 3);
	ck_assert_str_eq(doc_string(cJSON_GetArrayItem(lines, 0), "request_id"),
			 "req-paint-1");
	cJSON_Delete(lines);

	lines = log_docs_with("init: colour red");
	ck_assert_int_eq(cJSON_GetArraySize(lines), 1);
	ck_assert_ptr_null(doc_string(cJSON_GetArrayItem(lines, 0), "request_id"));
	ck_assert_str_eq(doc_string(cJSON_GetArrayItem(lines, 0), "operation"),
			 "painted");
	cJSON_Delete(lines);
}
END_TEST

#define PAINTERS 8
#define PAINTS 25

static void *
paint_many(void *arg)
{
	const char *tag = arg;
	for (int i = 0; i < PAINTS; i++) {
		char id[64], params[64];
		snprintf(id, sizeof id, "req-%s-%d", tag, i);
		snprintf(params, sizeof params, "{\"tag\":\"%s-%d\"}", tag, i);
		cJSON *p = cJSON_Parse(params);
		struct call_context ctx = { .request_id = id };
		struct call_outcome out;
		engine_call(engine, "painted", p, &ctx, &out);
		cJSON_Delete(out.result);
		cJSON_Delete(p);
	}
	return NULL;
}

/* Concurrent calls of one operation share its handle, the only thing
 * host->log is given: still, each line names its own call. */
START_TEST(plugin_log_concurrent_calls)
{
	add_op("painted", "@settings", "colour = blue\n");
	open_engine();
	ck_assert_ptr_nonnull(engine_load_operation(engine, "painted", err,
						    sizeof err));
	static const char *const tags[PAINTERS] = { "a", "b", "c", "d",
						    "e", "f", "g", "h" };
	pthread_t threads[PAINTERS];
	for (int i = 0; i < PAINTERS; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL, paint_many,
						(void *)tags[i]), 0);
	for (int i = 0; i < PAINTERS; i++)
		pthread_join(threads[i], NULL);

	cJSON *lines = log_docs_with("prepare: painting blue for ");
	ck_assert_int_eq(cJSON_GetArraySize(lines), PAINTERS * PAINTS);
	const cJSON *line;
	cJSON_ArrayForEach(line, lines) {
		const char *msg = doc_string(line, "msg");
		const char *id = doc_string(line, "request_id");
		char want[64];
		snprintf(want, sizeof want, "req-%s",
			 msg + strlen("prepare: painting blue for "));
		ck_assert_msg(id != NULL && strcmp(id, want) == 0,
			      "'%s' logged with request id %s", msg,
			      id != NULL ? id : "(none)");
	}
	cJSON_Delete(lines);
}
END_TEST

static Suite *
loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("refusals");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, refused_with_reason, 0,
			    (int)(sizeof refusals / sizeof refusals[0]));
	tcase_add_test(tc, descriptor_too_small);
	tcase_add_test(tc, settings_reach_the_plugin);
	tcase_add_test(tc, unknown_setting_names_registry_line);
	tcase_add_test(tc, setting_for_plugin_without_settings);
	tcase_add_test(tc, missing_by_name);
	tcase_add_test(tc, missing_by_path);
	tcase_add_test(tc, directory_as_plugin);
	tcase_add_test(tc, garbage_file);
	tcase_add_test(tc, search_path_order);
	tcase_add_test(tc, locate);
	suite_add_tcase(s, tc);

	tc = tcase_create("engine");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, undefined_service);
	tcase_add_test(tc, one_engine_all_failures);
	suite_add_tcase(s, tc);

	tc = tcase_create("plugin_log");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, plugin_log_names_request);
	tcase_add_test(tc, plugin_log_concurrent_calls);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(loader_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
