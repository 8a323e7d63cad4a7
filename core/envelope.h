/* envelope: the Lambda-style event going in and the Step Functions
 * response envelope coming out.  Pure functions over cJSON values.
 */
#ifndef DCPROXY_ENVELOPE_H
#define DCPROXY_ENVELOPE_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct event {
	cJSON *root;           /* owns what follows */
	const char *operation; /* "health" when the event names none */
	const cJSON *params;   /* always an object */
};

/* Parse `{"operation": ..., "params": {...}}`.  An object naming neither
 * (an S3 or SQS event sent here by mistake, say) is refused rather than
 * taken for a health check; `{}` is a health check.  Returns 0, or -1 with a
 * human reason in err; ev->operation is then the operation the event
 * names if it could be read, else NULL.  Call event_free either way. */
int
event_parse(struct event *ev, const char *text, size_t len, size_t max_len,
	    char *err, size_t errlen);

/* Whether len bytes of JSON text (or of a value bound for a JSON string)
 * can be carried faithfully: valid UTF-8 (RFC 8259 8.1: anything else
 * would be echoed into answers no strict parser reads) with no NUL byte
 * and, when json, no \u0000 escape (a C string ends there: the rest of
 * the value would be silently dropped).  Returns 0, or -1 with err saying
 * "WHAT is not valid UTF-8 (at byte N)" or why else, naming the byte. */
int
text_check(const char *what, const char *text, size_t len, int json,
	   char *err, size_t errlen);

/* text as one JSON value with nothing after it but white space, and
 * passing text_check.  Returns 0, or -1 with err saying "WHAT is not valid
 * JSON (error at byte N)", "WHAT has data after the JSON value (at byte
 * N)" or text_check's reason.  *root is the tree whenever the text parsed,
 * refused or not: the caller's to free. */
int
json_parse_whole(const char *what, const char *text, size_t len,
		 cJSON **root, char *err, size_t errlen);

/* The same for an already parsed document; takes ownership of root. */
int
event_from_json(struct event *ev, cJSON *root, char *err, size_t errlen);

void
event_free(struct event *ev);

/* {"statusCode":200,"body":{"success":true,"data":{"operation":...,
 * "result":...},"environment":...}}.  Takes ownership of result;
 * operation NULL becomes JSON null. */
cJSON *
envelope_wrap(const char *operation, cJSON *result, const char *environment);

#endif
