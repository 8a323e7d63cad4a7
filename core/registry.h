/* registry: the INI registry of services and operations.
 *
 * The main file is read first, then every operations.d/NAME.ini beside it in
 * byte order of NAME.  A file with an error is rejected whole and recorded as
 * a problem naming file and line; the other files still load, so one broken
 * drop-in cannot take the other operations down.  Read-only once loaded.
 */
#ifndef DCPROXY_REGISTRY_H
#define DCPROXY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

struct reg_setting {
	char *key;
	char *value;
	int line;
};

struct reg_service {
	char *name;
	char *host;    /* DNS label before the namespace; defaults to name */
	char *url_env; /* variable holding a direct URL, e.g. DATA_COLLECTION_URL */
	int port;
	char *file;
	int line;
};

struct reg_operation {
	char *name;
	char *plugin;  /* a name without extension, or a path (has a /) */
	char *method;  /* GET or POST */
	char *route;   /* upstream path, also the REST route */
	char *service; /* a reg_service name */
	bool cache;    /* may results be cached; default yes for GET only */
	struct reg_setting *settings; /* keys handed to the plugin */
	size_t n_settings;
	char *file;
	int line;
};

struct registry {
	char *path; /* the main file */
	struct reg_service *services;
	size_t n_services;
	struct reg_operation *ops;
	size_t n_ops;
	char **problems; /* "file:line: reason", one per rejected file */
	size_t n_problems;
};

/* Load path and its drop-ins.  Returns -1 with err set only when the main
 * file cannot be read at all; errors inside files become problems. */
int
registry_load(struct registry *reg, const char *path, char *err,
	      size_t errlen);

void
registry_free(struct registry *reg);

const struct reg_operation *
registry_find_operation(const struct registry *reg, const char *name);

const struct reg_service *
registry_find_service(const struct registry *reg, const char *name);

/* The operation's setting, or NULL. */
const char *
registry_setting(const struct reg_operation *op, const char *key);

#endif
