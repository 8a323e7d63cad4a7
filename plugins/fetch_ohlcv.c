/* fetch_ohlcv: the 'fetch_ohlcv' operation, GET /api/v1/ohlcv.
 *
 * Checks symbol, timeframe and limit, and forwards start and end when given.
 * Registry settings: default_limit, default_timeframe.  State is read-only
 * after init.
 */
#include <stdio.h>
#include <stdlib.h>

#include <dcproxy/plugin.h>

#include "tradai_params.h"

#define LIMIT_MAX 10000

struct ohlcv_config {
	long default_limit;
	char default_timeframe[16];
};

static const char *const ohlcv_settings[] = { "default_limit",
					      "default_timeframe", NULL };

static int
ohlcv_init(const struct dcp_host *host, const dcp_operation *op, void **state,
	   char *err, size_t errlen)
{
	struct ohlcv_config *cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return DCP_FAILED;
	}
	const char *limit = host->setting(op, "default_limit");
	const char *timeframe = host->setting(op, "default_timeframe");
	cfg->default_limit = 1000;
	snprintf(cfg->default_timeframe, sizeof cfg->default_timeframe, "%s",
		 timeframe != NULL ? timeframe : "1h");
	if ((limit != NULL &&
	     integer_parse("default_limit", limit, 1, LIMIT_MAX,
			   &cfg->default_limit, err, errlen) != 0) ||
	    timeframe_check("default_timeframe", cfg->default_timeframe, err,
			    errlen) != 0) {
		free(cfg);
		return DCP_FAILED;
	}
	*state = cfg;
	return DCP_OK;
}

static void
ohlcv_fini(void *state)
{
	free(state);
}

/* start and end pass through as given: a date string or epoch number. */
static int
ohlcv_forward_bound(const struct dcp_host *host, dcp_call *call,
		    const cJSON *params, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(params, key);
	char number[32];
	if (item == NULL || cJSON_IsNull(item))
		return DCP_OK;
	if (cJSON_IsString(item) && item->valuestring[0] != '\0')
		return host->add_query(call, key, item->valuestring);
	if (cJSON_IsNumber(item)) {
		snprintf(number, sizeof number, "%.17g", item->valuedouble);
		return host->add_query(call, key, number);
	}
	return host->invalid(call, "'%s' must be a non-empty string or a number",
			     key);
}

static int
ohlcv_prepare(const struct dcp_host *host, void *state, dcp_call *call,
	      const cJSON *params)
{
	const struct ohlcv_config *cfg = state;
	const char *symbol, *timeframe;
	long limit;
	char why[256], number[32];

	if (param_string(params, "symbol", true, &symbol, why, sizeof why) != 0 ||
	    symbol_check("symbol", symbol, why, sizeof why) != 0 ||
	    param_string(params, "timeframe", false, &timeframe, why,
			 sizeof why) != 0 ||
	    (timeframe != NULL &&
	     timeframe_check("timeframe", timeframe, why, sizeof why) != 0) ||
	    param_integer(params, "limit", 1, LIMIT_MAX, cfg->default_limit,
			  &limit, why, sizeof why) != 0)
		return host->invalid(call, "%s", why);

	snprintf(number, sizeof number, "%ld", limit);
	int rc = host->add_query(call, "symbol", symbol);
	if (rc == DCP_OK)
		rc = host->add_query(call, "timeframe",
				     timeframe != NULL ? timeframe
						       : cfg->default_timeframe);
	if (rc == DCP_OK)
		rc = host->add_query(call, "limit", number);
	if (rc == DCP_OK)
		rc = ohlcv_forward_bound(host, call, params, "start");
	if (rc == DCP_OK)
		rc = ohlcv_forward_bound(host, call, params, "end");
	return rc;
}

const struct dcp_plugin dcproxy_plugin = {
	DCP_PLUGIN_HEADER,
	.name = "fetch_ohlcv",
	.version = "1.0.0",
	.summary = "OHLCV candles for one symbol and timeframe",
	.settings = ohlcv_settings,
	.init = ohlcv_init,
	.fini = ohlcv_fini,
	.prepare = ohlcv_prepare,
};
