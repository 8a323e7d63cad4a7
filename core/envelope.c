/* envelope: the Lambda-style event and the Step Functions envelope. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "envelope.h"

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
utf8_sequence(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

int
text_check(const char *what, const char *text, size_t len, int json,
	   char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)text;
	for (size_t i = 0; i < len;) {
		if (p[i] == '\0') {
			snprintf(err, errlen, "%s holds a NUL byte (at byte %zu)",
				 what, i);
			return -1;
		}
		if (json && p[i] == '\\' && i + 1 < len) {
			/* Escapes pair off, so "\\u0000" is no NUL. */
			if (p[i + 1] == 'u' && i + 5 < len &&
			    memcmp(p + i + 2, "0000", 4) == 0) {
				snprintf(err, errlen,
					 "%s holds \\u0000 (at byte %zu): a string cannot carry U+0000",
					 what, i);
				return -1;
			}
			i += 2;
			continue;
		}
		size_t n = utf8_sequence(p + i, len - i);
		if (n == 0) {
			snprintf(err, errlen, "%s is not valid UTF-8 (at byte %zu)",
				 what, i);
			return -1;
		}
		i += n;
	}
	return 0;
}

int
json_parse_whole(const char *what, const char *text, size_t len,
		 cJSON **root, char *err, size_t errlen)
{
	const char *end = NULL;
	*root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (*root == NULL) {
		/* On failure cJSON points end at the error (its global error
		 * pointer would race between threads). */
		size_t offset = end != NULL && end >= text && end <= text + len
					? (size_t)(end - text)
					: len;
		snprintf(err, errlen, "%s is not valid JSON (error at byte %zu)",
			 what, offset);
		return -1;
	}
	while (end != NULL && end < text + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (end != NULL && end < text + len) {
		snprintf(err, errlen,
			 "%s has data after the JSON value (at byte %zu)", what,
			 (size_t)(end - text));
		return -1;
	}
	return text_check(what, text, len, 1, err, errlen);
}

int
event_parse(struct event *ev, const char *text, size_t len, size_t max_len,
	    char *err, size_t errlen)
{
	memset(ev, 0, sizeof *ev);
	if (len > max_len) {
		snprintf(err, errlen,
			 "event is %zu bytes, more than the limit of %zu",
			 len, max_len);
		return -1;
	}
	/* A tree that parsed stays in root even when refused, so that the
	 * caller can still name the operation. */
	if (json_parse_whole("event", text, len, &ev->root, err, errlen) != 0)
		return -1;
	return event_from_json(ev, ev->root, err, errlen);
}

int
event_from_json(struct event *ev, cJSON *root, char *err, size_t errlen)
{
	memset(ev, 0, sizeof *ev);
	ev->root = root;
	if (!cJSON_IsObject(ev->root)) {
		snprintf(err, errlen, "event must be a JSON object");
		goto fail;
	}
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(ev->root, "operation");
	if (op == NULL || cJSON_IsNull(op)) {
		ev->operation = "health";
	} else if (cJSON_IsString(op)) {
		ev->operation = op->valuestring;
	} else {
		snprintf(err, errlen, "'operation' must be a string");
		goto fail;
	}

	const cJSON *params = cJSON_GetObjectItemCaseSensitive(ev->root, "params");
	if (op == NULL && params == NULL && ev->root->child != NULL) {
		snprintf(err, errlen,
			 "event has neither 'operation' nor 'params' (first key '%.60s'): "
			 "send {\"operation\": ..., \"params\": {...}} or an API Gateway proxy event",
			 ev->root->child->string);
		ev->operation = NULL;
		goto fail;
	}
	if (params == NULL || cJSON_IsNull(params)) {
		cJSON *empty = cJSON_CreateObject();
		if (empty == NULL ||
		    !(params == NULL
			      ? cJSON_AddItemToObject(ev->root, "params", empty)
			      : cJSON_ReplaceItemInObjectCaseSensitive(
					ev->root, "params", empty))) {
			cJSON_Delete(empty);
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		params = empty;
	} else if (!cJSON_IsObject(params)) {
		snprintf(err, errlen, "'params' must be a JSON object");
		goto fail;
	}
	ev->params = params;
	return 0;
fail:
	/* keep root so the caller can still name the operation */
	return -1;
}

void
event_free(struct event *ev)
{
	cJSON_Delete(ev->root);
	memset(ev, 0, sizeof *ev);
}

cJSON *
envelope_wrap(const char *operation, cJSON *result, const char *environment)
{
	cJSON *envelope = cJSON_CreateObject();
	cJSON *body = cJSON_CreateObject();
	cJSON *data = cJSON_CreateObject();
	if (envelope == NULL || body == NULL || data == NULL) {
		cJSON_Delete(envelope);
		cJSON_Delete(body);
		cJSON_Delete(data);
		cJSON_Delete(result);
		return NULL;
	}
	cJSON_AddNumberToObject(envelope, "statusCode", 200);
	cJSON_AddItemToObject(envelope, "body", body);
	cJSON_AddBoolToObject(body, "success", 1);
	cJSON_AddItemToObject(body, "data", data);
	cJSON_AddItemToObject(data, "operation",
			      operation != NULL ? cJSON_CreateString(operation)
						: cJSON_CreateNull());
	cJSON_AddItemToObject(data, "result",
			      result != NULL ? result : cJSON_CreateNull());
	cJSON_AddStringToObject(body, "environment", environment);
	return envelope;
}
