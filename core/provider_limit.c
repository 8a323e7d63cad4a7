/* provider_limit: sliding windows over admitted calls' times, a ring per
 * window in this process, or a sorted set per window in Redis when shared.
 * One mutex per limiter, released before any Redis command.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "provider_limit.h"
#include "redis.h"

/* Above this many calls per window a ring would cost too much memory: that
 * window is counted in fixed slices instead. */
#define PROVIDER_RING_MAX 100000

enum { W_S, W_M, W_H, N_WINDOWS };

static const long window_span_ms[N_WINDOWS] = { 1000, 60000, 3600000 };
static const char *const window_name[N_WINDOWS] = { "1s", "1m", "1h" };

struct window {
	long cap;
	int64_t *ring;       /* admitted times, oldest at head; NULL: fixed */
	long head, count;
	int64_t slice;       /* fixed mode: the slice count belongs to */
};

struct provider_limit {
	pthread_mutex_t lock;   /* guards cap, w and prefix: a reload sets them */
	struct provider_capacity cap;
	struct window w[N_WINDOWS];
	struct redis_client *redis;
	char *prefix;
	uint64_t instance;   /* random: names this process's calls in Redis */
	atomic_ulong calls;
};

static long
round_up(double v)
{
	double c = ceil(v - 1e-9);
	return c < 1 ? 1 : c > (double)LONG_MAX / 4 ? LONG_MAX / 4 : (long)c;
}

int
provider_capacity_derive(double s, double m, double h,
			 struct provider_capacity *cap)
{
	memset(cap, 0, sizeof *cap);
	if (!(s > 0) && !(m > 0) && !(h > 0))
		return -1;
	double pm = m > 0 ? m : s > 0 ? s * 60 : h / 60;
	cap->per_m = round_up(pm);
	cap->per_s = round_up(s > 0 ? s : pm / 60);
	cap->per_h = round_up(h > 0 ? h : pm * 60);
	return 0;
}

int
provider_limits_parse(const char *text, const char *file,
		      const char *provider, const char *tier,
		      struct provider_capacity *cap, char *err, size_t errlen)
{
	static const char *const names[N_WINDOWS] = {
		"rateLimit1s", "rateLimit1m", "rateLimit1h",
	};
	memset(cap, 0, sizeof *cap);
	cJSON *doc = cJSON_Parse(text);
	int rc = -1;
	if (!cJSON_IsObject(doc)) {
		snprintf(err, errlen, "%s: not a JSON object (malformed JSON?)",
			 file);
		goto out;
	}
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, provider);
	if (!cJSON_IsObject(p)) {
		snprintf(err, errlen, "%s: %s: %s (RATE_LIMIT_API_PROVIDER)",
			 file, provider, p == NULL ? "no such provider"
						   : "not an object");
		goto out;
	}
	const cJSON *http = cJSON_GetObjectItemCaseSensitive(p, "http");
	if (!cJSON_IsObject(http)) {
		snprintf(err, errlen, "%s: %s.http: %s", file, provider,
			 http == NULL ? "missing" : "not an object");
		goto out;
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(http, tier);
	if (!cJSON_IsObject(t)) {
		snprintf(err, errlen, "%s: %s.http.%s: %s (RATE_LIMIT_API_TIER)",
			 file, provider, tier,
			 t == NULL ? "no such tier" : "not an object");
		goto out;
	}
	double v[N_WINDOWS] = { 0 };
	for (int i = 0; i < N_WINDOWS; i++) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, names[i]);
		if (n == NULL)
			continue;
		if (!cJSON_IsNumber(n) || !(n->valuedouble > 0)) {
			snprintf(err, errlen,
				 "%s: %s.http.%s.%s: must be a number above 0",
				 file, provider, tier, names[i]);
			goto out;
		}
		v[i] = n->valuedouble;
	}
	if (provider_capacity_derive(v[W_S], v[W_M], v[W_H], cap) != 0) {
		snprintf(err, errlen,
			 "%s: %s.http.%s: none of rateLimit1s, rateLimit1m, rateLimit1h",
			 file, provider, tier);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(doc);
	return rc;
}

int
provider_limits_load(const char *path, const char *provider, const char *tier,
		     struct provider_capacity *cap, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s (DCPROXYD_LIMITS_FILE)", path,
			 strerror(errno));
		return -1;
	}
	char *text = NULL;
	size_t len = 0, cap_bytes = 0;
	for (;;) {
		if (len + 4096 + 1 > cap_bytes) {
			cap_bytes = (len + 4096 + 1) * 2;
			char *t = realloc(text, cap_bytes);
			if (t == NULL) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return -1;
			}
			text = t;
		}
		size_t n = fread(text + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	bool bad = ferror(f);
	fclose(f);
	text[len] = '\0';
	int rc = -1;
	if (bad)
		snprintf(err, errlen, "%s: read error", path);
	else
		rc = provider_limits_parse(text, path, provider, tier, cap, err,
					   errlen);
	free(text);
	return rc;
}

struct provider_limit *
provider_limit_new(const struct provider_capacity *cap,
		   struct redis_client *redis, const char *prefix)
{
	struct provider_limit *pl = calloc(1, sizeof *pl);
	if (pl == NULL)
		return NULL;
	pl->redis = redis;
	if (getrandom(&pl->instance, sizeof pl->instance, 0) !=
	    (ssize_t)sizeof pl->instance)
		pl->instance = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)pl;
	for (int i = 0; i < N_WINDOWS; i++)
		pl->w[i].slice = -1;
	if (pthread_mutex_init(&pl->lock, NULL) != 0) {
		free(pl);
		return NULL;
	}
	if (provider_limit_set(pl, cap, prefix) != 0) {
		provider_limit_free(pl);
		return NULL;
	}
	return pl;
}

/* w at a new cap, with ring (cap slots, or NULL: counted in fixed slices
 * or not at all); the newest calls that fit stay counted.  A fixed window
 * knows only how many its slice holds: they are kept as made at the
 * slice's start, so they leave when it ends, as they would have. */
static void
window_resize(struct window *w, long cap, int64_t *ring, long span)
{
	long keep = w->count < cap ? w->count : cap;
	int64_t newest = w->ring == NULL ? w->slice * span
			 : w->count > 0 ? w->ring[(w->head + w->count - 1) % w->cap]
					: 0;
	for (long i = 0; ring != NULL && i < keep; i++)
		ring[i] = w->ring != NULL
				  ? w->ring[(w->head + w->count - keep + i) % w->cap]
				  : newest;
	free(w->ring);
	*w = (struct window){
		.cap = cap, .ring = ring, .count = keep,
		.slice = ring == NULL && keep > 0 ? newest / span : -1,
	};
}

int
provider_limit_set(struct provider_limit *pl,
		   const struct provider_capacity *cap, const char *prefix)
{
	const long caps[N_WINDOWS] = { cap->per_s, cap->per_m, cap->per_h };
	int64_t *rings[N_WINDOWS] = { NULL };
	char *copy = strdup(prefix != NULL ? prefix : "ratelimit");
	bool ok = copy != NULL;
	for (int i = 0; ok && i < N_WINDOWS; i++)
		if (caps[i] > 0 && caps[i] <= PROVIDER_RING_MAX)
			ok = (rings[i] = calloc((size_t)caps[i],
						sizeof *rings[i])) != NULL;
	if (!ok) {
		for (int i = 0; i < N_WINDOWS; i++)
			free(rings[i]);
		free(copy);
		return -1;
	}
	pthread_mutex_lock(&pl->lock);
	pl->cap = *cap;
	for (int i = 0; i < N_WINDOWS; i++)
		window_resize(&pl->w[i], caps[i] > 0 ? caps[i] : 0, rings[i],
			      window_span_ms[i]);
	char *old = pl->prefix;
	pl->prefix = copy;
	pthread_mutex_unlock(&pl->lock);
	free(old);
	return 0;
}

void
provider_limit_free(struct provider_limit *pl)
{
	if (pl == NULL)
		return;
	pthread_mutex_destroy(&pl->lock);
	for (int i = 0; i < N_WINDOWS; i++)
		free(pl->w[i].ring);
	free(pl->prefix);
	free(pl);
}

struct provider_capacity
provider_limit_capacity(struct provider_limit *pl)
{
	pthread_mutex_lock(&pl->lock);
	struct provider_capacity cap = pl->cap;
	pthread_mutex_unlock(&pl->lock);
	return cap;
}

/* ms until window i has room at now, or 0 when it has room already. */
static long
window_wait(struct window *w, long span, int64_t now)
{
	if (w->cap == 0)
		return 0;
	if (w->ring == NULL) {
		int64_t slice = now / span;
		if (slice != w->slice) {
			w->slice = slice;
			w->count = 0;
		}
		return w->count < w->cap ? 0 : (long)((slice + 1) * span - now);
	}
	while (w->count > 0 && w->ring[w->head] <= now - span) {
		w->head = (w->head + 1) % w->cap;
		w->count--;
	}
	return w->count < w->cap ? 0 : (long)(w->ring[w->head] + span - now);
}

static void
window_take(struct window *w, int64_t now)
{
	if (w->cap == 0)
		return;
	if (w->ring != NULL)
		w->ring[(w->head + w->count) % w->cap] = now;
	w->count++;
}

/* ms until every window has room at now, or 0.  Under the lock. */
static long
locked_wait(struct provider_limit *pl, int64_t now)
{
	long wait = 0;
	for (int i = 0; i < N_WINDOWS; i++) {
		long w = window_wait(&pl->w[i], window_span_ms[i], now);
		if (w > wait)
			wait = w;
	}
	return wait;
}

static struct provider_verdict
local_admit(struct provider_limit *pl, int64_t now)
{
	struct provider_verdict v = { .allowed = true };
	pthread_mutex_lock(&pl->lock);
	v.retry_after_ms = locked_wait(pl, now);
	if (v.retry_after_ms > 0)
		v.allowed = false;
	else
		for (int i = 0; i < N_WINDOWS; i++)
			window_take(&pl->w[i], now);
	pthread_mutex_unlock(&pl->lock);
	if (!v.allowed && v.retry_after_ms < 1)
		v.retry_after_ms = 1;
	return v;
}

/* Shared sliding windows, like the local ones: a sorted set per window of
 * the admitted calls' times, kept by one script, so that checking every
 * window and recording the call is a single atomic step for all instances.
 * Times come from Redis's clock, which every instance shares, not from
 * theirs.  Returns the ms until the first full window has room, or 0 when
 * the call was admitted (and recorded in every window). */
static const char admit_script[] =
	"if redis.replicate_commands then redis.replicate_commands() end\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"for i = 1, #KEYS do\n"
	"  local span, cap = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])\n"
	"  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - span)\n"
	"  if redis.call('ZCARD', KEYS[i]) >= cap then\n"
	"    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')\n"
	"    return math.max(1, tonumber(oldest[2]) + span - now)\n"
	"  end\n"
	"end\n"
	"for i = 1, #KEYS do\n"
	"  redis.call('ZADD', KEYS[i], now, ARGV[1])\n"
	"  redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])\n"
	"end\n"
	"return 0\n";

/* 0 with v filled, or -1 when Redis is unavailable. */
static int
redis_admit(struct provider_limit *pl, struct provider_verdict *v)
{
	char keys[N_WINDOWS][256], args[1 + 2 * N_WINDOWS][32];
	const char *keyv[N_WINDOWS], *argv[1 + 2 * N_WINDOWS];
	int nkeys = 0;
	/* A member no other call of any instance uses. */
	snprintf(args[0], sizeof args[0], "%016" PRIx64 ":%lu", pl->instance,
		 atomic_fetch_add(&pl->calls, 1));
	argv[0] = args[0];
	pthread_mutex_lock(&pl->lock);
	for (int i = 0; i < N_WINDOWS; i++) {
		if (pl->w[i].cap == 0)
			continue;
		snprintf(keys[nkeys], sizeof keys[nkeys], "%s:%s", pl->prefix,
			 window_name[i]);
		snprintf(args[1 + 2 * nkeys], sizeof args[0], "%ld",
			 window_span_ms[i]);
		snprintf(args[2 + 2 * nkeys], sizeof args[0], "%ld",
			 pl->w[i].cap);
		keyv[nkeys] = keys[nkeys];
		argv[1 + 2 * nkeys] = args[1 + 2 * nkeys];
		argv[2 + 2 * nkeys] = args[2 + 2 * nkeys];
		nkeys++;
	}
	pthread_mutex_unlock(&pl->lock);
	long long wait = 0;
	/* No capacity known: nothing to count, no round trip. */
	if (nkeys > 0 &&
	    redis_eval_integer(pl->redis, admit_script, nkeys, keyv,
			       1 + 2 * nkeys, argv, &wait) != 0)
		return -1;
	*v = (struct provider_verdict){ .allowed = wait == 0,
					.retry_after_ms = (long)wait };
	return 0;
}

/* ms until every local window has room at now, or 0; takes nothing. */
static long
local_wait(struct provider_limit *pl, int64_t now)
{
	pthread_mutex_lock(&pl->lock);
	long wait = locked_wait(pl, now);
	pthread_mutex_unlock(&pl->lock);
	return wait;
}

/* A call Redis admitted, counted in this process's windows too.  A window
 * already full (two threads admitted at once, or Redis's clock and this
 * one differ a little) forgets its oldest call for this one. */
static void
local_record(struct provider_limit *pl, int64_t now)
{
	pthread_mutex_lock(&pl->lock);
	for (int i = 0; i < N_WINDOWS; i++) {
		struct window *w = &pl->w[i];
		(void)window_wait(w, window_span_ms[i], now);
		if (w->count < w->cap) {
			window_take(w, now);
		} else if (w->ring != NULL) {
			w->head = (w->head + 1) % w->cap;
			w->count--;
			window_take(w, now);
		}
	}
	pthread_mutex_unlock(&pl->lock);
}

/* With Redis, this process counts its own calls as well, whichever way
 * they were admitted: they are a part of every instance's, so a window
 * they fill is full in Redis too (no need to ask), and while Redis is
 * unavailable the local count starts from them, not from nothing. */
struct provider_verdict
provider_limit_admit(struct provider_limit *pl, int64_t now)
{
	struct provider_verdict v;
	if (pl->redis != NULL) {
		long wait = local_wait(pl, now);
		if (wait > 0)
			return (struct provider_verdict){ .retry_after_ms = wait };
		if (redis_admit(pl, &v) == 0) {
			if (v.allowed)
				local_record(pl, now);
			return v;
		}
	}
	/* No Redis, or Redis down: this instance's own count still keeps its
	 * share of the upstream within the capacity. */
	return local_admit(pl, now);
}
