/* ratelimit: dcproxyd's server rate limit: at most max requests in any
 * 5-second window (then 429 with Retry-After), each request past factor x
 * max in the window delayed.  Thread-safe: one mutex per limiter, no
 * global state.
 */
#ifndef DCPROXY_RATELIMIT_H
#define DCPROXY_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_WINDOW_MS 5000

struct ratelimit;

/* max 0 disables the limit (every request passes undelayed).  NULL when
 * out of memory. */
struct ratelimit *
ratelimit_new(long max, double slow_down_factor, long slow_down_delay_ms);

/* New limits (a reload); the arrivals already counted stay counted, as
 * many as the new max holds.  0, or -1 when out of memory (unchanged). */
int
ratelimit_set(struct ratelimit *rl, long max, double slow_down_factor,
	      long slow_down_delay_ms);

void
ratelimit_free(struct ratelimit *rl);

struct ratelimit_verdict {
	bool allowed;
	long delay_ms;        /* when allowed: sleep this long first */
	long retry_after_s;   /* when refused: seconds until a slot frees */
	long in_window;       /* requests admitted in the window, this one included */
};

/* Count one request arriving at now_ms (a monotonic clock).  Refused
 * requests are not counted, so Retry-After is when a slot really frees. */
struct ratelimit_verdict
ratelimit_admit(struct ratelimit *rl, int64_t now_ms);

#endif
