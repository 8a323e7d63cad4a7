/* cache: LRU result cache, cache keys, request coalescing, and the remote
 * second level with cross-instance markers.  One mutex guards the table,
 * the list and the in-flight calls; fetches and remote calls run unlocked.
 * The key settings and lifetimes have a read-write lock of their own, so
 * computing a key never waits for the table.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "cache.h"
#include "http.h"

/* Dropped from keys whatever CACHE_KEY_IGNORED_PROPS says (the seed's list). */
static const char *const cache_default_ignored[] = {
	"id", "maxAge", "meta", "rateLimitMaxAge", "debug", "metricsMeta",
};
#define N_DEFAULT_IGNORED \
	(sizeof cache_default_ignored / sizeof cache_default_ignored[0])

/* One allocation: key and text follow the struct.  The value is kept as
 * text, not a tree: a fraction of the memory, and a hit is served as is. */
struct cache_entry {
	const char *key;
	uint64_t hash;
	const char *text;      /* the value, serialised JSON */
	int64_t stored_ms;     /* when the value arrived: its age */
	int64_t touched_ms;    /* lifetime start; later with update-age-on-get */
	long max_age_ms;
	struct cache_entry *chain;      /* next in the bucket */
	struct cache_entry *newer, *older; /* LRU list */
	char data[];
};

/* One call in progress, shared by every request for its key. */
struct cache_flight {
	char *key;
	bool done;
	int waiters;
	struct call_outcome out;        /* the leader's outcome, once done */
	struct cache_flight *next;
};

struct cache {
	pthread_mutex_t lock;
	pthread_cond_t landed;          /* some flight is done */
	struct cache_entry **buckets;
	size_t n_buckets;               /* a power of two */
	size_t count;
	struct cache_entry *newest, *oldest;
	struct cache_flight *flights;

	size_t max_items;               /* and these two: under lock too */
	bool update_age_on_get;
	bool keep_stale;

	pthread_rwlock_t settings;      /* guards the four below */
	long max_age_ms, min_age_ms;
	char *group;
	char **ignored;                 /* defaults, then the configured ones */
	size_t n_ignored;

	int64_t (*clock)(void);
	const struct cache_remote *remote;
	struct cache_coalescing co;
	EVP_MD *sha1;                   /* fetched once, not on every key */
};

/* ---- keys ---- */

static int
ignored_add(char **ignored, size_t *n, const char *name, size_t len)
{
	while (len > 0 && (*name == ' ' || *name == '\t'))
		name++, len--;
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	char *copy = strndup(name, len);
	if (copy == NULL)
		return -1;
	ignored[(*n)++] = copy;
	return 0;
}

static void
ignored_free(char **ignored, size_t n)
{
	for (size_t i = 0; ignored != NULL && i < n; i++)
		free(ignored[i]);
	free(ignored);
}

/* The default keys, then those of list (comma-separated): *n of them.
 * NULL when out of memory. */
static char **
ignored_parse(const char *list, size_t *n)
{
	list = list != NULL ? list : "";
	size_t commas = 0;
	for (const char *p = list; *p != '\0'; p++)
		commas += *p == ',';
	char **ignored = calloc(N_DEFAULT_IGNORED + commas + 1, sizeof *ignored);
	*n = 0;
	if (ignored == NULL)
		return NULL;
	for (size_t i = 0; i < N_DEFAULT_IGNORED; i++)
		if (ignored_add(ignored, n, cache_default_ignored[i],
				strlen(cache_default_ignored[i])) != 0)
			goto fail;
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (ignored_add(ignored, n, p, len) != 0)
			goto fail;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return ignored;
fail:
	ignored_free(ignored, *n);
	return NULL;
}

static bool
key_ignored(const struct cache *c, const char *name)
{
	for (size_t i = 0; i < c->n_ignored; i++)
		if (strcmp(c->ignored[i], name) == 0)
			return true;
	return false;
}

static int
member_compare(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a;
	const cJSON *y = *(const cJSON *const *)b;
	return strcmp(x->string, y->string);
}

/* A copy of v with object members sorted by key and ignored keys dropped,
 * at every depth.  NULL when out of memory.  Under the settings lock. */
static cJSON *
canonical_copy(const struct cache *c, const cJSON *v)
{
	if (cJSON_IsArray(v)) {
		cJSON *out = cJSON_CreateArray();
		for (const cJSON *item = v->child; out != NULL && item != NULL;
		     item = item->next) {
			cJSON *copy = canonical_copy(c, item);
			if (copy == NULL || !cJSON_AddItemToArray(out, copy)) {
				cJSON_Delete(copy);
				cJSON_Delete(out);
				return NULL;
			}
		}
		return out;
	}
	if (!cJSON_IsObject(v))
		return cJSON_Duplicate(v, 1);

	size_t n = 0;
	for (const cJSON *item = v->child; item != NULL; item = item->next)
		n++;
	const cJSON **members = malloc((n + 1) * sizeof *members);
	cJSON *out = cJSON_CreateObject();
	if (members == NULL || out == NULL)
		goto fail;
	n = 0;
	for (const cJSON *item = v->child; item != NULL; item = item->next)
		if (item->string != NULL && !key_ignored(c, item->string))
			members[n++] = item;
	qsort(members, n, sizeof *members, member_compare);
	for (size_t i = 0; i < n; i++) {
		cJSON *copy = canonical_copy(c, members[i]);
		if (copy == NULL)
			goto fail;
		if (!cJSON_AddItemToObject(out, members[i]->string, copy)) {
			cJSON_Delete(copy);
			goto fail;
		}
	}
	free(members);
	return out;
fail:
	free(members);
	cJSON_Delete(out);
	return NULL;
}

char *
cache_key(struct cache *c, const char *operation, const cJSON *params)
{
	pthread_rwlock_rdlock(&c->settings);
	cJSON *doc = cJSON_CreateObject();
	cJSON *canon = params != NULL ? canonical_copy(c, params)
				      : cJSON_CreateObject();
	char *text = NULL, *key = NULL;
	if (doc == NULL || canon == NULL ||
	    cJSON_AddStringToObject(doc, "operation", operation) == NULL) {
		cJSON_Delete(canon);
		goto done;
	}
	cJSON_AddItemToObject(doc, "params", canon);
	/* canonical_copy sorts "operation" before "params" and applies the
	 * ignored keys at the top level too. */
	cJSON *top = canonical_copy(c, doc);
	text = top != NULL ? cJSON_PrintUnformatted(top) : NULL;
	cJSON_Delete(top);
	if (text == NULL)
		goto done;

	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (c->sha1 == NULL ||
	    EVP_Digest(text, strlen(text), md, &mdlen, c->sha1, NULL) != 1)
		goto done;
	size_t glen = strlen(c->group);
	key = malloc(glen + 1 + 2 * mdlen + 1);
	if (key == NULL)
		goto done;
	memcpy(key, c->group, glen);
	key[glen] = ':';
	static const char hex[] = "0123456789abcdef";
	char *out = key + glen + 1;
	for (unsigned int i = 0; i < mdlen; i++) {
		*out++ = hex[md[i] >> 4];
		*out++ = hex[md[i] & 15];
	}
	*out = '\0';
done:
	pthread_rwlock_unlock(&c->settings);
	free(text);
	cJSON_Delete(doc);
	return key;
}

long
cache_request_max_age(struct cache *c, const cJSON *params)
{
	pthread_rwlock_rdlock(&c->settings);
	long max_age = c->max_age_ms, min_age = c->min_age_ms;
	pthread_rwlock_unlock(&c->settings);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, "maxAge");
	double asked = 0;
	if (cJSON_IsNumber(v)) {
		asked = v->valuedouble;
	} else if (cJSON_IsString(v)) {
		char *end;
		errno = 0;
		long n = strtol(v->valuestring, &end, 10);
		if (end != v->valuestring && *end == '\0' && errno == 0)
			asked = (double)n;
	}
	if (asked < 0)
		return -1;
	if (asked < 1) /* absent, 0 or a fraction of a millisecond */
		return max_age < 0 ? -1 : max_age < min_age ? min_age : max_age;
	if (asked > 86400000.0 * 365)
		asked = 86400000.0 * 365;
	return (long)asked < min_age ? min_age : (long)asked;
}

/* ---- life cycle ---- */

struct cache *
cache_new(const struct cache_options *opts)
{
	struct cache *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->clock = opts->clock != NULL ? opts->clock : http_now_ms;
	c->remote = opts->remote;
	c->co = opts->coalescing;
	c->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		goto fail_lock;
	if (pthread_cond_init(&c->landed, NULL) != 0)
		goto fail_landed;
	if (pthread_rwlock_init(&c->settings, NULL) != 0)
		goto fail_settings;
	/* The table starts empty, with no buckets: this sizes them. */
	if (cache_reconfigure(c, opts) == 0)
		return c;
	pthread_rwlock_destroy(&c->settings);
fail_settings:
	pthread_cond_destroy(&c->landed);
fail_landed:
	pthread_mutex_destroy(&c->lock);
fail_lock:
	EVP_MD_free(c->sha1);
	free(c);
	return NULL;
}

static uint64_t
key_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

/* A new entry holding key and value (a tree, or a Raw item of JSON text),
 * built before the lock is taken: serialising may take a while. */
static struct cache_entry *
entry_new(const char *key, const cJSON *value)
{
	char *printed = cJSON_IsRaw(value) ? NULL : cJSON_PrintUnformatted(value);
	const char *text = cJSON_IsRaw(value) ? value->valuestring : printed;
	if (text == NULL)
		return NULL;
	size_t nk = strlen(key) + 1, nt = strlen(text) + 1;
	struct cache_entry *e = malloc(sizeof *e + nk + nt);
	if (e != NULL) {
		memset(e, 0, sizeof *e);
		e->key = memcpy(e->data, key, nk);
		e->text = memcpy(e->data + nk, text, nt);
		e->hash = key_hash(key);
	}
	free(printed);
	return e;
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	for (struct cache_entry *e = c->newest, *next; e != NULL; e = next) {
		next = e->older;
		free(e);
	}
	/* Flights outlive nothing: dcproxyd frees the cache after its last
	 * request finished. */
	pthread_rwlock_destroy(&c->settings);
	pthread_cond_destroy(&c->landed);
	pthread_mutex_destroy(&c->lock);
	ignored_free(c->ignored, c->n_ignored);
	free(c->group);
	free(c->buckets);
	EVP_MD_free(c->sha1);
	free(c);
}

/* ---- the LRU table; callers hold the lock ---- */

static struct cache_entry **
entry_slot(struct cache *c, const char *key, uint64_t hash)
{
	struct cache_entry **slot = &c->buckets[hash & (c->n_buckets - 1)];
	while (*slot != NULL &&
	       ((*slot)->hash != hash || strcmp((*slot)->key, key) != 0))
		slot = &(*slot)->chain;
	return slot;
}

static void
list_unlink(struct cache *c, struct cache_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void
list_push_newest(struct cache *c, struct cache_entry *e)
{
	e->newer = NULL;
	e->older = c->newest;
	if (c->newest != NULL)
		c->newest->newer = e;
	c->newest = e;
	if (c->oldest == NULL)
		c->oldest = e;
}

static void
entry_remove(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **slot = entry_slot(c, e->key, e->hash);
	*slot = e->chain;
	list_unlink(c, e);
	c->count--;
	free(e);
}

static cJSON *
locked_get(struct cache *c, const char *key, long max_age_ms, long *age_ms)
{
	uint64_t hash = key_hash(key);
	struct cache_entry *e = *entry_slot(c, key, hash);
	if (e == NULL)
		return NULL;
	int64_t now = c->clock();
	long age = (long)(now - e->stored_ms);
	if (now - e->touched_ms > e->max_age_ms) {
		/* Kept for cache_get_stale until the LRU pushes it out. */
		if (!c->keep_stale)
			entry_remove(c, e);
		return NULL;
	}
	/* A caller asking for fresher data than the entry's lifetime misses
	 * but leaves the entry for others. */
	if (max_age_ms >= 0 && now - e->touched_ms > max_age_ms)
		return NULL;
	cJSON *copy = cJSON_CreateRaw(e->text);
	if (copy == NULL)
		return NULL;
	/* The lifetime restarts; the age reported stays the data's. */
	if (c->update_age_on_get)
		e->touched_ms = now;
	list_unlink(c, e);
	list_push_newest(c, e);
	if (age_ms != NULL)
		*age_ms = age;
	return copy;
}

/* Insert e (from entry_new), replacing any entry with its key.  age_ms:
 * how old the value is already (a remote hit keeps its age). */
static void
locked_insert(struct cache *c, struct cache_entry *e, long max_age_ms,
	      long age_ms)
{
	struct cache_entry *old = *entry_slot(c, e->key, e->hash);
	if (old != NULL)
		entry_remove(c, old);
	struct cache_entry **bucket = &c->buckets[e->hash & (c->n_buckets - 1)];
	e->chain = *bucket;
	*bucket = e;
	c->count++;
	e->stored_ms = e->touched_ms = c->clock() - age_ms;
	e->max_age_ms = max_age_ms;
	list_push_newest(c, e);
	while (c->count > c->max_items)
		entry_remove(c, c->oldest);
}

cJSON *
cache_get(struct cache *c, const char *key, long max_age_ms, long *age_ms)
{
	pthread_mutex_lock(&c->lock);
	cJSON *v = locked_get(c, key, max_age_ms, age_ms);
	pthread_mutex_unlock(&c->lock);
	return v;
}

cJSON *
cache_get_stale(struct cache *c, const char *key, long *age_ms)
{
	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = *entry_slot(c, key, key_hash(key));
	cJSON *copy = e != NULL ? cJSON_CreateRaw(e->text) : NULL;
	if (copy != NULL && age_ms != NULL)
		*age_ms = (long)(c->clock() - e->stored_ms);
	pthread_mutex_unlock(&c->lock);
	return copy;
}

static void
remote_store(struct cache *c, const char *key, const cJSON *result,
	     long ttl_ms);

int
cache_put(struct cache *c, const char *key, const cJSON *value,
	  long max_age_ms)
{
	struct cache_entry *e = entry_new(key, value);
	if (e == NULL)
		return -1;
	pthread_mutex_lock(&c->lock);
	locked_insert(c, e, max_age_ms, 0);
	pthread_mutex_unlock(&c->lock);
	/* Other instances see a refresh too, not only this one's LRU. */
	if (c->remote != NULL)
		remote_store(c, key, value, max_age_ms);
	return 0;
}

size_t
cache_count(struct cache *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* About one bucket per entry, capped; chains absorb the rest. */
static size_t
buckets_for(size_t max_items)
{
	size_t n = 64;
	while (n < max_items && n < (1u << 20))
		n <<= 1;
	return n;
}

int
cache_reconfigure(struct cache *c, const struct cache_options *opts)
{
	size_t max_items = opts->max_items > 0 ? (size_t)opts->max_items : 1;
	size_t n_ignored;
	char **ignored = ignored_parse(opts->ignored_props, &n_ignored);
	char *group = strdup(opts->key_group != NULL ? opts->key_group : "");
	/* Buckets grow with CACHE_MAX_ITEMS, never shrink: a smaller cache
	 * only has shorter chains. */
	pthread_mutex_lock(&c->lock);
	size_t have = c->n_buckets;
	pthread_mutex_unlock(&c->lock);
	size_t n_buckets = buckets_for(max_items);
	struct cache_entry **buckets =
		n_buckets > have ? calloc(n_buckets, sizeof *buckets) : NULL;
	if (ignored == NULL || group == NULL ||
	    (n_buckets > have && buckets == NULL)) {
		ignored_free(ignored, n_ignored);
		free(group);
		free(buckets);
		return -1;
	}

	pthread_rwlock_wrlock(&c->settings);
	char **old_ignored = c->ignored;
	size_t old_n_ignored = c->n_ignored;
	char *old_group = c->group;
	c->ignored = ignored;
	c->n_ignored = n_ignored;
	c->group = group;
	c->max_age_ms = opts->max_age_ms;
	c->min_age_ms = opts->min_age_ms;
	pthread_rwlock_unlock(&c->settings);
	ignored_free(old_ignored, old_n_ignored);
	free(old_group);

	pthread_mutex_lock(&c->lock);
	if (buckets != NULL && n_buckets > c->n_buckets) {
		for (struct cache_entry *e = c->newest; e != NULL; e = e->older) {
			struct cache_entry **b = &buckets[e->hash & (n_buckets - 1)];
			e->chain = *b;
			*b = e;
		}
		struct cache_entry **old = c->buckets;
		c->buckets = buckets;
		c->n_buckets = n_buckets;
		buckets = old;
	}
	c->max_items = max_items;
	c->update_age_on_get = opts->update_age_on_get;
	c->keep_stale = opts->keep_stale;
	while (c->count > c->max_items)
		entry_remove(c, c->oldest);
	pthread_mutex_unlock(&c->lock);
	free(buckets);
	return 0;
}

/* ---- the remote level and cross-instance coalescing ---- */

long
cache_backoff_ms(const struct cache_coalescing *co, long n)
{
	double wait = (double)co->interval_ms;
	for (long i = 1; i < n && wait < (double)co->interval_max_ms; i++)
		wait *= co->coefficient;
	if (wait > (double)co->interval_max_ms)
		wait = (double)co->interval_max_ms;
	return wait < 0 ? 0 : (long)wait;
}

/* Stored-at times cross machines: wall clock, not the monotonic one. */
static int64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
prefixed(const char *prefix, const char *key)
{
	size_t plen = strlen(prefix), klen = strlen(key);
	char *out = malloc(plen + klen + 1);
	if (out != NULL) {
		memcpy(out, prefix, plen);
		memcpy(out + plen, key, klen + 1);
	}
	return out;
}

/* How far ahead of this host's clock another host's may be when it
 * stores an entry: a "t" further in the future is not taken for a time. */
#define REMOTE_CLOCK_SKEW_MS 5000

/* A remote entry {"t": stored-at epoch ms, "v": result} younger than
 * max_age_ms (< 0: any age) into out.  Returns true when found. */
static bool
remote_lookup(struct cache *c, const char *key, long max_age_ms,
	      struct call_outcome *out, long *age_ms)
{
	char *text = NULL;
	if (c->remote->get(c->remote->user, key, &text) != 1)
		return false;
	cJSON *doc = cJSON_Parse(text);
	free(text);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "t");
	cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(doc, "v");
	bool found = false;
	/* In double: a "t" past int64's range must not overflow.  A "t"
	 * before 1970, or later than two hosts' clocks can disagree, is no
	 * stored-at time of ours (an older version's, another program's, or
	 * garbage): not an entry, however long Redis keeps it.  The miss
	 * then stores a proper one over it. */
	double since = cJSON_IsNumber(t) ? (double)wall_ms() - t->valuedouble
					 : 0;
	if (cJSON_IsNumber(t) && v != NULL && t->valuedouble >= 0 &&
	    since >= -(double)REMOTE_CLOCK_SKEW_MS) {
		/* clocks of two hosts disagree a little */
		long age = since > 0 ? (long)since : 0;
		if (max_age_ms < 0 || age <= max_age_ms) {
			memset(out, 0, sizeof *out);
			out->result = v;
			out->error = CALL_OK;
			*age_ms = age;
			v = NULL;
			found = true;
		}
	}
	cJSON_Delete(v);
	cJSON_Delete(doc);
	return found;
}

static void
remote_store(struct cache *c, const char *key, const cJSON *result,
	     long ttl_ms)
{
	cJSON *doc = cJSON_CreateObject();
	char *text = NULL;
	if (doc != NULL &&
	    cJSON_AddNumberToObject(doc, "t", (double)wall_ms()) != NULL &&
	    cJSON_AddItemToObject(doc, "v", cJSON_Duplicate(result, 1)))
		text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (text != NULL)
		(void)c->remote->set(c->remote->user, key, text, ttl_ms, false);
	free(text);
}

/* The flight leader's path with a remote: see cache_fetch in cache.h. */
static enum cache_status
remote_fetch(struct cache *c, const char *key, long max_age_ms, bool store,
	     cache_fetch_fn fetch, void *user, struct call_outcome *out,
	     long *age_ms)
{
	const struct cache_remote *rm = c->remote;
	if (store && remote_lookup(c, key, max_age_ms, out, age_ms))
		return CACHE_HIT;

	enum cache_status status = CACHE_MISS;
	char *marker = NULL, *shared = NULL;
	int claimed = -1;
	if (c->co.enabled) {
		marker = prefixed("inflight:", key);
		shared = store ? NULL : prefixed("result:", key);
	}
	/* Where the leader's result appears: an uncached operation's only
	 * for waiters, under its own short-lived key. */
	const char *where = store ? key : shared;
	if (marker != NULL && where != NULL)
		claimed = rm->set(rm->user, marker, "1", c->co.marker_ttl_ms, true);
	if (claimed == 0) {
		unsigned seed = (unsigned)(http_now_ms() ^ (int64_t)(uintptr_t)out);
		for (long n = 1; n <= c->co.max_retries; n++) {
			long wait = cache_backoff_ms(&c->co, n);
			if (c->co.entropy_max_ms > 0)
				wait += rand_r(&seed) % (c->co.entropy_max_ms + 1);
			http_sleep_ms(wait);
			if (remote_lookup(c, where, store ? max_age_ms : -1, out,
					  age_ms)) {
				status = CACHE_COALESCED;
				goto done;
			}
			int held = rm->exists(rm->user, marker);
			if (held == 1)
				continue;
			/* Gone (or Redis unavailable): the result may have
			 * landed just before the marker went. */
			if (held == 0 &&
			    remote_lookup(c, where, store ? max_age_ms : -1, out,
					  age_ms)) {
				status = CACHE_COALESCED;
				goto done;
			}
			break;
		}
		/* The other call failed, or outlasted our patience: ours now,
		 * and others wait on it if the marker is free. */
		claimed = rm->set(rm->user, marker, "1", c->co.marker_ttl_ms, true);
	}
	/* An earlier call's result may still be there: this call's waiters
	 * must wait for this call, not take that one.  (A waiter of the
	 * earlier call that has not looked yet now waits for this one.) */
	if (claimed == 1 && shared != NULL)
		(void)rm->del(rm->user, shared);

	fetch(user, out);
	if (out->error == CALL_OK && out->result != NULL) {
		if (store)
			remote_store(c, key, out->result, max_age_ms);
		else if (shared != NULL)
			remote_store(c, shared, out->result, c->co.result_ttl_ms);
	}
	/* Failure included: the next caller must not wait for the expiry. */
	if (claimed == 1)
		(void)rm->del(rm->user, marker);
done:
	free(marker);
	free(shared);
	return status;
}

/* ---- coalescing ---- */

static void
outcome_copy(struct call_outcome *to, const struct call_outcome *from)
{
	*to = *from;
	to->result = from->result != NULL ? cJSON_Duplicate(from->result, 1)
					  : NULL;
	if (from->result != NULL && to->result == NULL)
		call_outcome_fail(to, CALL_INTERNAL, "out of memory");
}

static void
flight_free(struct cache_flight *f)
{
	cJSON_Delete(f->out.result);
	free(f->key);
	free(f);
}

enum cache_status
cache_fetch(struct cache *c, const char *key, long max_age_ms, bool store,
	    cache_fetch_fn fetch, void *user, struct call_outcome *out,
	    long *age_ms)
{
	long age = 0;
	*age_ms = 0;
	memset(out, 0, sizeof *out);

	pthread_mutex_lock(&c->lock);
	if (store) {
		cJSON *hit = locked_get(c, key, max_age_ms, &age);
		if (hit != NULL) {
			pthread_mutex_unlock(&c->lock);
			out->result = hit;
			*age_ms = age;
			return CACHE_HIT;
		}
	}
	struct cache_flight *f = c->flights;
	while (f != NULL && strcmp(f->key, key) != 0)
		f = f->next;
	if (f != NULL) {
		f->waiters++;
		while (!f->done)
			pthread_cond_wait(&c->landed, &c->lock);
		outcome_copy(out, &f->out);
		/* The last one out frees the flight the leader left behind. */
		if (--f->waiters == 0)
			flight_free(f);
		pthread_mutex_unlock(&c->lock);
		return CACHE_COALESCED;
	}

	f = calloc(1, sizeof *f);
	char *k = strdup(key);
	if (f == NULL || k == NULL) {
		/* Cannot coalesce: still answer, uncoalesced. */
		free(f);
		free(k);
		pthread_mutex_unlock(&c->lock);
		fetch(user, out);
		return CACHE_MISS;
	}
	f->key = k;
	f->next = c->flights;
	c->flights = f;
	pthread_mutex_unlock(&c->lock);

	enum cache_status status = CACHE_MISS;
	if (c->remote != NULL)
		status = remote_fetch(c, key, max_age_ms, store, fetch, user, out,
				      age_ms);
	else
		fetch(user, out);

	struct cache_entry *e = store && out->error == CALL_OK &&
					out->result != NULL
					? entry_new(key, out->result)
					: NULL;
	pthread_mutex_lock(&c->lock);
	/* Stored before the flight lands, so no request can miss between the
	 * two. */
	if (e != NULL)
		locked_insert(c, e, max_age_ms, *age_ms);
	for (struct cache_flight **p = &c->flights; *p != NULL; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	if (f->waiters > 0) {
		outcome_copy(&f->out, out);
		f->done = true;
		pthread_cond_broadcast(&c->landed);
	} else {
		flight_free(f);
	}
	pthread_mutex_unlock(&c->lock);
	return status;
}

const char *
cache_status_name(enum cache_status status)
{
	switch (status) {
	case CACHE_HIT:
		return "HIT";
	case CACHE_MISS:
	case CACHE_COALESCED:
		break;
	}
	return "MISS";
}
