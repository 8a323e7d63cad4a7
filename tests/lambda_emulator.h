/* lambda_emulator: an AWS Lambda Runtime API (2018-06-01) emulator for
 * tests on 127.0.0.1 (libmicrohttpd, one thread per connection, so a
 * long-polling /next blocks nothing else).  All functions are thread-safe.
 */

/* The runtime side is the real API: GET /2018-06-01/runtime/invocation/next
 * waits for a queued invocation and answers 200 with the event and the
 * Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn and
 * (when given) -Trace-Id headers; POST .../invocation/{id}/response and
 * .../invocation/{id}/error answer 202 and record the body (and the
 * Lambda-Runtime-Function-Error-Type header), 400 for an id that is not
 * awaiting an answer, 413 for a body over 6 MiB (recorded as an error of
 * type Function.ResponseSizeTooLarge, as Lambda fails the invocation);
 * POST /2018-06-01/runtime/init/error answers 202 and records likewise.
 *
 * Control endpoints, never counted and consuming no fault, let a shell
 * script drive it (tests/dcproxy-lambda-emulator):
 *   POST /_emulator/invoke[?budget_ms=N&trace_id=X&repeat=N], the event as
 *     the body ("{}" when empty): queues the invocation, waits for the
 *     runtime's answer and replies 200 {"request_id":"...",
 *     "kind":"response"|"error","body":<what the runtime posted, spliced
 *     in verbatim when it is JSON, else as a string>,
 *     "error_type":"..."|null}.  With repeat=N it runs N invocations back
 *     to back and adds "count" (answers received), "errors" (how many were
 *     of kind error) and "wall_ms"; the other fields are the last
 *     invocation's.  An invocation with no answer within budget_ms + 10 s
 *     replies 504 with "kind":"timeout".  Bad parameters: 400.
 *   GET /_emulator/init-error: 404 until the runtime reports one, then
 *     {"body":<the posted JSON>,"error_type":"..."}.
 *   GET /_emulator/stats: {"next_calls":N,"first_next_ms":<ms from start
 *     to the first /next, or null>,"invocations":<answers recorded>}.
 */
#ifndef DCPROXY_TEST_LAMBDA_EMULATOR_H
#define DCPROXY_TEST_LAMBDA_EMULATOR_H

#include <stddef.h>
#include <stdint.h>

/* Lambda's limit on a synchronous response, as the runtime enforces it
 * (LAMBDA_MAX_RESPONSE_BYTES); Lambda itself tolerates 100 bytes more. */
#define EMU_MAX_RESPONSE_BYTES ((size_t)6 << 20)
/* An invocation's time budget when the caller gives none: Lambda's 3 min. */
#define EMU_DEFAULT_BUDGET_MS 180000L

struct lambda_emulator;

enum emu_kind {
	EMU_RESPONSE, /* posted to /response */
	EMU_ERROR,    /* posted to /error, /init/error, or refused with 413 */
};

struct emu_outcome {
	enum emu_kind kind;
	char request_id[64];   /* "" for an init error */
	char *body;            /* what was posted, NUL-terminated */
	size_t body_len;
	char *error_type;      /* Lambda-Runtime-Function-Error-Type, "" if none */
	int64_t delivered_ms;  /* epoch ms when /next handed it out */
	int64_t deadline_ms;   /* epoch ms of its Lambda-Runtime-Deadline-Ms */
	int64_t answered_ms;   /* epoch ms when the answer arrived */
};

/* Where a fault strikes (GET /next, or a POST of an invocation's
 * /response or /error), and what it does. */
enum emu_fault_target { EMU_ON_NEXT, EMU_ON_RESPONSE };
enum emu_fault_kind {
	EMU_FAULT_500,  /* answer 500 and record nothing */
	EMU_FAULT_DROP, /* close the connection without a reply */
};

/* Start on 127.0.0.1:0.  NULL on failure. */
struct lambda_emulator *
lambda_emulator_start(void);

/* Start on 127.0.0.1:port (0: ephemeral).  NULL on failure. */
struct lambda_emulator *
lambda_emulator_start_port(unsigned short port);

/* Ends every wait, closes every connection, frees everything. */
void
lambda_emulator_stop(struct lambda_emulator *e);

unsigned short
lambda_emulator_port(const struct lambda_emulator *e);

/* "127.0.0.1:PORT", the value of AWS_LAMBDA_RUNTIME_API. */
const char *
lambda_emulator_endpoint(const struct lambda_emulator *e);

/* Queue an invocation of the event (len bytes) with a budget in ms (<= 0:
 * EMU_DEFAULT_BUDGET_MS) and an optional trace id.  Copies its request id
 * into request_id.  Returns 0, or -1 when stopping. */
int
lambda_emulator_queue(struct lambda_emulator *e, const char *event,
		      size_t len, long budget_ms, const char *trace_id,
		      char *request_id, size_t idlen);

/* Wait up to timeout_ms for the answer to request_id and move it into
 * *out (free with emu_outcome_clear); the invocation is then forgotten.
 * Returns 0, or -1 on timeout (a queued invocation no /next took yet is
 * withdrawn then) or for an unknown id. */
int
lambda_emulator_wait(struct lambda_emulator *e, const char *request_id,
		     long timeout_ms, struct emu_outcome *out);

/* Queue the NUL-terminated event and wait for its answer: both of the
 * above. */
int
lambda_emulator_invoke(struct lambda_emulator *e, const char *event,
		       long budget_ms, const char *trace_id, long timeout_ms,
		       struct emu_outcome *out);

/* Wait up to timeout_ms for an init error and copy the first one into
 * *out.  Returns 0, or -1 when none arrived. */
int
lambda_emulator_init_error(struct lambda_emulator *e, long timeout_ms,
			   struct emu_outcome *out);

void
emu_outcome_clear(struct emu_outcome *out);

/* GET /next requests received so far, faulted ones included. */
size_t
lambda_emulator_next_calls(struct lambda_emulator *e);

/* Milliseconds from start to the first /next, or -1 before one. */
long
lambda_emulator_first_next_ms(struct lambda_emulator *e);

/* The next count requests of target get the fault, in order of arrival
 * (queued faults of one target are consumed first in, first out). */
void
lambda_emulator_push_fault(struct lambda_emulator *e,
			   enum emu_fault_target target,
			   enum emu_fault_kind kind, unsigned count);

#endif
