/* mhd_reply: JSON replies for the tests' libmicrohttpd servers (the
 * stand-in service and the Runtime API emulator).  Stateless. */
#ifndef DCPROXY_TEST_MHD_REPLY_H
#define DCPROXY_TEST_MHD_REPLY_H

#include <cjson/cJSON.h>
#include <microhttpd.h>

/* Queue body (copied) as application/json with the given status. */
enum MHD_Result
mhd_reply_text(struct MHD_Connection *conn, unsigned status, const char *body);

/* The same for a document, which it takes ownership of. */
enum MHD_Result
mhd_reply_json(struct MHD_Connection *conn, unsigned status, cJSON *doc);

#endif
