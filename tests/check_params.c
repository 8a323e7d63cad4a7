/* check_params: the TradAI parameter rules in plugins/tradai_params.c:
 * symbols, timeframes, integers, strings, calendar dates and day arithmetic.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tradai_params.h"

static char why[256];

static cJSON *
json(const char *text)
{
	cJSON *doc = cJSON_Parse(text);
	ck_assert_msg(doc != NULL, "bad test JSON: %s", text);
	return doc;
}

/* ---- symbol_check ---- */

START_TEST(symbol_length_limit)
{
	char symbol[64];
	memset(symbol, 'A', 50);
	symbol[3] = '/';
	symbol[50] = '\0';
	ck_assert_int_eq(symbol_check("symbol", symbol, why, sizeof why), 0);

	memset(symbol, 'A', 51);
	symbol[3] = '/';
	symbol[51] = '\0';
	why[0] = '\0';
	ck_assert_int_eq(symbol_check("symbol", symbol, why, sizeof why), -1);
	ck_assert_msg(strstr(why, "'symbol'") && strstr(why, "50") &&
			      strstr(why, "51"),
		      "%s", why);
}
END_TEST

START_TEST(symbol_needs_slash)
{
	ck_assert_int_eq(symbol_check("symbol", "BTC/USDT:USDT", why, sizeof why), 0);
	ck_assert_int_eq(symbol_check("symbol", "/", why, sizeof why), 0);
	why[0] = '\0';
	ck_assert_int_eq(symbol_check("symbols[3]", "BTCUSDT", why, sizeof why), -1);
	ck_assert_msg(strstr(why, "'symbols[3]'") && strstr(why, "'/'") &&
			      strstr(why, "BTCUSDT"),
		      "%s", why);
	ck_assert_int_eq(symbol_check("symbol", "", why, sizeof why), -1);
}
END_TEST

/* ---- timeframe_check ---- */

static const char *const good_timeframes[] = { "1m", "15m", "4h", "1d",
					       "100d", "0m" };
static const char *const bad_timeframes[] = {
	"", "h", "1", "1x", "1h\n", " 1h", "1H", "-1h", "1.5h", "1hh", "h1",
	"1h ", "+1h", "1 h", "1w",
};

START_TEST(timeframe_accepts)
{
	const char *tf = good_timeframes[_i];
	ck_assert_msg(timeframe_check("timeframe", tf, why, sizeof why) == 0,
		      "'%s' rejected: %s", tf, why);
}
END_TEST

START_TEST(timeframe_rejects)
{
	const char *tf = bad_timeframes[_i];
	why[0] = '\0';
	ck_assert_msg(timeframe_check("timeframe", tf, why, sizeof why) == -1,
		      "'%s' accepted", tf);
	ck_assert_msg(strstr(why, "'timeframe'") && strstr(why, "^\\d+[mhd]$"),
		      "%s", why);
}
END_TEST

/* ---- param_integer / integer_parse ---- */

START_TEST(integer_from_json)
{
	cJSON *p = json("{\"n\": 500, \"s\": \"42\", \"neg\": \"-3\","
			" \"plus\": \"+7\", \"zero\": 0, \"max\": 10000,"
			" \"whole\": 12.0}");
	long v = -1;
	ck_assert_int_eq(param_integer(p, "n", 1, 10000, 9, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 500);
	ck_assert_int_eq(param_integer(p, "s", 1, 10000, 9, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(param_integer(p, "neg", -5, 5, 9, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, -3);
	ck_assert_int_eq(param_integer(p, "plus", 0, 10, 9, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 7);
	ck_assert_int_eq(param_integer(p, "zero", 0, 10, 9, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(param_integer(p, "max", 1, 10000, 9, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 10000);
	ck_assert_int_eq(param_integer(p, "whole", 1, 100, 9, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 12);
	cJSON_Delete(p);
}
END_TEST

START_TEST(integer_fallback)
{
	cJSON *p = json("{\"limit\": null}");
	long v = -1;
	ck_assert_int_eq(param_integer(p, "limit", 1, 10000, 1000, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 1000);
	v = -1;
	ck_assert_int_eq(param_integer(p, "absent", 1, 10000, 77, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 77);
	cJSON_Delete(p);
}
END_TEST

/* Each value must be refused with a message naming the key. */
static const struct {
	const char *json;
	const char *reason;
} bad_integers[] = {
	{ "1.5", "whole number" },
	{ "\"1.5\"", "whole number" },
	{ "true", "whole number" },
	{ "false", "whole number" },
	{ "[1]", "whole number" },
	{ "{}", "whole number" },
	{ "\"\"", "whole number" },
	{ "\" 5\"", "whole number" },
	{ "\"5 \"", "whole number" },
	{ "\"5x\"", "whole number" },
	{ "\"0x10\"", "whole number" },
	{ "\"-\"", "whole number" },
	{ "\"99999999999999999999999\"", "whole number" },
	{ "0", "between 1 and 10000, not 0" },
	{ "10001", "between 1 and 10000, not 10001" },
	{ "\"10001\"", "between 1 and 10000, not 10001" },
	{ "-1", "between 1 and 10000" },
	{ "\"-1\"", "between 1 and 10000" },
	{ "1e300", "between 1 and 10000" },
	{ "-1e300", "between 1 and 10000" },
};

START_TEST(integer_rejects)
{
	char text[128];
	snprintf(text, sizeof text, "{\"limit\": %s}", bad_integers[_i].json);
	cJSON *p = json(text);
	long v = 12345;
	why[0] = '\0';
	ck_assert_msg(param_integer(p, "limit", 1, 10000, 1000, &v, why,
				    sizeof why) == -1,
		      "%s accepted as %ld", bad_integers[_i].json, v);
	ck_assert_int_eq(v, 12345); /* untouched on failure */
	ck_assert_msg(strstr(why, "'limit'") &&
			      strstr(why, bad_integers[_i].reason),
		      "%s: %s", bad_integers[_i].json, why);
	cJSON_Delete(p);
}
END_TEST

START_TEST(integer_parse_text)
{
	long v = 0;
	ck_assert_int_eq(integer_parse("padding_days", "30", 0, 3650, &v, why, sizeof why), 0);
	ck_assert_int_eq(v, 30);
	ck_assert_int_eq(integer_parse("padding_days", "3651", 0, 3650, &v, why, sizeof why), -1);
	ck_assert_ptr_nonnull(strstr(why, "'padding_days' must be between 0 and 3650, not 3651"));
	ck_assert_int_eq(integer_parse("padding_days", "thirty", 0, 3650, &v, why, sizeof why), -1);
	ck_assert_ptr_nonnull(strstr(why, "'padding_days' must be a whole number, not 'thirty'"));
}
END_TEST

/* ---- param_string ---- */

START_TEST(string_values)
{
	cJSON *p = json("{\"s\": \"BTC/USDT\", \"n\": 5, \"z\": null,"
			" \"e\": \"\", \"a\": [\"x\"]}");
	const char *out = "sentinel";
	ck_assert_int_eq(param_string(p, "s", true, &out, why, sizeof why), 0);
	ck_assert_str_eq(out, "BTC/USDT");
	ck_assert_int_eq(param_string(p, "e", true, &out, why, sizeof why), 0);
	ck_assert_str_eq(out, "");

	out = "sentinel";
	ck_assert_int_eq(param_string(p, "absent", false, &out, why, sizeof why), 0);
	ck_assert_ptr_null(out);
	out = "sentinel";
	ck_assert_int_eq(param_string(p, "z", false, &out, why, sizeof why), 0);
	ck_assert_ptr_null(out);

	ck_assert_int_eq(param_string(p, "absent", true, &out, why, sizeof why), -1);
	ck_assert_str_eq(why, "'absent' is required");
	ck_assert_int_eq(param_string(p, "z", true, &out, why, sizeof why), -1);
	ck_assert_str_eq(why, "'z' is required");
	ck_assert_int_eq(param_string(p, "n", false, &out, why, sizeof why), -1);
	ck_assert_str_eq(why, "'n' must be a string");
	ck_assert_int_eq(param_string(p, "a", true, &out, why, sizeof why), -1);
	ck_assert_str_eq(why, "'a' must be a string");
	cJSON_Delete(p);
}
END_TEST

/* ---- date_parse ---- */

static const struct {
	const char *text;
	int y, m, d;
} good_dates[] = {
	{ "20240101", 2024, 1, 1 },
	{ "2024-01-01", 2024, 1, 1 },
	{ "20240229", 2024, 2, 29 },
	{ "2024-02-29", 2024, 2, 29 },
	{ "20000229", 2000, 2, 29 },
	{ "19991231", 1999, 12, 31 },
	{ "2023-12-31", 2023, 12, 31 },
	{ "20240430", 2024, 4, 30 },
	{ "00010101", 1, 1, 1 },
	{ "99991231", 9999, 12, 31 },
};

static const char *const bad_dates[] = {
	"2024-1-01", "2024/01/01", "20240230", "20230229", "19000229",
	"21000229", "20240001", "20241301", "20240100", "20240132",
	"2024-00-10", "2024-13-10", "2024-01-00", "2024-01-32", "20240431",
	"20240101 ", " 20240101", "2024-01-01 ", "2024-01-01\n", "", "2024",
	"202401011", "2024-01-1", "2024-0101", "202401-01", "2024_01_01",
	"+2024010", "2024-+1-01", "00000101", "abcdefgh", "2024-01-01T00",
};

START_TEST(date_accepts)
{
	struct civil_date d = { 0, 0, 0 };
	ck_assert_msg(date_parse("start_date", good_dates[_i].text, &d, why,
				 sizeof why) == 0,
		      "%s rejected: %s", good_dates[_i].text, why);
	ck_assert_int_eq(d.year, good_dates[_i].y);
	ck_assert_int_eq(d.month, good_dates[_i].m);
	ck_assert_int_eq(d.day, good_dates[_i].d);
}
END_TEST

START_TEST(date_rejects)
{
	struct civil_date d = { 7, 7, 7 };
	why[0] = '\0';
	ck_assert_msg(date_parse("end_date", bad_dates[_i], &d, why,
				 sizeof why) == -1,
		      "'%s' accepted", bad_dates[_i]);
	ck_assert_msg(strstr(why, "'end_date'") != NULL, "%s", why);
	ck_assert_int_eq(d.year, 7); /* untouched on failure */
}
END_TEST

/* ---- day arithmetic ---- */

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

START_TEST(days_anchors)
{
	static const struct {
		struct civil_date d;
		long days;
	} anchors[] = {
		{ { 1970, 1, 1 }, 0 },
		{ { 1969, 12, 31 }, -1 },
		{ { 2000, 3, 1 }, 11017 },
		{ { 2000, 2, 29 }, 11016 },
		{ { 2024, 2, 29 }, 19782 },
		{ { 1900, 1, 1 }, -25567 },
		{ { 2100, 12, 31 }, 47846 },
	};
	for (size_t i = 0; i < sizeof anchors / sizeof anchors[0]; i++) {
		ck_assert_int_eq(civil_date_to_days(&anchors[i].d), anchors[i].days);
		struct civil_date back = civil_date_from_days(anchors[i].days);
		ck_assert_int_eq(back.year, anchors[i].d.year);
		ck_assert_int_eq(back.month, anchors[i].d.month);
		ck_assert_int_eq(back.day, anchors[i].d.day);
	}
}
END_TEST

/* Walk the calendar day by day with an independent leap rule: every date
 * maps to the next day number, back again, and parses in both forms. */
START_TEST(days_round_trip_1900_2100)
{
	long expected = -25567; /* 1900-01-01 */
	for (int y = 1900; y <= 2100; y++) {
		for (int m = 1; m <= 12; m++) {
			for (int d = 1; d <= month_days(y, m); d++, expected++) {
				struct civil_date date = { y, m, d };
				long days = civil_date_to_days(&date);
				ck_assert_msg(days == expected,
					      "%04d-%02d-%02d -> %ld, want %ld",
					      y, m, d, days, expected);
				struct civil_date back = civil_date_from_days(days);
				ck_assert_msg(back.year == y && back.month == m &&
						      back.day == d,
					      "%ld -> %04d-%02d-%02d, want %04d-%02d-%02d",
					      days, back.year, back.month,
					      back.day, y, m, d);

				char text[40], compact[40];
				struct civil_date parsed;
				civil_date_format(&date, text, sizeof text);
				snprintf(compact, sizeof compact, "%04d%02d%02d",
					 y, m, d);
				ck_assert_int_eq(date_parse("d", text, &parsed, why, sizeof why), 0);
				ck_assert_int_eq(civil_date_to_days(&parsed), expected);
				ck_assert_int_eq(date_parse("d", compact, &parsed, why, sizeof why), 0);
				ck_assert_int_eq(civil_date_to_days(&parsed), expected);
			}
			/* The day after the month's last is never a date. */
			char over[40];
			snprintf(over, sizeof over, "%04d%02d%02d", y, m,
				 month_days(y, m) + 1);
			struct civil_date parsed;
			ck_assert_msg(date_parse("d", over, &parsed, why, sizeof why) == -1,
				      "%s accepted", over);
		}
	}
	ck_assert_int_eq(expected, 47847); /* 2101-01-01 */
}
END_TEST

/* start minus padding, as ensure-data computes it. */
static const struct {
	const char *start;
	long padding;
	const char *padded;
} paddings[] = {
	{ "20240201", 30, "2024-01-02" },  /* the spec's example */
	{ "2024-03-01", 1, "2024-02-29" }, /* into a leap day */
	{ "2023-03-01", 1, "2023-02-28" },
	{ "2000-03-01", 1, "2000-02-29" },
	{ "1900-03-01", 1, "1900-02-28" },
	{ "2024-01-01", 1, "2023-12-31" }, /* across a year */
	{ "2024-01-15", 30, "2023-12-16" },
	{ "2025-01-01", 366, "2024-01-01" }, /* a leap year is 366 days */
	{ "2024-01-01", 365, "2023-01-01" },
	{ "2024-05-31", 31, "2024-04-30" },
	{ "2024-01-01", 0, "2024-01-01" },
	{ "1970-01-01", 1, "1969-12-31" },
	{ "2024-12-31", 3650, "2015-01-03" },
};

START_TEST(padding_arithmetic)
{
	struct civil_date start;
	char out[16];
	ck_assert_int_eq(date_parse("start_date", paddings[_i].start, &start,
				    why, sizeof why), 0);
	struct civil_date padded =
		civil_date_from_days(civil_date_to_days(&start) - paddings[_i].padding);
	civil_date_format(&padded, out, sizeof out);
	ck_assert_msg(strcmp(out, paddings[_i].padded) == 0,
		      "%s - %ld days = %s, want %s", paddings[_i].start,
		      paddings[_i].padding, out, paddings[_i].padded);
}
END_TEST

START_TEST(format_pads_fields)
{
	char out[16];
	struct civil_date d = { 1, 2, 3 };
	civil_date_format(&d, out, sizeof out);
	ck_assert_str_eq(out, "0001-02-03");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
params_suite(void)
{
	Suite *s = suite_create("tradai_params");
	TCase *tc = tcase_create("symbols and timeframes");
	tcase_add_test(tc, symbol_length_limit);
	tcase_add_test(tc, symbol_needs_slash);
	tcase_add_loop_test(tc, timeframe_accepts, 0, N(good_timeframes));
	tcase_add_loop_test(tc, timeframe_rejects, 0, N(bad_timeframes));
	suite_add_tcase(s, tc);

	tc = tcase_create("integers and strings");
	tcase_add_test(tc, integer_from_json);
	tcase_add_test(tc, integer_fallback);
	tcase_add_loop_test(tc, integer_rejects, 0, N(bad_integers));
	tcase_add_test(tc, integer_parse_text);
	tcase_add_test(tc, string_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("dates");
	tcase_set_timeout(tc, 60); /* the day walk is slow under sanitizers */
	tcase_add_loop_test(tc, date_accepts, 0, N(good_dates));
	tcase_add_loop_test(tc, date_rejects, 0, N(bad_dates));
	tcase_add_test(tc, days_anchors);
	tcase_add_test(tc, days_round_trip_1900_2100);
	tcase_add_loop_test(tc, padding_arithmetic, 0, N(paddings));
	tcase_add_test(tc, format_pads_fields);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(params_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
