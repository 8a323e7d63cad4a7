/* jsonw: JSON text appended to a growing buffer. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

void
jsonw_init(struct jsonw *w, size_t size)
{
	w->len = 0;
	w->cap = size > 0 ? size : 64;
	w->data = malloc(w->cap);
	w->failed = w->data == NULL;
	if (!w->failed)
		w->data[0] = '\0';
}

/* Room for n more bytes and the terminator. */
static bool
reserve(struct jsonw *w, size_t n)
{
	if (w->failed)
		return false;
	if (w->len + n + 1 <= w->cap)
		return true;
	size_t cap = w->cap;
	while (cap < w->len + n + 1)
		cap *= 2;
	char *grown = realloc(w->data, cap);
	if (grown == NULL) {
		w->failed = true;
		return false;
	}
	w->data = grown;
	w->cap = cap;
	return true;
}

static void
append(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->data + w->len, s, n);
	w->len += n;
	w->data[w->len] = '\0';
}

void
jsonw_raw(struct jsonw *w, const char *s)
{
	append(w, s, strlen(s));
}

void
jsonw_string(struct jsonw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	/* Worst case: every byte a six-byte \u00XX, plus the quotes. */
	size_t n = strlen(s);
	if (!reserve(w, 6 * n + 2))
		return;
	char *o = w->data + w->len;
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if (c >= 0x20 && c != '"' && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o++ = '"';
	*o = '\0';
	w->len = (size_t)(o - w->data);
}

void
jsonw_int(struct jsonw *w, long long v)
{
	char digits[24];
	int n = snprintf(digits, sizeof digits, "%lld", v);
	append(w, digits, (size_t)n);
}

char *
jsonw_finish_line(struct jsonw *w)
{
	append(w, "\n", 1);
	if (w->failed) {
		free(w->data);
		w->data = NULL;
	}
	return w->data;
}
