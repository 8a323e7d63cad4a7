/* check_registry: loading the INI registry and its operations.d drop-ins:
 * order, defaults, and file-and-line errors that reject only their file.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"
#include "testutil.h"

#define BODY "plugin = health\nmethod = GET\nroute = /v\nservice = data-collection\n"

static char *dir;
static struct registry reg;
static char err[1024];

static void
setup(void)
{
	dir = test_tmpdir();
	memset(&reg, 0, sizeof reg);
	err[0] = '\0';
}

static void
teardown(void)
{
	registry_free(&reg);
	test_rmdir(dir);
	dir = NULL;
}

static void
write_file(const char *name, const char *text)
{
	free(test_write_file(dir, name, text));
}

/* Write the main file and load it; the main file must be readable. */
static void
load(const char *main_text)
{
	char path[4096];
	write_file("operations.ini", main_text);
	snprintf(path, sizeof path, "%s/operations.ini", dir);
	ck_assert_msg(registry_load(&reg, path, err, sizeof err) == 0, "%s", err);
}

static void
assert_ops(const char *const *names, size_t n)
{
	ck_assert_msg(reg.n_ops == n, "%zu operations, want %zu", reg.n_ops, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(reg.ops[i].name, names[i]);
}

/* The problem "DIR/FILE:LINE: ...reason...; file ignored". */
static void
assert_problem(size_t index, const char *file, int line, const char *reason)
{
	ck_assert_msg(reg.n_problems > index, "only %zu problems", reg.n_problems);
	const char *p = reg.problems[index];
	char prefix[4200];
	snprintf(prefix, sizeof prefix, "%s/%s:%d: ", dir, file, line);
	ck_assert_msg(strncmp(p, prefix, strlen(prefix)) == 0,
		      "problem '%s' does not start '%s'", p, prefix);
	ck_assert_msg(strstr(p, reason) != NULL, "problem '%s' lacks '%s'", p,
		      reason);
	size_t n = strlen(p);
	ck_assert_msg(n > 14 && strcmp(p + n - 14, "; file ignored") == 0,
		      "problem '%s' does not end '; file ignored'", p);
}

/* ---- order and file selection ---- */

START_TEST(dropins_in_byte_order)
{
	write_file("operations.d/9-b.ini", "[operation b]\n" BODY);
	write_file("operations.d/a-d.ini", "[operation d]\n" BODY);
	write_file("operations.d/10-a.ini", "[operation a]\n" BODY);
	write_file("operations.d/A-c.ini", "[operation c]\n" BODY);
	load("[service data-collection]\nport = 8002\n\n[operation main]\n" BODY);
	static const char *const order[] = { "main", "a", "b", "c", "d" };
	assert_ops(order, 5);
	ck_assert_int_eq(reg.n_problems, 0);

	char want[4200];
	snprintf(want, sizeof want, "%s/operations.ini", dir);
	ck_assert_str_eq(reg.ops[0].file, want);
	ck_assert_str_eq(reg.path, want);
	ck_assert_int_eq(reg.ops[0].line, 4);
	snprintf(want, sizeof want, "%s/operations.d/10-a.ini", dir);
	ck_assert_str_eq(reg.ops[1].file, want);
	ck_assert_int_eq(reg.ops[1].line, 1);
	snprintf(want, sizeof want, "%s/operations.d/9-b.ini", dir);
	ck_assert_str_eq(reg.ops[2].file, want);
}
END_TEST

START_TEST(non_ini_and_dotfiles_ignored)
{
	static const char *const ignored[] = {
		"operations.d/README", "operations.d/x.ini~",
		"operations.d/x.ini.bak", "operations.d/.hidden.ini",
		"operations.d/.ini", "operations.d/notes.txt",
		"operations.d/x.INI", "operations.d/ini",
	};
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		write_file(ignored[i], "this is not an ini file at all\n");
	write_file("operations.d/x.ini", "[operation x]\n" BODY);
	load(test_services_ini);
	static const char *const only[] = { "x" };
	assert_ops(only, 1);
	ck_assert_msg(reg.n_problems == 0, "%s", reg.problems[0]);
}
END_TEST

START_TEST(no_dropin_directory)
{
	load("[service data-collection]\nport = 8002\n[operation x]\n" BODY);
	static const char *const only[] = { "x" };
	assert_ops(only, 1);
	ck_assert_int_eq(reg.n_problems, 0);
}
END_TEST

/* A bare file name means operations.d in the working directory. */
START_TEST(relative_main_file)
{
	write_file("operations.ini", test_services_ini);
	write_file("operations.d/x.ini", "[operation x]\n" BODY);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_msg(registry_load(&reg, "operations.ini", err, sizeof err) == 0,
		      "%s", err);
	static const char *const only[] = { "x" };
	assert_ops(only, 1);
	ck_assert_str_eq(reg.ops[0].file, "./operations.d/x.ini");
}
END_TEST

START_TEST(missing_main_file)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/nowhere.ini", dir);
	ck_assert_int_eq(registry_load(&reg, path, err, sizeof err), -1);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
	ck_assert_msg(strstr(err, "DCPROXY_REGISTRY") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
	/* Nothing is left to free, and freeing again is harmless. */
	ck_assert_ptr_null(reg.path);
	ck_assert_int_eq(reg.n_ops, 0);
}
END_TEST

/* ---- errors: each rejects its own file only ---- */

static const struct {
	const char *text;
	int line;
	const char *reason;
} bad_files[] = {
	{ "[operation victim]\nplugin = health\nthis line has no equals sign\n",
	  3, "expected 'key = value' or '[section]'" },
	{ "plugin = health\n[operation victim]\n" BODY,
	  1, "'plugin' appears before any section" },
	{ "; comment\n[widget victim]\nport = 1\n",
	  2, "unknown section kind 'widget': expected 'operation' or 'service'" },
	{ "[operation]\n" BODY, 1, "section must be [operation NAME] or [service NAME]" },
	{ "[operation victim\n" BODY, 1, "section header without ']'" },
	{ "[operation bad/name]\n" BODY, 1, "bad name 'bad/name'" },
	{ "[operation has space]\n" BODY, 1, "bad name 'has space'" },
	{ "[operation aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n" BODY,
	  1, "use 1-64 letters" },
	{ "[service extra]\nport = 8100\nhots = extra.local\n",
	  3, "unknown service key 'hots' (expected host, port, url_env)" },
	{ "[service extra]\nport = 0\n", 2, "port '0' is not 1-65535" },
	{ "[service extra]\nport = 65536\n", 2, "port '65536' is not 1-65535" },
	{ "[service extra]\nport = 80x\n", 2, "port '80x' is not 1-65535" },
	{ "[service extra]\nport = -1\n", 2, "port '-1' is not 1-65535" },
	{ "[service extra]\nport =\n", 2, "port '' is not 1-65535" },
	{ "\n[service extra]\nhost = extra.local\n", 2, "service 'extra' has no port" },
	{ "[service extra]\nport = 1\nport = 2\n", 3, "'port' given twice" },
	{ "[service extra]\nport = 1\nhost = a\nhost = b\n", 4, "'host' given twice" },
	{ "[service extra]\nport = 1\nurl_env = A\nurl_env = B\n", 4, "'url_env' given twice" },
	{ "[operation victim]\nplugin = health\nmethod = PUT\n", 3, "method 'PUT' is not GET or POST" },
	{ "[operation victim]\nmethod = get\n", 2, "method 'get' is not GET or POST" },
	{ "[operation victim]\nroute = api/v1/x\n", 2,
	  "route 'api/v1/x' must be a path starting with '/', without query" },
	{ "[operation victim]\nroute = /api/v1/x?y=1\n", 2, "route '/api/v1/x?y=1' must be a path" },
	{ "[operation victim]\nroute = /api/v1/x#y\n", 2, "must be a path" },
	{ "[operation victim]\nroute = /api/v1 x\n", 2, "must be a path" },
	{ "[operation victim]\n" BODY "cache = maybe\n", 6, "cache 'maybe' is not yes or no" },
	{ "[operation victim]\n" BODY "cache = no\ncache = yes\n", 7, "'cache' given twice" },
	{ "; comment\n\n[operation victim]\nmethod = GET\nroute = /v\nservice = data-collection\n",
	  3, "operation 'victim' has no 'plugin'" },
	{ "[operation victim]\nplugin = health\nroute = /v\nservice = data-collection\n",
	  1, "operation 'victim' has no 'method'" },
	{ "[operation ok]\n" BODY "[operation victim]\nplugin = health\nmethod = GET\nservice = data-collection\n",
	  6, "operation 'victim' has no 'route'" },
	{ "[operation victim]\nplugin = health\nmethod = POST\nroute = /v\n",
	  1, "operation 'victim' has no 'service'" },
	{ "[operation victim]\nplugin = health\nplugin = other\n", 3, "'plugin' given twice" },
	{ "[operation victim]\n" BODY "padding_days = 1\npadding_days = 2\n",
	  7, "'padding_days' given twice" },
	{ "[operation victim]\nplugin =\n", 2, "'plugin' is empty" },
	{ "[operation victim]\n" BODY
	  "; this comment is far too long: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	  6, "line longer than 198 characters" },
};

START_TEST(bad_file_rejected_alone)
{
	write_file("operations.d/40-before.ini", "[operation before]\n" BODY);
	write_file("operations.d/50-bad.ini", bad_files[_i].text);
	write_file("operations.d/60-after.ini", "[operation after]\n" BODY);
	load(test_services_ini);
	ck_assert_msg(reg.n_problems == 1, "case %d: %zu problems", _i,
		      reg.n_problems);
	assert_problem(0, "operations.d/50-bad.ini", bad_files[_i].line,
		       bad_files[_i].reason);
	/* Nothing of the bad file survives, everything else does. */
	static const char *const survivors[] = { "before", "after" };
	assert_ops(survivors, 2);
	ck_assert_int_eq(reg.n_services, 1);
	ck_assert_ptr_null(registry_find_service(&reg, "extra"));
}
END_TEST

/* The main file is just another file: its error drops its services, not
 * the drop-ins' operations. */
START_TEST(bad_main_file)
{
	write_file("operations.d/x.ini", "[operation x]\n" BODY);
	load("[service data-collection]\nport = http\n");
	assert_problem(0, "operations.ini", 2, "port 'http' is not 1-65535");
	ck_assert_int_eq(reg.n_problems, 1);
	ck_assert_int_eq(reg.n_services, 0);
	static const char *const only[] = { "x" };
	assert_ops(only, 1);
}
END_TEST

START_TEST(longest_line_accepted)
{
	char text[512], comment[256];
	memset(comment, 'x', sizeof comment);
	comment[0] = ';';
	comment[198] = '\0'; /* 198 characters, then the newline */
	snprintf(text, sizeof text, "[operation x]\n%s\n" BODY, comment);
	write_file("operations.d/x.ini", text);
	load(test_services_ini);
	ck_assert_msg(reg.n_problems == 0, "%s", reg.problems[0]);
	ck_assert_int_eq(reg.n_ops, 1);
}
END_TEST

START_TEST(duplicate_operation_in_one_file)
{
	write_file("operations.d/x.ini",
		   "[operation twin]\n" BODY "\n[operation twin]\n" BODY);
	load(test_services_ini);
	char other[4200];
	snprintf(other, sizeof other,
		 "operation 'twin' is already defined at %s/operations.d/x.ini:1",
		 dir);
	assert_problem(0, "operations.d/x.ini", 7, other);
	ck_assert_int_eq(reg.n_ops, 0);
}
END_TEST

START_TEST(duplicate_operation_across_files)
{
	write_file("operations.d/10-first.ini", "; first\n[operation twin]\n" BODY);
	write_file("operations.d/20-second.ini",
		   "[operation other]\n" BODY "[operation twin]\n" BODY);
	load(test_services_ini);
	char other[4200];
	snprintf(other, sizeof other,
		 "operation 'twin' is already defined at %s/operations.d/10-first.ini:2",
		 dir);
	assert_problem(0, "operations.d/20-second.ini", 6, other);
	ck_assert_int_eq(reg.n_problems, 1);
	/* The first definition stays; the whole second file goes. */
	static const char *const only[] = { "twin" };
	assert_ops(only, 1);
	ck_assert_ptr_nonnull(strstr(reg.ops[0].file, "10-first.ini"));
}
END_TEST

START_TEST(duplicate_service_across_files)
{
	write_file("operations.d/10-x.ini",
		   "[operation x]\n" BODY "[service data-collection]\nport = 9\n");
	load("; main\n[service data-collection]\nport = 8002\n");
	char other[4200];
	snprintf(other, sizeof other,
		 "service 'data-collection' is already defined at %s/operations.ini:2",
		 dir);
	assert_problem(0, "operations.d/10-x.ini", 6, other);
	ck_assert_int_eq(reg.n_ops, 0);
	ck_assert_int_eq(reg.services[0].port, 8002);
}
END_TEST

START_TEST(every_bad_file_reported)
{
	write_file("operations.d/1.ini", "[operation a]\nmethod = PUT\n");
	write_file("operations.d/2.ini", "[operation b]\n" BODY);
	write_file("operations.d/3.ini", "[thing c]\n");
	load(test_services_ini);
	ck_assert_int_eq(reg.n_problems, 2);
	assert_problem(0, "operations.d/1.ini", 2, "method 'PUT'");
	assert_problem(1, "operations.d/3.ini", 1, "unknown section kind 'thing'");
	static const char *const only[] = { "b" };
	assert_ops(only, 1);
}
END_TEST

START_TEST(unreadable_dropin_reported)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/operations.d", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof path, "%s/operations.d/20-dir.ini", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	write_file("operations.d/30-x.ini", "[operation x]\n" BODY);
	load(test_services_ini);
	ck_assert_int_eq(reg.n_problems, 1);
	ck_assert_msg(strstr(reg.problems[0], path) != NULL, "%s",
		      reg.problems[0]);
	ck_assert_int_eq(reg.n_ops, 1);
}
END_TEST

/* ---- values and defaults ---- */

START_TEST(cache_defaults)
{
	write_file("operations.d/x.ini",
		   "[operation get]\n" BODY
		   "[operation post]\nplugin = p\nmethod = POST\nroute = /p\nservice = s\n"
		   "[operation get_no]\ncache = no\n" BODY
		   "[operation post_yes]\nmethod = POST\ncache = YES\nplugin = p\nroute = /p\nservice = s\n"
		   "[operation get_off]\n" BODY "cache = off\n"
		   "[operation post_true]\n"
		   "plugin = p\nmethod = POST\nroute = /p\nservice = s\ncache = true\n");
	load(test_services_ini);
	ck_assert_msg(reg.n_problems == 0, "%s", reg.problems[0]);
	static const char *const names[] = { "get", "post", "get_no", "post_yes",
					     "get_off", "post_true" };
	static const bool cache[] = { true, false, false, true, false, true };
	assert_ops(names, 6);
	for (size_t i = 0; i < 6; i++)
		ck_assert_msg(reg.ops[i].cache == cache[i], "%s: cache %d",
			      names[i], reg.ops[i].cache);
}
END_TEST

START_TEST(service_defaults)
{
	load("[service data-collection]\nport = 8002\n"
	     "[service strategy-service]\nport = 8003\n"
	     "[service ml.flow]\nport = 5000\nhost = mlflow\nurl_env = TRACKING_URL\n");
	ck_assert_int_eq(reg.n_services, 3);
	const struct reg_service *svc = registry_find_service(&reg, "data-collection");
	ck_assert_ptr_nonnull(svc);
	ck_assert_str_eq(svc->host, "data-collection");
	ck_assert_str_eq(svc->url_env, "DATA_COLLECTION_URL");
	ck_assert_int_eq(svc->port, 8002);
	ck_assert_int_eq(svc->line, 1);
	svc = registry_find_service(&reg, "strategy-service");
	ck_assert_str_eq(svc->url_env, "STRATEGY_SERVICE_URL");
	ck_assert_int_eq(svc->line, 3);
	svc = registry_find_service(&reg, "ml.flow");
	ck_assert_str_eq(svc->host, "mlflow");
	ck_assert_str_eq(svc->url_env, "TRACKING_URL");
	ck_assert_ptr_null(registry_find_service(&reg, "mlflow"));
	ck_assert_ptr_null(registry_find_operation(&reg, "data-collection"));
}
END_TEST

START_TEST(operation_fields_and_settings)
{
	write_file("operations.d/x.ini",
		   "; leading comment\n"
		   "\n"
		   "[operation ensure-data]\n"
		   "plugin = ensure_data\n"
		   "method = POST\n"
		   "route = /api/v1/sync ; inline comment\n"
		   "service = data-collection\n"
		   "padding_days = 30\n"
		   "default_exchange   =   binance_futures  \n"
		   "default_timeframe = 4h\n");
	load(test_services_ini);
	ck_assert_msg(reg.n_problems == 0, "%s", reg.problems[0]);
	const struct reg_operation *op = registry_find_operation(&reg, "ensure-data");
	ck_assert_ptr_nonnull(op);
	ck_assert_int_eq(op->line, 3);
	ck_assert_str_eq(op->plugin, "ensure_data");
	ck_assert_str_eq(op->method, "POST");
	ck_assert_str_eq(op->route, "/api/v1/sync");
	ck_assert_str_eq(op->service, "data-collection");
	ck_assert_int_eq(op->n_settings, 3);
	ck_assert_str_eq(op->settings[0].key, "padding_days");
	ck_assert_str_eq(op->settings[0].value, "30");
	ck_assert_int_eq(op->settings[0].line, 8);
	ck_assert_str_eq(op->settings[1].key, "default_exchange");
	ck_assert_str_eq(op->settings[1].value, "binance_futures");
	ck_assert_int_eq(op->settings[1].line, 9);
	ck_assert_int_eq(op->settings[2].line, 10);
	ck_assert_str_eq(registry_setting(op, "default_timeframe"), "4h");
	ck_assert_ptr_null(registry_setting(op, "plugin")); /* not a setting */
	ck_assert_ptr_null(registry_setting(op, "absent"));
	ck_assert_ptr_null(registry_find_operation(&reg, "ensure_data"));
}
END_TEST

START_TEST(crlf_line_endings)
{
	write_file("operations.d/x.ini",
		   "[operation x]\r\nplugin = health\r\nmethod = GET\r\n"
		   "route = /v\r\nservice = data-collection\r\nk = v\r\n");
	load("[service data-collection]\r\nport = 8002\r\n");
	ck_assert_msg(reg.n_problems == 0, "%s", reg.problems[0]);
	ck_assert_int_eq(reg.n_ops, 1);
	ck_assert_str_eq(reg.ops[0].route, "/v");
	ck_assert_str_eq(reg.ops[0].settings[0].value, "v");
	ck_assert_int_eq(reg.services[0].port, 8002);
}
END_TEST

/* The registry this repository installs. */
START_TEST(repository_registry)
{
	const char *top = getenv("TOP_SRCDIR");
	ck_assert_msg(top != NULL, "TOP_SRCDIR is not set: run from make check");
	char path[4096];
	snprintf(path, sizeof path, "%s/etc/operations.ini", top);
	ck_assert_msg(registry_load(&reg, path, err, sizeof err) == 0, "%s", err);
	ck_assert_msg(reg.n_problems == 0, "%s", reg.problems[0]);
	static const char *const names[] = { "health", "fetch_ohlcv", "symbols",
					     "status", "ensure-data" };
	static const char *const routes[] = { "/api/v1/health", "/api/v1/ohlcv",
					      "/api/v1/symbols", "/api/v1/status",
					      "/api/v1/sync" };
	assert_ops(names, 5);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_str_eq(reg.ops[i].route, routes[i]);
		ck_assert_str_eq(reg.ops[i].service, "data-collection");
		ck_assert_str_eq(reg.ops[i].method, i == 4 ? "POST" : "GET");
		ck_assert_int_eq(reg.ops[i].cache, i != 4);
	}
	ck_assert_str_eq(reg.ops[4].plugin, "ensure_data");
	ck_assert_str_eq(registry_setting(&reg.ops[4], "padding_days"), "30");
	ck_assert_str_eq(registry_setting(&reg.ops[1], "default_limit"), "1000");

	ck_assert_int_eq(reg.n_services, 4);
	static const struct {
		const char *name, *env;
		int port;
	} services[] = {
		{ "data-collection", "DATA_COLLECTION_URL", 8002 },
		{ "strategy-service", "STRATEGY_SERVICE_URL", 8003 },
		{ "mlflow", "MLFLOW_URL", 5000 },
		{ "backend-api", "BACKEND_API_URL", 8000 },
	};
	for (size_t i = 0; i < 4; i++) {
		const struct reg_service *svc =
			registry_find_service(&reg, services[i].name);
		ck_assert_msg(svc != NULL, "no service %s", services[i].name);
		ck_assert_int_eq(svc->port, services[i].port);
		ck_assert_str_eq(svc->url_env, services[i].env);
		ck_assert_str_eq(svc->host, services[i].name);
	}
}
END_TEST

static Suite *
registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, dropins_in_byte_order);
	tcase_add_test(tc, non_ini_and_dotfiles_ignored);
	tcase_add_test(tc, no_dropin_directory);
	tcase_add_test(tc, relative_main_file);
	tcase_add_test(tc, missing_main_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, bad_file_rejected_alone, 0,
			    (int)(sizeof bad_files / sizeof bad_files[0]));
	tcase_add_test(tc, bad_main_file);
	tcase_add_test(tc, longest_line_accepted);
	tcase_add_test(tc, duplicate_operation_in_one_file);
	tcase_add_test(tc, duplicate_operation_across_files);
	tcase_add_test(tc, duplicate_service_across_files);
	tcase_add_test(tc, every_bad_file_reported);
	tcase_add_test(tc, unreadable_dropin_reported);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, cache_defaults);
	tcase_add_test(tc, service_defaults);
	tcase_add_test(tc, operation_fields_and_settings);
	tcase_add_test(tc, crlf_line_endings);
	tcase_add_test(tc, repository_registry);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(registry_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
