/* lambda_emulator: the Lambda Runtime API emulator behind check_bootstrap
 * and tests/dcproxy-lambda-emulator; libmicrohttpd on loopback, one thread
 * per connection, a queue of invocations and queues of injected faults.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "lambda_emulator.h"
#include "mhd_reply.h"

#define API "/2018-06-01/runtime"
#define INVOCATION_PREFIX API "/invocation/"
#define FUNCTION_ARN "arn:aws:lambda:us-east-1:123456789012:function:dcproxy"
/* How often a waiting /next looks whether its client is still there, so a
 * runtime killed mid-poll cannot swallow the next invocation. */
#define PEER_CHECK_MS 100
/* A control invocation waits this long past its budget: time for a runtime
 * to start and for a late answer to arrive. */
#define CONTROL_GRACE_MS 10000L
#define MAX_BUDGET_MS 3600000L
#define MAX_REPEAT 10000000L

enum inv_state { INV_QUEUED, INV_DELIVERED, INV_ANSWERED };

struct invocation {
	uint64_t seq;
	enum inv_state state;
	char *event;
	size_t event_len;
	long budget_ms;
	char *trace_id;             /* NULL when none */
	struct emu_outcome outcome; /* request_id from the start, the rest
				       once delivered and answered */
	struct invocation *next;
};

struct fault {
	enum emu_fault_kind kind;
	struct fault *next;
};

struct lambda_emulator {
	struct MHD_Daemon *daemon;
	unsigned short port;
	char endpoint[32];
	int64_t started_ms; /* monotonic */
	uint64_t id_salt;   /* random, so two emulators never share an id */

	pthread_mutex_t lock;   /* guards everything below */
	pthread_cond_t changed; /* broadcast on every change of state */
	bool stopping;
	uint64_t seq;
	struct invocation *head, *tail; /* in queue order */
	struct fault *faults[2];        /* per emu_fault_target, FIFO */
	size_t next_calls;
	int64_t first_next_ms; /* -1 until the first /next */
	int64_t first_next_epoch_us; /* wall clock of the same moment */
	size_t answers;
	bool have_init_error;
	struct emu_outcome init_error;
};

/* One HTTP request in flight; MHD's per-request context. */
struct exchange {
	bool started;
	struct mhd_body in;
	uint64_t delivered; /* seq of the invocation this /next handed out */
};

static int64_t
monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
epoch_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static char *
dup_bytes(const char *s, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy == NULL)
		abort(); /* a test helper: no point limping on */
	if (len > 0)
		memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

static char *
dup_or_empty(const char *s)
{
	return s != NULL ? dup_bytes(s, strlen(s)) : dup_bytes("", 0);
}

/* Wait on e->changed until the monotonic time until_ms; lock held.
 * Returns ETIMEDOUT once that time has passed. */
static int
wait_until(struct lambda_emulator *e, int64_t until_ms)
{
	if (monotonic_ms() >= until_ms)
		return ETIMEDOUT;
	struct timespec ts = { (time_t)(until_ms / 1000),
			       (long)(until_ms % 1000) * 1000000L };
	return pthread_cond_timedwait(&e->changed, &e->lock, &ts);
}

/* ---- outcomes ---- */

void
emu_outcome_clear(struct emu_outcome *out)
{
	free(out->body);
	free(out->error_type);
	memset(out, 0, sizeof *out);
}

static void
outcome_copy(struct emu_outcome *to, const struct emu_outcome *from)
{
	*to = *from;
	to->body = dup_bytes(from->body != NULL ? from->body : "",
			     from->body != NULL ? from->body_len : 0);
	to->error_type = dup_or_empty(from->error_type);
}

/* Fill the answer part of an outcome. */
static void
outcome_set(struct emu_outcome *o, enum emu_kind kind, const char *body,
	    size_t len, const char *error_type)
{
	free(o->body);
	free(o->error_type);
	o->kind = kind;
	o->body = dup_bytes(body, len);
	o->body_len = len;
	o->error_type = dup_or_empty(error_type);
	o->answered_ms = epoch_ms();
}

/* ---- the invocation list; all called with the lock held ---- */

static struct invocation *
find_by_id(struct lambda_emulator *e, const char *request_id)
{
	for (struct invocation *inv = e->head; inv != NULL; inv = inv->next)
		if (strcmp(inv->outcome.request_id, request_id) == 0)
			return inv;
	return NULL;
}

static struct invocation *
first_queued(struct lambda_emulator *e)
{
	for (struct invocation *inv = e->head; inv != NULL; inv = inv->next)
		if (inv->state == INV_QUEUED)
			return inv;
	return NULL;
}

static void
invocation_free(struct invocation *inv)
{
	free(inv->event);
	free(inv->trace_id);
	emu_outcome_clear(&inv->outcome);
	free(inv);
}

static void
unlink_invocation(struct lambda_emulator *e, struct invocation *gone)
{
	struct invocation *prev = NULL;
	for (struct invocation *inv = e->head; inv != NULL; inv = inv->next) {
		if (inv == gone) {
			if (prev != NULL)
				prev->next = inv->next;
			else
				e->head = inv->next;
			if (e->tail == inv)
				e->tail = prev;
			return;
		}
		prev = inv;
	}
}

static struct fault *
fault_pop(struct lambda_emulator *e, enum emu_fault_target target)
{
	struct fault *f = e->faults[target];
	if (f != NULL)
		e->faults[target] = f->next;
	return f;
}

/* ---- replies ---- */

/* The Runtime API's error shape. */
static enum MHD_Result
reply_api_error(struct MHD_Connection *conn, unsigned status,
		const char *type, const char *message)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "errorMessage", message);
	cJSON_AddStringToObject(doc, "errorType", type);
	return mhd_reply_json(conn, status, doc);
}

/* The control endpoints' error shape. */
static enum MHD_Result
reply_control_error(struct MHD_Connection *conn, unsigned status,
		    const char *message)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "error", message);
	return mhd_reply_json(conn, status, doc);
}

static enum MHD_Result
fault_reply(struct MHD_Connection *conn, enum emu_fault_kind kind)
{
	if (kind == EMU_FAULT_DROP)
		return MHD_NO; /* MHD closes the socket, no reply */
	return reply_api_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			       "Emulator.InjectedFault", "injected fault");
}

/* Add what was posted under key: verbatim when it is one JSON value, so a
 * shell can walk into it with jq, else as a string. */
static void
add_posted(cJSON *doc, const char *key, const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *parsed = body != NULL && strlen(body) == len
				? cJSON_ParseWithOpts(body, &end, 1)
				: NULL;
	if (parsed != NULL)
		cJSON_AddRawToObject(doc, key, body);
	else
		cJSON_AddStringToObject(doc, key, body != NULL ? body : "");
	cJSON_Delete(parsed);
}

static void
add_error_type(cJSON *doc, const struct emu_outcome *o)
{
	if (o->error_type != NULL && o->error_type[0] != '\0')
		cJSON_AddStringToObject(doc, "error_type", o->error_type);
	else
		cJSON_AddNullToObject(doc, "error_type");
}

/* ---- the Runtime API ---- */

/* False once the client has hung up; it sends nothing while it waits.
 * Non-blocking, so it may run with the lock held. */
static bool
peer_alive(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (info == NULL)
		return false;
	struct pollfd p = { .fd = info->connect_fd,
			    .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, 0) <= 0)
		return true;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
		return false;
	char c;
	return recv(info->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
}

static enum MHD_Result
serve_next(struct lambda_emulator *e, struct MHD_Connection *conn,
	   struct exchange *ex)
{
	pthread_mutex_lock(&e->lock);
	e->next_calls++;
	if (e->first_next_ms < 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		e->first_next_ms = monotonic_ms() - e->started_ms;
		e->first_next_epoch_us =
			(int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	}
	struct fault *f = fault_pop(e, EMU_ON_NEXT);
	if (f != NULL) {
		pthread_mutex_unlock(&e->lock);
		enum emu_fault_kind kind = f->kind;
		free(f);
		return fault_reply(conn, kind);
	}

	/* Long-poll: this connection has a thread of its own to block.  The
	 * client is looked at before anything is handed out, as a write to a
	 * socket the peer has closed still succeeds and would lose the
	 * invocation. */
	struct invocation *inv = NULL;
	while (!e->stopping && peer_alive(conn) &&
	       (inv = first_queued(e)) == NULL)
		wait_until(e, monotonic_ms() + PEER_CHECK_MS);
	if (inv == NULL || e->stopping) {
		pthread_mutex_unlock(&e->lock);
		return MHD_NO;
	}

	inv->state = INV_DELIVERED;
	inv->outcome.delivered_ms = epoch_ms();
	inv->outcome.deadline_ms = inv->outcome.delivered_ms + inv->budget_ms;
	ex->delivered = inv->seq;
	char deadline[32];
	snprintf(deadline, sizeof deadline, "%" PRId64, inv->outcome.deadline_ms);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		inv->event_len, inv->event, MHD_RESPMEM_MUST_COPY);
	if (r != NULL) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/json");
		MHD_add_response_header(r, "Lambda-Runtime-Aws-Request-Id",
					inv->outcome.request_id);
		MHD_add_response_header(r, "Lambda-Runtime-Deadline-Ms", deadline);
		MHD_add_response_header(r, "Lambda-Runtime-Invoked-Function-Arn",
					FUNCTION_ARN);
		if (inv->trace_id != NULL)
			MHD_add_response_header(r, "Lambda-Runtime-Trace-Id",
						inv->trace_id);
	}
	pthread_mutex_unlock(&e->lock);
	if (r == NULL)
		return MHD_NO; /* on_completed puts the invocation back */
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* A /next whose reply never went out: queue its invocation again, as the
 * runtime will ask again. */
static void
requeue(struct lambda_emulator *e, uint64_t seq)
{
	pthread_mutex_lock(&e->lock);
	for (struct invocation *inv = e->head; inv != NULL; inv = inv->next) {
		if (inv->seq == seq && inv->state == INV_DELIVERED) {
			inv->state = INV_QUEUED;
			pthread_cond_broadcast(&e->changed);
			break;
		}
	}
	pthread_mutex_unlock(&e->lock);
}

static const char too_large_message[] =
	"Exceeded maximum allowed payload size (6291456 bytes).";

/* POST .../invocation/{id}/response or .../error. */
static enum MHD_Result
serve_answer(struct lambda_emulator *e, struct MHD_Connection *conn,
	     const char *request_id, enum emu_kind kind,
	     const struct exchange *ex)
{
	const char *type = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, "Lambda-Runtime-Function-Error-Type");
	pthread_mutex_lock(&e->lock);
	struct fault *f = fault_pop(e, EMU_ON_RESPONSE);
	if (f != NULL) {
		pthread_mutex_unlock(&e->lock);
		enum emu_fault_kind fk = f->kind;
		free(f);
		return fault_reply(conn, fk);
	}
	struct invocation *inv = find_by_id(e, request_id);
	if (inv == NULL || inv->state != INV_DELIVERED) {
		pthread_mutex_unlock(&e->lock);
		return reply_api_error(conn, MHD_HTTP_BAD_REQUEST,
				       "InvalidRequestID",
				       "no invocation with this id awaits an answer");
	}
	/* Lambda fails an invocation whose response it refuses. */
	if (ex->in.too_large)
		outcome_set(&inv->outcome, EMU_ERROR, too_large_message,
			    strlen(too_large_message),
			    "Function.ResponseSizeTooLarge");
	else
		outcome_set(&inv->outcome, kind, ex->in.data != NULL ? ex->in.data : "",
			    ex->in.len, kind == EMU_ERROR ? type : NULL);
	inv->state = INV_ANSWERED;
	e->answers++;
	pthread_cond_broadcast(&e->changed);
	pthread_mutex_unlock(&e->lock);
	if (ex->in.too_large)
		return reply_api_error(conn, 413,
				       "RequestEntityTooLarge", too_large_message);
	return mhd_reply_text(conn, MHD_HTTP_ACCEPTED, "{\"status\":\"OK\"}");
}

static enum MHD_Result
serve_init_error(struct lambda_emulator *e, struct MHD_Connection *conn,
		 const struct exchange *ex)
{
	if (ex->in.too_large)
		return reply_api_error(conn, 413,
				       "RequestEntityTooLarge", too_large_message);
	const char *type = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, "Lambda-Runtime-Function-Error-Type");
	pthread_mutex_lock(&e->lock);
	if (!e->have_init_error) { /* the first one is the cause */
		outcome_set(&e->init_error, EMU_ERROR,
			    ex->in.data != NULL ? ex->in.data : "", ex->in.len, type);
		e->have_init_error = true;
		pthread_cond_broadcast(&e->changed);
	}
	pthread_mutex_unlock(&e->lock);
	return mhd_reply_text(conn, MHD_HTTP_ACCEPTED, "{\"status\":\"OK\"}");
}

static enum MHD_Result
serve_api(struct lambda_emulator *e, struct MHD_Connection *conn,
	  const char *url, const char *method, struct exchange *ex)
{
	bool post = strcmp(method, "POST") == 0;
	if (strcmp(url, INVOCATION_PREFIX "next") == 0) {
		if (strcmp(method, "GET") != 0)
			return reply_api_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					       "MethodNotAllowed", "use GET");
		return serve_next(e, conn, ex);
	}
	if (strcmp(url, API "/init/error") == 0) {
		if (!post)
			return reply_api_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					       "MethodNotAllowed", "use POST");
		return serve_init_error(e, conn, ex);
	}
	size_t n = strlen(INVOCATION_PREFIX);
	if (strncmp(url, INVOCATION_PREFIX, n) == 0) {
		const char *id = url + n;
		const char *slash = strchr(id, '/');
		char request_id[64];
		if (slash != NULL && slash > id &&
		    (size_t)(slash - id) < sizeof request_id &&
		    (strcmp(slash, "/response") == 0 ||
		     strcmp(slash, "/error") == 0)) {
			if (!post)
				return reply_api_error(conn,
						       MHD_HTTP_METHOD_NOT_ALLOWED,
						       "MethodNotAllowed", "use POST");
			snprintf(request_id, sizeof request_id, "%.*s",
				 (int)(slash - id), id);
			return serve_answer(e, conn, request_id,
					    strcmp(slash, "/error") == 0
						    ? EMU_ERROR
						    : EMU_RESPONSE,
					    ex);
		}
	}
	return reply_api_error(conn, MHD_HTTP_NOT_FOUND, "NotFound",
			       "no such Runtime API resource");
}

/* ---- control endpoints: shell-driven invocations ---- */

/* A query argument as a number in [min, max]; absent leaves *value. */
static bool
arg_number(struct MHD_Connection *conn, const char *name, long min, long max,
	   long *value, bool *given)
{
	const char *text =
		MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
	if (given != NULL)
		*given = text != NULL;
	if (text == NULL)
		return true;
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (end == text || *end != '\0' || errno != 0 || v < min || v > max)
		return false;
	*value = v;
	return true;
}

static enum MHD_Result
control_invoke(struct lambda_emulator *e, struct MHD_Connection *conn,
	       const struct exchange *ex)
{
	long budget = EMU_DEFAULT_BUDGET_MS, repeat = 1;
	bool repeated;
	if (!arg_number(conn, "budget_ms", 1, MAX_BUDGET_MS, &budget, NULL))
		return reply_control_error(conn, MHD_HTTP_BAD_REQUEST,
					   "budget_ms must be 1-3600000");
	if (!arg_number(conn, "repeat", 1, MAX_REPEAT, &repeat, &repeated))
		return reply_control_error(conn, MHD_HTTP_BAD_REQUEST,
					   "repeat must be 1-10000000");
	if (ex->in.too_large)
		return reply_control_error(conn, 413,
					   too_large_message);
	const char *trace = MHD_lookup_connection_value(
		conn, MHD_GET_ARGUMENT_KIND, "trace_id");
	if (trace != NULL && *trace == '\0')
		trace = NULL;
	/* Lambda hands an invocation without a payload "{}". */
	const char *event = ex->in.len > 0 ? ex->in.data : "{}";
	size_t len = ex->in.len > 0 ? ex->in.len : 2;

	struct emu_outcome last = { 0 };
	long count = 0, errors = 0;
	int64_t started = monotonic_ms();
	for (long i = 0; i < repeat; i++) {
		char id[64];
		emu_outcome_clear(&last);
		if (lambda_emulator_queue(e, event, len, budget, trace, id,
					  sizeof id) != 0)
			return MHD_NO; /* stopping */
		if (lambda_emulator_wait(e, id, budget + CONTROL_GRACE_MS,
					 &last) != 0) {
			char why[128];
			snprintf(why, sizeof why,
				 "no answer from the runtime within %ld ms",
				 budget + CONTROL_GRACE_MS);
			cJSON *doc = cJSON_CreateObject();
			cJSON_AddStringToObject(doc, "request_id", id);
			cJSON_AddStringToObject(doc, "kind", "timeout");
			cJSON_AddStringToObject(doc, "error", why);
			if (repeated)
				cJSON_AddNumberToObject(doc, "count", (double)count);
			return mhd_reply_json(conn, MHD_HTTP_GATEWAY_TIMEOUT, doc);
		}
		count++;
		if (last.kind == EMU_ERROR)
			errors++;
	}
	int64_t wall = monotonic_ms() - started;

	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "request_id", last.request_id);
	cJSON_AddStringToObject(doc, "kind",
				last.kind == EMU_ERROR ? "error" : "response");
	add_posted(doc, "body", last.body, last.body_len);
	add_error_type(doc, &last);
	if (repeated) {
		cJSON_AddNumberToObject(doc, "count", (double)count);
		cJSON_AddNumberToObject(doc, "errors", (double)errors);
		cJSON_AddNumberToObject(doc, "wall_ms", (double)wall);
	}
	emu_outcome_clear(&last);
	return mhd_reply_json(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result
control_init_error(struct lambda_emulator *e, struct MHD_Connection *conn)
{
	struct emu_outcome o;
	if (lambda_emulator_init_error(e, 0, &o) != 0)
		return reply_control_error(conn, MHD_HTTP_NOT_FOUND,
					   "no init error reported");
	cJSON *doc = cJSON_CreateObject();
	add_posted(doc, "body", o.body, o.body_len);
	add_error_type(doc, &o);
	emu_outcome_clear(&o);
	return mhd_reply_json(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result
control_stats(struct lambda_emulator *e, struct MHD_Connection *conn)
{
	cJSON *doc = cJSON_CreateObject();
	pthread_mutex_lock(&e->lock);
	cJSON_AddNumberToObject(doc, "next_calls", (double)e->next_calls);
	if (e->first_next_ms >= 0) {
		cJSON_AddNumberToObject(doc, "first_next_ms",
					(double)e->first_next_ms);
		/* Microseconds of wall clock, for timing a process from exec. */
		cJSON_AddNumberToObject(doc, "first_next_epoch_us",
					(double)e->first_next_epoch_us);
	} else {
		cJSON_AddNullToObject(doc, "first_next_ms");
	}
	cJSON_AddNumberToObject(doc, "invocations", (double)e->answers);
	pthread_mutex_unlock(&e->lock);
	return mhd_reply_json(conn, MHD_HTTP_OK, doc);
}

static enum MHD_Result
control(struct lambda_emulator *e, struct MHD_Connection *conn,
	const char *url, const char *method, const struct exchange *ex)
{
	bool get = strcmp(method, "GET") == 0;
	if (strcmp(method, "POST") == 0 && strcmp(url, "/_emulator/invoke") == 0)
		return control_invoke(e, conn, ex);
	if (get && strcmp(url, "/_emulator/init-error") == 0)
		return control_init_error(e, conn);
	if (get && strcmp(url, "/_emulator/stats") == 0)
		return control_stats(e, conn);
	return reply_control_error(conn, MHD_HTTP_NOT_FOUND,
				   "use POST /_emulator/invoke, GET "
				   "/_emulator/init-error or GET /_emulator/stats");
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **req_cls)
{
	struct lambda_emulator *e = cls;
	struct exchange *ex = *req_cls;
	(void)version;

	if (ex == NULL) {
		ex = calloc(1, sizeof *ex);
		if (ex == NULL)
			abort();
		*req_cls = ex;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		mhd_body_append(&ex->in, upload_data, *upload_data_size,
				EMU_MAX_RESPONSE_BYTES);
		*upload_data_size = 0;
		return MHD_YES;
	}
	/* The whole request is in. */
	if (strncmp(url, "/_emulator/", 11) == 0)
		return control(e, conn, url, method, ex);
	return serve_api(e, conn, url, method, ex);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct lambda_emulator *e = cls;
	struct exchange *ex = *req_cls;
	(void)conn;
	if (ex != NULL) {
		if (ex->delivered != 0 && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			requeue(e, ex->delivered);
		mhd_body_free(&ex->in);
		free(ex);
	}
	*req_cls = NULL;
}

/* ---- the C API ---- */

int
lambda_emulator_queue(struct lambda_emulator *e, const char *event,
		      size_t len, long budget_ms, const char *trace_id,
		      char *request_id, size_t idlen)
{
	struct invocation *inv = calloc(1, sizeof *inv);
	if (inv == NULL)
		abort();
	inv->event = dup_bytes(event, len);
	inv->event_len = len;
	inv->budget_ms = budget_ms > 0 ? budget_ms : EMU_DEFAULT_BUDGET_MS;
	inv->trace_id = trace_id != NULL && *trace_id != '\0'
				? dup_or_empty(trace_id)
				: NULL;

	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		pthread_mutex_unlock(&e->lock);
		invocation_free(inv);
		return -1;
	}
	inv->seq = ++e->seq;
	/* UUID-shaped like Lambda's: salt, then the sequence number. */
	uint64_t s = e->id_salt, q = inv->seq;
	snprintf(inv->outcome.request_id, sizeof inv->outcome.request_id,
		 "%08" PRIx32 "-%04x-4%03x-%04x-%012" PRIx64,
		 (uint32_t)(s >> 32), (unsigned)(s >> 16 & 0xffff),
		 (unsigned)(s & 0xfff), (unsigned)(0x8000 | (q >> 48 & 0x3fff)),
		 (uint64_t)(q & 0xffffffffffffULL));
	if (e->tail != NULL)
		e->tail->next = inv;
	else
		e->head = inv;
	e->tail = inv;
	snprintf(request_id, idlen, "%s", inv->outcome.request_id);
	pthread_cond_broadcast(&e->changed);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

int
lambda_emulator_wait(struct lambda_emulator *e, const char *request_id,
		     long timeout_ms, struct emu_outcome *out)
{
	int64_t until = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int rc = -1;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&e->lock);
	for (;;) {
		struct invocation *inv = find_by_id(e, request_id);
		if (inv == NULL)
			break;
		if (inv->state == INV_ANSWERED) {
			unlink_invocation(e, inv);
			*out = inv->outcome;
			memset(&inv->outcome, 0, sizeof inv->outcome);
			invocation_free(inv);
			rc = 0;
			break;
		}
		if (e->stopping)
			break;
		if (wait_until(e, until) == ETIMEDOUT) {
			if (inv->state == INV_QUEUED) { /* nobody took it: withdraw */
				unlink_invocation(e, inv);
				invocation_free(inv);
			} else if (inv->state == INV_ANSWERED) {
				continue; /* answered just in time */
			}
			break;
		}
	}
	pthread_mutex_unlock(&e->lock);
	return rc;
}

int
lambda_emulator_invoke(struct lambda_emulator *e, const char *event,
		       long budget_ms, const char *trace_id, long timeout_ms,
		       struct emu_outcome *out)
{
	char id[64];
	memset(out, 0, sizeof *out);
	if (lambda_emulator_queue(e, event, strlen(event), budget_ms, trace_id,
				  id, sizeof id) != 0)
		return -1;
	return lambda_emulator_wait(e, id, timeout_ms, out);
}

int
lambda_emulator_init_error(struct lambda_emulator *e, long timeout_ms,
			   struct emu_outcome *out)
{
	int64_t until = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int rc = -1;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&e->lock);
	while (!e->have_init_error && !e->stopping &&
	       wait_until(e, until) != ETIMEDOUT)
		;
	if (e->have_init_error) {
		outcome_copy(out, &e->init_error);
		rc = 0;
	}
	pthread_mutex_unlock(&e->lock);
	return rc;
}

size_t
lambda_emulator_next_calls(struct lambda_emulator *e)
{
	pthread_mutex_lock(&e->lock);
	size_t n = e->next_calls;
	pthread_mutex_unlock(&e->lock);
	return n;
}

long
lambda_emulator_first_next_ms(struct lambda_emulator *e)
{
	pthread_mutex_lock(&e->lock);
	long ms = (long)e->first_next_ms;
	pthread_mutex_unlock(&e->lock);
	return ms;
}

void
lambda_emulator_push_fault(struct lambda_emulator *e,
			   enum emu_fault_target target,
			   enum emu_fault_kind kind, unsigned count)
{
	pthread_mutex_lock(&e->lock);
	struct fault **end = &e->faults[target];
	while (*end != NULL)
		end = &(*end)->next;
	for (unsigned i = 0; i < count; i++) {
		struct fault *f = calloc(1, sizeof *f);
		if (f == NULL)
			abort();
		f->kind = kind;
		*end = f;
		end = &f->next;
	}
	pthread_mutex_unlock(&e->lock);
}

/* ---- life cycle ---- */

struct lambda_emulator *
lambda_emulator_start_port(unsigned short port)
{
	struct lambda_emulator *e = calloc(1, sizeof *e);
	pthread_condattr_t attr;
	if (e == NULL)
		return NULL;
	if (pthread_mutex_init(&e->lock, NULL) != 0) {
		free(e);
		return NULL;
	}
	/* Waits are timed on the monotonic clock, immune to clock steps. */
	if (pthread_condattr_init(&attr) != 0 ||
	    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&e->changed, &attr) != 0) {
		pthread_mutex_destroy(&e->lock);
		free(e);
		return NULL;
	}
	pthread_condattr_destroy(&attr);
	if (getrandom(&e->id_salt, sizeof e->id_salt, 0) !=
	    (ssize_t)sizeof e->id_salt)
		e->id_salt = (uint64_t)epoch_ms() << 20 ^ (uint64_t)getpid();
	e->first_next_ms = -1;
	e->started_ms = monotonic_ms();

	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons(port) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	e->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
		port, NULL, NULL, on_request, e,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, e,
		MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
		e->daemon != NULL
			? MHD_get_daemon_info(e->daemon, MHD_DAEMON_INFO_BIND_PORT)
			: NULL;
	if (info == NULL || info->port == 0) {
		if (e->daemon != NULL)
			MHD_stop_daemon(e->daemon);
		pthread_cond_destroy(&e->changed);
		pthread_mutex_destroy(&e->lock);
		free(e);
		return NULL;
	}
	e->port = info->port;
	snprintf(e->endpoint, sizeof e->endpoint, "127.0.0.1:%u",
		 (unsigned)e->port);
	return e;
}

struct lambda_emulator *
lambda_emulator_start(void)
{
	return lambda_emulator_start_port(0);
}

void
lambda_emulator_stop(struct lambda_emulator *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	pthread_cond_broadcast(&e->changed);
	pthread_mutex_unlock(&e->lock);
	MHD_stop_daemon(e->daemon); /* joins every connection thread */

	while (e->head != NULL) {
		struct invocation *inv = e->head;
		e->head = inv->next;
		invocation_free(inv);
	}
	for (int t = 0; t < 2; t++) {
		struct fault *f;
		while ((f = fault_pop(e, (enum emu_fault_target)t)) != NULL)
			free(f);
	}
	emu_outcome_clear(&e->init_error);
	pthread_cond_destroy(&e->changed);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

unsigned short
lambda_emulator_port(const struct lambda_emulator *e)
{
	return e->port;
}

const char *
lambda_emulator_endpoint(const struct lambda_emulator *e)
{
	return e->endpoint;
}
