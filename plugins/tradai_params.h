/* tradai_params: reading and checking the TradAI data-collection parameters
 * (symbols, timeframes, limits, calendar dates) for the in-tree plugins.
 * Linked into each plugin that needs it; pure functions, thread-safe.
 *
 * Every checker returns 0, or -1 with a human reason in `why`.
 */
#ifndef DCPROXY_TRADAI_PARAMS_H
#define DCPROXY_TRADAI_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <dcproxy/plugin.h>

#define SYMBOL_MAX_LEN 50
#define SYMBOLS_MAX_COUNT 50

struct civil_date {
	int year, month, day;
};

/* params[key] as a string; NULL in *out when absent or null and not
 * required. */
int
param_string(const cJSON *params, const char *key, bool required,
	     const char **out, char *why, size_t whylen);

/* params[key] as a whole number in [min, max]; a JSON number or a string
 * of digits (query strings carry numbers as text).  fallback when absent. */
int
param_integer(const cJSON *params, const char *key, long min, long max,
	      long fallback, long *out, char *why, size_t whylen);

/* A whole number in [min, max] written as text, e.g. a registry setting. */
int
integer_parse(const char *key, const char *text, long min, long max,
	      long *out, char *why, size_t whylen);

/* At most SYMBOL_MAX_LEN characters and containing '/'. */
int
symbol_check(const char *key, const char *symbol, char *why, size_t whylen);

/* ^\d+[mhd]$, e.g. 1m, 4h, 1d. */
int
timeframe_check(const char *key, const char *timeframe, char *why,
		size_t whylen);

/* YYYYMMDD or YYYY-MM-DD naming a real calendar date. */
int
date_parse(const char *key, const char *text, struct civil_date *out,
	   char *why, size_t whylen);

/* Days since 1970-01-01 and back. */
long
civil_date_to_days(const struct civil_date *d);

struct civil_date
civil_date_from_days(long days);

/* YYYY-MM-DD into out (at least 11 bytes). */
void
civil_date_format(const struct civil_date *d, char *out, size_t outlen);

#endif
