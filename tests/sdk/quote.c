/* quote: a third-party plugin built out of tree against the installed SDK
 * (pkg-config dcproxy); the SDK tests build and load it.  It forwards one
 * validated symbol as a query value and wraps the reply. */
#include <dcproxy/plugin.h>

static int
quote_prepare(const struct dcp_host *host, void *state, dcp_call *call,
	      const cJSON *params)
{
	const cJSON *symbol = cJSON_GetObjectItemCaseSensitive(params, "symbol");
	(void)state;
	if (!cJSON_IsString(symbol))
		return host->invalid(call, "'symbol' must be a string");
	return host->add_query(call, "symbol", symbol->valuestring);
}

static cJSON *
quote_shape(const struct dcp_host *host, void *state, cJSON *reply)
{
	(void)host;
	(void)state;
	cJSON *result = cJSON_CreateObject();
	if (result == NULL || !cJSON_AddItemToObject(result, "quote", reply)) {
		cJSON_Delete(result);
		cJSON_Delete(reply);
		return NULL;
	}
	return result;
}

const struct dcp_plugin dcproxy_plugin = {
	DCP_PLUGIN_HEADER,
	.name = "quote",
	.version = "1.0.0",
	.summary = "a third-party example: one quote",
	.prepare = quote_prepare,
	.shape = quote_shape,
};
