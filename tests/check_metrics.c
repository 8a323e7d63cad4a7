/* check_metrics: the CloudWatch Embedded Metric Format document, exact to
 * the byte, and its one-line write.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "metrics.h"

#define DIRECTIVE(metrics)                                                 \
	"{\"_aws\":{\"Timestamp\":1700000000123,\"CloudWatchMetrics\":[{"  \
	"\"Namespace\":\"TradAI/DataProxy\","                              \
	"\"Dimensions\":[[\"Operation\",\"Environment\"]],"                \
	"\"Metrics\":[{\"Name\":\"ProxyRequests\",\"Unit\":\"Count\"},"    \
	"{\"Name\":\"ProxyLatency\",\"Unit\":\"Milliseconds\"},"           \
	"{\"Name\":\"ProxyErrors\",\"Unit\":\"Count\"}" metrics "]}]},"

START_TEST(success_document)
{
	struct metrics_sample s = {
		.operation = "ensure-data",
		.environment = "dev",
		.latency_ms = 42,
		.timestamp_ms = 1700000000123,
	};
	char *text = metrics_emf_format("TradAI", &s);
	ck_assert_str_eq(text,
			 DIRECTIVE("")
			 "\"Operation\":\"ensure-data\",\"Environment\":\"dev\","
			 "\"ProxyRequests\":1,\"ProxyLatency\":42,\"ProxyErrors\":0}");
	free(text);
}
END_TEST

START_TEST(error_cold_start_document)
{
	struct metrics_sample s = {
		.operation = "unknown",
		.environment = "prod",
		.latency_ms = 0,
		.error = true,
		.cold_start = true,
		.timestamp_ms = 1700000000123,
	};
	char *text = metrics_emf_format("TradAI", &s);
	ck_assert_str_eq(text,
			 DIRECTIVE(",{\"Name\":\"ColdStart\",\"Unit\":\"Count\"}")
			 "\"Operation\":\"unknown\",\"Environment\":\"prod\","
			 "\"ProxyRequests\":1,\"ProxyLatency\":0,\"ProxyErrors\":1,"
			 "\"ColdStart\":1}");
	free(text);
}
END_TEST

/* Every metric the directive names must be a member of the document, and
 * every dimension too, or CloudWatch drops the document. */
START_TEST(directive_consistent)
{
	for (int cold = 0; cold <= 1; cold++) {
		struct metrics_sample s = {
			.operation = "health", .environment = "staging",
			.latency_ms = 123456, .cold_start = cold,
			.timestamp_ms = 1,
		};
		char *text = metrics_emf_format("Acme", &s);
		cJSON *doc = cJSON_Parse(text);
		ck_assert_ptr_nonnull(doc);
		const cJSON *directive = cJSON_GetArrayItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "_aws"),
					    "CloudWatchMetrics"), 0);
		ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
					 directive, "Namespace")),
				 "Acme/DataProxy");
		const cJSON *item;
		int n = 0;
		cJSON_ArrayForEach(item, cJSON_GetObjectItem(directive, "Metrics")) {
			const char *name = cJSON_GetStringValue(
				cJSON_GetObjectItem(item, "Name"));
			ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(doc, name)),
				      "metric %s has no value", name);
			n++;
		}
		ck_assert_int_eq(n, 3 + cold);
		cJSON_ArrayForEach(item, cJSON_GetArrayItem(cJSON_GetObjectItem(
						 directive, "Dimensions"), 0))
			ck_assert(cJSON_IsString(cJSON_GetObjectItem(
				doc, item->valuestring)));
		ck_assert_int_eq(cJSON_GetObjectItem(doc, "ProxyLatency")->valueint,
				 123456);
		ck_assert_int_eq(cJSON_HasObjectItem(doc, "ColdStart"), cold);
		cJSON_Delete(doc);
		free(text);
	}
}
END_TEST

START_TEST(write_one_line)
{
	struct metrics_sample s = {
		.operation = "status", .environment = "dev", .latency_ms = 7,
		.timestamp_ms = 1700000000123,
	};
	FILE *out = tmpfile();
	ck_assert_ptr_nonnull(out);
	metrics_emf_write(out, "TradAI", &s);
	metrics_emf_write(out, "TradAI", &s);
	rewind(out);

	char *want = metrics_emf_format("TradAI", &s);
	char line[2048];
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(fgets(line, sizeof line, out));
		size_t n = strlen(line);
		ck_assert_int_eq(line[n - 1], '\n');
		line[n - 1] = '\0';
		ck_assert_str_eq(line, want);
	}
	ck_assert_ptr_null(fgets(line, sizeof line, out));
	free(want);
	fclose(out);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("emf");
	tcase_add_test(tc, success_document);
	tcase_add_test(tc, error_cold_start_document);
	tcase_add_test(tc, directive_consistent);
	tcase_add_test(tc, write_one_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
