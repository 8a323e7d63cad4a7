/* http: upstream HTTP over libcurl, with retries and exponential backoff. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "http.h"

#define POOL_MAX 16
/* An attempt is not worth starting with less time than this left. */
#define MIN_ATTEMPT_MS 50

struct http_client {
	pthread_mutex_t lock;
	CURL *idle[POOL_MAX];
	size_t n_idle;
	char *user_agent;
};

int64_t
http_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
http_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

struct timespec
http_clock_after(clockid_t clock, long ms)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

struct http_client *
http_client_new(const char *user_agent)
{
	struct http_client *client = calloc(1, sizeof *client);
	if (client == NULL)
		return NULL;
	client->user_agent = strdup(user_agent);
	if (client->user_agent == NULL ||
	    pthread_mutex_init(&client->lock, NULL) != 0) {
		free(client->user_agent);
		free(client);
		return NULL;
	}
	return client;
}

void
http_client_free(struct http_client *client)
{
	if (client == NULL)
		return;
	for (size_t i = 0; i < client->n_idle; i++)
		curl_easy_cleanup(client->idle[i]);
	pthread_mutex_destroy(&client->lock);
	free(client->user_agent);
	free(client);
}

static CURL *
handle_take(struct http_client *client)
{
	CURL *curl = NULL;
	pthread_mutex_lock(&client->lock);
	if (client->n_idle > 0)
		curl = client->idle[--client->n_idle];
	pthread_mutex_unlock(&client->lock);
	return curl != NULL ? curl : curl_easy_init();
}

static void
handle_give_back(struct http_client *client, CURL *curl)
{
	curl_easy_reset(curl); /* keeps live connections and the DNS cache */
	pthread_mutex_lock(&client->lock);
	if (client->n_idle < POOL_MAX) {
		client->idle[client->n_idle++] = curl;
		curl = NULL;
	}
	pthread_mutex_unlock(&client->lock);
	if (curl != NULL)
		curl_easy_cleanup(curl);
}

size_t
http_buffer_write(char *ptr, size_t size, size_t nmemb, void *buffer)
{
	struct http_buffer *buf = buffer;
	size_t n = size * nmemb;
	if (buf->max > 0 && buf->len + n > buf->max) {
		buf->too_large = true;
		return 0; /* aborts the transfer */
	}
	if (buf->len + n + 1 > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 4096;
		while (cap < buf->len + n + 1)
			cap *= 2;
		char *grown = realloc(buf->data, cap);
		if (grown == NULL)
			return 0;
		buf->data = grown;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, ptr, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return n;
}

static enum http_failure
classify(CURLcode rc, const struct http_buffer *buf)
{
	switch (rc) {
	case CURLE_OK:
		return HTTP_OK;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return HTTP_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_TIMEOUT;
	case CURLE_WRITE_ERROR:
		return buf->too_large ? HTTP_TOO_LARGE : HTTP_TRANSPORT;
	default:
		return HTTP_TRANSPORT;
	}
}

/* One attempt.  Fills status, body and failure of resp. */
static void
http_attempt(struct http_client *client, CURL *curl,
	     const struct http_request *req, long timeout_ms,
	     long max_bytes, struct http_response *resp)
{
	struct http_buffer buf = { .max = (size_t)max_bytes };
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	char trace[512];

	headers = curl_slist_append(headers, "Accept: application/json");
	if (req->body != NULL)
		headers = curl_slist_append(headers,
					    "Content-Type: application/json");
	if (req->trace_id != NULL && *req->trace_id != '\0') {
		snprintf(trace, sizeof trace, "X-Amzn-Trace-Id: %s",
			 req->trace_id);
		headers = curl_slist_append(headers, trace);
	}
	/* A POST without this waits a second for "100 Continue". */
	headers = curl_slist_append(headers, "Expect:");

	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, client->user_agent);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_buffer_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
	if (strcmp(req->method, "POST") == 0) {
		const char *body = req->body != NULL ? req->body : "";
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		/* On a reused connection that turns out dead, libcurl resends
		 * the request once by itself, uncounted; a POST (a sync) may
		 * have side effects, so it gets a connection of its own and
		 * every send is an attempt the retry policy sees. */
		curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}

	CURLcode rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);

	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->status = 0;
	resp->failure = classify(rc, &buf);
	if (resp->failure == HTTP_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
		resp->body = buf.data != NULL ? buf.data : strdup("");
		resp->body_len = buf.len;
		resp->error[0] = '\0';
		return;
	}
	free(buf.data);
	if (resp->failure == HTTP_TOO_LARGE)
		snprintf(resp->error, sizeof resp->error,
			 "reply larger than %ld bytes", max_bytes);
	else
		snprintf(resp->error, sizeof resp->error, "%s",
			 errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
}

static bool
worth_retrying(const struct http_response *resp)
{
	if (resp->failure == HTTP_OK)
		return resp->status >= 500;
	return resp->failure != HTTP_TOO_LARGE;
}

int
http_send_with_retry(struct http_client *client,
		     const struct http_request *req,
		     const struct retry_policy *policy,
		     struct http_response *resp)
{
	memset(resp, 0, sizeof *resp);
	CURL *curl = handle_take(client);
	if (curl == NULL) {
		resp->failure = HTTP_TRANSPORT;
		snprintf(resp->error, sizeof resp->error,
			 "cannot create an HTTP handle");
		return -1;
	}

	long delay = policy->base_delay_ms;
	for (long retry = 0;; retry++) {
		long timeout = policy->timeout_ms;
		if (policy->deadline_ms > 0) {
			int64_t left = policy->deadline_ms - http_now_ms();
			if (left < MIN_ATTEMPT_MS) {
				if (resp->attempts == 0) {
					resp->failure = HTTP_DEADLINE;
					snprintf(resp->error, sizeof resp->error,
						 "no time left before the deadline");
				}
				break;
			}
			if (left < timeout)
				timeout = (long)left;
		}

		resp->attempts++;
		resp->timeout_ms = timeout;
		http_attempt(client, curl, req, timeout,
			     policy->max_response_bytes, resp);
		if (!worth_retrying(resp) || retry >= policy->max_retries)
			break;
		if (policy->deadline_ms > 0 &&
		    http_now_ms() + delay + MIN_ATTEMPT_MS > policy->deadline_ms)
			break; /* the retry could not finish in time */
		http_sleep_ms(delay);
		delay = delay > 0 && delay < (1L << 40) / 2 ? delay * 2 : delay;
	}

	handle_give_back(client, curl);
	return resp->failure == HTTP_OK && resp->status >= 200 &&
			       resp->status < 300
		       ? 0
		       : -1;
}

void
http_response_clear(struct http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}
