/* http: upstream HTTP over libcurl, with retries and exponential backoff.
 *
 * A client keeps a small pool of curl handles so connections are reused
 * within the process; http_send_with_retry is safe to call from several
 * threads at once (each call takes its own handle from the pool).
 */
#ifndef DCPROXY_HTTP_H
#define DCPROXY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct http_client;

enum http_failure {
	HTTP_OK = 0,        /* a status line arrived (check status) */
	HTTP_CONNECT,       /* could not connect or resolve */
	HTTP_TIMEOUT,       /* no complete reply within the timeout */
	HTTP_TRANSPORT,     /* connection dropped, malformed reply, ... */
	HTTP_TOO_LARGE,     /* reply larger than max_response_bytes */
	HTTP_DEADLINE,      /* no time left for a first or further attempt */
};

struct http_request {
	const char *method;     /* "GET" or "POST" */
	const char *url;
	const char *body;       /* POST body (JSON), or NULL */
	const char *trace_id;   /* sent as X-Amzn-Trace-Id when set */
};

struct retry_policy {
	long timeout_ms;        /* per attempt */
	long max_retries;       /* attempts = 1 + max_retries */
	long base_delay_ms;     /* delay before retry n is base * 2^(n-1) */
	long max_response_bytes;
	int64_t deadline_ms;    /* monotonic ms to finish by; 0: none */
};

struct http_response {
	long status;            /* last HTTP status, 0 if none */
	char *body;             /* NUL-terminated; caller frees */
	size_t body_len;
	int attempts;
	long timeout_ms;        /* the last attempt's, which a deadline may cut */
	enum http_failure failure;
	char error[256];        /* transport error text when failure != HTTP_OK */
};

struct http_client *
http_client_new(const char *user_agent);

void
http_client_free(struct http_client *client);

/* Send req, retrying 5xx replies and transport failures (never 4xx) with
 * backoff.  Always fills resp; returns 0 when a 2xx reply arrived. */
int
http_send_with_retry(struct http_client *client,
		     const struct http_request *req,
		     const struct retry_policy *policy,
		     struct http_response *resp);

void
http_response_clear(struct http_response *resp);

/* Monotonic clock in milliseconds. */
int64_t
http_now_ms(void);

/* Sleep ms milliseconds, resuming after signals. */
void
http_sleep_ms(long ms);

/* The time ms milliseconds from now on clock, for pthread_cond_timedwait. */
struct timespec
http_clock_after(clockid_t clock, long ms);

/* A growing, NUL-terminated reply buffer for CURLOPT_WRITEFUNCTION =
 * http_buffer_write, CURLOPT_WRITEDATA = the buffer.  A reply past max
 * bytes (0: no limit) aborts the transfer and sets too_large. */
struct http_buffer {
	char *data;
	size_t len, cap, max;
	bool too_large;
};

size_t
http_buffer_write(char *ptr, size_t size, size_t nmemb, void *buffer);

#endif
