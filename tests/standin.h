/* standin: a stand-in data-collection service for tests, on 127.0.0.1 at an
 * ephemeral port (libmicrohttpd, its own thread).
 *
 * It answers GET /api/v1/health|ohlcv|symbols|status and POST /api/v1/sync
 * with plausible JSON, records every request, and injects faults on demand:
 * each queued fault is consumed by one request, in order; with the queue
 * empty, requests get the normal answer.  All functions are thread-safe.
 *
 * Control endpoints, never recorded and consuming no fault, let a shell
 * script do the same: POST /_standin/fault with {"status":503},
 * {"status":200,"body":"..."}, {"delay_ms":N} or {"drop":true};
 * GET /_standin/requests (a JSON array); POST /_standin/reset.
 */
#ifndef DCPROXY_TEST_STANDIN_H
#define DCPROXY_TEST_STANDIN_H

#include <stddef.h>
#include <stdint.h>

struct standin;

struct standin_request {
	char method[16];
	char path[256];    /* without the query */
	char *query;       /* raw query string as received, "" if none */
	char *body;        /* "" if none */
	char *trace_id;    /* X-Amzn-Trace-Id, "" if none */
	char *content_type; /* Content-Type, "" if none */
	int64_t at_ms;     /* CLOCK_MONOTONIC when the request arrived */
};

/* Start on 127.0.0.1:0.  NULL on failure. */
struct standin *
standin_start(void);

/* Start on 127.0.0.1:port (0: ephemeral).  NULL on failure. */
struct standin *
standin_start_port(unsigned short port);

void
standin_stop(struct standin *s);

unsigned short
standin_port(const struct standin *s);

/* "http://127.0.0.1:PORT" */
const char *
standin_url(const struct standin *s);

/* Reply with this status and {"detail": "..."}. */
void
standin_push_status(struct standin *s, unsigned status);

/* Wait ms, then reply normally. */
void
standin_push_delay(struct standin *s, unsigned ms);

/* Close the connection without replying. */
void
standin_push_drop(struct standin *s);

/* Reply with this status and exactly this body (Content-Type JSON). */
void
standin_push_body(struct standin *s, unsigned status, const char *body);

size_t
standin_request_count(struct standin *s);

/* TCP connections accepted so far; proves (or disproves) keep-alive. */
size_t
standin_connection_count(struct standin *s);

/* Copy request i (0-based) into *out; free with standin_request_clear.
 * Returns 0, or -1 when there is no such request. */
int
standin_request_get(struct standin *s, size_t i, struct standin_request *out);

void
standin_request_clear(struct standin_request *r);

/* Forget recorded requests and queued faults. */
void
standin_reset(struct standin *s);

#endif
