/* ensure_data: the 'ensure-data' operation, POST /api/v1/sync.
 *
 * Makes sure the data-collection service holds the candles a backtest needs:
 * the start date is moved back by padding_days to cover the strategy's
 * start-up candles, dates are normalised to YYYY-MM-DD, and the sync body is
 * built exactly as the service expects.  Registry settings: padding_days,
 * default_timeframe, default_exchange.  State is read-only after init.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dcproxy/plugin.h>

#include "tradai_params.h"

#define PADDING_MAX 3650

static const char *const exchanges[] = { "binance_futures", "bybit_futures",
					 "okx_futures" };

struct sync_config {
	long padding_days;
	char default_timeframe[16];
	const char *default_exchange; /* one of exchanges[] */
};

static const char *const sync_settings[] = {
	"padding_days", "default_timeframe", "default_exchange", NULL
};

static const char *
exchange_find(const char *name)
{
	for (size_t i = 0; i < sizeof exchanges / sizeof exchanges[0]; i++)
		if (strcmp(exchanges[i], name) == 0)
			return exchanges[i];
	return NULL;
}

static int
exchange_check(const char *key, const char *name, char *why, size_t whylen)
{
	if (exchange_find(name) != NULL)
		return 0;
	snprintf(why, whylen,
		 "'%s' must be one of binance_futures, bybit_futures, okx_futures, not '%.60s'",
		 key, name);
	return -1;
}

static int
sync_init(const struct dcp_host *host, const dcp_operation *op, void **state,
	  char *err, size_t errlen)
{
	struct sync_config *cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return DCP_FAILED;
	}
	const char *padding = host->setting(op, "padding_days");
	const char *timeframe = host->setting(op, "default_timeframe");
	const char *exchange = host->setting(op, "default_exchange");
	cfg->padding_days = 30;
	snprintf(cfg->default_timeframe, sizeof cfg->default_timeframe, "%s",
		 timeframe != NULL ? timeframe : "1h");
	cfg->default_exchange =
		exchange_find(exchange != NULL ? exchange : "binance_futures");
	if ((padding != NULL &&
	     integer_parse("padding_days", padding, 0, PADDING_MAX,
			   &cfg->padding_days, err, errlen) != 0) ||
	    timeframe_check("default_timeframe", cfg->default_timeframe, err,
			    errlen) != 0 ||
	    (cfg->default_exchange == NULL &&
	     exchange_check("default_exchange", exchange, err, errlen) != 0)) {
		free(cfg);
		return DCP_FAILED;
	}
	*state = cfg;
	return DCP_OK;
}

static void
sync_fini(void *state)
{
	free(state);
}

/* Copy the symbols list after checking every entry. */
static cJSON *
symbols_copy(const cJSON *params, char *why, size_t whylen)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(params, "symbols");
	if (list == NULL || cJSON_IsNull(list)) {
		snprintf(why, whylen, "'symbols' is required");
		return NULL;
	}
	if (!cJSON_IsArray(list)) {
		snprintf(why, whylen, "'symbols' must be a list of symbols");
		return NULL;
	}
	int n = cJSON_GetArraySize(list);
	if (n == 0 || n > SYMBOLS_MAX_COUNT) {
		snprintf(why, whylen, "'symbols' must hold 1 to %d symbols, not %d",
			 SYMBOLS_MAX_COUNT, n);
		return NULL;
	}
	cJSON *copy = cJSON_CreateArray();
	if (copy == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	const cJSON *item;
	int i = 0;
	cJSON_ArrayForEach(item, list) {
		char key[32];
		snprintf(key, sizeof key, "symbols[%d]", i++);
		if (!cJSON_IsString(item)) {
			snprintf(why, whylen, "'%s' must be a string", key);
			goto fail;
		}
		if (symbol_check(key, item->valuestring, why, whylen) != 0)
			goto fail;
		cJSON *s = cJSON_CreateString(item->valuestring);
		if (s == NULL || !cJSON_AddItemToArray(copy, s)) {
			cJSON_Delete(s);
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
	}
	return copy;
fail:
	cJSON_Delete(copy);
	return NULL;
}

static int
sync_prepare(const struct dcp_host *host, void *state, dcp_call *call,
	     const cJSON *params)
{
	const struct sync_config *cfg = state;
	const char *start_text, *end_text, *timeframe, *exchange;
	struct civil_date start, end;
	long padding;
	char why[256];

	cJSON *symbols = symbols_copy(params, why, sizeof why);
	if (symbols == NULL)
		return host->invalid(call, "%s", why);

	if (param_string(params, "timeframe", false, &timeframe, why,
			 sizeof why) != 0 ||
	    (timeframe != NULL &&
	     timeframe_check("timeframe", timeframe, why, sizeof why) != 0) ||
	    param_string(params, "start_date", true, &start_text, why,
			 sizeof why) != 0 ||
	    date_parse("start_date", start_text, &start, why, sizeof why) != 0 ||
	    param_string(params, "end_date", true, &end_text, why,
			 sizeof why) != 0 ||
	    date_parse("end_date", end_text, &end, why, sizeof why) != 0 ||
	    param_string(params, "exchange", false, &exchange, why,
			 sizeof why) != 0 ||
	    (exchange != NULL &&
	     exchange_check("exchange", exchange, why, sizeof why) != 0) ||
	    param_integer(params, "padding_days", 0, PADDING_MAX,
			  cfg->padding_days, &padding, why, sizeof why) != 0) {
		cJSON_Delete(symbols);
		return host->invalid(call, "%s", why);
	}

	long start_days = civil_date_to_days(&start);
	long end_days = civil_date_to_days(&end);
	if (end_days < start_days) {
		cJSON_Delete(symbols);
		return host->invalid(call,
				     "'end_date' %s is before 'start_date' %s",
				     end_text, start_text);
	}
	struct civil_date padded = civil_date_from_days(start_days - padding);
	if (padded.year < 1) {
		cJSON_Delete(symbols);
		return host->invalid(call,
				     "'start_date' %s minus %ld padding days is before year 1",
				     start_text, padding);
	}

	char padded_text[16], end_out[16];
	civil_date_format(&padded, padded_text, sizeof padded_text);
	civil_date_format(&end, end_out, sizeof end_out);

	/* Key order as the service's own example. */
	cJSON *body = cJSON_CreateObject();
	if (body == NULL || !cJSON_AddItemToObject(body, "symbols", symbols)) {
		cJSON_Delete(body);
		cJSON_Delete(symbols);
		return DCP_FAILED;
	}
	cJSON_AddStringToObject(body, "start_date", padded_text);
	cJSON_AddStringToObject(body, "end_date", end_out);
	cJSON_AddStringToObject(body, "timeframe",
				timeframe != NULL ? timeframe
						  : cfg->default_timeframe);
	cJSON_AddStringToObject(body, "exchange",
				exchange != NULL ? exchange
						 : cfg->default_exchange);
	host->set_body(call, body);
	return DCP_OK;
}

const struct dcp_plugin dcproxy_plugin = {
	DCP_PLUGIN_HEADER,
	.name = "ensure-data",
	.version = "1.0.0",
	.summary = "syncs the candles a backtest needs, start padded for lookback",
	.settings = sync_settings,
	.init = sync_init,
	.fini = sync_fini,
	.prepare = sync_prepare,
};
