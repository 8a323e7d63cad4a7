/* check_bootstrap: the real bootstrap program, forked and exec'd against
 * the Lambda Runtime API emulator and the stand-in service; also the
 * emulator itself and the dcproxy-lambda-emulator program.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "lambda_emulator.h"
#include "standin.h"
#include "testutil.h"

/* How long a test waits for the runtime to answer one invocation: ample
 * for a sanitized build starting up. */
#define WAIT_MS 15000L

static struct standin *standin;
static struct lambda_emulator *emu;
static char *dir; /* scratch: the child's captured stdout and stderr */
static char out_path[4096], err_path[4096];
static pid_t child = -1;      /* the bootstrap */
static pid_t emu_child = -1;  /* the emulator program, when a test runs it */
static bool expect_exit;      /* the test expects the bootstrap to end */
static struct emu_outcome outcome; /* the last invocation's */
static cJSON *answer;              /* its body, parsed */
static cJSON *http_body;           /* an API Gateway answer's body, parsed */
static struct standin_request seen;

/* ---- the child processes ---- */

static void
msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Fork and exec path with stdout and stderr going to the given fds (-1:
 * inherited).  The child dies with this process, even if a failed
 * assertion ends it before teardown can. */
/* When set, spawn runs path through this command (NULL-terminated). */
static const char *spawn_wrapper[8];

static pid_t
spawn(const char *path, int out, int err)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (out >= 0)
			dup2(out, STDOUT_FILENO);
		if (err >= 0)
			dup2(err, STDERR_FILENO);
		if (spawn_wrapper[0] != NULL) {
			const char *argv[10];
			size_t n = 0;
			while (spawn_wrapper[n] != NULL) {
				argv[n] = spawn_wrapper[n];
				n++;
			}
			argv[n++] = path;
			argv[n] = NULL;
			execvp(argv[0], (char *const *)argv);
			_exit(127);
		}
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	ck_assert_msg(pid > 0, "fork: %s", strerror(errno));
	return pid;
}

/* Reap pid within timeout_ms; returns its wait status, or -1 if it is
 * still running. */
static int
reap(pid_t pid, long timeout_ms)
{
	int status;
	for (long waited = 0;; waited += 10) {
		pid_t got = waitpid(pid, &status, WNOHANG);
		if (got == pid)
			return status;
		if (got < 0 || waited >= timeout_ms)
			return -1;
		msleep(10);
	}
}

/* SIGTERM, then SIGKILL if need be; always reaped. */
static int
terminate(pid_t pid)
{
	kill(pid, SIGTERM);
	int status = reap(pid, 5000);
	if (status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	return status;
}

static void
start_bootstrap(void)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/bootstrap", getenv("TOP_BUILDDIR"));
	int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(out >= 0 && err >= 0, "open: %s", strerror(errno));
	child = spawn(path, out, err);
	close(out);
	close(err);
}

/* Wait for the bootstrap to end by itself; returns its exit code. */
static int
bootstrap_exit_code(void)
{
	int status = reap(child, WAIT_MS);
	ck_assert_msg(status != -1, "bootstrap is still running");
	child = -1;
	ck_assert_msg(WIFEXITED(status), "bootstrap died of signal %d",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

static bool
bootstrap_running(void)
{
	int status;
	return child > 0 && waitpid(child, &status, WNOHANG) == 0;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *text = malloc(n > 0 ? (size_t)n + 1 : 1);
	size_t got = n > 0 ? fread(text, 1, (size_t)n, f) : 0;
	text[got] = '\0';
	fclose(f);
	return text;
}

/* ---- fixture ---- */

static void
setup(void)
{
	char registry[4096];
	const char *top = getenv("TOP_SRCDIR");
	ck_assert_msg(top != NULL && getenv("TOP_BUILDDIR") != NULL,
		      "TOP_SRCDIR and TOP_BUILDDIR must be set (make check does)");
	ck_assert_msg(getenv("DCPROXY_PLUGIN_PATH") != NULL,
		      "DCPROXY_PLUGIN_PATH is not set");
	snprintf(registry, sizeof registry, "%s/etc/operations.ini", top);

	standin = standin_start();
	ck_assert_ptr_nonnull(standin);
	emu = lambda_emulator_start();
	ck_assert_ptr_nonnull(emu);
	dir = test_tmpdir();
	snprintf(out_path, sizeof out_path, "%s/stdout", dir);
	snprintf(err_path, sizeof err_path, "%s/stderr", dir);

	/* The child inherits this process's environment. */
	setenv("AWS_LAMBDA_RUNTIME_API", lambda_emulator_endpoint(emu), 1);
	setenv("DCPROXY_REGISTRY", registry, 1);
	setenv("DATA_COLLECTION_URL", standin_url(standin), 1);
	setenv("RETRY_BASE_DELAY_MS", "20", 1);
	static const char *const unset[] = {
		"ENVIRONMENT", "REQUEST_TIMEOUT", "MAX_RETRIES",
		"DCPROXY_MAX_EVENT_BYTES", "DCPROXY_MAX_RESPONSE_BYTES",
		"LOG_LEVEL", "SERVICE_DISCOVERY_NAMESPACE",
		"METRICS_NAMESPACE_PREFIX", "DCPROXY_DEADLINE_MARGIN_MS",
		"_X_AMZN_TRACE_ID",
	};
	for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++)
		unsetenv(unset[i]);
	expect_exit = false;
}

static void
teardown(void)
{
	int status = 0;
	bool died = false;
	if (child > 0) {
		died = !bootstrap_running();
		if (died)
			waitpid(child, &status, 0);
		else
			terminate(child);
		child = -1;
	}
	if (emu_child > 0) {
		terminate(emu_child);
		emu_child = -1;
	}
	char *errors = slurp(err_path);

	emu_outcome_clear(&outcome);
	cJSON_Delete(answer);
	answer = NULL;
	cJSON_Delete(http_body);
	http_body = NULL;
	standin_request_clear(&seen);
	lambda_emulator_stop(emu);
	emu = NULL;
	standin_stop(standin);
	standin = NULL;
	test_rmdir(dir);
	dir = NULL;

	/* A sanitizer report in the child never fails the child's caller. */
	ck_assert_msg(strstr(errors, "ERROR: AddressSanitizer") == NULL &&
			      strstr(errors, "ERROR: LeakSanitizer") == NULL &&
			      strstr(errors, "runtime error:") == NULL,
		      "sanitizer report from bootstrap:\n%s", errors);
	ck_assert_msg(!died || expect_exit,
		      "bootstrap ended on its own (status 0x%x):\n%.4000s",
		      (unsigned)status, errors);
	free(errors);
}

/* ---- helpers ---- */

static const cJSON *
field(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static void
assert_contains(const char *haystack, const char *needle)
{
	ck_assert_msg(haystack != NULL && strstr(haystack, needle) != NULL,
		      "'%s' lacks '%s'", haystack ? haystack : "(null)", needle);
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

/* Invoke through the emulator; the answer must be a posted response. */
static const cJSON *
invoke_with(const char *event, long budget_ms, const char *trace_id)
{
	emu_outcome_clear(&outcome);
	cJSON_Delete(answer);
	answer = NULL;
	if (lambda_emulator_invoke(emu, event, budget_ms, trace_id, WAIT_MS,
				   &outcome) != 0) {
		char *errors = slurp(err_path);
		ck_abort_msg("no answer to %.200s; bootstrap stderr:\n%.4000s",
			     event, errors);
	}
	ck_assert_msg(outcome.kind == EMU_RESPONSE,
		      "posted an error (%s): %.500s", outcome.error_type,
		      outcome.body);
	ck_assert_str_ne(outcome.request_id, "");
	answer = cJSON_Parse(outcome.body);
	ck_assert_msg(answer != NULL, "answer is not JSON: %.500s", outcome.body);
	return answer;
}

static const cJSON *
invoke(const char *event)
{
	return invoke_with(event, 0, NULL);
}

/* Invoke a direct event; check the envelope; return body.data.result. */
static const cJSON *
invoke_direct_with(const char *event, long budget_ms, const char *trace_id)
{
	const cJSON *env = invoke_with(event, budget_ms, trace_id);
	ck_assert_int_eq(cJSON_GetNumberValue(field(env, "statusCode")), 200);
	const cJSON *body = field(env, "body");
	ck_assert(cJSON_IsTrue(field(body, "success")));
	const cJSON *result = field(field(body, "data"), "result");
	ck_assert_ptr_nonnull(result);
	return result;
}

static const cJSON *
invoke_direct(const char *event)
{
	return invoke_direct_with(event, 0, NULL);
}

static const char *
error_kind(const cJSON *result)
{
	const char *kind = cJSON_GetStringValue(field(result, "error_kind"));
	return kind != NULL ? kind : "none";
}

/* Invoke an API Gateway event; check the proxy answer's shape; return its
 * status and leave its body parsed in http_body. */
static int
invoke_http(const char *event)
{
	const cJSON *doc = invoke(event);
	const cJSON *headers = field(doc, "headers");
	ck_assert_str_eq(cJSON_GetStringValue(field(headers, "Content-Type")),
			 "application/json");
	ck_assert(cJSON_IsFalse(field(doc, "isBase64Encoded")));
	const char *body = cJSON_GetStringValue(field(doc, "body"));
	ck_assert_msg(body != NULL, "no string body: %s", outcome.body);
	cJSON_Delete(http_body);
	http_body = cJSON_Parse(body);
	ck_assert_msg(http_body != NULL, "body is not JSON: %s", body);
	return (int)cJSON_GetNumberValue(field(doc, "statusCode"));
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

/* The bootstrap's stdout (EMF documents) or stderr (log lines), one
 * parsed document per line; every line must be JSON. */
static cJSON *
json_lines(const char *path)
{
	char *text = slurp(path);
	cJSON *list = cJSON_CreateArray();
	for (char *line = text, *next; *line != '\0'; line = next) {
		char *nl = strchr(line, '\n');
		next = nl != NULL ? nl + 1 : line + strlen(line);
		if (nl != NULL)
			*nl = '\0';
		cJSON *doc = cJSON_Parse(line);
		ck_assert_msg(doc != NULL, "%s: not a JSON line: %s", path, line);
		cJSON_AddItemToArray(list, doc);
	}
	free(text);
	return list;
}

/* Wait until the emulator has seen n /next calls. */
static void
await_next_calls(size_t n)
{
	for (int i = 0; i < 500 && lambda_emulator_next_calls(emu) < n; i++)
		msleep(10);
	ck_assert_uint_eq(lambda_emulator_next_calls(emu), n);
}

static char *
base64(const char *in)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in);
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)in[i + 2];
		*o++ = alphabet[v >> 18 & 63];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? alphabet[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

#define OHLCV_CANDLES \
	"[[1704067200000,42000.5,42100,41900,42050.25,123.5]," \
	"[1704070800000,42050.25,42200,42000,42150,98.25]," \
	"[1704074400000,42150,42180,41950.75,42000,150]]"

#define SEED_PARAMS \
	"{\"symbols\":[\"BTC/USDT:USDT\"],\"timeframe\":\"1h\"," \
	"\"start_date\":\"20240201\",\"end_date\":\"20240228\"," \
	"\"exchange\":\"binance_futures\"}"

#define SEED_EVENT "{\"operation\":\"ensure-data\",\"params\":" SEED_PARAMS "}"

#define SEED_SYNC_BODY \
	"{\"symbols\":[\"BTC/USDT:USDT\"],\"start_date\":\"2024-01-02\"," \
	"\"end_date\":\"2024-02-28\",\"timeframe\":\"1h\"," \
	"\"exchange\":\"binance_futures\"}"

#define SEED_ENVELOPE \
	"{\"statusCode\":200,\"body\":{\"success\":true,\"data\":{" \
	"\"operation\":\"ensure-data\",\"result\":{\"status\":\"synced\"," \
	"\"request\":" SEED_SYNC_BODY "}},\"environment\":\"dev\"}}"

#define HEALTH_EVENT "{\"operation\":\"health\"}"

#define TRACE_ID \
	"Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"

/* ---- direct and Step Functions events ---- */

START_TEST(test_seed_envelope)
{
	start_bootstrap();
	invoke(SEED_EVENT);
	/* byte for byte: Step Functions reads this document */
	ck_assert_str_eq(outcome.body, SEED_ENVELOPE);
	ck_assert_str_eq(outcome.error_type, "");
	ck_assert_uint_eq(standin_request_count(standin), 1);
	ck_assert_str_eq(recorded(0)->method, "POST");
	ck_assert_str_eq(seen.path, "/api/v1/sync");
	ck_assert_str_eq(seen.body, SEED_SYNC_BODY);
	ck_assert_str_eq(seen.content_type, "application/json");
}
END_TEST

START_TEST(test_one_process_many_invocations)
{
	static const char *const events[] = {
		HEALTH_EVENT,
		"{\"operation\":\"symbols\"}",
		SEED_EVENT,
		"{\"operation\":\"fetch_ohlcv\",\"params\":{"
		"\"symbol\":\"BTC/USDT:USDT\",\"limit\":2}}",
		"{\"operation\":\"status\"}",
	};
	start_bootstrap();
	pid_t first = child;
	char ids[5][64];
	for (int i = 0; i < 5; i++) {
		ck_assert_str_eq(error_kind(invoke_direct(events[i])), "none");
		snprintf(ids[i], sizeof ids[i], "%s", outcome.request_id);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ids[i], ids[j]);
	}
	ck_assert(bootstrap_running());
	ck_assert_int_eq(child, first);
	/* one pooled upstream connection served every GET; the ensure-data
	 * POST opened one of its own (a POST is never sent on a reused one) */
	ck_assert_uint_eq(standin_request_count(standin), 5);
	ck_assert_uint_eq(standin_connection_count(standin), 2);
	/* one /next per invocation, plus the one now waiting */
	await_next_calls(6);
	ck_assert_int_ge(lambda_emulator_first_next_ms(emu), 0);

	/* ColdStart marks the first invocation only: init ran once */
	cJSON *docs = json_lines(out_path);
	ck_assert_int_eq(cJSON_GetArraySize(docs), 5);
	for (int i = 0; i < 5; i++) {
		const cJSON *doc = cJSON_GetArrayItem(docs, i);
		ck_assert_int_eq(field(doc, "ColdStart") != NULL, i == 0);
	}
	cJSON_Delete(docs);
}
END_TEST

START_TEST(test_emf_per_invocation)
{
	start_bootstrap();
	invoke_direct(HEALTH_EVENT);
	invoke_direct("{\"operation\":\"status\"}");
	invoke_direct("{\"operation\":\"no-such-thing\"}");
	cJSON *docs = json_lines(out_path);
	ck_assert_int_eq(cJSON_GetArraySize(docs), 3);
	static const char *const ops[] = { "health", "status", "unknown" };
	for (int i = 0; i < 3; i++) {
		const cJSON *doc = cJSON_GetArrayItem(docs, i);
		const cJSON *directive = cJSON_GetArrayItem(
			field(field(doc, "_aws"), "CloudWatchMetrics"), 0);
		ck_assert_str_eq(cJSON_GetStringValue(field(directive, "Namespace")),
				 "TradAI/DataProxy");
		ck_assert(cJSON_IsNumber(field(field(doc, "_aws"), "Timestamp")));
		ck_assert_str_eq(cJSON_GetStringValue(field(doc, "Operation")),
				 ops[i]);
		ck_assert_str_eq(cJSON_GetStringValue(field(doc, "Environment")),
				 "dev");
		ck_assert_int_eq(cJSON_GetNumberValue(field(doc, "ProxyRequests")), 1);
		ck_assert_int_eq(cJSON_GetNumberValue(field(doc, "ProxyErrors")),
				 i == 2);
		ck_assert(cJSON_IsNumber(field(doc, "ProxyLatency")));
		/* ColdStart is declared and valued on the first only */
		char *text = cJSON_PrintUnformatted(directive);
		ck_assert_int_eq(strstr(text, "ColdStart") != NULL, i == 0);
		free(text);
		ck_assert_int_eq(field(doc, "ColdStart") != NULL, i == 0);
	}
	cJSON_Delete(docs);
}
END_TEST

/* ---- events that are not for this function ---- */

static const struct {
	const char *event;
	const char *message;
} bad_events[] = {
	{ "this is not JSON", "not valid JSON" },
	{ "[{\"operation\":\"health\"}]", "must be a JSON object" },
	{ "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
	  "\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":"
	  "\"b\"},\"object\":{\"key\":\"k\"}}}]}",
	  "'Records'" },
	{ "\"health\"", "must be a JSON object" },
	/* cut short at the NUL, this asked upstream for symbol "BTC/" */
	{ "{\"operation\":\"fetch_ohlcv\",\"params\":{\"symbol\":\"BTC/\\u0000USDT\"}}",
	  "holds \\u0000" },
	/* echoed back as it came, the answer was not UTF-8 */
	{ "{\"operation\":\"he\xff" "alth\"}", "not valid UTF-8 (at byte 16)" },
	/* one JSON value and nothing after it, as dcproxy invoke reads it */
	{ "{\"operation\":\"health\"} x", "data after the JSON value (at byte 23)" },
};

START_TEST(test_bad_events_keep_serving)
{
	start_bootstrap();
	for (size_t i = 0; i < sizeof bad_events / sizeof bad_events[0]; i++) {
		const cJSON *result = invoke_direct(bad_events[i].event);
		ck_assert_str_eq(error_kind(result), "bad_event");
		const char *text = cJSON_GetStringValue(field(result, "error"));
		assert_contains(text, "Malformed event");
		assert_contains(text, bad_events[i].message);
		ck_assert(cJSON_IsNull(
			field(field(field(answer, "body"), "data"), "operation")));
	}
	ck_assert_uint_eq(standin_request_count(standin), 0);
	/* the runtime is still there and still well */
	ck_assert_str_eq(error_kind(invoke_direct(HEALTH_EVENT)), "none");
	ck_assert_uint_eq(standin_request_count(standin), 1);
}
END_TEST

START_TEST(test_event_over_limit)
{
	static const char head[] = "{\"operation\":\"health\",\"params\":{\"pad\":\"";
	char event[128];
	setenv("DCPROXY_MAX_EVENT_BYTES", "64", 1);
	start_bootstrap();
	snprintf(event, sizeof event, "%s%*s\"}}", head,
		 (int)(65 - (sizeof head - 1) - 3), "");
	ck_assert_uint_eq(strlen(event), 65);
	const cJSON *result = invoke_direct(event);
	ck_assert_str_eq(error_kind(result), "bad_event");
	assert_contains(cJSON_GetStringValue(field(result, "error")),
			"more than the limit of 64");
	ck_assert_uint_eq(standin_request_count(standin), 0);
	ck_assert_str_eq(error_kind(invoke_direct(HEALTH_EVENT)), "none");
}
END_TEST

/* A proxy set for the function's outbound calls must not carry the local
 * Runtime API: with ALL_PROXY and http_proxy on a closed port, events
 * still arrive and answers still leave (this one needs no upstream). */
START_TEST(test_runtime_api_bypasses_proxy)
{
	char proxy[64];
	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", test_closed_port());
	setenv("ALL_PROXY", proxy, 1);
	setenv("http_proxy", proxy, 1);
	start_bootstrap();
	unsetenv("ALL_PROXY");
	unsetenv("http_proxy");
	const cJSON *result = invoke_direct("{\"operation\":\"no-such-op\"}");
	ck_assert_str_eq(error_kind(result), "unknown_operation");
	ck_assert_uint_eq(standin_request_count(standin), 0);
}
END_TEST

/* ---- API Gateway proxy events ---- */

START_TEST(test_rest_v1_ohlcv)
{
	start_bootstrap();
	invoke("{\"resource\":\"/api/v1/ohlcv\",\"path\":\"/api/v1/ohlcv\","
	       "\"httpMethod\":\"GET\",\"headers\":{\"Accept\":\"*/*\"},"
	       "\"multiValueHeaders\":{},\"queryStringParameters\":{"
	       "\"symbol\":\"BTC/USDT:USDT\",\"timeframe\":\"4h\",\"limit\":\"3\"},"
	       "\"pathParameters\":null,\"stageVariables\":null,"
	       "\"requestContext\":{\"stage\":\"prod\",\"httpMethod\":\"GET\","
	       "\"requestId\":\"c6af9ac6-7b61-11e6-9a41-93e8deadbeef\"},"
	       "\"body\":null,\"isBase64Encoded\":false}");
	cJSON *expected = cJSON_CreateObject();
	cJSON_AddNumberToObject(expected, "statusCode", 200);
	cJSON_AddItemToObject(expected, "headers",
			      cJSON_Parse("{\"Content-Type\":\"application/json\"}"));
	cJSON_AddStringToObject(expected, "body",
				"{\"symbol\":\"BTC/USDT:USDT\",\"timeframe\":\"4h\","
				"\"limit\":3,\"data\":" OHLCV_CANDLES "}");
	cJSON_AddFalseToObject(expected, "isBase64Encoded");
	char *text = cJSON_PrintUnformatted(expected);
	cJSON_Delete(expected);
	ck_assert_str_eq(outcome.body, text);
	free(text);
	ck_assert_uint_eq(standin_request_count(standin), 1);
	ck_assert_str_eq(recorded(0)->method, "GET");
	ck_assert_str_eq(seen.path, "/api/v1/ohlcv");
	ck_assert_str_eq(seen.query,
			 "symbol=BTC%2FUSDT%3AUSDT&timeframe=4h&limit=3");
}
END_TEST

START_TEST(test_http_v2_stage)
{
	start_bootstrap();
	int status = invoke_http(
		"{\"version\":\"2.0\",\"routeKey\":\"$default\","
		"\"rawPath\":\"/prod/api/v1/health\",\"rawQueryString\":\"\","
		"\"headers\":{\"accept\":\"*/*\"},\"requestContext\":{"
		"\"accountId\":\"123456789012\",\"apiId\":\"api\","
		"\"http\":{\"method\":\"GET\",\"path\":\"/prod/api/v1/health\","
		"\"protocol\":\"HTTP/1.1\",\"sourceIp\":\"192.0.2.1\"},"
		"\"requestId\":\"id\",\"routeKey\":\"$default\",\"stage\":\"prod\"},"
		"\"isBase64Encoded\":false}");
	ck_assert_int_eq(status, 200);
	assert_json(http_body,
		    "{\"status\":\"healthy\",\"service\":\"data-collection\"}");
	ck_assert_ptr_null(field(field(answer, "headers"), "Allow"));
	ck_assert_str_eq(recorded(0)->path, "/api/v1/health");
}
END_TEST

START_TEST(test_http_v2_sync_base64)
{
	char event[2048];
	char *body = base64(SEED_PARAMS);
	snprintf(event, sizeof event,
		 "{\"version\":\"2.0\",\"routeKey\":\"POST /api/v1/sync\","
		 "\"rawPath\":\"/api/v1/sync\",\"rawQueryString\":\"\","
		 "\"headers\":{\"content-type\":\"application/json\"},"
		 "\"requestContext\":{\"http\":{\"method\":\"POST\","
		 "\"path\":\"/api/v1/sync\"},\"stage\":\"$default\"},"
		 "\"body\":\"%s\",\"isBase64Encoded\":true}",
		 body);
	free(body);
	start_bootstrap();
	ck_assert_int_eq(invoke_http(event), 200);
	assert_json(http_body,
		    "{\"status\":\"synced\",\"request\":" SEED_SYNC_BODY "}");
	ck_assert_uint_eq(standin_request_count(standin), 1);
	ck_assert_str_eq(recorded(0)->method, "POST");
	ck_assert_str_eq(seen.body, SEED_SYNC_BODY);
}
END_TEST

#define V1(method, path, extra) \
	"{\"httpMethod\":\"" method "\",\"path\":\"" path "\"," \
	"\"requestContext\":{\"stage\":\"prod\"}" extra "}"
#define V2(method, path, extra) \
	"{\"version\":\"2.0\",\"rawPath\":\"" path "\",\"requestContext\":{" \
	"\"http\":{\"method\":\"" method "\",\"path\":\"" path "\"}," \
	"\"stage\":\"$default\"}" extra "}"

static const struct {
	const char *event;
	const char *env[2];   /* NAME=VALUE settings for this case */
	int upstream_503s;    /* injected before the call */
	unsigned delay_ms;    /* one injected delay, when set */
	int status;
	const char *kind;
	const char *allow;    /* the Allow header, when one is due */
	const char *message;  /* part of the error text */
	size_t upstream_requests;
} http_cases[] = {
	/* nulls where API Gateway sends them */
	{ V1("GET", "/api/v1/health",
	     ",\"queryStringParameters\":null,\"body\":null"),
	  { 0 }, 0, 0, 200, "none", NULL, NULL, 1 },
	{ V1("GET", "/api/v1/ohlcv",
	     ",\"queryStringParameters\":{\"symbol\":\"BTCUSDT\"}"),
	  { 0 }, 0, 0, 400, "validation", NULL, "Invalid parameters", 0 },
	{ V1("GET", "/api/v1/nope", ""), { 0 }, 0, 0, 404, "unknown_operation",
	  NULL, "No route for GET /api/v1/nope", 0 },
	{ V2("GET", "/api/v1/nope", ""), { 0 }, 0, 0, 404, "unknown_operation",
	  NULL, "No route", 0 },
	{ V1("POST", "/api/v1/health", ""), { 0 }, 0, 0, 405, "bad_event",
	  "GET, HEAD", "method not allowed", 0 },
	/* HEAD is answered as GET */
	{ V1("HEAD", "/api/v1/health", ""), { 0 }, 0, 0, 200, "none", NULL,
	  NULL, 1 },
	{ V2("HEAD", "/api/v1/sync", ""), { 0 }, 0, 0, 405, "bad_event", "POST",
	  "method not allowed", 0 },
	{ V2("GET", "/api/v1/sync", ""), { 0 }, 0, 0, 405, "bad_event", "POST",
	  "method not allowed", 0 },
	{ V1("GET", "/api/v1/status", ""), { 0 }, 3, 0, 502,
	  "upstream_server_error", NULL, "HTTP 503 (3 attempts)", 3 },
	{ V2("GET", "/api/v1/symbols", ""),
	  { "REQUEST_TIMEOUT=0.3", "MAX_RETRIES=0" }, 0, 2000, 504, "timeout",
	  NULL, "timeout", 1 },
	{ V2("POST", "/api/v1/sync",
	     ",\"body\":\"!!not base64!!\",\"isBase64Encoded\":true"),
	  { 0 }, 0, 0, 400, "bad_event", NULL, "base64", 0 },
	{ V1("POST", "/api/v1/sync", ",\"body\":\"[1,2]\""), { 0 }, 0, 0, 400,
	  "bad_event", NULL, "JSON object", 0 },
	{ V1("POST", "/api/v1/sync", ",\"body\":\"{not json\""), { 0 }, 0, 0,
	  400, "bad_event", NULL, "body is not valid JSON", 0 },
	{ V1("POST", "/api/v1/sync", ",\"body\":\"{} x\""), { 0 }, 0, 0,
	  400, "bad_event", NULL, "body has data after the JSON value", 0 },
	/* a body written as an object, as in a hand-made test event */
	{ V1("POST", "/api/v1/sync", ",\"body\":{}"), { 0 }, 0, 0, 400,
	  "validation", NULL, "symbols", 0 },
	{ V2("POST", "/api/v1/sync", ",\"body\":[1]"), { 0 }, 0, 0, 400,
	  "bad_event", NULL, "body must be a string (of JSON) or a JSON object", 0 },
	{ V1("POST", "/api/v1/sync",
	     ",\"body\":\"e30=\",\"isBase64Encoded\":\"true\""),
	  { 0 }, 0, 0, 400, "bad_event", NULL,
	  "isBase64Encoded must be true or false", 0 },
	{ V1("POST", "/api/v1/sync", ",\"body\":\"{}\""), { 0 }, 0, 0, 400,
	  "validation", NULL, "symbols", 0 },
	/* {"symbols":["BTC/USDT\xff"]}: valid JSON, but not UTF-8 */
	{ V2("POST", "/api/v1/sync",
	     ",\"body\":\"eyJzeW1ib2xzIjpbIkJUQy9VU0RU/yJdfQ==\",\"isBase64Encoded\":true"),
	  { 0 }, 0, 0, 400, "bad_event", NULL, "body is not valid UTF-8 (at byte 21)", 0 },
};

START_TEST(test_http_case)
{
	for (int i = 0; i < 2 && http_cases[_i].env[i] != NULL; i++)
		ck_assert_int_eq(putenv((char *)http_cases[_i].env[i]), 0);
	for (int i = 0; i < http_cases[_i].upstream_503s; i++)
		standin_push_status(standin, 503);
	if (http_cases[_i].delay_ms > 0)
		standin_push_delay(standin, http_cases[_i].delay_ms);
	start_bootstrap();

	int status = invoke_http(http_cases[_i].event);
	ck_assert_msg(status == http_cases[_i].status, "%s: status %d, want %d: %s",
		      http_cases[_i].event, status, http_cases[_i].status,
		      outcome.body);
	ck_assert_str_eq(error_kind(http_body), http_cases[_i].kind);
	if (http_cases[_i].message != NULL)
		assert_contains(cJSON_GetStringValue(field(http_body, "error")),
				http_cases[_i].message);
	const char *allow =
		cJSON_GetStringValue(field(field(answer, "headers"), "Allow"));
	if (http_cases[_i].allow != NULL)
		ck_assert_str_eq(allow != NULL ? allow : "(none)",
				 http_cases[_i].allow);
	else
		ck_assert_ptr_null(allow);
	ck_assert_uint_eq(standin_request_count(standin),
			  http_cases[_i].upstream_requests);
}
END_TEST

/* An HTTP API event for method and rawPath at a named stage. */
static void
http_v2_at_stage(char *event, size_t len, const char *method,
		 const char *path, const char *stage)
{
	snprintf(event, len,
		 "{\"version\":\"2.0\",\"routeKey\":\"$default\","
		 "\"rawPath\":\"%s\",\"rawQueryString\":\"\","
		 "\"requestContext\":{\"http\":{\"method\":\"%s\","
		 "\"path\":\"%s\"},\"routeKey\":\"$default\","
		 "\"stage\":\"%s\"},\"isBase64Encoded\":false}",
		 path, method, path, stage);
}

/* A stage named like the routes' first segment: through a custom domain
 * rawPath has no stage prefix and must be routed as it is; on the default
 * endpoint the prefix is there and is stripped. */
START_TEST(test_http_v2_stage_named_like_path)
{
	static const struct {
		const char *path;
		int status;
	} cases[] = {
		{ "/api/v1/health", 200 },     /* custom domain */
		{ "/api/api/v1/health", 200 }, /* default endpoint */
		{ "/api/v1/health/", 200 },
		{ "/api/api/v1/health/", 200 },
		{ "/v1/health", 404 },
		{ "/api/api/api/v1/health", 404 },
	};
	char event[1024];
	start_bootstrap();
	size_t upstream = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		http_v2_at_stage(event, sizeof event, "GET", cases[i].path, "api");
		int status = invoke_http(event);
		ck_assert_msg(status == cases[i].status, "%s: status %d, want %d: %s",
			      cases[i].path, status, cases[i].status,
			      outcome.body);
		if (status != 200) {
			ck_assert_str_eq(error_kind(http_body), "unknown_operation");
			/* the path as the caller sent it */
			char want[256];
			snprintf(want, sizeof want, "No route for GET %s",
				 cases[i].path);
			assert_contains(cJSON_GetStringValue(field(http_body,
								   "error")),
					want);
			continue;
		}
		assert_json(http_body, "{\"status\":\"healthy\","
				       "\"service\":\"data-collection\"}");
		ck_assert_uint_eq(standin_request_count(standin), upstream + 1);
		ck_assert_str_eq(recorded(upstream)->path, "/api/v1/health");
		upstream++;
	}

	/* a stage-prefixed path that exists for another method is a 405 */
	http_v2_at_stage(event, sizeof event, "GET", "/api/api/v1/sync", "api");
	ck_assert_int_eq(invoke_http(event), 405);
	ck_assert_str_eq(cJSON_GetStringValue(field(field(answer, "headers"),
						    "Allow")),
			 "POST");
	/* $default is never a prefix, even when a path starts with it */
	http_v2_at_stage(event, sizeof event, "GET", "/$default/api/v1/health",
			 "$default");
	ck_assert_int_eq(invoke_http(event), 404);
	ck_assert_uint_eq(standin_request_count(standin), upstream);
}
END_TEST

/* Two operations on one path, one per method: a 405 names both in Allow. */
START_TEST(test_http_allow_lists_every_method)
{
	char *registry = test_write_file(
		dir, "operations.ini",
		"[service data-collection]\nport = 8002\n"
		"[operation health]\nplugin = health\nmethod = GET\n"
		"route = /api/v1/health\nservice = data-collection\n"
		"[operation poke]\nplugin = health\nmethod = POST\n"
		"route = /api/v1/health\nservice = data-collection\n"
		"[operation sync]\nplugin = ensure_data\nmethod = POST\n"
		"route = /api/v1/sync\nservice = data-collection\n");
	setenv("DCPROXY_REGISTRY", registry, 1);
	free(registry);
	start_bootstrap();
	char event[1024];
	static const char *const events[] = {
		V1("PUT", "/api/v1/health", ""),
		V2("DELETE", "/api/v1/health/", ""),
		NULL, /* HTTP API at a named stage, filled below */
	};
	for (size_t i = 0; i < 3; i++) {
		const char *e = events[i];
		if (e == NULL) {
			http_v2_at_stage(event, sizeof event, "PATCH",
					 "/prod/api/v1/health", "prod");
			e = event;
		}
		ck_assert_int_eq(invoke_http(e), 405);
		ck_assert_str_eq(error_kind(http_body), "bad_event");
		const char *allow = cJSON_GetStringValue(
			field(field(answer, "headers"), "Allow"));
		ck_assert_str_eq(allow != NULL ? allow : "(none)", "GET, HEAD, POST");
		assert_contains(cJSON_GetStringValue(field(http_body, "error")),
				"method not allowed, use GET, HEAD, POST");
	}
	/* a path with one method still names just that one */
	ck_assert_int_eq(invoke_http(V1("GET", "/api/v1/sync", "")), 405);
	ck_assert_str_eq(cJSON_GetStringValue(field(field(answer, "headers"),
						    "Allow")),
			 "POST");
	/* both methods really route (the stand-in has no POST there) */
	ck_assert_int_eq(invoke_http(V1("GET", "/api/v1/health", "")), 200);
	ck_assert_int_eq(invoke_http(V1("POST", "/api/v1/health", "")), 404);
	ck_assert_str_eq(error_kind(http_body), "upstream_client_error");
	ck_assert_uint_eq(standin_request_count(standin), 2);
	ck_assert_str_eq(recorded(1)->method, "POST");
	ck_assert_str_eq(seen.path, "/api/v1/health");
}
END_TEST

/* ---- upstream failures and deadlines ---- */

START_TEST(test_upstream_recovers)
{
	standin_push_status(standin, 503);
	standin_push_status(standin, 503);
	start_bootstrap();
	const cJSON *result = invoke_direct(SEED_EVENT);
	ck_assert_str_eq(error_kind(result), "none");
	ck_assert_str_eq(outcome.body, SEED_ENVELOPE);
	/* three attempts, each the same request */
	ck_assert_uint_eq(standin_request_count(standin), 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(recorded(i)->body, SEED_SYNC_BODY);
}
END_TEST

START_TEST(test_upstream_exhausted_envelope)
{
	for (int i = 0; i < 3; i++)
		standin_push_status(standin, 503);
	start_bootstrap();
	const cJSON *result = invoke_direct(SEED_EVENT);
	ck_assert_str_eq(error_kind(result), "upstream_server_error");
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "attempts")), 3);
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "upstream_status")),
			 503);
	/* Step Functions must see a response, never a function error */
	ck_assert_str_eq(outcome.error_type, "");
}
END_TEST

START_TEST(test_deadline_short_budget)
{
	setenv("DCPROXY_DEADLINE_MARGIN_MS", "500", 1);
	setenv("REQUEST_TIMEOUT", "5", 1);
	start_bootstrap();
	/* a warm runtime, so the budget is spent on the call alone */
	invoke_direct(HEALTH_EVENT);

	standin_push_delay(standin, 3000);
	const cJSON *result = invoke_direct_with(HEALTH_EVENT, 1500, NULL);
	ck_assert_str_eq(error_kind(result), "timeout");
	assert_contains(cJSON_GetStringValue(field(result, "url")), "/api/v1/health");
	/* the message tells the wait it really had, not REQUEST_TIMEOUT */
	const char *text = cJSON_GetStringValue(field(result, "error"));
	assert_contains(text, "cut short by the invocation deadline");
	const char *after = strstr(text, "timeout after ");
	ck_assert_ptr_nonnull(after);
	long waited = atol(after + 14);
	ck_assert_msg(waited >= 500 && waited < 1500, "%s", text);
	int64_t used = outcome.answered_ms - outcome.delivered_ms;
	int64_t spare = outcome.deadline_ms - outcome.answered_ms;
	/* it waited for the upstream up to its own deadline, not Lambda's */
	ck_assert_msg(used >= 800, "answered after %lld ms", (long long)used);
	ck_assert_msg(spare >= 250, "answered %lld ms before the deadline",
		      (long long)spare);
	/* no retry was started that could not finish */
	ck_assert_int_eq(cJSON_GetNumberValue(field(result, "attempts")), 1);
	ck_assert_uint_eq(standin_request_count(standin), 2);
	ck_assert(bootstrap_running());
	/* and the next invocation is served normally */
	ck_assert_str_eq(error_kind(invoke_direct("{\"operation\":\"status\"}")),
			 "none");
}
END_TEST

/* The bootstrap in a time namespace whose monotonic clock starts near
 * 1 s, as in a freshly booted Lambda sandbox (util-linux unshare, root and
 * a kernel with time namespaces).  false when this machine has none. */
static bool
start_bootstrap_young(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec < 2) {
		start_bootstrap();
		return true;
	}
	if (system("unshare --time --monotonic=-1 --fork --kill-child true "
		   ">/dev/null 2>&1") != 0)
		return false;
	char offset[64];
	snprintf(offset, sizeof offset, "--monotonic=-%ld", (long)now.tv_sec - 1);
	const char *wrapper[] = { "unshare", "--time", offset, "--fork",
				  "--kill-child", NULL };
	memcpy(spawn_wrapper, wrapper, sizeof wrapper);
	start_bootstrap();
	spawn_wrapper[0] = NULL;
	return true;
}

START_TEST(test_deadline_passed_young_clock)
{
	/* The margin outweighs both the budget and the clock's reading: the
	 * deadline is past, and must not read as none at all. */
	setenv("DCPROXY_DEADLINE_MARGIN_MS", "30000", 1);
	if (!start_bootstrap_young()) {
		fprintf(stderr, "test_deadline_passed_young_clock: no time "
				"namespace here, not run\n");
		return;
	}
	invoke_direct(HEALTH_EVENT);
	standin_push_delay(standin, 3000);
	const cJSON *result = invoke_direct_with(HEALTH_EVENT, 1000, NULL);
	ck_assert_str_eq(error_kind(result), "timeout");
	assert_contains(cJSON_GetStringValue(field(result, "error")),
			"no time left before the deadline");
	ck_assert_uint_eq(standin_request_count(standin), 1);
}
END_TEST

START_TEST(test_deadline_already_passed)
{
	/* a budget smaller than the margin: nothing is sent upstream */
	setenv("DCPROXY_DEADLINE_MARGIN_MS", "500", 1);
	start_bootstrap();
	invoke_direct(HEALTH_EVENT);
	const cJSON *result = invoke_direct_with(HEALTH_EVENT, 300, NULL);
	ck_assert_str_eq(error_kind(result), "timeout");
	assert_contains(cJSON_GetStringValue(field(result, "error")), "deadline");
	ck_assert_uint_eq(standin_request_count(standin), 1);
}
END_TEST

/* ---- init failures ---- */

START_TEST(test_init_unreadable_registry)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/missing/operations.ini", dir);
	setenv("DCPROXY_REGISTRY", path, 1);
	start_bootstrap();
	struct emu_outcome init;
	ck_assert_msg(lambda_emulator_init_error(emu, WAIT_MS, &init) == 0,
		      "no init error posted");
	ck_assert_str_eq(init.error_type, "Runtime.ConfigurationError");
	cJSON *doc = cJSON_Parse(init.body);
	emu_outcome_clear(&init);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(cJSON_GetStringValue(field(doc, "errorType")),
			 "Runtime.ConfigurationError");
	const char *message = cJSON_GetStringValue(field(doc, "errorMessage"));
	assert_contains(message, path);
	assert_contains(message, "No such file or directory");
	ck_assert(cJSON_IsArray(field(doc, "stackTrace")));
	cJSON_Delete(doc);
	expect_exit = true;
	ck_assert_int_eq(bootstrap_exit_code(), EXIT_FAILURE);
	ck_assert_uint_eq(lambda_emulator_next_calls(emu), 0);
}
END_TEST

START_TEST(test_init_plugin_missing)
{
	char *registry = test_write_file(
		dir, "operations.ini",
		"[service data-collection]\nport = 8002\n"
		"[operation quote]\nplugin = no_such_quote_plugin\nmethod = GET\n"
		"route = /api/v1/quote\nservice = data-collection\n");
	setenv("DCPROXY_REGISTRY", registry, 1);
	free(registry);
	start_bootstrap();
	struct emu_outcome init;
	ck_assert_msg(lambda_emulator_init_error(emu, WAIT_MS, &init) == 0,
		      "no init error posted");
	ck_assert_str_eq(init.error_type, "Runtime.ConfigurationError");
	cJSON *doc = cJSON_Parse(init.body);
	emu_outcome_clear(&init);
	const char *message = cJSON_GetStringValue(field(doc, "errorMessage"));
	assert_contains(message, "no operation could be loaded");
	assert_contains(message, "quote");
	assert_contains(message, "no_such_quote_plugin");
	cJSON_Delete(doc);
	expect_exit = true;
	ck_assert_int_eq(bootstrap_exit_code(), EXIT_FAILURE);
	ck_assert_uint_eq(lambda_emulator_next_calls(emu), 0);
}
END_TEST

START_TEST(test_init_some_plugins_missing)
{
	/* a plugin that fails disables its own operation, not the runtime */
	char *registry = test_write_file(
		dir, "operations.ini",
		"[service data-collection]\nport = 8002\n"
		"[operation health]\nplugin = health\nmethod = GET\n"
		"route = /api/v1/health\nservice = data-collection\n"
		"[operation quote]\nplugin = no_such_quote_plugin\nmethod = GET\n"
		"route = /api/v1/quote\nservice = data-collection\n");
	setenv("DCPROXY_REGISTRY", registry, 1);
	free(registry);
	start_bootstrap();
	ck_assert_str_eq(error_kind(invoke_direct(HEALTH_EVENT)), "none");
	const cJSON *result = invoke_direct("{\"operation\":\"quote\"}");
	ck_assert_str_eq(error_kind(result), "plugin_unavailable");
	assert_contains(cJSON_GetStringValue(field(result, "error")),
			"no_such_quote_plugin");
	ck_assert_int_eq(invoke_http(V1("GET", "/api/v1/quote", "")), 503);
	ck_assert_str_eq(error_kind(http_body), "plugin_unavailable");
	struct emu_outcome init;
	ck_assert_int_eq(lambda_emulator_init_error(emu, 0, &init), -1);
	/* the failure was logged once, at init, before any invocation */
	cJSON *lines = json_lines(err_path);
	const cJSON *first = cJSON_GetArrayItem(lines, 0);
	ck_assert_str_eq(cJSON_GetStringValue(field(first, "level")), "error");
	assert_contains(cJSON_GetStringValue(field(first, "msg")),
			"no_such_quote_plugin");
	ck_assert_ptr_null(field(first, "request_id"));
	cJSON_Delete(lines);
	ck_assert_uint_eq(standin_request_count(standin), 1);
}
END_TEST

START_TEST(test_init_bad_setting)
{
	setenv("REQUEST_TIMEOUT", "soon", 1);
	start_bootstrap();
	struct emu_outcome init;
	ck_assert(lambda_emulator_init_error(emu, WAIT_MS, &init) == 0);
	ck_assert_str_eq(init.error_type, "Runtime.ConfigurationError");
	assert_contains(init.body, "REQUEST_TIMEOUT");
	emu_outcome_clear(&init);
	expect_exit = true;
	ck_assert_int_eq(bootstrap_exit_code(), EXIT_FAILURE);
}
END_TEST

START_TEST(test_no_runtime_api)
{
	unsetenv("AWS_LAMBDA_RUNTIME_API");
	start_bootstrap();
	expect_exit = true;
	ck_assert_int_eq(bootstrap_exit_code(), EXIT_FAILURE);
	char *errors = slurp(err_path);
	assert_contains(errors, "AWS_LAMBDA_RUNTIME_API is not set");
	free(errors);
}
END_TEST

/* ---- tracing and logs ---- */

START_TEST(test_trace_id_forwarded)
{
	start_bootstrap();
	invoke_with("{\"operation\":\"status\"}", 0, TRACE_ID);
	ck_assert_str_eq(recorded(0)->trace_id, TRACE_ID);
	/* the next invocation has none, and must not inherit this one */
	invoke(SEED_EVENT);
	ck_assert_str_eq(recorded(1)->trace_id, "");
	invoke_with(HEALTH_EVENT, 0, "Root=1-00000000-000000000000000000000001");
	ck_assert_str_eq(recorded(2)->trace_id,
			 "Root=1-00000000-000000000000000000000001");
}
END_TEST

START_TEST(test_request_id_in_logs)
{
	char ids[3][64];
	start_bootstrap();
	invoke_direct(HEALTH_EVENT);
	snprintf(ids[0], sizeof ids[0], "%s", outcome.request_id);
	invoke_direct("{\"operation\":\"fetch_ohlcv\",\"params\":{}}");
	snprintf(ids[1], sizeof ids[1], "%s", outcome.request_id);
	invoke_direct("{\"operation\":\"status\"}");
	snprintf(ids[2], sizeof ids[2], "%s", outcome.request_id);

	/* every stderr line is a JSON log line, each tied to its invocation */
	cJSON *lines = json_lines(err_path);
	int per_id[3] = { 0 };
	const cJSON *line;
	cJSON_ArrayForEach(line, lines) {
		ck_assert(cJSON_IsString(field(line, "level")));
		ck_assert(cJSON_IsString(field(line, "msg")));
		const char *id = cJSON_GetStringValue(field(line, "request_id"));
		if (id == NULL)
			continue;
		bool known = false;
		for (int i = 0; i < 3; i++)
			if (strcmp(id, ids[i]) == 0) {
				per_id[i]++;
				known = true;
				if (i == 1) /* the one that failed validation */
					ck_assert_str_eq(cJSON_GetStringValue(
							 field(line, "level")),
							 "warn");
			}
		ck_assert_msg(known, "log line for an unknown request id %s", id);
	}
	for (int i = 0; i < 3; i++)
		ck_assert_msg(per_id[i] >= 1, "no log line for invocation %d", i);
	cJSON_Delete(lines);
}
END_TEST

/* ---- Lambda's response limit ---- */

static char *
big_json(size_t bytes)
{
	char *text = malloc(bytes + 1);
	memset(text, 'x', bytes);
	memcpy(text, "{\"data\":\"", 9);
	memcpy(text + bytes - 2, "\"}", 2);
	text[bytes] = '\0';
	return text;
}

START_TEST(test_response_over_lambda_limit)
{
	setenv("DCPROXY_MAX_RESPONSE_BYTES", "20000000", 1);
	char *big = big_json((size_t)7 << 20);
	standin_push_body(standin, 200, big);
	standin_push_body(standin, 200, big);
	free(big);
	start_bootstrap();

	/* posted as a small envelope, not refused by the API with 413 */
	const cJSON *result = invoke_direct(HEALTH_EVENT);
	ck_assert_str_eq(error_kind(result), "bad_upstream_reply");
	assert_contains(cJSON_GetStringValue(field(result, "error")),
			"exceeds Lambda's 6291456-byte limit");
	ck_assert_uint_lt(outcome.body_len, 4096);

	ck_assert_int_eq(invoke_http(V1("GET", "/api/v1/health", "")), 502);
	ck_assert_str_eq(error_kind(http_body), "bad_upstream_reply");

	ck_assert_str_eq(error_kind(invoke_direct(HEALTH_EVENT)), "none");
}
END_TEST

START_TEST(test_response_under_lambda_limit)
{
	/* 6 MB of reply fits once wrapped: the full answer goes out */
	setenv("DCPROXY_MAX_RESPONSE_BYTES", "20000000", 1);
	char *big = big_json(6000000);
	standin_push_body(standin, 200, big);
	start_bootstrap();
	const cJSON *result = invoke_direct(HEALTH_EVENT);
	ck_assert_str_eq(error_kind(result), "none");
	const char *data = cJSON_GetStringValue(field(result, "data"));
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(strlen(data), 6000000 - 11);
	ck_assert_uint_eq(strspn(data, "x"), 6000000 - 11);
	ck_assert_uint_gt(outcome.body_len, 6000000);
	free(big);
}
END_TEST

/* ---- the Runtime API failing ---- */

START_TEST(test_runtime_api_faults_retried)
{
	lambda_emulator_push_fault(emu, EMU_ON_NEXT, EMU_FAULT_500, 1);
	lambda_emulator_push_fault(emu, EMU_ON_NEXT, EMU_FAULT_DROP, 1);
	start_bootstrap();
	ck_assert_str_eq(error_kind(invoke_direct(HEALTH_EVENT)), "none");
	ck_assert_uint_ge(lambda_emulator_next_calls(emu), 3);

	lambda_emulator_push_fault(emu, EMU_ON_RESPONSE, EMU_FAULT_500, 1);
	lambda_emulator_push_fault(emu, EMU_ON_RESPONSE, EMU_FAULT_DROP, 1);
	ck_assert_str_eq(error_kind(invoke_direct("{\"operation\":\"status\"}")),
			 "none");
	/* each invocation reached the service once: only the posts repeated */
	ck_assert_uint_eq(standin_request_count(standin), 2);
	ck_assert(bootstrap_running());
}
END_TEST

START_TEST(test_runtime_api_gone)
{
	/* the API keeps failing: the runtime gives up and exits, it does not
	 * spin */
	lambda_emulator_push_fault(emu, EMU_ON_NEXT, EMU_FAULT_500, 50);
	start_bootstrap();
	expect_exit = true;
	ck_assert_int_eq(bootstrap_exit_code(), EXIT_FAILURE);
	size_t calls = lambda_emulator_next_calls(emu);
	ck_assert_uint_ge(calls, 2);
	ck_assert_uint_le(calls, 10);
	char *errors = slurp(err_path);
	assert_contains(errors, "runtime API");
	assert_contains(errors, "HTTP 500");
	free(errors);
}
END_TEST

/* ---- the emulator itself, driven over HTTP ---- */

struct fetched {
	long status;
	char *body;
	size_t len;
	char headers[4096];
	size_t hlen;
};

static size_t
fetch_body(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct fetched *f = userdata;
	size_t n = size * nmemb;
	char *grown = realloc(f->body, f->len + n + 1);
	if (grown == NULL)
		return 0;
	f->body = grown;
	memcpy(f->body + f->len, p, n);
	f->len += n;
	f->body[f->len] = '\0';
	return n;
}

static size_t
fetch_header(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct fetched *f = userdata;
	size_t n = size * nmemb;
	if (f->hlen + n < sizeof f->headers) {
		memcpy(f->headers + f->hlen, p, n);
		f->hlen += n;
		f->headers[f->hlen] = '\0';
	}
	return n;
}

/* One request to the emulator at path; body NULL for a GET.  status 0
 * when no reply came within timeout_ms. */
static void
fetch_within(const char *endpoint, const char *path, const char *body,
	     size_t len, const char *header, long timeout_ms,
	     struct fetched *f)
{
	char url[512];
	snprintf(url, sizeof url, "http://%s%s", endpoint, path);
	memset(f, 0, sizeof *f);
	f->body = strdup("");
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
	if (header != NULL)
		headers = curl_slist_append(headers, header);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fetch_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, fetch_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, f);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &f->status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
}

static void
fetch(const char *endpoint, const char *path, const char *body, size_t len,
      const char *header, struct fetched *f)
{
	fetch_within(endpoint, path, body, len, header, WAIT_MS, f);
}

static void
fetched_clear(struct fetched *f)
{
	free(f->body);
	f->body = NULL;
}

/* The value of a reply header, or "" when absent. */
static const char *
fetched_header(const struct fetched *f, const char *name, char *out,
	       size_t outlen)
{
	size_t n = strlen(name);
	out[0] = '\0';
	for (const char *line = f->headers; *line != '\0';) {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			size_t vlen = (size_t)(line + len - v);
			while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			snprintf(out, outlen, "%.*s", (int)vlen, v);
			break;
		}
		line += len + (end != NULL);
	}
	return out;
}

#define NEXT_PATH "/2018-06-01/runtime/invocation/next"

struct poller {
	const char *endpoint;
	struct fetched reply;
};

static void *
poll_next(void *arg)
{
	struct poller *p = arg;
	fetch(p->endpoint, NEXT_PATH, NULL, 0, NULL, &p->reply);
	return NULL;
}

static int64_t
now_epoch_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_emulator_runtime_api)
{
	const char *ep = lambda_emulator_endpoint(emu);
	struct poller p = { ep, { 0 } };
	pthread_t thread;
	ck_assert_int_eq(pthread_create(&thread, NULL, poll_next, &p), 0);
	await_next_calls(1);

	/* a long-polling /next blocks nothing else */
	struct fetched f;
	fetch(ep, "/_emulator/stats", NULL, 0, NULL, &f);
	ck_assert_int_eq(f.status, 200);
	cJSON *stats = cJSON_Parse(f.body);
	ck_assert_int_eq(cJSON_GetNumberValue(field(stats, "next_calls")), 1);
	ck_assert(cJSON_IsNumber(field(stats, "first_next_ms")));
	cJSON_Delete(stats);
	fetched_clear(&f);

	char id[64], value[512];
	ck_assert_int_eq(lambda_emulator_queue(emu, "{\"a\":1}", 7, 5000,
					       "Root=1-abc", id, sizeof id), 0);
	int64_t queued = now_epoch_ms();
	pthread_join(thread, NULL);
	ck_assert_int_eq(p.reply.status, 200);
	ck_assert_str_eq(p.reply.body, "{\"a\":1}");
	ck_assert_str_eq(fetched_header(&p.reply, "Lambda-Runtime-Aws-Request-Id",
					value, sizeof value), id);
	ck_assert_str_eq(fetched_header(&p.reply, "Lambda-Runtime-Trace-Id", value,
					sizeof value), "Root=1-abc");
	assert_contains(fetched_header(&p.reply,
				       "Lambda-Runtime-Invoked-Function-Arn",
				       value, sizeof value),
			"arn:aws:lambda:");
	long long deadline = atoll(fetched_header(
		&p.reply, "Lambda-Runtime-Deadline-Ms", value, sizeof value));
	ck_assert_int_ge(deadline, queued + 4000);
	ck_assert_int_le(deadline, queued + 6000);
	fetched_clear(&p.reply);

	/* unknown ids and wrong methods are refused */
	fetch(ep, "/2018-06-01/runtime/invocation/nope/response", "{}", 2, NULL,
	      &f);
	ck_assert_int_eq(f.status, 400);
	assert_contains(f.body, "InvalidRequestID");
	fetched_clear(&f);
	fetch(ep, NEXT_PATH, "{}", 2, NULL, &f);
	ck_assert_int_eq(f.status, 405);
	fetched_clear(&f);

	/* an error, with its type, then no second answer */
	char path[256];
	snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/error", id);
	fetch(ep, path, "{\"errorMessage\":\"boom\"}", 23,
	      "Lambda-Runtime-Function-Error-Type: Runtime.Boom", &f);
	ck_assert_int_eq(f.status, 202);
	fetched_clear(&f);
	snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/response",
		 id);
	fetch(ep, path, "{}", 2, NULL, &f);
	ck_assert_int_eq(f.status, 400);
	fetched_clear(&f);

	ck_assert_int_eq(lambda_emulator_wait(emu, id, 1000, &outcome), 0);
	ck_assert_int_eq(outcome.kind, EMU_ERROR);
	ck_assert_str_eq(outcome.error_type, "Runtime.Boom");
	ck_assert_str_eq(outcome.body, "{\"errorMessage\":\"boom\"}");
	ck_assert_str_eq(outcome.request_id, id);
	/* waited for once, then forgotten */
	struct emu_outcome again;
	ck_assert_int_eq(lambda_emulator_wait(emu, id, 10, &again), -1);
}
END_TEST

START_TEST(test_emulator_size_limit)
{
	const char *ep = lambda_emulator_endpoint(emu);
	size_t max = EMU_MAX_RESPONSE_BYTES;
	char *body = malloc(max + 2);
	memset(body, ' ', max + 1);
	body[0] = '0';
	body[max + 1] = '\0';

	for (int over = 0; over < 2; over++) {
		char id[64], path[256];
		struct fetched f;
		ck_assert_int_eq(lambda_emulator_queue(emu, "{}", 2, 0, NULL, id,
						       sizeof id), 0);
		fetch(ep, NEXT_PATH, NULL, 0, NULL, &f);
		ck_assert_int_eq(f.status, 200);
		fetched_clear(&f);
		snprintf(path, sizeof path,
			 "/2018-06-01/runtime/invocation/%s/response", id);
		fetch(ep, path, body, max + (size_t)over, NULL, &f);
		ck_assert_int_eq(f.status, over ? 413 : 202);
		fetched_clear(&f);
		ck_assert_int_eq(lambda_emulator_wait(emu, id, 1000, &outcome), 0);
		if (over) {
			ck_assert_int_eq(outcome.kind, EMU_ERROR);
			ck_assert_str_eq(outcome.error_type,
					 "Function.ResponseSizeTooLarge");
		} else {
			ck_assert_int_eq(outcome.kind, EMU_RESPONSE);
			ck_assert_uint_eq(outcome.body_len, max);
		}
		emu_outcome_clear(&outcome);
	}
	free(body);
}
END_TEST

START_TEST(test_emulator_faults_and_hangups)
{
	const char *ep = lambda_emulator_endpoint(emu);
	struct fetched f;
	char id[64], value[128];
	lambda_emulator_push_fault(emu, EMU_ON_NEXT, EMU_FAULT_500, 1);
	lambda_emulator_push_fault(emu, EMU_ON_NEXT, EMU_FAULT_DROP, 1);
	fetch(ep, NEXT_PATH, NULL, 0, NULL, &f);
	ck_assert_int_eq(f.status, 500);
	assert_contains(f.body, "InjectedFault");
	fetched_clear(&f);
	fetch(ep, NEXT_PATH, NULL, 0, NULL, &f);
	ck_assert_int_eq(f.status, 0); /* dropped */
	fetched_clear(&f);

	/* a poller that hangs up is not handed the next invocation */
	fetch_within(ep, NEXT_PATH, NULL, 0, NULL, 300, &f);
	ck_assert_int_eq(f.status, 0);
	fetched_clear(&f);
	msleep(300);
	ck_assert_int_eq(lambda_emulator_queue(emu, "{}", 2, 0, NULL, id,
					       sizeof id), 0);
	fetch(ep, NEXT_PATH, NULL, 0, NULL, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_str_eq(fetched_header(&f, "Lambda-Runtime-Aws-Request-Id",
					value, sizeof value), id);
	ck_assert_str_eq(fetched_header(&f, "Lambda-Runtime-Trace-Id", value,
					sizeof value), "");
	fetched_clear(&f);
	ck_assert_uint_eq(lambda_emulator_next_calls(emu), 4);

	/* faults on answers: nothing is recorded until a post gets through */
	lambda_emulator_push_fault(emu, EMU_ON_RESPONSE, EMU_FAULT_DROP, 1);
	lambda_emulator_push_fault(emu, EMU_ON_RESPONSE, EMU_FAULT_500, 1);
	char path[256];
	snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/response",
		 id);
	for (int i = 0; i < 3; i++) {
		fetch(ep, path, "{\"ok\":1}", 8, NULL, &f);
		ck_assert_int_eq(f.status, i == 0 ? 0 : i == 1 ? 500 : 202);
		fetched_clear(&f);
		if (i < 2)
			ck_assert_int_eq(lambda_emulator_wait(emu, id, 0, &outcome),
					 -1);
	}
	ck_assert_int_eq(lambda_emulator_wait(emu, id, 1000, &outcome), 0);
	ck_assert_str_eq(outcome.body, "{\"ok\":1}");
	struct emu_outcome none;
	ck_assert_int_eq(lambda_emulator_wait(emu, "no-such-id", 10, &none), -1);
}
END_TEST

START_TEST(test_emulator_init_error_control)
{
	const char *ep = lambda_emulator_endpoint(emu);
	struct fetched f;
	fetch(ep, "/_emulator/init-error", NULL, 0, NULL, &f);
	ck_assert_int_eq(f.status, 404);
	fetched_clear(&f);
	fetch(ep, "/2018-06-01/runtime/init/error",
	      "{\"errorMessage\":\"bad\",\"errorType\":\"Runtime.X\"}", 46,
	      "Lambda-Runtime-Function-Error-Type: Runtime.X", &f);
	ck_assert_int_eq(f.status, 202);
	fetched_clear(&f);
	fetch(ep, "/_emulator/init-error", NULL, 0, NULL, &f);
	ck_assert_int_eq(f.status, 200);
	ck_assert_str_eq(f.body,
			 "{\"body\":{\"errorMessage\":\"bad\",\"errorType\":"
			 "\"Runtime.X\"},\"error_type\":\"Runtime.X\"}");
	fetched_clear(&f);
}
END_TEST

/* The program others script against, with the real bootstrap behind it:
 * exactly the interface of tests/dcproxy-lambda-emulator's --help. */
START_TEST(test_emulator_program)
{
	char path[4096], endpoint[64] = "";
	int fds[2];
	snprintf(path, sizeof path, "%s/tests/dcproxy-lambda-emulator",
		 getenv("TOP_BUILDDIR"));
	ck_assert_int_eq(pipe(fds), 0);
	emu_child = spawn(path, fds[1], -1);
	close(fds[1]);
	FILE *first = fdopen(fds[0], "r");
	ck_assert_ptr_nonnull(fgets(endpoint, sizeof endpoint, first));
	fclose(first);
	endpoint[strcspn(endpoint, "\n")] = '\0';
	ck_assert_msg(strncmp(endpoint, "127.0.0.1:", 10) == 0 &&
			      atoi(endpoint + 10) > 0,
		      "first line '%s'", endpoint);

	struct fetched f;
	fetch(endpoint, "/_emulator/stats", NULL, 0, NULL, &f);
	ck_assert_str_eq(f.body, "{\"next_calls\":0,\"first_next_ms\":null,"
				 "\"invocations\":0}");
	fetched_clear(&f);
	fetch(endpoint, "/_emulator/init-error", NULL, 0, NULL, &f);
	ck_assert_int_eq(f.status, 404);
	fetched_clear(&f);

	setenv("AWS_LAMBDA_RUNTIME_API", endpoint, 1);
	start_bootstrap();
	fetch(endpoint, "/_emulator/invoke?budget_ms=20000&trace_id=Root%3D1-x",
	      HEALTH_EVENT, strlen(HEALTH_EVENT), NULL, &f);
	ck_assert_int_eq(f.status, 200);
	cJSON *doc = cJSON_Parse(f.body);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(cJSON_GetStringValue(field(doc, "kind")), "response");
	ck_assert(cJSON_IsString(field(doc, "request_id")));
	ck_assert(cJSON_IsNull(field(doc, "error_type")));
	ck_assert_ptr_null(field(doc, "count"));
	/* the posted envelope, as JSON */
	ck_assert_str_eq(cJSON_GetStringValue(field(field(field(field(doc, "body"),
								  "body"),
							    "data"),
						      "operation")),
			 "health");
	cJSON_Delete(doc);
	fetched_clear(&f);
	ck_assert_str_eq(recorded(0)->trace_id, "Root=1-x");

	fetch(endpoint, "/_emulator/invoke?repeat=20", SEED_EVENT,
	      strlen(SEED_EVENT), NULL, &f);
	ck_assert_int_eq(f.status, 200);
	doc = cJSON_Parse(f.body);
	ck_assert_int_eq(cJSON_GetNumberValue(field(doc, "count")), 20);
	ck_assert_int_eq(cJSON_GetNumberValue(field(doc, "errors")), 0);
	ck_assert(cJSON_IsNumber(field(doc, "wall_ms")));
	char *envelope = cJSON_PrintUnformatted(field(doc, "body"));
	ck_assert_str_eq(envelope, SEED_ENVELOPE);
	free(envelope);
	cJSON_Delete(doc);
	fetched_clear(&f);
	ck_assert_uint_eq(standin_request_count(standin), 21);

	fetch(endpoint, "/_emulator/invoke?repeat=0", "{}", 2, NULL, &f);
	ck_assert_int_eq(f.status, 400);
	fetched_clear(&f);

	fetch(endpoint, "/_emulator/stats", NULL, 0, NULL, &f);
	doc = cJSON_Parse(f.body);
	ck_assert_int_ge(cJSON_GetNumberValue(field(doc, "next_calls")), 21);
	ck_assert_int_eq(cJSON_GetNumberValue(field(doc, "invocations")), 21);
	ck_assert(cJSON_IsNumber(field(doc, "first_next_ms")));
	cJSON_Delete(doc);
	fetched_clear(&f);

	/* SIGTERM ends it cleanly */
	int status = terminate(emu_child);
	emu_child = -1;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the runtime loses its API and gives up */
	expect_exit = true;
}
END_TEST

/* ---- the suite ---- */

static TCase *
tcase_new(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tc;
}

#define N_OF(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *
bootstrap_suite(void)
{
	Suite *s = suite_create("bootstrap");
	TCase *tc = tcase_new(s, "direct");
	tcase_add_test(tc, test_seed_envelope);
	tcase_add_test(tc, test_one_process_many_invocations);
	tcase_add_test(tc, test_emf_per_invocation);
	tcase_add_test(tc, test_bad_events_keep_serving);
	tcase_add_test(tc, test_event_over_limit);
	tcase_add_test(tc, test_runtime_api_bypasses_proxy);

	tc = tcase_new(s, "api_gateway");
	tcase_add_test(tc, test_rest_v1_ohlcv);
	tcase_add_test(tc, test_http_v2_stage);
	tcase_add_test(tc, test_http_v2_stage_named_like_path);
	tcase_add_test(tc, test_http_allow_lists_every_method);
	tcase_add_test(tc, test_http_v2_sync_base64);
	tcase_add_loop_test(tc, test_http_case, 0, N_OF(http_cases));

	tc = tcase_new(s, "upstream");
	tcase_add_test(tc, test_upstream_recovers);
	tcase_add_test(tc, test_upstream_exhausted_envelope);
	tcase_add_test(tc, test_deadline_short_budget);
	tcase_add_test(tc, test_deadline_already_passed);
	tcase_add_test(tc, test_deadline_passed_young_clock);

	tc = tcase_new(s, "init");
	tcase_add_test(tc, test_init_unreadable_registry);
	tcase_add_test(tc, test_init_plugin_missing);
	tcase_add_test(tc, test_init_some_plugins_missing);
	tcase_add_test(tc, test_init_bad_setting);
	tcase_add_test(tc, test_no_runtime_api);

	tc = tcase_new(s, "observability");
	tcase_add_test(tc, test_trace_id_forwarded);
	tcase_add_test(tc, test_request_id_in_logs);

	tc = tcase_new(s, "limits");
	tcase_add_test(tc, test_response_over_lambda_limit);
	tcase_add_test(tc, test_response_under_lambda_limit);

	tc = tcase_new(s, "runtime_api");
	tcase_add_test(tc, test_runtime_api_faults_retried);
	tcase_add_test(tc, test_runtime_api_gone);

	tc = tcase_new(s, "emulator");
	tcase_add_test(tc, test_emulator_runtime_api);
	tcase_add_test(tc, test_emulator_size_limit);
	tcase_add_test(tc, test_emulator_faults_and_hangups);
	tcase_add_test(tc, test_emulator_init_error_control);
	tcase_add_test(tc, test_emulator_program);
	return s;
}

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	SRunner *sr = srunner_create(bootstrap_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
