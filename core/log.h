/* log: JSON-line logging to one stream, filtered by level.
 *
 * Each line is written with a single fwrite, so lines from several threads
 * never interleave.  A log_scope names the request and operation a line
 * belongs to; both are optional.
 */
#ifndef DCPROXY_LOG_H
#define DCPROXY_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include "dcproxy/plugin.h"

struct logger {
	FILE *out;
	enum dcp_log_level level; /* lines above this level are dropped */
};

struct log_scope {
	const struct logger *logger;
	const char *request_id; /* may be NULL */
	const char *operation;  /* may be NULL */
};

/* Parse "error", "warn"/"warning", "info", "debug", "trace" (any case).
 * Returns 0, or -1 for anything else. */
int
log_parse_level(const char *name, enum dcp_log_level *level);

/* Change a logger's level while other threads log through it (a reload). */
void
log_set_level(struct logger *lg, enum dcp_log_level level);

const char *
log_level_name(enum dcp_log_level level);

void
log_at(const struct log_scope *scope, enum dcp_log_level level,
       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

void
log_va(const struct log_scope *scope, enum dcp_log_level level,
       const char *fmt, va_list ap);

/* Call first thing in main: reopen each of standard input, output and
 * error that the caller left closed on /dev/null, input write-only and the
 * others read-only, so that using them fails (EBADF) instead of reaching
 * whatever file or socket would otherwise be opened on that number first.
 * Returns 0, or -1 when /dev/null cannot be opened. */
int
log_guard_stdio(void);

#endif
