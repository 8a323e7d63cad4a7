/* check_envelope: parsing the Lambda-style event and the exact text of the
 * Step Functions envelope.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#define LIMIT 4096

static struct event ev;
static char err[512];

static void
setup(void)
{
	memset(&ev, 0, sizeof ev);
	err[0] = '\0';
}

static void
teardown(void)
{
	event_free(&ev);
}

static int
parse(const char *text)
{
	return event_parse(&ev, text, strlen(text), LIMIT, err, sizeof err);
}

static void
assert_params(const char *want)
{
	ck_assert_ptr_nonnull(ev.params);
	ck_assert(cJSON_IsObject(ev.params));
	char *text = cJSON_PrintUnformatted(ev.params);
	ck_assert_str_eq(text, want);
	free(text);
}

/* ---- event_parse: accepted ---- */

START_TEST(full_event)
{
	ck_assert_msg(parse("{\"operation\":\"ensure-data\",\"params\":"
			    "{\"symbols\":[\"BTC/USDT:USDT\"],\"timeframe\":\"1h\"}}") == 0,
		      "%s", err);
	ck_assert_str_eq(ev.operation, "ensure-data");
	assert_params("{\"symbols\":[\"BTC/USDT:USDT\"],\"timeframe\":\"1h\"}");
}
END_TEST

START_TEST(defaults)
{
	ck_assert_int_eq(parse("{}"), 0);
	ck_assert_str_eq(ev.operation, "health");
	assert_params("{}");
	event_free(&ev);

	ck_assert_int_eq(parse("{\"operation\":\"status\"}"), 0);
	ck_assert_str_eq(ev.operation, "status");
	assert_params("{}");
	event_free(&ev);

	ck_assert_int_eq(parse("{\"operation\":null,\"params\":null}"), 0);
	ck_assert_str_eq(ev.operation, "health");
	assert_params("{}");
	event_free(&ev);

	ck_assert_int_eq(parse("{\"params\":{\"a\":1},\"other\":true}"), 0);
	ck_assert_str_eq(ev.operation, "health");
	assert_params("{\"a\":1}");
}
END_TEST

START_TEST(surrounding_whitespace)
{
	ck_assert_msg(parse(" \r\n\t{\"operation\":\"symbols\"}\n\t \r\n") == 0,
		      "%s", err);
	ck_assert_str_eq(ev.operation, "symbols");
}
END_TEST

/* The length bounds the text: bytes after it are never looked at. */
START_TEST(length_respected)
{
	const char *text = "{\"operation\":\"status\"}GARBAGE";
	ck_assert_int_eq(event_parse(&ev, text, 22, LIMIT, err, sizeof err), 0);
	ck_assert_str_eq(ev.operation, "status");
}
END_TEST

START_TEST(size_limit)
{
	char text[128];
	snprintf(text, sizeof text, "{\"operation\":\"health\",\"params\":{}}");
	size_t n = strlen(text);
	ck_assert_int_eq(event_parse(&ev, text, n, n, err, sizeof err), 0);
	event_free(&ev);
	ck_assert_int_eq(event_parse(&ev, text, n, n - 1, err, sizeof err), -1);
	char want[128];
	snprintf(want, sizeof want, "event is %zu bytes, more than the limit of %zu",
		 n, n - 1);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(ev.operation);
}
END_TEST

/* ---- event_parse: refused ---- */

static const struct {
	const char *text;
	const char *reason;
	const char *operation; /* what the failed event still names */
} bad_events[] = {
	{ "", "not valid JSON", NULL },
	{ "   ", "not valid JSON", NULL },
	{ "{\"operation\":", "not valid JSON", NULL },
	{ "{'operation':'health'}", "not valid JSON", NULL },
	{ "[]", "event must be a JSON object", NULL },
	{ "[{\"operation\":\"health\"}]", "event must be a JSON object", NULL },
	{ "\"health\"", "event must be a JSON object", NULL },
	{ "42", "event must be a JSON object", NULL },
	{ "null", "event must be a JSON object", NULL },
	{ "{\"operation\":5}", "'operation' must be a string", NULL },
	{ "{\"operation\":[\"health\"]}", "'operation' must be a string", NULL },
	{ "{\"operation\":true}", "'operation' must be a string", NULL },
	{ "{\"operation\":\"status\",\"params\":[]}", "'params' must be a JSON object", "status" },
	{ "{\"operation\":\"status\",\"params\":\"a=1\"}", "'params' must be a JSON object", "status" },
	{ "{\"params\":3}", "'params' must be a JSON object", "health" },
	{ "{} x", "data after the JSON value (at byte 3)", NULL },
	{ "{}{}", "data after the JSON value (at byte 2)", NULL },
	{ "{\"operation\":\"health\"}\n{}", "data after the JSON value", NULL },
	/* Text that would not come back out as it went in. */
	{ "{\"operation\":\"he\xff" "alth\"}", "event is not valid UTF-8 (at byte 16)", NULL },
	{ "{\"operation\":\"\xc0\xaf\"}", "not valid UTF-8 (at byte 14)", NULL },
	{ "{\"operation\":\"\xed\xa0\x80\"}", "not valid UTF-8", NULL },
	{ "{\"operation\":\"\xf4\x90\x80\x80\"}", "not valid UTF-8", NULL },
	{ "{\"operation\":\"\xe2\x82\"}", "not valid UTF-8", NULL },
	{ "{\"operation\":\"fetch_ohlcv\",\"params\":{\"symbol\":\"BTC/\\u0000USDT\"}}",
	  "event holds \\u0000 (at byte 51): a string cannot carry U+0000", NULL },
};

START_TEST(bad_event)
{
	ck_assert_msg(parse(bad_events[_i].text) == -1, "'%s' accepted",
		      bad_events[_i].text);
	ck_assert_msg(strstr(err, bad_events[_i].reason) != NULL,
		      "'%s': %s", bad_events[_i].text, err);
	if (bad_events[_i].operation != NULL) {
		ck_assert_ptr_nonnull(ev.operation);
		ck_assert_str_eq(ev.operation, bad_events[_i].operation);
	} else {
		ck_assert_ptr_null(ev.operation);
	}
}
END_TEST

START_TEST(nul_byte)
{
	static const char text[] = "{\"operation\":\"he\0alth\"}";
	ck_assert_int_eq(event_parse(&ev, text, sizeof text - 1, LIMIT, err,
				     sizeof err), -1);
	ck_assert_str_eq(err, "event holds a NUL byte (at byte 16)");
}
END_TEST

/* What looks like \u0000 after an escaped backslash is not one; UTF-8 of
 * every length passes. */
START_TEST(text_that_passes)
{
	ck_assert_int_eq(parse("{\"params\":{\"s\":\"a\\\\u0000b\"}}"), 0);
	assert_params("{\"s\":\"a\\\\u0000b\"}");
	event_free(&ev);
	ck_assert_int_eq(parse("{\"params\":{\"s\":\"\\u00e9 h\xc3\xa9 \xe2\x82\xac "
			       "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"}}"), 0);
	ck_assert_int_eq(text_check("value", "caf\xc3\xa9", 5, 0, err, sizeof err), 0);
	/* outside JSON a backslash is a byte like any other */
	ck_assert_int_eq(text_check("value", "\\u0000", 6, 0, err, sizeof err), 0);
	ck_assert_int_eq(text_check("value", "a\0b", 3, 0, err, sizeof err), -1);
	ck_assert_str_eq(err, "value holds a NUL byte (at byte 1)");
}
END_TEST

START_TEST(error_offset)
{
	ck_assert_int_eq(parse("{\"operation\": nope}"), -1);
	ck_assert_str_eq(err, "event is not valid JSON (error at byte 14)");
}
END_TEST

/* ---- envelope_wrap ---- */

static void
assert_envelope(cJSON *envelope, const char *want)
{
	ck_assert_ptr_nonnull(envelope);
	char *text = cJSON_PrintUnformatted(envelope);
	ck_assert_str_eq(text, want);
	free(text);
	cJSON_Delete(envelope);
}

START_TEST(envelope_success)
{
	cJSON *result = cJSON_Parse("{\"synced\":[\"BTC/USDT:USDT\"],\"rows\":720}");
	assert_envelope(envelope_wrap("ensure-data", result, "dev"),
			"{\"statusCode\":200,\"body\":{\"success\":true,\"data\":"
			"{\"operation\":\"ensure-data\",\"result\":"
			"{\"synced\":[\"BTC/USDT:USDT\"],\"rows\":720}},"
			"\"environment\":\"dev\"}}");
}
END_TEST

/* Errors travel in the same shape, statusCode 200 and success true, so a
 * Step Functions task never fails on them. */
START_TEST(envelope_error)
{
	cJSON *result = cJSON_CreateObject();
	cJSON_AddStringToObject(result, "error", "Connection failed: timeout");
	assert_envelope(envelope_wrap("ensure-data", result, "prod"),
			"{\"statusCode\":200,\"body\":{\"success\":true,\"data\":"
			"{\"operation\":\"ensure-data\",\"result\":"
			"{\"error\":\"Connection failed: timeout\"}},"
			"\"environment\":\"prod\"}}");
}
END_TEST

START_TEST(envelope_nulls)
{
	cJSON *result = cJSON_CreateArray();
	assert_envelope(envelope_wrap(NULL, result, "dev"),
			"{\"statusCode\":200,\"body\":{\"success\":true,\"data\":"
			"{\"operation\":null,\"result\":[]},\"environment\":\"dev\"}}");
	assert_envelope(envelope_wrap("health", NULL, "dev"),
			"{\"statusCode\":200,\"body\":{\"success\":true,\"data\":"
			"{\"operation\":\"health\",\"result\":null},\"environment\":\"dev\"}}");
}
END_TEST

START_TEST(envelope_escapes)
{
	assert_envelope(envelope_wrap("a\"b\\c\n", cJSON_CreateString("x"), "d\te"),
			"{\"statusCode\":200,\"body\":{\"success\":true,\"data\":"
			"{\"operation\":\"a\\\"b\\\\c\\n\",\"result\":\"x\"},"
			"\"environment\":\"d\\te\"}}");
}
END_TEST

static Suite *
envelope_suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *tc = tcase_create("event_parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, full_event);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, surrounding_whitespace);
	tcase_add_test(tc, length_respected);
	tcase_add_test(tc, size_limit);
	tcase_add_loop_test(tc, bad_event, 0,
			    (int)(sizeof bad_events / sizeof bad_events[0]));
	tcase_add_test(tc, nul_byte);
	tcase_add_test(tc, text_that_passes);
	tcase_add_test(tc, error_offset);
	suite_add_tcase(s, tc);

	tc = tcase_create("envelope_wrap");
	tcase_add_test(tc, envelope_success);
	tcase_add_test(tc, envelope_error);
	tcase_add_test(tc, envelope_nulls);
	tcase_add_test(tc, envelope_escapes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(envelope_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
