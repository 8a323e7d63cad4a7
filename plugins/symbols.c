/* symbols: the 'symbols' operation, GET /api/v1/symbols.  It takes no parameters, so
 * it needs no hooks: the core sends the request and returns the reply. */
#include <dcproxy/plugin.h>

const struct dcp_plugin dcproxy_plugin = {
	DCP_PLUGIN_HEADER,
	.name = "symbols",
	.version = "1.0.0",
	.summary = "the symbols the data-collection service knows",
};
