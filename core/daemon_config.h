/* daemon_config: the settings of the host service dcproxyd, described by one
 * table, read from an INI file ([dcproxyd] section) with the environment
 * overriding it.  Loaded once, before any thread starts; read-only after.
 */
#ifndef DCPROXY_DAEMON_CONFIG_H
#define DCPROXY_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Room for the table's rows; daemon_config.c checks it at compile time. */
#define DAEMON_CONFIG_MAX_SETTINGS 32

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
	long rate_limit_max;       /* SERVER_RATE_LIMIT_MAX; 0: no limit */
	double slow_down_factor;   /* SERVER_SLOW_DOWN_AFTER_FACTOR */
	long slow_down_delay_ms;   /* SERVER_SLOW_DOWN_DELAY_MS */
	long max_body_bytes;       /* DCPROXYD_MAX_BODY_BYTES */
	long connection_timeout_s; /* DCPROXYD_CONNECTION_TIMEOUT */
	long max_connections;      /* DCPROXYD_MAX_CONNECTIONS */

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

/* One line per setting: name, default, help. */
void
daemon_config_print_help(FILE *out);

#endif
