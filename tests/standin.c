/* standin: the stand-in data-collection service behind the integration
 * suites and tests/dcproxy-standin; libmicrohttpd on loopback, one thread
 * per connection, with request recording and a queue of injected faults.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <netinet/in.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "mhd_reply.h"
#include "standin.h"

/* Larger request bodies are answered 413 without being kept. */
#define BODY_MAX ((size_t)16 << 20)

enum fault_kind { FAULT_STATUS, FAULT_DELAY, FAULT_DROP, FAULT_BODY };

struct fault {
	enum fault_kind kind;
	unsigned status;
	unsigned delay_ms;
	char *body;
	struct fault *next;
};

struct standin {
	struct MHD_Daemon *daemon;
	unsigned short port;
	char url[64];

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;  /* broadcast when stopping, to end delays */
	bool stopping;
	struct fault *head, *tail;
	struct standin_request *reqs;
	size_t n_reqs, cap_reqs;
	size_t connections;
};

/* One HTTP request in flight; MHD's per-request context. */
struct exchange {
	char *uri; /* the request target exactly as the client sent it */
	int64_t at_ms;
	bool started;
	struct mhd_body in;
};

static int64_t
monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
dup_or_empty(const char *s)
{
	char *copy = strdup(s != NULL ? s : "");
	if (copy == NULL)
		abort(); /* a test helper: no point limping on */
	return copy;
}

/* ---- replies ---- */

static enum MHD_Result
reply_detail(struct MHD_Connection *conn, unsigned status, const char *detail)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "detail", detail);
	return mhd_reply_json(conn, status, doc);
}

/* ---- the data-collection API ---- */

static cJSON *
string_or_null(const char *s)
{
	return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static enum MHD_Result
answer_ohlcv(struct MHD_Connection *conn)
{
	/* Fixed candles so tests can predict the reply byte for byte. */
	static const double candles[3][6] = {
		{ 1704067200000, 42000.5, 42100, 41900, 42050.25, 123.5 },
		{ 1704070800000, 42050.25, 42200, 42000, 42150, 98.25 },
		{ 1704074400000, 42150, 42180, 41950.75, 42000, 150 },
	};
	const char *symbol =
		MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "symbol");
	const char *timeframe = MHD_lookup_connection_value(
		conn, MHD_GET_ARGUMENT_KIND, "timeframe");
	const char *limit_text =
		MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	long limit = limit_text != NULL ? strtol(limit_text, NULL, 10) : 100;

	cJSON *doc = cJSON_CreateObject();
	cJSON_AddItemToObject(doc, "symbol", string_or_null(symbol));
	cJSON_AddItemToObject(doc, "timeframe", string_or_null(timeframe));
	cJSON_AddNumberToObject(doc, "limit", (double)limit);
	cJSON *data = cJSON_AddArrayToObject(doc, "data");
	for (long i = 0; i < 3 && i < limit; i++)
		cJSON_AddItemToArray(data, cJSON_CreateDoubleArray(candles[i], 6));
	return mhd_reply_json(conn, MHD_HTTP_OK, doc);
}

static bool
is_json_content_type(const char *type)
{
	return type != NULL &&
	       strncasecmp(type, "application/json", 16) == 0 &&
	       (type[16] == '\0' || type[16] == ';' || type[16] == ' ');
}

static enum MHD_Result
answer_sync(struct MHD_Connection *conn, const struct exchange *ex)
{
	/* FastAPI refuses a JSON body model sent as anything but JSON. */
	const char *type = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!is_json_content_type(type))
		return reply_detail(conn, 422, "body must be application/json");
	cJSON *request = ex->in.data != NULL
				 ? cJSON_ParseWithLength(ex->in.data, ex->in.len)
				 : NULL;
	if (request == NULL)
		return reply_detail(conn, MHD_HTTP_BAD_REQUEST,
				    "request body is not valid JSON");
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "status", "synced");
	cJSON_AddItemToObject(doc, "request", request);
	return mhd_reply_json(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result
answer_normally(struct MHD_Connection *conn, const char *method,
		const char *path, const struct exchange *ex)
{
	bool get = strcmp(method, "GET") == 0;
	if (get && strcmp(path, "/api/v1/health") == 0)
		return mhd_reply_text(conn, MHD_HTTP_OK,
				  "{\"status\":\"healthy\",\"service\":\"data-collection\"}");
	if (get && strcmp(path, "/api/v1/ohlcv") == 0)
		return answer_ohlcv(conn);
	if (get && strcmp(path, "/api/v1/symbols") == 0)
		return mhd_reply_text(conn, MHD_HTTP_OK,
				  "{\"symbols\":[\"BTC/USDT:USDT\",\"ETH/USDT:USDT\"]}");
	if (get && strcmp(path, "/api/v1/status") == 0)
		return mhd_reply_text(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
	if (strcmp(method, "POST") == 0 && strcmp(path, "/api/v1/sync") == 0)
		return answer_sync(conn, ex);
	return reply_detail(conn, MHD_HTTP_NOT_FOUND, "Not Found");
}

/* ---- faults and records ---- */

static void
fault_push(struct standin *s, struct fault f)
{
	struct fault *node = malloc(sizeof *node);
	if (node == NULL)
		abort();
	*node = f;
	node->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->tail != NULL)
		s->tail->next = node;
	else
		s->head = node;
	s->tail = node;
	pthread_mutex_unlock(&s->lock);
}

/* Called with the lock held. */
static struct fault *
fault_pop_locked(struct standin *s)
{
	struct fault *f = s->head;
	if (f != NULL) {
		s->head = f->next;
		if (s->head == NULL)
			s->tail = NULL;
	}
	return f;
}

static void
fault_free(struct fault *f)
{
	if (f != NULL)
		free(f->body);
	free(f);
}

void
standin_push_status(struct standin *s, unsigned status)
{
	fault_push(s, (struct fault){ .kind = FAULT_STATUS, .status = status });
}

void
standin_push_delay(struct standin *s, unsigned ms)
{
	fault_push(s, (struct fault){ .kind = FAULT_DELAY, .delay_ms = ms });
}

void
standin_push_drop(struct standin *s)
{
	fault_push(s, (struct fault){ .kind = FAULT_DROP });
}

void
standin_push_body(struct standin *s, unsigned status, const char *body)
{
	fault_push(s, (struct fault){ .kind = FAULT_BODY, .status = status,
				      .body = dup_or_empty(body) });
}

void
standin_request_clear(struct standin_request *r)
{
	free(r->query);
	free(r->body);
	free(r->trace_id);
	free(r->content_type);
	memset(r, 0, sizeof *r);
}

/* Record the request and take the next fault, atomically, so concurrent
 * requests see faults in arrival order of their completion. */
static struct fault *
record_and_take_fault(struct standin *s, struct MHD_Connection *conn,
		      const char *method, const char *path, const char *query,
		      const struct exchange *ex)
{
	struct standin_request r = { 0 };
	snprintf(r.method, sizeof r.method, "%s", method);
	snprintf(r.path, sizeof r.path, "%s", path);
	r.query = dup_or_empty(query);
	r.body = dup_or_empty(ex->in.data);
	r.trace_id = dup_or_empty(MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, "X-Amzn-Trace-Id"));
	r.content_type = dup_or_empty(MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE));
	r.at_ms = ex->at_ms;

	pthread_mutex_lock(&s->lock);
	if (s->n_reqs == s->cap_reqs) {
		size_t cap = s->cap_reqs ? s->cap_reqs * 2 : 16;
		struct standin_request *grown =
			realloc(s->reqs, cap * sizeof *grown);
		if (grown == NULL)
			abort();
		s->reqs = grown;
		s->cap_reqs = cap;
	}
	s->reqs[s->n_reqs++] = r;
	struct fault *f = fault_pop_locked(s);
	pthread_mutex_unlock(&s->lock);
	return f;
}

size_t
standin_request_count(struct standin *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->n_reqs;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int
standin_request_get(struct standin *s, size_t i, struct standin_request *out)
{
	int rc = -1;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&s->lock);
	if (i < s->n_reqs) {
		const struct standin_request *r = &s->reqs[i];
		memcpy(out->method, r->method, sizeof out->method);
		memcpy(out->path, r->path, sizeof out->path);
		out->query = dup_or_empty(r->query);
		out->body = dup_or_empty(r->body);
		out->trace_id = dup_or_empty(r->trace_id);
		out->content_type = dup_or_empty(r->content_type);
		out->at_ms = r->at_ms;
		rc = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

size_t
standin_connection_count(struct standin *s)
{
	pthread_mutex_lock(&s->lock);
	size_t n = s->connections;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void
standin_reset(struct standin *s)
{
	pthread_mutex_lock(&s->lock);
	struct fault *f;
	while ((f = fault_pop_locked(s)) != NULL)
		fault_free(f);
	for (size_t i = 0; i < s->n_reqs; i++)
		standin_request_clear(&s->reqs[i]);
	s->n_reqs = 0;
	pthread_mutex_unlock(&s->lock);
}

/* Sleep ms, or less if the stand-in stops meanwhile.  Returns false when
 * stopping, so the caller can give up on the reply. */
static bool
standin_sleep(struct standin *s, unsigned ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->stopping &&
	       pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT)
		;
	bool running = !s->stopping;
	pthread_mutex_unlock(&s->lock);
	return running;
}

/* ---- control endpoints: shell-driven fault injection ---- */

static enum MHD_Result
control_fault(struct standin *s, struct MHD_Connection *conn,
	      const struct exchange *ex)
{
	cJSON *doc = ex->in.data != NULL ? cJSON_ParseWithLength(ex->in.data, ex->in.len)
				      : NULL;
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(doc, "status");
	const cJSON *delay = cJSON_GetObjectItemCaseSensitive(doc, "delay_ms");
	const cJSON *drop = cJSON_GetObjectItemCaseSensitive(doc, "drop");
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(doc, "body");
	const char *problem = NULL;

	if (!cJSON_IsObject(doc))
		problem = "expected a JSON object";
	else if (cJSON_IsTrue(drop))
		standin_push_drop(s);
	else if (cJSON_IsNumber(delay) && delay->valuedouble >= 0 &&
		 delay->valuedouble <= 600000)
		standin_push_delay(s, (unsigned)delay->valuedouble);
	else if (cJSON_IsNumber(status) && status->valuedouble >= 100 &&
		 status->valuedouble <= 599) {
		if (cJSON_IsString(body))
			standin_push_body(s, (unsigned)status->valuedouble,
					  body->valuestring);
		else if (body == NULL)
			standin_push_status(s, (unsigned)status->valuedouble);
		else
			problem = "'body' must be a string";
	} else
		problem = "expected {\"status\":N}, {\"status\":N,\"body\":\"...\"}, "
			  "{\"delay_ms\":N} or {\"drop\":true}";
	cJSON_Delete(doc);
	if (problem != NULL)
		return reply_detail(conn, MHD_HTTP_BAD_REQUEST, problem);
	return mhd_reply_text(conn, MHD_HTTP_OK, "{\"queued\":true}");
}

static enum MHD_Result
control_requests(struct standin *s, struct MHD_Connection *conn)
{
	cJSON *list = cJSON_CreateArray();
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n_reqs; i++) {
		const struct standin_request *r = &s->reqs[i];
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "method", r->method);
		cJSON_AddStringToObject(item, "path", r->path);
		cJSON_AddStringToObject(item, "query", r->query);
		cJSON_AddStringToObject(item, "body", r->body);
		cJSON_AddStringToObject(item, "trace_id", r->trace_id);
		cJSON_AddStringToObject(item, "content_type", r->content_type);
		cJSON_AddNumberToObject(item, "at_ms", (double)r->at_ms);
		cJSON_AddItemToArray(list, item);
	}
	pthread_mutex_unlock(&s->lock);
	return mhd_reply_json(conn, MHD_HTTP_OK, list);
}

static enum MHD_Result
control(struct standin *s, struct MHD_Connection *conn, const char *method,
	const char *path, const struct exchange *ex)
{
	bool post = strcmp(method, "POST") == 0;
	if (post && strcmp(path, "/_standin/fault") == 0)
		return control_fault(s, conn, ex);
	if (strcmp(method, "GET") == 0 && strcmp(path, "/_standin/requests") == 0)
		return control_requests(s, conn);
	if (post && strcmp(path, "/_standin/reset") == 0) {
		standin_reset(s);
		return mhd_reply_text(conn, MHD_HTTP_OK, "{\"reset\":true}");
	}
	return reply_detail(conn, MHD_HTTP_NOT_FOUND, "Not Found");
}

/* ---- libmicrohttpd callbacks ---- */

/* Runs before MHD decodes the target, so the query is kept as sent. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	struct exchange *ex = calloc(1, sizeof *ex);
	if (ex == NULL)
		abort();
	ex->uri = dup_or_empty(uri);
	ex->at_ms = monotonic_ms();
	return ex;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
	     enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct exchange *ex = *req_cls;
	if (ex != NULL) {
		free(ex->uri);
		mhd_body_free(&ex->in);
		free(ex);
	}
	*req_cls = NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
	      enum MHD_ConnectionNotificationCode toe)
{
	struct standin *s = cls;
	(void)conn;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		pthread_mutex_lock(&s->lock);
		s->connections++;
		pthread_mutex_unlock(&s->lock);
	}
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **req_cls)
{
	struct standin *s = cls;
	struct exchange *ex = *req_cls;
	(void)url;
	(void)version;

	if (ex == NULL)
		return MHD_NO;
	if (!ex->started) {
		ex->started = true;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		mhd_body_append(&ex->in, upload_data, *upload_data_size,
				BODY_MAX);
		*upload_data_size = 0;
		return MHD_YES;
	}

	/* The whole request is in: split the raw target. */
	char path[256];
	const char *mark = strchr(ex->uri, '?');
	size_t plen = mark != NULL ? (size_t)(mark - ex->uri) : strlen(ex->uri);
	snprintf(path, sizeof path, "%.*s", (int)plen, ex->uri);
	const char *query = mark != NULL ? mark + 1 : "";

	if (strncmp(path, "/_standin/", 10) == 0)
		return control(s, conn, method, path, ex);

	struct fault *f = record_and_take_fault(s, conn, method, path, query, ex);
	enum MHD_Result ret;
	char detail[64];
	if (ex->in.too_large) {
		ret = reply_detail(conn, 413,
				   "request body too large");
	} else if (f == NULL) {
		ret = answer_normally(conn, method, path, ex);
	} else {
		switch (f->kind) {
		case FAULT_STATUS:
			snprintf(detail, sizeof detail, "injected %u", f->status);
			ret = reply_detail(conn, f->status, detail);
			break;
		case FAULT_DELAY:
			ret = standin_sleep(s, f->delay_ms)
				      ? answer_normally(conn, method, path, ex)
				      : MHD_NO;
			break;
		case FAULT_BODY:
			ret = mhd_reply_text(conn, f->status, f->body);
			break;
		case FAULT_DROP:
		default:
			ret = MHD_NO; /* MHD closes the socket, no reply */
			break;
		}
	}
	fault_free(f);
	return ret;
}

/* ---- life cycle ---- */

struct standin *
standin_start_port(unsigned short port)
{
	struct standin *s = calloc(1, sizeof *s);
	pthread_condattr_t attr;
	if (s == NULL)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return NULL;
	}
	/* Delays are timed on the monotonic clock, immune to clock steps. */
	if (pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&s->wake, &attr) != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	pthread_condattr_destroy(&attr);

	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons(port) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
		port, NULL, NULL, on_request, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
		s->daemon != NULL
			? MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT)
			: NULL;
	if (info == NULL || info->port == 0) {
		if (s->daemon != NULL)
			MHD_stop_daemon(s->daemon);
		pthread_cond_destroy(&s->wake);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	s->port = info->port;
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", (unsigned)s->port);
	return s;
}

struct standin *
standin_start(void)
{
	return standin_start_port(0);
}

void
standin_stop(struct standin *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	MHD_stop_daemon(s->daemon); /* joins every connection thread */

	standin_reset(s);
	free(s->reqs);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

unsigned short
standin_port(const struct standin *s)
{
	return s->port;
}

const char *
standin_url(const struct standin *s)
{
	return s->url;
}
