/* lambda_event: the events Lambda hands the runtime and their answers. */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "envelope.h"
#include "http.h"
#include "lambda_event.h"
#include "router.h"

/* Decode standard base64 (padding optional, whitespace skipped).  Returns
 * a NUL-terminated buffer and its length, or NULL on bad input. */
static char *
base64_decode(const char *in, size_t *outlen)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in);
	char *out = malloc(n / 4 * 3 + 4);
	if (out == NULL)
		return NULL;
	uint32_t bits = 0;
	int have = 0;
	size_t o = 0;
	bool padding = false;
	for (const char *p = in; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=') {
			padding = true;
			continue;
		}
		const char *at = strchr(alphabet, *p);
		if (at == NULL || padding) {
			free(out);
			return NULL;
		}
		bits = bits << 6 | (uint32_t)(at - alphabet);
		have += 6;
		if (have >= 8) {
			have -= 8;
			out[o++] = (char)(bits >> have & 0xff);
		}
	}
	if (have >= 6) { /* a lone sextet cannot end a valid encoding */
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static const char *
json_string_at(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* The HTTP request inside an API Gateway event. */
struct http_event {
	const char *method;
	const char *path;
	const char *unstaged; /* path without a leading "/{stage}", or NULL */
	const cJSON *query; /* object of strings, or NULL */
	const cJSON *body;  /* as given: a string, by API Gateway; NULL if absent */
	const cJSON *base64; /* isBase64Encoded as given, or NULL */
};

static bool
http_event_read(const cJSON *root, struct http_event *req,
		enum lambda_event_kind *kind)
{
	const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(root, "requestContext");
	const char *version = json_string_at(root, "version");
	memset(req, 0, sizeof *req);

	if (version != NULL && strcmp(version, "2.0") == 0) {
		const cJSON *http = cJSON_GetObjectItemCaseSensitive(ctx, "http");
		req->method = json_string_at(http, "method");
		req->path = json_string_at(root, "rawPath");
		if (req->path == NULL)
			req->path = json_string_at(http, "path");
		*kind = LAMBDA_EVENT_HTTP_V2;
		/* On the default endpoint a named stage prefixes rawPath
		 * (/prod/api/v1/health); through a custom domain it does not,
		 * and the path may well begin with a segment named like the
		 * stage.  Keep both: http_handle routes the path as given and
		 * falls back to this only when that matches nothing. */
		const char *stage = json_string_at(ctx, "stage");
		size_t n = stage != NULL ? strlen(stage) : 0;
		if (req->path != NULL && n > 0 && strcmp(stage, "$default") != 0 &&
		    req->path[0] == '/' && strncmp(req->path + 1, stage, n) == 0 &&
		    req->path[n + 1] == '/')
			req->unstaged = req->path + n + 1;
	} else {
		req->method = json_string_at(root, "httpMethod");
		req->path = json_string_at(root, "path");
		*kind = LAMBDA_EVENT_HTTP_V1;
	}
	if (req->method == NULL || req->path == NULL)
		return false;
	/* HEAD is GET without the body, which API Gateway leaves out. */
	if (strcmp(req->method, "HEAD") == 0)
		req->method = "GET";

	const cJSON *query =
		cJSON_GetObjectItemCaseSensitive(root, "queryStringParameters");
	req->query = cJSON_IsObject(query) ? query : NULL;
	req->body = cJSON_GetObjectItemCaseSensitive(root, "body");
	req->base64 = cJSON_GetObjectItemCaseSensitive(root, "isBase64Encoded");
	return true;
}

static bool
is_http_event(const cJSON *root)
{
	const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(root, "requestContext");
	return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "httpMethod")) ||
	       (cJSON_IsObject(ctx) &&
		cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ctx, "http")));
}

/* {"statusCode", "headers", "body": "<json>", "isBase64Encoded": false} */
static char *
http_answer(int status, cJSON *payload, const char *allow)
{
	char *body = payload != NULL ? cJSON_PrintUnformatted(payload) : NULL;
	cJSON_Delete(payload);
	cJSON *doc = cJSON_CreateObject();
	cJSON *headers = cJSON_CreateObject();
	if (body == NULL || doc == NULL || headers == NULL) {
		free(body);
		cJSON_Delete(doc);
		cJSON_Delete(headers);
		return NULL;
	}
	cJSON_AddNumberToObject(doc, "statusCode", status);
	cJSON_AddStringToObject(headers, "Content-Type", "application/json");
	if (allow != NULL)
		cJSON_AddStringToObject(headers, "Allow", allow);
	cJSON_AddItemToObject(doc, "headers", headers);
	cJSON_AddStringToObject(doc, "body", body);
	cJSON_AddBoolToObject(doc, "isBase64Encoded", 0);
	free(body);
	char *text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return text;
}

/* The params an HTTP request carries: the query for GET, the JSON body
 * for POST.  API Gateway sends the body as a string (base64 when
 * isBase64Encoded); a body that is already a JSON object, as in a test
 * event written by hand, is taken as it is.  NULL with a reason when the
 * body is anything else. */
static cJSON *
http_params(const struct http_event *req, char *why, size_t whylen)
{
	if (req->base64 != NULL && !cJSON_IsBool(req->base64) &&
	    !cJSON_IsNull(req->base64)) {
		snprintf(why, whylen, "isBase64Encoded must be true or false");
		return NULL;
	}
	const cJSON *body = cJSON_IsNull(req->body) ? NULL : req->body;
	if (strcmp(req->method, "POST") != 0 || body == NULL ||
	    (cJSON_IsString(body) && body->valuestring[0] == '\0'))
		return req->query != NULL ? cJSON_Duplicate(req->query, 1)
					  : cJSON_CreateObject();
	if (cJSON_IsObject(body))
		return cJSON_Duplicate(body, 1);
	if (!cJSON_IsString(body)) {
		snprintf(why, whylen,
			 "body must be a string (of JSON) or a JSON object");
		return NULL;
	}

	size_t len = strlen(body->valuestring);
	char *decoded = NULL;
	const char *json = body->valuestring;
	if (cJSON_IsTrue(req->base64)) {
		decoded = base64_decode(json, &len);
		if (decoded == NULL) {
			snprintf(why, whylen, "body is not valid base64");
			return NULL;
		}
		json = decoded;
	}
	cJSON *params;
	int rc = json_parse_whole("body", json, len, &params, why, whylen);
	free(decoded);
	if (rc == 0 && !cJSON_IsObject(params)) {
		snprintf(why, whylen, "body must be a JSON object");
		rc = -1;
	}
	if (rc != 0) {
		cJSON_Delete(params);
		return NULL;
	}
	return params;
}

/* Refuse an HTTP request before any operation runs, recording it. */
static char * __attribute__((format(printf, 7, 8)))
http_refuse(struct engine *engine, const char *label,
	    const struct call_context *ctx, int64_t started, int status,
	    enum call_error error, const char *fmt, ...)
{
	struct call_outcome out = { 0 };
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	call_outcome_fail(&out, error, "%s", text);
	engine_record(engine, label, ctx, started, &out);
	return http_answer(status, out.result, NULL);
}

static char *
http_handle(struct engine *engine, const cJSON *root,
	    const struct call_context *ctx, enum lambda_event_kind *kind)
{
	struct http_event req;
	struct call_outcome out;
	char why[256];
	int64_t started = http_now_ms();

	if (!http_event_read(root, &req, kind))
		return http_refuse(engine, "unknown", ctx, started, 400,
				   CALL_BAD_EVENT,
				   "API Gateway event without a method and path");

	const struct registry *reg = engine_registry(engine);
	const struct reg_operation *op;
	const char *path = req.path;
	enum route_match match = router_match(reg, NULL, req.method, path, &op);
	if (match == ROUTE_NOT_FOUND && req.unstaged != NULL) {
		match = router_match(reg, NULL, req.method, req.unstaged, &op);
		if (match != ROUTE_NOT_FOUND)
			path = req.unstaged;
	}
	switch (match) {
	case ROUTE_NOT_FOUND:
		return http_refuse(engine, "unknown", ctx, started, 404,
				   CALL_UNKNOWN_OPERATION,
				   "No route for %s %.200s", req.method, req.path);
	case ROUTE_WRONG_METHOD: {
		char allow[ROUTER_ALLOW_LEN];
		router_allowed_methods(reg, NULL, path, allow, sizeof allow);
		memset(&out, 0, sizeof out);
		call_outcome_fail(&out, CALL_BAD_EVENT,
				  "%s %.200s: method not allowed, use %s",
				  req.method, req.path, allow);
		engine_record(engine, op->name, ctx, started, &out);
		return http_answer(405, out.result, allow);
	}
	case ROUTE_FOUND:
		break;
	}

	cJSON *params = http_params(&req, why, sizeof why);
	if (params == NULL)
		return http_refuse(engine, op->name, ctx, started, 400,
				   CALL_BAD_EVENT, "%s", why);
	engine_call(engine, op->name, params, ctx, &out);
	cJSON_Delete(params);
	return http_answer(router_http_status(&out), out.result, NULL);
}

/* Replace an answer Lambda would refuse with one saying why; the call
 * itself was recorded already. */
static char *
too_large(const struct engine *engine, enum lambda_event_kind kind,
	  size_t size, size_t max)
{
	struct call_outcome out = { 0 };
	call_outcome_fail(&out, CALL_BAD_UPSTREAM_REPLY,
			  "response of %zu bytes exceeds Lambda's %zu-byte limit: ask for less (e.g. a smaller limit)",
			  size, max);
	if (kind != LAMBDA_EVENT_DIRECT)
		return http_answer(502, out.result, NULL);
	cJSON *envelope = envelope_wrap(NULL, out.result,
					engine_settings(engine)->environment);
	char *text = envelope != NULL ? cJSON_PrintUnformatted(envelope) : NULL;
	cJSON_Delete(envelope);
	return text;
}

char *
lambda_handle_event(struct engine *engine, const char *text, size_t len,
		    const struct call_context *ctx, size_t max_response,
		    enum lambda_event_kind *kind)
{
	char *answer;
	cJSON *envelope = NULL;
	/* An oversize event is left to engine_invoke_event to refuse. */
	bool small = len <= (size_t)engine_settings(engine)->max_event_bytes;
	/* So is text that is not one JSON value, or not UTF-8, or holds a
	 * NUL, to say where: the reading event_parse does. */
	char why[128];
	cJSON *root = NULL;
	if (small &&
	    json_parse_whole("event", text, len, &root, why, sizeof why) != 0) {
		cJSON_Delete(root);
		root = NULL;
	}
	*kind = LAMBDA_EVENT_DIRECT;
	if (cJSON_IsObject(root) && is_http_event(root)) {
		answer = http_handle(engine, root, ctx, kind);
		cJSON_Delete(root);
	} else {
		/* Unparsable text goes the long way, to report where it broke. */
		envelope = root != NULL
				   ? engine_invoke_json(engine, root, ctx, NULL)
				   : engine_invoke_event(engine, text, len, ctx, NULL);
		answer = envelope != NULL ? cJSON_PrintUnformatted(envelope) : NULL;
		cJSON_Delete(envelope);
	}

	size_t size = answer != NULL ? strlen(answer) : 0;
	if (size > max_response) {
		free(answer);
		answer = too_large(engine, *kind, size, max_response);
	}
	return answer;
}
