/* mhd_reply: JSON replies for the tests' libmicrohttpd servers. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mhd_reply.h"

enum MHD_Result
mhd_reply_text(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/json");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result
mhd_reply_json(struct MHD_Connection *conn, unsigned status, cJSON *doc)
{
	char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
	cJSON_Delete(doc);
	if (text == NULL)
		return MHD_NO;
	enum MHD_Result ret = mhd_reply_text(conn, status, text);
	free(text);
	return ret;
}

void
mhd_body_append(struct mhd_body *b, const char *data, size_t n, size_t max)
{
	if (b->too_large || b->len + n > max) {
		mhd_body_free(b);
		b->too_large = true; /* read to the end, keep nothing */
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (grown == NULL)
			abort(); /* a test server: no point limping on */
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
mhd_body_free(struct mhd_body *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
