/* check_daemon_config: dcproxyd's settings: defaults, the INI file, the
 * environment over the file, errors naming file and line, and the sources
 * --print-config reports.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_config.h"
#include "testutil.h"

static const char *const variables[] = {
	"BASE_URL", "EA_PORT", "EA_HOST", "UUID", "DEBUG", "LOG_LEVEL",
	"API_TIMEOUT", "API_VERBOSE", "CACHE_ENABLED", "CACHE_MAX_ITEMS",
	"CACHE_MAX_AGE", "CACHE_MIN_AGE", "CACHE_UPDATE_AGE_ON_GET",
	"CACHE_KEY_GROUP", "CACHE_KEY_IGNORED_PROPS", "SERVER_RATE_LIMIT_MAX",
	"SERVER_SLOW_DOWN_AFTER_FACTOR", "SERVER_SLOW_DOWN_DELAY_MS",
	"DCPROXYD_MAX_BODY_BYTES", "DCPROXYD_CONNECTION_TIMEOUT",
	"DCPROXYD_MAX_CONNECTIONS",
};
#define N_VARIABLES (sizeof variables / sizeof variables[0])

static struct daemon_config c;
static char err[1024];
static char *dir;

static void
setup(void)
{
	for (size_t i = 0; i < N_VARIABLES; i++)
		unsetenv(variables[i]);
	memset(&c, 0, sizeof c);
	err[0] = '\0';
	dir = test_tmpdir();
}

static void
teardown(void)
{
	daemon_config_free(&c);
	test_rmdir(dir);
	dir = NULL;
}

static char *
ini(const char *text)
{
	return test_write_file(dir, "dcproxyd.ini", text);
}

static void
load_ok(const char *path)
{
	ck_assert_msg(daemon_config_load(&c, path, path != NULL, err,
					 sizeof err) == 0, "%s", err);
}

static void
load_fails(const char *path, const char *expected)
{
	ck_assert_int_eq(daemon_config_load(&c, path, true, err, sizeof err), -1);
	ck_assert_msg(strstr(err, expected) != NULL, "'%s' lacks '%s'", err,
		      expected);
}

/* --print-config's output, in a malloc'd string. */
static char *
printed(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(out);
	daemon_config_print(&c, out);
	fclose(out);
	return text;
}

static void
assert_printed(const char *text, const char *line)
{
	ck_assert_msg(strstr(text, line) != NULL, "--print-config lacks '%s':\n%s",
		      line, text);
}

START_TEST(defaults)
{
	load_ok(NULL);
	ck_assert_str_eq(c.base_url, "/");
	ck_assert_int_eq(c.port, 8080);
	ck_assert_str_eq(c.host, "0.0.0.0");
	ck_assert_uint_eq(strlen(c.uuid), 36);
	ck_assert_int_eq(c.uuid[14], '4'); /* version 4 */
	ck_assert(strchr("89ab", c.uuid[19]) != NULL);
	ck_assert(!c.debug);
	ck_assert_str_eq(c.log_level, "info");
	ck_assert_int_eq(c.api_timeout_ms, 30000);
	ck_assert(!c.api_verbose);
	ck_assert(c.cache_enabled);
	ck_assert_int_eq(c.cache_max_items, 1000);
	ck_assert_int_eq(c.cache_max_age_ms, 90000);
	ck_assert_int_eq(c.cache_min_age_ms, 30000);
	ck_assert(!c.cache_update_age_on_get);
	ck_assert_str_eq(c.cache_key_group, c.uuid);
	ck_assert_str_eq(c.cache_key_ignored, "");
	ck_assert_int_eq(c.rate_limit_max, 250);
	ck_assert(c.slow_down_factor > 0.799 && c.slow_down_factor < 0.801);
	ck_assert_int_eq(c.slow_down_delay_ms, 500);
	ck_assert_int_eq(c.max_body_bytes, 1048576);
	ck_assert_ptr_null(c.file);
}
END_TEST

START_TEST(uuid_random_per_start)
{
	load_ok(NULL);
	char first[64];
	snprintf(first, sizeof first, "%s", c.uuid);
	daemon_config_free(&c);
	load_ok(NULL);
	ck_assert_str_ne(first, c.uuid);
}
END_TEST

START_TEST(missing_default_file_is_fine)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/absent.ini", dir);
	ck_assert_int_eq(daemon_config_load(&c, path, false, err, sizeof err), 0);
	ck_assert_ptr_null(c.file);
	daemon_config_free(&c);
	load_fails(path, "absent.ini: no such file");
}
END_TEST

START_TEST(file_values)
{
	char *path = ini("; comment\n"
			 "[dcproxyd]\n"
			 "BASE_URL = /data-collection\n"
			 "EA_PORT = 9090\n"
			 "UUID = fixed-id\n"
			 "DEBUG = yes\n"
			 "CACHE_ENABLED = off\n"
			 "CACHE_KEY_IGNORED_PROPS = timestamp, nonce\n"
			 "SERVER_SLOW_DOWN_AFTER_FACTOR = 0.5 ; inline comment\n");
	load_ok(path);
	ck_assert_str_eq(c.base_url, "/data-collection/");
	ck_assert_int_eq(c.port, 9090);
	ck_assert_str_eq(c.uuid, "fixed-id");
	ck_assert_str_eq(c.cache_key_group, "fixed-id");
	ck_assert(c.debug);
	ck_assert(!c.cache_enabled);
	ck_assert_str_eq(c.cache_key_ignored, "timestamp, nonce");
	ck_assert(c.slow_down_factor > 0.499 && c.slow_down_factor < 0.501);
	ck_assert_str_eq(c.file, path);
	free(path);
}
END_TEST

START_TEST(env_over_file)
{
	char *path = ini("[dcproxyd]\nEA_PORT = 9090\nCACHE_MAX_ITEMS = 5\n");
	setenv("EA_PORT", "7070", 1);
	setenv("CACHE_KEY_GROUP", "shared", 1);
	setenv("CACHE_MAX_ITEMS", "", 1); /* empty: as if unset */
	load_ok(path);
	ck_assert_int_eq(c.port, 7070);
	ck_assert_int_eq(c.cache_max_items, 5);
	ck_assert_str_eq(c.cache_key_group, "shared");
	free(path);
}
END_TEST

/* CACHE_MAX_AGE as the external-adapter framework reads it: 0 is the
 * default, < 0 keeps nothing (the cache does that part). */
START_TEST(cache_max_age_zero_and_negative)
{
	setenv("CACHE_MAX_AGE", "0", 1);
	load_ok(NULL);
	ck_assert_int_eq(c.cache_max_age_ms, 90000);
	daemon_config_free(&c);
	setenv("CACHE_MAX_AGE", "-1", 1);
	load_ok(NULL);
	ck_assert_int_eq(c.cache_max_age_ms, -1);
	daemon_config_free(&c);
	setenv("CACHE_MAX_AGE", "-86400001", 1);
	load_fails(NULL, "CACHE_MAX_AGE: '-86400001' is out of range");
	unsetenv("CACHE_MAX_AGE");
}
END_TEST

START_TEST(print_config_sources)
{
	char *path = ini("[dcproxyd]\n\nEA_PORT = 9090\nAPI_TIMEOUT = 100\n");
	setenv("API_TIMEOUT", "2500", 1);
	load_ok(path);
	char *text = printed();
	char line[4200];
	snprintf(line, sizeof line, "EA_PORT = 9090 ; from %s:3\n", path);
	assert_printed(text, line);
	assert_printed(text, "API_TIMEOUT = 2500 ; from env\n");
	assert_printed(text, "EA_HOST = 0.0.0.0 ; from default\n");
	assert_printed(text, "CACHE_ENABLED = true ; from default\n");
	assert_printed(text, "SERVER_SLOW_DOWN_AFTER_FACTOR = 0.8 ; from default\n");
	assert_printed(text, "; from default (generated)\n");
	ck_assert(strncmp(text, "[dcproxyd]\n", 11) == 0);
	/* Every setting appears once. */
	for (size_t i = 0; i < N_VARIABLES; i++) {
		snprintf(line, sizeof line, "\n%s = ", variables[i]);
		ck_assert_msg(strstr(text, line) != NULL, "%s missing", variables[i]);
	}
	free(text);
	free(path);
}
END_TEST

/* A malformed file value names the file, its line and the key. */
static const struct {
	const char *text;
	const char *error; /* after "FILE:" */
} bad_files[] = {
	{ "[dcproxyd]\nEA_PORT = 70000\n", ":2: EA_PORT: '70000' is out of range" },
	{ "[dcproxyd]\n\nEA_PORT = eighty\n", ":3: EA_PORT: 'eighty' is not a number" },
	{ "[dcproxyd]\nCACHE_MAX_AGE = 1.5\n", ":2: CACHE_MAX_AGE: '1.5' is not a whole number" },
	{ "[dcproxyd]\nDEBUG = maybe\n", ":2: DEBUG: 'maybe' is not true or false" },
	{ "[dcproxyd]\nLOG_LEVEL = loud\n", ":2: LOG_LEVEL: 'loud' is not error" },
	{ "[dcproxyd]\nBASE_URL = api\n", ":2: BASE_URL: 'api' is not a path" },
	{ "[dcproxyd]\nSERVER_SLOW_DOWN_AFTER_FACTOR = 2\n",
	  ":2: SERVER_SLOW_DOWN_AFTER_FACTOR: '2' is out of range" },
	{ "[dcproxyd]\nCACHE_MAX_ITMES = 5\n", ":2: CACHE_MAX_ITMES: unknown setting" },
	{ "[server]\nEA_PORT = 1\n", ":2: [server]: unknown section" },
	{ "[dcproxyd]\nEA_PORT = 1\nEA_PORT = 2\n", ":3: EA_PORT: given twice (first at line 2)" },
	{ "[dcproxyd]\nthis is not ini\n", ":2: expected 'KEY = value'" },
};

START_TEST(file_errors)
{
	char *path = ini(bad_files[_i].text);
	char expected[4300];
	snprintf(expected, sizeof expected, "%s%s", path, bad_files[_i].error);
	load_fails(path, expected);
	free(path);
}
END_TEST

START_TEST(env_errors)
{
	setenv("API_TIMEOUT", "soon", 1);
	load_fails(NULL, "API_TIMEOUT: 'soon' is not a number (from the environment)");
	unsetenv("API_TIMEOUT");
	setenv("CACHE_ENABLED", "2", 1);
	load_fails(NULL, "CACHE_ENABLED: '2' is not true or false");
	unsetenv("CACHE_ENABLED");
	setenv("SERVER_RATE_LIMIT_MAX", "-1", 1);
	load_fails(NULL, "SERVER_RATE_LIMIT_MAX: '-1' is out of range");
}
END_TEST

START_TEST(shipped_file_is_all_defaults)
{
	/* etc/dcproxyd.ini comments every line out: loading it changes
	 * nothing, and it parses. */
	char path[4096];
	snprintf(path, sizeof path, "%s/etc/dcproxyd.ini", getenv("TOP_SRCDIR"));
	load_ok(path);
	char *text = printed();
	ck_assert_msg(strstr(text, ".ini:") == NULL, "%s", text);
	free(text);
}
END_TEST

START_TEST(help_lists_every_setting)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	daemon_config_print_help(out);
	fclose(out);
	for (size_t i = 0; i < N_VARIABLES; i++)
		ck_assert_msg(strstr(text, variables[i]) != NULL, "%s missing",
			      variables[i]);
	free(text);
}
END_TEST

/* Each setting's line names its default once, at the end: the help text
 * itself never carries one. */
START_TEST(help_says_each_default_once)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	daemon_config_print_help(out);
	fclose(out);
	size_t lines = 0;
	for (char *line = strtok(text, "\n"); line != NULL;
	     line = strtok(NULL, "\n"), lines++) {
		const char *first = strstr(line, "(default: ");
		ck_assert_msg(first != NULL, "no default: %s", line);
		ck_assert_msg(strstr(first + 1, "(default: ") == NULL,
			      "default given twice: %s", line);
		ck_assert_msg(line[strlen(line) - 1] == ')', "%s", line);
	}
	ck_assert_uint_ge(lines, N_VARIABLES);
	free(text);
}
END_TEST

/* What a reload compares: only the named settings (a prefix ending in '_'
 * names a family), in table order, secrets without their values. */
START_TEST(changes_name_what_differs)
{
	char *path = ini("[dcproxyd]\nEA_PORT = 8080\nCACHE_REDIS_PASSWORD = a\n");
	load_ok(path);
	free(path);
	struct daemon_config next;
	path = ini("[dcproxyd]\nEA_PORT = 8081\nCACHE_REDIS_PORT = 6380\n"
		   "CACHE_REDIS_PATH = /run/r.sock\nCACHE_REDIS_PASSWORD = b\n"
		   "CACHE_MAX_ITEMS = 5\n");
	ck_assert_int_eq(daemon_config_load(&next, path, true, err, sizeof err), 0);
	free(path);
	static const char *const names[] = { "EA_HOST", "EA_PORT",
					     "CACHE_REDIS_", NULL };
	char out[512];
	ck_assert_uint_eq(daemon_config_changes(&c, &next, names, out, sizeof out), 4);
	ck_assert_str_eq(out, "EA_PORT changed (8080 -> 8081), "
			 "CACHE_REDIS_PATH changed (\"\" -> /run/r.sock), "
			 "CACHE_REDIS_PORT changed (6379 -> 6380), "
			 "CACHE_REDIS_PASSWORD changed");
	/* Truncated to fit, still counted. */
	ck_assert_uint_eq(daemon_config_changes(&c, &next, names, out, 10), 4);
	ck_assert_str_eq(out, "EA_PORT c");
	ck_assert_uint_eq(daemon_config_changes(&next, &next, names, out,
						sizeof out), 0);
	ck_assert_str_eq(out, "");
	/* A name is a whole name unless it ends in '_'. */
	static const char *const port[] = { "CACHE_REDIS", "EA_POR", NULL };
	ck_assert_uint_eq(daemon_config_changes(&c, &next, port, out, sizeof out), 0);
	daemon_config_free(&next);
}
END_TEST

/* A reload keeps a generated UUID, and a default key group with it, so
 * the cache's keys stay the same. */
START_TEST(keep_identity_keeps_key_group)
{
	load_ok(NULL);
	struct daemon_config next;
	ck_assert_int_eq(daemon_config_load(&next, NULL, false, err, sizeof err), 0);
	ck_assert_str_ne(next.uuid, c.uuid);
	ck_assert_int_eq(daemon_config_keep_identity(&next, &c), 0);
	ck_assert_str_eq(next.uuid, c.uuid);
	ck_assert_str_eq(next.cache_key_group, c.uuid);
	daemon_config_free(&next);
	/* A key group that was set stays as set. */
	char *path = ini("[dcproxyd]\nCACHE_KEY_GROUP = shared\n");
	ck_assert_int_eq(daemon_config_load(&next, path, true, err, sizeof err), 0);
	ck_assert_int_eq(daemon_config_keep_identity(&next, &c), 0);
	ck_assert_str_eq(next.uuid, c.uuid);
	ck_assert_str_eq(next.cache_key_group, "shared");
	daemon_config_free(&next);
	free(path);
}
END_TEST

static Suite *
daemon_config_suite(void)
{
	Suite *suite = suite_create("daemon_config");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, uuid_random_per_start);
	tcase_add_test(tc, missing_default_file_is_fine);
	tcase_add_test(tc, file_values);
	tcase_add_test(tc, env_over_file);
	tcase_add_test(tc, cache_max_age_zero_and_negative);
	tcase_add_test(tc, print_config_sources);
	tcase_add_loop_test(tc, file_errors, 0,
			    (int)(sizeof bad_files / sizeof bad_files[0]));
	tcase_add_test(tc, env_errors);
	tcase_add_test(tc, shipped_file_is_all_defaults);
	tcase_add_test(tc, help_lists_every_setting);
	tcase_add_test(tc, help_says_each_default_once);
	tcase_add_test(tc, changes_name_what_differs);
	tcase_add_test(tc, keep_identity_keeps_key_group);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(daemon_config_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
