/* metrics_prom: a registry of Prometheus counters, gauges and histograms and
 * its text exposition (format 0.0.4), beside the EMF writer in metrics.c.
 * Thread-safe: one mutex per registry guards every series; no globals.
 */
#ifndef DCPROXY_METRICS_PROM_H
#define DCPROXY_METRICS_PROM_H

#include <stddef.h>

enum prom_type {
	PROM_COUNTER,
	PROM_GAUGE,
	PROM_HISTOGRAM,
};

#define PROM_MAX_LABELS 4
#define PROM_MAX_BUCKETS 16

struct prom_registry;
struct prom_family;

/* app_name, when neither NULL nor empty, becomes the first label
 * (app_name="...") of every series.  NULL when out of memory. */
struct prom_registry *
prom_registry_new(const char *app_name);

void
prom_registry_free(struct prom_registry *reg);

/* A new app_name (a reload's METRICS_NAME), as for prom_registry_new: the
 * next scrape shows every series under it.  0, or -1 when out of memory
 * (unchanged). */
int
prom_registry_set_app_name(struct prom_registry *reg, const char *app_name);

/* Declare a family; families print in the order declared.  labels is a
 * NULL-terminated list of at most PROM_MAX_LABELS names (NULL: none);
 * buckets (histograms only) are upper bounds in increasing order, without
 * +Inf.  NULL when out of memory or the arguments are out of bounds. */
struct prom_family *
prom_family_add(struct prom_registry *reg, enum prom_type type,
		const char *name, const char *help, const char *const *labels,
		const double *buckets, size_t n_buckets);

/* values: one per label of the family, in its order (NULL when it has
 * none).  A series is created on first use.  Callers keep label values
 * bounded: a series is never freed before the registry.  Out of memory
 * drops the sample. */
void
prom_add(struct prom_family *fam, const char *const *values, double delta);

void
prom_set(struct prom_family *fam, const char *const *values, double value);

void
prom_observe(struct prom_family *fam, const char *const *values,
	     double value);

/* The whole registry as text format 0.0.4; malloc'd, NULL when out of
 * memory. */
char *
prom_format(struct prom_registry *reg);

#endif
