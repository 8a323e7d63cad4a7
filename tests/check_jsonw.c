/* check_jsonw: the JSON writer escapes exactly as cJSON prints, grows past
 * its first size, and ends a line with one newline.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonw.h"

/* cJSON's rendering of s as a JSON string. */
static char *
cjson_string(const char *s)
{
	cJSON *item = cJSON_CreateString(s);
	char *text = cJSON_PrintUnformatted(item);
	cJSON_Delete(item);
	return text;
}

START_TEST(every_byte_as_cjson)
{
	for (int c = 1; c < 256; c++) {
		char s[4] = { 'a', (char)c, 'z', '\0' };
		struct jsonw w;
		jsonw_init(&w, 1);
		jsonw_string(&w, s);
		ck_assert(!w.failed);
		char *want = cjson_string(s);
		ck_assert_msg(strcmp(w.data, want) == 0, "byte 0x%02x: %s, cJSON %s",
			      c, w.data, want);
		ck_assert_uint_eq(w.len, strlen(want));
		free(want);
		free(w.data);
	}
}
END_TEST

START_TEST(long_string_grows)
{
	size_t n = 100000;
	char *s = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = "ab\"\\\n\x01" "c\xc3\xa9"[i % 9];
	s[n] = '\0';
	struct jsonw w;
	jsonw_init(&w, 16);
	jsonw_raw(&w, "{\"k\":");
	jsonw_string(&w, s);
	jsonw_raw(&w, "}");
	ck_assert(!w.failed);
	cJSON *doc = cJSON_Parse(w.data);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "k")), s);
	cJSON_Delete(doc);
	free(w.data);
	free(s);
}
END_TEST

START_TEST(integers)
{
	const long long values[] = { 0, -1, 42, LLONG_MAX, LLONG_MIN };
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		char want[32];
		snprintf(want, sizeof want, "[%lld]", values[i]);
		struct jsonw w;
		jsonw_init(&w, 2);
		jsonw_raw(&w, "[");
		jsonw_int(&w, values[i]);
		jsonw_raw(&w, "]");
		ck_assert_str_eq(w.data, want);
		free(w.data);
	}
}
END_TEST

START_TEST(finish_line)
{
	struct jsonw w;
	jsonw_init(&w, 0);
	jsonw_raw(&w, "{\"a\":");
	jsonw_string(&w, "x\ny");
	jsonw_raw(&w, "}");
	char *line = jsonw_finish_line(&w);
	ck_assert_ptr_nonnull(line);
	ck_assert_str_eq(line, "{\"a\":\"x\\ny\"}\n");
	ck_assert_uint_eq(w.len, strlen(line));
	free(line);
}
END_TEST

static Suite *
jsonw_suite(void)
{
	Suite *s = suite_create("jsonw");
	TCase *tc = tcase_create("writer");
	tcase_add_test(tc, every_byte_as_cjson);
	tcase_add_test(tc, long_string_grows);
	tcase_add_test(tc, integers);
	tcase_add_test(tc, finish_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(jsonw_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
