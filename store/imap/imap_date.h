/*
 * imap_date.h — IMAP date-time ("17-Jul-1996 02:44:25 -0700", RFC 3501
 * date-time, used by INTERNALDATE and APPEND) and date ("17-Jul-1996",
 * SEARCH SINCE/BEFORE) to and from time_t, in pure UTC arithmetic (no
 * timegm, no TZ environment).
 */
#ifndef MF_IMAP_DATE_H
#define MF_IMAP_DATE_H

#include <time.h>

/* "dd-Mon-yyyy hh:mm:ss +zzzz" is 26 bytes; with the quotes 28. */
#define IMAP_DATE_TIME_LEN 26
#define IMAP_DATE_LEN 11

/* Parse a date-time without the surrounding quotes. The day may be " 7",
 * "7" or "07"; the month name is case-insensitive; the zone is mandatory.
 * Strict: every field is range-checked (day valid for the month, hour < 24,
 * minute < 60, second <= 60 with a leap second read as :59, zone minutes
 * < 60); trailing bytes are an error.
 * 0 or -1. */
int imap_date_time_parse(const char *s, time_t *t_r);

/* Format `t` as a date-time shown in the zone `tz_minutes` east of UTC
 * (0 gives "+0000"); `out` gets IMAP_DATE_TIME_LEN + 1 bytes, without
 * quotes, day zero-padded to two digits ("07-Jul-1996 ..."), which every
 * server accepts. -1 if `t` is outside years 1..9999 or |tz| >= 24h. */
int imap_date_time_format(time_t t, int tz_minutes, char out[IMAP_DATE_TIME_LEN + 1]);

/* Date only ("7-Jul-1996" / "07-Jul-1996"), as midnight UTC. 0 or -1. */
int imap_date_parse(const char *s, time_t *t_r);
/* "07-Jul-1996" of the UTC day of `t`. 0 or -1. */
int imap_date_format(time_t t, char out[IMAP_DATE_LEN + 1]);

#endif
