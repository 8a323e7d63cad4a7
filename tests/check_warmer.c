/* check_warmer: the cache warmer's scheduling with a fake clock: the
 * refresh interval (request maxAge, WARMUP_INTERVAL, entry lifetime), the
 * subscription TTL, the unhealthy threshold, skips, and the cap.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "warmer.h"

static int64_t fake_now;
static int calls;
static enum warmer_result next_result;
static long last_lifetime;

static int64_t
fake_clock(void)
{
	return fake_now;
}

static enum warmer_result
fake_refresh(void *user, const char *operation, const cJSON *params,
	     long lifetime_ms)
{
	(void)user;
	ck_assert_str_eq(operation, "health");
	ck_assert(cJSON_IsObject(params));
	last_lifetime = lifetime_ms;
	calls++;
	return next_result;
}

static struct warmer *
make(long interval, long ttl, long threshold, long cap)
{
	struct warmer_options o = {
		.interval_ms = interval, .subscription_ttl_ms = ttl,
		.unhealthy_threshold = threshold, .max_subscriptions = cap,
		.clock = fake_clock, .refresh = fake_refresh,
	};
	fake_now = 1000000;
	calls = 0;
	next_result = WARMER_REFRESHED;
	return warmer_new(&o);
}

static int
run(struct warmer *w)
{
	int64_t next;
	return warmer_run_due(w, fake_now, &next);
}

START_TEST(refreshes_before_the_lifetime_ends)
{
	struct warmer *w = make(0, 3600000, 3, 10);
	cJSON *p = cJSON_CreateObject();
	ck_assert_int_eq(warmer_touch(w, "k", "health", p, 10000, false), 0);
	ck_assert_int_eq(warmer_count(w), 1);
	fake_now += 7999;
	ck_assert_int_eq(run(w), 0);
	/* 80% of the 10 s lifetime. */
	fake_now += 1;
	ck_assert_int_eq(run(w), 1);
	ck_assert_int_eq(last_lifetime, 10000);
	fake_now += 8000;
	ck_assert_int_eq(run(w), 1);
	ck_assert_int_eq(warmer_get_stats(w).refreshes, 2);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

START_TEST(interval_setting_unless_the_request_asked)
{
	struct warmer *w = make(3000, 3600000, 3, 10);
	cJSON *p = cJSON_CreateObject();
	warmer_touch(w, "a", "health", p, 10000, false);
	warmer_touch(w, "b", "health", p, 5000, true);
	fake_now += 3000;
	ck_assert_int_eq(run(w), 1);   /* a, at WARMUP_INTERVAL */
	fake_now += 1000;
	ck_assert_int_eq(run(w), 1);   /* b, at 80% of its maxAge */
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

START_TEST(dropped_after_ttl_without_requests)
{
	struct warmer *w = make(1000, 5000, 3, 10);
	cJSON *p = cJSON_CreateObject();
	warmer_touch(w, "k", "health", p, 10000, false);
	for (int i = 0; i < 4; i++) {
		fake_now += 1000;
		ck_assert_int_eq(run(w), 1);
	}
	/* A request renews it. */
	warmer_touch(w, "k", "health", p, 10000, false);
	fake_now += 5000;
	ck_assert_int_eq(run(w), 1);
	fake_now += 1000;
	ck_assert_int_eq(run(w), 0);
	ck_assert_int_eq(warmer_count(w), 0);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

START_TEST(dropped_after_consecutive_failures)
{
	struct warmer *w = make(1000, 3600000, 3, 10);
	cJSON *p = cJSON_CreateObject();
	warmer_touch(w, "k", "health", p, 10000, false);
	next_result = WARMER_FAILED;
	for (int i = 0; i < 2; i++) {
		fake_now += 1000;
		ck_assert_int_eq(run(w), 1);
	}
	/* A success resets the count. */
	next_result = WARMER_REFRESHED;
	fake_now += 1000;
	ck_assert_int_eq(run(w), 1);
	next_result = WARMER_FAILED;
	for (int i = 0; i < 3; i++) {
		fake_now += 1000;
		ck_assert_int_eq(warmer_count(w), 1);
		ck_assert_int_eq(run(w), 1);
	}
	ck_assert_int_eq(warmer_count(w), 0);
	ck_assert_int_eq(warmer_get_stats(w).failures, 5);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

START_TEST(threshold_minus_one_never_drops)
{
	struct warmer *w = make(1000, 3600000, -1, 10);
	cJSON *p = cJSON_CreateObject();
	warmer_touch(w, "k", "health", p, 10000, false);
	next_result = WARMER_FAILED;
	for (int i = 0; i < 20; i++) {
		fake_now += 1000;
		run(w);
	}
	ck_assert_int_eq(warmer_count(w), 1);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

START_TEST(skips_do_not_count_as_failures)
{
	struct warmer *w = make(1000, 3600000, 1, 10);
	cJSON *p = cJSON_CreateObject();
	warmer_touch(w, "k", "health", p, 10000, false);
	next_result = WARMER_SKIPPED;
	fake_now += 1000;
	ck_assert_int_eq(run(w), 1);
	/* Retried at the next round, not in the same pass. */
	ck_assert_int_eq(calls, 1);
	fake_now += 250;
	ck_assert_int_eq(run(w), 1);
	ck_assert_int_eq(warmer_count(w), 1);
	ck_assert_int_eq(warmer_get_stats(w).skipped, 2);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

START_TEST(capped)
{
	struct warmer *w = make(1000, 3600000, 3, 2);
	cJSON *p = cJSON_CreateObject();
	ck_assert_int_eq(warmer_touch(w, "a", "health", p, 1000, false), 0);
	ck_assert_int_eq(warmer_touch(w, "b", "health", p, 1000, false), 0);
	ck_assert_int_eq(warmer_touch(w, "c", "health", p, 1000, false), -1);
	ck_assert_int_eq(warmer_touch(w, "a", "health", p, 1000, false), 0);
	ck_assert_int_eq(warmer_count(w), 2);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

START_TEST(thread_starts_and_stops)
{
	struct warmer_options o = {
		.interval_ms = 0, .subscription_ttl_ms = 3600000,
		.unhealthy_threshold = 3, .max_subscriptions = 10,
		.refresh = fake_refresh,
	};
	calls = 0;
	next_result = WARMER_REFRESHED;
	struct warmer *w = warmer_new(&o);
	ck_assert_int_eq(warmer_start(w), 0);
	cJSON *p = cJSON_CreateObject();
	warmer_touch(w, "k", "health", p, 100, false);
	for (int i = 0; i < 100 && warmer_get_stats(w).refreshes < 2; i++) {
		struct timespec ts = { 0, 20000000 };
		nanosleep(&ts, NULL);
	}
	ck_assert_uint_ge(warmer_get_stats(w).refreshes, 2);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

/* A reload: held subscriptions take the new interval at once; turning the
 * warmer off drops them and refuses new ones until it is on again. */
START_TEST(reconfigured)
{
	struct warmer *w = make(0, 3600000, 3, 10);
	cJSON *p = cJSON_CreateObject();
	ck_assert_int_eq(warmer_touch(w, "a", "health", p, 10000, false), 0);
	int64_t next;
	/* due at 80% of the lifetime: nothing at 1 s */
	fake_now += 1000;
	ck_assert_int_eq(warmer_run_due(w, fake_now, &next), 0);
	struct warmer_options o = { .interval_ms = 500,
				    .subscription_ttl_ms = 3600000,
				    .unhealthy_threshold = 3,
				    .max_subscriptions = 10 };
	warmer_reconfigure(w, &o);
	fake_now += 500;
	ck_assert_int_eq(warmer_run_due(w, fake_now, &next), 1);
	ck_assert_int_eq(last_lifetime, 10000);
	o.disabled = true;
	warmer_reconfigure(w, &o);
	ck_assert_uint_eq(warmer_count(w), 0);
	ck_assert_int_eq(warmer_touch(w, "b", "health", p, 10000, false), -1);
	fake_now += 5000;
	ck_assert_int_eq(warmer_run_due(w, fake_now, &next), 0);
	o.disabled = false;
	warmer_reconfigure(w, &o);
	ck_assert_int_eq(warmer_touch(w, "b", "health", p, 10000, false), 0);
	ck_assert_uint_eq(warmer_count(w), 1);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

/* CACHE_MAX_ITEMS changed by a reload: a smaller cap drops the
 * subscriptions beyond it, a larger one (past the table sized at start)
 * takes more, and those held are still found. */
START_TEST(reconfigured_cap)
{
	struct warmer *w = make(0, 3600000, 3, 5);
	cJSON *p = cJSON_CreateObject();
	char key[32];
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ck_assert_int_eq(warmer_touch(w, key, "health", p, 10000, false), 0);
	}
	struct warmer_options o = { .subscription_ttl_ms = 3600000,
				    .unhealthy_threshold = 3,
				    .max_subscriptions = 2 };
	warmer_reconfigure(w, &o);
	ck_assert_uint_eq(warmer_count(w), 2);
	ck_assert_uint_eq(warmer_get_stats(w).dropped, 3);
	ck_assert_int_eq(warmer_touch(w, "new", "health", p, 10000, false), -1);
	o.max_subscriptions = 500;
	warmer_reconfigure(w, &o);
	for (int i = 0; i < 498; i++) {
		snprintf(key, sizeof key, "n%d", i);
		ck_assert_int_eq(warmer_touch(w, key, "health", p, 10000, false), 0);
	}
	ck_assert_uint_eq(warmer_count(w), 500);
	/* Touching every key again adds none: each is found where it is. */
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof key, "k%d", i);
		(void)warmer_touch(w, key, "health", p, 10000, false);
	}
	for (int i = 0; i < 498; i++) {
		snprintf(key, sizeof key, "n%d", i);
		ck_assert_int_eq(warmer_touch(w, key, "health", p, 10000, false), 0);
	}
	ck_assert_uint_eq(warmer_count(w), 500);
	fake_now += 8000;
	ck_assert_int_eq(run(w), 500);
	cJSON_Delete(p);
	warmer_free(w);
}
END_TEST

static Suite *
warmer_suite(void)
{
	Suite *suite = suite_create("warmer");
	TCase *tc = tcase_create("schedule");
	tcase_add_test(tc, refreshes_before_the_lifetime_ends);
	tcase_add_test(tc, interval_setting_unless_the_request_asked);
	tcase_add_test(tc, dropped_after_ttl_without_requests);
	tcase_add_test(tc, dropped_after_consecutive_failures);
	tcase_add_test(tc, threshold_minus_one_never_drops);
	tcase_add_test(tc, skips_do_not_count_as_failures);
	tcase_add_test(tc, capped);
	tcase_add_test(tc, reconfigured);
	tcase_add_test(tc, reconfigured_cap);
	tcase_add_test(tc, thread_starts_and_stops);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(warmer_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
