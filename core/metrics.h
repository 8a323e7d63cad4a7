/* metrics: per-invocation metrics as CloudWatch Embedded Metric Format.
 *
 * One JSON document per invocation carries ProxyRequests, ProxyLatency and
 * ProxyErrors (and ColdStart when set) under PREFIX/DataProxy with the
 * dimensions Operation and Environment.  Stateless; safe from any thread.
 */
#ifndef DCPROXY_METRICS_H
#define DCPROXY_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct metrics_sample {
	const char *operation;   /* a registered name, or "unknown" */
	const char *environment;
	long latency_ms;
	bool error;
	bool cold_start;         /* adds ColdStart = 1 */
	int64_t timestamp_ms;    /* wall clock, ms since the epoch */
};

/* The EMF document for one sample, without a newline; caller frees.
 * NULL when out of memory. */
char *
metrics_emf_format(const char *prefix, const struct metrics_sample *s);

/* Write the document and a newline to out in one write. */
void
metrics_emf_write(FILE *out, const char *prefix,
		  const struct metrics_sample *s);

#endif
