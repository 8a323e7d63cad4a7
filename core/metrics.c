/* metrics: per-invocation metrics as CloudWatch Embedded Metric Format. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "metrics.h"

static void
emf_build(struct jsonw *w, const char *prefix, const struct metrics_sample *s)
{
	char ns[256];
	snprintf(ns, sizeof ns, "%s/DataProxy", prefix);

	jsonw_init(w, 512);
	jsonw_raw(w, "{\"_aws\":{\"Timestamp\":");
	jsonw_int(w, s->timestamp_ms);
	jsonw_raw(w, ",\"CloudWatchMetrics\":[{\"Namespace\":");
	jsonw_string(w, ns);
	jsonw_raw(w, ",\"Dimensions\":[[\"Operation\",\"Environment\"]],"
		     "\"Metrics\":[{\"Name\":\"ProxyRequests\",\"Unit\":\"Count\"},"
		     "{\"Name\":\"ProxyLatency\",\"Unit\":\"Milliseconds\"},"
		     "{\"Name\":\"ProxyErrors\",\"Unit\":\"Count\"}");
	if (s->cold_start)
		jsonw_raw(w, ",{\"Name\":\"ColdStart\",\"Unit\":\"Count\"}");
	jsonw_raw(w, "]}]},\"Operation\":");
	jsonw_string(w, s->operation);
	jsonw_raw(w, ",\"Environment\":");
	jsonw_string(w, s->environment);
	jsonw_raw(w, ",\"ProxyRequests\":1,\"ProxyLatency\":");
	jsonw_int(w, s->latency_ms);
	jsonw_raw(w, s->error ? ",\"ProxyErrors\":1" : ",\"ProxyErrors\":0");
	if (s->cold_start)
		jsonw_raw(w, ",\"ColdStart\":1");
	jsonw_raw(w, "}");
}

char *
metrics_emf_format(const char *prefix, const struct metrics_sample *s)
{
	struct jsonw w;
	emf_build(&w, prefix, s);
	if (w.failed) {
		free(w.data);
		return NULL;
	}
	return w.data;
}

void
metrics_emf_write(FILE *out, const char *prefix,
		  const struct metrics_sample *s)
{
	struct jsonw w;
	emf_build(&w, prefix, s);
	char *line = jsonw_finish_line(&w);
	if (line == NULL)
		return;
	fwrite(line, 1, w.len, out);
	fflush(out);
	free(line);
}
