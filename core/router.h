/* router: REST routing shared by the front ends that speak HTTP (API
 * Gateway events, the host service): method + path to a registry operation,
 * request parts to params, and an outcome to an HTTP status.  Pure
 * functions over a loaded registry; thread-safe.
 */
#ifndef DCPROXY_ROUTER_H
#define DCPROXY_ROUTER_H

#include <cjson/cJSON.h>

#include "engine.h"
#include "registry.h"

enum route_match {
	ROUTE_FOUND,
	ROUTE_NOT_FOUND,      /* no operation has this path: 404 */
	ROUTE_WRONG_METHOD,   /* the path exists for another method: 405 */
};

/* Find the operation whose route equals path once base is stripped from
 * its front (base "/" or "" means none; a trailing '/' on path is ignored).
 * Sets *op when found; on ROUTE_WRONG_METHOD *op is the path's owner. */
enum route_match
router_match(const struct registry *reg, const char *base,
	     const char *method, const char *path,
	     const struct reg_operation **op);

/* The operation HTTP routes op's method and route to: op itself, or an
 * earlier one with the same method and route, which leaves op reachable by
 * events only. */
const struct reg_operation *
router_route_owner(const struct registry *reg, const struct reg_operation *op);

/* Room for any Allow list router_allowed_methods writes: every method
 * RFC 9110 defines, comma-separated, fits. */
#define ROUTER_ALLOW_LEN 64

/* The methods the registry accepts for path, matched as router_match does
 * (base stripped, one trailing '/' ignored), for the Allow header of a 405:
 * "GET, HEAD, POST", in registry order, each once; a GET route takes HEAD
 * too, which the servers answer as GET without the body.  Writes only
 * whole methods to buf (buflen > 0; ROUTER_ALLOW_LEN always suffices) and
 * returns buf, which is "" when no operation has this path. */
const char *
router_allowed_methods(const struct registry *reg, const char *base,
		       const char *path, char *buf, size_t buflen);

/* The HTTP status a REST caller gets for an outcome. */
int
router_http_status(const struct call_outcome *out);

#endif
