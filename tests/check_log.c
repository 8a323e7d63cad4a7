/* check_log: JSON-line logging: one valid JSON object per line with the
 * right fields, level filtering, escaping, and level names.
 */
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"

static FILE *out;
static struct logger logger;

static void
setup(void)
{
	out = tmpfile();
	ck_assert_ptr_nonnull(out);
	logger = (struct logger){ .out = out, .level = DCP_LOG_INFO };
}

static void
teardown(void)
{
	fclose(out);
}

/* All lines written so far, each parsed; the array is NULL-terminated. */
static cJSON **
read_lines(size_t *count)
{
	static char line[8192];
	cJSON **lines = calloc(64, sizeof *lines);
	size_t n = 0;
	ck_assert_int_eq(fflush(out), 0);
	rewind(out);
	while (fgets(line, sizeof line, out) != NULL) {
		size_t len = strlen(line);
		ck_assert_msg(len > 0 && line[len - 1] == '\n',
			      "unterminated line: %s", line);
		line[len - 1] = '\0';
		ck_assert_ptr_null(memchr(line, '\n', len - 1));
		ck_assert_msg(n < 63, "too many lines");
		lines[n] = cJSON_Parse(line);
		ck_assert_msg(cJSON_IsObject(lines[n]), "not a JSON object: %s",
			      line);
		n++;
	}
	*count = n;
	return lines;
}

static void
free_lines(cJSON **lines)
{
	for (size_t i = 0; lines[i] != NULL; i++)
		cJSON_Delete(lines[i]);
	free(lines);
}

static const char *
field(const cJSON *line, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, key));
}

/* 2024-05-01T12:34:56.789Z */
static void
assert_timestamp(const char *t)
{
	ck_assert_ptr_nonnull(t);
	ck_assert_msg(strlen(t) == 24, "time '%s'", t);
	for (size_t i = 0; i < 24; i++) {
		char c = t[i];
		bool ok = i == 4 || i == 7	 ? c == '-'
			  : i == 10		 ? c == 'T'
			  : i == 13 || i == 16 ? c == ':'
			  : i == 19		 ? c == '.'
			  : i == 23		 ? c == 'Z'
						 : isdigit((unsigned char)c);
		ck_assert_msg(ok, "time '%s' at %zu", t, i);
	}
}

START_TEST(fields)
{
	struct log_scope bare = { &logger, NULL, NULL };
	struct log_scope full = { &logger, "req-1", "fetch_ohlcv" };
	struct log_scope op_only = { &logger, NULL, "health" };
	log_at(&bare, DCP_LOG_WARN, "registry: %s", "x.ini:3: bad");
	log_at(&full, DCP_LOG_INFO, "ok in %d ms", 12);
	log_at(&op_only, DCP_LOG_ERROR, "plugin: gone");

	size_t n;
	cJSON **lines = read_lines(&n);
	ck_assert_int_eq(n, 3);

	assert_timestamp(field(lines[0], "time"));
	ck_assert_str_eq(field(lines[0], "level"), "warn");
	ck_assert_str_eq(field(lines[0], "msg"), "registry: x.ini:3: bad");
	ck_assert(!cJSON_HasObjectItem(lines[0], "request_id"));
	ck_assert(!cJSON_HasObjectItem(lines[0], "operation"));
	ck_assert_int_eq(cJSON_GetArraySize(lines[0]), 3);

	assert_timestamp(field(lines[1], "time"));
	ck_assert_str_eq(field(lines[1], "level"), "info");
	ck_assert_str_eq(field(lines[1], "msg"), "ok in 12 ms");
	ck_assert_str_eq(field(lines[1], "request_id"), "req-1");
	ck_assert_str_eq(field(lines[1], "operation"), "fetch_ohlcv");
	ck_assert_int_eq(cJSON_GetArraySize(lines[1]), 5);

	ck_assert_str_eq(field(lines[2], "level"), "error");
	ck_assert_str_eq(field(lines[2], "operation"), "health");
	ck_assert(!cJSON_HasObjectItem(lines[2], "request_id"));
	free_lines(lines);
}
END_TEST

START_TEST(level_filter)
{
	static const enum dcp_log_level all[] = { DCP_LOG_ERROR, DCP_LOG_WARN,
						  DCP_LOG_INFO, DCP_LOG_DEBUG,
						  DCP_LOG_TRACE };
	struct log_scope scope = { &logger, NULL, NULL };
	for (int threshold = 0; threshold < 5; threshold++) {
		ck_assert_int_eq(ftruncate(fileno(out), 0), 0);
		rewind(out);
		logger.level = all[threshold];
		for (int i = 0; i < 5; i++)
			log_at(&scope, all[i], "line %d", i);
		size_t n;
		cJSON **lines = read_lines(&n);
		ck_assert_int_eq(n, (size_t)threshold + 1);
		for (size_t i = 0; i < n; i++)
			ck_assert_str_eq(field(lines[i], "level"),
					 log_level_name(all[i]));
		free_lines(lines);
	}
}
END_TEST

START_TEST(no_stream_no_output)
{
	struct logger silent = { .out = NULL, .level = DCP_LOG_TRACE };
	struct log_scope scope = { &silent, "r", "o" };
	log_at(&scope, DCP_LOG_ERROR, "nowhere");
	struct log_scope none = { NULL, NULL, NULL };
	log_at(&none, DCP_LOG_ERROR, "nowhere");
	size_t n;
	cJSON **lines = read_lines(&n);
	ck_assert_int_eq(n, 0);
	free_lines(lines);
}
END_TEST

/* A message carrying upstream text must not break the line format. */
START_TEST(escaping)
{
	static const char *const messages[] = {
		"a \"quoted\" word",
		"back\\slash and \\n literally",
		"two\nlines\r\nand a\ttab",
		"{\"looks\":\"like json\"}",
		"control \x01\x1f bytes",
	};
	struct log_scope scope = { &logger, "id \"1\"\n", "op\\x" };
	for (size_t i = 0; i < 5; i++)
		log_at(&scope, DCP_LOG_WARN, "%s", messages[i]);
	size_t n;
	cJSON **lines = read_lines(&n);
	ck_assert_int_eq(n, 5);
	for (size_t i = 0; i < 5; i++) {
		ck_assert_str_eq(field(lines[i], "msg"), messages[i]);
		ck_assert_str_eq(field(lines[i], "request_id"), "id \"1\"\n");
		ck_assert_str_eq(field(lines[i], "operation"), "op\\x");
	}
	free_lines(lines);
}
END_TEST

START_TEST(long_message_truncated)
{
	char big[5000];
	memset(big, 'q', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct log_scope scope = { &logger, NULL, NULL };
	log_at(&scope, DCP_LOG_INFO, "%s", big);
	size_t n;
	cJSON **lines = read_lines(&n);
	ck_assert_int_eq(n, 1);
	const char *msg = field(lines[0], "msg");
	ck_assert_ptr_nonnull(msg);
	ck_assert_uint_gt(strlen(msg), 1000);
	ck_assert_uint_lt(strlen(msg), sizeof big - 1);
	free_lines(lines);
}
END_TEST

static const struct {
	const char *name;
	enum dcp_log_level level;
} level_names[] = {
	{ "error", DCP_LOG_ERROR }, { "ERROR", DCP_LOG_ERROR },
	{ "warn", DCP_LOG_WARN },   { "Warn", DCP_LOG_WARN },
	{ "warning", DCP_LOG_WARN }, { "WARNING", DCP_LOG_WARN },
	{ "info", DCP_LOG_INFO },   { "INFO", DCP_LOG_INFO },
	{ "debug", DCP_LOG_DEBUG }, { "DeBuG", DCP_LOG_DEBUG },
	{ "trace", DCP_LOG_TRACE }, { "TRACE", DCP_LOG_TRACE },
};

START_TEST(parse_level)
{
	enum dcp_log_level level = DCP_LOG_ERROR;
	if (level_names[_i].level == DCP_LOG_ERROR)
		level = DCP_LOG_TRACE;
	ck_assert_int_eq(log_parse_level(level_names[_i].name, &level), 0);
	ck_assert_int_eq(level, level_names[_i].level);
}
END_TEST

START_TEST(parse_level_rejects)
{
	static const char *const bad[] = { "", "verbose", "warn ", " info",
					   "informational", "critical", "err",
					   "fatal", "0", "debug2" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum dcp_log_level level = DCP_LOG_DEBUG;
		ck_assert_msg(log_parse_level(bad[i], &level) == -1,
			      "'%s' accepted", bad[i]);
		ck_assert_int_eq(level, DCP_LOG_DEBUG);
	}
	ck_assert_str_eq(log_level_name(DCP_LOG_WARN), "warn");
	ck_assert_str_eq(log_level_name((enum dcp_log_level)42), "unknown");
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("lines");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fields);
	tcase_add_test(tc, level_filter);
	tcase_add_test(tc, no_stream_no_output);
	tcase_add_test(tc, escaping);
	tcase_add_test(tc, long_message_truncated);
	suite_add_tcase(s, tc);

	tc = tcase_create("levels");
	tcase_add_loop_test(tc, parse_level, 0,
			    (int)(sizeof level_names / sizeof level_names[0]));
	tcase_add_test(tc, parse_level_rejects);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
