/* warmer: dcproxyd's cache warmer (WARMUP_*): subscriptions to cache keys
 * served successfully, each refreshed in the background before its entry
 * expires, dropped after the subscription TTL without a request or after
 * the threshold of consecutive failures.  Thread-safe: one mutex guards the
 * table and is never held while a refresh runs; one thread of its own.
 */
#ifndef DCPROXY_WARMER_H
#define DCPROXY_WARMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

enum warmer_result {
	WARMER_REFRESHED,  /* the entry was stored again */
	WARMER_FAILED,     /* the upstream call failed: counts to the threshold */
	WARMER_SKIPPED,    /* not tried now (the provider limit is full) */
};

/* Refresh the entry of operation with params (its key is derived from
 * them, as for a request) and store a success for lifetime_ms.  Called on
 * the warmer's thread with no lock held. */
typedef enum warmer_result (*warmer_refresh_fn)(void *user,
						 const char *operation,
						 const cJSON *params,
						 long lifetime_ms);

struct warmer_options {
	long interval_ms;          /* WARMUP_INTERVAL; 0: the entry's lifetime */
	long subscription_ttl_ms;  /* WARMUP_SUBSCRIPTION_TTL */
	long unhealthy_threshold;  /* WARMUP_UNHEALTHY_THRESHOLD; <= 0: never */
	long max_subscriptions;    /* CACHE_MAX_ITEMS: beyond, none is added */
	int64_t (*clock)(void);    /* monotonic ms; NULL: http_now_ms */
	warmer_refresh_fn refresh;
	void *user;
	bool disabled;             /* WARMUP_ENABLED off: no subscriptions */
};

struct warmer;

/* NULL when out of memory.  The thread starts with warmer_start. */
struct warmer *
warmer_new(const struct warmer_options *opts);

/* Start the background thread.  0, or -1. */
int
warmer_start(struct warmer *w);

/* Stop the thread (waiting for a refresh in progress) and free all. */
void
warmer_free(struct warmer *w);

/* A client was served key, the cache key of operation with params:
 * subscribe (lifetime_ms: the entry's lifetime; request_max_age: true when
 * the request set it) or renew the subscription's TTL.  -1 when full or
 * out of memory. */
int
warmer_touch(struct warmer *w, const char *key, const char *operation,
	     const cJSON *params, long lifetime_ms, bool request_max_age);

/* A reload's WARMUP_* settings and CACHE_MAX_ITEMS: interval, TTL,
 * threshold, max_subscriptions and disabled from opts (the rest stays).
 * Intervals of the subscriptions held are recomputed; disabling drops them
 * all, a smaller cap those beyond it.  One being refreshed meanwhile comes
 * back under the new settings. */
void
warmer_reconfigure(struct warmer *w, const struct warmer_options *opts);

/* Refresh every subscription due at now and drop the expired and the
 * unhealthy ones; the thread's body, public for tests.  Returns the
 * refreshes attempted.  *next_ms: when the next one is due (now + 1000
 * when none). */
int
warmer_run_due(struct warmer *w, int64_t now, int64_t *next_ms);

size_t
warmer_count(struct warmer *w);

/* Totals since start, for metrics. */
struct warmer_stats {
	size_t subscriptions;
	unsigned long refreshes, failures, skipped, dropped;
};

struct warmer_stats
warmer_get_stats(struct warmer *w);

#endif
