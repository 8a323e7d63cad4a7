/* check_workers: the worker pool runs every job, grows to one thread per
 * concurrent job up to its maximum and no further, lets idle threads end,
 * and runs what is still queued when freed.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "workers.h"

#define N_JOBS 12

static atomic_int done, running, most;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_open = PTHREAD_COND_INITIALIZER;
static bool gate;

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Wait for cond for up to 5 s; the pool's threads are real. */
#define WAIT_UNTIL(cond)                                        \
	for (int spin_ = 0; !(cond) && spin_ < 500; spin_++)     \
		nap_ms(10)

/* A job that holds its thread until the gate opens. */
static void
gated_job(struct work *work)
{
	(void)work;
	int now = atomic_fetch_add(&running, 1) + 1;
	int seen = atomic_load(&most);
	while (now > seen && !atomic_compare_exchange_weak(&most, &seen, now))
		;
	pthread_mutex_lock(&gate_lock);
	while (!gate)
		pthread_cond_wait(&gate_open, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	atomic_fetch_sub(&running, 1);
	atomic_fetch_add(&done, 1);
}

static void
short_job(struct work *work)
{
	(void)work;
	nap_ms(5);
	atomic_fetch_add(&done, 1);
}

static void
reset(void)
{
	atomic_store(&done, 0);
	atomic_store(&running, 0);
	atomic_store(&most, 0);
	gate = false;
}

static void
open_gate(void)
{
	pthread_mutex_lock(&gate_lock);
	gate = true;
	pthread_cond_broadcast(&gate_open);
	pthread_mutex_unlock(&gate_lock);
}

START_TEST(one_thread_per_blocked_job)
{
	struct work jobs[N_JOBS] = { 0 };
	reset();
	struct workers *w = workers_new(64, 60000);
	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < N_JOBS; i++) {
		jobs[i].run = gated_job;
		ck_assert_int_eq(workers_submit(w, &jobs[i]), 0);
	}
	/* Every job blocks at once: none waits behind another. */
	WAIT_UNTIL(atomic_load(&running) == N_JOBS);
	ck_assert_int_eq(atomic_load(&running), N_JOBS);
	ck_assert_uint_eq(workers_threads(w), N_JOBS);
	open_gate();
	WAIT_UNTIL(atomic_load(&done) == N_JOBS);
	ck_assert_int_eq(atomic_load(&done), N_JOBS);
	workers_free(w);
}
END_TEST

START_TEST(never_more_than_the_maximum)
{
	struct work jobs[N_JOBS] = { 0 };
	reset();
	struct workers *w = workers_new(3, 60000);
	for (int i = 0; i < N_JOBS; i++) {
		jobs[i].run = gated_job;
		ck_assert_int_eq(workers_submit(w, &jobs[i]), 0);
	}
	WAIT_UNTIL(atomic_load(&running) == 3);
	nap_ms(50); /* room for a fourth to start, if the cap leaked */
	ck_assert_int_eq(atomic_load(&running), 3);
	ck_assert_uint_eq(workers_threads(w), 3);
	/* The queued ones run as threads free up. */
	open_gate();
	WAIT_UNTIL(atomic_load(&done) == N_JOBS);
	ck_assert_int_eq(atomic_load(&done), N_JOBS);
	ck_assert_int_eq(atomic_load(&most), 3);
	workers_free(w);
}
END_TEST

START_TEST(idle_threads_end)
{
	struct work jobs[N_JOBS] = { 0 };
	reset();
	struct workers *w = workers_new(8, 100);
	for (int i = 0; i < N_JOBS; i++) {
		jobs[i].run = short_job;
		ck_assert_int_eq(workers_submit(w, &jobs[i]), 0);
	}
	WAIT_UNTIL(atomic_load(&done) == N_JOBS);
	ck_assert_int_eq(atomic_load(&done), N_JOBS);
	WAIT_UNTIL(workers_threads(w) == 0);
	ck_assert_uint_eq(workers_threads(w), 0);
	/* And the pool starts threads again afterwards. */
	ck_assert_int_eq(workers_submit(w, &jobs[0]), 0);
	WAIT_UNTIL(atomic_load(&done) == N_JOBS + 1);
	ck_assert_int_eq(atomic_load(&done), N_JOBS + 1);
	workers_free(w);
}
END_TEST

START_TEST(free_runs_what_is_queued)
{
	struct work jobs[N_JOBS] = { 0 };
	reset();
	struct workers *w = workers_new(1, 60000);
	for (int i = 0; i < N_JOBS; i++) {
		jobs[i].run = short_job;
		ck_assert_int_eq(workers_submit(w, &jobs[i]), 0);
	}
	workers_free(w);
	ck_assert_int_eq(atomic_load(&done), N_JOBS);
}
END_TEST

/* A chain of jobs, each queued by the previous one's hand-off, as a client
 * asks again as soon as it is answered.  The hand-off then lingers, as a
 * thread preempted by the loop it woke would. */
#define CHAIN 10
static struct workers *chain_pool;
static struct work chain[CHAIN];
static atomic_size_t chain_most_threads;

static void
chain_run(struct work *work)
{
	(void)work;
	size_t n = workers_threads(chain_pool);
	size_t seen = atomic_load(&chain_most_threads);
	while (n > seen &&
	       !atomic_compare_exchange_weak(&chain_most_threads, &seen, n))
		;
	atomic_fetch_add(&done, 1);
}

static void
chain_done(struct work *work)
{
	size_t i = (size_t)(work - chain);
	if (i + 1 < CHAIN)
		ck_assert_int_eq(workers_submit(chain_pool, &chain[i + 1]), 0);
	nap_ms(20);
}

START_TEST(hand_off_keeps_its_thread)
{
	reset();
	atomic_store(&chain_most_threads, 0);
	chain_pool = workers_new(8, 60000);
	for (int i = 0; i < CHAIN; i++)
		chain[i] = (struct work){ .run = chain_run, .done = chain_done };
	ck_assert_int_eq(workers_submit(chain_pool, &chain[0]), 0);
	WAIT_UNTIL(atomic_load(&done) == CHAIN);
	ck_assert_int_eq(atomic_load(&done), CHAIN);
	ck_assert_uint_eq(atomic_load(&chain_most_threads), 1);
	ck_assert_uint_eq(workers_threads(chain_pool), 1);
	workers_free(chain_pool);
}
END_TEST

static Suite *
workers_suite(void)
{
	Suite *suite = suite_create("workers");
	TCase *tc = tcase_create("pool");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, one_thread_per_blocked_job);
	tcase_add_test(tc, never_more_than_the_maximum);
	tcase_add_test(tc, idle_threads_end);
	tcase_add_test(tc, free_runs_what_is_queued);
	tcase_add_test(tc, hand_off_keeps_its_thread);
	suite_add_tcase(suite, tc);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(workers_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
