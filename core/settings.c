/* settings: the engine's environment settings, described by one table. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

enum setting_type {
	SETTING_STRING,
	SETTING_COUNT,   /* a non-negative integer */
	SETTING_SECONDS, /* seconds, fractions allowed, stored as ms */
};

struct setting_spec {
	const char *env;
	enum setting_type type;
	const char *fallback;
	size_t offset;
	long min, max; /* numeric bounds, after conversion */
	const char *help;
};

#define FIELD(f) offsetof(struct settings, f)

static const struct setting_spec setting_specs[] = {
	{ "ENVIRONMENT", SETTING_STRING, "dev", FIELD(environment), 0, 0,
	  "deployment environment reported in every response and metric" },
	{ "SERVICE_DISCOVERY_NAMESPACE", SETTING_STRING, "tradai.local",
	  FIELD(namespace), 0, 0,
	  "Cloud Map namespace: services resolve to http://NAME.NAMESPACE:PORT" },
	{ "REQUEST_TIMEOUT", SETTING_SECONDS, "30", FIELD(request_timeout_ms),
	  1, 900000, "upstream timeout per attempt, in seconds" },
	{ "MAX_RETRIES", SETTING_COUNT, "2", FIELD(max_retries), 0, 10,
	  "retries after a 5xx or transport failure (never after a 4xx)" },
	{ "RETRY_BASE_DELAY_MS", SETTING_COUNT, "1000",
	  FIELD(retry_base_delay_ms), 0, 600000,
	  "first retry delay; each later retry waits twice as long" },
	{ "DCPROXY_MAX_RESPONSE_BYTES", SETTING_COUNT, "6291456",
	  FIELD(max_response_bytes), 1024, 1L << 30,
	  "largest upstream reply accepted" },
	{ "DCPROXY_MAX_EVENT_BYTES", SETTING_COUNT, "6291456",
	  FIELD(max_event_bytes), 64, 1L << 30, "largest event accepted" },
	{ "METRICS_NAMESPACE_PREFIX", SETTING_STRING, "TradAI",
	  FIELD(metrics_prefix), 0, 0,
	  "CloudWatch namespace is PREFIX/DataProxy" },
	{ "LOG_LEVEL", SETTING_STRING, "info", FIELD(log_level), 0, 0,
	  "error, warn, info, debug or trace" },
	{ "DCPROXY_REGISTRY", SETTING_STRING, DCPROXY_DEFAULT_REGISTRY,
	  FIELD(registry), 0, 0,
	  "operation registry; drop-ins are read from operations.d/ beside it" },
	{ "DCPROXY_PLUGIN_PATH", SETTING_STRING, DCPROXY_DEFAULT_PLUGIN_PATH,
	  FIELD(plugin_path), 0, 0,
	  "colon-separated directories searched for operation plugins" },
};

static int
setting_apply(struct settings *s, const struct setting_spec *spec,
	      const char *text, char *err, size_t errlen)
{
	char *field = (char *)s + spec->offset;

	if (spec->type == SETTING_STRING) {
		char *copy = strdup(text);
		if (copy == NULL) {
			snprintf(err, errlen, "%s: out of memory", spec->env);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}

	char *end;
	errno = 0;
	double value = strtod(text, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == text || *end != '\0' || errno != 0 || !isfinite(value)) {
		snprintf(err, errlen, "%s: '%s' is not a number", spec->env, text);
		return -1;
	}
	if (spec->type == SETTING_SECONDS)
		value *= 1000.0;
	else if (value != floor(value)) {
		snprintf(err, errlen, "%s: '%s' is not a whole number",
			 spec->env, text);
		return -1;
	}
	if (value < (double)spec->min || value > (double)spec->max) {
		const char *unit = spec->type == SETTING_SECONDS ? " ms" : "";
		snprintf(err, errlen, "%s: '%s' is out of range (%ld%s to %ld%s)",
			 spec->env, text, spec->min, unit, spec->max, unit);
		return -1;
	}
	*(long *)field = (long)value;
	return 0;
}

int
settings_load(struct settings *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < sizeof setting_specs / sizeof setting_specs[0]; i++) {
		const struct setting_spec *spec = &setting_specs[i];
		const char *env = getenv(spec->env);
		const char *text = env != NULL && *env != '\0' ? env : spec->fallback;
		if (setting_apply(s, spec, text, err, errlen) != 0) {
			settings_free(s);
			return -1;
		}
	}
	return 0;
}

void
settings_free(struct settings *s)
{
	for (size_t i = 0; i < sizeof setting_specs / sizeof setting_specs[0]; i++) {
		if (setting_specs[i].type == SETTING_STRING) {
			char **field = (char **)((char *)s + setting_specs[i].offset);
			free(*field);
			*field = NULL;
		}
	}
}

void
settings_print_help(FILE *out)
{
	for (size_t i = 0; i < sizeof setting_specs / sizeof setting_specs[0]; i++) {
		const struct setting_spec *spec = &setting_specs[i];
		fprintf(out, "  %-28s %s (default: %s)\n", spec->env, spec->help,
			spec->fallback);
	}
}
