/* lambda_event: the events Lambda hands the runtime and the answer each
 * caller expects.  Step Functions and direct invocations send
 * {"operation", "params"} and get the envelope; API Gateway REST (payload
 * 1.0) and HTTP API (payload 2.0) proxy events are routed by method and path
 * like the host service and get {"statusCode", "headers", "body",
 * "isBase64Encoded"} with real status codes.  Thread-safe.
 */
#ifndef DCPROXY_LAMBDA_EVENT_H
#define DCPROXY_LAMBDA_EVENT_H

#include <stddef.h>

#include "engine.h"

/* Lambda's limit on a synchronous response. */
#define LAMBDA_MAX_RESPONSE_BYTES 6291456

enum lambda_event_kind {
	LAMBDA_EVENT_DIRECT,  /* Step Functions or a direct invocation */
	LAMBDA_EVENT_HTTP_V1, /* API Gateway REST API, payload 1.0 */
	LAMBDA_EVENT_HTTP_V2, /* API Gateway HTTP API, payload 2.0 */
};

/* Answer one event.  Returns the response document (malloc'd, never larger
 * than max_response bytes: a bigger answer is replaced by an error saying
 * so), or NULL when out of memory.  *kind says how the event was read. */
char *
lambda_handle_event(struct engine *engine, const char *text, size_t len,
		    const struct call_context *ctx, size_t max_response,
		    enum lambda_event_kind *kind);

#endif
