/* log: JSON-line logging to one stream, filtered by level. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "jsonw.h"
#include "log.h"

static const char *const level_names[] = {
	[DCP_LOG_ERROR] = "error", [DCP_LOG_WARN] = "warn",
	[DCP_LOG_INFO] = "info",   [DCP_LOG_DEBUG] = "debug",
	[DCP_LOG_TRACE] = "trace",
};

int
log_parse_level(const char *name, enum dcp_log_level *level)
{
	if (strcasecmp(name, "warning") == 0) {
		*level = DCP_LOG_WARN;
		return 0;
	}
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level = (enum dcp_log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_set_level(struct logger *lg, enum dcp_log_level level)
{
	__atomic_store_n(&lg->level, level, __ATOMIC_RELAXED);
}

const char *
log_level_name(enum dcp_log_level level)
{
	return level <= DCP_LOG_TRACE ? level_names[level] : "unknown";
}

void
log_va(const struct log_scope *scope, enum dcp_log_level level,
       const char *fmt, va_list ap)
{
	const struct logger *lg = scope->logger;
	/* Atomic: dcproxyd changes the level of a running logger on reload. */
	if (lg == NULL || lg->out == NULL ||
	    level > __atomic_load_n(&lg->level, __ATOMIC_RELAXED))
		return;

	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);

	struct timespec now;
	struct tm tm;
	char stamp[40];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", now.tv_nsec / 1000000);

	struct jsonw w;
	jsonw_init(&w, 256);
	jsonw_raw(&w, "{\"time\":\"");
	jsonw_raw(&w, stamp);
	jsonw_raw(&w, "\",\"level\":\"");
	jsonw_raw(&w, log_level_name(level));
	jsonw_raw(&w, "\"");
	if (scope->request_id != NULL) {
		jsonw_raw(&w, ",\"request_id\":");
		jsonw_string(&w, scope->request_id);
	}
	if (scope->operation != NULL) {
		jsonw_raw(&w, ",\"operation\":");
		jsonw_string(&w, scope->operation);
	}
	jsonw_raw(&w, ",\"msg\":");
	jsonw_string(&w, msg);
	jsonw_raw(&w, "}");
	char *line = jsonw_finish_line(&w);
	if (line == NULL)
		return;
	fwrite(line, 1, w.len, lg->out); /* one write per line */
	fflush(lg->out);
	free(line);
}

void
log_at(const struct log_scope *scope, enum dcp_log_level level,
       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_va(scope, level, fmt, ap);
	va_end(ap);
}

int
log_guard_stdio(void)
{
	static const int modes[3] = { O_WRONLY, O_RDONLY, O_RDONLY };
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* The lowest free number: fd itself, as those below are open. */
		int got = open("/dev/null", modes[fd]);
		if (got != fd) {
			if (got >= 0)
				close(got);
			return -1;
		}
	}
	return 0;
}
