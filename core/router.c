/* router: REST routing shared by the front ends that speak HTTP. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "router.h"

/* path without base, or NULL when path is not under base. */
static const char *
strip_base(const char *base, const char *path)
{
	size_t n = base != NULL ? strlen(base) : 0;
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n == 0)
		return path;
	if (strncmp(path, base, n) != 0 || (path[n] != '/' && path[n] != '\0'))
		return NULL;
	return path + n;
}

static bool
same_path(const char *route, const char *path)
{
	size_t n = strlen(route);
	if (strncmp(route, path, n) != 0)
		return false;
	return path[n] == '\0' || (path[n] == '/' && path[n + 1] == '\0');
}

enum route_match
router_match(const struct registry *reg, const char *base,
	     const char *method, const char *path,
	     const struct reg_operation **op)
{
	const char *rest = strip_base(base, path);
	enum route_match match = ROUTE_NOT_FOUND;
	*op = NULL;
	if (rest == NULL)
		return match;
	for (size_t i = 0; i < reg->n_ops; i++) {
		if (!same_path(reg->ops[i].route, rest))
			continue;
		*op = &reg->ops[i];
		if (strcmp(reg->ops[i].method, method) == 0)
			return ROUTE_FOUND;
		match = ROUTE_WRONG_METHOD;
	}
	return match;
}

/* Whether ops[i] is the first operation with its method on path, so
 * each method is listed once. */
static bool
first_with_method(const struct registry *reg, size_t i, const char *rest)
{
	for (size_t j = 0; j < i; j++)
		if (same_path(reg->ops[j].route, rest) &&
		    strcmp(reg->ops[j].method, reg->ops[i].method) == 0)
			return false;
	return true;
}

const struct reg_operation *
router_route_owner(const struct registry *reg, const struct reg_operation *op)
{
	const struct reg_operation *owner = op;
	router_match(reg, NULL, op->method, op->route, &owner);
	return owner != NULL ? owner : op;
}

const char *
router_allowed_methods(const struct registry *reg, const char *base,
		       const char *path, char *buf, size_t buflen)
{
	const char *rest = strip_base(base, path);
	size_t used = 0;
	buf[0] = '\0';
	if (rest == NULL)
		return buf;
	for (size_t i = 0; i < reg->n_ops; i++) {
		const char *method = reg->ops[i].method;
		if (!same_path(reg->ops[i].route, rest) ||
		    !first_with_method(reg, i, rest))
			continue;
		/* Every GET route answers HEAD too. */
		if (strcmp(method, "GET") == 0)
			method = "GET, HEAD";
		size_t need = (used > 0 ? 2 : 0) + strlen(method);
		if (used + need >= buflen)
			break; /* whole methods only */
		used += (size_t)snprintf(buf + used, buflen - used, "%s%s",
					 used > 0 ? ", " : "", method);
	}
	return buf;
}

int
router_http_status(const struct call_outcome *out)
{
	switch (out->error) {
	case CALL_OK:
		return 200;
	case CALL_BAD_EVENT:
	case CALL_INVALID_PARAMS:
		return 400;
	case CALL_UNKNOWN_OPERATION:
		return 404;
	case CALL_UPSTREAM_CLIENT_ERROR:
		/* The service refused what we sent on the caller's behalf. */
		return out->upstream_status >= 400 && out->upstream_status < 500
			       ? (int)out->upstream_status
			       : 502;
	case CALL_TIMEOUT:
		return 504;
	case CALL_PLUGIN_UNAVAILABLE:
		return 503;
	case CALL_SERVICE_UNRESOLVED:
	case CALL_CONNECTION:
	case CALL_UPSTREAM_SERVER_ERROR:
	case CALL_BAD_UPSTREAM_REPLY:
		return 502;
	case CALL_CONFIGURATION:
	case CALL_INTERNAL:
		break;
	}
	return 500;
}
