/* health: the 'health' operation, GET /api/v1/health.  It takes no parameters, so
 * it needs no hooks: the core sends the request and returns the reply. */
#include <dcproxy/plugin.h>

const struct dcp_plugin dcproxy_plugin = {
	DCP_PLUGIN_HEADER,
	.name = "health",
	.version = "1.0.0",
	.summary = "checks that the data-collection service is up",
};
