/* check_http: core/http.c against the stand-in service: retries and their
 * backoff, every failure class, deadlines, headers, bodies, connection reuse.
 */
#include "config.h"

#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "standin.h"
#include "testutil.h"

static struct standin *standin;
static struct http_client *client;

static void
setup(void)
{
	ck_assert_int_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	standin = standin_start();
	ck_assert_ptr_nonnull(standin);
	client = http_client_new("dcproxy-test");
	ck_assert_ptr_nonnull(client);
}

static void
teardown(void)
{
	http_client_free(client);
	standin_stop(standin);
	curl_global_cleanup();
}

static struct retry_policy
policy(long max_retries, long base_delay_ms)
{
	return (struct retry_policy){
		.timeout_ms = 5000,
		.max_retries = max_retries,
		.base_delay_ms = base_delay_ms,
		.max_response_bytes = 1 << 20,
	};
}

/* Send method path (a stand-in path) with body; returns the rc. */
static int
send_to(const char *base, const char *method, const char *path,
	const char *body, const char *trace_id, const struct retry_policy *p,
	struct http_response *resp)
{
	char url[256];
	snprintf(url, sizeof url, "%s%s", base, path);
	struct http_request req = {
		.method = method,
		.url = url,
		.body = body,
		.trace_id = trace_id,
	};
	return http_send_with_retry(client, &req, p, resp);
}

static int
get_health(const struct retry_policy *p, struct http_response *resp)
{
	return send_to(standin_url(standin), "GET", "/api/v1/health", NULL,
		       NULL, p, resp);
}

static int64_t
arrival(size_t i)
{
	struct standin_request r;
	ck_assert_int_eq(standin_request_get(standin, i, &r), 0);
	int64_t at = r.at_ms;
	standin_request_clear(&r);
	return at;
}

START_TEST(test_success)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	ck_assert_int_eq(get_health(&p, &resp), 0);
	ck_assert_int_eq(resp.failure, HTTP_OK);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_int_eq(resp.attempts, 1);
	ck_assert_str_eq(resp.body,
			 "{\"status\":\"healthy\",\"service\":\"data-collection\"}");
	ck_assert_uint_eq(resp.body_len, strlen(resp.body));
	http_response_clear(&resp);
	ck_assert_ptr_null(resp.body);

	struct standin_request r;
	ck_assert_uint_eq(standin_request_count(standin), 1);
	ck_assert_int_eq(standin_request_get(standin, 0, &r), 0);
	ck_assert_str_eq(r.method, "GET");
	ck_assert_str_eq(r.path, "/api/v1/health");
	ck_assert_str_eq(r.query, "");
	ck_assert_str_eq(r.body, "");
	ck_assert_str_eq(r.trace_id, "");
	ck_assert_str_eq(r.content_type, "");
	standin_request_clear(&r);
}
END_TEST

START_TEST(test_5xx_retried_until_success)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	standin_push_status(standin, 503);
	standin_push_status(standin, 503);
	ck_assert_int_eq(get_health(&p, &resp), 0);
	ck_assert_int_eq(resp.failure, HTTP_OK);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_int_eq(resp.attempts, 3);
	ck_assert_ptr_nonnull(strstr(resp.body, "healthy"));
	ck_assert_uint_eq(standin_request_count(standin), 3);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_5xx_exhausts_retries)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	standin_push_status(standin, 500);
	standin_push_status(standin, 502);
	standin_push_status(standin, 503);
	standin_push_status(standin, 504); /* must never be asked for */
	ck_assert_int_eq(get_health(&p, &resp), -1);
	ck_assert_int_eq(resp.failure, HTTP_OK);
	ck_assert_int_eq(resp.status, 503);
	ck_assert_int_eq(resp.attempts, 3);
	ck_assert_str_eq(resp.body, "{\"detail\":\"injected 503\"}");
	ck_assert_uint_eq(standin_request_count(standin), 3);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_no_retries_configured)
{
	struct retry_policy p = policy(0, 10);
	struct http_response resp;
	standin_push_status(standin, 500);
	ck_assert_int_eq(get_health(&p, &resp), -1);
	ck_assert_int_eq(resp.status, 500);
	ck_assert_int_eq(resp.attempts, 1);
	ck_assert_uint_eq(standin_request_count(standin), 1);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_backoff_spacing)
{
	struct retry_policy p = policy(2, 100);
	struct http_response resp;
	standin_push_status(standin, 503);
	standin_push_status(standin, 503);
	ck_assert_int_eq(get_health(&p, &resp), 0);
	ck_assert_int_eq(resp.attempts, 3);
	http_response_clear(&resp);

	ck_assert_uint_eq(standin_request_count(standin), 3);
	int64_t gap1 = arrival(1) - arrival(0);
	int64_t gap2 = arrival(2) - arrival(1);
	ck_assert_msg(gap1 >= 100 && gap1 < 1100, "first gap %lld ms",
		      (long long)gap1);
	ck_assert_msg(gap2 >= 200 && gap2 < 1200, "second gap %lld ms",
		      (long long)gap2);
}
END_TEST

static const unsigned client_errors[] = { 400, 404, 422 };

START_TEST(test_4xx_never_retried)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	unsigned status = client_errors[_i];
	standin_push_status(standin, status);
	ck_assert_int_eq(get_health(&p, &resp), -1);
	ck_assert_int_eq(resp.failure, HTTP_OK);
	ck_assert_int_eq(resp.status, status);
	ck_assert_int_eq(resp.attempts, 1);
	ck_assert_uint_eq(standin_request_count(standin), 1);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_timeout)
{
	struct retry_policy p = policy(0, 10);
	struct http_response resp;
	p.timeout_ms = 300;
	standin_push_delay(standin, 2000);
	int64_t started = http_now_ms();
	ck_assert_int_eq(get_health(&p, &resp), -1);
	int64_t elapsed = http_now_ms() - started;
	ck_assert_int_eq(resp.failure, HTTP_TIMEOUT);
	ck_assert_int_eq(resp.attempts, 1);
	ck_assert_int_eq(resp.status, 0);
	ck_assert_ptr_null(resp.body);
	ck_assert_str_ne(resp.error, "");
	ck_assert_msg(elapsed >= 250 && elapsed < 1500, "took %lld ms",
		      (long long)elapsed);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_timeout_retried)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	p.timeout_ms = 200;
	standin_push_delay(standin, 2000);
	standin_push_delay(standin, 2000);
	ck_assert_int_eq(get_health(&p, &resp), 0);
	ck_assert_int_eq(resp.failure, HTTP_OK);
	ck_assert_int_eq(resp.attempts, 3);
	ck_assert_uint_eq(standin_request_count(standin), 3);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	char base[64];
	snprintf(base, sizeof base, "http://127.0.0.1:%u",
		 (unsigned)test_closed_port());
	ck_assert_int_eq(send_to(base, "GET", "/api/v1/health", NULL, NULL, &p,
				 &resp),
			 -1);
	ck_assert_int_eq(resp.failure, HTTP_CONNECT);
	ck_assert_int_eq(resp.attempts, 3);
	ck_assert_int_eq(resp.status, 0);
	ck_assert_str_ne(resp.error, "");
	http_response_clear(&resp);
}
END_TEST

/* Drops happen on a fresh client's first connection: on a reused
 * keep-alive connection libcurl itself resends once, unseen by attempts. */
START_TEST(test_dropped_connection)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	standin_push_drop(standin);
	standin_push_drop(standin);
	standin_push_drop(standin);
	ck_assert_int_eq(get_health(&p, &resp), -1);
	ck_assert_int_eq(resp.failure, HTTP_TRANSPORT);
	ck_assert_int_eq(resp.attempts, 3);
	ck_assert_int_eq(resp.status, 0);
	ck_assert_str_ne(resp.error, "");
	ck_assert_uint_eq(standin_request_count(standin), 3);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_dropped_then_success)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	standin_push_drop(standin);
	ck_assert_int_eq(get_health(&p, &resp), 0);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_int_eq(resp.attempts, 2);
	ck_assert_uint_eq(standin_request_count(standin), 2);
	http_response_clear(&resp);
}
END_TEST

/* A POST on a kept-alive connection that the service drops is one attempt,
 * as counted, and not a second one libcurl makes on its own: a sync may
 * have side effects. */
START_TEST(test_dropped_reused_post_not_resent)
{
	struct retry_policy p = policy(0, 10);
	struct http_response resp;
	ck_assert_int_eq(send_to(standin_url(standin), "POST", "/api/v1/sync",
				 "{}", NULL, &p, &resp), 0);
	http_response_clear(&resp);
	standin_push_drop(standin);
	ck_assert_int_eq(send_to(standin_url(standin), "POST", "/api/v1/sync",
				 "{}", NULL, &p, &resp), -1);
	ck_assert_int_eq(resp.failure, HTTP_TRANSPORT);
	ck_assert_int_eq(resp.attempts, 1);
	ck_assert_uint_eq(standin_request_count(standin), 2);
	http_response_clear(&resp);
}
END_TEST

static char *
json_string_of(size_t total)
{
	/* {"x":"aaa..."}: exactly total bytes */
	char *text = malloc(total + 1);
	ck_assert_ptr_nonnull(text);
	memset(text, 'a', total);
	memcpy(text, "{\"x\":\"", 6);
	memcpy(text + total - 2, "\"}", 2);
	text[total] = '\0';
	return text;
}

START_TEST(test_reply_too_large)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	p.max_response_bytes = 1024;
	char *big = json_string_of(8192);
	standin_push_body(standin, 200, big);
	standin_push_body(standin, 200, big);
	free(big);
	ck_assert_int_eq(get_health(&p, &resp), -1);
	ck_assert_int_eq(resp.failure, HTTP_TOO_LARGE);
	ck_assert_int_eq(resp.attempts, 1);
	ck_assert_ptr_null(resp.body);
	ck_assert_ptr_nonnull(strstr(resp.error, "1024"));
	ck_assert_uint_eq(standin_request_count(standin), 1);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_reply_at_the_limit)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	p.max_response_bytes = 1024;
	char *exact = json_string_of(1024);
	standin_push_body(standin, 200, exact);
	ck_assert_int_eq(get_health(&p, &resp), 0);
	ck_assert_uint_eq(resp.body_len, 1024);
	ck_assert_str_eq(resp.body, exact);
	free(exact);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_deadline_already_past)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	p.deadline_ms = http_now_ms() - 1;
	ck_assert_int_eq(get_health(&p, &resp), -1);
	ck_assert_int_eq(resp.failure, HTTP_DEADLINE);
	ck_assert_int_eq(resp.attempts, 0);
	ck_assert_uint_eq(standin_request_count(standin), 0);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_deadline_leaves_no_room_for_backoff)
{
	struct retry_policy p = policy(2, 1000);
	struct http_response resp;
	standin_push_status(standin, 503);
	standin_push_status(standin, 503);
	standin_push_status(standin, 503);
	int64_t started = http_now_ms();
	p.deadline_ms = started + 500;
	ck_assert_int_eq(get_health(&p, &resp), -1);
	int64_t elapsed = http_now_ms() - started;
	ck_assert_int_eq(resp.failure, HTTP_OK);
	ck_assert_int_eq(resp.status, 503);
	ck_assert_int_eq(resp.attempts, 1);
	ck_assert_uint_eq(standin_request_count(standin), 1);
	ck_assert_msg(elapsed < 500, "took %lld ms", (long long)elapsed);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_deadline_shortens_timeout)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	standin_push_delay(standin, 3000);
	int64_t started = http_now_ms();
	p.deadline_ms = started + 400;
	ck_assert_int_eq(get_health(&p, &resp), -1);
	int64_t elapsed = http_now_ms() - started;
	ck_assert_int_eq(resp.failure, HTTP_TIMEOUT);
	ck_assert_int_eq(resp.attempts, 1);
	ck_assert_msg(elapsed < 1000, "took %lld ms", (long long)elapsed);
	http_response_clear(&resp);
}
END_TEST

START_TEST(test_trace_id_forwarded)
{
	static const char trace[] =
		"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	struct standin_request r;
	const char *base = standin_url(standin);

	ck_assert_int_eq(send_to(base, "GET", "/api/v1/status", NULL, trace,
				 &p, &resp),
			 0);
	http_response_clear(&resp);
	ck_assert_int_eq(send_to(base, "GET", "/api/v1/status", NULL, "", &p,
				 &resp),
			 0);
	http_response_clear(&resp);

	ck_assert_int_eq(standin_request_get(standin, 0, &r), 0);
	ck_assert_str_eq(r.trace_id, trace);
	standin_request_clear(&r);
	/* The pooled handle must not carry the header into the next call. */
	ck_assert_int_eq(standin_request_get(standin, 1, &r), 0);
	ck_assert_str_eq(r.trace_id, "");
	standin_request_clear(&r);
}
END_TEST

START_TEST(test_post_body_intact)
{
	static const char body[] =
		"{\"symbols\":[\"BTC/USDT:USDT\"],\"note\":\"caf\xc3\xa9 & \\\"quotes\\\" \\u0001\"}";
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	struct standin_request r;

	ck_assert_int_eq(send_to(standin_url(standin), "POST", "/api/v1/sync",
				 body, NULL, &p, &resp),
			 0);
	ck_assert_int_eq(resp.status, 200);
	ck_assert_ptr_nonnull(strstr(resp.body, "\"status\":\"synced\""));
	http_response_clear(&resp);

	ck_assert_int_eq(standin_request_get(standin, 0, &r), 0);
	ck_assert_str_eq(r.method, "POST");
	ck_assert_str_eq(r.path, "/api/v1/sync");
	ck_assert_str_eq(r.body, body);
	ck_assert_str_eq(r.content_type, "application/json");
	standin_request_clear(&r);
}
END_TEST

START_TEST(test_get_after_post_sends_no_body)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	struct standin_request r;
	const char *base = standin_url(standin);

	ck_assert_int_eq(send_to(base, "POST", "/api/v1/sync", "{\"a\":1}",
				 NULL, &p, &resp),
			 0);
	http_response_clear(&resp);
	ck_assert_int_eq(send_to(base, "GET", "/api/v1/health", NULL, NULL, &p,
				 &resp),
			 0);
	http_response_clear(&resp);
	ck_assert_int_eq(standin_request_get(standin, 1, &r), 0);
	ck_assert_str_eq(r.method, "GET");
	ck_assert_str_eq(r.body, "");
	ck_assert_str_eq(r.content_type, "");
	standin_request_clear(&r);
}
END_TEST

START_TEST(test_connection_reused)
{
	struct retry_policy p = policy(2, 10);
	struct http_response resp;
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(get_health(&p, &resp), 0);
		http_response_clear(&resp);
	}
	ck_assert_uint_eq(standin_request_count(standin), 5);
	ck_assert_uint_eq(standin_connection_count(standin), 1);
}
END_TEST

/* The engine suites lean on the stand-in recording the query as sent. */
START_TEST(test_standin_keeps_raw_query)
{
	struct retry_policy p = policy(0, 10);
	struct http_response resp;
	ck_assert_int_eq(send_to(standin_url(standin), "GET",
				 "/api/v1/ohlcv?symbol=BTC%2FUSDT%3AUSDT&timeframe=1h&limit=2&x=a+b%20c",
				 NULL, NULL, &p, &resp),
			 0);
	ck_assert_ptr_nonnull(strstr(resp.body, "\"symbol\":\"BTC/USDT:USDT\""));
	ck_assert_ptr_nonnull(strstr(resp.body, "\"limit\":2"));
	http_response_clear(&resp);
	struct standin_request r;
	ck_assert_int_eq(standin_request_get(standin, 0, &r), 0);
	ck_assert_str_eq(r.path, "/api/v1/ohlcv");
	ck_assert_str_eq(r.query,
			 "symbol=BTC%2FUSDT%3AUSDT&timeframe=1h&limit=2&x=a+b%20c");
	standin_request_clear(&r);
	ck_assert_int_eq(standin_request_get(standin, 1, &r), -1);
}
END_TEST

/* What the shell scripts drive through dcproxy-standin. */
START_TEST(test_standin_control_endpoints)
{
	struct retry_policy p = policy(0, 10);
	struct http_response resp;
	const char *base = standin_url(standin);

	ck_assert_int_eq(send_to(base, "POST", "/_standin/fault",
				 "{\"status\":503}", NULL, &p, &resp),
			 0);
	http_response_clear(&resp);
	ck_assert_int_eq(send_to(base, "POST", "/_standin/fault",
				 "{\"status\":201,\"body\":\"[1]\"}", NULL, &p,
				 &resp),
			 0);
	http_response_clear(&resp);
	ck_assert_int_eq(send_to(base, "POST", "/_standin/fault",
				 "{\"delay\":1}", NULL, &p, &resp),
			 -1);
	ck_assert_int_eq(resp.status, 400);
	http_response_clear(&resp);
	ck_assert_uint_eq(standin_request_count(standin), 0);

	ck_assert_int_eq(get_health(&p, &resp), -1);
	ck_assert_int_eq(resp.status, 503);
	http_response_clear(&resp);
	ck_assert_int_eq(get_health(&p, &resp), 0);
	ck_assert_int_eq(resp.status, 201);
	ck_assert_str_eq(resp.body, "[1]");
	http_response_clear(&resp);

	ck_assert_int_eq(send_to(base, "GET", "/_standin/requests", NULL,
				 "t-1", &p, &resp),
			 0);
	ck_assert_ptr_nonnull(strstr(resp.body, "\"path\":\"/api/v1/health\""));
	ck_assert_ptr_null(strstr(resp.body, "_standin"));
	http_response_clear(&resp);

	ck_assert_int_eq(send_to(base, "POST", "/_standin/reset", NULL, NULL,
				 &p, &resp),
			 0);
	http_response_clear(&resp);
	ck_assert_uint_eq(standin_request_count(standin), 0);
}
END_TEST

START_TEST(test_standin_unknown_path)
{
	struct retry_policy p = policy(0, 10);
	struct http_response resp;
	ck_assert_int_eq(send_to(standin_url(standin), "GET", "/api/v1/nope",
				 NULL, NULL, &p, &resp),
			 -1);
	ck_assert_int_eq(resp.status, 404);
	ck_assert_str_eq(resp.body, "{\"detail\":\"Not Found\"}");
	http_response_clear(&resp);
	ck_assert_int_eq(send_to(standin_url(standin), "POST", "/api/v1/sync",
				 "not json", NULL, &p, &resp),
			 -1);
	ck_assert_int_eq(resp.status, 400);
	http_response_clear(&resp);
}
END_TEST

#define N_THREADS 4

static void *
concurrent_get(void *arg)
{
	struct http_response *resp = arg;
	struct retry_policy p = policy(0, 10);
	get_health(&p, resp);
	return NULL;
}

START_TEST(test_concurrent_calls)
{
	pthread_t threads[N_THREADS];
	struct http_response resp[N_THREADS];
	for (int i = 0; i < N_THREADS; i++)
		standin_push_delay(standin, 300);
	int64_t started = http_now_ms();
	for (int i = 0; i < N_THREADS; i++)
		ck_assert_int_eq(pthread_create(&threads[i], NULL,
						concurrent_get, &resp[i]),
				 0);
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(threads[i], NULL);
	int64_t elapsed = http_now_ms() - started;
	for (int i = 0; i < N_THREADS; i++) {
		ck_assert_int_eq(resp[i].failure, HTTP_OK);
		ck_assert_int_eq(resp[i].status, 200);
		http_response_clear(&resp[i]);
	}
	ck_assert_uint_eq(standin_request_count(standin), N_THREADS);
	/* In parallel, not one after another. */
	ck_assert_msg(elapsed < 300 * N_THREADS - 100, "took %lld ms",
		      (long long)elapsed);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("retry");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_success);
	tcase_add_test(tc, test_5xx_retried_until_success);
	tcase_add_test(tc, test_5xx_exhausts_retries);
	tcase_add_test(tc, test_no_retries_configured);
	tcase_add_test(tc, test_backoff_spacing);
	tcase_add_loop_test(tc, test_4xx_never_retried, 0,
			    sizeof client_errors / sizeof client_errors[0]);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_timeout_retried);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_dropped_connection);
	tcase_add_test(tc, test_dropped_then_success);
	tcase_add_test(tc, test_dropped_reused_post_not_resent);
	tcase_add_test(tc, test_reply_too_large);
	tcase_add_test(tc, test_reply_at_the_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("deadline");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_deadline_already_past);
	tcase_add_test(tc, test_deadline_leaves_no_room_for_backoff);
	tcase_add_test(tc, test_deadline_shortens_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_trace_id_forwarded);
	tcase_add_test(tc, test_post_body_intact);
	tcase_add_test(tc, test_get_after_post_sends_no_body);
	tcase_add_test(tc, test_connection_reused);
	tcase_add_test(tc, test_concurrent_calls);
	suite_add_tcase(s, tc);

	tc = tcase_create("standin");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_standin_keeps_raw_query);
	tcase_add_test(tc, test_standin_control_endpoints);
	tcase_add_test(tc, test_standin_unknown_path);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
