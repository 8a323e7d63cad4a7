/* jsonw: JSON text appended to a growing buffer, for the lines written on
 * every request (log lines, EMF documents), where building a cJSON tree
 * only to print and free it costs more than the write itself.
 *
 * A writer belongs to one thread.  Strings are escaped as cJSON prints
 * them; bytes from 0x80 up pass through unchanged.
 */
#ifndef DCPROXY_JSONW_H
#define DCPROXY_JSONW_H

#include <stdbool.h>
#include <stddef.h>

struct jsonw {
	char *data;   /* NUL-terminated; the caller frees it */
	size_t len, cap;
	bool failed;  /* out of memory: the text is incomplete */
};

/* An empty writer with room for about size bytes. */
void
jsonw_init(struct jsonw *w, size_t size);

/* Append s as it is: punctuation, keys known to need no escaping. */
void
jsonw_raw(struct jsonw *w, const char *s);

/* Append s as a quoted, escaped JSON string. */
void
jsonw_string(struct jsonw *w, const char *s);

/* Append an integer. */
void
jsonw_int(struct jsonw *w, long long v);

/* The text with a newline appended, ready for one write of w->len bytes;
 * NULL (and the buffer freed) when any append failed. */
char *
jsonw_finish_line(struct jsonw *w);

#endif
