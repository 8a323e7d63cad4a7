/* status: the 'status' operation, GET /api/v1/status.  It takes no parameters, so
 * it needs no hooks: the core sends the request and returns the reply. */
#include <dcproxy/plugin.h>

const struct dcp_plugin dcproxy_plugin = {
	DCP_PLUGIN_HEADER,
	.name = "status",
	.version = "1.0.0",
	.summary = "the data-collection service's sync status",
};
