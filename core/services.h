/* services: turning a registry service into a base URL.
 *
 * A service's direct-URL variable (DATA_COLLECTION_URL for data-collection)
 * wins; otherwise the Cloud Map name http://HOST.NAMESPACE:PORT is used.
 * Pure function of the registry entry, the namespace and the environment.
 */
#ifndef DCPROXY_SERVICES_H
#define DCPROXY_SERVICES_H

#include <stddef.h>
#include "registry.h"

/* Write the service's base URL, without a trailing '/', to url.  Returns 0,
 * or -1 with a reason in err (a malformed direct URL). */
int
service_resolve_url(const struct reg_service *svc, const char *namespace,
		    char *url, size_t urllen, char *err, size_t errlen);

#endif
