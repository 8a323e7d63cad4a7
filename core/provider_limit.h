/* provider_limit: dcproxyd's provider rate limit (RATE_LIMIT_*): the
 * capacity per second, minute and hour, from RATE_LIMIT_CAPACITY or a tier
 * of limits.json, and the admission of upstream calls against all three
 * windows, counted locally or in Redis across instances.  Thread-safe: one
 * mutex per limiter, never held across a Redis command; no global state.
 */
#ifndef DCPROXY_PROVIDER_LIMIT_H
#define DCPROXY_PROVIDER_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct redis_client;

/* Calls allowed per window; 0 everywhere: no capacity known. */
struct provider_capacity {
	long per_s, per_m, per_h;
};

/* Fill the windows not given (<= 0) from those given: 1m = 60 x 1s,
 * 1h = 60 x 1m, and the reverse by division, rounded up (a window of
 * less than one call would refuse everything).  -1 when none is given. */
int
provider_capacity_derive(double per_s, double per_m, double per_h,
			 struct provider_capacity *cap);

/* Look provider.http.tier up in a limits.json text ({"PROVIDER": {"http":
 * {"TIER": {"rateLimit1s", "rateLimit1m", "rateLimit1h"}}}}), naming
 * file in every error ("FILE: KEY: reason").  0, or -1 with err. */
int
provider_limits_parse(const char *text, const char *file,
		      const char *provider, const char *tier,
		      struct provider_capacity *cap, char *err, size_t errlen);

/* provider_limits_parse on the file at path. */
int
provider_limits_load(const char *path, const char *provider, const char *tier,
		     struct provider_capacity *cap, char *err, size_t errlen);

struct provider_limit;

/* redis NULL: counted in this process; else in Redis, a sorted set of the
 * admitted calls' times per window under "PREFIX:1s|1m|1h" (one script
 * checks and records every window at once, on Redis's clock), with the
 * local count (of this process's calls, however admitted) as the fallback
 * while Redis is unavailable and as a floor while it is not.  A capacity of
 * 0 everywhere (none known, or RATE_LIMIT_ENABLED off) admits every call
 * at once, without asking Redis.  NULL when out of memory. */
struct provider_limit *
provider_limit_new(const struct provider_capacity *cap,
		   struct redis_client *redis, const char *prefix);

/* A reload's capacity and prefix.  The calls already admitted stay
 * counted, as many as each new window holds: a reload is no reset.  0, or
 * -1 when out of memory (unchanged). */
int
provider_limit_set(struct provider_limit *pl,
		   const struct provider_capacity *cap, const char *prefix);

void
provider_limit_free(struct provider_limit *pl);

struct provider_capacity
provider_limit_capacity(struct provider_limit *pl);

struct provider_verdict {
	bool allowed;
	long retry_after_ms;  /* when refused: until the fullest window frees */
};

/* Take one upstream call at now_ms (monotonic) if every window has room;
 * a refused call takes nothing. */
struct provider_verdict
provider_limit_admit(struct provider_limit *pl, int64_t now_ms);

#endif
