/* cache: dcproxyd's local result cache (an LRU with per-entry lifetimes),
 * its cache keys, request coalescing (concurrent identical misses make one
 * call), and an optional shared second level (Redis) with cross-instance
 * coalescing.  Every function is thread-safe; one mutex guards the table.
 */
#ifndef DCPROXY_CACHE_H
#define DCPROXY_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "engine.h"

/* A second level shared by instances (Redis, in dcproxyd) behind the LRU,
 * and the store of cross-instance in-flight markers.  Every call may fail
 * (-1: unavailable) and the cache then carries on without it; none is made
 * with the cache's lock held.  Must be thread-safe. */
struct cache_remote {
	void *user;
	/* 1 with a malloc'd *value, 0 when absent, -1 unavailable */
	int (*get)(void *user, const char *key, char **value);
	/* SET key value PX ttl_ms [NX]: 1 set, 0 NX found it, -1 unavailable */
	int (*set)(void *user, const char *key, const char *value, long ttl_ms,
		   bool nx);
	int (*del)(void *user, const char *key);
	/* 1 exists, 0 not, -1 unavailable */
	int (*exists)(void *user, const char *key);
};

/* Cross-instance coalescing (REQUEST_COALESCING_*), through the remote. */
struct cache_coalescing {
	bool enabled;
	long interval_ms;        /* first wait */
	long interval_max_ms;    /* cap of the exponential part */
	double coefficient;      /* growth per retry */
	long entropy_max_ms;     /* random 0..this added to each wait */
	long max_retries;        /* waits before calling upstream anyway */
	long marker_ttl_ms;      /* API_TIMEOUT: a crashed leader's marker ends */
	long result_ttl_ms;      /* how long waiters find an uncached result */
};

/* Wait before retry n (1-based): interval x coefficient^(n-1), capped at
 * interval_max, without the entropy. */
long
cache_backoff_ms(const struct cache_coalescing *co, long n);

struct cache_options {
	long max_items;          /* CACHE_MAX_ITEMS, >= 1 */
	long max_age_ms;         /* CACHE_MAX_AGE: lifetime when none asked */
	long min_age_ms;         /* CACHE_MIN_AGE: floor of a requested maxAge */
	bool update_age_on_get;  /* CACHE_UPDATE_AGE_ON_GET */
	bool keep_stale;         /* keep expired entries for cache_get_stale
				  * (the provider rate limit serves them) */
	const char *key_group;   /* CACHE_KEY_GROUP, prefix of every key */
	const char *ignored_props; /* CACHE_KEY_IGNORED_PROPS, comma list or NULL */
	int64_t (*clock)(void);  /* monotonic ms; NULL: http_now_ms (tests fake it) */
	const struct cache_remote *remote; /* NULL: local only */
	struct cache_coalescing coalescing;
};

struct cache;

/* NULL when out of memory.  Copies what it needs from opts. */
struct cache *
cache_new(const struct cache_options *opts);

void
cache_free(struct cache *cache);

/* A reload's settings: max_items (shrinking evicts the least recently
 * used entries down to it), the lifetimes, update_age_on_get, keep_stale,
 * key_group and ignored_props from opts; clock, remote and coalescing stay
 * as cache_new set them.  Entries keep the lifetime they were stored
 * with, but a lower CACHE_MAX_AGE makes the older ones miss at once, as a
 * request's lower maxAge does.  A new group or ignored list gives new keys: entries stored under
 * the old ones are no longer found and go as the LRU pushes them out.
 * 0, or -1 when out of memory (nothing changed). */
int
cache_reconfigure(struct cache *cache, const struct cache_options *opts);

/* The lifetime a request asks for through params.maxAge (a number or a
 * string of digits): absent, 0 or unreadable -> CACHE_MAX_AGE (-1 when that
 * is < 0); < 0 -> -1,
 * meaning bypass the cache; else at least CACHE_MIN_AGE. */
long
cache_request_max_age(struct cache *cache, const cJSON *params);

/* GROUP ":" hex SHA-1 of {"operation":...,"params":...} serialised with
 * object keys sorted at every depth and the ignored keys dropped at every
 * depth.  malloc'd; NULL when out of memory or SHA-1 is unavailable. */
char *
cache_key(struct cache *cache, const char *operation, const cJSON *params);

/* Entries are kept as serialised JSON text.  What the getters return is a
 * cJSON Raw item holding that text (the caller deletes it): it prints as
 * is, so a hit is answered without parsing or printing a tree; parse
 * valuestring where the members are needed. */

/* The entry, if one exists younger than both its own lifetime and
 * max_age_ms; *age_ms says how old.  An expired entry is dropped. */
cJSON *
cache_get(struct cache *cache, const char *key, long max_age_ms,
	  long *age_ms);

/* The entry whatever its age (with keep_stale, expired entries
 * stay until evicted), for answering when the upstream may not be called;
 * NULL when there is none. */
cJSON *
cache_get_stale(struct cache *cache, const char *key, long *age_ms);

/* Store value (a tree, or a Raw item of JSON text) under key for
 * max_age_ms, evicting the least recently used entry when full, and
 * publish it to the remote, if any.  Returns 0, or -1 when out of memory. */
int
cache_put(struct cache *cache, const char *key, const cJSON *value,
	  long max_age_ms);

size_t
cache_count(struct cache *cache);

/* Produces the outcome on a miss (an engine_call, in dcproxyd). */
typedef void (*cache_fetch_fn)(void *user, struct call_outcome *out);

enum cache_status {
	CACHE_HIT,        /* served from the cache */
	CACHE_MISS,       /* this request ran fetch */
	CACHE_COALESCED,  /* another request's fetch, waited for */
};

/* Serve key from the cache, else run fetch once for all concurrent
 * callers of the same key: the others wait and get a copy of the same
 * outcome, failure included.  A successful outcome is stored for
 * max_age_ms when store is true; a failure never is.
 *
 * With a remote, the one caller that would fetch first looks there (a hit
 * is kept locally with its age), then, with coalescing enabled, claims
 * "inflight:KEY"; if another instance holds it, waits with back-off until
 * the result appears (KEY, or "result:KEY" when store is false) or the
 * marker goes, at most max_retries times.  After fetch it publishes a
 * success and always deletes its marker, failure included.  out is filled as
 * engine_call fills it (the caller owns out->result; a hit's is a Raw
 * item, see above); *age_ms is the hit's age, else 0. */
enum cache_status
cache_fetch(struct cache *cache, const char *key, long max_age_ms, bool store,
	    cache_fetch_fn fetch, void *user, struct call_outcome *out,
	    long *age_ms);

const char *
cache_status_name(enum cache_status status);

#endif
