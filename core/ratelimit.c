/* ratelimit: a sliding 5-second window over the admitted requests' arrival
 * times, kept in a ring of max slots.  One mutex per limiter.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "ratelimit.h"

struct ratelimit {
	pthread_mutex_t lock;
	long max;
	long slow_after;     /* requests in the window before delays start */
	long delay_ms;
	int64_t *ring;       /* arrival times, oldest at head */
	long head, count;
};

struct ratelimit *
ratelimit_new(long max, double factor, long delay_ms)
{
	struct ratelimit *rl = calloc(1, sizeof *rl);
	if (rl == NULL)
		return NULL;
	if (pthread_mutex_init(&rl->lock, NULL) != 0) {
		free(rl);
		return NULL;
	}
	if (ratelimit_set(rl, max, factor, delay_ms) != 0) {
		ratelimit_free(rl);
		return NULL;
	}
	return rl;
}

int
ratelimit_set(struct ratelimit *rl, long max, double factor, long delay_ms)
{
	max = max > 0 ? max : 0;
	int64_t *ring = calloc((size_t)(max > 0 ? max : 1), sizeof *ring);
	if (ring == NULL)
		return -1;
	pthread_mutex_lock(&rl->lock);
	/* The newest arrivals that fit stay counted: a reload is no reset. */
	long keep = rl->count < max ? rl->count : max;
	for (long i = 0; i < keep; i++)
		ring[i] = rl->ring[(rl->head + rl->count - keep + i) % rl->max];
	free(rl->ring);
	rl->ring = ring;
	rl->head = 0;
	rl->count = keep;
	rl->max = max;
	/* express-slow-down's delayAfter: this many pass, the next ones wait. */
	rl->slow_after = (long)ceil(factor * (double)max);
	rl->delay_ms = delay_ms;
	pthread_mutex_unlock(&rl->lock);
	return 0;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->ring);
	free(rl);
}

struct ratelimit_verdict
ratelimit_admit(struct ratelimit *rl, int64_t now)
{
	struct ratelimit_verdict v = { .allowed = true };
	pthread_mutex_lock(&rl->lock);
	if (rl->max == 0) {
		pthread_mutex_unlock(&rl->lock);
		return v;
	}
	while (rl->count > 0 &&
	       rl->ring[rl->head] <= now - RATELIMIT_WINDOW_MS) {
		rl->head = (rl->head + 1) % rl->max;
		rl->count--;
	}
	if (rl->count >= rl->max) {
		int64_t frees = rl->ring[rl->head] + RATELIMIT_WINDOW_MS - now;
		v.allowed = false;
		v.retry_after_s = (long)((frees + 999) / 1000);
		if (v.retry_after_s < 1)
			v.retry_after_s = 1;
		v.in_window = rl->count;
	} else {
		if (rl->count >= rl->slow_after)
			v.delay_ms = rl->delay_ms;
		rl->ring[(rl->head + rl->count) % rl->max] = now;
		rl->count++;
		v.in_window = rl->count;
	}
	pthread_mutex_unlock(&rl->lock);
	return v;
}
