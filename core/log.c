/* log: JSON-line logging to one stream, filtered by level. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

	cJSON *line = cJSON_CreateObject();
	if (line == NULL)
		return;
	cJSON_AddStringToObject(line, "time", stamp);
	cJSON_AddStringToObject(line, "level", log_level_name(level));
	if (scope->request_id != NULL)
		cJSON_AddStringToObject(line, "request_id", scope->request_id);
	if (scope->operation != NULL)
		cJSON_AddStringToObject(line, "operation", scope->operation);
	cJSON_AddStringToObject(line, "msg", msg);

	char *text = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	if (text == NULL)
		return;
	size_t len = strlen(text);
	text[len] = '\n'; /* overwrite the terminator: one write per line */
	fwrite(text, 1, len + 1, lg->out);
	fflush(lg->out);
	free(text);
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
