/* workers: the queue, and the threads that grow and shrink with it. */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "http.h"
#include "workers.h"

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t queued;          /* work arrived, or stopping */
	pthread_cond_t gone;            /* a thread ended */
	struct work *head, *tail;
	size_t threads, idle, max_threads;
	size_t finishing;               /* in a job's done: free in a moment */
	long idle_ms;
	bool stopping;
};

static void *
worker_main(void *arg)
{
	struct workers *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->head == NULL && !w->stopping) {
			struct timespec until =
				http_clock_after(CLOCK_MONOTONIC, w->idle_ms);
			w->idle++;
			int rc = pthread_cond_timedwait(&w->queued, &w->lock,
							&until);
			w->idle--;
			if (rc == ETIMEDOUT && w->head == NULL)
				goto out;
		}
		struct work *job = w->head;
		if (job == NULL)
			break; /* stopping, and nothing left to run */
		w->head = job->next;
		if (w->head == NULL)
			w->tail = NULL;
		pthread_mutex_unlock(&w->lock);
		void (*done)(struct work *) = job->done;
		job->run(job);
		pthread_mutex_lock(&w->lock);
		if (done != NULL) {
			w->finishing++;
			pthread_mutex_unlock(&w->lock);
			done(job);
			pthread_mutex_lock(&w->lock);
			w->finishing--;
		}
	}
out:
	w->threads--;
	/* The last idle thread to time out: once per quiet spell. */
	bool quiet = w->idle == 0 && !w->stopping;
	pthread_cond_broadcast(&w->gone);
	pthread_mutex_unlock(&w->lock);
#ifdef __GLIBC__
	/* A burst is over: give back the free pages its requests left
	 * between long-lived cache entries, which glibc keeps otherwise. */
	if (quiet)
		malloc_trim(0);
#endif
	return NULL;
}

struct workers *
workers_new(size_t max_threads, long idle_ms)
{
	struct workers *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	bool ok = pthread_mutex_init(&w->lock, NULL) == 0;
	if (ok && pthread_cond_init(&w->queued, &attr) != 0) {
		pthread_mutex_destroy(&w->lock);
		ok = false;
	}
	if (ok && pthread_cond_init(&w->gone, NULL) != 0) {
		pthread_cond_destroy(&w->queued);
		pthread_mutex_destroy(&w->lock);
		ok = false;
	}
	pthread_condattr_destroy(&attr);
	if (!ok) {
		free(w);
		return NULL;
	}
	w->max_threads = max_threads > 0 ? max_threads : 1;
	w->idle_ms = idle_ms > 0 ? idle_ms : 1;
	return w;
}

/* Detached: nobody joins a thread that ends itself when idle; workers_free
 * waits on the count instead.  Signals stay with the caller's mask. */
static int
start_thread(struct workers *w)
{
	pthread_attr_t attr;
	pthread_t tid;
	if (pthread_attr_init(&attr) != 0)
		return -1;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&tid, &attr, worker_main, w);
	pthread_attr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

int
workers_submit(struct workers *w, struct work *work)
{
	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		pthread_mutex_unlock(&w->lock);
		return -1;
	}
	/* Threads idle or handing a job back are free; jobs already waiting
	 * count against them.  Without the second kind, a reply handed back
	 * whose client asks again at once starts a thread per request. */
	size_t free_threads = w->idle + w->finishing;
	size_t waiting = 0;
	for (struct work *j = w->head; j != NULL && waiting <= free_threads;
	     j = j->next)
		waiting++;
	if (free_threads <= waiting && w->threads < w->max_threads) {
		if (start_thread(w) == 0)
			w->threads++;
		else if (w->threads == 0) {
			pthread_mutex_unlock(&w->lock);
			return -1;
		}
	}
	work->next = NULL;
	if (w->tail != NULL)
		w->tail->next = work;
	else
		w->head = work;
	w->tail = work;
	pthread_cond_signal(&w->queued);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

size_t
workers_threads(struct workers *w)
{
	pthread_mutex_lock(&w->lock);
	size_t n = w->threads;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void
workers_free(struct workers *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->queued);
	while (w->threads > 0)
		pthread_cond_wait(&w->gone, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&w->gone);
	pthread_cond_destroy(&w->queued);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
