/* tradai_params: the TradAI data-collection parameter rules. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tradai_params.h"

int
param_string(const cJSON *params, const char *key, bool required,
	     const char **out, char *why, size_t whylen)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(params, key);
	*out = NULL;
	if (item == NULL || cJSON_IsNull(item)) {
		if (!required)
			return 0;
		snprintf(why, whylen, "'%s' is required", key);
		return -1;
	}
	if (!cJSON_IsString(item)) {
		snprintf(why, whylen, "'%s' must be a string", key);
		return -1;
	}
	*out = item->valuestring;
	return 0;
}

int
integer_parse(const char *key, const char *text, long min, long max,
	      long *out, char *why, size_t whylen)
{
	const char *p = text;
	if (*p == '-' || *p == '+')
		p++;
	bool digits = isdigit((unsigned char)*p);
	while (isdigit((unsigned char)*p))
		p++;
	errno = 0;
	long value = digits && *p == '\0' ? strtol(text, NULL, 10) : 0;
	if (!digits || *p != '\0' || errno != 0) {
		snprintf(why, whylen, "'%s' must be a whole number, not '%.60s'",
			 key, text);
		return -1;
	}
	if (value < min || value > max) {
		snprintf(why, whylen, "'%s' must be between %ld and %ld, not %ld",
			 key, min, max, value);
		return -1;
	}
	*out = value;
	return 0;
}

int
param_integer(const cJSON *params, const char *key, long min, long max,
	      long fallback, long *out, char *why, size_t whylen)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(params, key);
	if (item == NULL || cJSON_IsNull(item)) {
		*out = fallback;
		return 0;
	}
	if (cJSON_IsString(item))
		return integer_parse(key, item->valuestring, min, max, out, why,
				     whylen);
	double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
	if (!isfinite(v) || v != floor(v)) {
		snprintf(why, whylen, "'%s' must be a whole number", key);
		return -1;
	}
	if (v < (double)min || v > (double)max) {
		snprintf(why, whylen, "'%s' must be between %ld and %ld, not %.0f",
			 key, min, max, v);
		return -1;
	}
	*out = (long)v;
	return 0;
}

int
symbol_check(const char *key, const char *symbol, char *why, size_t whylen)
{
	size_t n = strlen(symbol);
	if (n > SYMBOL_MAX_LEN) {
		snprintf(why, whylen,
			 "'%s' must be at most %d characters, not %zu", key,
			 SYMBOL_MAX_LEN, n);
		return -1;
	}
	if (strchr(symbol, '/') == NULL) {
		snprintf(why, whylen,
			 "'%s' must contain '/' (like BTC/USDT:USDT), not '%s'",
			 key, symbol);
		return -1;
	}
	return 0;
}

int
timeframe_check(const char *key, const char *timeframe, char *why,
		size_t whylen)
{
	const char *p = timeframe;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == timeframe || (*p != 'm' && *p != 'h' && *p != 'd') ||
	    p[1] != '\0') {
		snprintf(why, whylen,
			 "'%s' must match ^\\d+[mhd]$ (like 1m, 4h, 1d), not '%.60s'",
			 key, timeframe);
		return -1;
	}
	return 0;
}

static bool
leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

int
date_parse(const char *key, const char *text, struct civil_date *out,
	   char *why, size_t whylen)
{
	size_t n = strlen(text);
	char digits[9];
	if (n == 8 && all_digits(text, 8)) {
		memcpy(digits, text, 8);
	} else if (n == 10 && text[4] == '-' && text[7] == '-' &&
		   all_digits(text, 4) && all_digits(text + 5, 2) &&
		   all_digits(text + 8, 2)) {
		memcpy(digits, text, 4);
		memcpy(digits + 4, text + 5, 2);
		memcpy(digits + 6, text + 8, 2);
	} else {
		snprintf(why, whylen,
			 "'%s' must be a date as YYYYMMDD or YYYY-MM-DD, not '%.60s'",
			 key, text);
		return -1;
	}
	digits[8] = '\0';
	struct civil_date d = {
		.year = (digits[0] - '0') * 1000 + (digits[1] - '0') * 100 +
			(digits[2] - '0') * 10 + (digits[3] - '0'),
		.month = (digits[4] - '0') * 10 + (digits[5] - '0'),
		.day = (digits[6] - '0') * 10 + (digits[7] - '0'),
	};
	if (d.year < 1 || d.month < 1 || d.month > 12 || d.day < 1 ||
	    d.day > days_in_month(d.year, d.month)) {
		snprintf(why, whylen, "'%s' is not a real calendar date: '%s'",
			 key, text);
		return -1;
	}
	*out = d;
	return 0;
}

/* Howard Hinnant's days_from_civil / civil_from_days, proleptic Gregorian. */
long
civil_date_to_days(const struct civil_date *d)
{
	long y = d->year - (d->month <= 2);
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long mp = (d->month + 9) % 12;
	long doy = (153 * mp + 2) / 5 + d->day - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

struct civil_date
civil_date_from_days(long days)
{
	days += 719468;
	long era = (days >= 0 ? days : days - 146096) / 146097;
	long doe = days - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	struct civil_date d;
	d.day = (int)(doy - (153 * mp + 2) / 5 + 1);
	d.month = (int)(mp < 10 ? mp + 3 : mp - 9);
	d.year = (int)(yoe + era * 400 + (d.month <= 2));
	return d;
}

void
civil_date_format(const struct civil_date *d, char *out, size_t outlen)
{
	snprintf(out, outlen, "%04d-%02d-%02d", d->year, d->month, d->day);
}
