/* check_settings: environment settings: defaults, overrides, units,
 * rejection of malformed values, and the --help table.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

static const char *const variables[] = {
	"ENVIRONMENT", "SERVICE_DISCOVERY_NAMESPACE", "REQUEST_TIMEOUT",
	"MAX_RETRIES", "RETRY_BASE_DELAY_MS", "DCPROXY_MAX_RESPONSE_BYTES",
	"DCPROXY_MAX_EVENT_BYTES", "METRICS_NAMESPACE_PREFIX", "LOG_LEVEL",
	"DCPROXY_REGISTRY", "DCPROXY_PLUGIN_PATH",
};
#define N_VARIABLES (sizeof variables / sizeof variables[0])

static struct settings s;
static char err[512];

/* Every test starts from an empty environment, whatever make exported. */
static void
setup(void)
{
	for (size_t i = 0; i < N_VARIABLES; i++)
		unsetenv(variables[i]);
	memset(&s, 0, sizeof s);
	err[0] = '\0';
}

static void
teardown(void)
{
	settings_free(&s);
}

static void
load_ok(void)
{
	ck_assert_msg(settings_load(&s, err, sizeof err) == 0, "%s", err);
}

START_TEST(defaults)
{
	load_ok();
	ck_assert_str_eq(s.environment, "dev");
	ck_assert_str_eq(s.namespace, "tradai.local");
	ck_assert_int_eq(s.request_timeout_ms, 30000);
	ck_assert_int_eq(s.max_retries, 2);
	ck_assert_int_eq(s.retry_base_delay_ms, 1000);
	ck_assert_int_eq(s.max_response_bytes, 6291456);
	ck_assert_int_eq(s.max_event_bytes, 6291456);
	ck_assert_str_eq(s.metrics_prefix, "TradAI");
	ck_assert_str_eq(s.log_level, "info");
	ck_assert_str_eq(s.registry, DCPROXY_DEFAULT_REGISTRY);
	ck_assert_str_eq(s.plugin_path, DCPROXY_DEFAULT_PLUGIN_PATH);
}
END_TEST

START_TEST(overrides)
{
	setenv("ENVIRONMENT", "prod", 1);
	setenv("SERVICE_DISCOVERY_NAMESPACE", "tradai.internal", 1);
	setenv("REQUEST_TIMEOUT", "180", 1);
	setenv("MAX_RETRIES", "0", 1);
	setenv("RETRY_BASE_DELAY_MS", "250", 1);
	setenv("DCPROXY_MAX_RESPONSE_BYTES", "1024", 1);
	setenv("DCPROXY_MAX_EVENT_BYTES", "64", 1);
	setenv("METRICS_NAMESPACE_PREFIX", "Acme", 1);
	setenv("LOG_LEVEL", "debug", 1);
	setenv("DCPROXY_REGISTRY", "/srv/ops.ini", 1);
	setenv("DCPROXY_PLUGIN_PATH", "/a:/b", 1);
	load_ok();
	ck_assert_str_eq(s.environment, "prod");
	ck_assert_str_eq(s.namespace, "tradai.internal");
	ck_assert_int_eq(s.request_timeout_ms, 180000);
	ck_assert_int_eq(s.max_retries, 0);
	ck_assert_int_eq(s.retry_base_delay_ms, 250);
	ck_assert_int_eq(s.max_response_bytes, 1024);
	ck_assert_int_eq(s.max_event_bytes, 64);
	ck_assert_str_eq(s.metrics_prefix, "Acme");
	ck_assert_str_eq(s.log_level, "debug");
	ck_assert_str_eq(s.registry, "/srv/ops.ini");
	ck_assert_str_eq(s.plugin_path, "/a:/b");
}
END_TEST

START_TEST(fractional_seconds)
{
	setenv("REQUEST_TIMEOUT", "0.25", 1);
	load_ok();
	ck_assert_int_eq(s.request_timeout_ms, 250);
	settings_free(&s);

	setenv("REQUEST_TIMEOUT", "1.5", 1);
	load_ok();
	ck_assert_int_eq(s.request_timeout_ms, 1500);
	settings_free(&s);

	setenv("REQUEST_TIMEOUT", "900", 1); /* the largest */
	load_ok();
	ck_assert_int_eq(s.request_timeout_ms, 900000);
}
END_TEST

START_TEST(limits_inclusive)
{
	setenv("MAX_RETRIES", "10", 1);
	setenv("RETRY_BASE_DELAY_MS", "0", 1);
	setenv("REQUEST_TIMEOUT", "0.001", 1);
	load_ok();
	ck_assert_int_eq(s.max_retries, 10);
	ck_assert_int_eq(s.retry_base_delay_ms, 0);
	ck_assert_int_eq(s.request_timeout_ms, 1);
}
END_TEST

/* An empty variable is as good as unset: deployment templates often
 * export VAR= rather than leaving it out. */
START_TEST(empty_means_default)
{
	for (size_t i = 0; i < N_VARIABLES; i++)
		setenv(variables[i], "", 1);
	load_ok();
	ck_assert_str_eq(s.environment, "dev");
	ck_assert_str_eq(s.namespace, "tradai.local");
	ck_assert_int_eq(s.request_timeout_ms, 30000);
	ck_assert_int_eq(s.max_retries, 2);
	ck_assert_int_eq(s.retry_base_delay_ms, 1000);
	ck_assert_str_eq(s.log_level, "info");
}
END_TEST

static const struct {
	const char *variable, *value, *reason;
} malformed[] = {
	{ "REQUEST_TIMEOUT", "abc", "is not a number" },
	{ "REQUEST_TIMEOUT", "30s", "is not a number" },
	{ "REQUEST_TIMEOUT", "-1", "out of range" },
	{ "REQUEST_TIMEOUT", "0", "out of range" },
	{ "REQUEST_TIMEOUT", "0.0001", "out of range" },
	{ "REQUEST_TIMEOUT", "901", "out of range" },
	{ "REQUEST_TIMEOUT", "nan", "is not a number" },
	{ "REQUEST_TIMEOUT", "inf", "is not a number" },
	{ "REQUEST_TIMEOUT", "1e999", "is not a number" },
	{ "MAX_RETRIES", "abc", "is not a number" },
	{ "MAX_RETRIES", "-1", "out of range" },
	{ "MAX_RETRIES", "1.5", "is not a whole number" },
	{ "MAX_RETRIES", "99", "out of range (0 to 10)" },
	{ "MAX_RETRIES", "11", "out of range" },
	{ "MAX_RETRIES", "2x", "is not a number" },
	{ "RETRY_BASE_DELAY_MS", "30s", "is not a number" },
	{ "RETRY_BASE_DELAY_MS", "-5", "out of range" },
	{ "RETRY_BASE_DELAY_MS", "0.5", "is not a whole number" },
	{ "DCPROXY_MAX_RESPONSE_BYTES", "10", "out of range" },
	{ "DCPROXY_MAX_EVENT_BYTES", "63", "out of range" },
	{ "DCPROXY_MAX_EVENT_BYTES", "lots", "is not a number" },
};

START_TEST(malformed_rejected)
{
	setenv(malformed[_i].variable, malformed[_i].value, 1);
	ck_assert_msg(settings_load(&s, err, sizeof err) == -1, "%s=%s accepted",
		      malformed[_i].variable, malformed[_i].value);
	char prefix[128];
	snprintf(prefix, sizeof prefix, "%s: '%s' ", malformed[_i].variable,
		 malformed[_i].value);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		      "'%s' does not start '%s'", err, prefix);
	ck_assert_msg(strstr(err, malformed[_i].reason) != NULL, "%s", err);
	/* A failed load releases what it had read. */
	ck_assert_ptr_null(s.environment);
	ck_assert_ptr_null(s.namespace);
	ck_assert_ptr_null(s.log_level);
}
END_TEST

START_TEST(help_lists_every_variable)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(out);
	settings_print_help(out);
	ck_assert_int_eq(fclose(out), 0);
	for (size_t i = 0; i < N_VARIABLES; i++)
		ck_assert_msg(strstr(text, variables[i]) != NULL,
			      "help lacks %s:\n%s", variables[i], text);
	/* One line per variable, each showing its default. */
	size_t lines = 0;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	ck_assert_int_eq(lines, N_VARIABLES);
	ck_assert_ptr_nonnull(strstr(text, "(default: tradai.local)"));
	ck_assert_ptr_nonnull(strstr(text, "(default: 30)"));
	ck_assert_ptr_nonnull(strstr(text, "(default: dev)"));
	free(text);
}
END_TEST

static Suite *
settings_suite(void)
{
	Suite *suite = suite_create("settings");
	TCase *tc = tcase_create("environment");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, overrides);
	tcase_add_test(tc, fractional_seconds);
	tcase_add_test(tc, limits_inclusive);
	tcase_add_test(tc, empty_means_default);
	tcase_add_loop_test(tc, malformed_rejected, 0,
			    (int)(sizeof malformed / sizeof malformed[0]));
	tcase_add_test(tc, help_lists_every_variable);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(settings_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
