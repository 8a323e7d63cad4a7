/* warmer: a hash table of subscriptions (chained, sized for the cap) and
 * one thread that sleeps until the earliest is due.  Refreshes run with the
 * mutex released; a subscription being refreshed is marked busy so a
 * concurrent drop or touch cannot free what the thread uses.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "warmer.h"

/* One allocation: the two strings follow the struct.  A subscription lives
 * as long as its cache entry, so it is kept small: params as text, parsed
 * for each refresh, and the key not at all, only its 64-bit hash (the
 * refresh derives the key from operation and params again).  Two keys
 * with one hash would share a subscription: one of them would go unwarmed,
 * served by the ordinary miss path, never answered with the other's data. */
struct sub {
	const char *operation;
	const char *params;      /* serialised JSON object */
	long lifetime_ms;        /* the entry's: what a refresh stores for */
	long interval_ms;
	int64_t due_ms;
	int64_t requested_ms;    /* the last client request for it */
	long failures;           /* consecutive */
	bool asked;              /* the request set maxAge: its interval */
	uint64_t hash;
	struct sub *chain;
	char text[];
};

struct warmer {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool started, stopping;
	bool disabled;           /* WARMUP_ENABLED off: no subscriptions */
	struct warmer_options o;
	struct sub **buckets;
	size_t n_buckets, count;
	struct warmer_stats stats;
};

static uint64_t
sub_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return h;
}

static void
sub_free(struct sub *s)
{
	free(s);
}

static struct sub *
sub_new(const char *operation, const cJSON *params)
{
	char *json = params != NULL ? cJSON_PrintUnformatted(params)
				    : strdup("{}");
	if (json == NULL)
		return NULL;
	size_t no = strlen(operation) + 1, np = strlen(json) + 1;
	struct sub *n = calloc(1, sizeof *n + no + np);
	if (n != NULL) {
		n->operation = memcpy(n->text, operation, no);
		n->params = memcpy(n->text + no, json, np);
	}
	free(json);
	return n;
}

/* About one bucket per subscription, capped as the cache's are; chains
 * absorb the rest. */
static size_t
buckets_for(long max_subscriptions)
{
	size_t n = 64;
	while (n < (size_t)max_subscriptions && n < (1u << 20))
		n <<= 1;
	return n;
}

struct warmer *
warmer_new(const struct warmer_options *opts)
{
	struct warmer *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	w->o = *opts;
	w->disabled = opts->disabled;
	if (w->o.clock == NULL)
		w->o.clock = http_now_ms;
	w->n_buckets = buckets_for(opts->max_subscriptions);
	w->buckets = calloc(w->n_buckets, sizeof *w->buckets);
	if (w->buckets == NULL || pthread_mutex_init(&w->lock, NULL) != 0) {
		free(w->buckets);
		free(w);
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	return w;
}

static void *
warmer_thread(void *arg)
{
	struct warmer *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		pthread_mutex_unlock(&w->lock);
		int64_t now = w->o.clock(), next;
		(void)warmer_run_due(w, now, &next);
		pthread_mutex_lock(&w->lock);
		if (w->stopping)
			break;
		/* Sleep until the next is due, at most a second: a new
		 * subscription may be due sooner than any known. */
		int64_t wait = next - w->o.clock();
		if (wait > 1000)
			wait = 1000;
		if (wait <= 0)
			continue;
		struct timespec ts = http_clock_after(CLOCK_MONOTONIC, wait);
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int
warmer_start(struct warmer *w)
{
	if (pthread_create(&w->thread, NULL, warmer_thread, w) != 0)
		return -1;
	w->started = true;
	return 0;
}

void
warmer_free(struct warmer *w)
{
	if (w == NULL)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stopping = true;
		pthread_cond_broadcast(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	for (size_t i = 0; i < w->n_buckets; i++)
		for (struct sub *s = w->buckets[i], *next; s != NULL; s = next) {
			next = s->chain;
			sub_free(s);
		}
	free(w->buckets);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* How often to refresh: the request's own maxAge, else WARMUP_INTERVAL,
 * else the entry's lifetime.  A lifetime is refreshed at 80% of it, so the
 * new entry lands before the old one expires. */
static long
sub_interval(const struct warmer *w, long lifetime, bool request_max_age)
{
	long iv;
	if (!request_max_age && w->o.interval_ms > 0)
		return w->o.interval_ms;
	iv = lifetime - lifetime / 5;
	return iv < 50 ? 50 : iv;
}

int
warmer_touch(struct warmer *w, const char *key, const char *operation,
	     const cJSON *params, long lifetime_ms, bool request_max_age)
{
	uint64_t h = sub_hash(key);
	int64_t now = w->o.clock();
	pthread_mutex_lock(&w->lock);
	struct sub **b = &w->buckets[h & (w->n_buckets - 1)];
	for (struct sub *s = *b; s != NULL; s = s->chain)
		if (s->hash == h) {
			s->requested_ms = now;
			pthread_mutex_unlock(&w->lock);
			return 0;
		}
	if (w->disabled || w->count >= (size_t)w->o.max_subscriptions) {
		pthread_mutex_unlock(&w->lock);
		return -1;
	}
	pthread_mutex_unlock(&w->lock);

	/* Copied outside the lock: params can be large. */
	struct sub *n = sub_new(operation, params);
	if (n == NULL)
		return -1;
	n->hash = h;
	n->lifetime_ms = lifetime_ms;
	n->asked = request_max_age;
	n->requested_ms = now;

	pthread_mutex_lock(&w->lock);
	/* Under the lock: a reload may change the interval, and grow the
	 * table. */
	b = &w->buckets[h & (w->n_buckets - 1)];
	n->interval_ms = sub_interval(w, lifetime_ms, request_max_age);
	n->due_ms = now + n->interval_ms;
	if (w->disabled) {
		pthread_mutex_unlock(&w->lock);
		sub_free(n);
		return -1;
	}
	for (struct sub *s = *b; s != NULL; s = s->chain)
		if (s->hash == h) {
			/* Another request subscribed it meanwhile. */
			s->requested_ms = now;
			pthread_mutex_unlock(&w->lock);
			sub_free(n);
			return 0;
		}
	if (w->count >= (size_t)w->o.max_subscriptions) {
		pthread_mutex_unlock(&w->lock);
		sub_free(n);
		return -1;
	}
	n->chain = *b;
	*b = n;
	w->count++;
	w->stats.subscriptions = w->count;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* Take the first due subscription out of the table: the thread owns it
 * while it refreshes (a touch meanwhile makes a new one, which put_back
 * merges).  Drops those past the subscription TTL on the way. */
static struct sub *
take_due(struct warmer *w, int64_t now, int64_t *next)
{
	for (size_t i = 0; i < w->n_buckets; i++)
		for (struct sub **p = &w->buckets[i]; *p != NULL;) {
			struct sub *s = *p;
			if (now - s->requested_ms > w->o.subscription_ttl_ms) {
				*p = s->chain;
				w->count--;
				w->stats.dropped++;
				sub_free(s);
				continue;
			}
			if (s->due_ms <= now) {
				*p = s->chain;
				w->count--;
				return s;
			}
			if (s->due_ms < *next)
				*next = s->due_ms;
			p = &s->chain;
		}
	return NULL;
}

/* Return s to the table after its refresh, unless it became unhealthy; a
 * touch made while it was out created a second one: keep the newer
 * request time on the one in the table. */
static void
put_back(struct warmer *w, struct sub *s)
{
	struct sub **b = &w->buckets[s->hash & (w->n_buckets - 1)];
	for (struct sub *t = *b; t != NULL; t = t->chain)
		if (t->hash == s->hash) {
			if (s->requested_ms > t->requested_ms)
				t->requested_ms = s->requested_ms;
			sub_free(s);
			return;
		}
	s->chain = *b;
	*b = s;
	w->count++;
}

int
warmer_run_due(struct warmer *w, int64_t now, int64_t *next_ms)
{
	int done = 0;
	pthread_mutex_lock(&w->lock);
	int64_t next = now + 1000;
	/* Each due subscription once per pass: one put back with a due time
	 * still in the past (a skip) waits for the next pass. */
	size_t budget = w->count;
	struct sub *s;
	while (budget-- > 0 && !w->stopping &&
	       (s = take_due(w, now, &next)) != NULL) {
		pthread_mutex_unlock(&w->lock);
		cJSON *params = cJSON_Parse(s->params);
		enum warmer_result r =
			params != NULL ? w->o.refresh(w->o.user, s->operation,
						      params, s->lifetime_ms)
				       : WARMER_FAILED;
		cJSON_Delete(params);
		int64_t after = w->o.clock();
		done++;
		pthread_mutex_lock(&w->lock);
		/* A reload during the refresh applies to it too. */
		s->interval_ms = sub_interval(w, s->lifetime_ms, s->asked);
		switch (r) {
		case WARMER_REFRESHED:
			s->failures = 0;
			s->due_ms = after + s->interval_ms;
			w->stats.refreshes++;
			break;
		case WARMER_FAILED:
			s->failures++;
			w->stats.failures++;
			/* Try again soon, within the entry's lifetime. */
			s->due_ms = after + (s->interval_ms / 4 > 50 ? s->interval_ms / 4 : 50);
			break;
		case WARMER_SKIPPED:
			w->stats.skipped++;
			/* The provider limit is full: the next round, not a
			 * busy loop. */
			s->due_ms = after + 250;
			break;
		}
		if (w->disabled || (w->o.unhealthy_threshold > 0 &&
				    s->failures >= w->o.unhealthy_threshold)) {
			w->stats.dropped++;
			sub_free(s);
		} else {
			if (s->due_ms < next)
				next = s->due_ms;
			put_back(w, s);
		}
	}
	w->stats.subscriptions = w->count;
	pthread_mutex_unlock(&w->lock);
	*next_ms = next;
	return done;
}

void
warmer_reconfigure(struct warmer *w, const struct warmer_options *opts)
{
	int64_t now = w->o.clock();
	/* More subscriptions than buckets make long chains: grown, never
	 * shrunk.  Without the memory, the chains it is. */
	size_t n_buckets = buckets_for(opts->max_subscriptions);
	pthread_mutex_lock(&w->lock);
	struct sub **buckets = n_buckets > w->n_buckets
				       ? calloc(n_buckets, sizeof *buckets)
				       : NULL;
	if (buckets != NULL) {
		for (size_t i = 0; i < w->n_buckets; i++)
			for (struct sub *s = w->buckets[i], *next; s != NULL;
			     s = next) {
				next = s->chain;
				struct sub **b = &buckets[s->hash & (n_buckets - 1)];
				s->chain = *b;
				*b = s;
			}
		free(w->buckets);
		w->buckets = buckets;
		w->n_buckets = n_buckets;
	}
	w->o.interval_ms = opts->interval_ms;
	w->o.subscription_ttl_ms = opts->subscription_ttl_ms;
	w->o.unhealthy_threshold = opts->unhealthy_threshold;
	w->o.max_subscriptions = opts->max_subscriptions;
	w->disabled = opts->disabled;
	for (size_t i = 0; i < w->n_buckets; i++)
		for (struct sub **p = &w->buckets[i]; *p != NULL;) {
			struct sub *s = *p;
			/* Beyond a smaller cap, refreshes would only push
			 * other entries out of the cache. */
			if (w->disabled ||
			    w->count > (size_t)w->o.max_subscriptions) {
				*p = s->chain;
				w->count--;
				w->stats.dropped++;
				sub_free(s);
				continue;
			}
			s->interval_ms = sub_interval(w, s->lifetime_ms, s->asked);
			if (s->due_ms > now + s->interval_ms)
				s->due_ms = now + s->interval_ms;
			p = &s->chain;
		}
	w->stats.subscriptions = w->count;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

size_t
warmer_count(struct warmer *w)
{
	pthread_mutex_lock(&w->lock);
	size_t n = w->count;
	pthread_mutex_unlock(&w->lock);
	return n;
}

struct warmer_stats
warmer_get_stats(struct warmer *w)
{
	pthread_mutex_lock(&w->lock);
	struct warmer_stats st = w->stats;
	st.subscriptions = w->count;
	pthread_mutex_unlock(&w->lock);
	return st;
}
