/*
 * imap_date.c — IMAP date-time and date (RFC 3501 section 9, date-time and
 * date) to and from time_t. Days since the epoch are computed with the
 * civil-from-days / days-from-civil algorithms (proleptic Gregorian), so no
 * timegm() and no TZ environment are needed. Owns no state.
 */
#include "imap/imap_date.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/banned.h"

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int is_leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int mdays(long y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (m 1..12). */
static int64_t days_from_civil(long y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *v_r)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*v_r = v;
	return 0;
}

/* "d-Mon-yyyy" / " d-Mon-yyyy" / "dd-Mon-yyyy" at s; returns bytes used or
 * -1. `allow_sp` allows the leading-space form (date-time only). */
static int parse_day(const char *s, int allow_sp, long *y_r, int *m_r, int *d_r)
{
	int i = 0, d, y;
	if (s[0] == ' ' && allow_sp)
		i = 1;
	if (s[i] < '0' || s[i] > '9')
		return -1;
	d = s[i++] - '0';
	if (s[i] >= '0' && s[i] <= '9' && s[0] != ' ')
		d = d * 10 + (s[i++] - '0');
	if (s[i++] != '-')
		return -1;
	int m = 0;
	for (int k = 0; k < 12; k++)
		if (strncasecmp(s + i, months[k], 3) == 0)
			m = k + 1;
	if (!m)
		return -1;
	i += 3;
	if (s[i++] != '-' || digits(s + i, 4, &y) < 0)
		return -1;
	i += 4;
	if (y < 1 || d < 1 || d > mdays(y, m))
		return -1;
	*y_r = y;
	*m_r = m;
	*d_r = d;
	return i;
}

int imap_date_time_parse(const char *s, time_t *t_r)
{
	long y;
	int m, d, hh, mm, ss, zh, zm;
	int i = parse_day(s, 1, &y, &m, &d);
	if (i < 0 || s[i] != ' ')
		return -1;
	s += i + 1;
	if (digits(s, 2, &hh) < 0 || s[2] != ':' || digits(s + 3, 2, &mm) < 0 ||
	    s[5] != ':' || digits(s + 6, 2, &ss) < 0 || s[8] != ' ')
		return -1;
	if ((s[9] != '+' && s[9] != '-') || digits(s + 10, 2, &zh) < 0 ||
	    digits(s + 12, 2, &zm) < 0 || s[14] != '\0')
		return -1;
	if (hh > 23 || mm > 59 || ss > 60 || zm > 59)
		return -1;
	if (ss == 60)
		ss = 59; /* leap second: the nearest representable instant */
	int64_t t = days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
	int64_t off = (int64_t)zh * 3600 + zm * 60;
	t += s[9] == '+' ? -off : off;
	if ((int64_t)(time_t)t != t)
		return -1;
	*t_r = (time_t)t;
	return 0;
}

int imap_date_parse(const char *s, time_t *t_r)
{
	long y;
	int m, d;
	int i = parse_day(s, 0, &y, &m, &d);
	if (i < 0 || s[i] != '\0')
		return -1;
	*t_r = (time_t)(days_from_civil(y, m, d) * 86400);
	return 0;
}

static int to_tm(time_t t, struct tm *tm)
{
	if (!gmtime_r(&t, tm))
		return -1;
	if (tm->tm_year + 1900 < 1 || tm->tm_year + 1900 > 9999)
		return -1;
	return 0;
}

int imap_date_time_format(time_t t, int tz_minutes, char out[IMAP_DATE_TIME_LEN + 1])
{
	struct tm tm;
	if (tz_minutes <= -24 * 60 || tz_minutes >= 24 * 60)
		return -1;
	if (to_tm(t + (time_t)tz_minutes * 60, &tm) < 0)
		return -1;
	int a = tz_minutes < 0 ? -tz_minutes : tz_minutes;
	/* Formatted into a roomy buffer first: the compiler cannot see that
	 * to_tm() bounds every field, and -Wformat-truncation would fire. */
	char tmp[128];
	int n = snprintf(tmp, sizeof tmp, "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d",
			 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, tz_minutes < 0 ? '-' : '+', a / 60, a % 60);
	if (n != IMAP_DATE_TIME_LEN)
		return -1;
	memcpy(out, tmp, (size_t)n + 1);
	return 0;
}

int imap_date_format(time_t t, char out[IMAP_DATE_LEN + 1])
{
	struct tm tm;
	if (to_tm(t, &tm) < 0)
		return -1;
	char tmp[64];
	int n = snprintf(tmp, sizeof tmp, "%02d-%s-%04d", tm.tm_mday, months[tm.tm_mon],
			 tm.tm_year + 1900);
	if (n != IMAP_DATE_LEN)
		return -1;
	memcpy(out, tmp, (size_t)n + 1);
	return 0;
}
