/* daemon_config: dcproxyd's settings table, INI file and environment.
 * Loaded once by the main thread before any other starts.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <ini.h>

#include "daemon_config.h"
#include "log.h"

#ifndef DCPROXYD_DEFAULT_LIMITS
#define DCPROXYD_DEFAULT_LIMITS "/etc/dcproxy/limits.json"
#endif

enum config_type {
	CONFIG_STRING,
	CONFIG_BOOL,
	CONFIG_LONG,   /* an integer within [min, max] */
	CONFIG_DOUBLE, /* a number within [min, max] */
};

struct config_spec {
	const char *name; /* the INI key and the environment variable */
	enum config_type type;
	const char *fallback;
	size_t offset;
	double min, max;
	const char *help;
};

#define FIELD(f) offsetof(struct daemon_config, f)

static const struct config_spec config_specs[] = {
	{ "BASE_URL", CONFIG_STRING, "/", FIELD(base_url), 0, 0,
	  "path prefix of every route, e.g. /data-collection" },
	{ "EA_PORT", CONFIG_LONG, "8080", FIELD(port), 0, 65535,
	  "TCP port to listen on (0: any free port, logged at start)" },
	{ "EA_HOST", CONFIG_STRING, "0.0.0.0", FIELD(host), 0, 0,
	  "address to listen on (IPv4 or IPv6 literal, or a host name)" },
	{ "UUID", CONFIG_STRING, "", FIELD(uuid), 0, 0,
	  "identifier of this instance, in request ids and /healthz" },
	{ "DEBUG", CONFIG_BOOL, "false", FIELD(debug), 0, 0,
	  "debug mode: LOG_LEVEL debug unless set, and a meta object in replies" },
	{ "LOG_LEVEL", CONFIG_STRING, "info", FIELD(log_level), 0, 0,
	  "error, warn, info, debug or trace" },
	{ "API_TIMEOUT", CONFIG_LONG, "30000", FIELD(api_timeout_ms), 1,
	  3600000, "ms a request may be pending (and the SIGTERM drain limit)" },
	{ "API_VERBOSE", CONFIG_BOOL, "false", FIELD(api_verbose), 0, 0,
	  "add a meta object (cache status, age, key) to replies" },
	{ "CACHE_ENABLED", CONFIG_BOOL, "true", FIELD(cache_enabled), 0, 0,
	  "cache successful results of operations with cache = yes" },
	{ "CACHE_MAX_ITEMS", CONFIG_LONG, "1000", FIELD(cache_max_items), 1,
	  10000000, "entries kept; the least recently used goes first" },
	{ "CACHE_MAX_AGE", CONFIG_LONG, "90000", FIELD(cache_max_age_ms),
	  -86400000, 86400000,
	  "default entry lifetime in ms (0: 90000; < 0: keep nothing a request's "
	  "own maxAge does not ask for)" },
	{ "CACHE_MIN_AGE", CONFIG_LONG, "30000", FIELD(cache_min_age_ms), 0,
	  86400000, "smallest lifetime in ms a request's maxAge may ask for" },
	{ "CACHE_UPDATE_AGE_ON_GET", CONFIG_BOOL, "false",
	  FIELD(cache_update_age_on_get), 0, 0,
	  "a hit makes the entry fresh again" },
	{ "CACHE_KEY_GROUP", CONFIG_STRING, "", FIELD(cache_key_group), 0, 0,
	  "prefix of every cache key" },
	{ "CACHE_KEY_IGNORED_PROPS", CONFIG_STRING, "", FIELD(cache_key_ignored),
	  0, 0, "comma-separated params keys left out of cache keys, besides "
	  "id, maxAge, meta, rateLimitMaxAge, debug, metricsMeta" },
	{ "CACHE_TYPE", CONFIG_STRING, "local", FIELD(cache_type), 0, 0,
	  "local, or redis: a shared Redis level behind the local LRU" },
	{ "CACHE_REDIS_URL", CONFIG_STRING, "", FIELD(redis_url), 0, 0,
	  "redis[s]://[[user][:password@]][host][:port][/db][?db=N&password=P] "
	  "(rediss: TLS), or redis:///SOCKET; wins over PATH, HOST and PORT" },
	{ "CACHE_REDIS_PATH", CONFIG_STRING, "", FIELD(redis_path), 0, 0,
	  "unix socket of the Redis server; wins over HOST and PORT" },
	{ "CACHE_REDIS_HOST", CONFIG_STRING, "127.0.0.1", FIELD(redis_host), 0,
	  0, "address of the Redis server" },
	{ "CACHE_REDIS_PORT", CONFIG_LONG, "6379", FIELD(redis_port), 1, 65535,
	  "port of the Redis server" },
	{ "CACHE_REDIS_PASSWORD", CONFIG_STRING, "", FIELD(redis_password), 0,
	  0, "AUTH password (the URL's wins)" },
	{ "CACHE_REDIS_TIMEOUT", CONFIG_LONG, "500", FIELD(redis_timeout_ms), 1,
	  60000, "ms a Redis connect or command may take before it is skipped" },
	{ "CACHE_REDIS_CONNECTION_TIMEOUT", CONFIG_LONG, "15000",
	  FIELD(redis_idle_timeout_ms), 0, 86400000,
	  "ms an idle Redis connection is kept (0: forever)" },
	{ "CACHE_REDIS_MAX_RECONNECT_COOLDOWN", CONFIG_LONG, "3000",
	  FIELD(redis_max_cooldown_ms), 0, 3600000,
	  "longest ms between reconnect attempts (doubling from 100 ms)" },
	{ "CACHE_REDIS_MAX_QUEUED_ITEMS", CONFIG_LONG, "100",
	  FIELD(redis_max_queued), 1, 100000,
	  "Redis commands in flight at once; beyond, a request skips Redis" },
	{ "REQUEST_COALESCING_ENABLED", CONFIG_BOOL, "false",
	  FIELD(coalescing_enabled), 0, 0,
	  "coalesce identical misses across instances (needs CACHE_TYPE=redis)" },
	{ "REQUEST_COALESCING_INTERVAL", CONFIG_LONG, "100",
	  FIELD(coalescing_interval_ms), 1, 600000,
	  "first wait in ms for another instance's call" },
	{ "REQUEST_COALESCING_INTERVAL_MAX", CONFIG_LONG, "1000",
	  FIELD(coalescing_interval_max_ms), 1, 600000,
	  "longest single wait in ms" },
	{ "REQUEST_COALESCING_INTERVAL_COEFFICIENT", CONFIG_DOUBLE, "2",
	  FIELD(coalescing_coefficient), 1, 100,
	  "each wait is the previous one times this" },
	{ "REQUEST_COALESCING_ENTROPY_MAX", CONFIG_LONG, "0",
	  FIELD(coalescing_entropy_max_ms), 0, 600000,
	  "random 0..this ms added to each wait" },
	{ "REQUEST_COALESCING_MAX_RETRIES", CONFIG_LONG, "5",
	  FIELD(coalescing_max_retries), 0, 1000,
	  "waits before calling upstream anyway" },
	{ "SERVER_RATE_LIMIT_MAX", CONFIG_LONG, "250", FIELD(rate_limit_max), 0,
	  10000000, "requests per 5 s window before 429 (0: no limit)" },
	{ "SERVER_SLOW_DOWN_AFTER_FACTOR", CONFIG_DOUBLE, "0.8",
	  FIELD(slow_down_factor), 0, 1,
	  "past this fraction of the limit each request is delayed" },
	{ "SERVER_SLOW_DOWN_DELAY_MS", CONFIG_LONG, "500",
	  FIELD(slow_down_delay_ms), 0, 60000, "the delay, in ms" },
	{ "DCPROXYD_MAX_BODY_BYTES", CONFIG_LONG, "1048576",
	  FIELD(max_body_bytes), 64, 1L << 30,
	  "largest request body accepted (413 beyond)" },
	{ "DCPROXYD_CONNECTION_TIMEOUT", CONFIG_LONG, "30",
	  FIELD(connection_timeout_s), 1, 3600,
	  "seconds an idle or slow client connection is kept" },
	{ "DCPROXYD_MAX_CONNECTIONS", CONFIG_LONG, "1024",
	  FIELD(max_connections), 1, 65536,
	  "concurrent client connections; also the most worker threads" },
	{ "EXPERIMENTAL_METRICS_ENABLED", CONFIG_BOOL, "false",
	  FIELD(metrics_enabled), 0, 0,
	  "serve Prometheus metrics at /metrics on METRICS_PORT" },
	{ "METRICS_USE_BASE_URL", CONFIG_BOOL, "false",
	  FIELD(metrics_use_base_url), 0, 0,
	  "serve them at BASE_URL + metrics instead" },
	{ "METRICS_PORT", CONFIG_LONG, "9080", FIELD(metrics_port), 0, 65535,
	  "TCP port of the metrics endpoint, on EA_HOST (0: any free port)" },
	{ "METRICS_NAME", CONFIG_STRING, "", FIELD(metrics_name), 0, 0,
	  "value of the app_name label on every metric (unset: no label)" },
	{ "RATE_LIMIT_ENABLED", CONFIG_BOOL, "true", FIELD(rate_limit_enabled),
	  0, 0, "limit upstream calls to the provider's capacity, when one is "
	  "known (RATE_LIMIT_CAPACITY, or the provider and tier)" },
	{ "RATE_LIMIT_CAPACITY", CONFIG_LONG, "0", FIELD(rate_limit_capacity),
	  0, 100000000, "upstream calls per minute (0: from limits.json)" },
	{ "RATE_LIMIT_API_PROVIDER", CONFIG_STRING, "data-collection",
	  FIELD(rate_limit_provider), 0, 0,
	  "provider whose limits apply, a key of DCPROXYD_LIMITS_FILE" },
	{ "RATE_LIMIT_API_TIER", CONFIG_STRING, "", FIELD(rate_limit_tier), 0, 0,
	  "plan subscribed to, a tier of the provider (unset: no limit unless "
	  "RATE_LIMIT_CAPACITY)" },
	{ "DCPROXYD_LIMITS_FILE", CONFIG_STRING, DCPROXYD_DEFAULT_LIMITS,
	  FIELD(limits_file), 0, 0,
	  "limits.json: calls per second, minute and hour by provider and tier" },
	{ "WARMUP_ENABLED", CONFIG_BOOL, "true", FIELD(warmup_enabled), 0, 0,
	  "refresh the cached results clients ask for in the background "
	  "(needs CACHE_ENABLED)" },
	{ "WARMUP_UNHEALTHY_THRESHOLD", CONFIG_LONG, "3", FIELD(warmup_unhealthy),
	  -1, 1000000, "consecutive failed refreshes before a key is dropped "
	  "(-1: never)" },
	{ "WARMUP_SUBSCRIPTION_TTL", CONFIG_LONG, "3600000",
	  FIELD(warmup_sub_ttl_ms), 1, 86400000 * 7L,
	  "ms without a client request before a key stops being refreshed" },
	{ "WARMUP_INTERVAL", CONFIG_LONG, "0", FIELD(warmup_interval_ms), 0,
	  86400000, "ms between refreshes of a key whose request set no "
	  "maxAge (0: the entry's lifetime; a lifetime is refreshed at 80% of "
	  "it, a request's maxAge always so)" },
	{ "DCPROXYD_API_KEY", CONFIG_STRING, "", FIELD(api_key), 0, 0,
	  "when set, every route but /healthz and /readyz needs this X-API-Key" },
};

#define N_SPECS (sizeof config_specs / sizeof config_specs[0])
_Static_assert(N_SPECS <= DAEMON_CONFIG_MAX_SETTINGS,
	       "raise DAEMON_CONFIG_MAX_SETTINGS");

static bool
parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0)
			return *out = true, true;
		if (strcasecmp(text, no[i]) == 0)
			return *out = false, true;
	}
	return false;
}

/* Check a value a string setting must satisfy beyond being a string. */
static int
string_check(const struct config_spec *spec, const char *text, char *why,
	     size_t whylen)
{
	if (strcmp(spec->name, "BASE_URL") == 0) {
		if (text[0] != '/' || strpbrk(text, " \t?#") != NULL) {
			snprintf(why, whylen,
				 "'%s' is not a path starting with '/'", text);
			return -1;
		}
	} else if (strcmp(spec->name, "LOG_LEVEL") == 0) {
		enum dcp_log_level level;
		if (log_parse_level(text, &level) != 0) {
			snprintf(why, whylen,
				 "'%s' is not error, warn, info, debug or trace",
				 text);
			return -1;
		}
	} else if (strcmp(spec->name, "EA_HOST") == 0 && text[0] == '\0') {
		snprintf(why, whylen, "must not be empty");
		return -1;
	} else if (strcmp(spec->name, "CACHE_TYPE") == 0 &&
		   strcmp(text, "local") != 0 && strcmp(text, "redis") != 0) {
		snprintf(why, whylen, "'%s' is not local or redis", text);
		return -1;
	}
	return 0;
}

/* Set one field from text; on error writes the reason (without the key)
 * to why. */
static int
config_apply(struct daemon_config *c, const struct config_spec *spec,
	     const char *text, char *why, size_t whylen)
{
	char *field = (char *)c + spec->offset;

	switch (spec->type) {
	case CONFIG_STRING: {
		if (string_check(spec, text, why, whylen) != 0)
			return -1;
		char *copy = strdup(text);
		if (copy == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case CONFIG_BOOL:
		if (!parse_bool(text, (bool *)field)) {
			snprintf(why, whylen,
				 "'%s' is not true or false (also yes/no, on/off, 1/0)",
				 text);
			return -1;
		}
		return 0;
	case CONFIG_LONG:
	case CONFIG_DOUBLE:
		break;
	}

	char *end;
	errno = 0;
	double value = strtod(text, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == text || *end != '\0' || errno != 0 || !isfinite(value)) {
		snprintf(why, whylen, "'%s' is not a number", text);
		return -1;
	}
	if (spec->type == CONFIG_LONG && value != floor(value)) {
		snprintf(why, whylen, "'%s' is not a whole number", text);
		return -1;
	}
	if (value < spec->min || value > spec->max) {
		snprintf(why, whylen, "'%s' is out of range (%g to %g)", text,
			 spec->min, spec->max);
		return -1;
	}
	if (spec->type == CONFIG_LONG)
		*(long *)field = (long)value;
	else
		*(double *)field = value;
	return 0;
}

static const struct config_spec *
spec_find(const char *name, size_t *index)
{
	for (size_t i = 0; i < N_SPECS; i++)
		if (strcmp(config_specs[i].name, name) == 0) {
			*index = i;
			return &config_specs[i];
		}
	return NULL;
}

/* ---- the INI file ---- */

struct config_parse {
	struct daemon_config *config;
	const char *file;
	FILE *stream;
	int line;          /* of the last line read */
	char error[512];   /* "FILE:LINE: ..." once something failed */
};

/* inih reader that counts lines, so errors can name them (Debian's inih is
 * built without INI_HANDLER_LINENO). */
static char *
config_reader(char *buf, int size, void *stream)
{
	struct config_parse *p = stream;
	if (p->error[0] != '\0' || fgets(buf, size, p->stream) == NULL)
		return NULL;
	p->line++;
	size_t n = strlen(buf);
	if (n == (size_t)size - 1 && buf[n - 1] != '\n' && !feof(p->stream)) {
		snprintf(p->error, sizeof p->error,
			 "%s:%d: line longer than %d characters", p->file,
			 p->line, size - 2);
		return NULL;
	}
	return buf;
}

static int
config_handler(void *user, const char *section, const char *name,
	       const char *value)
{
	struct config_parse *p = user;
	struct daemon_config *c = p->config;
	char why[400];
	size_t i;

	if (p->error[0] != '\0')
		return 0;
	if (strcmp(section, "dcproxyd") != 0) {
		snprintf(p->error, sizeof p->error,
			 "%s:%d: [%s]: unknown section (settings go in [dcproxyd])",
			 p->file, p->line, section);
		return 0;
	}
	const struct config_spec *spec = spec_find(name, &i);
	if (spec == NULL) {
		snprintf(p->error, sizeof p->error,
			 "%s:%d: %s: unknown setting (run dcproxyd --help for the list)",
			 p->file, p->line, name);
		return 0;
	}
	if (c->origin[i] == CONFIG_FROM_FILE) {
		snprintf(p->error, sizeof p->error,
			 "%s:%d: %s: given twice (first at line %d)", p->file,
			 p->line, name, c->origin_line[i]);
		return 0;
	}
	if (config_apply(c, spec, value, why, sizeof why) != 0) {
		snprintf(p->error, sizeof p->error, "%s:%d: %s: %s", p->file,
			 p->line, name, why);
		return 0;
	}
	c->origin[i] = CONFIG_FROM_FILE;
	c->origin_line[i] = p->line;
	return 1;
}

/* Returns 1 when the file is absent, 0 when read, -1 with err on error. */
static int
config_read_file(struct daemon_config *c, const char *path, char *err,
		 size_t errlen)
{
	struct config_parse p = { .config = c, .file = path };
	p.stream = fopen(path, "r");
	if (p.stream == NULL) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(config_reader, &p, config_handler, &p);
	int read_errno = ferror(p.stream) ? errno : 0;
	fclose(p.stream);
	if (p.error[0] == '\0') {
		if (rc > 0)
			snprintf(p.error, sizeof p.error,
				 "%s:%d: expected 'KEY = value' or '[dcproxyd]'",
				 path, rc);
		else if (rc < 0)
			snprintf(p.error, sizeof p.error, "%s: out of memory",
				 path);
		else if (read_errno == EISDIR)
			snprintf(p.error, sizeof p.error,
				 "%s: is a directory, not a settings file", path);
		else if (read_errno != 0)
			snprintf(p.error, sizeof p.error, "%s:%d: read error: %s",
				 path, p.line, strerror(read_errno));
	}
	if (p.error[0] != '\0') {
		snprintf(err, errlen, "%s", p.error);
		return -1;
	}
	c->file = strdup(path);
	return 0;
}

/* ---- derived values ---- */

static int
config_make_uuid(char **out)
{
	uint8_t b[16];
	size_t got = 0;
	while (got < sizeof b) {
		ssize_t n = getrandom(b + got, sizeof b - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	char *text = malloc(37);
	if (text == NULL)
		return -1;
	snprintf(text, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	free(*out);
	*out = text;
	return 0;
}

/* BASE_URL always ends in '/', so routes are BASE + "api/v1/..." */
static int
config_finish(struct daemon_config *c)
{
	size_t n = strlen(c->base_url);
	if (c->base_url[n - 1] != '/') {
		char *grown = realloc(c->base_url, n + 2);
		if (grown == NULL)
			return -1;
		grown[n] = '/';
		grown[n + 1] = '\0';
		c->base_url = grown;
	}
	if (c->uuid[0] == '\0' && config_make_uuid(&c->uuid) != 0)
		return -1;
	/* As the external-adapter framework reads it: 0 is the default. */
	size_t i;
	const struct config_spec *max_age = spec_find("CACHE_MAX_AGE", &i);
	if (c->cache_max_age_ms == 0 && max_age != NULL)
		c->cache_max_age_ms = strtol(max_age->fallback, NULL, 10);
	if (c->cache_key_group[0] == '\0') {
		char *copy = strdup(c->uuid);
		if (copy == NULL)
			return -1;
		free(c->cache_key_group);
		c->cache_key_group = copy;
	}
	return 0;
}

int
daemon_config_load(struct daemon_config *c, const char *path, bool required,
		   char *err, size_t errlen)
{
	char why[400];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < N_SPECS; i++)
		if (config_apply(c, &config_specs[i], config_specs[i].fallback,
				 why, sizeof why) != 0) {
			snprintf(err, errlen, "%s: %s", config_specs[i].name, why);
			goto fail;
		}

	if (path != NULL) {
		int rc = config_read_file(c, path, err, errlen);
		if (rc < 0)
			goto fail;
		if (rc == 1 && required) {
			snprintf(err, errlen, "%s: no such file", path);
			goto fail;
		}
	}

	for (size_t i = 0; i < N_SPECS; i++) {
		const char *env = getenv(config_specs[i].name);
		if (env == NULL || env[0] == '\0')
			continue;
		if (config_apply(c, &config_specs[i], env, why, sizeof why) != 0) {
			snprintf(err, errlen, "%s: %s (from the environment)",
				 config_specs[i].name, why);
			goto fail;
		}
		c->origin[i] = CONFIG_FROM_ENV;
		c->origin_line[i] = 0;
	}

	if (config_finish(c) != 0) {
		snprintf(err, errlen, "out of memory or no randomness for UUID");
		goto fail;
	}
	return 0;
fail:
	daemon_config_free(c);
	return -1;
}

void
daemon_config_free(struct daemon_config *c)
{
	for (size_t i = 0; i < N_SPECS; i++)
		if (config_specs[i].type == CONFIG_STRING) {
			char **field = (char **)((char *)c + config_specs[i].offset);
			free(*field);
			*field = NULL;
		}
	free(c->file);
	c->file = NULL;
}

/* The value of spec in c as text, in buf when it is a number; a secret
 * says whether it is set, never what it is (*hidden then). */
static const char *
spec_value(const struct config_spec *spec, const struct daemon_config *c,
	   char *buf, size_t len, bool *hidden)
{
	const char *field = (const char *)c + spec->offset;
	const char *text = buf;
	*hidden = false;
	switch (spec->type) {
	case CONFIG_STRING:
		text = *(char *const *)field;
		if ((strcmp(spec->name, "DCPROXYD_API_KEY") == 0 ||
		     strcmp(spec->name, "CACHE_REDIS_PASSWORD") == 0) &&
		    text[0] != '\0') {
			*hidden = true;
			return "(set, hidden)";
		}
		/* A URL may carry a password before '@' or in ?password=. */
		if (strcmp(spec->name, "CACHE_REDIS_URL") == 0 &&
		    (strchr(text, '@') != NULL ||
		     strstr(text, "password=") != NULL)) {
			*hidden = true;
			return "(set, hidden: it holds a password)";
		}
		return text;
	case CONFIG_BOOL:
		return *(const bool *)field ? "true" : "false";
	case CONFIG_LONG:
		snprintf(buf, len, "%ld", *(const long *)field);
		break;
	case CONFIG_DOUBLE:
		snprintf(buf, len, "%g", *(const double *)field);
		break;
	}
	return text;
}

void
daemon_config_print(const struct daemon_config *c, FILE *out)
{
	fprintf(out, "[dcproxyd]\n");
	for (size_t i = 0; i < N_SPECS; i++) {
		const struct config_spec *spec = &config_specs[i];
		char value[64];
		bool hidden;
		fprintf(out, "%s = %s ; from ", spec->name,
			spec_value(spec, c, value, sizeof value, &hidden));
		switch (c->origin[i]) {
		case CONFIG_FROM_DEFAULT:
			/* Generated values say so: a restart changes them. */
			if ((strcmp(spec->name, "UUID") == 0 ||
			     strcmp(spec->name, "CACHE_KEY_GROUP") == 0) &&
			    spec->fallback[0] == '\0')
				fprintf(out, "default (%s)\n",
					strcmp(spec->name, "UUID") == 0
						? "generated"
						: "UUID");
			else
				fprintf(out, "default\n");
			break;
		case CONFIG_FROM_FILE:
			fprintf(out, "%s:%d\n", c->file, c->origin_line[i]);
			break;
		case CONFIG_FROM_ENV:
			fprintf(out, "env\n");
			break;
		}
	}
}

static bool
spec_differs(const struct config_spec *spec, const struct daemon_config *a,
	     const struct daemon_config *b)
{
	const char *x = (const char *)a + spec->offset;
	const char *y = (const char *)b + spec->offset;
	switch (spec->type) {
	case CONFIG_STRING:
		return strcmp(*(char *const *)x, *(char *const *)y) != 0;
	case CONFIG_BOOL:
		return *(const bool *)x != *(const bool *)y;
	case CONFIG_LONG:
		return *(const long *)x != *(const long *)y;
	case CONFIG_DOUBLE:
		return *(const double *)x != *(const double *)y;
	}
	return false;
}

static bool
spec_named(const struct config_spec *spec, const char *const *names)
{
	for (; *names != NULL; names++) {
		size_t n = strlen(*names);
		if (n > 0 && (*names)[n - 1] == '_'
			    ? strncmp(spec->name, *names, n) == 0
			    : strcmp(spec->name, *names) == 0)
			return true;
	}
	return false;
}

size_t
daemon_config_changes(const struct daemon_config *was,
		      const struct daemon_config *now,
		      const char *const *names, char *out, size_t outlen)
{
	size_t changed = 0, used = 0;
	if (outlen > 0)
		out[0] = '\0';
	for (size_t i = 0; i < N_SPECS; i++) {
		const struct config_spec *spec = &config_specs[i];
		if (!spec_named(spec, names) || !spec_differs(spec, was, now))
			continue;
		char a[64], b[64];
		bool hid_a, hid_b;
		const char *from = spec_value(spec, was, a, sizeof a, &hid_a);
		const char *to = spec_value(spec, now, b, sizeof b, &hid_b);
		int n;
		if (hid_a || hid_b)
			n = snprintf(out + used, outlen - used, "%s%s changed",
				     changed > 0 ? ", " : "", spec->name);
		else
			n = snprintf(out + used, outlen - used,
				     "%s%s changed (%s -> %s)",
				     changed > 0 ? ", " : "", spec->name,
				     from[0] != '\0' ? from : "\"\"",
				     to[0] != '\0' ? to : "\"\"");
		changed++;
		if (n > 0 && used + 1 < outlen)
			used += (size_t)n < outlen - used ? (size_t)n
							  : outlen - used - 1;
	}
	return changed;
}

void
daemon_config_print_help(FILE *out)
{
	/* One column for the names, as wide as the longest. */
	int width = 0;
	for (size_t i = 0; i < N_SPECS; i++) {
		int n = (int)strlen(config_specs[i].name);
		width = n > width ? n : width;
	}
	for (size_t i = 0; i < N_SPECS; i++) {
		const struct config_spec *spec = &config_specs[i];
		/* The default is said here only, never in the help text. */
		fprintf(out, "  %-*s %s (default: %s)\n", width, spec->name,
			spec->help,
			spec->fallback[0] ? spec->fallback
			: strcmp(spec->name, "UUID") == 0
				? "a random v4 UUID at each start"
			: strcmp(spec->name, "CACHE_KEY_GROUP") == 0 ? "UUID"
								     : "none");
	}
}

int
daemon_config_keep_identity(struct daemon_config *c,
			    const struct daemon_config *prev)
{
	size_t i, g;
	if (spec_find("UUID", &i) == NULL || c->origin[i] != CONFIG_FROM_DEFAULT)
		return 0;
	char *copy = strdup(prev->uuid);
	/* A key group left to default is the UUID: kept with it, or every
	 * reload would make the cache's keys new. */
	bool group = spec_find("CACHE_KEY_GROUP", &g) != NULL &&
		     c->origin[g] == CONFIG_FROM_DEFAULT;
	char *group_copy = group ? strdup(prev->uuid) : NULL;
	if (copy == NULL || (group && group_copy == NULL)) {
		free(copy);
		free(group_copy);
		return -1;
	}
	free(c->uuid);
	c->uuid = copy;
	if (group) {
		free(c->cache_key_group);
		c->cache_key_group = group_copy;
	}
	return 0;
}
