/* engine: the one context that owns all state, and the operation pipeline
 * every front end runs: find the operation, load its plugin, validate,
 * resolve the service, call it with retries, shape the result, record
 * metrics.
 *
 * Threading: engine_open and engine_close run alone; engine_call and
 * engine_invoke_event may run from many threads at once.
 */
#ifndef DCPROXY_ENGINE_H
#define DCPROXY_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "loader.h"
#include "registry.h"
#include "settings.h"

struct engine;

struct engine_options {
	const char *registry;  /* overrides DCPROXY_REGISTRY when set */
	FILE *log_stream;      /* JSON log lines; NULL: none */
	FILE *metrics_stream;  /* EMF documents; NULL: none */
	const char *log_level; /* overrides LOG_LEVEL when set */
};

/* Why a call failed; the names are the `error_kind` of the result. */
enum call_error {
	CALL_OK = 0,
	CALL_BAD_EVENT,
	CALL_UNKNOWN_OPERATION,
	CALL_PLUGIN_UNAVAILABLE,
	CALL_INVALID_PARAMS,
	CALL_SERVICE_UNRESOLVED,
	CALL_CONNECTION,
	CALL_TIMEOUT,
	CALL_UPSTREAM_CLIENT_ERROR,
	CALL_UPSTREAM_SERVER_ERROR,
	CALL_BAD_UPSTREAM_REPLY,
	CALL_CONFIGURATION,
	CALL_INTERNAL,
};

/* Per-invocation facts a front end knows. All optional. */
struct call_context {
	const char *request_id;
	const char *trace_id;  /* forwarded as X-Amzn-Trace-Id */
	int64_t deadline_ms;   /* monotonic; 0: none */
	bool cold_start;       /* add ColdStart to this call's metrics */
};

struct call_outcome {
	cJSON *result;         /* the operation result, or the error object */
	enum call_error error;
	long upstream_status;  /* 0 when no reply arrived */
	int attempts;
	long latency_ms;
};

/* Read settings, load the registry, set up HTTP.  Plugins load lazily.
 * Returns NULL with a reason in err. */
struct engine *
engine_open(const struct engine_options *opts, char *err, size_t errlen);

void
engine_close(struct engine *engine);

const struct settings *
engine_settings(const struct engine *engine);

const struct registry *
engine_registry(const struct engine *engine);

/* Run one operation.  params must be an object or NULL.  Fills out; the
 * caller owns out->result.  Never fails to produce a result object. */
void
engine_call(struct engine *engine, const char *operation,
	    const cJSON *params, const struct call_context *ctx,
	    struct call_outcome *out);

/* Parse a Lambda-style event, run it, and return the Step Functions
 * envelope (never NULL unless out of memory). */
cJSON *
engine_invoke_event(struct engine *engine, const char *text, size_t len,
		    const struct call_context *ctx, enum call_error *error);

/* Run an event already parsed (root is consumed), as engine_invoke_event. */
cJSON *
engine_invoke_json(struct engine *engine, cJSON *root,
		   const struct call_context *ctx, enum call_error *error);

/* Make out a failure of the given kind with a human message, for front
 * ends that refuse a request before any operation runs. */
void
call_outcome_fail(struct call_outcome *out, enum call_error error,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Log the outcome and write its metrics under the operation label
 * ("unknown" when none matched); sets out->latency_ms from started_ms, a
 * monotonic millisecond clock reading (http_now_ms). */
void
engine_record(struct engine *engine, const char *label,
	      const struct call_context *ctx, int64_t started_ms,
	      struct call_outcome *out);

/* The error_kind name of an error. */
const char *
call_error_name(enum call_error error);

/* Load the named operation's plugin now (once).  Returns the loaded plugin,
 * or NULL with the reason in err.  Used by `dcproxy list`. */
const struct loaded_plugin *
engine_load_operation(struct engine *engine, const char *name, char *err,
		      size_t errlen);

/* The base URL of the operation's service, or -1 with a reason in err. */
int
engine_service_url(const struct engine *engine, const struct reg_operation *op,
		   char *url, size_t urllen, char *err, size_t errlen);

#endif
