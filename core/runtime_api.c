/* runtime_api: a client of the AWS Lambda Runtime API on one curl handle. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "http.h"
#include "runtime_api.h"

#define API_PREFIX "/2018-06-01/runtime"
#define POST_TIMEOUT_MS 10000L
/* A frozen and thawed sandbox may see one failed exchange: retry briefly. */
#define TRIES 4
#define FIRST_RETRY_MS 50L

struct runtime_api {
	CURL *curl;
	char base[256];       /* http://HOST:PORT/2018-06-01/runtime */
	struct http_buffer reply; /* reused across invocations */
	struct invocation *headers_into; /* set while fetching /next */
	char error[CURL_ERROR_SIZE];
};

static size_t header_seen(char *line, size_t size, size_t nmemb,
			  void *userdata);

struct runtime_api *
runtime_api_new(const char *host_port)
{
	struct runtime_api *api = calloc(1, sizeof *api);
	if (api == NULL)
		return NULL;
	int n = snprintf(api->base, sizeof api->base, "http://%s" API_PREFIX,
			 host_port);
	api->curl = curl_easy_init();
	api->reply.cap = 65536;
	api->reply.data = malloc(api->reply.cap);
	if (api->curl == NULL || api->reply.data == NULL || n < 0 ||
	    (size_t)n >= sizeof api->base) {
		runtime_api_free(api);
		return NULL;
	}
	/* Set once: each exchange changes only what differs between them. */
	CURL *curl = api->curl;
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	/* The Runtime API is local: never through an http_proxy or
	 * ALL_PROXY meant for the function's outbound calls. */
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, api->error);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_buffer_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &api->reply);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_seen);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, api);
	return api;
}

void
runtime_api_free(struct runtime_api *api)
{
	if (api == NULL)
		return;
	if (api->curl != NULL)
		curl_easy_cleanup(api->curl);
	free(api->reply.data);
	free(api);
}

/* Copy a header's value, trimmed, if its name matches. */
static bool
header_take(const char *line, size_t len, const char *name, char *out,
	    size_t outlen)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	const char *v = line + n + 1;
	const char *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	snprintf(out, outlen, "%.*s", (int)(end - v), v);
	return true;
}

static size_t
header_seen(char *line, size_t size, size_t nmemb, void *userdata)
{
	struct runtime_api *api = userdata;
	struct invocation *inv = api->headers_into;
	size_t len = size * nmemb;
	char deadline[32];
	if (inv == NULL)
		return len;
	if (!header_take(line, len, "Lambda-Runtime-Aws-Request-Id",
			 inv->request_id, sizeof inv->request_id) &&
	    !header_take(line, len, "Lambda-Runtime-Trace-Id", inv->trace_id,
			 sizeof inv->trace_id) &&
	    !header_take(line, len, "Lambda-Runtime-Invoked-Function-Arn",
			 inv->function_arn, sizeof inv->function_arn) &&
	    header_take(line, len, "Lambda-Runtime-Deadline-Ms", deadline,
			sizeof deadline))
		inv->deadline_epoch_ms = strtoll(deadline, NULL, 10);
	return len;
}

/* One exchange with the API; returns the HTTP status, or 0 on a transport
 * failure with the reason in err. */
static long
api_exchange(struct runtime_api *api, const char *url, const char *body,
	     size_t len, struct curl_slist *headers, long timeout_ms,
	     char *err, size_t errlen)
{
	CURL *curl = api->curl;
	long status = 0;

	api->reply.len = 0;
	api->reply.data[0] = '\0';
	api->error[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	CURLcode rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url,
			 api->error[0] ? api->error : curl_easy_strerror(rc));
		return 0;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

int
runtime_api_next(struct runtime_api *api, struct invocation *inv, char *err,
		 size_t errlen)
{
	char url[320];
	snprintf(url, sizeof url, "%s/invocation/next", api->base);
	long delay = FIRST_RETRY_MS;
	for (int try = 1;; try++) {
		memset(inv, 0, sizeof *inv);
		api->headers_into = inv;
		long status = api_exchange(api, url, NULL, 0, NULL, 0, err, errlen);
		api->headers_into = NULL;
		if (status == 200 && inv->request_id[0] != '\0') {
			inv->event = api->reply.data;
			inv->event_len = api->reply.len;
			return 0;
		}
		if (status != 0)
			snprintf(err, errlen, "%s answered HTTP %ld%s", url, status,
				 status == 200 ? " without a request id" : "");
		if (try >= TRIES)
			return -1;
		http_sleep_ms(delay);
		delay *= 2;
	}
}

static int
api_post(struct runtime_api *api, const char *path, const char *body,
	 size_t len, struct curl_slist *headers, char *err, size_t errlen)
{
	char url[512];
	snprintf(url, sizeof url, "%s%s", api->base, path);
	long delay = FIRST_RETRY_MS;
	for (int try = 1;; try++) {
		long status = api_exchange(api, url, body, len, headers,
					   POST_TIMEOUT_MS, err, errlen);
		if (status >= 200 && status < 300)
			return 0;
		if (status != 0) {
			snprintf(err, errlen, "%s answered HTTP %ld: %.200s", url,
				 status, api->reply.data);
			if (status < 500)
				return -1; /* refused: sending again won't help */
		}
		if (try >= TRIES)
			return -1;
		http_sleep_ms(delay);
		delay *= 2;
	}
}

int
runtime_api_respond(struct runtime_api *api, const char *request_id,
		    const char *body, size_t len, char *err, size_t errlen)
{
	char path[256];
	snprintf(path, sizeof path, "/invocation/%s/response", request_id);
	struct curl_slist *headers =
		curl_slist_append(NULL, "Content-Type: application/json");
	int rc = api_post(api, path, body, len, headers, err, errlen);
	curl_slist_free_all(headers);
	return rc;
}

int
runtime_api_fail(struct runtime_api *api, const char *request_id,
		 const char *error_type, const char *message, char *err,
		 size_t errlen)
{
	char path[256], type_header[256];
	if (request_id != NULL)
		snprintf(path, sizeof path, "/invocation/%s/error", request_id);
	else
		snprintf(path, sizeof path, "/init/error");
	snprintf(type_header, sizeof type_header,
		 "Lambda-Runtime-Function-Error-Type: %s", error_type);

	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "errorMessage", message);
	cJSON_AddStringToObject(doc, "errorType", error_type);
	cJSON_AddItemToObject(doc, "stackTrace", cJSON_CreateArray());
	char *body = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	struct curl_slist *headers =
		curl_slist_append(NULL, "Content-Type: application/json");
	headers = curl_slist_append(headers, type_header);
	int rc = api_post(api, path, body, strlen(body), headers, err, errlen);
	curl_slist_free_all(headers);
	free(body);
	return rc;
}
