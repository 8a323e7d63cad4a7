/* runtime_api: a client of the AWS Lambda Runtime API (2018-06-01) on one
 * reused libcurl handle: fetch the next invocation, post its response or
 * error, report an init error.  Single-threaded, like the runtime loop.
 */
#ifndef DCPROXY_RUNTIME_API_H
#define DCPROXY_RUNTIME_API_H

#include <stddef.h>
#include <stdint.h>

struct runtime_api;

struct invocation {
	char request_id[128];
	char trace_id[512];
	char function_arn[512];
	int64_t deadline_epoch_ms; /* 0 when the header was absent */
	char *event;               /* NUL-terminated; owned by the client */
	size_t event_len;
};

/* host_port is AWS_LAMBDA_RUNTIME_API, e.g. "127.0.0.1:9001". */
struct runtime_api *
runtime_api_new(const char *host_port);

void
runtime_api_free(struct runtime_api *api);

/* Long-poll for the next invocation (no client timeout).  A failure is
 * retried briefly; returns 0, or -1 with a reason in err.  inv->event stays
 * valid until the next call. */
int
runtime_api_next(struct runtime_api *api, struct invocation *inv, char *err,
		 size_t errlen);

/* Post the invocation's response.  Returns 0 once the API accepted it,
 * -1 with a reason in err (after brief retries on transport errors). */
int
runtime_api_respond(struct runtime_api *api, const char *request_id,
		    const char *body, size_t len, char *err, size_t errlen);

/* Post {"errorMessage", "errorType"} for an invocation, or as the init
 * error when request_id is NULL. */
int
runtime_api_fail(struct runtime_api *api, const char *request_id,
		 const char *error_type, const char *message, char *err,
		 size_t errlen);

#endif
