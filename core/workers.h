/* workers: an elastic pool of threads for the jobs that block (upstream
 * calls, Redis round trips, slow-down delays), so that the threads
 * serving connections never wait on them.  A thread is started when a job
 * finds none idle, up to a maximum; an idle thread ends after a while, so
 * a quiet daemon holds none.  Thread-safe.
 */
#ifndef DCPROXY_WORKERS_H
#define DCPROXY_WORKERS_H

#include <stddef.h>

/* A job, embedded in the caller's own record (no allocation per job).
 * run does the blocking part; done, when set, hands the result on (to an
 * event loop, say) with its thread already counted as free, so work that
 * hand-off sets off is queued for this thread rather than starting a new
 * one.  Neither runs under the pool's lock; after done the pool no longer
 * touches the job. */
struct work {
	void (*run)(struct work *work);
	void (*done)(struct work *work);   /* may be NULL */
	struct work *next;       /* the pool's */
};

struct workers;

/* At most max_threads at once (>= 1); an idle thread ends after idle_ms.
 * NULL when out of memory. */
struct workers *
workers_new(size_t max_threads, long idle_ms);

/* Queue work; it runs on a pool thread as soon as one is free.  -1 when no
 * thread exists and none can be started: the caller runs nothing. */
int
workers_submit(struct workers *w, struct work *work);

/* Threads alive now, busy or idle. */
size_t
workers_threads(struct workers *w);

/* Run what is queued, wait for every thread to end, free the pool. */
void
workers_free(struct workers *w);

#endif
