/* mhd_reply: request bodies and JSON replies for the tests' libmicrohttpd
 * servers (the stand-in service and the Runtime API emulator).  Stateless;
 * a body belongs to one request. */
#ifndef DCPROXY_TEST_MHD_REPLY_H
#define DCPROXY_TEST_MHD_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

/* An uploaded body, NUL-terminated.  Past max bytes it is dropped and
 * too_large set, so the server can read to the end and answer 413. */
struct mhd_body {
	char *data; /* NULL while empty or dropped */
	size_t len, cap;
	bool too_large;
};

void
mhd_body_append(struct mhd_body *b, const char *data, size_t n, size_t max);

void
mhd_body_free(struct mhd_body *b);

/* Queue body (copied) as application/json with the given status. */
enum MHD_Result
mhd_reply_text(struct MHD_Connection *conn, unsigned status, const char *body);

/* The same for a document, which it takes ownership of. */
enum MHD_Result
mhd_reply_json(struct MHD_Connection *conn, unsigned status, cJSON *doc);

#endif
