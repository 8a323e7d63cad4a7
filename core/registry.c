/* registry: the INI registry of services and operations. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "registry.h"

/* One file being parsed.  inih's handler is not told the line number, so the
 * reader counts lines and opens sections itself. */
struct file_parse {
	const char *file;
	FILE *stream;
	int line;
	struct registry part; /* what this file defines */
	struct reg_service *service;  /* section being filled, or NULL */
	struct reg_operation *op;     /* section being filled, or NULL */
	bool cache_given;             /* did op's section set 'cache' */
	int error_line;
	char error[256];
};

static void __attribute__((format(printf, 3, 4)))
parse_fail(struct file_parse *fp, int line, const char *fmt, ...)
{
	if (fp->error[0] != '\0')
		return; /* keep the first error */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fp->error, sizeof fp->error, fmt, ap);
	va_end(ap);
	fp->error_line = line;
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("_-.", *s) == NULL)
			return false;
	return true;
}

static void *
grow(void *array, size_t count, size_t size)
{
	return realloc(array, (count + 1) * size);
}

/* Only GET results are cached unless the section says otherwise: a POST
 * may have side effects. */
static void
operation_default_cache(struct file_parse *fp)
{
	if (fp->op != NULL && !fp->cache_given)
		fp->op->cache = fp->op->method != NULL &&
				strcmp(fp->op->method, "GET") == 0;
}

static void
section_open(struct file_parse *fp, char *header)
{
	char *close = strchr(header, ']');
	if (close == NULL) {
		parse_fail(fp, fp->line, "section header without ']'");
		return;
	}
	*close = '\0';
	char *name = strchr(header + 1, ' ');
	char kind[16] = "";
	if (name != NULL) {
		snprintf(kind, sizeof kind, "%.*s", (int)(name - header - 1),
			 header + 1);
		while (*name == ' ')
			name++;
	}
	*close = ']';
	if (name == NULL) {
		parse_fail(fp, fp->line,
			   "section must be [operation NAME] or [service NAME]");
		return;
	}

	char *label = strndup(name, (size_t)(close - name));
	if (label == NULL) {
		parse_fail(fp, fp->line, "out of memory");
		return;
	}
	if (!valid_name(label)) {
		parse_fail(fp, fp->line,
			   "bad name '%s': use 1-64 letters, digits, '_', '-' or '.'",
			   label);
		free(label);
		return;
	}

	struct registry *part = &fp->part;
	operation_default_cache(fp);
	fp->service = NULL;
	fp->op = NULL;
	fp->cache_given = false;
	if (strcmp(kind, "service") == 0) {
		struct reg_service *grown =
			grow(part->services, part->n_services, sizeof *grown);
		if (grown == NULL)
			goto oom;
		part->services = grown;
		fp->service = &grown[part->n_services++];
		*fp->service = (struct reg_service){ .name = label,
						     .line = fp->line };
	} else if (strcmp(kind, "operation") == 0) {
		struct reg_operation *grown =
			grow(part->ops, part->n_ops, sizeof *grown);
		if (grown == NULL)
			goto oom;
		part->ops = grown;
		fp->op = &grown[part->n_ops++];
		*fp->op = (struct reg_operation){ .name = label,
						  .line = fp->line };
	} else {
		parse_fail(fp, fp->line,
			   "unknown section kind '%s': expected 'operation' or 'service'",
			   kind);
		free(label);
	}
	return;
oom:
	free(label);
	parse_fail(fp, fp->line, "out of memory");
}

static char *
registry_reader(char *buf, int size, void *stream)
{
	struct file_parse *fp = stream;
	if (fp->error[0] != '\0' || fgets(buf, size, fp->stream) == NULL)
		return NULL;
	fp->line++;
	size_t n = strlen(buf);
	if (n == (size_t)size - 1 && buf[n - 1] != '\n' && !feof(fp->stream)) {
		parse_fail(fp, fp->line, "line longer than %d characters",
			   size - 2);
		return NULL;
	}
	char *start = buf;
	while (*start == ' ' || *start == '\t')
		start++;
	if (*start == '[')
		section_open(fp, start);
	return buf;
}

static int
set_string(struct file_parse *fp, char **field, const char *key,
	   const char *value)
{
	if (*field != NULL) {
		parse_fail(fp, fp->line, "'%s' given twice", key);
		return 0;
	}
	if (*value == '\0') {
		parse_fail(fp, fp->line, "'%s' is empty", key);
		return 0;
	}
	*field = strdup(value);
	if (*field == NULL) {
		parse_fail(fp, fp->line, "out of memory");
		return 0;
	}
	return 1;
}

static int
service_key(struct file_parse *fp, struct reg_service *svc, const char *key,
	    const char *value)
{
	if (strcmp(key, "host") == 0)
		return set_string(fp, &svc->host, key, value);
	if (strcmp(key, "url_env") == 0)
		return set_string(fp, &svc->url_env, key, value);
	if (strcmp(key, "port") == 0) {
		if (svc->port != 0) {
			parse_fail(fp, fp->line, "'%s' given twice", key);
			return 0;
		}
		char *end;
		long port = strtol(value, &end, 10);
		if (end == value || *end != '\0' || port < 1 || port > 65535) {
			parse_fail(fp, fp->line, "port '%s' is not 1-65535", value);
			return 0;
		}
		svc->port = (int)port;
		return 1;
	}
	parse_fail(fp, fp->line,
		   "unknown service key '%s' (expected host, port, url_env)", key);
	return 0;
}

static int
parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int
operation_key(struct file_parse *fp, struct reg_operation *op,
	      const char *key, const char *value)
{
	if (strcmp(key, "plugin") == 0)
		return set_string(fp, &op->plugin, key, value);
	if (strcmp(key, "service") == 0)
		return set_string(fp, &op->service, key, value);
	if (strcmp(key, "method") == 0) {
		if (strcmp(value, "GET") != 0 && strcmp(value, "POST") != 0) {
			parse_fail(fp, fp->line, "method '%s' is not GET or POST",
				   value);
			return 0;
		}
		return set_string(fp, &op->method, key, value);
	}
	if (strcmp(key, "route") == 0) {
		if (value[0] != '/' || strpbrk(value, " \t?#%") != NULL) {
			parse_fail(fp, fp->line,
				   "route '%s' must be a path starting with '/', without query",
				   value);
			return 0;
		}
		return set_string(fp, &op->route, key, value);
	}
	if (strcmp(key, "cache") == 0) {
		if (fp->cache_given) {
			parse_fail(fp, fp->line, "'%s' given twice", key);
			return 0;
		}
		fp->cache_given = true;
		if (parse_bool(value, &op->cache) != 0) {
			parse_fail(fp, fp->line, "cache '%s' is not yes or no", value);
			return 0;
		}
		return 1;
	}

	for (size_t i = 0; i < op->n_settings; i++) {
		if (strcmp(op->settings[i].key, key) == 0) {
			parse_fail(fp, fp->line, "'%s' given twice", key);
			return 0;
		}
	}
	struct reg_setting *grown = grow(op->settings, op->n_settings,
					 sizeof *grown);
	if (grown == NULL) {
		parse_fail(fp, fp->line, "out of memory");
		return 0;
	}
	op->settings = grown;
	struct reg_setting *s = &grown[op->n_settings];
	s->key = strdup(key);
	s->value = strdup(value);
	s->line = fp->line;
	if (s->key == NULL || s->value == NULL) {
		free(s->key);
		free(s->value);
		parse_fail(fp, fp->line, "out of memory");
		return 0;
	}
	op->n_settings++;
	return 1;
}

static int
registry_handler(void *user, const char *section, const char *key,
		 const char *value)
{
	struct file_parse *fp = user;
	(void)section; /* the reader opened it already */
	if (fp->error[0] != '\0')
		return 0;
	if (fp->service != NULL)
		return service_key(fp, fp->service, key, value);
	if (fp->op != NULL)
		return operation_key(fp, fp->op, key, value);
	parse_fail(fp, fp->line, "'%s' appears before any section", key);
	return 0;
}

static void
operation_clear(struct reg_operation *op)
{
	free(op->name);
	free(op->plugin);
	free(op->method);
	free(op->route);
	free(op->service);
	for (size_t i = 0; i < op->n_settings; i++) {
		free(op->settings[i].key);
		free(op->settings[i].value);
	}
	free(op->settings);
	free(op->file);
}

static void
service_clear(struct reg_service *svc)
{
	free(svc->name);
	free(svc->host);
	free(svc->url_env);
	free(svc->file);
}

static void
parts_clear(struct registry *part)
{
	for (size_t i = 0; i < part->n_ops; i++)
		operation_clear(&part->ops[i]);
	for (size_t i = 0; i < part->n_services; i++)
		service_clear(&part->services[i]);
	free(part->ops);
	free(part->services);
	part->ops = NULL;
	part->services = NULL;
	part->n_ops = part->n_services = 0;
}

/* "URL_ENV" for a service called "data-collection" is DATA_COLLECTION_URL. */
static char *
default_url_env(const char *name)
{
	size_t n = strlen(name);
	char *env = malloc(n + sizeof "_URL");
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		env[i] = isalnum((unsigned char)name[i])
				 ? (char)toupper((unsigned char)name[i])
				 : '_';
	memcpy(env + n, "_URL", sizeof "_URL");
	return env;
}

/* Check required keys and fill defaults once a file is fully read. */
static void
part_complete(struct file_parse *fp)
{
	struct registry *part = &fp->part;
	operation_default_cache(fp);
	for (size_t i = 0; i < part->n_services && fp->error[0] == '\0'; i++) {
		struct reg_service *svc = &part->services[i];
		if (svc->port == 0)
			parse_fail(fp, svc->line, "service '%s' has no port",
				   svc->name);
		if (svc->host == NULL)
			svc->host = strdup(svc->name);
		if (svc->url_env == NULL)
			svc->url_env = default_url_env(svc->name);
		svc->file = strdup(fp->file);
		if (svc->host == NULL || svc->url_env == NULL || svc->file == NULL)
			parse_fail(fp, svc->line, "out of memory");
	}
	for (size_t i = 0; i < part->n_ops && fp->error[0] == '\0'; i++) {
		struct reg_operation *op = &part->ops[i];
		const char *missing = op->plugin == NULL    ? "plugin"
				      : op->method == NULL  ? "method"
				      : op->route == NULL   ? "route"
				      : op->service == NULL ? "service"
							    : NULL;
		if (missing != NULL)
			parse_fail(fp, op->line, "operation '%s' has no '%s'",
				   op->name, missing);
		op->file = strdup(fp->file);
		if (op->file == NULL)
			parse_fail(fp, op->line, "out of memory");
	}
}

static void
add_problem(struct registry *reg, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	char **grown = grow(reg->problems, reg->n_problems, sizeof *grown);
	if (grown == NULL)
		return;
	reg->problems = grown;
	grown[reg->n_problems] = strdup(text);
	if (grown[reg->n_problems] != NULL)
		reg->n_problems++;
}

/* Move a parsed file into the registry unless it redefines a name. */
static void
part_merge(struct registry *reg, struct file_parse *fp)
{
	struct registry *part = &fp->part;
	for (size_t i = 0; i < part->n_ops; i++) {
		const struct reg_operation *op = &part->ops[i];
		const struct reg_operation *old =
			registry_find_operation(reg, op->name);
		for (size_t j = 0; old == NULL && j < i; j++)
			if (strcmp(part->ops[j].name, op->name) == 0)
				old = &part->ops[j];
		if (old != NULL) {
			add_problem(reg, "%s:%d: operation '%s' is already defined at %s:%d; file ignored",
				    fp->file, op->line, op->name, old->file, old->line);
			return;
		}
	}
	for (size_t i = 0; i < part->n_services; i++) {
		const struct reg_service *svc = &part->services[i];
		const struct reg_service *old =
			registry_find_service(reg, svc->name);
		for (size_t j = 0; old == NULL && j < i; j++)
			if (strcmp(part->services[j].name, svc->name) == 0)
				old = &part->services[j];
		if (old != NULL) {
			add_problem(reg, "%s:%d: service '%s' is already defined at %s:%d; file ignored",
				    fp->file, svc->line, svc->name, old->file, old->line);
			return;
		}
	}

	struct reg_operation *ops = realloc(reg->ops, (reg->n_ops + part->n_ops + 1) * sizeof *ops);
	if (ops == NULL)
		goto oom;
	reg->ops = ops;
	struct reg_service *svcs = realloc(reg->services,
		(reg->n_services + part->n_services + 1) * sizeof *svcs);
	if (svcs == NULL)
		goto oom;
	reg->services = svcs;
	/* memcpy from NULL is undefined even for zero bytes, and a file may
	 * define only services or only operations. */
	if (part->n_ops > 0)
		memcpy(ops + reg->n_ops, part->ops, part->n_ops * sizeof *ops);
	if (part->n_services > 0)
		memcpy(svcs + reg->n_services, part->services,
		       part->n_services * sizeof *svcs);
	reg->n_ops += part->n_ops;
	reg->n_services += part->n_services;
	free(part->ops);
	free(part->services);
	part->ops = NULL;
	part->services = NULL;
	part->n_ops = part->n_services = 0;
	return;
oom:
	add_problem(reg, "%s: out of memory; file ignored", fp->file);
}

/* Parse one file.  Returns -1 with errno set when it cannot be opened. */
static int
registry_load_file(struct registry *reg, const char *file)
{
	struct file_parse fp = { .file = file };
	fp.stream = fopen(file, "r");
	if (fp.stream == NULL)
		return -1;

	int rc = ini_parse_stream(registry_reader, &fp, registry_handler, &fp);
	bool read_error = ferror(fp.stream);
	fclose(fp.stream);

	if (fp.error[0] == '\0') {
		if (rc > 0)
			parse_fail(&fp, rc, "expected 'key = value' or '[section]'");
		else if (rc != 0)
			parse_fail(&fp, fp.line, "out of memory");
		else if (read_error)
			parse_fail(&fp, fp.line, "read error");
		else
			part_complete(&fp);
	}
	if (fp.error[0] != '\0')
		add_problem(reg, "%s:%d: %s; file ignored", file, fp.error_line,
			    fp.error);
	else
		part_merge(reg, &fp);
	parts_clear(&fp.part);
	return 0;
}

static int
ini_name_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 4 &&
	       strcmp(d->d_name + n - 4, ".ini") == 0;
}

static int
byte_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int
registry_load(struct registry *reg, const char *path, char *err,
	      size_t errlen)
{
	memset(reg, 0, sizeof *reg);
	reg->path = strdup(path);
	if (reg->path == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (registry_load_file(reg, path) != 0) {
		snprintf(err, errlen,
			 "cannot read registry %s: %s (set --registry or DCPROXY_REGISTRY)",
			 path, strerror(errno));
		registry_free(reg);
		return -1;
	}

	const char *slash = strrchr(path, '/');
	int dirlen = slash == NULL ? 1 : (int)(slash - path);
	char dir[4096];
	snprintf(dir, sizeof dir, "%.*s/operations.d",
		 dirlen, slash == NULL ? "." : path);

	struct dirent **names;
	int n = scandir(dir, &names, ini_name_filter, byte_order);
	if (n < 0) {
		if (errno != ENOENT)
			add_problem(reg, "%s: %s", dir, strerror(errno));
		return 0;
	}
	for (int i = 0; i < n; i++) {
		char file[4096 + 256];
		snprintf(file, sizeof file, "%s/%s", dir, names[i]->d_name);
		if (registry_load_file(reg, file) != 0)
			add_problem(reg, "%s: %s", file, strerror(errno));
		free(names[i]);
	}
	free(names);
	return 0;
}

void
registry_free(struct registry *reg)
{
	parts_clear(reg);
	for (size_t i = 0; i < reg->n_problems; i++)
		free(reg->problems[i]);
	free(reg->problems);
	free(reg->path);
	memset(reg, 0, sizeof *reg);
}

const struct reg_operation *
registry_find_operation(const struct registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->n_ops; i++)
		if (strcmp(reg->ops[i].name, name) == 0)
			return &reg->ops[i];
	return NULL;
}

const struct reg_service *
registry_find_service(const struct registry *reg, const char *name)
{
	for (size_t i = 0; i < reg->n_services; i++)
		if (strcmp(reg->services[i].name, name) == 0)
			return &reg->services[i];
	return NULL;
}

const char *
registry_setting(const struct reg_operation *op, const char *key)
{
	for (size_t i = 0; i < op->n_settings; i++)
		if (strcmp(op->settings[i].key, key) == 0)
			return op->settings[i].value;
	return NULL;
}
