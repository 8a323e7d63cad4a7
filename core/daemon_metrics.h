/* daemon_metrics: the series dcproxyd exposes to Prometheus (requests,
 * errors, latency, upstream calls, cache, coalescing, rate limiting) over a
 * metrics_prom registry owned by the daemon.  Thread-safe; NULL disables.
 */
#ifndef DCPROXY_DAEMON_METRICS_H
#define DCPROXY_DAEMON_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct daemon_metrics;

/* app_name from METRICS_NAME (NULL or empty: no app_name label).  NULL
 * when out of memory. */
struct daemon_metrics *
daemon_metrics_new(const char *app_name, const char *version);

void
daemon_metrics_free(struct daemon_metrics *m);

/* A reload's METRICS_NAME: see prom_registry_set_app_name.  0 (also when
 * m is NULL), or -1 when out of memory. */
int
daemon_metrics_set_app_name(struct daemon_metrics *m, const char *app_name);

/* Every function below does nothing when m is NULL (metrics disabled).
 * Label values must stay bounded: operation is a registry name or
 * "unknown", kind an error_kind or a server refusal kind. */

/* One answered request: operation, how long it took, and the error kind
 * when it failed (NULL: it succeeded). */
void
daemon_metrics_request(struct daemon_metrics *m, const char *operation,
		       const char *environment, const char *error_kind,
		       double seconds);

/* One upstream call made for a request (retries included): the service,
 * the last reply's status (0: no reply), the attempts and the time. */
void
daemon_metrics_upstream(struct daemon_metrics *m, const char *service,
			long status, int attempts, double seconds);

/* result: "hit", "miss" or "bypass"; age_s is a hit's age. */
void
daemon_metrics_cache(struct daemon_metrics *m, const char *result,
		     double age_s);

void
daemon_metrics_coalesced(struct daemon_metrics *m);

void
daemon_metrics_rate_limited(struct daemon_metrics *m);

/* One upstream call held by the provider rate limit; outcome: "waited"
 * (then made), "stale" (an expired entry served) or "rejected" (429). */
void
daemon_metrics_provider_limited(struct daemon_metrics *m, const char *outcome);

/* The warmer's state, read at scrape time: subscriptions, and its running
 * totals of refreshes and failed refreshes. */
void
daemon_metrics_warmer(struct daemon_metrics *m, size_t subscriptions,
		      unsigned long refreshes, unsigned long failures);

/* Declare the Redis families (CACHE_TYPE=redis only).  -1 when out of
 * memory. */
int
daemon_metrics_enable_redis(struct daemon_metrics *m);

/* The Redis client's state, read at scrape time: connected, and its
 * running totals of failures, skipped calls and reconnections. */
void
daemon_metrics_redis(struct daemon_metrics *m, bool connected,
		     unsigned long failures, unsigned long skipped,
		     unsigned long reconnects);

/* The exposition text, with the cache size read at scrape time; malloc'd,
 * NULL when out of memory. */
char *
daemon_metrics_render(struct daemon_metrics *m, size_t cache_items);

#endif
