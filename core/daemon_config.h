/* daemon_config: the settings of the host service dcproxyd, described by one
 * table, read from an INI file ([dcproxyd] section) with the environment
 * overriding it.  Each load makes a new config (at start, and on every
 * SIGHUP); once in use it is never written, so threads share it freely.
 */
#ifndef DCPROXY_DAEMON_CONFIG_H
#define DCPROXY_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Room for the table's rows; daemon_config.c checks it at compile time. */
#define DAEMON_CONFIG_MAX_SETTINGS 64

enum config_origin {
	CONFIG_FROM_DEFAULT = 0,
	CONFIG_FROM_FILE,
	CONFIG_FROM_ENV,
};

struct daemon_config {
	char *base_url;            /* BASE_URL, always starts and ends with '/' */
	long port;                 /* EA_PORT; 0: any free port */
	char *host;                /* EA_HOST */
	char *uuid;                /* UUID; a random v4 when unset */
	bool debug;                /* DEBUG */
	char *log_level;           /* LOG_LEVEL */
	long api_timeout_ms;       /* API_TIMEOUT */
	bool api_verbose;          /* API_VERBOSE */
	bool cache_enabled;        /* CACHE_ENABLED */
	long cache_max_items;      /* CACHE_MAX_ITEMS */
	long cache_max_age_ms;     /* CACHE_MAX_AGE */
	long cache_min_age_ms;     /* CACHE_MIN_AGE */
	bool cache_update_age_on_get; /* CACHE_UPDATE_AGE_ON_GET */
	char *cache_key_group;     /* CACHE_KEY_GROUP; defaults to uuid */
	char *cache_key_ignored;   /* CACHE_KEY_IGNORED_PROPS, comma list */
	char *cache_type;          /* CACHE_TYPE: "local" or "redis" */
	char *redis_url;           /* CACHE_REDIS_URL; "": host/port/path */
	char *redis_path;          /* CACHE_REDIS_PATH (unix socket) */
	char *redis_host;          /* CACHE_REDIS_HOST */
	long redis_port;           /* CACHE_REDIS_PORT */
	char *redis_password;      /* CACHE_REDIS_PASSWORD */
	long redis_timeout_ms;     /* CACHE_REDIS_TIMEOUT */
	long redis_idle_timeout_ms; /* CACHE_REDIS_CONNECTION_TIMEOUT */
	long redis_max_cooldown_ms; /* CACHE_REDIS_MAX_RECONNECT_COOLDOWN */
	long redis_max_queued;     /* CACHE_REDIS_MAX_QUEUED_ITEMS */
	bool coalescing_enabled;   /* REQUEST_COALESCING_ENABLED */
	long coalescing_interval_ms;     /* REQUEST_COALESCING_INTERVAL */
	long coalescing_interval_max_ms; /* REQUEST_COALESCING_INTERVAL_MAX */
	double coalescing_coefficient;   /* ..._INTERVAL_COEFFICIENT */
	long coalescing_entropy_max_ms;  /* REQUEST_COALESCING_ENTROPY_MAX */
	long coalescing_max_retries;     /* REQUEST_COALESCING_MAX_RETRIES */
	long rate_limit_max;       /* SERVER_RATE_LIMIT_MAX; 0: no limit */
	double slow_down_factor;   /* SERVER_SLOW_DOWN_AFTER_FACTOR */
	long slow_down_delay_ms;   /* SERVER_SLOW_DOWN_DELAY_MS */
	long max_body_bytes;       /* DCPROXYD_MAX_BODY_BYTES */
	long connection_timeout_s; /* DCPROXYD_CONNECTION_TIMEOUT */
	long max_connections;      /* DCPROXYD_MAX_CONNECTIONS */
	bool metrics_enabled;      /* EXPERIMENTAL_METRICS_ENABLED */
	bool metrics_use_base_url; /* METRICS_USE_BASE_URL */
	long metrics_port;         /* METRICS_PORT; 0: any free port */
	char *metrics_name;        /* METRICS_NAME; "": no app_name label */
	char *api_key;             /* DCPROXYD_API_KEY; "": no key asked */
	bool rate_limit_enabled;   /* RATE_LIMIT_ENABLED */
	long rate_limit_capacity;  /* RATE_LIMIT_CAPACITY, per minute; 0: unset */
	char *rate_limit_provider; /* RATE_LIMIT_API_PROVIDER */
	char *rate_limit_tier;     /* RATE_LIMIT_API_TIER; "": unset */
	char *limits_file;         /* DCPROXYD_LIMITS_FILE */
	bool warmup_enabled;       /* WARMUP_ENABLED */
	long warmup_unhealthy;     /* WARMUP_UNHEALTHY_THRESHOLD; -1: never */
	long warmup_sub_ttl_ms;    /* WARMUP_SUBSCRIPTION_TTL */
	long warmup_interval_ms;   /* WARMUP_INTERVAL; 0: the entry's lifetime */

	/* Where each table row's value came from, by row. */
	char *file;                /* the INI file read, NULL if none */
	enum config_origin origin[DAEMON_CONFIG_MAX_SETTINGS];
	int origin_line[DAEMON_CONFIG_MAX_SETTINGS];
};

/* Fill c from defaults, then path's [dcproxyd] section, then the
 * environment.  A missing file is fine unless required (given with
 * --config).  On a malformed value writes "FILE:LINE: KEY: reason" or
 * "KEY: reason" (environment) to err and returns -1; c is then released. */
int
daemon_config_load(struct daemon_config *c, const char *path, bool required,
		   char *err, size_t errlen);

void
daemon_config_free(struct daemon_config *c);

/* Every effective value as "KEY = VALUE ; from SOURCE", INI-shaped so the
 * output can seed a config file. */
void
daemon_config_print(const struct daemon_config *c, FILE *out);

/* A reload keeps the instance: when c's UUID was generated rather than
 * set, take prev's (and, when it is left to default, the CACHE_KEY_GROUP
 * that follows it).  Returns -1 when out of memory. */
int
daemon_config_keep_identity(struct daemon_config *c,
			    const struct daemon_config *prev);

/* The settings in names (NULL-terminated; an entry ending in '_' stands
 * for every setting that begins with it) whose values differ between was
 * and now, as "NAME changed (OLD -> NEW)" joined by ", " into out (a
 * secret without its values), truncated to fit.  Returns how many. */
size_t
daemon_config_changes(const struct daemon_config *was,
		      const struct daemon_config *now,
		      const char *const *names, char *out, size_t outlen);

/* One line per setting: name, default, help. */
void
daemon_config_print_help(FILE *out);

#endif
