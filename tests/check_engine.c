/* check_engine: the whole pipeline (registry, plugins, validation, HTTP,
 * envelope, metrics) through engine_invoke_event and engine_call, with the
 * in-tree registry and plugins, against the stand-in service.
 */
#include "config.h"

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine.h"
#include "http.h"
#include "standin.h"
#include "testutil.h"

static struct standin *standin;
static struct engine *engine;
static FILE *metrics;
static cJSON *envelope;             /* the last invocation's */
static struct standin_request seen; /* the last request looked at */

/* ---- fixture ---- */

static void
open_engine(void)
{
	char err[1024];
	engine_close(engine);
	if (metrics != NULL)
		fclose(metrics);
	metrics = tmpfile();
	ck_assert_ptr_nonnull(metrics);
	struct engine_options opts = { .metrics_stream = metrics };
	engine = engine_open(&opts, err, sizeof err);
	ck_assert_msg(engine != NULL, "engine_open: %s", err);
}

static void
setup(void)
{
	char registry[4096];
	const char *top = getenv("TOP_SRCDIR");
	ck_assert_msg(top != NULL, "TOP_SRCDIR is not set");
	ck_assert_msg(getenv("DCPROXY_PLUGIN_PATH") != NULL,
		      "DCPROXY_PLUGIN_PATH is not set");
	snprintf(registry, sizeof registry, "%s/etc/operations.ini", top);

	standin = standin_start();
	ck_assert_ptr_nonnull(standin);
	setenv("DCPROXY_REGISTRY", registry, 1);
	setenv("DATA_COLLECTION_URL", standin_url(standin), 1);
	setenv("RETRY_BASE_DELAY_MS", "20", 1);
	static const char *const unset[] = {
		"ENVIRONMENT", "REQUEST_TIMEOUT", "MAX_RETRIES",
		"DCPROXY_MAX_EVENT_BYTES", "DCPROXY_MAX_RESPONSE_BYTES",
		"LOG_LEVEL", "SERVICE_DISCOVERY_NAMESPACE",
		"METRICS_NAMESPACE_PREFIX",
	};
	for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++)
		unsetenv(unset[i]);
	open_engine();
}

static void
teardown(void)
{
	cJSON_Delete(envelope);
	envelope = NULL;
	standin_request_clear(&seen);
	engine_close(engine);
	engine = NULL;
	fclose(metrics);
	metrics = NULL;
	standin_stop(standin);
}

/* ---- helpers ---- */

static const cJSON *
field(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* Compare as compact JSON, so key order counts too. */
static void
assert_json(const cJSON *got, const char *expected_text)
{
	cJSON *expected = cJSON_Parse(expected_text);
	ck_assert_msg(expected != NULL, "bad expected JSON: %s", expected_text);
	char *a = cJSON_PrintUnformatted(got);
	char *b = cJSON_PrintUnformatted(expected);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	cJSON_Delete(expected);
}

/* Run the event; check the envelope invariants every reply keeps; return
 * body.data.result. */
static const cJSON *
invoke_ctx(const char *event, const struct call_context *ctx,
	   enum call_error *error)
{
	cJSON_Delete(envelope);
	envelope = engine_invoke_event(engine, event, strlen(event), ctx, error);
	ck_assert_ptr_nonnull(envelope);
	ck_assert_int_eq(cJSON_GetNumberValue(field(envelope, "statusCode")), 200);
	const cJSON *body = field(envelope, "body");
	ck_assert(cJSON_IsTrue(field(body, "success")));
	ck_assert(cJSON_IsString(field(body, "environment")));
	const cJSON *data = field(body, "data");
	ck_assert(cJSON_IsObject(data));
	const cJSON *result = field(data, "result");
	ck_assert_ptr_nonnull(result);
	return result;
}

static const cJSON *
invoke(const char *event)
{
	return invoke_ctx(event, NULL, NULL);
}

static const char *
envelope_operation(void)
{
	return cJSON_GetStringValue(
		field(field(field(envelope, "body"), "data"), "operation"));
}

static const char *
error_kind(const cJSON *result)
{
	const char *kind = cJSON_GetStringValue(field(result, "error_kind"));
	return kind != NULL ? kind : "none";
}

static const char *
error_text(const cJSON *result)
{
	const char *text = cJSON_GetStringValue(field(result, "error"));
	ck_assert_msg(text != NULL, "result has no error");
	return text;
}

static const struct standin_request *
recorded(size_t i)
{
	standin_request_clear(&seen);
	ck_assert_msg(standin_request_get(standin, i, &seen) == 0,
		      "no request %zu (have %zu)", i,
		      standin_request_count(standin));
	return &seen;
}

static void
assert_requests(size_t n)
{
	ck_assert_uint_eq(standin_request_count(standin), n);
}

static void
assert_contains(const char *haystack, const char *needle)
{
	ck_assert_msg(strstr(haystack, needle) != NULL, "'%s' lacks '%s'",
		      haystack, needle);
}

/* The EMF documents written so far. */
static size_t
metrics_lines(char lines[][2048], size_t max)
{
	size_t n = 0;
	fflush(metrics);
	rewind(metrics);
	while (n < max && fgets(lines[n], 2048, metrics) != NULL)
		n++;
	/* The engine appends; leave the position where it expects it. */
	fseek(metrics, 0, SEEK_END);
	return n;
}

/* The only EMF document, parsed; caller deletes. */
static cJSON *
metrics_single(void)
{
	char lines[4][2048];
	ck_assert_uint_eq(metrics_lines(lines, 4), 1);
	cJSON *doc = cJSON_Parse(lines[0]);
	ck_assert_ptr_nonnull(doc);
	return doc;
}

#define OHLCV_CANDLES \
	"[[1704067200000,42000.5,42100,41900,42050.25,123.5]," \
	"[1704070800000,42050.25,42200,42000,42150,98.25]," \
	"[1704074400000,42150,42180,41950.75,42000,150]]"

#define SEED_SYNC_BODY \
	"{\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"2024-01-02\"," \
	"\"end_date\":\"2024-02-28\",\"timeframe\":\"1h\"," \
	"\"exchange\":\"binance_futures\"}"

#define SEED_EVENT \
	"{\"operation\":\"ensure-data\",\"params\":{" \
	"\"symbols\":[\"BTC/USDT:USDT\"],\"timeframe\":\"1h\"," \
	"\"start_date\":\"20240201\",\"end_date\":\"20240228\"," \
	"\"exchange\":\"binance_futures\"}}"

/* ---- the five operations ---- */

START_TEST(test_health)
{
	invoke("{\"operation\":\"health\"}");
	assert_json(envelope,
		    "{\"statusCode\":200,\"body\":{\"success\":true,\"data\":{"
		    "\"operation\":\"health\",\"result\":{\"status\":\"healthy\","
		    "\"service\":\"data-collection\"}},\"environment\":\"dev\"}}");
	assert_requests(1);
	ck_assert_str_eq(recorded(0)->method, "GET");
	ck_assert_str_eq(seen.path, "/api/v1/health");
	ck_assert_str_eq(seen.query, "");
	ck_assert_str_eq(seen.body, "");
}
END_TEST

static const char *const default_events[] = {
	"{}",
	"{\"params\":{}}",
	"{\"operation\":null}",
	"{\"operation\":null,\"params\":null}",
};

START_TEST(test_operation_defaults_to_health)
{
	const cJSON *result = invoke(default_events[_i]);
	ck_assert_str_eq(envelope_operation(), "health");
	ck_assert_str_eq(cJSON_GetStringValue(field(result, "status")), "healthy");
	assert_requests(1);
	ck_assert_str_eq(recorded(0)->path, "/api/v1/health");
}
END_TEST

START_TEST(test_symbols)
{
	invoke("{\"operation\":\"symbols\"}");
	assert_json(envelope,
		    "{\"statusCode\":200,\"body\":{\"success\":true,\"data\":{"
		    "\"operation\":\"symbols\",\"result\":{\"symbols\":"
		    "[\"BTC/USDT:USDT\",\"ETH/USDT:USDT\"]}},\"environment\":\"dev\"}}");
	assert_requests(1);
	ck_assert_str_eq(recorded(0)->method, "GET");
	ck_assert_str_eq(seen.path, "/api/v1/symbols");
	ck_assert_str_eq(seen.query, "");
}
END_TEST

START_TEST(test_status)
{
	invoke("{\"operation\":\"status\",\"params\":{}}");
	assert_json(envelope,
		    "{\"statusCode\":200,\"body\":{\"success\":true,\"data\":{"
		    "\"operation\":\"status\",\"result\":{\"status\":\"ok\"}},"
		    "\"environment\":\"dev\"}}");
	assert_requests(1);
	ck_assert_str_eq(recorded(0)->method, "GET");
	ck_assert_str_eq(seen.path, "/api/v1/status");
}
END_TEST

START_TEST(test_fetch_ohlcv)
{
	invoke("{\"operation\":\"fetch_ohlcv\",\"params\":{"
	       "\"symbol\":\"BTC/USDT:USDT\",\"timeframe\":\"4h\",\"limit\":3}}");
	assert_json(envelope,
		    "{\"statusCode\":200,\"body\":{\"success\":true,\"data\":{"
		    "\"operation\":\"fetch_ohlcv\",\"result\":{"
		    "\"symbol\":\"BTC/USDT:USDT\",\"timeframe\":\"4h\",\"limit\":3,"
		    "\"data\":" OHLCV_CANDLES "}},\"environment\":\"dev\"}}");
	assert_requests(1);
	ck_assert_str_eq(recorded(0)->method, "GET");
	ck_assert_str_eq(seen.path, "/api/v1/ohlcv");
	ck_assert_str_eq(seen.query,
			 "symbol=BTC%2FUSDT%3AUSDT&timeframe=4h&limit=3");
}
END_TEST

START_TEST(test_ensure_data_seed)
{
	invoke(SEED_EVENT);
	assert_json(envelope,
		    "{\"statusCode\":200,\"body\":{\"success\":true,\"data\":{"
		    "\"operation\":\"ensure-data\",\"result\":{\"status\":\"synced\","
		    "\"request\":" SEED_SYNC_BODY "}},\"environment\":\"dev\"}}");
	assert_requests(1);
	ck_assert_str_eq(recorded(0)->method, "POST");
	ck_assert_str_eq(seen.path, "/api/v1/sync");
	ck_assert_str_eq(seen.query, "");
	ck_assert_str_eq(seen.body, SEED_SYNC_BODY);
	ck_assert_str_eq(seen.content_type, "application/json");
}
END_TEST

START_TEST(test_environment_prod)
{
	setenv("ENVIRONMENT", "prod", 1);
	open_engine();
	invoke("{\"operation\":\"status\"}");
	assert_json(envelope,
		    "{\"statusCode\":200,\"body\":{\"success\":true,\"data\":{"
		    "\"operation\":\"status\",\"result\":{\"status\":\"ok\"}},"
		    "\"environment\":\"prod\"}}");
	cJSON *doc = metrics_single();
	ck_assert_str_eq(cJSON_GetStringValue(field(doc, "Environment")), "prod");
	cJSON_Delete(doc);
}
END_TEST

/* ---- fetch_ohlcv query ---- */

static const char *
ohlcv_query(const char *params)
{
	char event[1024];
	snprintf(event, sizeof event,
		 "{\"operation\":\"fetch_ohlcv\",\"params\":%s}", params);
	const cJSON *result = invoke(event);
	ck_assert_str_eq(error_kind(result), "none");
	assert_requests(1);
	return recorded(0)->query;
}

START_TEST(test_query_defaults)
{
	ck_assert_str_eq(ohlcv_query("{\"symbol\":\"BTC/USDT:USDT\"}"),
			 "symbol=BTC%2FUSDT%3AUSDT&timeframe=1h&limit=1000");
	const cJSON *result = field(field(field(envelope, "body"), "data"),
				    "result");
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "limit")), 1000);
}
END_TEST

START_TEST(test_query_symbol_round_trips)
{
	/* & = space + and UTF-8 (e-acute, euro sign) */
	const char *q = ohlcv_query(
		"{\"symbol\":\"A&B=C D+E/\xc3\xa9\xe2\x82\xac\"}");
	ck_assert_str_eq(
		q, "symbol=A%26B%3DC%20D%2BE%2F%C3%A9%E2%82%AC&timeframe=1h&limit=1000");
	const cJSON *result = field(field(field(envelope, "body"), "data"),
				    "result");
	ck_assert_str_eq(cJSON_GetStringValue(field(result, "symbol")),
			 "A&B=C D+E/\xc3\xa9\xe2\x82\xac");
}
END_TEST

static const struct {
	const char *limit; /* as JSON */
	const char *sent;
} accepted_limits[] = {
	{ "1", "1" },
	{ "10000", "10000" },
	{ "\"250\"", "250" },
	{ "1000.0", "1000" },
	{ "null", "1000" },
};

START_TEST(test_limit_accepted)
{
	char params[256], expected[256];
	snprintf(params, sizeof params,
		 "{\"symbol\":\"ETH/USDT:USDT\",\"limit\":%s}",
		 accepted_limits[_i].limit);
	snprintf(expected, sizeof expected,
		 "symbol=ETH%%2FUSDT%%3AUSDT&timeframe=1h&limit=%s",
		 accepted_limits[_i].sent);
	ck_assert_str_eq(ohlcv_query(params), expected);
}
END_TEST

START_TEST(test_start_end_forwarded_when_given)
{
	ck_assert_str_eq(
		ohlcv_query("{\"symbol\":\"BTC/USDT:USDT\",\"start\":\"2024-01-01\","
			    "\"end\":1704153600000}"),
		"symbol=BTC%2FUSDT%3AUSDT&timeframe=1h&limit=1000"
		"&start=2024-01-01&end=1704153600000");
}
END_TEST

START_TEST(test_start_only)
{
	ck_assert_str_eq(
		ohlcv_query("{\"symbol\":\"BTC/USDT:USDT\",\"start\":\"20240101\","
			    "\"end\":null}"),
		"symbol=BTC%2FUSDT%3AUSDT&timeframe=1h&limit=1000&start=20240101");
}
END_TEST

/* ---- validation: always rejected before any upstream request ---- */

#define SYNC_OK_DATES "\"start_date\":\"20240201\",\"end_date\":\"20240228\""
#define SYNC(extra) \
	"{\"operation\":\"ensure-data\",\"params\":{" extra "}}"
#define SYNC_WITH(extra) \
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"]," SYNC_OK_DATES "," extra)
#define OHLCV(extra) \
	"{\"operation\":\"fetch_ohlcv\",\"params\":{" extra "}}"
#define OHLCV_WITH(extra) OHLCV("\"symbol\":\"BTC/USDT:USDT\"," extra)

static const char *const invalid_events[] = {
	/* fetch_ohlcv: symbol */
	OHLCV(""),
	OHLCV("\"symbol\":null"),
	OHLCV("\"symbol\":123"),
	OHLCV("\"symbol\":[\"BTC/USDT\"]"),
	OHLCV("\"symbol\":\"BTCUSDT\""),
	OHLCV("\"symbol\":\"\""),
	/* fetch_ohlcv: timeframe */
	OHLCV_WITH("\"timeframe\":\"1x\""),
	OHLCV_WITH("\"timeframe\":\"h\""),
	OHLCV_WITH("\"timeframe\":\"1h \""),
	OHLCV_WITH("\"timeframe\":\"\""),
	OHLCV_WITH("\"timeframe\":\"1H\""),
	OHLCV_WITH("\"timeframe\":\"-1h\""),
	OHLCV_WITH("\"timeframe\":60"),
	/* fetch_ohlcv: limit */
	OHLCV_WITH("\"limit\":0"),
	OHLCV_WITH("\"limit\":10001"),
	OHLCV_WITH("\"limit\":-5"),
	OHLCV_WITH("\"limit\":1.5"),
	OHLCV_WITH("\"limit\":\"abc\""),
	OHLCV_WITH("\"limit\":true"),
	OHLCV_WITH("\"limit\":\"\""),
	OHLCV_WITH("\"limit\":\"12x\""),
	OHLCV_WITH("\"limit\":\"0\""),
	OHLCV_WITH("\"limit\":1e12"),
	OHLCV_WITH("\"limit\":[1]"),
	/* fetch_ohlcv: start/end */
	OHLCV_WITH("\"start\":\"\""),
	OHLCV_WITH("\"start\":{}"),
	OHLCV_WITH("\"end\":true"),
	/* ensure-data: symbols */
	SYNC(SYNC_OK_DATES),
	SYNC("\"symbols\":null," SYNC_OK_DATES),
	SYNC("\"symbols\":[]," SYNC_OK_DATES),
	SYNC("\"symbols\":\"BTC/USDT:USDT\"," SYNC_OK_DATES),
	SYNC("\"symbols\":{\"a\":\"BTC/USDT\"}," SYNC_OK_DATES),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\",1]," SYNC_OK_DATES),
	SYNC("\"symbols\":[null]," SYNC_OK_DATES),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\",\"ETHUSDT\"]," SYNC_OK_DATES),
	SYNC("\"symbols\":[\"\"]," SYNC_OK_DATES),
	/* ensure-data: exchange and timeframe */
	SYNC_WITH("\"exchange\":\"binance\""),
	SYNC_WITH("\"exchange\":\"\""),
	SYNC_WITH("\"exchange\":\"BINANCE_FUTURES\""),
	SYNC_WITH("\"exchange\":1"),
	SYNC_WITH("\"timeframe\":\"1x\""),
	SYNC_WITH("\"timeframe\":\"h\""),
	SYNC_WITH("\"timeframe\":\"1h \""),
	SYNC_WITH("\"timeframe\":\"\""),
	/* ensure-data: dates */
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"20240201\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":20240201,"
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"2024/02/01\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"2024-2-1\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"202402011\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"2024020\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"01022024\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"20240201\","
	     "\"end_date\":\"2024-02-28T00:00:00\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"20230229\","
	     "\"end_date\":\"20230301\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"2024-02-30\","
	     "\"end_date\":\"2024-03-01\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"20240101\","
	     "\"end_date\":\"20241301\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"20240100\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"20240001\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"00000101\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"19000229\","
	     "\"end_date\":\"20240228\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"20240228\","
	     "\"end_date\":\"20240201\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"2024-02-02\","
	     "\"end_date\":\"20240201\""),
	/* ensure-data: padding_days */
	SYNC_WITH("\"padding_days\":-1"),
	SYNC_WITH("\"padding_days\":3651"),
	SYNC_WITH("\"padding_days\":1.5"),
	SYNC_WITH("\"padding_days\":\"x\""),
	SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"00010105\","
	     "\"end_date\":\"00010106\""),
};

START_TEST(test_invalid_params_rejected)
{
	const cJSON *result = invoke(invalid_events[_i]);
	ck_assert_msg(strcmp(error_kind(result), "validation") == 0,
		      "%s: error_kind %s", invalid_events[_i], error_kind(result));
	ck_assert_msg(strncmp(error_text(result), "Invalid parameters: ", 20) == 0,
		      "%s", error_text(result));
	assert_requests(0);
}
END_TEST

/* An ensure-data event over n generated symbols, each len characters. */
static char *
sync_event_with_symbols(int n, size_t len)
{
	cJSON *event = cJSON_CreateObject();
	cJSON_AddStringToObject(event, "operation", "ensure-data");
	cJSON *params = cJSON_AddObjectToObject(event, "params");
	cJSON *list = cJSON_AddArrayToObject(params, "symbols");
	for (int i = 0; i < n; i++) {
		char symbol[128];
		int k = snprintf(symbol, sizeof symbol, "S%d/USDT:USDT", i);
		while ((size_t)k < len)
			symbol[k++] = 'X';
		symbol[len] = '\0';
		cJSON_AddItemToArray(list, cJSON_CreateString(symbol));
	}
	cJSON_AddStringToObject(params, "start_date", "20240201");
	cJSON_AddStringToObject(params, "end_date", "20240228");
	char *text = cJSON_PrintUnformatted(event);
	cJSON_Delete(event);
	return text;
}

START_TEST(test_symbol_length_limit)
{
	char symbol[64], event[256];
	memset(symbol, 'A', sizeof symbol);
	memcpy(symbol, "BTC/", 4);

	symbol[51] = '\0';
	snprintf(event, sizeof event, OHLCV("\"symbol\":\"%s\""), symbol);
	ck_assert_str_eq(error_kind(invoke(event)), "validation");
	assert_contains(error_text(field(field(field(envelope, "body"), "data"),
					 "result")),
			"50");
	assert_requests(0);

	symbol[50] = '\0';
	snprintf(event, sizeof event, OHLCV("\"symbol\":\"%s\""), symbol);
	ck_assert_str_eq(error_kind(invoke(event)), "none");
	assert_requests(1);
}
END_TEST

START_TEST(test_symbols_list_limits)
{
	char *event = sync_event_with_symbols(51, 13);
	ck_assert_str_eq(error_kind(invoke(event)), "validation");
	free(event);
	event = sync_event_with_symbols(1, 51);
	ck_assert_str_eq(error_kind(invoke(event)), "validation");
	free(event);
	assert_requests(0);

	event = sync_event_with_symbols(50, 50);
	ck_assert_str_eq(error_kind(invoke(event)), "none");
	free(event);
	assert_requests(1);
	cJSON *body = cJSON_Parse(recorded(0)->body);
	ck_assert_int_eq(cJSON_GetArraySize(field(body, "symbols")), 50);
	cJSON_Delete(body);
}
END_TEST

/* ---- ensure-data dates ---- */

static const struct {
	const char *start, *end;
	const char *padding; /* JSON, or NULL for the registry's 30 */
	const char *sent_start, *sent_end;
} date_cases[] = {
	{ "20240201", "20240228", NULL, "2024-01-02", "2024-02-28" },
	{ "20240301", "20240331", NULL, "2024-01-31", "2024-03-31" },
	{ "20230301", "20230331", NULL, "2023-01-30", "2023-03-31" },
	{ "20240115", "20240131", NULL, "2023-12-16", "2024-01-31" },
	{ "2024-03-30", "2024-04-01", "30", "2024-02-29", "2024-04-01" },
	{ "20240215", "20240215", "0", "2024-02-15", "2024-02-15" },
	{ "2024-02-01", "2024-02-28", NULL, "2024-01-02", "2024-02-28" },
	{ "20240229", "2024-02-29", "\"1\"", "2024-02-28", "2024-02-29" },
	{ "20000301", "20000302", "1", "2000-02-29", "2000-03-02" },
	{ "21000301", "21000302", "1", "2100-02-28", "2100-03-02" },
	{ "20240101", "20241231", "3650", "2014-01-03", "2024-12-31" },
};

START_TEST(test_padding)
{
	char event[512], padding[64] = "";
	if (date_cases[_i].padding != NULL)
		snprintf(padding, sizeof padding, ",\"padding_days\":%s",
			 date_cases[_i].padding);
	snprintf(event, sizeof event,
		 SYNC("\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"%s\","
		      "\"end_date\":\"%s\"%s"),
		 date_cases[_i].start, date_cases[_i].end, padding);
	const cJSON *result = invoke(event);
	ck_assert_str_eq(error_kind(result), "none");
	assert_requests(1);

	char expected[512];
	snprintf(expected, sizeof expected,
		 "{\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"%s\","
		 "\"end_date\":\"%s\",\"timeframe\":\"1h\","
		 "\"exchange\":\"binance_futures\"}",
		 date_cases[_i].sent_start, date_cases[_i].sent_end);
	ck_assert_str_eq(recorded(0)->body, expected);
}
END_TEST

START_TEST(test_sync_options_forwarded)
{
	invoke(SYNC("\"symbols\":[\"ETH/USDT:USDT\",\"BTC/USDT:USDT\"],"
		    "\"timeframe\":\"15m\",\"exchange\":\"okx_futures\","
		    "\"start_date\":\"2024-06-10\",\"end_date\":\"2024-06-20\","
		    "\"padding_days\":5"));
	assert_requests(1);
	ck_assert_str_eq(recorded(0)->body,
			 "{\"symbols\":[\"ETH/USDT:USDT\",\"BTC/USDT:USDT\"],"
			 "\"start_date\":\"2024-06-05\",\"end_date\":\"2024-06-20\","
			 "\"timeframe\":\"15m\",\"exchange\":\"okx_futures\"}");
}
END_TEST

/* ---- upstream failures ---- */

static void
health_url(char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/api/v1/health", standin_url(standin));
}

static const unsigned client_statuses[] = { 400, 404, 422 };

START_TEST(test_upstream_4xx)
{
	char url[128], detail[64];
	unsigned status = client_statuses[_i];
	health_url(url, sizeof url);
	standin_push_status(standin, status);
	const cJSON *result = invoke("{\"operation\":\"health\"}");
	ck_assert_str_eq(error_kind(result), "upstream_client_error");
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "upstream_status")),
			 status);
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "attempts")), 1);
	ck_assert_str_eq(cJSON_GetStringValue(field(result, "url")), url);
	assert_contains(error_text(result), url);
	snprintf(detail, sizeof detail, "injected %u", status);
	assert_contains(error_text(result), detail);
	assert_requests(1);
}
END_TEST

START_TEST(test_upstream_5xx_exhausted)
{
	for (int i = 0; i < 4; i++)
		standin_push_status(standin, 503);
	const cJSON *result = invoke(SEED_EVENT);
	ck_assert_str_eq(error_kind(result), "upstream_server_error");
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "upstream_status")),
			 503);
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "attempts")), 3);
	assert_contains(error_text(result), "/api/v1/sync");
	assert_requests(3);
	/* every retry carries the same body */
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(recorded(i)->body, SEED_SYNC_BODY);
}
END_TEST

START_TEST(test_upstream_5xx_recovers)
{
	standin_push_status(standin, 502);
	const cJSON *result = invoke("{\"operation\":\"symbols\"}");
	ck_assert_str_eq(error_kind(result), "none");
	ck_assert(cJSON_IsArray(field(result, "symbols")));
	assert_requests(2);
}
END_TEST

START_TEST(test_max_retries_setting)
{
	setenv("MAX_RETRIES", "0", 1);
	open_engine();
	standin_push_status(standin, 500);
	const cJSON *result = invoke("{\"operation\":\"status\"}");
	ck_assert_str_eq(error_kind(result), "upstream_server_error");
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "attempts")), 1);
	assert_requests(1);
}
END_TEST

START_TEST(test_upstream_timeout)
{
	char url[128];
	health_url(url, sizeof url);
	setenv("REQUEST_TIMEOUT", "0.3", 1);
	setenv("MAX_RETRIES", "1", 1);
	open_engine();
	standin_push_delay(standin, 2000);
	standin_push_delay(standin, 2000);
	int64_t started = http_now_ms();
	const cJSON *result = invoke("{\"operation\":\"health\"}");
	int64_t elapsed = http_now_ms() - started;
	ck_assert_str_eq(error_kind(result), "timeout");
	assert_contains(error_text(result), url);
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "attempts")), 2);
	ck_assert_msg(elapsed < 1500, "took %lld ms", (long long)elapsed);
	assert_requests(2);
}
END_TEST

START_TEST(test_connection_refused)
{
	char base[64], url[128];
	snprintf(base, sizeof base, "http://127.0.0.1:%u",
		 (unsigned)test_closed_port());
	snprintf(url, sizeof url, "%s/api/v1/health", base);
	setenv("DATA_COLLECTION_URL", base, 1);
	open_engine();
	const cJSON *result = invoke("{\"operation\":\"health\"}");
	ck_assert_str_eq(error_kind(result), "connection");
	assert_contains(error_text(result), url);
	ck_assert_str_eq(cJSON_GetStringValue(field(result, "url")), url);
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "attempts")), 3);
	assert_contains(error_text(result), "(3 attempts)");
	ck_assert_ptr_null(field(result, "upstream_status"));
	/* one attempt is said in the singular */
	setenv("MAX_RETRIES", "0", 1);
	open_engine();
	result = invoke("{\"operation\":\"health\"}");
	assert_contains(error_text(result), "(1 attempt)");
}
END_TEST

START_TEST(test_dropped_connection)
{
	for (int i = 0; i < 3; i++)
		standin_push_drop(standin);
	const cJSON *result = invoke("{\"operation\":\"health\"}");
	ck_assert_str_eq(error_kind(result), "connection");
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "attempts")), 3);
	assert_requests(3);
}
END_TEST

START_TEST(test_invalid_json_reply)
{
	standin_push_body(standin, 200, "<html>not json</html>");
	const cJSON *result = invoke("{\"operation\":\"health\"}");
	ck_assert_str_eq(error_kind(result), "bad_upstream_reply");
	assert_contains(error_text(result),
			"(HTTP 200, 21 bytes): the body is not valid JSON (error at byte 0)");
	assert_requests(1);
	/* a JSON value with more after it is refused as well */
	standin_push_body(standin, 200, "{\"status\":\"healthy\"} <!-- -->");
	result = invoke("{\"operation\":\"health\"}");
	ck_assert_str_eq(error_kind(result), "bad_upstream_reply");
	assert_contains(error_text(result),
			"the body has data after the JSON value (at byte 21)");
	assert_requests(2);
}
END_TEST

START_TEST(test_reply_too_large)
{
	char big[4096];
	setenv("DCPROXY_MAX_RESPONSE_BYTES", "1024", 1);
	open_engine();
	memset(big, ' ', sizeof big - 1);
	big[0] = '[';
	big[sizeof big - 2] = ']';
	big[sizeof big - 1] = '\0';
	standin_push_body(standin, 200, big);
	const cJSON *result = invoke("{\"operation\":\"health\"}");
	ck_assert_str_eq(error_kind(result), "bad_upstream_reply");
	assert_contains(error_text(result), "too large");
	assert_requests(1);
}
END_TEST

START_TEST(test_unexpected_status)
{
	standin_push_body(standin, 302, "{}");
	const cJSON *result = invoke("{\"operation\":\"health\"}");
	ck_assert_str_eq(error_kind(result), "bad_upstream_reply");
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "upstream_status")),
			 302);
}
END_TEST

/* ---- events ---- */

START_TEST(test_unknown_operation)
{
	enum call_error error;
	const cJSON *result = invoke_ctx("{\"operation\":\"nope\"}", NULL, &error);
	ck_assert_int_eq(error, CALL_UNKNOWN_OPERATION);
	ck_assert_str_eq(error_kind(result), "unknown_operation");
	ck_assert_str_eq(envelope_operation(), "nope");
	const char *text = error_text(result);
	assert_contains(text, "'nope'");
	static const char *const ops[] = { "health", "fetch_ohlcv", "symbols",
					   "status", "ensure-data" };
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		assert_contains(text, ops[i]);
	assert_requests(0);
}
END_TEST

static const char *const malformed_events[] = {
	"{",
	"",
	"null",
	"\"health\"",
	"[]",
	"[{\"operation\":\"health\"}]",
	"{\"operation\":5}",
	"{\"operation\":[\"health\"]}",
	"{\"operation\":\"health\",\"params\":\"x\"}",
	"{\"operation\":\"health\",\"params\":[]}",
	"{\"operation\":\"health\"} x",
	"{\"operation\":\"health\"}{}",
};

START_TEST(test_malformed_event)
{
	enum call_error error;
	const cJSON *result = invoke_ctx(malformed_events[_i], NULL, &error);
	ck_assert_int_eq(error, CALL_BAD_EVENT);
	ck_assert_str_eq(error_kind(result), "bad_event");
	assert_contains(error_text(result), "Malformed event");
	assert_requests(0);
}
END_TEST

/* A health event of exactly total bytes. */
static void
padded_event(char *out, size_t outlen, size_t total)
{
	static const char head[] = "{\"operation\":\"health\",\"params\":{\"pad\":\"";
	static const char tail[] = "\"}}";
	size_t pad = total - (sizeof head - 1) - (sizeof tail - 1);
	snprintf(out, outlen, "%s%*s%s", head, (int)pad, "", tail);
	ck_assert_uint_eq(strlen(out), total);
}

START_TEST(test_event_size_limit)
{
	char event[128];
	setenv("DCPROXY_MAX_EVENT_BYTES", "64", 1);
	open_engine();

	padded_event(event, sizeof event, 64);
	ck_assert_str_eq(error_kind(invoke(event)), "none");
	assert_requests(1);

	/* one byte more: refused before parsing */
	padded_event(event, sizeof event, 65);
	const cJSON *result = invoke(event);
	ck_assert_str_eq(error_kind(result), "bad_event");
	assert_contains(error_text(result), "64");
	assert_requests(1);
}
END_TEST

START_TEST(test_call_params_not_object)
{
	struct call_outcome out;
	cJSON *params = cJSON_CreateArray();
	engine_call(engine, "health", params, NULL, &out);
	cJSON_Delete(params);
	ck_assert_int_eq(out.error, CALL_BAD_EVENT);
	ck_assert_str_eq(error_kind(out.result), "bad_event");
	cJSON_Delete(out.result);
	assert_requests(0);
}
END_TEST

/* ---- engine_call and its context ---- */

START_TEST(test_call_outcome)
{
	struct call_outcome out;
	cJSON *params = cJSON_Parse("{\"symbol\":\"BTC/USDT:USDT\",\"limit\":\"1\"}");
	engine_call(engine, "fetch_ohlcv", params, NULL, &out);
	cJSON_Delete(params);
	ck_assert_int_eq(out.error, CALL_OK);
	ck_assert_int_eq(out.upstream_status, 200);
	ck_assert_int_eq(out.attempts, 1);
	ck_assert_int_ge(out.latency_ms, 0);
	ck_assert_int_eq(cJSON_GetArraySize(field(out.result, "data")), 1);
	cJSON_Delete(out.result);
}
END_TEST

START_TEST(test_call_trace_id)
{
	struct call_context ctx = { .trace_id = "Root=1-65a1b2c3-0123456789abcdef01234567" };
	struct call_outcome out;
	engine_call(engine, "status", NULL, &ctx, &out);
	ck_assert_int_eq(out.error, CALL_OK);
	cJSON_Delete(out.result);
	ck_assert_str_eq(recorded(0)->trace_id, ctx.trace_id);
}
END_TEST

START_TEST(test_call_deadline_past)
{
	struct call_context ctx = { .deadline_ms = http_now_ms() - 10 };
	struct call_outcome out;
	engine_call(engine, "health", NULL, &ctx, &out);
	ck_assert_int_eq(out.error, CALL_TIMEOUT);
	ck_assert_int_eq(out.attempts, 0);
	assert_contains(error_text(out.result), "deadline");
	cJSON_Delete(out.result);
	assert_requests(0);
}
END_TEST

/* A plugin's own log lines from prepare and shape (tests/plugins/broken.c's
 * 'settings', which logs from both) carry the call's request id beside the
 * engine's; its init line belongs to no call and carries none. */
START_TEST(test_call_plugin_log_request_id)
{
	const char *plugins = getenv("TEST_PLUGIN_DIR");
	ck_assert_msg(plugins != NULL, "TEST_PLUGIN_DIR is not set");
	char *dir = test_tmpdir();
	char ini[8192], err[1024];
	snprintf(ini, sizeof ini,
		 "%s[operation painted]\nplugin = %s/settings.so\n"
		 "method = GET\nroute = /api/v1/health\n"
		 "service = data-collection\ncolour = red\n",
		 test_services_ini, plugins);
	char *registry = test_write_file(dir, "operations.ini", ini);
	FILE *logs = tmpfile();
	ck_assert_ptr_nonnull(logs);
	struct engine_options opts = { .registry = registry, .log_stream = logs };
	engine_close(engine);
	engine = engine_open(&opts, err, sizeof err);
	ck_assert_msg(engine != NULL, "engine_open: %s", err);

	struct call_context ctx = { .request_id = "c0ffee-1" };
	struct call_outcome out;
	engine_call(engine, "painted", NULL, &ctx, &out);
	ck_assert_int_eq(out.error, CALL_OK);
	assert_json(out.result,
		    "{\"status\":\"healthy\",\"service\":\"data-collection\"}");
	cJSON_Delete(out.result);

	static const struct {
		const char *msg, *request_id;
	} want[] = {
		{ "init: colour red", NULL },
		{ "prepare: painting red for -", "c0ffee-1" },
		{ "shape: painted red", "c0ffee-1" },
		{ "ok in ", "c0ffee-1" },
	};
	const size_t n_want = sizeof want / sizeof want[0];
	char line[4096];
	size_t seen_lines = 0;
	rewind(logs);
	while (fgets(line, sizeof line, logs) != NULL) {
		cJSON *doc = cJSON_Parse(line);
		ck_assert_msg(doc != NULL, "not a JSON line: %s", line);
		const char *msg = cJSON_GetStringValue(field(doc, "msg"));
		const char *id = cJSON_GetStringValue(field(doc, "request_id"));
		ck_assert_msg(seen_lines < n_want, "extra line %s", line);
		ck_assert_msg(strncmp(msg, want[seen_lines].msg,
				      strlen(want[seen_lines].msg)) == 0,
			      "line %zu: %s", seen_lines, line);
		if (want[seen_lines].request_id == NULL)
			ck_assert_msg(id == NULL, "line %zu: %s", seen_lines, line);
		else
			ck_assert_msg(id != NULL &&
					      strcmp(id, want[seen_lines].request_id) == 0,
				      "line %zu: %s", seen_lines, line);
		ck_assert_str_eq(cJSON_GetStringValue(field(doc, "operation")),
				 "painted");
		cJSON_Delete(doc);
		seen_lines++;
	}
	ck_assert_uint_eq(seen_lines, n_want);
	engine_close(engine);
	engine = NULL;
	fclose(logs);
	free(registry);
	test_rmdir(dir);
	open_engine(); /* for teardown */
}
END_TEST

START_TEST(test_sequential_calls_reuse_connection)
{
	/* sequential calls through one engine reuse its pooled connection */
	for (int i = 0; i < 5; i++)
		ck_assert_str_eq(error_kind(invoke("{\"operation\":\"health\"}")),
				 "none");
	assert_requests(5);
	ck_assert_uint_eq(standin_connection_count(standin), 1);
}
END_TEST

/* ---- EMF metrics ---- */

static void
assert_emf(const cJSON *doc, const char *operation, const char *environment,
	   int errors)
{
	const cJSON *aws = field(doc, "_aws");
	ck_assert(cJSON_IsNumber(field(aws, "Timestamp")));
	const cJSON *directive =
		cJSON_GetArrayItem(field(aws, "CloudWatchMetrics"), 0);
	ck_assert_str_eq(cJSON_GetStringValue(field(directive, "Namespace")),
			 "TradAI/DataProxy");
	assert_json(field(directive, "Dimensions"),
		    "[[\"Operation\",\"Environment\"]]");
	const cJSON *m;
	int names = 0;
	cJSON_ArrayForEach(m, field(directive, "Metrics")) {
		const char *name = cJSON_GetStringValue(field(m, "Name"));
		ck_assert_ptr_nonnull(name);
		ck_assert_msg(field(doc, name) != NULL, "no value for %s", name);
		names++;
	}
	ck_assert_int_ge(names, 3);
	ck_assert_str_eq(cJSON_GetStringValue(field(doc, "Operation")), operation);
	ck_assert_str_eq(cJSON_GetStringValue(field(doc, "Environment")),
			 environment);
	ck_assert_int_eq(cJSON_GetNumberValue(field(doc, "ProxyRequests")), 1);
	ck_assert_int_eq(cJSON_GetNumberValue(field(doc, "ProxyErrors")), errors);
	ck_assert(cJSON_IsNumber(field(doc, "ProxyLatency")));
	ck_assert_int_ge(cJSON_GetNumberValue(field(doc, "ProxyLatency")), 0);
}

START_TEST(test_metrics_success)
{
	invoke("{\"operation\":\"symbols\"}");
	cJSON *doc = metrics_single();
	assert_emf(doc, "symbols", "dev", 0);
	ck_assert_ptr_null(field(doc, "ColdStart"));
	cJSON_Delete(doc);
}
END_TEST

START_TEST(test_metrics_error)
{
	invoke(OHLCV_WITH("\"limit\":0"));
	cJSON *doc = metrics_single();
	assert_emf(doc, "fetch_ohlcv", "dev", 1);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(test_metrics_upstream_error)
{
	standin_push_status(standin, 404);
	invoke("{\"operation\":\"status\"}");
	cJSON *doc = metrics_single();
	assert_emf(doc, "status", "dev", 1);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(test_metrics_unknown_operation)
{
	invoke("{\"operation\":\"drop-tables\"}");
	cJSON *doc = metrics_single();
	assert_emf(doc, "unknown", "dev", 1);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(test_metrics_bad_event)
{
	invoke("{\"operation\":7}");
	cJSON *doc = metrics_single();
	assert_emf(doc, "unknown", "dev", 1);
	cJSON_Delete(doc);
}
END_TEST

START_TEST(test_metrics_one_per_invocation)
{
	char lines[8][2048];
	invoke("{\"operation\":\"health\"}");
	invoke("{\"operation\":\"status\"}");
	invoke("{\"operation\":\"ensure-data\"}");
	ck_assert_uint_eq(metrics_lines(lines, 8), 3);
	static const char *const ops[] = { "health", "status", "ensure-data" };
	static const int errors[] = { 0, 0, 1 };
	for (int i = 0; i < 3; i++) {
		cJSON *doc = cJSON_Parse(lines[i]);
		ck_assert_ptr_nonnull(doc);
		assert_emf(doc, ops[i], "dev", errors[i]);
		cJSON_Delete(doc);
	}
}
END_TEST

START_TEST(test_metrics_cold_start)
{
	struct call_context ctx = { .cold_start = true };
	invoke_ctx("{\"operation\":\"health\"}", &ctx, NULL);
	cJSON *doc = metrics_single();
	assert_emf(doc, "health", "dev", 0);
	ck_assert_int_eq(cJSON_GetNumberValue(field(doc, "ColdStart")), 1);
	cJSON_Delete(doc);
}
END_TEST

static TCase *
tcase_new(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	suite_add_tcase(s, tc);
	return tc;
}

#define N_OF(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_new(s, "operations");
	tcase_add_test(tc, test_health);
	tcase_add_loop_test(tc, test_operation_defaults_to_health, 0,
			    N_OF(default_events));
	tcase_add_test(tc, test_symbols);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_fetch_ohlcv);
	tcase_add_test(tc, test_ensure_data_seed);
	tcase_add_test(tc, test_environment_prod);

	tc = tcase_new(s, "query");
	tcase_add_test(tc, test_query_defaults);
	tcase_add_test(tc, test_query_symbol_round_trips);
	tcase_add_loop_test(tc, test_limit_accepted, 0, N_OF(accepted_limits));
	tcase_add_test(tc, test_start_end_forwarded_when_given);
	tcase_add_test(tc, test_start_only);

	tc = tcase_new(s, "validation");
	tcase_add_loop_test(tc, test_invalid_params_rejected, 0,
			    N_OF(invalid_events));
	tcase_add_test(tc, test_symbol_length_limit);
	tcase_add_test(tc, test_symbols_list_limits);

	tc = tcase_new(s, "dates");
	tcase_add_loop_test(tc, test_padding, 0, N_OF(date_cases));
	tcase_add_test(tc, test_sync_options_forwarded);

	tc = tcase_new(s, "upstream");
	tcase_add_loop_test(tc, test_upstream_4xx, 0, N_OF(client_statuses));
	tcase_add_test(tc, test_upstream_5xx_exhausted);
	tcase_add_test(tc, test_upstream_5xx_recovers);
	tcase_add_test(tc, test_max_retries_setting);
	tcase_add_test(tc, test_upstream_timeout);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_dropped_connection);
	tcase_add_test(tc, test_invalid_json_reply);
	tcase_add_test(tc, test_reply_too_large);
	tcase_add_test(tc, test_unexpected_status);

	tc = tcase_new(s, "events");
	tcase_add_test(tc, test_unknown_operation);
	tcase_add_loop_test(tc, test_malformed_event, 0, N_OF(malformed_events));
	tcase_add_test(tc, test_event_size_limit);
	tcase_add_test(tc, test_call_params_not_object);

	tc = tcase_new(s, "call");
	tcase_add_test(tc, test_call_outcome);
	tcase_add_test(tc, test_call_trace_id);
	tcase_add_test(tc, test_call_deadline_past);
	tcase_add_test(tc, test_call_plugin_log_request_id);
	tcase_add_test(tc, test_sequential_calls_reuse_connection);

	tc = tcase_new(s, "metrics");
	tcase_add_test(tc, test_metrics_success);
	tcase_add_test(tc, test_metrics_error);
	tcase_add_test(tc, test_metrics_upstream_error);
	tcase_add_test(tc, test_metrics_unknown_operation);
	tcase_add_test(tc, test_metrics_bad_event);
	tcase_add_test(tc, test_metrics_one_per_invocation);
	tcase_add_test(tc, test_metrics_cold_start);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
