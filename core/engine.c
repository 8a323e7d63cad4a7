/* engine: the one context that owns all state, and the operation pipeline. */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <curl/curl.h>

#include "engine.h"
#include "envelope.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "services.h"

enum slot_state { SLOT_UNLOADED, SLOT_READY, SLOT_FAILED };

/* The core's side of a registry operation; plugins see it as opaque. */
struct dcp_operation {
	struct engine *engine;
	const struct reg_operation *reg;
	enum slot_state state;
	struct loaded_plugin plugin;
	char *failure; /* why it could not load */
};

/* One invocation in progress; plugins see it as opaque. */
struct dcp_call {
	struct dcp_operation *op;
	char *query;  /* "k=v&k=v", already encoded */
	size_t query_len;
	cJSON *body;
	bool rejected;
	bool out_of_memory;
	char invalid[512];
};

struct engine {
	struct settings settings;
	struct logger logger;
	FILE *metrics_stream;
	struct registry registry;
	struct dcp_operation *slots; /* one per registry operation */
	pthread_mutex_t load_lock;   /* guards slot loading */
	struct http_client *http;
	struct dcp_host host;
};

static const char *const call_error_names[] = {
	[CALL_OK] = "none",
	[CALL_BAD_EVENT] = "bad_event",
	[CALL_UNKNOWN_OPERATION] = "unknown_operation",
	[CALL_PLUGIN_UNAVAILABLE] = "plugin_unavailable",
	[CALL_INVALID_PARAMS] = "validation",
	[CALL_SERVICE_UNRESOLVED] = "service_unresolved",
	[CALL_CONNECTION] = "connection",
	[CALL_TIMEOUT] = "timeout",
	[CALL_UPSTREAM_CLIENT_ERROR] = "upstream_client_error",
	[CALL_UPSTREAM_SERVER_ERROR] = "upstream_server_error",
	[CALL_BAD_UPSTREAM_REPLY] = "bad_upstream_reply",
	[CALL_CONFIGURATION] = "configuration",
	[CALL_INTERNAL] = "internal",
};

const char *
call_error_name(enum call_error error)
{
	return error <= CALL_INTERNAL ? call_error_names[error] : "internal";
}

/* ---- the host table handed to plugins ---- */

static const char *
host_setting(const dcp_operation *op, const char *key)
{
	return registry_setting(op->reg, key);
}

static int
host_add_query(dcp_call *call, const char *key, const char *value)
{
	char *k = curl_easy_escape(NULL, key, 0);
	char *v = curl_easy_escape(NULL, value, 0);
	size_t need = (k ? strlen(k) : 0) + (v ? strlen(v) : 0) + 3;
	char *grown = k && v ? realloc(call->query, call->query_len + need) : NULL;
	if (grown == NULL) {
		curl_free(k);
		curl_free(v);
		call->out_of_memory = true;
		return DCP_FAILED;
	}
	call->query = grown;
	call->query_len += (size_t)sprintf(grown + call->query_len, "%s%s=%s",
					   call->query_len ? "&" : "", k, v);
	curl_free(k);
	curl_free(v);
	return DCP_OK;
}

static void
host_set_body(dcp_call *call, cJSON *body)
{
	cJSON_Delete(call->body);
	call->body = body;
}

static int
host_invalid(dcp_call *call, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(call->invalid, sizeof call->invalid, fmt, ap);
	va_end(ap);
	call->rejected = true;
	return DCP_INVALID;
}

/* The invocation this thread is running: call_run sets it for the call's
 * duration (prepare, the upstream exchange, shape) so host_log can name
 * the request on a plugin's own lines.
 *
 * Why a thread-local: host->log's ABI 1.0 signature carries only the
 * operation handle, which the plugin keeps from init and which every
 * concurrent call of that operation shares, so no argument can say which
 * call a line belongs to; widening it, or asking plugins to use a new
 * per-call entry, would leave every built plugin logging without the id.
 * prepare and shape run synchronously on the thread that runs call_run, so
 * "this thread's current call" is exact.  It points at call_run's own
 * stack frame, is restored when call_run returns, and holds nothing another
 * thread can see; lines from init, fini or a thread the plugin starts
 * itself carry no request id, as before. */
struct plugin_frame {
	const struct dcp_operation *op;
	const char *request_id;
};

static _Thread_local const struct plugin_frame *plugin_frame;

static void
host_log(const dcp_operation *op, enum dcp_log_level level, const char *fmt,
	 ...)
{
	/* Only the call's own operation: a plugin logging through another
	 * operation's handle is not speaking for this request. */
	const struct plugin_frame *frame = plugin_frame;
	const char *request_id =
		frame != NULL && frame->op == op ? frame->request_id : NULL;
	struct log_scope scope = { &op->engine->logger, request_id,
				   op->reg->name };
	va_list ap;
	va_start(ap, fmt);
	log_va(&scope, level, fmt, ap);
	va_end(ap);
}

/* ---- life cycle ---- */

struct engine *
engine_open(const struct engine_options *opts, char *err, size_t errlen)
{
	struct engine *engine = calloc(1, sizeof *engine);
	if (engine == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (settings_load(&engine->settings, err, errlen) != 0) {
		free(engine);
		return NULL;
	}
	if (opts->registry != NULL) {
		char *copy = strdup(opts->registry);
		if (copy == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail_settings;
		}
		free(engine->settings.registry);
		engine->settings.registry = copy;
	}
	engine->logger.out = opts->log_stream;
	engine->metrics_stream = opts->metrics_stream;
	const char *level = opts->log_level != NULL ? opts->log_level
						    : engine->settings.log_level;
	if (log_parse_level(level, &engine->logger.level) != 0) {
		snprintf(err, errlen,
			 "LOG_LEVEL: '%s' is not error, warn, info, debug or trace",
			 level);
		goto fail_settings;
	}

	engine->host = (struct dcp_host){
		.abi_major = DCP_ABI_MAJOR,
		.abi_minor = DCP_ABI_MINOR,
		.size = sizeof(struct dcp_host),
		.setting = host_setting,
		.add_query = host_add_query,
		.set_body = host_set_body,
		.invalid = host_invalid,
		.log = host_log,
	};

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		goto fail_settings;
	}
	if (loader_init() != 0) {
		snprintf(err, errlen, "cannot initialise libltdl");
		goto fail_curl;
	}
	if (registry_load(&engine->registry, engine->settings.registry, err,
			  errlen) != 0)
		goto fail_loader;

	struct log_scope scope = { &engine->logger, NULL, NULL };
	for (size_t i = 0; i < engine->registry.n_problems; i++)
		log_at(&scope, DCP_LOG_WARN, "registry: %s",
		       engine->registry.problems[i]);

	engine->slots = calloc(engine->registry.n_ops + 1, sizeof *engine->slots);
	engine->http = http_client_new("dcproxy/" PACKAGE_VERSION);
	if (engine->slots == NULL || engine->http == NULL ||
	    pthread_mutex_init(&engine->load_lock, NULL) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail_registry;
	}
	for (size_t i = 0; i < engine->registry.n_ops; i++) {
		engine->slots[i].engine = engine;
		engine->slots[i].reg = &engine->registry.ops[i];
	}
	return engine;

fail_registry:
	http_client_free(engine->http);
	free(engine->slots);
	registry_free(&engine->registry);
fail_loader:
	loader_exit();
fail_curl:
	curl_global_cleanup();
fail_settings:
	settings_free(&engine->settings);
	free(engine);
	return NULL;
}

void
engine_close(struct engine *engine)
{
	if (engine == NULL)
		return;
	for (size_t i = 0; i < engine->registry.n_ops; i++) {
		loader_close(&engine->slots[i].plugin);
		free(engine->slots[i].failure);
	}
	free(engine->slots);
	pthread_mutex_destroy(&engine->load_lock);
	http_client_free(engine->http);
	registry_free(&engine->registry);
	loader_exit();
	curl_global_cleanup();
	settings_free(&engine->settings);
	free(engine);
}

const struct settings *
engine_settings(const struct engine *engine)
{
	return &engine->settings;
}

const struct registry *
engine_registry(const struct engine *engine)
{
	return &engine->registry;
}

int
engine_service_url(const struct engine *engine, const struct reg_operation *op,
		   char *url, size_t urllen, char *err, size_t errlen)
{
	const struct reg_service *svc =
		registry_find_service(&engine->registry, op->service);
	if (svc == NULL) {
		snprintf(err, errlen,
			 "%s:%d: operation '%s' uses service '%s', which no [service %s] section defines",
			 op->file, op->line, op->name, op->service, op->service);
		return -1;
	}
	return service_resolve_url(svc, engine->settings.namespace, url, urllen,
				   err, errlen);
}

static struct dcp_operation *
slot_find(struct engine *engine, const char *name)
{
	for (size_t i = 0; i < engine->registry.n_ops; i++)
		if (strcmp(engine->slots[i].reg->name, name) == 0)
			return &engine->slots[i];
	return NULL;
}

/* Load the slot's plugin once; a failure is remembered, not retried. */
static void
slot_load(struct engine *engine, struct dcp_operation *slot)
{
	pthread_mutex_lock(&engine->load_lock);
	if (slot->state == SLOT_UNLOADED) {
		char err[1024];
		if (loader_open(&slot->plugin, slot->reg,
				engine->settings.plugin_path, &engine->host, slot,
				err, sizeof err) == 0) {
			slot->state = SLOT_READY;
		} else {
			slot->failure = strdup(err);
			slot->state = SLOT_FAILED;
			struct log_scope scope = { &engine->logger, NULL,
						   slot->reg->name };
			log_at(&scope, DCP_LOG_ERROR, "plugin: %s", err);
		}
	}
	pthread_mutex_unlock(&engine->load_lock);
}

const struct loaded_plugin *
engine_load_operation(struct engine *engine, const char *name, char *err,
		      size_t errlen)
{
	struct dcp_operation *slot = slot_find(engine, name);
	if (slot == NULL) {
		snprintf(err, errlen, "no operation '%s'", name);
		return NULL;
	}
	slot_load(engine, slot);
	if (slot->state != SLOT_READY) {
		snprintf(err, errlen, "%s",
			 slot->failure ? slot->failure : "out of memory");
		return NULL;
	}
	return &slot->plugin;
}

/* ---- the pipeline ---- */

void
call_outcome_fail(struct call_outcome *out, enum call_error error,
		  const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);

	cJSON_Delete(out->result);
	out->result = cJSON_CreateObject();
	out->error = error;
	if (out->result == NULL)
		return;
	cJSON_AddStringToObject(out->result, "error", text);
	cJSON_AddStringToObject(out->result, "error_kind", call_error_name(error));
}

static void
outcome_add_number(struct call_outcome *out, const char *key, double value)
{
	if (out->result != NULL)
		cJSON_AddNumberToObject(out->result, key, value);
}

static void
outcome_add_string(struct call_outcome *out, const char *key, const char *value)
{
	if (out->result != NULL)
		cJSON_AddStringToObject(out->result, key, value);
}

/* The upstream's own explanation of an error reply, for the message: a
 * FastAPI {"detail": ...} if present, else the start of the body. */
static void
upstream_detail(const struct http_response *resp, char *out, size_t outlen)
{
	out[0] = '\0';
	if (resp->body == NULL || resp->body_len == 0)
		return;
	cJSON *doc = cJSON_ParseWithLength(resp->body, resp->body_len);
	const cJSON *detail = cJSON_GetObjectItemCaseSensitive(doc, "detail");
	if (cJSON_IsString(detail)) {
		snprintf(out, outlen, ": %s", detail->valuestring);
	} else if (detail != NULL) {
		char *text = cJSON_PrintUnformatted(detail);
		snprintf(out, outlen, ": %.200s", text ? text : "");
		free(text);
	} else {
		size_t n = snprintf(out, outlen, ": %.200s", resp->body);
		for (size_t i = 0; i < n && i < outlen; i++)
			if ((unsigned char)out[i] < 0x20)
				out[i] = ' ';
	}
	cJSON_Delete(doc);
}

static void
list_operations(const struct engine *engine, char *out, size_t outlen)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < engine->registry.n_ops && n < outlen; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? ", " : "",
				      engine->registry.ops[i].name);
	if (engine->registry.n_ops == 0)
		snprintf(out, outlen, "none");
}

/* Turn the HTTP exchange into the outcome. */
static void
outcome_from_reply(struct call_outcome *out, struct dcp_operation *slot,
		   const char *url, struct http_response *resp, long timeout_ms)
{
	out->attempts = resp->attempts;
	out->upstream_status = resp->status;
	char detail[256];

	switch (resp->failure) {
	case HTTP_OK:
		break;
	case HTTP_TIMEOUT:
		/* Say how long the last attempt really waited: the invocation's
		 * deadline may have cut it below REQUEST_TIMEOUT. */
		call_outcome_fail(out, CALL_TIMEOUT,
			     "Connection failed: timeout after %ld ms waiting for %s (%d attempt%s)%s",
			     resp->timeout_ms, url, resp->attempts,
			     resp->attempts == 1 ? "" : "s",
			     resp->timeout_ms < timeout_ms
				     ? ", cut short by the invocation deadline"
				     : "");
		goto transport;
	case HTTP_DEADLINE:
		call_outcome_fail(out, CALL_TIMEOUT,
			     "Connection failed: no time left before the deadline to call %s",
			     url);
		goto transport;
	case HTTP_CONNECT:
		call_outcome_fail(out, CALL_CONNECTION,
			     "Connection failed: cannot connect to %s: %s (%d attempt%s)",
			     url, resp->error, resp->attempts,
			     resp->attempts == 1 ? "" : "s");
		goto transport;
	case HTTP_TOO_LARGE:
		call_outcome_fail(out, CALL_BAD_UPSTREAM_REPLY,
			     "Upstream reply from %s is too large: %s", url,
			     resp->error);
		goto transport;
	case HTTP_TRANSPORT:
		call_outcome_fail(out, CALL_CONNECTION,
			     "Connection failed: %s: %s (%d attempt%s)", url,
			     resp->error, resp->attempts,
			     resp->attempts == 1 ? "" : "s");
		goto transport;
	}

	if (resp->status >= 400) {
		upstream_detail(resp, detail, sizeof detail);
		bool server = resp->status >= 500;
		call_outcome_fail(out,
			     server ? CALL_UPSTREAM_SERVER_ERROR
				    : CALL_UPSTREAM_CLIENT_ERROR,
			     "Upstream error: %s returned HTTP %ld (%d attempt%s)%s",
			     url, resp->status, resp->attempts,
			     resp->attempts == 1 ? "" : "s", detail);
		outcome_add_number(out, "upstream_status", (double)resp->status);
		goto transport;
	}
	if (resp->status < 200 || resp->status >= 300) {
		call_outcome_fail(out, CALL_BAD_UPSTREAM_REPLY,
			     "Upstream reply from %s has unexpected HTTP status %ld",
			     url, resp->status);
		outcome_add_number(out, "upstream_status", (double)resp->status);
		goto transport;
	}

	/* One JSON value, whole: a reply with more after it is as suspect
	 * as one cut short. */
	cJSON *reply = NULL;
	char why[160] = "out of memory";
	if (resp->body_len == 0)
		reply = cJSON_CreateNull();
	else if (json_parse_whole("the body", resp->body, resp->body_len,
				  &reply, why, sizeof why) != 0) {
		cJSON_Delete(reply);
		reply = NULL;
	}
	if (reply == NULL) {
		call_outcome_fail(out, CALL_BAD_UPSTREAM_REPLY,
			     "Upstream reply from %s (HTTP %ld, %zu bytes): %s",
			     url, resp->status, resp->body_len, why);
		goto transport;
	}
	const struct dcp_plugin *desc = slot->plugin.desc;
	out->result = desc->shape != NULL
			      ? desc->shape(&slot->engine->host, slot->plugin.state, reply)
			      : reply;
	if (out->result == NULL)
		call_outcome_fail(out, CALL_INTERNAL,
			     "plugin %s could not shape the reply from %s",
			     slot->plugin.path, url);
	return;

transport:
	outcome_add_string(out, "url", url);
	outcome_add_number(out, "attempts", resp->attempts);
}

static void
call_run(struct engine *engine, struct dcp_operation *slot,
	 const cJSON *params, const struct call_context *ctx,
	 struct call_outcome *out)
{
	const struct reg_operation *op = slot->reg;
	const struct dcp_plugin *desc = slot->plugin.desc;
	struct dcp_call call = { .op = slot };
	/* The plugin's own log lines during this call name its request. */
	const struct plugin_frame frame = { slot, ctx->request_id };
	const struct plugin_frame *outer = plugin_frame;
	plugin_frame = &frame;

	if (desc->prepare != NULL) {
		int rc = desc->prepare(&engine->host, slot->plugin.state, &call,
				       params);
		if (rc == DCP_INVALID || (rc != DCP_OK && call.rejected)) {
			call_outcome_fail(out, CALL_INVALID_PARAMS,
				     "Invalid parameters: %s",
				     call.invalid[0] ? call.invalid : "rejected");
			goto done;
		}
		if (rc != DCP_OK || call.out_of_memory) {
			call_outcome_fail(out, CALL_INTERNAL,
				     "plugin %s failed to prepare the request",
				     slot->plugin.path);
			goto done;
		}
	}

	char base[1024], err[512];
	if (engine_service_url(engine, op, base, sizeof base, err, sizeof err) != 0) {
		call_outcome_fail(out, CALL_SERVICE_UNRESOLVED,
			     "Cannot resolve the service URL: %s", err);
		goto done;
	}
	size_t urllen = strlen(base) + strlen(op->route) + call.query_len + 2;
	char *url = malloc(urllen);
	char *body = call.body != NULL ? cJSON_PrintUnformatted(call.body) : NULL;
	if (url == NULL || (call.body != NULL && body == NULL)) {
		free(url);
		free(body);
		call_outcome_fail(out, CALL_INTERNAL, "out of memory");
		goto done;
	}
	snprintf(url, urllen, "%s%s%s%s", base, op->route,
		 call.query_len ? "?" : "", call.query_len ? call.query : "");

	struct http_request req = {
		.method = op->method,
		.url = url,
		.body = body,
		.trace_id = ctx->trace_id,
	};
	struct retry_policy policy = {
		.timeout_ms = engine->settings.request_timeout_ms,
		.max_retries = engine->settings.max_retries,
		.base_delay_ms = engine->settings.retry_base_delay_ms,
		.max_response_bytes = engine->settings.max_response_bytes,
		.deadline_ms = ctx->deadline_ms,
	};
	struct http_response resp;
	struct log_scope scope = { &engine->logger, ctx->request_id, op->name };
	log_at(&scope, DCP_LOG_DEBUG, "%s %s", op->method, url);
	http_send_with_retry(engine->http, &req, &policy, &resp);
	outcome_from_reply(out, slot, url, &resp, policy.timeout_ms);
	http_response_clear(&resp);
	free(url);
	free(body);
done:
	plugin_frame = outer;
	free(call.query);
	cJSON_Delete(call.body);
}

static int64_t
wall_clock_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void
engine_record(struct engine *engine, const char *metric_operation,
	      const struct call_context *ctx, int64_t started,
	      struct call_outcome *out)
{
	out->latency_ms = (long)(http_now_ms() - started);
	struct log_scope scope = { &engine->logger, ctx->request_id,
				   metric_operation };
	if (out->error == CALL_OK)
		log_at(&scope, DCP_LOG_INFO, "ok in %ld ms", out->latency_ms);
	else
		log_at(&scope, DCP_LOG_WARN, "%s: %s",
		       call_error_name(out->error),
		       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			       out->result, "error")));

	if (engine->metrics_stream != NULL) {
		struct metrics_sample sample = {
			.operation = metric_operation,
			.environment = engine->settings.environment,
			.latency_ms = out->latency_ms,
			.error = out->error != CALL_OK,
			.cold_start = ctx->cold_start,
			.timestamp_ms = wall_clock_ms(),
		};
		metrics_emf_write(engine->metrics_stream,
				  engine->settings.metrics_prefix, &sample);
	}
}

void
engine_call(struct engine *engine, const char *operation,
	    const cJSON *params, const struct call_context *ctx,
	    struct call_outcome *out)
{
	static const struct call_context no_context;
	int64_t started = http_now_ms();
	memset(out, 0, sizeof *out);
	if (ctx == NULL)
		ctx = &no_context;

	struct dcp_operation *slot = slot_find(engine, operation);
	/* Metric dimensions stay bounded: unknown names are all "unknown". */
	const char *metric_operation = slot != NULL ? slot->reg->name : "unknown";

	if (slot == NULL) {
		char known[1024];
		list_operations(engine, known, sizeof known);
		call_outcome_fail(out, CALL_UNKNOWN_OPERATION,
			     "Unknown operation '%.100s' (available: %s)%s",
			     operation, known,
			     engine->registry.n_problems
				     ? "; the registry has problems: run 'dcproxy list'"
				     : "");
	} else if (params != NULL && !cJSON_IsObject(params)) {
		call_outcome_fail(out, CALL_BAD_EVENT, "'params' must be a JSON object");
	} else {
		slot_load(engine, slot);
		if (slot->state != SLOT_READY) {
			call_outcome_fail(out, CALL_PLUGIN_UNAVAILABLE,
				     "Operation '%s' is unavailable: %s", operation,
				     slot->failure ? slot->failure : "out of memory");
		} else {
			cJSON *empty = NULL;
			if (params == NULL)
				params = empty = cJSON_CreateObject();
			if (params == NULL)
				call_outcome_fail(out, CALL_INTERNAL, "out of memory");
			else
				call_run(engine, slot, params, ctx, out);
			cJSON_Delete(empty);
		}
	}
	engine_record(engine, metric_operation, ctx, started, out);
}

/* Run a parsed event (or report why it could not be parsed) and wrap the
 * outcome in the envelope. */
static cJSON *
engine_run_event(struct engine *engine, struct event *ev, int parsed,
		 const char *err, const struct call_context *ctx,
		 enum call_error *error)
{
	static const struct call_context no_context;
	struct call_outcome out;

	if (ctx == NULL)
		ctx = &no_context;
	if (parsed != 0) {
		memset(&out, 0, sizeof out);
		call_outcome_fail(&out, CALL_BAD_EVENT, "Malformed event: %s", err);
		engine_record(engine, "unknown", ctx, http_now_ms(), &out);
	} else {
		engine_call(engine, ev->operation, ev->params, ctx, &out);
	}
	if (error != NULL)
		*error = out.error;
	cJSON *envelope = envelope_wrap(ev->operation, out.result,
					engine->settings.environment);
	event_free(ev);
	return envelope;
}

cJSON *
engine_invoke_event(struct engine *engine, const char *text, size_t len,
		    const struct call_context *ctx, enum call_error *error)
{
	struct event ev;
	char err[512];
	int parsed = event_parse(&ev, text, len,
				 (size_t)engine->settings.max_event_bytes, err,
				 sizeof err);
	return engine_run_event(engine, &ev, parsed, err, ctx, error);
}

cJSON *
engine_invoke_json(struct engine *engine, cJSON *root,
		   const struct call_context *ctx, enum call_error *error)
{
	struct event ev;
	char err[512];
	int parsed = event_from_json(&ev, root, err, sizeof err);
	return engine_run_event(engine, &ev, parsed, err, ctx, error);
}
