/* metrics_prom: Prometheus counters, gauges and histograms and their text
 * exposition.  One mutex per registry; samples and formatting take it.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_prom.h"

struct prom_series {
	struct prom_series *next;
	char *values[PROM_MAX_LABELS];
	double value;                       /* counter, gauge */
	unsigned long long counts[PROM_MAX_BUCKETS]; /* histogram, per bucket */
	unsigned long long count;
	double sum;
};

struct prom_family {
	struct prom_family *next;
	struct prom_registry *reg;
	enum prom_type type;
	char *name, *help;
	char *labels[PROM_MAX_LABELS];
	size_t n_labels;
	double buckets[PROM_MAX_BUCKETS];
	size_t n_buckets;
	struct prom_series *series, **series_tail;
};

struct prom_registry {
	pthread_mutex_t lock;
	char *app_name;                     /* NULL: no app_name label */
	struct prom_family *families, **families_tail;
};

struct prom_registry *
prom_registry_new(const char *app_name)
{
	struct prom_registry *reg = calloc(1, sizeof *reg);
	if (reg == NULL)
		return NULL;
	if (app_name != NULL && app_name[0] != '\0' &&
	    (reg->app_name = strdup(app_name)) == NULL) {
		free(reg);
		return NULL;
	}
	pthread_mutex_init(&reg->lock, NULL);
	reg->families_tail = &reg->families;
	return reg;
}

static void
family_free(struct prom_family *fam)
{
	struct prom_series *s = fam->series;
	while (s != NULL) {
		struct prom_series *next = s->next;
		for (size_t i = 0; i < fam->n_labels; i++)
			free(s->values[i]);
		free(s);
		s = next;
	}
	for (size_t i = 0; i < fam->n_labels; i++)
		free(fam->labels[i]);
	free(fam->name);
	free(fam->help);
	free(fam);
}

void
prom_registry_free(struct prom_registry *reg)
{
	if (reg == NULL)
		return;
	struct prom_family *fam = reg->families;
	while (fam != NULL) {
		struct prom_family *next = fam->next;
		family_free(fam);
		fam = next;
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg->app_name);
	free(reg);
}

int
prom_registry_set_app_name(struct prom_registry *reg, const char *app_name)
{
	char *copy = NULL;
	if (app_name != NULL && app_name[0] != '\0' &&
	    (copy = strdup(app_name)) == NULL)
		return -1;
	pthread_mutex_lock(&reg->lock);
	char *old = reg->app_name;
	reg->app_name = copy;
	pthread_mutex_unlock(&reg->lock);
	free(old);
	return 0;
}

static struct prom_series *
series_get(struct prom_family *fam, const char *const *values);

struct prom_family *
prom_family_add(struct prom_registry *reg, enum prom_type type,
		const char *name, const char *help, const char *const *labels,
		const double *buckets, size_t n_buckets)
{
	if (n_buckets > PROM_MAX_BUCKETS ||
	    (type == PROM_HISTOGRAM && n_buckets == 0))
		return NULL;
	struct prom_family *fam = calloc(1, sizeof *fam);
	if (fam == NULL)
		return NULL;
	fam->reg = reg;
	fam->type = type;
	fam->series_tail = &fam->series;
	fam->name = strdup(name);
	fam->help = strdup(help);
	bool ok = fam->name != NULL && fam->help != NULL;
	for (size_t i = 0; ok && labels != NULL && labels[i] != NULL; i++) {
		if (i == PROM_MAX_LABELS ||
		    (fam->labels[i] = strdup(labels[i])) == NULL)
			ok = false;
		else
			fam->n_labels++;
	}
	if (type == PROM_HISTOGRAM) {
		memcpy(fam->buckets, buckets, n_buckets * sizeof *buckets);
		fam->n_buckets = n_buckets;
	}
	/* A family without labels has its one series from the start, so a
	 * counter that never moved still reads 0. */
	if (ok && fam->n_labels == 0 && series_get(fam, NULL) == NULL)
		ok = false;
	if (!ok) {
		family_free(fam);
		return NULL;
	}
	pthread_mutex_lock(&reg->lock);
	*reg->families_tail = fam;
	reg->families_tail = &fam->next;
	pthread_mutex_unlock(&reg->lock);
	return fam;
}

/* The series of these label values, created if new; under the lock. */
static struct prom_series *
series_get(struct prom_family *fam, const char *const *values)
{
	for (struct prom_series *s = fam->series; s != NULL; s = s->next) {
		size_t i = 0;
		while (i < fam->n_labels && strcmp(s->values[i], values[i]) == 0)
			i++;
		if (i == fam->n_labels)
			return s;
	}
	struct prom_series *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < fam->n_labels; i++)
		if ((s->values[i] = strdup(values[i] ? values[i] : "")) == NULL) {
			while (i-- > 0)
				free(s->values[i]);
			free(s);
			return NULL;
		}
	*fam->series_tail = s;
	fam->series_tail = &s->next;
	return s;
}

void
prom_add(struct prom_family *fam, const char *const *values, double delta)
{
	if (fam == NULL)
		return;
	pthread_mutex_lock(&fam->reg->lock);
	struct prom_series *s = series_get(fam, values);
	if (s != NULL)
		s->value += delta;
	pthread_mutex_unlock(&fam->reg->lock);
}

void
prom_set(struct prom_family *fam, const char *const *values, double value)
{
	if (fam == NULL)
		return;
	pthread_mutex_lock(&fam->reg->lock);
	struct prom_series *s = series_get(fam, values);
	if (s != NULL)
		s->value = value;
	pthread_mutex_unlock(&fam->reg->lock);
}

void
prom_observe(struct prom_family *fam, const char *const *values,
	     double value)
{
	if (fam == NULL)
		return;
	pthread_mutex_lock(&fam->reg->lock);
	struct prom_series *s = series_get(fam, values);
	if (s != NULL) {
		/* Per bucket here; cumulative sums are made when printing. */
		size_t i = 0;
		while (i < fam->n_buckets && value > fam->buckets[i])
			i++;
		if (i < fam->n_buckets)
			s->counts[i]++;
		s->count++;
		s->sum += value;
	}
	pthread_mutex_unlock(&fam->reg->lock);
}

/* ---- the text format ---- */

/* Shortest text that reads back as the same double; integers plainly. */
static void
format_number(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (isinf(v))
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v);
	else {
		snprintf(buf, len, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, len, "%.17g", v);
	}
}

/* Label values escape \, " and newline; HELP text \ and newline. */
static void
put_escaped(FILE *out, const char *text, bool quote)
{
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", out);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '"' && quote)
			fputs("\\\"", out);
		else
			fputc(*p, out);
	}
}

/* NAME{app_name="..",label="..",le=".."} with the braces left out when
 * there is no label at all. */
static void
put_series_name(FILE *out, const struct prom_family *fam,
		const struct prom_series *s, const char *suffix,
		const char *le)
{
	fprintf(out, "%s%s", fam->name, suffix);
	const char *sep = "{";
	if (fam->reg->app_name != NULL) {
		fprintf(out, "%sapp_name=\"", sep);
		put_escaped(out, fam->reg->app_name, true);
		fputc('"', out);
		sep = ",";
	}
	for (size_t i = 0; i < fam->n_labels; i++) {
		fprintf(out, "%s%s=\"", sep, fam->labels[i]);
		put_escaped(out, s->values[i], true);
		fputc('"', out);
		sep = ",";
	}
	if (le != NULL) {
		fprintf(out, "%sle=\"%s\"", sep, le);
		sep = ",";
	}
	if (sep[0] == ',')
		fputc('}', out);
}

static void
put_family(FILE *out, const struct prom_family *fam)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	char number[64], le[64];
	fprintf(out, "# HELP %s ", fam->name);
	put_escaped(out, fam->help, false);
	fprintf(out, "\n# TYPE %s %s\n", fam->name, types[fam->type]);
	for (const struct prom_series *s = fam->series; s != NULL; s = s->next) {
		if (fam->type != PROM_HISTOGRAM) {
			put_series_name(out, fam, s, "", NULL);
			format_number(number, sizeof number, s->value);
			fprintf(out, " %s\n", number);
			continue;
		}
		unsigned long long cumulative = 0;
		for (size_t i = 0; i < fam->n_buckets; i++) {
			cumulative += s->counts[i];
			format_number(le, sizeof le, fam->buckets[i]);
			put_series_name(out, fam, s, "_bucket", le);
			fprintf(out, " %llu\n", cumulative);
		}
		put_series_name(out, fam, s, "_bucket", "+Inf");
		fprintf(out, " %llu\n", s->count);
		put_series_name(out, fam, s, "_sum", NULL);
		format_number(number, sizeof number, s->sum);
		fprintf(out, " %s\n", number);
		put_series_name(out, fam, s, "_count", NULL);
		fprintf(out, " %llu\n", s->count);
	}
}

char *
prom_format(struct prom_registry *reg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (out == NULL)
		return NULL;
	pthread_mutex_lock(&reg->lock);
	for (const struct prom_family *fam = reg->families; fam != NULL;
	     fam = fam->next)
		put_family(out, fam);
	pthread_mutex_unlock(&reg->lock);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
