/* check_ratelimit: the server rate limit: the 5-second sliding window,
 * Retry-After, the slow-down past factor x max, and exact counting under
 * concurrent callers.  Times are passed in, so no test sleeps.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>

#include "ratelimit.h"

static struct ratelimit *rl;

static void
teardown(void)
{
	ratelimit_free(rl);
	rl = NULL;
}

START_TEST(slows_then_refuses)
{
	rl = ratelimit_new(10, 0.8, 500);
	ck_assert_ptr_nonnull(rl);
	int64_t t0 = 100000;
	for (int i = 0; i < 10; i++) {
		struct ratelimit_verdict v = ratelimit_admit(rl, t0 + i * 10);
		ck_assert(v.allowed);
		ck_assert_int_eq(v.in_window, i + 1);
		/* 8 = 0.8 x 10 pass undelayed; the 9th and 10th wait. */
		ck_assert_int_eq(v.delay_ms, i < 8 ? 0 : 500);
	}
	struct ratelimit_verdict v = ratelimit_admit(rl, t0 + 1200);
	ck_assert(!v.allowed);
	/* The first slot frees at t0 + 5000: 3.8 s away, rounded up. */
	ck_assert_int_eq(v.retry_after_s, 4);
	v = ratelimit_admit(rl, t0 + 4999);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.retry_after_s, 1);
	/* Refusals were not counted: exactly one slot frees at t0 + 5000. */
	v = ratelimit_admit(rl, t0 + 5000);
	ck_assert(v.allowed);
	ck_assert_int_eq(v.delay_ms, 500);
	v = ratelimit_admit(rl, t0 + 5001);
	ck_assert(!v.allowed);
	/* After a quiet window everything is forgotten. */
	v = ratelimit_admit(rl, t0 + 20000);
	ck_assert(v.allowed);
	ck_assert_int_eq(v.in_window, 1);
	ck_assert_int_eq(v.delay_ms, 0);
}
END_TEST

START_TEST(factor_one_never_slows)
{
	rl = ratelimit_new(3, 1.0, 500);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ratelimit_admit(rl, 1000 + i).delay_ms, 0);
	ck_assert(!ratelimit_admit(rl, 1003).allowed);
}
END_TEST

START_TEST(factor_zero_slows_all)
{
	rl = ratelimit_new(3, 0.0, 250);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ratelimit_admit(rl, 1000 + i).delay_ms, 250);
}
END_TEST

START_TEST(zero_means_unlimited)
{
	rl = ratelimit_new(0, 0.8, 500);
	for (int i = 0; i < 10000; i++) {
		struct ratelimit_verdict v = ratelimit_admit(rl, 1000);
		ck_assert(v.allowed);
		ck_assert_int_eq(v.delay_ms, 0);
	}
}
END_TEST

/* A reload's new limits keep the arrivals already counted, the newest
 * first when the window shrinks. */
START_TEST(set_keeps_what_was_counted)
{
	rl = ratelimit_new(10, 1.0, 0);
	for (int i = 0; i < 6; i++)
		ck_assert(ratelimit_admit(rl, 1000 + i * 100).allowed);
	/* 6 counted, 4 fit: the newest, from 1200 to 1500 */
	ck_assert_int_eq(ratelimit_set(rl, 4, 0.5, 250), 0);
	struct ratelimit_verdict v = ratelimit_admit(rl, 2000);
	ck_assert(!v.allowed);
	ck_assert_int_eq(v.in_window, 4);
	/* 1200 leaves the window at 6200: one slot, delayed (factor 0.5) */
	v = ratelimit_admit(rl, 6200);
	ck_assert(v.allowed);
	ck_assert_int_eq(v.delay_ms, 250);
	ck_assert_int_eq(v.in_window, 4);
	/* growing keeps all four and makes room */
	ck_assert_int_eq(ratelimit_set(rl, 6, 1.0, 0), 0);
	ck_assert_int_eq(ratelimit_admit(rl, 6201).in_window, 5);
	ck_assert_int_eq(ratelimit_admit(rl, 6202).in_window, 6);
	ck_assert(!ratelimit_admit(rl, 6203).allowed);
	/* 0: unlimited from now on */
	ck_assert_int_eq(ratelimit_set(rl, 0, 0.8, 500), 0);
	ck_assert(ratelimit_admit(rl, 6204).allowed);
}
END_TEST

#define N_THREADS 8
#define PER_THREAD 200

static void *
hammer(void *arg)
{
	long *allowed = arg;
	for (int i = 0; i < PER_THREAD; i++)
		*allowed += ratelimit_admit(rl, 5000).allowed;
	return NULL;
}

START_TEST(exact_under_concurrency)
{
	rl = ratelimit_new(1000, 0.8, 0);
	pthread_t threads[N_THREADS];
	long allowed[N_THREADS] = { 0 };
	for (int i = 0; i < N_THREADS; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL, hammer,
						&allowed[i]), 0);
	long total = 0;
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(threads[i], NULL);
		total += allowed[i];
	}
	ck_assert_int_eq(total, 1000);
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite *suite = suite_create("ratelimit");
	TCase *tc = tcase_create("window");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, slows_then_refuses);
	tcase_add_test(tc, factor_one_never_slows);
	tcase_add_test(tc, factor_zero_slows_all);
	tcase_add_test(tc, zero_means_unlimited);
	tcase_add_test(tc, set_keeps_what_was_counted);
	tcase_add_test(tc, exact_under_concurrency);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(ratelimit_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
