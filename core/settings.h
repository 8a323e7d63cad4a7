/* settings: the engine's environment settings, described by one table.
 *
 * Each setting has a name, an environment variable, a type, a default and a
 * line of help; defaults, environment overrides, validation and `--help` all
 * come from that table.  Settings are read once, before any thread starts.
 */
#ifndef DCPROXY_SETTINGS_H
#define DCPROXY_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct settings {
	char *environment;      /* ENVIRONMENT */
	char *namespace;        /* SERVICE_DISCOVERY_NAMESPACE */
	long request_timeout_ms; /* REQUEST_TIMEOUT, given in seconds */
	long max_retries;       /* MAX_RETRIES */
	long retry_base_delay_ms; /* RETRY_BASE_DELAY_MS */
	long max_response_bytes; /* DCPROXY_MAX_RESPONSE_BYTES */
	long max_event_bytes;   /* DCPROXY_MAX_EVENT_BYTES */
	char *metrics_prefix;   /* METRICS_NAMESPACE_PREFIX */
	char *log_level;        /* LOG_LEVEL */
	char *registry;         /* DCPROXY_REGISTRY */
	char *plugin_path;      /* DCPROXY_PLUGIN_PATH */
};

/* Fill s with defaults overridden by the environment.  On a malformed value
 * writes "VAR: reason" to err and returns -1; s is then released. */
int
settings_load(struct settings *s, char *err, size_t errlen);

void
settings_free(struct settings *s);

/* One line per setting: variable, default, help. */
void
settings_print_help(FILE *out);

#endif
