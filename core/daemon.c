/* dcproxyd: the host service.  libmicrohttpd in thread-per-connection mode
 * in front of the engine, with the local cache, request coalescing and the
 * server rate limit.  Every request runs on its connection's thread; shared
 * state lives in struct daemon (engine, cache and limiter are thread-safe).
 *
 * Thread per connection, not a pool: an upstream call blocks its thread for
 * up to API_TIMEOUT (retries included), and a pool of N threads would let N
 * slow calls stall every cached answer behind them.  DCPROXYD_MAX_CONNECTIONS
 * bounds the threads.  Signals: SIGINT and SIGTERM are blocked in every
 * thread and taken by sigwait in main, so no handler and no global exist.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "cache.h"
#include "daemon_config.h"
#include "engine.h"
#include "envelope.h"
#include "http.h"
#include "log.h"
#include "ratelimit.h"
#include "registry.h"
#include "router.h"

#ifndef DCPROXYD_DEFAULT_CONFIG
#define DCPROXYD_DEFAULT_CONFIG "/etc/dcproxy/dcproxyd.ini"
#endif

/* Longest wait /readyz allows the health operation. */
#define READY_TIMEOUT_MS 5000

struct daemon {
	struct daemon_config config;
	struct engine *engine;
	struct cache *cache;
	struct ratelimit *limiter;
	struct logger logger;
	struct MHD_Daemon *mhd;
	atomic_bool stopping;       /* SIGTERM seen: ask clients to close */
	atomic_ulong next_request;  /* request id counter */
	pthread_mutex_t active_lock;
	pthread_cond_t idle;        /* active dropped to 0 */
	long active;                /* requests accepted and not yet answered */
};

/* One HTTP request, from its headers to its completion notice. */
struct request {
	char *body;
	size_t len, cap;
	bool too_large;
	bool answered;              /* a response is queued already */
	int64_t started;
	char id[80];
};

/* What answering an operation produced, for the headers. */
struct served {
	struct call_outcome out;
	const char *x_cache;        /* HIT, MISS or BYPASS */
	bool coalesced;
	long age_ms;
	char *key;                  /* NULL when none was computed */
};

struct reply_headers {
	const char *allow;
	long retry_after_s;         /* 0: none */
	const struct served *served;
};

/* ---- responses ---- */

static enum MHD_Result
reply_json(struct daemon *d, struct MHD_Connection *conn, unsigned status,
	   cJSON *doc, const struct reply_headers *h)
{
	char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	if (text == NULL) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		text = strdup(oom);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		if (text == NULL)
			return MHD_NO;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return MHD_NO;
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
	enum MHD_Result rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* {"error": MESSAGE, "error_kind": KIND}, logged like an operation. */
static enum MHD_Result
reply_refusal(struct daemon *d, struct MHD_Connection *conn,
	      struct request *req, unsigned status, enum call_error error,
	      const char *kind, const struct reply_headers *h,
	      const char *fmt, ...) __attribute__((format(printf, 8, 9)));

static enum MHD_Result
reply_refusal(struct daemon *d, struct MHD_Connection *conn,
	      struct request *req, unsigned status, enum call_error error,
	      const char *kind, const struct reply_headers *h,
	      const char *fmt, ...)
{
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
	return reply_json(d, conn, status, out.result, h);
}

/* ---- answering an operation through the cache ---- */

struct fetch_args {
	struct engine *engine;
	const char *operation;
	const cJSON *params;
	const struct call_context *ctx;
};

static void
fetch_from_engine(void *user, struct call_outcome *out)
{
	struct fetch_args *a = user;
	engine_call(a->engine, a->operation, a->params, a->ctx, out);
}

/* Run operation with params: from the cache when it may be cached and is
 * there, else through one engine_call shared by identical concurrent
 * requests (cacheable or not: twenty identical ensure-data make one sync). */
static void
daemon_serve(struct daemon *d, const char *operation, const cJSON *params,
	     const struct call_context *ctx, int64_t started,
	     struct served *s)
{
	const struct reg_operation *op =
		registry_find_operation(engine_registry(d->engine), operation);
	struct fetch_args args = { d->engine, operation, params, ctx };
	memset(s, 0, sizeof *s);
	s->x_cache = "BYPASS";

	long max_age = op != NULL ? cache_request_max_age(d->cache, params) : -1;
	s->key = max_age >= 0 ? cache_key(d->cache, operation, params) : NULL;
	if (s->key == NULL) {
		/* Unknown operation, maxAge < 0, or no key: no cache at all. */
		fetch_from_engine(&args, &s->out);
		return;
	}
	bool store = d->config.cache_enabled && op->cache;
	enum cache_status status = cache_fetch(d->cache, s->key, max_age, store,
					       fetch_from_engine, &args,
					       &s->out, &s->age_ms);
	if (store)
		s->x_cache = cache_status_name(status);
	s->coalesced = status == CACHE_COALESCED;
	/* A hit or a coalesced answer ran no engine_call of its own: log it
	 * all the same, one line per request. */
	if (status != CACHE_MISS)
		engine_record(d->engine, operation, ctx, started, &s->out);
}

static void
served_clear(struct served *s)
{
	cJSON_Delete(s->out.result);
	free(s->key);
}

/* With API_VERBOSE or DEBUG, say how the answer was produced. */
static void
add_meta(const struct daemon *d, cJSON *doc, const struct served *s)
{
	if (!(d->config.api_verbose || d->config.debug) || !cJSON_IsObject(doc))
		return;
	cJSON *meta = cJSON_CreateObject();
	if (meta == NULL)
		return;
	cJSON_AddStringToObject(meta, "cache", s->x_cache);
	cJSON_AddNumberToObject(meta, "age_ms", (double)s->age_ms);
	cJSON_AddBoolToObject(meta, "coalesced", s->coalesced);
	if (s->key != NULL)
		cJSON_AddStringToObject(meta, "key", s->key);
	cJSON_AddStringToObject(meta, "instance", d->config.uuid);
	cJSON_AddItemToObject(doc, "meta", meta);
}

/* ---- routes ---- */

static enum MHD_Result
query_to_object(void *cls, enum MHD_ValueKind kind, const char *key,
		const char *value)
{
	cJSON *params = cls;
	(void)kind;
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

static enum MHD_Result
route_event(struct daemon *d, struct MHD_Connection *conn,
	    struct request *req, const struct call_context *ctx)
{
	struct event ev;
	char err[512];
	const char *text = req->body != NULL ? req->body : "";
	if (event_parse(&ev, text, req->len,
			(size_t)engine_settings(d->engine)->max_event_bytes, err,
			sizeof err) != 0) {
		/* The engine reports a malformed event its own way. */
		event_free(&ev);
		cJSON *envelope = engine_invoke_event(d->engine, text, req->len,
						      ctx, NULL);
		return reply_json(d, conn, MHD_HTTP_OK, envelope, NULL);
	}
	struct served s;
	daemon_serve(d, ev.operation, ev.params, ctx, req->started, &s);
	cJSON *envelope = envelope_wrap(ev.operation, s.out.result,
					engine_settings(d->engine)->environment);
	s.out.result = NULL;
	add_meta(d, envelope, &s);
	struct reply_headers h = { .served = &s };
	enum MHD_Result rc = reply_json(d, conn, MHD_HTTP_OK, envelope, &h);
	event_free(&ev);
	served_clear(&s);
	return rc;
}

static enum MHD_Result
route_operation(struct daemon *d, struct MHD_Connection *conn,
		struct request *req, const struct reg_operation *op,
		const char *method, const struct call_context *ctx)
{
	cJSON *params;
	if (strcmp(method, "POST") == 0 && req->len > 0) {
		params = cJSON_ParseWithLength(req->body, req->len);
		if (!cJSON_IsObject(params)) {
			cJSON_Delete(params);
			return reply_refusal(d, conn, req, MHD_HTTP_BAD_REQUEST,
					     CALL_BAD_EVENT, NULL, NULL,
					     "%s %s: the body must be a JSON object of params",
					     method, op->route);
		}
	} else {
		params = cJSON_CreateObject();
		if (params != NULL && strcmp(method, "GET") == 0)
			MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND,
						  query_to_object, params);
	}
	if (params == NULL)
		return MHD_NO;

	struct served s;
	daemon_serve(d, op->name, params, ctx, req->started, &s);
	unsigned status = (unsigned)router_http_status(&s.out);
	cJSON *result = s.out.result;
	s.out.result = NULL;
	add_meta(d, result, &s);
	struct reply_headers h = { .served = &s };
	enum MHD_Result rc = reply_json(d, conn, status, result, &h);
	cJSON_Delete(params);
	served_clear(&s);
	return rc;
}

/* /readyz: the registry has operations and health answers. */
static enum MHD_Result
route_ready(struct daemon *d, struct MHD_Connection *conn,
	    const struct call_context *base_ctx)
{
	const struct registry *reg = engine_registry(d->engine);
	cJSON *doc = cJSON_CreateObject();
	unsigned status = MHD_HTTP_OK;
	if (reg->n_ops == 0 || registry_find_operation(reg, "health") == NULL) {
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		cJSON_AddStringToObject(doc, "status", "not ready");
		cJSON_AddStringToObject(doc, "reason",
					"the registry has no health operation");
	} else {
		long wait = d->config.api_timeout_ms < READY_TIMEOUT_MS
				    ? d->config.api_timeout_ms
				    : READY_TIMEOUT_MS;
		struct call_context ctx = *base_ctx;
		ctx.deadline_ms = http_now_ms() + wait;
		struct call_outcome out;
		engine_call(d->engine, "health", NULL, &ctx, &out);
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
	return reply_json(d, conn, status, doc, NULL);
}

static bool
is_probe(const struct daemon *d, const char *path, const char *name)
{
	if (path[0] == '/' && strcmp(path + 1, name) == 0)
		return true;
	size_t n = strlen(d->config.base_url);
	return strncmp(path, d->config.base_url, n) == 0 &&
	       strcmp(path + n, name) == 0;
}

/* BASE_URL itself, with or without its trailing '/'. */
static bool
is_event_path(const struct daemon *d, const char *path)
{
	size_t n = strlen(d->config.base_url);
	return strcmp(path, d->config.base_url) == 0 ||
	       (n > 1 && strncmp(path, d->config.base_url, n - 1) == 0 &&
		path[n - 1] == '\0');
}

static enum MHD_Result
daemon_route(struct daemon *d, struct MHD_Connection *conn,
	     struct request *req, const char *method, const char *path)
{
	struct call_context ctx = { .request_id = req->id,
				    .deadline_ms = req->started +
						   d->config.api_timeout_ms };
	bool get = strcmp(method, "GET") == 0;

	if (is_probe(d, path, "healthz") || is_probe(d, path, "readyz")) {
		if (!get)
			return reply_refusal(d, conn, req,
					     MHD_HTTP_METHOD_NOT_ALLOWED,
					     CALL_BAD_EVENT, "method_not_allowed",
					     &(struct reply_headers){ .allow = "GET" },
					     "%s %.200s: use GET", method, path);
		if (strstr(path, "readyz") != NULL)
			return route_ready(d, conn, &ctx);
		cJSON *doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "status", "alive");
		cJSON_AddStringToObject(doc, "instance", d->config.uuid);
		return reply_json(d, conn, MHD_HTTP_OK, doc, NULL);
	}

	struct ratelimit_verdict v = ratelimit_admit(d->limiter, http_now_ms());
	if (!v.allowed)
		return reply_refusal(d, conn, req, MHD_HTTP_TOO_MANY_REQUESTS,
				     CALL_BAD_EVENT, "rate_limited",
				     &(struct reply_headers){ .retry_after_s =
								      v.retry_after_s },
				     "Too many requests: at most %ld per %d s; retry in %ld s",
				     d->config.rate_limit_max,
				     RATELIMIT_WINDOW_MS / 1000, v.retry_after_s);
	if (v.delay_ms > 0)
		http_sleep_ms(v.delay_ms);

	if (req->too_large)
		return reply_refusal(d, conn, req, MHD_HTTP_CONTENT_TOO_LARGE,
				     CALL_BAD_EVENT, "body_too_large", NULL,
				     "request body larger than %ld bytes",
				     d->config.max_body_bytes);

	if (is_event_path(d, path)) {
		if (strcmp(method, "POST") != 0)
			return reply_refusal(d, conn, req,
					     MHD_HTTP_METHOD_NOT_ALLOWED,
					     CALL_BAD_EVENT, "method_not_allowed",
					     &(struct reply_headers){ .allow = "POST" },
					     "%s %.200s: POST an event {\"operation\", \"params\"}",
					     method, path);
		return route_event(d, conn, req, &ctx);
	}

	const struct reg_operation *op;
	switch (router_match(engine_registry(d->engine), d->config.base_url,
			     method, path, &op)) {
	case ROUTE_NOT_FOUND:
		return reply_refusal(d, conn, req, MHD_HTTP_NOT_FOUND,
				     CALL_UNKNOWN_OPERATION, "not_found", NULL,
				     "No route for %s %.200s", method, path);
	case ROUTE_WRONG_METHOD:
		return reply_refusal(d, conn, req, MHD_HTTP_METHOD_NOT_ALLOWED,
				     CALL_BAD_EVENT, "method_not_allowed",
				     &(struct reply_headers){ .allow = op->method },
				     "%s %.200s: method not allowed, use %s",
				     method, path, op->method);
	case ROUTE_FOUND:
		break;
	}
	return route_operation(d, conn, req, op, method, &ctx);
}

/* ---- libmicrohttpd callbacks ---- */

static void
request_begin(struct daemon *d, struct MHD_Connection *conn,
	      struct request *req)
{
	req->started = http_now_ms();
	const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							"X-Request-Id");
	if (given != NULL && given[0] != '\0')
		snprintf(req->id, sizeof req->id, "%.64s", given);
	else
		snprintf(req->id, sizeof req->id, "%.8s-%lu", d->config.uuid,
			 atomic_fetch_add(&d->next_request, 1) + 1);
	pthread_mutex_lock(&d->active_lock);
	d->active++;
	pthread_mutex_unlock(&d->active_lock);
}

static bool
body_append(struct daemon *d, struct request *req, const char *data,
	    size_t n)
{
	if (req->too_large || req->len + n > (size_t)d->config.max_body_bytes) {
		req->too_large = true; /* read and drop the rest */
		return true;
	}
	if (req->len + n + 1 > req->cap) {
		size_t cap = req->cap ? req->cap : 4096;
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
		request_begin(d, conn, req);
		/* Refuse a declared oversize body before reading it (and
		 * before MHD sends 100 Continue). */
		const char *length = MHD_lookup_connection_value(
			conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (length != NULL &&
		    strtoull(length, NULL, 10) > (unsigned long long)d->config.max_body_bytes) {
			req->too_large = req->answered = true;
			return reply_refusal(d, conn, req,
					     MHD_HTTP_CONTENT_TOO_LARGE,
					     CALL_BAD_EVENT, "body_too_large",
					     NULL,
					     "request body larger than %ld bytes",
					     d->config.max_body_bytes);
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		bool ok = req->answered || body_append(d, req, upload, *upload_size);
		*upload_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	if (req->answered)
		return MHD_YES;
	req->answered = true;
	return daemon_route(d, conn, req, method, url);
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

static int
daemon_listen(struct daemon *d, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	char port[16];
	snprintf(port, sizeof port, "%ld", d->config.port);
	int rc = getaddrinfo(d->config.host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "EA_HOST: cannot resolve '%s': %s",
			 d->config.host, gai_strerror(rc));
		return -1;
	}
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
			     MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, daemon_access, d,
		/* First, or MHD logs the others its own way. */
		MHD_OPTION_EXTERNAL_LOGGER, daemon_mhd_log, d,
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

	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += d->config.api_timeout_ms / 1000;
	until.tv_nsec += (d->config.api_timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
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
		       left, d->config.api_timeout_ms);
		return -1;
	}
	return 0;
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
		"registry route, GET /healthz, GET /readyz.\n");
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
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dcproxyd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
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
	if (print_config) {
		daemon_config_print(&d->config, stdout);
		daemon_config_free(&d->config);
		free(d);
		return 0;
	}

	/* The engine reads LOG_LEVEL from the environment; hand it the
	 * effective level (file, env, or DEBUG's "debug") before any thread
	 * exists, so both log the same way. */
	const char *level = d->config.log_level;
	if (d->config.debug && getenv("LOG_LEVEL") == NULL &&
	    strcmp(level, "info") == 0)
		level = "debug";
	setenv("LOG_LEVEL", level, 1);
	log_parse_level(level, &d->logger.level);
	d->logger.out = stderr;
	struct log_scope scope = { &d->logger, NULL, NULL };

	/* Blocked before any thread starts, so only sigwait sees them; reset
	 * first, as a shell starts background jobs with SIGINT ignored. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	int status = 1;
	struct engine_options eopts = { .registry = registry,
					.log_stream = stderr };
	struct cache_options copts = {
		.max_items = d->config.cache_max_items,
		.max_age_ms = d->config.cache_max_age_ms,
		.min_age_ms = d->config.cache_min_age_ms,
		.update_age_on_get = d->config.cache_update_age_on_get,
		.key_group = d->config.cache_key_group,
		.ignored_props = d->config.cache_key_ignored,
	};
	pthread_mutex_init(&d->active_lock, NULL);
	pthread_cond_init(&d->idle, NULL);
	d->engine = engine_open(&eopts, err, sizeof err);
	if (d->engine == NULL) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: %s", err);
		goto out;
	}
	d->cache = cache_new(&copts);
	d->limiter = ratelimit_new(d->config.rate_limit_max,
				   d->config.slow_down_factor,
				   d->config.slow_down_delay_ms);
	if (d->cache == NULL || d->limiter == NULL) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: out of memory");
		goto out;
	}
	if (daemon_listen(d, err, sizeof err) != 0) {
		log_at(&scope, DCP_LOG_ERROR, "cannot start: %s", err);
		goto out;
	}
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
	log_at(&scope, DCP_LOG_INFO,
	       "listening on %s port %u, base %s, instance %s, %zu operations",
	       d->config.host, info != NULL ? (unsigned)info->port : 0u,
	       d->config.base_url, d->config.uuid,
	       engine_registry(d->engine)->n_ops);

	int sig = 0;
	while (sigwait(&stop, &sig) != 0)
		;
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
	ratelimit_free(d->limiter);
	cache_free(d->cache);
	engine_close(d->engine);
	pthread_cond_destroy(&d->idle);
	pthread_mutex_destroy(&d->active_lock);
	daemon_config_free(&d->config);
	free(d);
	return status;
}
