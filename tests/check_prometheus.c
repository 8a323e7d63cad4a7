/* check_prometheus: the Prometheus text exposition, exact to the byte:
 * counters, gauges, histograms (cumulative buckets, _sum, _count), the
 * app_name label, escaping, and dcproxyd's own families.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_metrics.h"
#include "metrics_prom.h"

START_TEST(small_registry)
{
	static const char *const labels[] = { "operation", "environment", NULL };
	struct prom_registry *reg = prom_registry_new(NULL);
	struct prom_family *req = prom_family_add(reg, PROM_COUNTER,
		"x_requests_total", "requests", labels, NULL, 0);
	struct prom_family *items = prom_family_add(reg, PROM_GAUGE,
		"x_items", "items", NULL, NULL, 0);
	prom_add(req, (const char *const[]){ "health", "dev" }, 1);
	prom_add(req, (const char *const[]){ "status", "dev" }, 1);
	prom_add(req, (const char *const[]){ "health", "dev" }, 2);
	prom_set(items, NULL, 0.25);
	char *text = prom_format(reg);
	ck_assert_str_eq(text,
		"# HELP x_requests_total requests\n"
		"# TYPE x_requests_total counter\n"
		"x_requests_total{operation=\"health\",environment=\"dev\"} 3\n"
		"x_requests_total{operation=\"status\",environment=\"dev\"} 1\n"
		"# HELP x_items items\n"
		"# TYPE x_items gauge\n"
		"x_items 0.25\n");
	free(text);
	prom_registry_free(reg);
}
END_TEST

START_TEST(unlabelled_reads_zero)
{
	struct prom_registry *reg = prom_registry_new("");
	prom_family_add(reg, PROM_COUNTER, "x_total", "never moved", NULL,
			NULL, 0);
	char *text = prom_format(reg);
	ck_assert_str_eq(text, "# HELP x_total never moved\n"
			       "# TYPE x_total counter\n"
			       "x_total 0\n");
	free(text);
	prom_registry_free(reg);
}
END_TEST

START_TEST(app_name_and_escaping)
{
	static const char *const labels[] = { "kind", NULL };
	struct prom_registry *reg = prom_registry_new("my \"app\"");
	struct prom_family *f = prom_family_add(reg, PROM_COUNTER, "x_total",
		"a \\ help\nline", labels, NULL, 0);
	struct prom_family *g = prom_family_add(reg, PROM_GAUGE, "x_up",
		"up", NULL, NULL, 0);
	prom_add(f, (const char *const[]){ "a\\b \"c\"\nd" }, 1);
	prom_set(g, NULL, 1);
	char *text = prom_format(reg);
	ck_assert_str_eq(text,
		"# HELP x_total a \\\\ help\\nline\n"
		"# TYPE x_total counter\n"
		"x_total{app_name=\"my \\\"app\\\"\",kind=\"a\\\\b \\\"c\\\"\\nd\"} 1\n"
		"# HELP x_up up\n"
		"# TYPE x_up gauge\n"
		"x_up{app_name=\"my \\\"app\\\"\"} 1\n");
	free(text);
	prom_registry_free(reg);
}
END_TEST

/* A reload's METRICS_NAME: every series takes the new label, or none. */
START_TEST(app_name_set)
{
	struct prom_registry *reg = prom_registry_new("");
	struct prom_family *g = prom_family_add(reg, PROM_GAUGE, "x_up", "up",
						NULL, NULL, 0);
	prom_set(g, NULL, 1);
	ck_assert_int_eq(prom_registry_set_app_name(reg, "next"), 0);
	char *text = prom_format(reg);
	ck_assert_ptr_nonnull(strstr(text, "\nx_up{app_name=\"next\"} 1\n"));
	free(text);
	ck_assert_int_eq(prom_registry_set_app_name(reg, ""), 0);
	text = prom_format(reg);
	ck_assert_ptr_nonnull(strstr(text, "\nx_up 1\n"));
	free(text);
	prom_registry_free(reg);
}
END_TEST

START_TEST(histogram_cumulative)
{
	static const char *const labels[] = { "service", NULL };
	static const double buckets[] = { 0.005, 0.5, 1 };
	struct prom_registry *reg = prom_registry_new("dp");
	struct prom_family *h = prom_family_add(reg, PROM_HISTOGRAM,
		"x_seconds", "time", labels, buckets, 3);
	const char *const svc[] = { "data-collection" };
	/* Binary fractions, so the sum prints exactly. */
	prom_observe(h, svc, 0.00390625);
	prom_observe(h, svc, 0.5);    /* on a bound: le is inclusive */
	prom_observe(h, svc, 0.75);
	prom_observe(h, svc, 2);      /* past every bound: +Inf only */
	char *text = prom_format(reg);
	ck_assert_str_eq(text,
		"# HELP x_seconds time\n"
		"# TYPE x_seconds histogram\n"
		"x_seconds_bucket{app_name=\"dp\",service=\"data-collection\",le=\"0.005\"} 1\n"
		"x_seconds_bucket{app_name=\"dp\",service=\"data-collection\",le=\"0.5\"} 2\n"
		"x_seconds_bucket{app_name=\"dp\",service=\"data-collection\",le=\"1\"} 3\n"
		"x_seconds_bucket{app_name=\"dp\",service=\"data-collection\",le=\"+Inf\"} 4\n"
		"x_seconds_sum{app_name=\"dp\",service=\"data-collection\"} 3.25390625\n"
		"x_seconds_count{app_name=\"dp\",service=\"data-collection\"} 4\n");
	free(text);
	prom_registry_free(reg);
}
END_TEST

START_TEST(unlabelled_histogram)
{
	static const double buckets[] = { 1 };
	struct prom_registry *reg = prom_registry_new(NULL);
	prom_family_add(reg, PROM_HISTOGRAM, "x_age_seconds", "age", NULL,
			buckets, 1);
	char *text = prom_format(reg);
	ck_assert_str_eq(text,
		"# HELP x_age_seconds age\n"
		"# TYPE x_age_seconds histogram\n"
		"x_age_seconds_bucket{le=\"1\"} 0\n"
		"x_age_seconds_bucket{le=\"+Inf\"} 0\n"
		"x_age_seconds_sum 0\n"
		"x_age_seconds_count 0\n");
	free(text);
	prom_registry_free(reg);
}
END_TEST

START_TEST(bad_declarations)
{
	static const char *const five[] = { "a", "b", "c", "d", "e", NULL };
	struct prom_registry *reg = prom_registry_new(NULL);
	ck_assert_ptr_null(prom_family_add(reg, PROM_COUNTER, "x", "x", five,
					   NULL, 0));
	ck_assert_ptr_null(prom_family_add(reg, PROM_HISTOGRAM, "y", "y", NULL,
					   NULL, 0));
	/* NULL families (metrics off, or out of memory) ignore samples. */
	prom_add(NULL, NULL, 1);
	prom_observe(NULL, NULL, 1);
	char *text = prom_format(reg);
	ck_assert_str_eq(text, "");
	free(text);
	prom_registry_free(reg);
}
END_TEST

struct hammer {
	struct prom_family *fam;
	const char *label;
};

static void *
hammer_run(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < 10000; i++)
		prom_add(h->fam, (const char *const[]){ h->label }, 1);
	return NULL;
}

START_TEST(concurrent_adds)
{
	static const char *const labels[] = { "t", NULL };
	struct prom_registry *reg = prom_registry_new(NULL);
	struct prom_family *f = prom_family_add(reg, PROM_COUNTER, "x_total",
		"x", labels, NULL, 0);
	pthread_t threads[4];
	struct hammer h[4] = { { f, "a" }, { f, "b" }, { f, "a" }, { f, "b" } };
	for (int i = 0; i < 4; i++)
		pthread_create(&threads[i], NULL, hammer_run, &h[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	char *text = prom_format(reg);
	ck_assert_ptr_nonnull(strstr(text, "x_total{t=\"a\"} 20000\n"));
	ck_assert_ptr_nonnull(strstr(text, "x_total{t=\"b\"} 20000\n"));
	free(text);
	prom_registry_free(reg);
}
END_TEST

/* dcproxyd's families: the names and labels dashboards will query. */
START_TEST(daemon_families)
{
	struct daemon_metrics *m = daemon_metrics_new("dp", "1.2.3");
	daemon_metrics_request(m, "health", "dev", NULL, 0.002);
	daemon_metrics_request(m, "unknown", "dev", "not_found", 0.001);
	daemon_metrics_upstream(m, "data-collection", 503, 3, 1.5);
	daemon_metrics_upstream(m, "data-collection", 0, 1, 2);
	daemon_metrics_upstream(m, "data-collection", 200, 0, 0); /* none made */
	daemon_metrics_cache(m, "hit", 12);
	daemon_metrics_cache(m, "miss", 0);
	daemon_metrics_coalesced(m);
	daemon_metrics_rate_limited(m);
	daemon_metrics_rate_limited(m);
	ck_assert_int_eq(daemon_metrics_enable_redis(m), 0);
	daemon_metrics_redis(m, false, 3, 5, 1);
	char *text = daemon_metrics_render(m, 7);
	static const char *const want[] = {
		"dcproxy_build_info{app_name=\"dp\",version=\"1.2.3\"} 1\n",
		"# TYPE process_start_time_seconds gauge\n",
		"dcproxy_requests_total{app_name=\"dp\",operation=\"health\",environment=\"dev\"} 1\n",
		"dcproxy_requests_total{app_name=\"dp\",operation=\"unknown\",environment=\"dev\"} 1\n",
		"dcproxy_errors_total{app_name=\"dp\",operation=\"unknown\",environment=\"dev\",kind=\"not_found\"} 1\n",
		"dcproxy_request_duration_seconds_bucket{app_name=\"dp\",operation=\"health\",environment=\"dev\",le=\"0.005\"} 1\n",
		"dcproxy_request_duration_seconds_bucket{app_name=\"dp\",operation=\"health\",environment=\"dev\",le=\"30\"} 1\n",
		"dcproxy_upstream_requests_total{app_name=\"dp\",service=\"data-collection\",status_class=\"5xx\"} 1\n",
		"dcproxy_upstream_requests_total{app_name=\"dp\",service=\"data-collection\",status_class=\"none\"} 1\n",
		"dcproxy_upstream_retries_total{app_name=\"dp\",service=\"data-collection\"} 2\n",
		"dcproxy_upstream_duration_seconds_count{app_name=\"dp\",service=\"data-collection\"} 2\n",
		"dcproxy_cache_requests_total{app_name=\"dp\",result=\"hit\"} 1\n",
		"dcproxy_cache_requests_total{app_name=\"dp\",result=\"miss\"} 1\n",
		"dcproxy_cache_requests_total{app_name=\"dp\",result=\"bypass\"} 0\n",
		"dcproxy_cache_items{app_name=\"dp\"} 7\n",
		"dcproxy_cache_hit_age_seconds_bucket{app_name=\"dp\",le=\"30\"} 1\n",
		"dcproxy_coalesced_requests_total{app_name=\"dp\"} 1\n",
		"dcproxy_rate_limited_requests_total{app_name=\"dp\"} 2\n",
		"# TYPE dcproxy_redis_up gauge\n",
		"dcproxy_redis_up{app_name=\"dp\"} 0\n",
		"dcproxy_redis_failures_total{app_name=\"dp\"} 3\n",
		"dcproxy_redis_skipped_total{app_name=\"dp\"} 5\n",
		"dcproxy_redis_reconnects_total{app_name=\"dp\"} 1\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		ck_assert_msg(strstr(text, want[i]) != NULL, "missing: %s", want[i]);
	/* A success is not an error; no 2xx series was made for attempts 0. */
	ck_assert_ptr_null(strstr(text, "kind=\"none\""));
	ck_assert_ptr_null(strstr(text, "status_class=\"2xx\""));
	free(text);
	daemon_metrics_free(m);
	/* Disabled metrics are a NULL pointer every call accepts. */
	daemon_metrics_request(NULL, "health", "dev", NULL, 1);
	daemon_metrics_cache(NULL, "hit", 1);
	daemon_metrics_free(NULL);
}
END_TEST

static Suite *
prometheus_suite(void)
{
	Suite *s = suite_create("prometheus");
	TCase *tc = tcase_create("text");
	tcase_add_test(tc, small_registry);
	tcase_add_test(tc, unlabelled_reads_zero);
	tcase_add_test(tc, app_name_and_escaping);
	tcase_add_test(tc, app_name_set);
	tcase_add_test(tc, histogram_cumulative);
	tcase_add_test(tc, unlabelled_histogram);
	tcase_add_test(tc, bad_declarations);
	tcase_add_test(tc, concurrent_adds);
	tcase_add_test(tc, daemon_families);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(prometheus_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
