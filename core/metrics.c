/* metrics: per-invocation metrics as CloudWatch Embedded Metric Format. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "metrics.h"

static void
add_metric(cJSON *list, const char *name, const char *unit)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "Name", name);
	cJSON_AddStringToObject(m, "Unit", unit);
	cJSON_AddItemToArray(list, m);
}

char *
metrics_emf_format(const char *prefix, const struct metrics_sample *s)
{
	char ns[256];
	snprintf(ns, sizeof ns, "%s/DataProxy", prefix);

	cJSON *doc = cJSON_CreateObject();
	cJSON *aws = cJSON_AddObjectToObject(doc, "_aws");
	cJSON_AddNumberToObject(aws, "Timestamp", (double)s->timestamp_ms);
	cJSON *directives = cJSON_AddArrayToObject(aws, "CloudWatchMetrics");
	cJSON *directive = cJSON_CreateObject();
	cJSON_AddItemToArray(directives, directive);
	cJSON_AddStringToObject(directive, "Namespace", ns);
	cJSON *dimsets = cJSON_AddArrayToObject(directive, "Dimensions");
	const char *dims[] = { "Operation", "Environment" };
	cJSON_AddItemToArray(dimsets, cJSON_CreateStringArray(dims, 2));
	cJSON *list = cJSON_AddArrayToObject(directive, "Metrics");
	add_metric(list, "ProxyRequests", "Count");
	add_metric(list, "ProxyLatency", "Milliseconds");
	add_metric(list, "ProxyErrors", "Count");
	if (s->cold_start)
		add_metric(list, "ColdStart", "Count");

	cJSON_AddStringToObject(doc, "Operation", s->operation);
	cJSON_AddStringToObject(doc, "Environment", s->environment);
	cJSON_AddNumberToObject(doc, "ProxyRequests", 1);
	cJSON_AddNumberToObject(doc, "ProxyLatency", (double)s->latency_ms);
	cJSON_AddNumberToObject(doc, "ProxyErrors", s->error ? 1 : 0);
	if (s->cold_start)
		cJSON_AddNumberToObject(doc, "ColdStart", 1);

	char *text = cJSON_PrintUnformatted(doc); /* NULL if any add failed */
	cJSON_Delete(doc);
	return text;
}

void
metrics_emf_write(FILE *out, const char *prefix,
		  const struct metrics_sample *s)
{
	char *text = metrics_emf_format(prefix, s);
	if (text == NULL)
		return;
	size_t len = strlen(text);
	char *line = realloc(text, len + 2);
	if (line == NULL) {
		free(text);
		return;
	}
	line[len] = '\n';
	fwrite(line, 1, len + 1, out);
	fflush(out);
	free(line);
}
