/* check_provider_limit: the provider rate limit: deriving the missing
 * windows, limits.json parsing and its errors, admission against the
 * three sliding windows (local count; times passed in, no sleeping), and
 * a reload's new capacity.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "provider_limit.h"

START_TEST(derive_from_minute)
{
	struct provider_capacity c;
	ck_assert_int_eq(provider_capacity_derive(0, 120, 0, &c), 0);
	ck_assert_int_eq(c.per_s, 2);
	ck_assert_int_eq(c.per_m, 120);
	ck_assert_int_eq(c.per_h, 7200);
	/* Less than one a second rounds up, or nothing would ever pass. */
	ck_assert_int_eq(provider_capacity_derive(0, 5, 0, &c), 0);
	ck_assert_int_eq(c.per_s, 1);
	ck_assert_int_eq(c.per_h, 300);
}
END_TEST

START_TEST(derive_from_second_and_hour)
{
	struct provider_capacity c;
	ck_assert_int_eq(provider_capacity_derive(2, 0, 0, &c), 0);
	ck_assert_int_eq(c.per_m, 120);
	ck_assert_int_eq(c.per_h, 7200);
	ck_assert_int_eq(provider_capacity_derive(0, 0, 3600, &c), 0);
	ck_assert_int_eq(c.per_m, 60);
	ck_assert_int_eq(c.per_s, 1);
	/* Given figures are kept as given. */
	ck_assert_int_eq(provider_capacity_derive(1, 30, 200, &c), 0);
	ck_assert_int_eq(c.per_s, 1);
	ck_assert_int_eq(c.per_m, 30);
	ck_assert_int_eq(c.per_h, 200);
	ck_assert_int_eq(provider_capacity_derive(0, 0, 0, &c), -1);
}
END_TEST

static const char limits[] =
	"{\"data-collection\":{\"http\":{"
	"\"free\":{\"rateLimit1s\":1,\"rateLimit1m\":30,\"rateLimit1h\":200},"
	"\"standard\":{\"rateLimit1m\":120},"
	"\"broken\":{\"rateLimit1m\":\"many\"},"
	"\"empty\":{}"
	"}},\"other\":{\"ws\":{}}}";

START_TEST(parse_tiers)
{
	struct provider_capacity c;
	char err[256];
	ck_assert_int_eq(provider_limits_parse(limits, "l.json", "data-collection",
					       "free", &c, err, sizeof err), 0);
	ck_assert_int_eq(c.per_s, 1);
	ck_assert_int_eq(c.per_m, 30);
	ck_assert_int_eq(c.per_h, 200);
	ck_assert_int_eq(provider_limits_parse(limits, "l.json", "data-collection",
					       "standard", &c, err, sizeof err), 0);
	ck_assert_int_eq(c.per_s, 2);
	ck_assert_int_eq(c.per_h, 7200);
}
END_TEST

START_TEST(parse_errors_name_file_and_key)
{
	struct provider_capacity c;
	char err[256];
	ck_assert_int_eq(provider_limits_parse("{not json", "l.json", "x", "y",
					       &c, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "l.json"));
	ck_assert_int_eq(provider_limits_parse(limits, "l.json", "nobody", "free",
					       &c, err, sizeof err), -1);
	ck_assert_str_eq(err, "l.json: nobody: no such provider (RATE_LIMIT_API_PROVIDER)");
	ck_assert_int_eq(provider_limits_parse(limits, "l.json", "data-collection",
					       "gold", &c, err, sizeof err), -1);
	ck_assert_str_eq(err, "l.json: data-collection.http.gold: no such tier (RATE_LIMIT_API_TIER)");
	ck_assert_int_eq(provider_limits_parse(limits, "l.json", "data-collection",
					       "broken", &c, err, sizeof err), -1);
	ck_assert_str_eq(err, "l.json: data-collection.http.broken.rateLimit1m: must be a number above 0");
	ck_assert_int_eq(provider_limits_parse(limits, "l.json", "data-collection",
					       "empty", &c, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "data-collection.http.empty"));
	ck_assert_int_eq(provider_limits_parse(limits, "l.json", "other", "free",
					       &c, err, sizeof err), -1);
	ck_assert_str_eq(err, "l.json: other.http: missing");
	ck_assert_int_eq(provider_limits_load("/nonexistent/limits.json", "a",
					      "b", &c, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/limits.json"));
}
END_TEST

START_TEST(admits_within_every_window)
{
	struct provider_capacity c = { 2, 5, 7 };
	struct provider_limit *pl = provider_limit_new(&c, NULL, "t");
	ck_assert_ptr_nonnull(pl);
	int64_t t0 = 1000000;
	ck_assert(provider_limit_admit(pl, t0).allowed);
	ck_assert(provider_limit_admit(pl, t0 + 1).allowed);
	/* The second is full: the first call leaves it at t0 + 1000. */
	struct provider_verdict v = provider_limit_admit(pl, t0 + 400);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.retry_after_ms, 600);
	ck_assert(provider_limit_admit(pl, t0 + 1000).allowed);
	ck_assert(provider_limit_admit(pl, t0 + 1001).allowed);
	ck_assert(provider_limit_admit(pl, t0 + 2000).allowed);
	/* Five in the minute: the minute refuses until t0 + 60000. */
	v = provider_limit_admit(pl, t0 + 3000);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.retry_after_ms, 57000);
	ck_assert(provider_limit_admit(pl, t0 + 60000).allowed);
	ck_assert(provider_limit_admit(pl, t0 + 60001).allowed);
	/* Seven in the hour. */
	v = provider_limit_admit(pl, t0 + 125000);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.retry_after_ms, 3600000 - 125000);
	ck_assert(provider_limit_admit(pl, t0 + 3600000).allowed);
	provider_limit_free(pl);
}
END_TEST

struct race {
	struct provider_limit *pl;
	int allowed;
};

static void *
race_run(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < 500; i++)
		r->allowed += provider_limit_admit(r->pl, 5000 + i % 50).allowed;
	return NULL;
}

START_TEST(exact_under_concurrency)
{
	struct provider_capacity c = { 100, 100, 100 };
	struct provider_limit *pl = provider_limit_new(&c, NULL, "t");
	struct race r[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		r[i] = (struct race){ pl, 0 };
		pthread_create(&t[i], NULL, race_run, &r[i]);
	}
	int total = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		total += r[i].allowed;
	}
	ck_assert_int_eq(total, 100);
	provider_limit_free(pl);
}
END_TEST

/* No capacity known: every call passes, and nothing is counted. */
START_TEST(no_capacity_admits_all)
{
	struct provider_capacity none = { 0 };
	struct provider_limit *pl = provider_limit_new(&none, NULL, "t");
	ck_assert_ptr_nonnull(pl);
	for (int i = 0; i < 1000; i++)
		ck_assert(provider_limit_admit(pl, 5000).allowed);
	ck_assert_int_eq(provider_limit_capacity(pl).per_m, 0);
	/* Limited by a reload: the calls made while idle do not count. */
	struct provider_capacity c = { 1, 2, 10 };
	ck_assert_int_eq(provider_limit_set(pl, &c, "t"), 0);
	ck_assert_int_eq(provider_limit_capacity(pl).per_m, 2);
	ck_assert(provider_limit_admit(pl, 5001).allowed);
	struct provider_verdict v = provider_limit_admit(pl, 5002);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.retry_after_ms, 999);
	/* And idle again. */
	ck_assert_int_eq(provider_limit_set(pl, &none, "t"), 0);
	ck_assert(provider_limit_admit(pl, 5003).allowed);
	ck_assert(provider_limit_admit(pl, 5003).allowed);
	provider_limit_free(pl);
}
END_TEST

/* A reload keeps the calls already admitted, the newest that fit. */
START_TEST(set_keeps_counted_calls)
{
	struct provider_capacity c = { 2, 5, 7 };
	struct provider_limit *pl = provider_limit_new(&c, NULL, "t");
	int64_t t0 = 1000000;
	ck_assert(provider_limit_admit(pl, t0).allowed);
	ck_assert(provider_limit_admit(pl, t0 + 1).allowed);
	ck_assert(!provider_limit_admit(pl, t0 + 2).allowed);
	c.per_s = 3;
	ck_assert_int_eq(provider_limit_set(pl, &c, "t"), 0);
	ck_assert(provider_limit_admit(pl, t0 + 2).allowed);
	struct provider_verdict v = provider_limit_admit(pl, t0 + 3);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.retry_after_ms, 997);
	/* Down to one a second: the newest call (t0 + 2) is the one kept. */
	c.per_s = 1;
	ck_assert_int_eq(provider_limit_set(pl, &c, "t"), 0);
	v = provider_limit_admit(pl, t0 + 500);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.retry_after_ms, 502);
	ck_assert(provider_limit_admit(pl, t0 + 1002).allowed);
	/* The minute still holds the four calls made so far: one more. */
	ck_assert(provider_limit_admit(pl, t0 + 3000).allowed);
	ck_assert(!provider_limit_admit(pl, t0 + 5000).allowed);
	provider_limit_free(pl);
}
END_TEST

/* Past PROVIDER_RING_MAX a window counts in fixed slices and knows no
 * times: back to a ring, its calls leave when their slice ends. */
START_TEST(set_between_ring_and_slices)
{
	struct provider_capacity c = { 1, 0, 0 };
	struct provider_limit *pl = provider_limit_new(&c, NULL, "t");
	int64_t t0 = 1000000; /* a slice starts here */
	ck_assert(provider_limit_admit(pl, t0 + 100).allowed);
	c.per_s = 200000;
	ck_assert_int_eq(provider_limit_set(pl, &c, "t"), 0);
	ck_assert(provider_limit_admit(pl, t0 + 200).allowed);
	c.per_s = 2;
	ck_assert_int_eq(provider_limit_set(pl, &c, "t"), 0);
	struct provider_verdict v = provider_limit_admit(pl, t0 + 500);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.retry_after_ms, 500);
	ck_assert(provider_limit_admit(pl, t0 + 1000).allowed);
	provider_limit_free(pl);
}
END_TEST

struct reload_race {
	struct provider_limit *pl;
	atomic_bool *running;
};

static void *
reload_race_run(void *arg)
{
	struct reload_race *r = arg;
	for (int64_t t = 0; atomic_load(r->running); t++)
		(void)provider_limit_admit(r->pl, t);
	return NULL;
}

/* Reloads while calls are admitted: under the sanitizers, a window or
 * prefix read while a reload replaces it shows. */
START_TEST(set_under_load)
{
	struct provider_capacity c = { 5, 50, 500 };
	struct provider_limit *pl = provider_limit_new(&c, NULL, "t");
	atomic_bool running = true;
	struct reload_race r = { pl, &running };
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, reload_race_run, &r), 0);
	for (long i = 0; i < 300; i++) {
		struct provider_capacity n = { i % 3 ? i : 0, i % 3 ? 60 * i : 0,
					       i % 3 ? 200000 : 0 };
		ck_assert_int_eq(provider_limit_set(pl, &n, i % 2 ? "a" : "b"), 0);
	}
	atomic_store(&running, false);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	provider_limit_free(pl);
}
END_TEST

static Suite *
provider_limit_suite(void)
{
	Suite *suite = suite_create("provider_limit");
	TCase *tc = tcase_create("capacity");
	tcase_add_test(tc, derive_from_minute);
	tcase_add_test(tc, derive_from_second_and_hour);
	tcase_add_test(tc, parse_tiers);
	tcase_add_test(tc, parse_errors_name_file_and_key);
	suite_add_tcase(suite, tc);
	tc = tcase_create("admit");
	tcase_add_test(tc, admits_within_every_window);
	tcase_add_test(tc, exact_under_concurrency);
	suite_add_tcase(suite, tc);
	tc = tcase_create("set");
	tcase_add_test(tc, no_capacity_admits_all);
	tcase_add_test(tc, set_keeps_counted_calls);
	tcase_add_test(tc, set_between_ring_and_slices);
	tcase_add_test(tc, set_under_load);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(provider_limit_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
