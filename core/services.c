/* services: turning a registry service into a base URL. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "services.h"

int
service_resolve_url(const struct reg_service *svc, const char *namespace,
		    char *url, size_t urllen, char *err, size_t errlen)
{
	const char *direct = getenv(svc->url_env);
	if (direct == NULL || *direct == '\0') {
		int n = snprintf(url, urllen, "http://%s.%s:%d", svc->host,
				 namespace, svc->port);
		if (n < 0 || (size_t)n >= urllen) {
			snprintf(err, errlen, "service '%s': URL too long",
				 svc->name);
			return -1;
		}
		return 0;
	}

	size_t scheme = strncasecmp(direct, "http://", 7) == 0    ? 7
			: strncasecmp(direct, "https://", 8) == 0 ? 8
								  : 0;
	size_t n = strlen(direct);
	while (n > scheme && direct[n - 1] == '/')
		n--;
	/* A host must follow the scheme: "https://" alone or "http:///x"
	 * would otherwise become a base URL with none. */
	if (scheme == 0 || strpbrk(direct, " \t\r\n?#") != NULL ||
	    n <= scheme || direct[scheme] == '/' || n >= urllen) {
		snprintf(err, errlen,
			 "%s='%.200s' is not an http:// or https:// base URL",
			 svc->url_env, direct);
		return -1;
	}
	memcpy(url, direct, n);
	url[n] = '\0';
	return 0;
}
