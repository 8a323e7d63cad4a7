/* daemon_metrics: dcproxyd's Prometheus series.  The families are declared
 * once by daemon_metrics_new; samples may come from any thread.
 */
#include "config.h"

#include <stdlib.h>
#include <sys/time.h>

#include "daemon_metrics.h"
#include "metrics_prom.h"

struct daemon_metrics {
	struct prom_registry *reg;
	struct prom_family *requests, *errors, *duration;
	struct prom_family *upstream, *upstream_retries, *upstream_duration;
	struct prom_family *cache, *cache_items, *cache_hit_age;
	struct prom_family *coalesced, *rate_limited, *provider_limited;
	struct prom_family *warmer_subs, *warmer_refreshes, *warmer_failures;
	struct prom_family *redis_up, *redis_failures, *redis_skipped;
	struct prom_family *redis_reconnects; /* NULL without Redis */
};

/* Seconds: from a cache hit (well under 5 ms) to API_TIMEOUT. */
static const double request_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

/* Seconds: CACHE_MIN_AGE and CACHE_MAX_AGE (30 s, 90 s) fall on bounds. */
static const double age_buckets[] = {
	1, 5, 10, 30, 60, 90, 300, 900, 3600,
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct daemon_metrics *
daemon_metrics_new(const char *app_name, const char *version)
{
	static const char *const op_env[] = { "operation", "environment", NULL };
	static const char *const op_env_kind[] = { "operation", "environment",
						   "kind", NULL };
	static const char *const svc_status[] = { "service", "status_class",
						  NULL };
	static const char *const svc[] = { "service", NULL };
	static const char *const result[] = { "result", NULL };
	static const char *const ver[] = { "version", NULL };

	struct daemon_metrics *m = calloc(1, sizeof *m);
	if (m == NULL || (m->reg = prom_registry_new(app_name)) == NULL) {
		free(m);
		return NULL;
	}
	struct prom_registry *r = m->reg;
	struct prom_family *info = prom_family_add(r, PROM_GAUGE,
		"dcproxy_build_info", "dcproxyd build; the value is always 1",
		ver, NULL, 0);
	struct prom_family *start = prom_family_add(r, PROM_GAUGE,
		"process_start_time_seconds",
		"start time of the process since the epoch, in seconds", NULL,
		NULL, 0);
	m->requests = prom_family_add(r, PROM_COUNTER, "dcproxy_requests_total",
		"operation requests answered (ProxyRequests)", op_env, NULL, 0);
	m->errors = prom_family_add(r, PROM_COUNTER, "dcproxy_errors_total",
		"operation requests answered with an error, by error kind (ProxyErrors)",
		op_env_kind, NULL, 0);
	m->duration = prom_family_add(r, PROM_HISTOGRAM,
		"dcproxy_request_duration_seconds",
		"time to answer an operation request (ProxyLatency)", op_env,
		request_buckets, N(request_buckets));
	m->upstream = prom_family_add(r, PROM_COUNTER,
		"dcproxy_upstream_requests_total",
		"calls to upstream services, by the class of the last reply's status (none: no reply)",
		svc_status, NULL, 0);
	m->upstream_retries = prom_family_add(r, PROM_COUNTER,
		"dcproxy_upstream_retries_total",
		"attempts beyond the first made by upstream calls", svc, NULL, 0);
	m->upstream_duration = prom_family_add(r, PROM_HISTOGRAM,
		"dcproxy_upstream_duration_seconds",
		"time of an upstream call, retries included", svc,
		request_buckets, N(request_buckets));
	m->cache = prom_family_add(r, PROM_COUNTER, "dcproxy_cache_requests_total",
		"operation requests by cache result", result, NULL, 0);
	m->cache_items = prom_family_add(r, PROM_GAUGE, "dcproxy_cache_items",
		"entries in the local cache", NULL, NULL, 0);
	m->cache_hit_age = prom_family_add(r, PROM_HISTOGRAM,
		"dcproxy_cache_hit_age_seconds",
		"age of the entries served from the cache (staleness)", NULL,
		age_buckets, N(age_buckets));
	m->coalesced = prom_family_add(r, PROM_COUNTER,
		"dcproxy_coalesced_requests_total",
		"requests answered by an identical request's upstream call",
		NULL, NULL, 0);
	m->rate_limited = prom_family_add(r, PROM_COUNTER,
		"dcproxy_rate_limited_requests_total",
		"requests refused with 429 by the server rate limit", NULL,
		NULL, 0);
	m->warmer_subs = prom_family_add(r, PROM_GAUGE,
		"dcproxy_warmer_subscriptions",
		"cache keys the warmer keeps refreshing", NULL, NULL, 0);
	m->warmer_refreshes = prom_family_add(r, PROM_COUNTER,
		"dcproxy_warmer_refreshes_total",
		"background refreshes stored in the cache", NULL, NULL, 0);
	m->warmer_failures = prom_family_add(r, PROM_COUNTER,
		"dcproxy_warmer_failures_total",
		"background refreshes whose upstream call failed", NULL, NULL, 0);
	static const char *const outcome[] = { "outcome", NULL };
	m->provider_limited = prom_family_add(r, PROM_COUNTER,
		"dcproxy_provider_limited_requests_total",
		"upstream calls held by the provider rate limit, by outcome "
		"(waited: then called; stale: answered from an expired entry; "
		"rejected: 429)", outcome, NULL, 0);
	if (info == NULL || start == NULL || m->requests == NULL ||
	    m->errors == NULL || m->duration == NULL || m->upstream == NULL ||
	    m->upstream_retries == NULL || m->upstream_duration == NULL ||
	    m->cache == NULL || m->cache_items == NULL ||
	    m->cache_hit_age == NULL || m->coalesced == NULL ||
	    m->rate_limited == NULL || m->provider_limited == NULL ||
	    m->warmer_subs == NULL || m->warmer_refreshes == NULL ||
	    m->warmer_failures == NULL) {
		daemon_metrics_free(m);
		return NULL;
	}
	prom_set(info, (const char *const[]){ version }, 1);
	struct timeval tv;
	gettimeofday(&tv, NULL);
	prom_set(start, NULL, (double)tv.tv_sec + tv.tv_usec / 1e6);
	/* Each result reads 0 before its first request, so rate() works
	 * from the first scrape. */
	prom_add(m->cache, (const char *const[]){ "hit" }, 0);
	prom_add(m->cache, (const char *const[]){ "miss" }, 0);
	prom_add(m->cache, (const char *const[]){ "bypass" }, 0);
	daemon_metrics_warmer(m, 0, 0, 0);
	prom_add(m->provider_limited, (const char *const[]){ "waited" }, 0);
	prom_add(m->provider_limited, (const char *const[]){ "stale" }, 0);
	prom_add(m->provider_limited, (const char *const[]){ "rejected" }, 0);
	return m;
}

void
daemon_metrics_free(struct daemon_metrics *m)
{
	if (m == NULL)
		return;
	prom_registry_free(m->reg);
	free(m);
}

int
daemon_metrics_set_app_name(struct daemon_metrics *m, const char *app_name)
{
	return m != NULL ? prom_registry_set_app_name(m->reg, app_name) : 0;
}

void
daemon_metrics_request(struct daemon_metrics *m, const char *operation,
		       const char *environment, const char *error_kind,
		       double seconds)
{
	if (m == NULL)
		return;
	const char *const labels[] = { operation, environment, error_kind };
	prom_add(m->requests, labels, 1);
	prom_observe(m->duration, labels, seconds);
	if (error_kind != NULL)
		prom_add(m->errors, labels, 1);
}

void
daemon_metrics_upstream(struct daemon_metrics *m, const char *service,
			long status, int attempts, double seconds)
{
	static const char *const classes[] = { "1xx", "2xx", "3xx", "4xx",
					       "5xx" };
	if (m == NULL || attempts <= 0)
		return;
	const char *class = status >= 100 && status < 600 ? classes[status / 100 - 1]
							  : "none";
	prom_add(m->upstream, (const char *const[]){ service, class }, 1);
	if (attempts > 1)
		prom_add(m->upstream_retries, (const char *const[]){ service },
			 attempts - 1);
	prom_observe(m->upstream_duration, (const char *const[]){ service },
		     seconds);
}

void
daemon_metrics_cache(struct daemon_metrics *m, const char *result,
		     double age_s)
{
	if (m == NULL)
		return;
	prom_add(m->cache, (const char *const[]){ result }, 1);
	if (result[0] == 'h')
		prom_observe(m->cache_hit_age, NULL, age_s);
}

void
daemon_metrics_coalesced(struct daemon_metrics *m)
{
	if (m != NULL)
		prom_add(m->coalesced, NULL, 1);
}

void
daemon_metrics_rate_limited(struct daemon_metrics *m)
{
	if (m != NULL)
		prom_add(m->rate_limited, NULL, 1);
}

void
daemon_metrics_provider_limited(struct daemon_metrics *m, const char *outcome)
{
	if (m != NULL)
		prom_add(m->provider_limited, (const char *const[]){ outcome }, 1);
}

int
daemon_metrics_enable_redis(struct daemon_metrics *m)
{
	struct prom_registry *r = m->reg;
	m->redis_up = prom_family_add(r, PROM_GAUGE, "dcproxy_redis_up",
		"1 when the last Redis command or connection succeeded", NULL,
		NULL, 0);
	m->redis_failures = prom_family_add(r, PROM_COUNTER,
		"dcproxy_redis_failures_total",
		"Redis connections or commands that failed", NULL, NULL, 0);
	m->redis_skipped = prom_family_add(r, PROM_COUNTER,
		"dcproxy_redis_skipped_total",
		"Redis calls not made: down (cooling down) or queue full", NULL,
		NULL, 0);
	m->redis_reconnects = prom_family_add(r, PROM_COUNTER,
		"dcproxy_redis_reconnects_total",
		"Redis down-to-up transitions", NULL, NULL, 0);
	return m->redis_up && m->redis_failures && m->redis_skipped &&
			       m->redis_reconnects
		       ? 0
		       : -1;
}

void
daemon_metrics_redis(struct daemon_metrics *m, bool connected,
		     unsigned long failures, unsigned long skipped,
		     unsigned long reconnects)
{
	if (m == NULL)
		return;
	/* The client keeps the totals; the counters mirror them. */
	prom_set(m->redis_up, NULL, connected ? 1 : 0);
	prom_set(m->redis_failures, NULL, (double)failures);
	prom_set(m->redis_skipped, NULL, (double)skipped);
	prom_set(m->redis_reconnects, NULL, (double)reconnects);
}

void
daemon_metrics_warmer(struct daemon_metrics *m, size_t subscriptions,
		      unsigned long refreshes, unsigned long failures)
{
	if (m == NULL)
		return;
	/* The warmer keeps the totals; the counters mirror them. */
	prom_set(m->warmer_subs, NULL, (double)subscriptions);
	prom_set(m->warmer_refreshes, NULL, (double)refreshes);
	prom_set(m->warmer_failures, NULL, (double)failures);
}

char *
daemon_metrics_render(struct daemon_metrics *m, size_t cache_items)
{
	prom_set(m->cache_items, NULL, (double)cache_items);
	return prom_format(m->reg);
}
