/* check_cache: the LRU (eviction order, lifetimes, update-age-on-get), a
 * request's maxAge, cache keys (canonical order, ignored keys at every
 * depth, group prefix, the SHA-1 itself) and coalescing of concurrent
 * misses, failures included.  Time comes from a fake clock.  The remote
 * level and cross-instance coalescing run against an in-memory fake of
 * Redis shared by two caches, standing for two instances.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cache.h"
#include "http.h"

static int64_t fake_now = 1000000; /* test clock, ms */
static struct cache *cache;

static int64_t
fake_clock(void)
{
	return fake_now;
}

static void
open_cache(long max_items, bool update_age_on_get, const char *ignored)
{
	struct cache_options opts = {
		.max_items = max_items,
		.max_age_ms = 90000,
		.min_age_ms = 30000,
		.update_age_on_get = update_age_on_get,
		.key_group = "grp",
		.ignored_props = ignored,
		.clock = fake_clock,
	};
	cache_free(cache);
	cache = cache_new(&opts);
	ck_assert_ptr_nonnull(cache);
}

static void
setup(void)
{
	open_cache(3, false, NULL);
}

static void
teardown(void)
{
	cache_free(cache);
	cache = NULL;
}

static void
put(const char *key, int n, long max_age)
{
	cJSON *v = cJSON_CreateNumber(n);
	ck_assert_int_eq(cache_put(cache, key, v, max_age), 0);
	cJSON_Delete(v);
}

/* A getter's answer is the stored text as a Raw item: parsed here. */
static double
raw_number(const cJSON *v)
{
	ck_assert(cJSON_IsRaw(v));
	cJSON *tree = cJSON_Parse(v->valuestring);
	ck_assert(cJSON_IsNumber(tree));
	double n = tree->valuedouble;
	cJSON_Delete(tree);
	return n;
}

/* The stored number, or -1 on a miss. */
static int
get(const char *key, long max_age, long *age)
{
	long ignored;
	cJSON *v = cache_get(cache, key, max_age, age ? age : &ignored);
	int n = v != NULL ? (int)raw_number(v) : -1;
	cJSON_Delete(v);
	return n;
}

/* ---- the LRU ---- */

START_TEST(evicts_least_recently_used)
{
	put("a", 1, 90000);
	put("b", 2, 90000);
	put("c", 3, 90000);
	ck_assert_int_eq(get("a", -1, NULL), 1); /* a is now the newest */
	put("d", 4, 90000);                      /* b goes */
	ck_assert_uint_eq(cache_count(cache), 3);
	ck_assert_int_eq(get("b", -1, NULL), -1);
	ck_assert_int_eq(get("a", -1, NULL), 1);
	ck_assert_int_eq(get("c", -1, NULL), 3);
	ck_assert_int_eq(get("d", -1, NULL), 4);
	put("e", 5, 90000);                      /* a is the oldest use now */
	ck_assert_int_eq(get("a", -1, NULL), -1);
	/* Replacing a key keeps one entry and refreshes it. */
	put("c", 30, 90000);
	ck_assert_uint_eq(cache_count(cache), 3);
	ck_assert_int_eq(get("c", -1, NULL), 30);
}
END_TEST

START_TEST(entries_expire)
{
	long age;
	put("a", 1, 1000);
	fake_now += 1000;
	ck_assert_int_eq(get("a", -1, &age), 1);
	ck_assert_int_eq(age, 1000);
	fake_now += 1;
	ck_assert_int_eq(get("a", -1, NULL), -1);
	ck_assert_uint_eq(cache_count(cache), 0); /* dropped, not kept */
}
END_TEST

/* With keep_stale (the provider rate limit on), an expired entry misses
 * but stays for cache_get_stale until the LRU evicts it. */
START_TEST(stale_entries_kept_for_get_stale)
{
	struct cache_options opts = {
		.max_items = 2, .max_age_ms = 90000, .min_age_ms = 0,
		.key_group = "grp", .clock = fake_clock, .keep_stale = true,
	};
	cache_free(cache);
	cache = cache_new(&opts);
	ck_assert_ptr_nonnull(cache);
	long age;
	ck_assert_ptr_null(cache_get_stale(cache, "a", &age));
	put("a", 1, 1000);
	fake_now += 5000;
	ck_assert_int_eq(get("a", -1, NULL), -1);
	ck_assert_uint_eq(cache_count(cache), 1);
	cJSON *v = cache_get_stale(cache, "a", &age);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(age, 5000);
	ck_assert_int_eq((int)raw_number(v), 1);
	cJSON_Delete(v);
	put("b", 2, 1000);
	put("c", 3, 1000);
	ck_assert_ptr_null(cache_get_stale(cache, "a", NULL));
}
END_TEST

START_TEST(fresher_request_misses_but_keeps_entry)
{
	long age;
	put("a", 1, 90000);
	fake_now += 800;
	ck_assert_int_eq(get("a", 500, NULL), -1);
	ck_assert_uint_eq(cache_count(cache), 1);
	ck_assert_int_eq(get("a", 1000, &age), 1);
	ck_assert_int_eq(age, 800);
}
END_TEST

START_TEST(age_not_updated_on_get_by_default)
{
	put("a", 1, 1000);
	fake_now += 800;
	ck_assert_int_eq(get("a", -1, NULL), 1);
	fake_now += 800;
	ck_assert_int_eq(get("a", -1, NULL), -1);
}
END_TEST

START_TEST(update_age_on_get)
{
	long age;
	open_cache(3, true, NULL);
	put("a", 1, 1000);
	fake_now += 800;
	ck_assert_int_eq(get("a", -1, &age), 1);
	ck_assert_int_eq(age, 800);
	fake_now += 800; /* 1600 since stored, 800 since used */
	ck_assert_int_eq(get("a", -1, &age), 1);
	ck_assert_int_eq(age, 1600); /* the data's age, for the Age header */
	fake_now += 1001;
	ck_assert_int_eq(get("a", -1, NULL), -1);
}
END_TEST

/* ---- a request's maxAge ---- */

static long
max_age_of(const char *params)
{
	cJSON *p = cJSON_Parse(params);
	ck_assert_ptr_nonnull(p);
	long v = cache_request_max_age(cache, p);
	cJSON_Delete(p);
	return v;
}

START_TEST(request_max_age)
{
	ck_assert_int_eq(max_age_of("{}"), 90000);
	ck_assert_int_eq(max_age_of("{\"maxAge\":0}"), 90000);
	ck_assert_int_eq(max_age_of("{\"maxAge\":\"0\"}"), 90000);
	ck_assert_int_eq(max_age_of("{\"maxAge\":\"soon\"}"), 90000);
	ck_assert_int_eq(max_age_of("{\"maxAge\":-1}"), -1);
	ck_assert_int_eq(max_age_of("{\"maxAge\":\"-5\"}"), -1);
	ck_assert_int_eq(max_age_of("{\"maxAge\":1000}"), 30000); /* min age */
	ck_assert_int_eq(max_age_of("{\"maxAge\":60000}"), 60000);
	ck_assert_int_eq(max_age_of("{\"maxAge\":\"45000\"}"), 45000);
	ck_assert_int_eq(max_age_of("{\"maxAge\":600000}"), 600000);
	ck_assert_int_eq(cache_request_max_age(cache, NULL), 90000);
}
END_TEST

/* CACHE_MAX_AGE < 0: nothing is kept unless a request asks for a lifetime
 * of its own. */
START_TEST(negative_default_max_age_bypasses)
{
	struct cache_options opts = {
		.max_items = 4, .max_age_ms = -1, .min_age_ms = 30000,
		.key_group = "grp", .clock = fake_clock,
	};
	cache_free(cache);
	cache = cache_new(&opts);
	ck_assert_ptr_nonnull(cache);
	ck_assert_int_eq(max_age_of("{}"), -1);
	ck_assert_int_eq(max_age_of("{\"maxAge\":0}"), -1);
	ck_assert_int_eq(cache_request_max_age(cache, NULL), -1);
	ck_assert_int_eq(max_age_of("{\"maxAge\":60000}"), 60000);
}
END_TEST

/* ---- keys ---- */

static char *
key_of(const char *operation, const char *params)
{
	cJSON *p = params != NULL ? cJSON_Parse(params) : NULL;
	ck_assert(params == NULL || p != NULL);
	char *key = cache_key(cache, operation, p);
	ck_assert_ptr_nonnull(key);
	cJSON_Delete(p);
	return key;
}

static void
assert_same_key(const char *op, const char *a, const char *b)
{
	char *x = key_of(op, a), *y = key_of(op, b);
	ck_assert_msg(strcmp(x, y) == 0, "%s and %s differ", a, b);
	free(x);
	free(y);
}

static void
assert_other_key(const char *op_a, const char *a, const char *op_b,
		 const char *b)
{
	char *x = key_of(op_a, a), *y = key_of(op_b, b);
	ck_assert_msg(strcmp(x, y) != 0, "%s and %s share a key", a, b);
	free(x);
	free(y);
}

START_TEST(key_is_group_and_sha1)
{
	/* sha1('{"operation":"health","params":{}}') */
	char *k = key_of("health", NULL);
	ck_assert_str_eq(k, "grp:e1b13645b4c893aecf308471e0e81d70c363ab54");
	free(k);
	/* Sorted at every depth, ignored keys gone, arrays kept in order:
	 * sha1('{"operation":"fetch_ohlcv","params":{"a":{"x":1,"y":[{"p":1,"q":2}]},"symbol":"BTC/USDT:USDT"}}') */
	k = key_of("fetch_ohlcv",
		   "{\"symbol\":\"BTC/USDT:USDT\",\"id\":7,\"a\":{\"y\":[{\"q\":2,"
		   "\"p\":1,\"debug\":true}],\"x\":1,\"meta\":{}}}");
	ck_assert_str_eq(k, "grp:7cc5f95fb7d84f98d5a59b682a6fa57436ae9014");
	free(k);
	assert_same_key("health", NULL, "{}");
}
END_TEST

START_TEST(key_order_irrelevant)
{
	assert_same_key("fetch_ohlcv",
			"{\"symbol\":\"BTC/USDT:USDT\",\"limit\":5,\"o\":{\"b\":1,\"a\":2}}",
			"{\"o\":{\"a\":2,\"b\":1},\"limit\":5,\"symbol\":\"BTC/USDT:USDT\"}");
}
END_TEST

START_TEST(key_drops_ignored_at_every_depth)
{
	assert_same_key("fetch_ohlcv",
			"{\"symbol\":\"X/Y\",\"id\":1,\"maxAge\":10000,\"meta\":{\"a\":1},"
			"\"rateLimitMaxAge\":5,\"debug\":true,\"metricsMeta\":{}}",
			"{\"symbol\":\"X/Y\"}");
	assert_same_key("fetch_ohlcv",
			"{\"data\":{\"base\":\"LINK\",\"id\":2,\"deep\":[{\"maxAge\":1,\"v\":1}]}}",
			"{\"data\":{\"base\":\"LINK\",\"deep\":[{\"v\":1}]}}");
	/* Not ignored unless configured. */
	assert_other_key("fetch_ohlcv", "{\"s\":1,\"timestamp\":1598874704}",
			 "fetch_ohlcv", "{\"s\":1,\"timestamp\":1598874721}");
}
END_TEST

START_TEST(key_drops_configured_props)
{
	open_cache(3, false, " timestamp ,nonce,");
	assert_same_key("fetch_ohlcv",
			"{\"data\":{\"base\":\"LINK\",\"timestamp\":1598874704},\"nonce\":1}",
			"{\"data\":{\"base\":\"LINK\",\"timestamp\":1598874721},\"nonce\":2}");
	assert_same_key("fetch_ohlcv", "{\"a\":[{\"timestamp\":1}],\"id\":3}",
			"{\"a\":[{}]}");
	assert_other_key("fetch_ohlcv", "{\"base\":\"LINK\"}", "fetch_ohlcv",
			 "{\"base\":\"ETH\"}");
}
END_TEST

START_TEST(key_differs_when_request_differs)
{
	assert_other_key("fetch_ohlcv", "{\"limit\":5}", "fetch_ohlcv",
			 "{\"limit\":6}");
	assert_other_key("fetch_ohlcv", "{\"limit\":5}", "fetch_ohlcv",
			 "{\"limit\":\"5\"}");
	assert_other_key("symbols", "{}", "status", "{}");
	assert_other_key("x", "{\"a\":[1,2]}", "x", "{\"a\":[2,1]}");
	assert_other_key("x", "{\"a\":{\"b\":1}}", "x", "{\"a\":{\"c\":1}}");

	char *a = key_of("health", NULL);
	struct cache_options opts = { .max_items = 1, .max_age_ms = 1,
				      .key_group = "other" };
	struct cache *second = cache_new(&opts);
	char *b = cache_key(second, "health", NULL);
	ck_assert_str_eq(strchr(a, ':'), strchr(b, ':'));
	ck_assert(strncmp(b, "other:", 6) == 0);
	free(a);
	free(b);
	cache_free(second);
}
END_TEST

/* ---- a reload's settings ---- */

static struct cache_options
reload_options(long max_items)
{
	return (struct cache_options){
		.max_items = max_items, .max_age_ms = 90000, .min_age_ms = 30000,
		.key_group = "grp", .clock = fake_clock,
	};
}

START_TEST(reconfigure_shrink_evicts_least_recently_used)
{
	put("a", 1, 90000);
	put("b", 2, 90000);
	put("c", 3, 90000);
	ck_assert_int_eq(get("a", -1, NULL), 1); /* b is the oldest use */
	struct cache_options o = reload_options(2);
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	ck_assert_uint_eq(cache_count(cache), 2);
	ck_assert_int_eq(get("b", -1, NULL), -1);
	o.max_items = 1;
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	ck_assert_int_eq(get("c", -1, NULL), -1);
	ck_assert_int_eq(get("a", -1, NULL), 1);
	/* And the new size holds for what comes next. */
	put("d", 4, 90000);
	ck_assert_uint_eq(cache_count(cache), 1);
	ck_assert_int_eq(get("d", -1, NULL), 4);
}
END_TEST

/* Growing past the buckets sized at start rehashes: the entries already
 * there are still found, and the cache fills to the new size. */
START_TEST(reconfigure_grow_keeps_entries)
{
	put("a", 1, 90000);
	put("b", 2, 90000);
	struct cache_options o = reload_options(5000);
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	ck_assert_int_eq(get("a", -1, NULL), 1);
	ck_assert_int_eq(get("b", -1, NULL), 2);
	char key[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		put(key, i, 90000);
	}
	ck_assert_uint_eq(cache_count(cache), 5000);
	ck_assert_int_eq(get("k0", -1, NULL), 0);
	ck_assert_int_eq(get("k4999", -1, NULL), 4999);
	ck_assert_int_eq(get("a", -1, NULL), -1);
}
END_TEST

START_TEST(reconfigure_lifetimes)
{
	put("a", 1, cache_request_max_age(cache, NULL));
	fake_now += 5000;
	ck_assert_int_eq(get("a", cache_request_max_age(cache, NULL), NULL), 1);
	/* A lower CACHE_MAX_AGE (and CACHE_MIN_AGE under it): an entry
	 * stored for longer now misses, as for a request's lower maxAge. */
	struct cache_options o = reload_options(3);
	o.max_age_ms = 2000;
	o.min_age_ms = 1000;
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	ck_assert_int_eq(cache_request_max_age(cache, NULL), 2000);
	ck_assert_int_eq(max_age_of("{\"maxAge\":500}"), 1000);
	ck_assert_int_eq(get("a", cache_request_max_age(cache, NULL), NULL), -1);
	ck_assert_int_eq(get("a", -1, NULL), 1);
	/* CACHE_UPDATE_AGE_ON_GET, turned on. */
	put("b", 2, 1000);
	fake_now += 800;
	ck_assert_int_eq(get("b", -1, NULL), 2);
	fake_now += 800;
	ck_assert_int_eq(get("b", -1, NULL), -1);
	o.update_age_on_get = true;
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	put("b", 2, 1000);
	fake_now += 800;
	ck_assert_int_eq(get("b", -1, NULL), 2);
	fake_now += 800;
	ck_assert_int_eq(get("b", -1, NULL), 2);
}
END_TEST

/* Turned on by a reload (the provider limit enabled), expired entries
 * stay for cache_get_stale; turned off, they go when next looked up. */
START_TEST(reconfigure_keep_stale)
{
	struct cache_options o = reload_options(3);
	o.keep_stale = true;
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	put("a", 1, 1000);
	fake_now += 2000;
	ck_assert_int_eq(get("a", -1, NULL), -1);
	cJSON *v = cache_get_stale(cache, "a", NULL);
	ck_assert_ptr_nonnull(v);
	cJSON_Delete(v);
	o.keep_stale = false;
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	ck_assert_int_eq(get("a", -1, NULL), -1);
	ck_assert_ptr_null(cache_get_stale(cache, "a", NULL));
	ck_assert_uint_eq(cache_count(cache), 0);
}
END_TEST

/* A new group or ignored list gives new keys; what was stored under the
 * old ones is simply not found. */
START_TEST(reconfigure_keys)
{
	const char *params = "{\"base\":\"LINK\",\"nonce\":1}";
	char *old = key_of("fetch_ohlcv", params);
	put(old, 1, 90000);
	struct cache_options o = reload_options(3);
	o.key_group = "next";
	o.ignored_props = "nonce";
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	char *now = key_of("fetch_ohlcv", params);
	ck_assert(strncmp(now, "next:", 5) == 0);
	ck_assert_int_eq(get(now, -1, NULL), -1);
	assert_same_key("fetch_ohlcv", params,
			"{\"base\":\"LINK\",\"nonce\":2}");
	/* The defaults stay ignored whatever the list. */
	assert_same_key("fetch_ohlcv", params,
			"{\"base\":\"LINK\",\"id\":9}");
	o.key_group = "grp";
	o.ignored_props = NULL;
	ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	char *back = key_of("fetch_ohlcv", params);
	ck_assert_str_eq(back, old);
	ck_assert_int_eq(get(back, -1, NULL), 1);
	free(old);
	free(now);
	free(back);
}
END_TEST

static atomic_bool reloading;

static void *
reload_race(void *arg)
{
	(void)arg;
	char text[64];
	for (int i = 0; atomic_load(&reloading); i++) {
		snprintf(text, sizeof text, "{\"n\":%d,\"nonce\":%d}", i % 50, i);
		cJSON *p = cJSON_Parse(text);
		char *key = cache_key(cache, "op", p);
		ck_assert_ptr_nonnull(key);
		long max_age = cache_request_max_age(cache, p);
		cJSON *v = cJSON_CreateNumber(i);
		ck_assert_int_eq(cache_put(cache, key, v, max_age), 0);
		cJSON_Delete(v);
		cJSON_Delete(cache_get(cache, key, max_age, NULL));
		cJSON_Delete(cache_get_stale(cache, key, NULL));
		free(key);
		cJSON_Delete(p);
	}
	return NULL;
}

/* Reloads while requests compute keys and read and write entries: under
 * the sanitizers, any unguarded read of a setting a reload frees shows. */
START_TEST(reconfigure_under_load)
{
	pthread_t t[4];
	atomic_store(&reloading, true);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, reload_race, NULL), 0);
	struct cache_options o = reload_options(3);
	for (int i = 0; i < 400; i++) {
		o.max_items = i % 2 ? 2 : 100 + i * 10;
		o.key_group = i % 2 ? "odd" : "even";
		o.ignored_props = i % 3 ? "nonce" : "x,y";
		o.keep_stale = i % 2;
		o.max_age_ms = 1000 + i;
		ck_assert_int_eq(cache_reconfigure(cache, &o), 0);
	}
	atomic_store(&reloading, false);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_le(cache_count(cache), 2);
}
END_TEST

/* ---- coalescing ---- */

#define N_THREADS 16

static atomic_int calls;
static bool fail_calls;
static pthread_barrier_t start_line;

static void
slow_fetch(void *user, struct call_outcome *out)
{
	(void)user;
	int n = atomic_fetch_add(&calls, 1) + 1;
	usleep(300000); /* long enough for every thread to arrive */
	memset(out, 0, sizeof *out);
	if (fail_calls) {
		call_outcome_fail(out, CALL_UPSTREAM_SERVER_ERROR, "boom %d", n);
		out->upstream_status = 503;
		out->attempts = 3;
	} else {
		out->result = cJSON_CreateObject();
		cJSON_AddNumberToObject(out->result, "call", n);
	}
}

struct racer {
	bool store;
	enum cache_status status;
	struct call_outcome out;
};

static void *
race(void *arg)
{
	struct racer *r = arg;
	long age;
	pthread_barrier_wait(&start_line);
	r->status = cache_fetch(cache, "grp:k", 90000, r->store, slow_fetch,
				NULL, &r->out, &age);
	return NULL;
}

/* Run N_THREADS identical fetches at once; count the statuses. */
static void
run_race(struct racer *racers, bool store, int *misses, int *coalesced)
{
	pthread_t threads[N_THREADS];
	ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, N_THREADS), 0);
	for (int i = 0; i < N_THREADS; i++) {
		racers[i] = (struct racer){ .store = store };
		ck_assert_int_eq(pthread_create(&threads[i], NULL, race,
						&racers[i]), 0);
	}
	*misses = *coalesced = 0;
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(threads[i], NULL);
		*misses += racers[i].status == CACHE_MISS;
		*coalesced += racers[i].status == CACHE_COALESCED;
	}
	pthread_barrier_destroy(&start_line);
}

START_TEST(concurrent_misses_make_one_call)
{
	struct racer racers[N_THREADS];
	int misses, coalesced;
	atomic_store(&calls, 0);
	fail_calls = false;
	run_race(racers, true, &misses, &coalesced);
	ck_assert_int_eq(atomic_load(&calls), 1);
	ck_assert_int_eq(misses, 1);
	ck_assert_int_eq(coalesced, N_THREADS - 1);
	for (int i = 0; i < N_THREADS; i++) {
		ck_assert_int_eq(racers[i].out.error, CALL_OK);
		ck_assert_int_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(
					 racers[i].out.result, "call")), 1);
		cJSON_Delete(racers[i].out.result);
	}
	/* Stored: the next request is a hit and calls nothing. */
	struct call_outcome out;
	long age;
	ck_assert_int_eq(cache_fetch(cache, "grp:k", 90000, true, slow_fetch,
				     NULL, &out, &age), CACHE_HIT);
	ck_assert_int_eq(atomic_load(&calls), 1);
	cJSON_Delete(out.result);
}
END_TEST

START_TEST(failure_wakes_all_and_caches_nothing)
{
	struct racer racers[N_THREADS];
	int misses, coalesced;
	atomic_store(&calls, 0);
	fail_calls = true;
	run_race(racers, true, &misses, &coalesced);
	ck_assert_int_eq(atomic_load(&calls), 1);
	ck_assert_int_eq(misses, 1);
	for (int i = 0; i < N_THREADS; i++) {
		ck_assert_int_eq(racers[i].out.error, CALL_UPSTREAM_SERVER_ERROR);
		ck_assert_int_eq(racers[i].out.upstream_status, 503);
		ck_assert_int_eq(racers[i].out.attempts, 3);
		ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
					 racers[i].out.result, "error")), "boom 1");
		cJSON_Delete(racers[i].out.result);
	}
	ck_assert_uint_eq(cache_count(cache), 0);
	/* Nothing remembered: the next request calls again. */
	fail_calls = false;
	struct call_outcome out;
	long age;
	ck_assert_int_eq(cache_fetch(cache, "grp:k", 90000, true, slow_fetch,
				     NULL, &out, &age), CACHE_MISS);
	ck_assert_int_eq(atomic_load(&calls), 2);
	cJSON_Delete(out.result);
}
END_TEST

START_TEST(uncacheable_coalesces_without_storing)
{
	struct racer racers[N_THREADS];
	int misses, coalesced;
	atomic_store(&calls, 0);
	fail_calls = false;
	run_race(racers, false, &misses, &coalesced);
	ck_assert_int_eq(atomic_load(&calls), 1);
	ck_assert_int_eq(coalesced, N_THREADS - 1);
	for (int i = 0; i < N_THREADS; i++)
		cJSON_Delete(racers[i].out.result);
	ck_assert_uint_eq(cache_count(cache), 0);
	struct call_outcome out;
	long age;
	ck_assert_int_eq(cache_fetch(cache, "grp:k", 90000, false, slow_fetch,
				     NULL, &out, &age), CACHE_MISS);
	ck_assert_int_eq(atomic_load(&calls), 2);
	cJSON_Delete(out.result);
}
END_TEST

/* ---- the remote level: an in-memory stand-in for Redis ---- */

#define FAKE_SLOTS 16

struct fake_remote {
	pthread_mutex_t lock;
	bool down;                  /* every call answers -1 */
	char *keys[FAKE_SLOTS];
	char *values[FAKE_SLOTS];
	atomic_int gets, sets, dels;
};

static struct fake_remote fake = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct cache_remote fake_ops;

static int
fake_slot(const char *key)
{
	for (int i = 0; i < FAKE_SLOTS; i++)
		if (fake.keys[i] != NULL && strcmp(fake.keys[i], key) == 0)
			return i;
	return -1;
}

static int
fake_get(void *user, const char *key, char **value)
{
	(void)user;
	atomic_fetch_add(&fake.gets, 1);
	pthread_mutex_lock(&fake.lock);
	int i = fake.down ? -2 : fake_slot(key);
	*value = i >= 0 ? strdup(fake.values[i]) : NULL;
	pthread_mutex_unlock(&fake.lock);
	return i == -2 ? -1 : i >= 0;
}

/* No expiry: the tests never outlive a lifetime. */
static int
fake_set(void *user, const char *key, const char *value, long ttl_ms,
	 bool nx)
{
	(void)user;
	(void)ttl_ms;
	atomic_fetch_add(&fake.sets, 1);
	pthread_mutex_lock(&fake.lock);
	int rc = -1;
	if (!fake.down) {
		int i = fake_slot(key);
		if (i >= 0 && nx) {
			rc = 0;
		} else {
			if (i < 0)
				for (i = 0; fake.keys[i] != NULL; i++)
					;
			free(fake.keys[i]);
			free(fake.values[i]);
			fake.keys[i] = strdup(key);
			fake.values[i] = strdup(value);
			rc = 1;
		}
	}
	pthread_mutex_unlock(&fake.lock);
	return rc;
}

static int
fake_del(void *user, const char *key)
{
	(void)user;
	atomic_fetch_add(&fake.dels, 1);
	pthread_mutex_lock(&fake.lock);
	int i = fake.down ? -2 : fake_slot(key);
	if (i >= 0) {
		free(fake.keys[i]);
		free(fake.values[i]);
		fake.keys[i] = fake.values[i] = NULL;
	}
	pthread_mutex_unlock(&fake.lock);
	return i == -2 ? -1 : 0;
}

static int
fake_exists(void *user, const char *key)
{
	(void)user;
	pthread_mutex_lock(&fake.lock);
	int rc = fake.down ? -1 : fake_slot(key) >= 0;
	pthread_mutex_unlock(&fake.lock);
	return rc;
}

static struct cache *other; /* the second instance */

static struct cache *
open_remote_cache(void)
{
	struct cache_options opts = {
		.max_items = 10, .max_age_ms = 90000, .min_age_ms = 1000,
		.key_group = "grp", .clock = fake_clock, .remote = &fake_ops,
		.coalescing = { .enabled = true, .interval_ms = 20,
				.interval_max_ms = 80, .coefficient = 2,
				.entropy_max_ms = 5, .max_retries = 8,
				.marker_ttl_ms = 10000, .result_ttl_ms = 1000 },
	};
	struct cache *c = cache_new(&opts);
	ck_assert_ptr_nonnull(c);
	return c;
}

static void
remote_setup(void)
{
	fake_ops = (struct cache_remote){ NULL, fake_get, fake_set, fake_del,
					  fake_exists };
	fake.down = false;
	atomic_store(&fake.gets, 0);
	atomic_store(&fake.sets, 0);
	atomic_store(&fake.dels, 0);
	atomic_store(&calls, 0);
	fail_calls = false;
	cache = open_remote_cache();
	other = open_remote_cache();
}

static void
remote_teardown(void)
{
	cache_free(cache);
	cache_free(other);
	cache = other = NULL;
	for (int i = 0; i < FAKE_SLOTS; i++) {
		free(fake.keys[i]);
		free(fake.values[i]);
		fake.keys[i] = fake.values[i] = NULL;
	}
}

static void
quick_fetch(void *user, struct call_outcome *out)
{
	(void)user;
	int n = atomic_fetch_add(&calls, 1) + 1;
	memset(out, 0, sizeof *out);
	if (fail_calls) {
		call_outcome_fail(out, CALL_UPSTREAM_SERVER_ERROR, "boom %d", n);
	} else {
		out->result = cJSON_CreateObject();
		cJSON_AddNumberToObject(out->result, "call", n);
	}
}

/* A fresh outcome is a tree; a hit is the stored text as a Raw item. */
static int
call_number(const struct call_outcome *out)
{
	if (!cJSON_IsRaw(out->result))
		return (int)cJSON_GetNumberValue(
			cJSON_GetObjectItem(out->result, "call"));
	cJSON *tree = cJSON_Parse(out->result->valuestring);
	int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(tree, "call"));
	cJSON_Delete(tree);
	return n;
}

START_TEST(remote_shared_between_instances)
{
	struct call_outcome out;
	long age;
	ck_assert_int_eq(cache_fetch(cache, "grp:k", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_MISS);
	cJSON_Delete(out.result);
	ck_assert(fake_slot("grp:k") >= 0);
	ck_assert_int_eq(fake_slot("inflight:grp:k"), -1);
	/* The other instance: a hit from the remote, kept locally. */
	ck_assert_int_eq(cache_fetch(other, "grp:k", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_HIT);
	ck_assert_int_eq(call_number(&out), 1);
	ck_assert_int_lt(age, 1000);
	cJSON_Delete(out.result);
	ck_assert_uint_eq(cache_count(other), 1);
	int gets = atomic_load(&fake.gets);
	ck_assert_int_eq(cache_fetch(other, "grp:k", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_HIT);
	ck_assert_int_eq(atomic_load(&fake.gets), gets); /* local first */
	cJSON_Delete(out.result);
	ck_assert_int_eq(atomic_load(&calls), 1);
}
END_TEST

START_TEST(remote_entry_keeps_its_age)
{
	char text[128];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	snprintf(text, sizeof text, "{\"t\":%lld,\"v\":{\"call\":7}}",
		 now - 5000);
	ck_assert_int_eq(fake_set(NULL, "grp:old", text, 1000, false), 1);
	struct call_outcome out;
	long age;
	ck_assert_int_eq(cache_fetch(cache, "grp:old", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_HIT);
	ck_assert_int_eq(call_number(&out), 7);
	ck_assert_int_ge(age, 5000);
	ck_assert_int_lt(age, 6000);
	cJSON_Delete(out.result);
	/* Too old for this request's maxAge: a miss that calls upstream. */
	ck_assert_int_eq(cache_fetch(other, "grp:old", 3000, true, quick_fetch,
				     NULL, &out, &age), CACHE_MISS);
	ck_assert_int_eq(call_number(&out), 1);
	cJSON_Delete(out.result);
}
END_TEST

/* Entries another program (or an older version) left under our keys:
 * a "t" beyond int64, before 1970 or an hour ahead is no time of ours.
 * Each is a miss that calls upstream and stores a proper entry over it,
 * never a hit that would live as long as Redis keeps the key. */
START_TEST(remote_entry_with_bad_time_is_a_miss)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	char ahead[128], skewed[128];
	snprintf(ahead, sizeof ahead, "{\"t\":%lld,\"v\":{\"call\":7}}",
		 now + 3600000);
	const char *bad[] = {
		"{\"t\":1e300,\"v\":{\"call\":7}}",
		"{\"t\":-1e300,\"v\":{\"call\":7}}",
		"{\"t\":-5,\"v\":{\"call\":7}}",
		ahead,
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char key[16];
		snprintf(key, sizeof key, "grp:bad%zu", i);
		ck_assert_int_eq(fake_set(NULL, key, bad[i], 1000, false), 1);
		struct call_outcome out;
		long age;
		ck_assert_int_eq(cache_fetch(cache, key, 90000, true, quick_fetch,
					     NULL, &out, &age), CACHE_MISS);
		ck_assert_int_eq(call_number(&out), (int)i + 1);
		cJSON_Delete(out.result);
		/* Replaced by this call's entry: the other instance hits it. */
		ck_assert_int_eq(cache_fetch(other, key, 90000, true, quick_fetch,
					     NULL, &out, &age), CACHE_HIT);
		ck_assert_int_eq(call_number(&out), (int)i + 1);
		cJSON_Delete(out.result);
	}
	/* A host a second ahead is within the clocks' disagreement: a hit,
	 * of age 0. */
	snprintf(skewed, sizeof skewed, "{\"t\":%lld,\"v\":{\"call\":9}}",
		 now + 1000);
	ck_assert_int_eq(fake_set(NULL, "grp:skew", skewed, 1000, false), 1);
	struct call_outcome out;
	long age = -1;
	ck_assert_int_eq(cache_fetch(cache, "grp:skew", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_HIT);
	ck_assert_int_eq(call_number(&out), 9);
	ck_assert_int_eq(age, 0);
	cJSON_Delete(out.result);
}
END_TEST

struct publisher {
	const char *where;          /* where the result lands, or NULL */
	long after_ms;
};

/* Another instance's leader: holds the marker, then publishes its result
 * (if any) and deletes the marker. */
static void *
publish_later(void *arg)
{
	struct publisher *p = arg;
	usleep((useconds_t)p->after_ms * 1000);
	if (p->where != NULL) {
		char text[128];
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(text, sizeof text, "{\"t\":%lld,\"v\":{\"call\":42}}",
			 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		fake_set(NULL, p->where, text, 1000, false);
	}
	fake_del(NULL, "inflight:grp:k");
	return NULL;
}

static enum cache_status
fetch_while_other_leads(const char *where, bool store,
			struct call_outcome *out)
{
	ck_assert_int_eq(fake_set(NULL, "inflight:grp:k", "1", 10000, true), 1);
	struct publisher p = { where, 150 };
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, publish_later, &p), 0);
	long age;
	enum cache_status st = cache_fetch(cache, "grp:k", 90000, store,
					   quick_fetch, NULL, out, &age);
	pthread_join(t, NULL);
	return st;
}

START_TEST(waits_for_other_instance)
{
	struct call_outcome out;
	ck_assert_int_eq(fetch_while_other_leads("grp:k", true, &out),
			 CACHE_COALESCED);
	ck_assert_int_eq(call_number(&out), 42);
	ck_assert_int_eq(atomic_load(&calls), 0);
	cJSON_Delete(out.result);
	ck_assert_uint_eq(cache_count(cache), 1); /* kept locally too */
}
END_TEST

START_TEST(uncached_result_shared_with_waiters)
{
	struct call_outcome out;
	ck_assert_int_eq(fetch_while_other_leads("result:grp:k", false, &out),
			 CACHE_COALESCED);
	ck_assert_int_eq(call_number(&out), 42);
	ck_assert_int_eq(atomic_load(&calls), 0);
	cJSON_Delete(out.result);
	ck_assert_uint_eq(cache_count(cache), 0);
	/* The leader's own result is published for waiters, not stored. */
	ck_assert_int_eq(cache_fetch(other, "grp:u", 90000, false, quick_fetch,
				     NULL, &out, &(long){ 0 }), CACHE_MISS);
	cJSON_Delete(out.result);
	ck_assert(fake_slot("result:grp:u") >= 0);
	ck_assert_int_eq(fake_slot("grp:u"), -1);
}
END_TEST

START_TEST(marker_gone_without_result_proceeds)
{
	struct call_outcome out;
	ck_assert_int_eq(fetch_while_other_leads(NULL, true, &out), CACHE_MISS);
	ck_assert_int_eq(atomic_load(&calls), 1);
	cJSON_Delete(out.result);
	ck_assert_int_eq(fake_slot("inflight:grp:k"), -1);
}
END_TEST

START_TEST(marker_deleted_after_failure)
{
	struct call_outcome out;
	long age;
	fail_calls = true;
	ck_assert_int_eq(cache_fetch(cache, "grp:k", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_MISS);
	ck_assert_int_eq(out.error, CALL_UPSTREAM_SERVER_ERROR);
	cJSON_Delete(out.result);
	ck_assert_int_eq(fake_slot("inflight:grp:k"), -1);
	ck_assert_int_eq(fake_slot("grp:k"), -1);
	ck_assert_int_eq(atomic_load(&fake.dels), 1);
}
END_TEST

START_TEST(gives_up_after_max_retries)
{
	/* A marker nobody deletes: 20+40+80x6 ms of waits (plus entropy),
	 * then the call goes ahead. */
	ck_assert_int_eq(fake_set(NULL, "inflight:grp:k", "1", 10000, true), 1);
	struct call_outcome out;
	long age;
	int64_t t0 = http_now_ms();
	ck_assert_int_eq(cache_fetch(cache, "grp:k", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_MISS);
	int64_t took = http_now_ms() - t0;
	ck_assert_int_ge(took, 540);
	ck_assert_int_lt(took, 2000);
	ck_assert_int_eq(atomic_load(&calls), 1);
	cJSON_Delete(out.result);
	/* Not ours: left for its owner. */
	ck_assert(fake_slot("inflight:grp:k") >= 0);
}
END_TEST

START_TEST(remote_down_falls_back)
{
	fake.down = true;
	struct call_outcome out;
	long age;
	ck_assert_int_eq(cache_fetch(cache, "grp:k", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_MISS);
	cJSON_Delete(out.result);
	ck_assert_int_eq(cache_fetch(cache, "grp:k", 90000, true, quick_fetch,
				     NULL, &out, &age), CACHE_HIT);
	cJSON_Delete(out.result);
	ck_assert_int_eq(atomic_load(&calls), 1);
}
END_TEST

static Suite *
cache_suite(void)
{
	Suite *suite = suite_create("cache");
	TCase *lru = tcase_create("lru");
	tcase_add_checked_fixture(lru, setup, teardown);
	tcase_add_test(lru, evicts_least_recently_used);
	tcase_add_test(lru, entries_expire);
	tcase_add_test(lru, stale_entries_kept_for_get_stale);
	tcase_add_test(lru, fresher_request_misses_but_keeps_entry);
	tcase_add_test(lru, age_not_updated_on_get_by_default);
	tcase_add_test(lru, update_age_on_get);
	tcase_add_test(lru, request_max_age);
	tcase_add_test(lru, negative_default_max_age_bypasses);
	suite_add_tcase(suite, lru);

	TCase *reload = tcase_create("reconfigure");
	tcase_add_checked_fixture(reload, setup, teardown);
	tcase_add_test(reload, reconfigure_shrink_evicts_least_recently_used);
	tcase_add_test(reload, reconfigure_grow_keeps_entries);
	tcase_add_test(reload, reconfigure_lifetimes);
	tcase_add_test(reload, reconfigure_keep_stale);
	tcase_add_test(reload, reconfigure_keys);
	tcase_add_test(reload, reconfigure_under_load);
	suite_add_tcase(suite, reload);

	TCase *keys = tcase_create("keys");
	tcase_add_checked_fixture(keys, setup, teardown);
	tcase_add_test(keys, key_is_group_and_sha1);
	tcase_add_test(keys, key_order_irrelevant);
	tcase_add_test(keys, key_drops_ignored_at_every_depth);
	tcase_add_test(keys, key_drops_configured_props);
	tcase_add_test(keys, key_differs_when_request_differs);
	suite_add_tcase(suite, keys);

	TCase *flights = tcase_create("coalescing");
	tcase_add_checked_fixture(flights, setup, teardown);
	tcase_add_test(flights, concurrent_misses_make_one_call);
	tcase_add_test(flights, failure_wakes_all_and_caches_nothing);
	tcase_add_test(flights, uncacheable_coalesces_without_storing);
	suite_add_tcase(suite, flights);

	TCase *remote = tcase_create("remote");
	tcase_add_checked_fixture(remote, remote_setup, remote_teardown);
	tcase_add_test(remote, remote_shared_between_instances);
	tcase_add_test(remote, remote_entry_keeps_its_age);
	tcase_add_test(remote, remote_entry_with_bad_time_is_a_miss);
	tcase_add_test(remote, waits_for_other_instance);
	tcase_add_test(remote, uncached_result_shared_with_waiters);
	tcase_add_test(remote, marker_gone_without_result_proceeds);
	tcase_add_test(remote, marker_deleted_after_failure);
	tcase_add_test(remote, gives_up_after_max_retries);
	tcase_add_test(remote, remote_down_falls_back);
	suite_add_tcase(suite, remote);
	return suite;
}

int
main(void)
{
	SRunner *sr = srunner_create(cache_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
