/*
 * maildir_hdr.c — header block length and RFC 5322 date parsing (see
 * maildir_hdr.h). Pure: no I/O, no state.
 */
#include "maildir/maildir_hdr.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "lib/banned.h"

size_t maildir_hdr_block_len(const char *text, size_t len)
{
	if (len && text[0] == '\n')
		return 1;
	if (len > 1 && text[0] == '\r' && text[1] == '\n')
		return 2;
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n')
			continue;
		size_t j = i + 1;
		if (j < len && text[j] == '\r')
			j++;
		if (j < len && text[j] == '\n')
			return j + 1;
	}
	return len;
}


static const char *skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			return p;
		int depth = 0;
		do {
			if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			else if (*p == '\\' && p[1])
				p++;
			p++;
		} while (*p && depth > 0);
	}
}

static int num(const char **pp, int min_digits, int max_digits, int *v)
{
	const char *p = *pp;
	int n = 0, d = 0;
	while (isdigit((unsigned char)*p) && d < max_digits) {
		n = n * 10 + (*p++ - '0');
		d++;
	}
	if (d < min_digits)
		return -1;
	*pp = p;
	*v = n;
	return 0;
}

/* Days since 1970-01-01 (proleptic Gregorian), after Howard Hinnant. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static const struct {
	const char *name;
	int off; /* minutes */
} zones[] = {
	{ "UT", 0 },       { "GMT", 0 },      { "Z", 0 },        { "EST", -300 },
	{ "EDT", -240 },   { "CST", -360 },   { "CDT", -300 },   { "MST", -420 },
	{ "MDT", -360 },   { "PST", -480 },   { "PDT", -420 },
};

int maildir_hdr_parse_date(const char *s, int64_t *t_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = skip_cfws(s);
	int day, year, hh, mm, ss = 0, mon = -1;
	if (isalpha((unsigned char)*p)) { /* day name */
		while (isalpha((unsigned char)*p))
			p++;
		p = skip_cfws(p);
		if (*p == ',')
			p++;
		p = skip_cfws(p);
	}
	if (num(&p, 1, 2, &day) < 0)
		return -1;
	p = skip_cfws(p);
	for (int i = 0; i < 12; i++)
		if (strncasecmp(p, months + 3 * i, 3) == 0)
			mon = i + 1;
	if (mon < 0)
		return -1;
	p = skip_cfws(p + 3);
	if (num(&p, 2, 4, &year) < 0)
		return -1;
	if (year < 50)
		year += 2000;
	else if (year < 1000)
		year += 1900;
	p = skip_cfws(p);
	if (num(&p, 1, 2, &hh) < 0 || *p++ != ':' || num(&p, 2, 2, &mm) < 0)
		return -1;
	if (*p == ':') {
		p++;
		if (num(&p, 2, 2, &ss) < 0)
			return -1;
	}
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return -1;
	p = skip_cfws(p);
	int off = 0;
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, z;
		p++;
		if (num(&p, 4, 4, &z) < 0)
			return -1;
		off = sign * ((z / 100) * 60 + z % 100);
	} else {
		for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
			size_t n = strlen(zones[i].name);
			if (strncasecmp(p, zones[i].name, n) == 0 && !isalpha((unsigned char)p[n]))
				off = zones[i].off;
		}
	}
	int64_t t = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hh * 3600 +
		    mm * 60 + ss;
	*t_r = t - (int64_t)off * 60;
	return 0;
}
