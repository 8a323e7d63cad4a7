/* dcproxyd: the host service.  libmicrohttpd in front of the engine, with
 * the local cache, request coalescing and the server rate limit; shared
 * state lives in struct daemon (engine, cache and limiter are thread-safe).
 *
 * Two kinds of thread.  libmicrohttpd's pool (one epoll loop per CPU)
 * reads requests and answers everything that cannot block: cache hits,
 * refusals, /healthz.  A request that would block (an upstream call, a
 * Redis round trip, a slow-down delay) is suspended and handed to the
 * worker pool (workers.h), which grows to DCPROXYD_MAX_CONNECTIONS
 * threads; when its answer is ready the connection resumes and the loop
 * sends it.  So slow upstream calls never stall cached answers, and a
 * cache hit costs no thread switch.  Signals: SIGINT, SIGTERM and SIGHUP
 * are blocked in every thread and taken by sigwait in main, so no handler
 * and no global exist.  SIGHUP swaps the settings and engine as one
 * refcounted generation; each request pins the one it began with (see
 * generation).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cache.h"
#include "daemon_config.h"
#include "daemon_metrics.h"
#include "engine.h"
#include "envelope.h"
#include "http.h"
#include "log.h"
#include "provider_limit.h"
#include "ratelimit.h"
#include "redis.h"
#include "registry.h"
#include "router.h"
#include "warmer.h"
#include "workers.h"

#ifndef DCPROXYD_DEFAULT_CONFIG
#define DCPROXYD_DEFAULT_CONFIG "/etc/dcproxy/dcproxyd.ini"
#endif

/* Longest wait /readyz allows the health operation. */
#define READY_TIMEOUT_MS 5000

/* What SIGHUP replaces as one: the settings and the engine (registry and
 * plugins) built from them.  A request pins the generation current when it
 * begins and runs on it to the end; the last unpin of a replaced generation
 * closes its engine (the generation owns it). */
struct generation {
	const struct daemon_config *config;
	struct engine *engine;
	struct daemon_config own;   /* a reload's settings; config points here
				     * (the first's are main's d->config) */
	long refs;                  /* under daemon.gen_lock; +1 while current */
};

struct daemon {
	struct daemon_config config; /* as at start; see generation */
	struct engine *engine;      /* NULL once the first generation owns it:
				     * requests use req->gen->engine */
	struct cache *cache;
	struct ratelimit *limiter;
	struct provider_limit *provider; /* idle: no capacity known, or off */
	struct warmer *warmer;      /* idle while WARMUP_ENABLED or CACHE_ENABLED is off */
	struct redis_client *redis;     /* CACHE_TYPE=redis, else NULL */
	struct cache_remote remote;     /* the cache's view of redis */
	struct logger logger;
	struct MHD_Daemon *mhd;
	struct workers *workers;    /* run the requests that block */
	struct daemon_metrics *metrics; /* NULL: metrics disabled */
	struct MHD_Daemon *metrics_mhd; /* the METRICS_PORT listener */
	struct generation *gen;     /* the current one, under gen_lock */
	pthread_mutex_t gen_lock;
	pthread_mutex_t ltdl_lock;  /* libltdl is not thread-safe: engines
				     * open and close one at a time */
	const char *config_path;    /* what SIGHUP reads again */
	bool config_required;
	const char *registry_path;
	atomic_bool stopping;       /* SIGTERM seen: ask clients to close */
	atomic_ulong next_request;  /* request id counter */
	pthread_mutex_t active_lock;
	pthread_cond_t idle;        /* active dropped to 0 */
	long active;                /* requests accepted and not yet answered */
};

/* One HTTP request, from its headers to its completion notice. */
struct request {
	struct generation *gen;     /* pinned for the request's life */
	char *body;
	size_t len, cap;
	size_t declared;            /* Content-Length, 0 when not sent */
	bool too_large;
	bool answered;              /* routed already */
	int64_t started;
	double started_s;           /* monotonic, for the latency histogram */
	char id[80];
	cJSON *query;               /* GET arguments (read on the loop's thread) */
	char *query_problem;        /* why an argument cannot be used, or NULL */
	char *key;                  /* the loop's cache key, for the worker */
	/* The answer, built by a route and queued by daemon_access. */
	unsigned status;
	struct MHD_Response *response;
	/* Handed to a worker: what it needs once the callback has returned. */
	struct work work;
	struct daemon *d;
	struct MHD_Connection *conn;
	char *method, *path;
	bool probe_ready;           /* /readyz, not an operation */
	long delay_ms;              /* slow-down to sleep first */
};

/* What a route did with a request. */
enum routed {
	ROUTED,                     /* req->response is the answer */
	ROUTE_BLOCKS,               /* must run on a worker */
	ROUTE_FAILED,               /* out of memory: drop the connection */
};

/* What answering an operation produced, for the headers. */
struct served {
	struct call_outcome out;
	const char *x_cache;        /* HIT, MISS, BYPASS, or STALE: expired,
				     * served as the provider limit was hit */
	bool coalesced;
	long age_ms;
	char *key;                  /* NULL when none was computed */
	long retry_after_s;         /* provider limited: when to come back */
};

struct reply_headers {
	const char *allow;
	long retry_after_s;         /* 0: none */
	const struct served *served;
};

/* ---- generations ---- */

static struct generation *
gen_acquire(struct daemon *d)
{
	pthread_mutex_lock(&d->gen_lock);
	struct generation *g = d->gen;
	g->refs++;
	pthread_mutex_unlock(&d->gen_lock);
	return g;
}

static void
gen_release(struct daemon *d, struct generation *g)
{
	pthread_mutex_lock(&d->gen_lock);
	bool last = --g->refs == 0;
	pthread_mutex_unlock(&d->gen_lock);
	if (!last)
		return;
	pthread_mutex_lock(&d->ltdl_lock);
	engine_close(g->engine);
	pthread_mutex_unlock(&d->ltdl_lock);
	if (g->config == &g->own)
		daemon_config_free(&g->own);
	free(g);
}

/* Seconds on a monotonic clock, finer than http_now_ms: a cache hit
 * takes well under a millisecond. */
static double
monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* LOG_LEVEL, or "debug" when DEBUG is on and LOG_LEVEL was left at its
 * default (a LOG_LEVEL in the environment wins; an empty one, as
 * everywhere in the settings, counts as unset). */
static const char *
effective_log_level(const struct daemon_config *c)
{
	const char *env = getenv("LOG_LEVEL");
	if (c->debug && (env == NULL || env[0] == '\0') &&
	    strcmp(c->log_level, "info") == 0)
		return "debug";
	return c->log_level;
}

/* ---- responses ---- */

/* Build the answer into req->status and req->response; doc is consumed.
 * A Raw doc (a cache hit) is sent as it is. */
static enum routed
reply_json(struct daemon *d, struct request *req, unsigned status,
	   cJSON *doc, const struct reply_headers *h)
{
	char *text;
	if (cJSON_IsRaw(doc)) {
		text = doc->valuestring;
		doc->valuestring = NULL;
	} else {
		text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
	}
	cJSON_Delete(doc);
	if (text == NULL) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		text = strdup(oom);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		if (text == NULL)
			return ROUTE_FAILED;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return ROUTE_FAILED;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	if (h != NULL && h->allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, h->allow);
	char number[32];
	if (h != NULL && h->retry_after_s > 0) {
		snprintf(number, sizeof number, "%ld", h->retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, number);
	}
	if (h != NULL && h->served != NULL) {
		MHD_add_response_header(resp, "X-Cache", h->served->x_cache);
		snprintf(number, sizeof number, "%ld", h->served->age_ms / 1000);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_AGE, number);
	}
	/* Draining: keep-alive clients must reconnect to another instance. */
	if (atomic_load(&d->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	req->status = status;
	req->response = resp;
	return ROUTED;
}

/* Queue what a route built. */
static enum MHD_Result
queue_answer(struct MHD_Connection *conn, struct request *req)
{
	if (req->response == NULL)
		return MHD_NO;
	enum MHD_Result rc = MHD_queue_response(conn, req->status,
						req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	return rc;
}

/* {"error": MESSAGE, "error_kind": KIND}, logged like an operation. */
static enum routed
reply_refusal(struct daemon *d, struct request *req, unsigned status,
	      enum call_error error, const char *kind,
	      const struct reply_headers *h, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static enum routed
reply_refusal(struct daemon *d, struct request *req, unsigned status,
	      enum call_error error, const char *kind,
	      const struct reply_headers *h, const char *fmt, ...)
{
	const struct generation *g = req->gen;
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);

	struct call_outcome out = { 0 };
	call_outcome_fail(&out, error, "%s", text);
	if (kind != NULL && out.result != NULL)
		cJSON_ReplaceItemInObject(out.result, "error_kind",
					  cJSON_CreateString(kind));
	/* Logged here rather than by engine_record: these kinds are the
	 * server's, not the engine's. */
	struct log_scope scope = { &d->logger, req->id, NULL };
	log_at(&scope, DCP_LOG_WARN, "HTTP %u %s: %s", status,
	       kind != NULL ? kind : call_error_name(error), text);
	/* No operation ran: the label is "unknown", never the path. */
	daemon_metrics_request(d->metrics, "unknown",
			       engine_settings(g->engine)->environment,
			       kind != NULL ? kind : call_error_name(error),
			       monotonic_s() - req->started_s);
	return reply_json(d, req, status, out.result, h);
}

/* ---- answering an operation through the cache ---- */

struct fetch_args {
	struct daemon *d;
	struct engine *engine;
	const char *operation;
	const cJSON *params;
	const struct call_context *ctx;
	const char *key;            /* the cache key, or NULL */
	int64_t deadline_ms;        /* the request's API_TIMEOUT */
	bool limited;               /* the provider limit refused the call */
};

#define PROVIDER_LIMITED_KIND "provider_rate_limited"

/* Wait for the provider limit to admit one upstream call: at once when
 * it has room; not at all when a stale entry can answer instead (the
 * caller serves it); else until the request's deadline.  0 when admitted;
 * else -1 with out filled as a 429 (error_kind provider_rate_limited,
 * retry_after_s), a failure, so the cache never stores it. */
static int
provider_wait(struct fetch_args *a, struct call_outcome *out)
{
	struct daemon *d = a->d;
	bool waited = false;
	for (;;) {
		int64_t now = http_now_ms();
		struct provider_verdict v = provider_limit_admit(d->provider, now);
		if (v.allowed) {
			if (waited)
				daemon_metrics_provider_limited(d->metrics, "waited");
			return 0;
		}
		bool stale = false;
		if (a->key != NULL) {
			cJSON *copy = cache_get_stale(d->cache, a->key, NULL);
			stale = copy != NULL;
			cJSON_Delete(copy);
		}
		long left = (long)(a->deadline_ms - now);
		if (stale || left <= 0 || atomic_load(&d->stopping)) {
			struct provider_capacity c =
				provider_limit_capacity(d->provider);
			call_outcome_fail(out, CALL_UPSTREAM_CLIENT_ERROR,
					  "provider rate limit reached (%ld/s, %ld/min, %ld/h): "
					  "retry in %ld ms",
					  c.per_s, c.per_m, c.per_h,
					  v.retry_after_ms);
			out->upstream_status = 429;
			if (out->result != NULL) {
				cJSON_ReplaceItemInObject(out->result, "error_kind",
					cJSON_CreateString(PROVIDER_LIMITED_KIND));
				cJSON_AddNumberToObject(out->result, "retry_after_s",
					(double)((v.retry_after_ms + 999) / 1000));
			}
			a->limited = true;
			return -1;
		}
		waited = true;
		/* Sleep to when a slot frees, a little at a time, so a
		 * draining daemon does not hold the request for long. */
		long nap = v.retry_after_ms < left ? v.retry_after_ms : left;
		if (nap > 250)
			nap = 250;
		struct timespec ts = { nap / 1000, (nap % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static void
fetch_from_engine(void *user, struct call_outcome *out)
{
	struct fetch_args *a = user;
	if (provider_wait(a, out) != 0)
		return;
	engine_call(a->engine, a->operation, a->params, a->ctx, out);
}

/* Whether out is the provider limit's refusal (this request's, or the
 * copy a coalesced request got); *retry_s from it. */
static bool
provider_refused(const struct call_outcome *out, long *retry_s)
{
	if (out->error != CALL_UPSTREAM_CLIENT_ERROR || out->upstream_status != 429)
		return false;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(out->result,
							     "error_kind");
	if (!cJSON_IsString(kind) ||
	    strcmp(kind->valuestring, PROVIDER_LIMITED_KIND) != 0)
		return false;
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(out->result,
							  "retry_after_s");
	*retry_s = cJSON_IsNumber(r) && r->valuedouble >= 1 ? (long)r->valuedouble
							      : 1;
	return true;
}

/* Over the provider's capacity: an expired entry beats a 429 (STALE). */
static void
provider_fallback(struct daemon *d, const struct call_context *ctx,
		  bool cacheable, struct served *s)
{
	long retry_s;
	if (!provider_refused(&s->out, &retry_s))
		return;
	long age = 0;
	cJSON *stale = cacheable && s->key != NULL
			       ? cache_get_stale(d->cache, s->key, &age)
			       : NULL;
	struct log_scope scope = { &d->logger, ctx->request_id, NULL };
	if (stale == NULL) {
		s->retry_after_s = retry_s;
		daemon_metrics_provider_limited(d->metrics, "rejected");
		return;
	}
	log_at(&scope, DCP_LOG_DEBUG,
	       "provider rate limit reached: serving a stale entry %ld ms old",
	       age);
	cJSON_Delete(s->out.result);
	s->out = (struct call_outcome){ .result = stale, .error = CALL_OK };
	s->x_cache = "STALE";
	s->age_ms = age;
	daemon_metrics_provider_limited(d->metrics, "stale");
}

static void
served_clear(struct served *s)
{
	cJSON_Delete(s->out.result);
	free(s->key);
}

/* Served successfully from a cacheable operation: keep it warm.  A stale
 * answer subscribes too: the warmer refreshes it when the provider limit
 * allows. */
static void
keep_warm(struct daemon *d, const struct generation *g,
	  const char *operation, const cJSON *params, long max_age,
	  const struct served *s)
{
	if (s->out.error != CALL_OK)
		return;
	const cJSON *asked = cJSON_GetObjectItemCaseSensitive(params, "maxAge");
	(void)warmer_touch(d->warmer, s->key, operation, params, max_age,
			   asked != NULL && max_age != g->config->cache_max_age_ms);
}

/* Run operation with params: from the cache when it may be cached and is
 * there, else through one engine_call shared by identical concurrent
 * requests (cacheable or not: twenty identical ensure-data make one sync).
 * Unless may_block, only a local cache hit is served: false then means
 * the request must go to a worker, and s holds nothing but the key, left
 * in *key for the worker's turn (which takes it from there). */
static bool
daemon_serve(struct daemon *d, const struct generation *g,
	     const char *operation, const cJSON *params,
	     const struct call_context *ctx, int64_t started, bool may_block,
	     char **key, struct served *s)
{
	const struct reg_operation *op =
		registry_find_operation(engine_registry(g->engine), operation);
	struct fetch_args args = {
		.d = d, .engine = g->engine, .operation = operation,
		.params = params, .ctx = ctx,
		.deadline_ms = started + g->config->api_timeout_ms,
	};
	memset(s, 0, sizeof *s);
	s->x_cache = "BYPASS";

	long max_age = op != NULL ? cache_request_max_age(d->cache, params) : -1;
	bool store = op != NULL && g->config->cache_enabled && op->cache;
	if (!may_block) {
		if (!store || max_age < 0)
			return false;
		s->key = cache_key(d->cache, operation, params);
		s->out.result = s->key != NULL ? cache_get(d->cache, s->key,
							   max_age, &s->age_ms)
					       : NULL;
		if (s->out.result == NULL) {
			*key = s->key;
			memset(s, 0, sizeof *s);
			return false;
		}
		s->x_cache = "HIT";
		keep_warm(d, g, operation, params, max_age, s);
		engine_record(g->engine, operation, ctx, started, &s->out);
		return true;
	}

	char *memo = *key;
	*key = NULL;
	s->key = max_age < 0 ? NULL
		 : memo != NULL ? memo
				: cache_key(d->cache, operation, params);
	if (s->key != memo)
		free(memo);
	if (s->key == NULL) {
		/* Unknown operation, maxAge < 0, or no key: no cache at all. */
		fetch_from_engine(&args, &s->out);
		provider_fallback(d, ctx, false, s);
		if (args.limited)
			engine_record(g->engine, operation, ctx, started, &s->out);
		return true;
	}
	args.key = s->key;
	enum cache_status status = cache_fetch(d->cache, s->key, max_age, store,
					       fetch_from_engine, &args,
					       &s->out, &s->age_ms);
	if (store)
		s->x_cache = cache_status_name(status);
	s->coalesced = status == CACHE_COALESCED;
	provider_fallback(d, ctx, store, s);
	if (store)
		keep_warm(d, g, operation, params, max_age, s);
	/* A hit, a coalesced answer or a limited one ran no engine_call of
	 * its own: log it all the same, one line per request. */
	if (status != CACHE_MISS || args.limited)
		engine_record(g->engine, operation, ctx, started, &s->out);
	return true;
}

/* Prometheus samples for one answered operation.  Labels come from the
 * registry (or "unknown"), never from the caller's text or the cache key. */
static void
observe_served(struct daemon *d, const struct request *req,
	       const char *operation, const struct served *s)
{
	const struct generation *g = req->gen;
	if (d->metrics == NULL)
		return;
	const struct reg_operation *op =
		registry_find_operation(engine_registry(g->engine), operation);
	daemon_metrics_request(d->metrics, op != NULL ? op->name : "unknown",
			       engine_settings(g->engine)->environment,
			       s->retry_after_s > 0 ? PROVIDER_LIMITED_KIND
			       : s->out.error != CALL_OK
				       ? call_error_name(s->out.error)
				       : NULL,
			       monotonic_s() - req->started_s);
	bool hit = strcmp(s->x_cache, "HIT") == 0 ||
		   strcmp(s->x_cache, "STALE") == 0;
	daemon_metrics_cache(d->metrics,
			     hit ? "hit"
			     : s->key == NULL || strcmp(s->x_cache, "BYPASS") == 0
				     ? "bypass"
				     : "miss",
			     (double)s->age_ms / 1000.0);
	if (s->coalesced)
		daemon_metrics_coalesced(d->metrics);
	/* Only the request that ran engine_call counts its upstream call
	 * (a hit or a coalesced copy carries another request's figures). */
	else if (!hit && op != NULL && s->retry_after_s == 0)
		daemon_metrics_upstream(d->metrics, op->service,
					s->out.upstream_status, s->out.attempts,
					(double)s->out.latency_ms / 1000.0);
}

/* With API_VERBOSE or DEBUG, say how the answer was produced: doc, or
 * what replaced it (a hit's Raw text is parsed to take the member). */
static cJSON *
with_meta(const struct generation *g, cJSON *doc, const struct served *s)
{
	if (!(g->config->api_verbose || g->config->debug))
		return doc;
	if (cJSON_IsRaw(doc)) {
		cJSON *tree = cJSON_Parse(doc->valuestring);
		if (tree == NULL)
			return doc;
		cJSON_Delete(doc);
		doc = tree;
	}
	cJSON *meta = cJSON_IsObject(doc) ? cJSON_CreateObject() : NULL;
	if (meta == NULL)
		return doc;
	cJSON_AddStringToObject(meta, "cache", s->x_cache);
	cJSON_AddNumberToObject(meta, "age_ms", (double)s->age_ms);
	cJSON_AddBoolToObject(meta, "coalesced", s->coalesced);
	if (s->key != NULL)
		cJSON_AddStringToObject(meta, "key", s->key);
	cJSON_AddStringToObject(meta, "instance", g->config->uuid);
	cJSON_AddItemToObject(doc, "meta", meta);
	return doc;
}

/* ---- routes ---- */

struct query_read {
	cJSON *params;
	char **problem;
};

/* A decoded argument a JSON string cannot carry as sent: a %00 would cut
 * it short, bytes that are not UTF-8 would make the answer unparsable. */
static bool
query_arg_refused(char **problem, const char *key, size_t key_size,
		  const char *value, size_t value_size)
{
	char why[200];
	if (text_check("name", key, key_size, 0, why, sizeof why) != 0 ||
	    (value != NULL &&
	     text_check("value", value, value_size, 0, why, sizeof why) != 0)) {
		if (*problem == NULL) {
			char text[300];
			/* The name only as far as it is plain ASCII. */
			size_t shown = 0;
			while (shown < key_size && shown < 60 &&
			       (unsigned char)key[shown] >= 0x20 &&
			       (unsigned char)key[shown] < 0x80)
				shown++;
			snprintf(text, sizeof text, "query argument '%.*s': %s",
				 (int)shown, key, why);
			*problem = strdup(text);
		}
		return true;
	}
	return false;
}

static enum MHD_Result
query_to_object(void *cls, enum MHD_ValueKind kind, const char *key,
		size_t key_size, const char *value, size_t value_size)
{
	struct query_read *q = cls;
	cJSON *params = q->params;
	(void)kind;
	if (query_arg_refused(q->problem, key, key_size, value, value_size))
		return MHD_YES;
	cJSON *s = cJSON_CreateString(value != NULL ? value : "");
	if (s == NULL)
		return MHD_YES;
	/* A repeated key: the last one wins, as in most web frameworks. */
	if (cJSON_HasObjectItem(params, key))
		cJSON_ReplaceItemInObjectCaseSensitive(params, key, s);
	else
		cJSON_AddItemToObject(params, key, s);
	return MHD_YES;
}

static enum routed
route_event(struct daemon *d, struct request *req,
	    const struct call_context *ctx, bool may_block)
{
	const struct generation *g = req->gen;
	struct event ev;
	char err[512];
	const char *text = req->body != NULL ? req->body : "";
	if (event_parse(&ev, text, req->len,
			(size_t)engine_settings(g->engine)->max_event_bytes, err,
			sizeof err) != 0) {
		/* The engine reports a malformed event its own way. */
		event_free(&ev);
		cJSON *envelope = engine_invoke_event(g->engine, text, req->len,
						      ctx, NULL);
		daemon_metrics_request(d->metrics, "unknown",
				       engine_settings(g->engine)->environment,
				       call_error_name(CALL_BAD_EVENT),
				       monotonic_s() - req->started_s);
		return reply_json(d, req, MHD_HTTP_OK, envelope, NULL);
	}
	struct served s;
	if (!daemon_serve(d, g, ev.operation, ev.params, ctx, req->started,
			  may_block, &req->key, &s)) {
		event_free(&ev);
		return ROUTE_BLOCKS;
	}
	observe_served(d, req, ev.operation, &s);
	cJSON *envelope = envelope_wrap(ev.operation, s.out.result,
					engine_settings(g->engine)->environment);
	s.out.result = NULL;
	envelope = with_meta(g, envelope, &s);
	struct reply_headers h = { .served = &s,
				   .retry_after_s = s.retry_after_s };
	enum routed rc = reply_json(d, req, MHD_HTTP_OK, envelope, &h);
	event_free(&ev);
	served_clear(&s);
	return rc;
}

static enum routed
route_operation(struct daemon *d, struct request *req,
		const struct reg_operation *op, const char *method,
		const struct call_context *ctx, bool may_block)
{
	const struct generation *g = req->gen;
	cJSON *own = NULL;
	const cJSON *params;
	char why[200];
	if (strcmp(method, "POST") == 0 && req->len > 0) {
		int rc = json_parse_whole("the body", req->body, req->len,
					  &own, why, sizeof why);
		if (rc == 0 && !cJSON_IsObject(own)) {
			snprintf(why, sizeof why,
				 "the body must be a JSON object of params");
			rc = -1;
		}
		if (rc != 0) {
			cJSON_Delete(own);
			return reply_refusal(d, req, MHD_HTTP_BAD_REQUEST,
					     CALL_BAD_EVENT, NULL, NULL, "%s %s: %s",
					     method, op->route, why);
		}
		params = own;
	} else if (req->query_problem != NULL) {
		return reply_refusal(d, req, MHD_HTTP_BAD_REQUEST, CALL_BAD_EVENT,
				     NULL, NULL, "%s %s: %s", method, op->route,
				     req->query_problem);
	} else if (req->query != NULL) {
		params = req->query;
	} else {
		params = own = cJSON_CreateObject();
	}
	if (params == NULL)
		return ROUTE_FAILED;

	struct served s;
	if (!daemon_serve(d, g, op->name, params, ctx, req->started, may_block,
			  &req->key, &s)) {
		cJSON_Delete(own);
		return ROUTE_BLOCKS;
	}
	observe_served(d, req, op->name, &s);
	unsigned status = (unsigned)router_http_status(&s.out);
	cJSON *result = with_meta(g, s.out.result, &s);
	s.out.result = NULL;
	struct reply_headers h = { .served = &s,
				   .retry_after_s = s.retry_after_s };
	enum routed rc = reply_json(d, req, status, result, &h);
	cJSON_Delete(own);
	served_clear(&s);
	return rc;
}

/* /readyz: the registry has operations and health answers. */
static enum routed
route_ready(struct daemon *d, struct request *req,
	    const struct call_context *base_ctx)
{
	const struct generation *g = req->gen;
	const struct registry *reg = engine_registry(g->engine);
	cJSON *doc = cJSON_CreateObject();
	unsigned status = MHD_HTTP_OK;
	if (reg->n_ops == 0 || registry_find_operation(reg, "health") == NULL) {
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		cJSON_AddStringToObject(doc, "status", "not ready");
		cJSON_AddStringToObject(doc, "reason",
					"the registry has no health operation");
	} else {
		long wait = g->config->api_timeout_ms < READY_TIMEOUT_MS
				    ? g->config->api_timeout_ms
				    : READY_TIMEOUT_MS;
		struct call_context ctx = *base_ctx;
		ctx.deadline_ms = http_now_ms() + wait;
		struct call_outcome out;
		engine_call(g->engine, "health", NULL, &ctx, &out);
		if (out.error == CALL_OK) {
			cJSON_AddStringToObject(doc, "status", "ready");
		} else {
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
			cJSON_AddStringToObject(doc, "status", "not ready");
			cJSON_AddStringToObject(doc, "reason",
				cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
					out.result, "error")));
		}
		cJSON_Delete(out.result);
	}
	cJSON_AddNumberToObject(doc, "operations", (double)reg->n_ops);
	return reply_json(d, req, status, doc, NULL);
}

static bool
is_probe(const struct generation *g, const char *path, const char *name)
{
	if (path[0] == '/' && strcmp(path + 1, name) == 0)
		return true;
	size_t n = strlen(g->config->base_url);
	return strncmp(path, g->config->base_url, n) == 0 &&
	       strcmp(path + n, name) == 0;
}

/* BASE_URL itself, with or without its trailing '/'. */
static bool
is_event_path(const struct generation *g, const char *path)
{
	size_t n = strlen(g->config->base_url);
	return strcmp(path, g->config->base_url) == 0 ||
	       (n > 1 && strncmp(path, g->config->base_url, n - 1) == 0 &&
		path[n - 1] == '\0');
}

/* X-API-Key equals DCPROXYD_API_KEY.  Both are hashed first so the
 * comparison takes the same time whatever the length or the first
 * differing byte. */
static bool
api_key_matches(struct MHD_Connection *conn, const char *key)
{
	const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							"X-API-Key");
	unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
	unsigned int na = 0, nb = 0;
	if (given == NULL ||
	    EVP_Digest(given, strlen(given), a, &na, EVP_sha256(), NULL) != 1 ||
	    EVP_Digest(key, strlen(key), b, &nb, EVP_sha256(), NULL) != 1 ||
	    na != nb)
		return false;
	return CRYPTO_memcmp(a, b, na) == 0;
}

static struct call_context
request_context(const struct request *req)
{
	return (struct call_context){
		.request_id = req->id,
		.deadline_ms = req->started + req->gen->config->api_timeout_ms,
	};
}

/* The event route and the registry's routes: the part of routing that a
 * worker runs again when the loop's try would block. */
static enum routed
route_operations(struct daemon *d, struct request *req, const char *method,
		 const char *path, bool may_block)
{
	const struct generation *g = req->gen;
	struct call_context ctx = request_context(req);
	if (is_event_path(g, path)) {
		if (strcmp(method, "POST") != 0)
			return reply_refusal(d, req, MHD_HTTP_METHOD_NOT_ALLOWED,
					     CALL_BAD_EVENT, "method_not_allowed",
					     &(struct reply_headers){ .allow = "POST" },
					     "%s %.200s: POST an event {\"operation\", \"params\"}",
					     method, path);
		return route_event(d, req, &ctx, may_block);
	}

	const struct reg_operation *op;
	switch (router_match(engine_registry(g->engine), g->config->base_url,
			     method, path, &op)) {
	case ROUTE_NOT_FOUND:
		return reply_refusal(d, req, MHD_HTTP_NOT_FOUND,
				     CALL_UNKNOWN_OPERATION, "not_found", NULL,
				     "No route for %s %.200s", method, path);
	case ROUTE_WRONG_METHOD: {
		char allow[ROUTER_ALLOW_LEN];
		router_allowed_methods(engine_registry(g->engine),
				       g->config->base_url, path, allow,
				       sizeof allow);
		return reply_refusal(d, req, MHD_HTTP_METHOD_NOT_ALLOWED,
				     CALL_BAD_EVENT, "method_not_allowed",
				     &(struct reply_headers){ .allow = allow },
				     "%s %.200s: method not allowed, use %s",
				     method, path, allow);
	}
	case ROUTE_FOUND:
		break;
	}
	return route_operation(d, req, op, method, &ctx, may_block);
}

/* Everything up to the operation, on the loop's thread: probes, the API
 * key, the server rate limit, the body limit. */
static enum routed
daemon_route(struct daemon *d, struct MHD_Connection *conn,
	     struct request *req, const char *method, const char *path)
{
	const struct generation *g = req->gen;
	bool get = strcmp(method, "GET") == 0;

	if (is_probe(g, path, "healthz") || is_probe(g, path, "readyz")) {
		if (!get)
			return reply_refusal(d, req, MHD_HTTP_METHOD_NOT_ALLOWED,
					     CALL_BAD_EVENT, "method_not_allowed",
					     &(struct reply_headers){ .allow = "GET, HEAD" },
					     "%s %.200s: use GET", method, path);
		if (is_probe(g, path, "readyz")) {
			req->probe_ready = true; /* calls the upstream */
			return ROUTE_BLOCKS;
		}
		cJSON *doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "status", "alive");
		cJSON_AddStringToObject(doc, "instance", g->config->uuid);
		return reply_json(d, req, MHD_HTTP_OK, doc, NULL);
	}

	if (g->config->api_key[0] != '\0' &&
	    !api_key_matches(conn, g->config->api_key))
		return reply_refusal(d, req, MHD_HTTP_UNAUTHORIZED,
				     CALL_BAD_EVENT, "unauthorized", NULL,
				     "%s %.200s: missing or wrong X-API-Key header",
				     method, path);

	struct ratelimit_verdict v = ratelimit_admit(d->limiter, http_now_ms());
	if (!v.allowed) {
		daemon_metrics_rate_limited(d->metrics);
		return reply_refusal(d, req, MHD_HTTP_TOO_MANY_REQUESTS,
			CALL_BAD_EVENT, "rate_limited",
			&(struct reply_headers){ .retry_after_s = v.retry_after_s },
			"Too many requests: at most %ld per %d s; retry in %ld s",
			g->config->rate_limit_max, RATELIMIT_WINDOW_MS / 1000,
			v.retry_after_s);
	}

	if (req->too_large)
		return reply_refusal(d, req, MHD_HTTP_CONTENT_TOO_LARGE,
				     CALL_BAD_EVENT, "body_too_large", NULL,
				     "request body larger than %ld bytes",
				     g->config->max_body_bytes);

	/* The arguments are read here: a worker must not touch the
	 * connection. */
	if (get) {
		req->query = cJSON_CreateObject();
		if (req->query == NULL)
			return ROUTE_FAILED;
		struct query_read q = { req->query, &req->query_problem };
		MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND,
					    query_to_object, &q);
	}
	if (v.delay_ms > 0) {
		req->delay_ms = v.delay_ms; /* slowed down, on a worker */
		return ROUTE_BLOCKS;
	}
	return route_operations(d, req, method, path, false);
}

static struct request *
work_request(struct work *work)
{
	return (struct request *)((char *)work - offsetof(struct request, work));
}

/* A worker's part: the route again, now allowed to block. */
static void
request_run(struct work *work)
{
	struct request *req = work_request(work);
	struct daemon *d = req->d;
	if (req->probe_ready) {
		struct call_context ctx = request_context(req);
		(void)route_ready(d, req, &ctx);
	} else {
		if (req->delay_ms > 0)
			http_sleep_ms(req->delay_ms);
		(void)route_operations(d, req, req->method, req->path, true);
	}
}

/* The loop takes the connection back and sends the answer.  ROUTE_FAILED
 * left no response: daemon_access then drops the connection. */
static void
request_resume(struct work *work)
{
	MHD_resume_connection(work_request(work)->conn);
}

/* Suspend the connection and queue the request for a worker. */
static enum MHD_Result
request_defer(struct daemon *d, struct MHD_Connection *conn,
	      struct request *req, const char *method, const char *path)
{
	req->d = d;
	req->conn = conn;
	req->method = strdup(method);
	req->path = strdup(path);
	req->work.run = request_run;
	req->work.done = request_resume;
	if (req->method == NULL || req->path == NULL)
		return MHD_NO;
	MHD_suspend_connection(conn);
	if (workers_submit(d->workers, &req->work) != 0) {
		MHD_resume_connection(conn);
		if (reply_refusal(d, req, MHD_HTTP_SERVICE_UNAVAILABLE,
				  CALL_INTERNAL, "overloaded", NULL,
				  "cannot start a worker thread") != ROUTED)
			return MHD_NO;
	}
	return MHD_YES;
}

/* ---- libmicrohttpd callbacks ---- */

static void
request_begin(struct daemon *d, struct MHD_Connection *conn,
	      struct request *req)
{
	const struct generation *g = req->gen;
	req->started = http_now_ms();
	req->started_s = monotonic_s();
	const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							"X-Request-Id");
	if (given != NULL && given[0] != '\0') {
		/* Into every log line and the upstream's headers: visible
		 * ASCII only, so no byte can break the UTF-8 of a line and no
		 * cut can split a character. */
		size_t n = 0;
		for (; given[n] != '\0' && n < 64; n++) {
			unsigned char c = (unsigned char)given[n];
			req->id[n] = c > 0x20 && c < 0x7f ? (char)c : '_';
		}
		req->id[n] = '\0';
	} else
		snprintf(req->id, sizeof req->id, "%.8s-%lu", g->config->uuid,
			 atomic_fetch_add(&d->next_request, 1) + 1);
	pthread_mutex_lock(&d->active_lock);
	d->active++;
	pthread_mutex_unlock(&d->active_lock);
}

static bool
body_append(struct request *req, const char *data, size_t n)
{
	const struct generation *g = req->gen;
	if (req->too_large || req->len + n > (size_t)g->config->max_body_bytes) {
		req->too_large = true; /* read and drop the rest */
		return true;
	}
	if (req->len + n + 1 > req->cap) {
		/* Content-Length, when sent, sizes the buffer at once. */
		size_t cap = req->cap ? req->cap
			     : req->declared > 0 ? req->declared + 1 : 1024;
		while (cap < req->len + n + 1)
			cap *= 2;
		char *grown = realloc(req->body, cap);
		if (grown == NULL)
			return false;
		req->body = grown;
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, n);
	req->len += n;
	req->body[req->len] = '\0';
	return true;
}

static enum MHD_Result
daemon_access(void *cls, struct MHD_Connection *conn, const char *url,
	      const char *method, const char *version, const char *upload,
	      size_t *upload_size, void **con_cls)
{
	struct daemon *d = cls;
	struct request *req = *con_cls;
	(void)version;

	if (req == NULL) {
		req = calloc(1, sizeof *req);
		if (req == NULL)
			return MHD_NO;
		*con_cls = req;
		req->gen = gen_acquire(d);
		request_begin(d, conn, req);
		/* Refuse a declared oversize body before reading it (and
		 * before MHD sends 100 Continue). */
		const char *length = MHD_lookup_connection_value(
			conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		unsigned long long declared =
			length != NULL ? strtoull(length, NULL, 10) : 0;
		if (declared > (unsigned long long)req->gen->config->max_body_bytes) {
			req->too_large = req->answered = true;
			if (reply_refusal(d, req, MHD_HTTP_CONTENT_TOO_LARGE,
					  CALL_BAD_EVENT, "body_too_large", NULL,
					  "request body larger than %ld bytes",
					  req->gen->config->max_body_bytes) != ROUTED)
				return MHD_NO;
			return queue_answer(conn, req);
		}
		req->declared = (size_t)declared;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		bool ok = req->answered || body_append(req, upload, *upload_size);
		*upload_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	if (req->answered) {
		/* Back from a worker: its answer, or none (out of memory). */
		if (req->work.run != NULL)
			return queue_answer(conn, req);
		return MHD_YES; /* queued already: a refused body */
	}
	req->answered = true;
	/* HEAD is GET without the body, which MHD leaves out itself. */
	if (strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
		method = MHD_HTTP_METHOD_GET;
	switch (daemon_route(d, conn, req, method, url)) {
	case ROUTED:
		return queue_answer(conn, req);
	case ROUTE_BLOCKS:
		return request_defer(d, conn, req, method, url);
	case ROUTE_FAILED:
		break;
	}
	return MHD_NO;
}

static void
daemon_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	struct daemon *d = cls;
	struct request *req = *con_cls;
	(void)conn;
	(void)toe;
	if (req == NULL)
		return;
	if (req->gen != NULL)
		gen_release(d, req->gen);
	if (req->response != NULL)
		MHD_destroy_response(req->response);
	cJSON_Delete(req->query);
	free(req->query_problem);
	free(req->key);
	free(req->method);
	free(req->path);
	free(req->body);
	free(req);
	*con_cls = NULL;
	pthread_mutex_lock(&d->active_lock);
	if (--d->active == 0)
		pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->active_lock);
}

static void
daemon_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct daemon *d = cls;
	struct log_scope scope = { &d->logger, NULL, NULL };
	char text[512];
	vsnprintf(text, sizeof text, fmt, ap);
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	log_at(&scope, DCP_LOG_WARN, "http: %s", text);
}

/* ---- life cycle ---- */

/* Resolve EA_HOST and port for a listener, adding MHD_USE_IPv6 to *flags
 * for an IPv6 address.  The caller frees *ai. */
static int
listen_address(const struct daemon *d, long port, unsigned int *flags,
	       struct addrinfo **ai, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	char service[16];
	snprintf(service, sizeof service, "%ld", port);
	int rc = getaddrinfo(d->config.host, service, &hints, ai);
	if (rc != 0) {
		snprintf(err, errlen, "EA_HOST: cannot resolve '%s': %s",
			 d->config.host, gai_strerror(rc));
		return -1;
	}
	if ((*ai)->ai_family == AF_INET6)
		*flags |= MHD_USE_IPv6;
	return 0;
}

/* The CPUs this process may run on (taskset, a cgroup's cpuset, systemd's
 * CPUAffinity): one event loop per online CPU would put two loops on one
 * CPU, and a connection of the loop not running waits a whole time slice. */
static unsigned int
usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned int)CPU_COUNT(&set);
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	return online > 1 ? (unsigned int)online : 1;
}

static int
daemon_listen(struct daemon *d, char *err, size_t errlen)
{
	struct addrinfo *ai;
	/* One event loop per CPU (epoll on Linux); suspend/resume hands the
	 * requests that block to the workers. */
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD |
			     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (listen_address(d, d->config.port, &flags, &ai, err, errlen) != 0)
		return -1;
	d->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, daemon_access, d,
		/* First, or MHD logs the others its own way. */
		MHD_OPTION_EXTERNAL_LOGGER, daemon_mhd_log, d,
		MHD_OPTION_THREAD_POOL_SIZE, usable_cpus(),
		/* Headers of up to about 12 KiB (bodies stream past it).  MHD
		 * clears this much memory before every request: its 32 KiB
		 * default costs a cache hit several percent. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)d->config.connection_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)d->config.max_connections,
		MHD_OPTION_NOTIFY_COMPLETED, daemon_completed, d,
		MHD_OPTION_END);
	freeaddrinfo(ai);
	if (d->mhd == NULL) {
		snprintf(err, errlen, "cannot listen on %s:%ld: %s",
			 d->config.host, d->config.port,
			 errno ? strerror(errno) : "libmicrohttpd refused");
		return -1;
	}
	return 0;
}

/* ---- the Prometheus endpoint ---- */

static enum MHD_Result
metrics_reply(struct MHD_Connection *conn, unsigned status, char *text,
	      const char *allow)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == MHD_HTTP_OK
					? "text/plain; version=0.0.4; charset=utf-8"
					: "text/plain; charset=utf-8");
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Where the metrics are: "/", or BASE_URL with METRICS_USE_BASE_URL, then
 * "metrics". */
static const char *
metrics_base(const struct daemon_config *c)
{
	return c->metrics_use_base_url ? c->base_url : "/";
}

/* GET METRICS_PATH on METRICS_PORT.  A listener of its own: scrapes never
 * meet the server rate limit, the API key or a full connection table. */
static enum MHD_Result
metrics_access(void *cls, struct MHD_Connection *conn, const char *url,
	       const char *method, const char *version, const char *upload,
	       size_t *upload_size, void **con_cls)
{
	struct daemon *d = cls;
	(void)version;
	(void)upload;
	if (*con_cls == NULL) {
		*con_cls = d; /* headers seen; any body comes next */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0; /* a scrape has no body: drop it */
		return MHD_YES;
	}
	char *text = NULL;
	/* The current generation's path: a reload may move it. */
	struct generation *g = gen_acquire(d);
	const char *base = metrics_base(g->config);
	size_t n = strlen(base);
	if (strncmp(url, base, n) != 0 || strcmp(url + n, "metrics") != 0) {
		if ((text = malloc(n + 40)) != NULL)
			snprintf(text, n + 40,
				 "not found: metrics are at %smetrics\n", base);
		gen_release(d, g);
		return text != NULL ? metrics_reply(conn, MHD_HTTP_NOT_FOUND,
						    text, NULL)
				    : MHD_NO;
	}
	gen_release(d, g);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		if ((text = strdup("use GET\n")) == NULL)
			return MHD_NO;
		return metrics_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text,
				     "GET, HEAD");
	}
	if (d->redis != NULL) {
		struct redis_status st = redis_get_status(d->redis);
		daemon_metrics_redis(d->metrics, st.connected, st.failures,
				     st.skipped, st.reconnects);
	}
	struct warmer_stats ws = warmer_get_stats(d->warmer);
	daemon_metrics_warmer(d->metrics, ws.subscriptions, ws.refreshes,
			      ws.failures);
	text = daemon_metrics_render(d->metrics, cache_count(d->cache));
	if (text == NULL)
		return MHD_NO;
	return metrics_reply(conn, MHD_HTTP_OK, text, NULL);
}

/* Listen on EA_HOST:METRICS_PORT; one polling thread is plenty for
 * scrapes, which never block. */
static int
metrics_listen(struct daemon *d, char *err, size_t errlen)
{
	d->metrics = daemon_metrics_new(d->config.metrics_name,
					PACKAGE_VERSION);
	if (d->metrics == NULL ||
	    (d->redis != NULL && daemon_metrics_enable_redis(d->metrics) != 0)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}

	struct addrinfo *ai;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
			     MHD_USE_ERROR_LOG;
	if (listen_address(d, d->config.metrics_port, &flags, &ai, err,
			   errlen) != 0)
		return -1;
	d->metrics_mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, metrics_access, d,
		MHD_OPTION_EXTERNAL_LOGGER, daemon_mhd_log, d,
		MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)d->config.connection_timeout_s,
		MHD_OPTION_END);
	freeaddrinfo(ai);
	if (d->metrics_mhd == NULL) {
		snprintf(err, errlen, "METRICS_PORT: cannot listen on %s:%ld: %s",
			 d->config.host, d->config.metrics_port,
			 errno ? strerror(errno) : "libmicrohttpd refused");
		return -1;
	}
	return 0;
}

/* Stop accepting, let accepted requests finish (never dropping one) for
 * up to API_TIMEOUT.  Returns 0 when all finished. */
static int
daemon_drain(struct daemon *d)
{
	struct log_scope scope = { &d->logger, NULL, NULL };
	atomic_store(&d->stopping, true);
	MHD_socket listener = MHD_quiesce_daemon(d->mhd);
	if (listener != MHD_INVALID_SOCKET)
		close(listener);

	/* The current API_TIMEOUT: a reload may have changed it. */
	pthread_mutex_lock(&d->gen_lock);
	long timeout_ms = d->gen->config->api_timeout_ms;
	pthread_mutex_unlock(&d->gen_lock);
	struct timespec until = http_clock_after(CLOCK_REALTIME, timeout_ms);
	pthread_mutex_lock(&d->active_lock);
	long waiting = d->active;
	log_at(&scope, DCP_LOG_INFO,
	       "stopping: no new connections, %ld request(s) in flight", waiting);
	int rc = 0;
	while (d->active > 0 && rc == 0)
		rc = pthread_cond_timedwait(&d->idle, &d->active_lock, &until);
	long left = d->active;
	pthread_mutex_unlock(&d->active_lock);
	if (left > 0) {
		log_at(&scope, DCP_LOG_ERROR,
		       "stopping: %ld request(s) still running after API_TIMEOUT (%ld ms)",
		       left, timeout_ms);
		return -1;
	}
	return 0;
}

/* With CACHE_TYPE=redis, give the cache its shared second level and
 * cross-instance coalescing.  An unreachable Redis is no reason to refuse
 * to start (it is logged and retried); a bad URL is. */
static int
daemon_redis_setup(struct daemon *d, struct cache_options *copts, char *err,
		   size_t errlen)
{
	const struct daemon_config *c = &d->config;
	struct log_scope scope = { &d->logger, NULL, NULL };
	if (strcmp(c->cache_type, "redis") != 0) {
		if (c->coalescing_enabled)
			log_at(&scope, DCP_LOG_WARN,
			       "REQUEST_COALESCING_ENABLED needs CACHE_TYPE=redis: "
			       "coalescing stays within this instance");
		return 0;
	}
	struct redis_options ro = {
		.url = c->redis_url,
		.path = c->redis_path,
		.host = c->redis_host,
		.port = c->redis_port,
		.password = c->redis_password,
		.timeout_ms = c->redis_timeout_ms,
		.idle_timeout_ms = c->redis_idle_timeout_ms,
		.max_cooldown_ms = c->redis_max_cooldown_ms,
		.max_queued = c->redis_max_queued,
		/* An entry holds an upstream reply (at most
		 * DCPROXY_MAX_RESPONSE_BYTES) as cJSON prints it again,
		 * which can be longer: 1e14 comes back as 15 digits. */
		.max_value_bytes =
			4 * (size_t)engine_settings(d->engine)->max_response_bytes +
			1024,
		.logger = &d->logger,
	};
	d->redis = redis_new(&ro, err, errlen);
	if (d->redis == NULL)
		return -1;
	redis_cache_remote(d->redis, &d->remote);
	copts->remote = &d->remote;
	copts->coalescing = (struct cache_coalescing){
		.enabled = c->coalescing_enabled,
		.interval_ms = c->coalescing_interval_ms,
		.interval_max_ms = c->coalescing_interval_max_ms,
		.coefficient = c->coalescing_coefficient,
		.entropy_max_ms = c->coalescing_entropy_max_ms,
		.max_retries = c->coalescing_max_retries,
		.marker_ttl_ms = c->api_timeout_ms,
		/* Long enough for a waiter's slowest poll to see it. */
		.result_ttl_ms = 2 * c->coalescing_interval_max_ms +
				 c->coalescing_entropy_max_ms + 1000,
	};
	log_at(&scope, DCP_LOG_INFO,
	       "cache: local LRU in front of Redis at %s, cross-instance coalescing %s",
	       redis_describe(d->redis), c->coalescing_enabled ? "on" : "off");
	/* Connect now, so the log says at start whether Redis answers. */
	(void)redis_ping(d->redis);
	return 0;
}

/* RATE_LIMIT_*: the provider's capacity from RATE_LIMIT_CAPACITY, else
 * from the tier in limits.json; *from says which.  None known, or the
 * limit off: all zero (no limit), *from NULL.  -1 with err when the
 * limits file or the tier is bad. */
static int
provider_settings(const struct daemon_config *c,
		  struct provider_capacity *cap, const char **from, char *err,
		  size_t errlen)
{
	memset(cap, 0, sizeof *cap);
	*from = NULL;
	if (!c->rate_limit_enabled)
		return 0;
	if (c->rate_limit_capacity > 0) {
		(void)provider_capacity_derive(0, (double)c->rate_limit_capacity, 0,
					       cap);
		*from = "RATE_LIMIT_CAPACITY";
	} else if (c->rate_limit_tier[0] != '\0') {
		if (provider_limits_load(c->limits_file, c->rate_limit_provider,
					 c->rate_limit_tier, cap, err,
					 errlen) != 0)
			return -1;
		*from = c->limits_file;
	}
	return 0;
}

/* The provider limit's Redis keys: every instance limiting the same
 * provider shares them. */
static void
provider_prefix(const struct daemon_config *c, char *prefix, size_t len)
{
	snprintf(prefix, len, "dcproxy:ratelimit:%s", c->rate_limit_provider);
}

static void
provider_log(struct daemon *d, const struct daemon_config *c,
	     const struct provider_capacity *cap, const char *from)
{
	struct log_scope scope = { &d->logger, NULL, NULL };
	if (from != NULL)
		log_at(&scope, DCP_LOG_INFO,
		       "provider rate limit (%s, from %s): %ld/s, %ld/min, %ld/h, counted %s",
		       c->rate_limit_provider, from, cap->per_s, cap->per_m,
		       cap->per_h,
		       d->redis != NULL ? "in Redis across instances"
					: "in this instance");
	else if (!c->rate_limit_enabled)
		log_at(&scope, DCP_LOG_INFO,
		       "provider rate limit off (RATE_LIMIT_ENABLED): upstream calls unlimited");
	else
		log_at(&scope, DCP_LOG_INFO,
		       "provider rate limit: no capacity known (set RATE_LIMIT_CAPACITY, "
		       "or RATE_LIMIT_API_TIER for %s in %s): upstream calls unlimited",
		       c->rate_limit_provider, c->limits_file);
}

/* The CACHE_* settings a reload applies.  keep_stale: the provider limit
 * is on, and may answer with expired entries. */
static struct cache_options
cache_settings(const struct daemon_config *c, bool keep_stale)
{
	return (struct cache_options){
		.max_items = c->cache_max_items,
		.max_age_ms = c->cache_max_age_ms,
		.min_age_ms = c->cache_min_age_ms,
		.update_age_on_get = c->cache_update_age_on_get,
		.key_group = c->cache_key_group,
		.ignored_props = c->cache_key_ignored,
		.keep_stale = keep_stale,
	};
}

/* The settings part of the warmer's options: WARMUP_*, and as many
 * subscriptions as the cache has entries. */
static struct warmer_options
warmer_settings(const struct daemon_config *c)
{
	return (struct warmer_options){
		.interval_ms = c->warmup_interval_ms,
		.subscription_ttl_ms = c->warmup_sub_ttl_ms,
		.unhealthy_threshold = c->warmup_unhealthy,
		.max_subscriptions = c->cache_max_items,
		.disabled = !(c->warmup_enabled && c->cache_enabled),
	};
}

/* The warmer's refresh, on its thread: one upstream call on the current
 * generation's engine (pinned for the call, so SIGHUP may swap it), never
 * past the provider limit (a full limit skips this round). */
static enum warmer_result
daemon_warm_refresh(void *user, const char *operation, const cJSON *params,
		    long lifetime_ms)
{
	struct daemon *d = user;
	if (!provider_limit_admit(d->provider, http_now_ms()).allowed)
		return WARMER_SKIPPED;
	struct generation *g = gen_acquire(d);
	struct call_context ctx = { .request_id = "warmer" };
	struct call_outcome out = { 0 };
	engine_call(g->engine, operation, params, &ctx, &out);
	enum warmer_result r = WARMER_FAILED;
	char *key = cache_key(d->cache, operation, params);
	if (out.error == CALL_OK && out.result != NULL && key != NULL &&
	    cache_put(d->cache, key, out.result, lifetime_ms) == 0)
		r = WARMER_REFRESHED;
	free(key);
	cJSON_Delete(out.result);
	gen_release(d, g);
	return r;
}

/* Load every plugin of a new engine now, on the main thread under
 * ltdl_lock, so requests never call libltdl while another engine opens or
 * closes.  A plugin that fails disables its operation only, as before. */
static void
engine_preload(struct engine *engine)
{
	const struct registry *reg = engine_registry(engine);
	char err[1024];
	for (size_t i = 0; i < reg->n_ops; i++)
		(void)engine_load_operation(engine, reg->ops[i].name, err,
					    sizeof err);
}

/* What a reload cannot change: the listeners and their limits, and the
 * Redis client with the coalescing it carries, are made once at start.
 * An entry ending in '_' names a family (see daemon_config_changes). */
static const char *const restart_settings[] = {
	"EA_HOST", "EA_PORT", "DCPROXYD_CONNECTION_TIMEOUT",
	"DCPROXYD_MAX_CONNECTIONS", "EXPERIMENTAL_METRICS_ENABLED",
	"METRICS_PORT", "CACHE_TYPE", "CACHE_REDIS_", "REQUEST_COALESCING_",
	NULL,
};

/* An operation whose method and route an earlier one has is out of HTTP's
 * reach: said at start and on reload, as nothing else would show it. */
static void
warn_shadowed_routes(const struct log_scope *scope, const struct registry *reg)
{
	for (size_t i = 0; i < reg->n_ops; i++) {
		const struct reg_operation *op = &reg->ops[i];
		const struct reg_operation *owner = router_route_owner(reg, op);
		if (owner != op)
			log_at(scope, DCP_LOG_WARN,
			       "operation %s: %s %s is %s's route, so %s answers "
			       "events (POST BASE_URL) only",
			       op->name, op->method, op->route, owner->name,
			       op->name);
	}
}

/* Give a reload's settings to what outlives a generation: the limits, the
 * cache, the metrics' name.  -1 when out of memory, perhaps after some of
 * them took theirs. */
static int
daemon_apply(struct daemon *d, const struct daemon_config *c,
	     const struct provider_capacity *cap)
{
	char prefix[256];
	provider_prefix(c, prefix, sizeof prefix);
	struct cache_options co = cache_settings(c, cap->per_m > 0);
	if (ratelimit_set(d->limiter, c->rate_limit_max, c->slow_down_factor,
			  c->slow_down_delay_ms) != 0 ||
	    provider_limit_set(d->provider, cap, prefix) != 0 ||
	    cache_reconfigure(d->cache, &co) != 0 ||
	    daemon_metrics_set_app_name(d->metrics, c->metrics_name) != 0)
		return -1;
	return 0;
}

/* SIGHUP: read the settings file and the registry again and make them
 * current together.  Anything wrong (a bad value, an unreadable registry,
 * a drop-in with an error, a bad limits.json or tier) keeps the running
 * generation and logs why.  Runs on the main thread between sigwaits. */
static void
daemon_reload(struct daemon *d)
{
	struct log_scope scope = { &d->logger, NULL, NULL };
	char err[1024];
	struct generation *g = calloc(1, sizeof *g);
	if (g == NULL) {
		log_at(&scope, DCP_LOG_ERROR,
		       "reload refused, still serving the previous settings: out of memory");
		return;
	}
	if (daemon_config_load(&g->own, d->config_path, d->config_required,
			       err, sizeof err) != 0) {
		log_at(&scope, DCP_LOG_ERROR,
		       "reload refused, still serving the previous settings: %s",
		       err);
		free(g);
		return;
	}
	g->config = &g->own;
	g->refs = 1; /* the daemon's once it is current; else released here */
	struct provider_capacity cap;
	const char *from;
	if (provider_settings(&g->own, &cap, &from, err, sizeof err) != 0) {
		log_at(&scope, DCP_LOG_ERROR,
		       "reload refused, still serving the previous settings: %s",
		       err);
		gen_release(d, g);
		return;
	}
	struct engine_options eopts = {
		.registry = d->registry_path, .log_stream = stderr,
		.log_level = effective_log_level(&g->own),
	};
	pthread_mutex_lock(&d->ltdl_lock);
	g->engine = engine_open(&eopts, err, sizeof err);
	if (g->engine != NULL)
		engine_preload(g->engine);
	pthread_mutex_unlock(&d->ltdl_lock);
	const struct registry *reg =
		g->engine != NULL ? engine_registry(g->engine) : NULL;
	if (g->engine == NULL || reg->n_problems > 0 ||
	    daemon_config_keep_identity(&g->own, &d->config) != 0) {
		log_at(&scope, DCP_LOG_ERROR,
		       "reload refused, still serving the previous registry: %s",
		       g->engine == NULL ? err
		       : reg->n_problems > 0 ? reg->problems[0]
					     : "out of memory");
		gen_release(d, g);
		return;
	}
	struct provider_capacity was = provider_limit_capacity(d->provider);
	if (daemon_apply(d, &g->own, &cap) != 0) {
		log_at(&scope, DCP_LOG_ERROR,
		       "reload refused, still serving the previous registry: out of "
		       "memory (the limits and the cache may have new settings)");
		gen_release(d, g);
		return;
	}
	pthread_mutex_lock(&d->gen_lock);
	struct generation *old = d->gen;
	d->gen = g;
	pthread_mutex_unlock(&d->gen_lock);
	gen_release(d, old);
	enum dcp_log_level level;
	if (log_parse_level(effective_log_level(&g->own), &level) == 0)
		log_set_level(&d->logger, level);
	struct warmer_options wo = warmer_settings(&g->own);
	warmer_reconfigure(d->warmer, &wo);
	if (memcmp(&was, &cap, sizeof cap) != 0)
		provider_log(d, &g->own, &cap, from);
	/* Against the start-up values: those are what still run. */
	char unapplied[1024];
	size_t n = daemon_config_changes(&d->config, &g->own, restart_settings,
					 unapplied, sizeof unapplied);
	warn_shadowed_routes(&scope, reg);
	log_at(&scope, n > 0 ? DCP_LOG_WARN : DCP_LOG_INFO,
	       "reloaded %s and %s: %zu operations%s%s%s",
	       g->own.file != NULL ? g->own.file : "the environment",
	       reg->path, reg->n_ops, n > 0 ? "; " : "", unapplied,
	       n == 0 ? "" : n == 1 ? ": needs a restart" : ": need a restart");
}

/* Settings of the external-adapter framework that dcproxyd has no use for:
 * said once at start, so that setting one is never silently in vain. */
static void
warn_unread_settings(const struct log_scope *scope)
{
	static const char *const unread[][2] = {
		{ "API_ENDPOINT", "the upstream's URL is DATA_COLLECTION_URL (or its "
				  "Cloud Map name)" },
		{ "WS_API_ENDPOINT", "the data-collection service has no websocket API" },
		{ "WS_ENABLED", "the data-collection service has no websocket API" },
	};
	for (size_t i = 0; i < sizeof unread / sizeof unread[0]; i++) {
		const char *v = getenv(unread[i][0]);
		if (v != NULL && v[0] != '\0' && strcmp(v, "false") != 0)
			log_at(scope, DCP_LOG_WARN, "%s is set but not read: %s",
			       unread[i][0], unread[i][1]);
	}
}

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: dcproxyd [OPTIONS]\n"
		"\n"
		"Serve dcproxy operations over HTTP, with a cache, request\n"
		"coalescing and a rate limit.\n"
		"\n"
		"Options:\n"
		"  -c, --config PATH    settings file (default %s)\n"
		"  -r, --registry PATH  operation registry (overrides DCPROXY_REGISTRY)\n"
		"      --print-config   print every effective setting and its source\n"
		"  -h, --help           show this help\n"
		"  -V, --version        show the version\n"
		"\n"
		"Settings ([dcproxyd] keys in the file; the same names in the\n"
		"environment win):\n",
		DCPROXYD_DEFAULT_CONFIG);
	daemon_config_print_help(out);
	fprintf(out,
		"\nThe engine's variables (DATA_COLLECTION_URL, REQUEST_TIMEOUT,\n"
		"MAX_RETRIES, ...) come from the environment: see dcproxy --help.\n"
		"Routes: POST BASE_URL (an event), GET|POST BASE_URL + each\n"
		"registry route, GET /healthz and GET /readyz (at the root and\n"
		"under BASE_URL); GET /metrics on METRICS_PORT with\n"
		"EXPERIMENTAL_METRICS_ENABLED.  SIGHUP reloads the settings file\n"
		"and the registry (a bad one is refused).\n");
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "registry", required_argument, NULL, 'r' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *registry = NULL;
	bool print_config = false;
	int opt;
	if (log_guard_stdio() != 0) {
		fprintf(stderr, "dcproxyd: cannot open /dev/null: %s\n",
			strerror(errno));
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "c:r:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'r':
			registry = optarg;
			break;
		case 'P':
			print_config = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("dcproxyd (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'dcproxyd --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dcproxyd: unexpected argument '%s'. "
			"Try 'dcproxyd --help'.\n", argv[optind]);
		return 2;
	}

	struct daemon *d = calloc(1, sizeof *d);
	char err[1024];
	if (d == NULL)
		return 1;
	if (daemon_config_load(&d->config,
			       config_path ? config_path : DCPROXYD_DEFAULT_CONFIG,
			       config_path != NULL, err, sizeof err) != 0) {
		fprintf(stderr, "dcproxyd: %s\n", err);
		free(d);
		return 1;
	}
	d->config_path = config_path ? config_path : DCPROXYD_DEFAULT_CONFIG;
	d->config_required = config_path != NULL;
	d->registry_path = registry;
	if (print_config) {
		daemon_config_print(&d->config, stdout);
		daemon_config_free(&d->config);
		free(d);
		return 0;
	}

	log_parse_level(effective_log_level(&d->config), &d->logger.level);
	d->logger.out = stderr;
	struct log_scope scope = { &d->logger, NULL, NULL };

#ifdef M_ARENA_MAX
	/* Cache entries are allocated on whichever thread fetched them.  With
	 * glibc's default of up to eight arenas per CPU, each keeps its own
	 * free space, and a burst of misses leaves megabytes stranded. */
	mallopt(M_ARENA_MAX, 2);
#endif
	warn_unread_settings(&scope);

	/* Blocked before any thread starts, so only sigwait sees them; reset
	 * first, as a shell starts background jobs with SIGINT ignored. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	int status = 1;
	struct engine_options eopts = {
		.registry = registry, .log_stream = stderr,
		.log_level = effective_log_level(&d->config),
	};
	pthread_mutex_init(&d->active_lock, NULL);
	pthread_cond_init(&d->idle, NULL);
	pthread_mutex_init(&d->gen_lock, NULL);
	pthread_mutex_init(&d->ltdl_lock, NULL);
	d->engine = engine_open(&eopts, err, sizeof err);
	if (d->engine == NULL) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: %s", err);
		goto out;
	}
	engine_preload(d->engine);
	/* The first generation: the start-up settings (main frees them) and
	 * the engine (the generation closes it). */
	d->gen = calloc(1, sizeof *d->gen);
	if (d->gen == NULL) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: out of memory");
		goto out;
	}
	*d->gen = (struct generation){ .config = &d->config,
				       .engine = d->engine, .refs = 1 };
	struct provider_capacity cap;
	const char *from;
	if (provider_settings(&d->config, &cap, &from, err, sizeof err) != 0) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: %s", err);
		goto out;
	}
	struct cache_options copts = cache_settings(&d->config, cap.per_m > 0);
	if (daemon_redis_setup(d, &copts, err, sizeof err) != 0) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: %s", err);
		goto out;
	}
	/* Made even without a limit (idle), so that a reload can set one. */
	char prefix[256];
	provider_prefix(&d->config, prefix, sizeof prefix);
	d->provider = provider_limit_new(&cap, d->redis, prefix);
	d->cache = cache_new(&copts);
	d->limiter = ratelimit_new(d->config.rate_limit_max,
				   d->config.slow_down_factor,
				   d->config.slow_down_delay_ms);
	if (d->provider == NULL || d->cache == NULL || d->limiter == NULL) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: out of memory");
		goto out;
	}
	provider_log(d, &d->config, &cap, from);
	/* Made even when off, so that a reload can turn it on. */
	struct warmer_options wo = warmer_settings(&d->config);
	wo.refresh = daemon_warm_refresh;
	wo.user = d;
	d->warmer = warmer_new(&wo);
	if (d->warmer == NULL || warmer_start(d->warmer) != 0) {
		log_at(&scope, DCP_LOG_ERROR,
		       "cannot start: the cache warmer: out of memory");
		goto out;
	}
	if (d->config.metrics_enabled) {
		if (metrics_listen(d, err, sizeof err) != 0) {
			log_at(&scope, DCP_LOG_ERROR, "cannot start: %s", err);
			goto out;
		}
		const union MHD_DaemonInfo *minfo = MHD_get_daemon_info(
			d->metrics_mhd, MHD_DAEMON_INFO_BIND_PORT);
		log_at(&scope, DCP_LOG_INFO, "metrics on %s port %u at %smetrics",
		       d->config.host, minfo != NULL ? (unsigned)minfo->port : 0u,
		       metrics_base(&d->config));
	}
	/* Idle workers end after a few seconds: a burst's threads do not
	 * outlive it, and starting one costs far less than an upstream call. */
	d->workers = workers_new((size_t)d->config.max_connections, 5000);
	if (d->workers == NULL) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: out of memory");
		goto out;
	}
	if (daemon_listen(d, err, sizeof err) != 0) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: %s", err);
		goto out;
	}
	warn_shadowed_routes(&scope, engine_registry(d->engine));
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	log_at(&scope, DCP_LOG_INFO,
	       "listening on %s port %u, base %s, instance %s, %zu operations",
	       d->config.host, info != NULL ? (unsigned)info->port : 0u,
	       d->config.base_url, d->config.uuid,
	       engine_registry(d->engine)->n_ops);

	d->engine = NULL; /* the generation's now; SIGHUP may replace it */

	int sig = 0;
	for (;;) {
		while (sigwait(&stop, &sig) != 0)
			;
		if (sig != SIGHUP)
			break;
		log_at(&scope, DCP_LOG_INFO, "SIGHUP: reloading");
		daemon_reload(d);
	}
	log_at(&scope, DCP_LOG_INFO, "signal %d received", sig);
	if (daemon_drain(d) == 0) {
		MHD_stop_daemon(d->mhd);
		status = 0;
		log_at(&scope, DCP_LOG_INFO, "stopped");
	} else {
		/* Threads still hold engine calls: leave without freeing what
		 * they use. */
		return 1;
	}
out:
	/* Every request has finished: the workers are idle or gone. */
	workers_free(d->workers);
	/* Before the cache and the generation its refreshes use. */
	warmer_free(d->warmer);
	if (d->metrics_mhd != NULL)
		MHD_stop_daemon(d->metrics_mhd);
	daemon_metrics_free(d->metrics);
	ratelimit_free(d->limiter);
	cache_free(d->cache);
	provider_limit_free(d->provider);
	redis_free(d->redis);
	if (d->gen != NULL)
		gen_release(d, d->gen); /* the last reference: closes its engine */
	else
		engine_close(d->engine);
	pthread_mutex_destroy(&d->ltdl_lock);
	pthread_mutex_destroy(&d->gen_lock);
	pthread_cond_destroy(&d->idle);
	pthread_mutex_destroy(&d->active_lock);
	daemon_config_free(&d->config);
	free(d);
	return status;
}
