/*
 * maildir_name.c — formatting and parsing of Maildir file names (see
 * maildir_name.h). Pure: owns no state, does no I/O.
 */
#include "maildir/maildir_name.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#include "lib/banned.h"

static const struct {
	char letter;
	unsigned bit;
} std_flags[] = {
	{ 'D', MF_DRAFT }, { 'F', MF_FLAGGED }, { 'R', MF_ANSWERED },
	{ 'S', MF_SEEN },  { 'T', MF_DELETED },
};

static unsigned letter_flag(char c)
{
	for (size_t i = 0; i < sizeof std_flags / sizeof std_flags[0]; i++)
		if (std_flags[i].letter == c)
			return std_flags[i].bit;
	return 0;
}

/* Value of a ",X=<digits>" field inside the key, if present. */
static int key_field(const char *key, size_t keylen, char tag, uint64_t *v)
{
	for (size_t i = 0; i + 3 <= keylen; i++) {
		if (key[i] != ',' || key[i + 1] != tag || key[i + 2] != '=')
			continue;
		size_t j = i + 3;
		if (j >= keylen || key[j] < '0' || key[j] > '9')
			continue;
		uint64_t n = 0;
		for (; j < keylen && key[j] >= '0' && key[j] <= '9'; j++) {
			if (n > (UINT64_MAX - 9) / 10)
				return 0;
			n = n * 10 + (uint64_t)(key[j] - '0');
		}
		if (j < keylen && key[j] != ',')
			continue;
		*v = n;
		return 1;
	}
	return 0;
}

static void parse_info(const char *info, struct maildir_name *p)
{
	unsigned char seen[128] = { 0 };
	for (const unsigned char *c = (const unsigned char *)info; *c; c++) {
		if (*c >= 'a' && *c <= 'z') {
			p->kw |= 1u << (*c - 'a');
			continue;
		}
		unsigned bit = letter_flag((char)*c);
		if (bit) {
			p->sys |= bit;
			continue;
		}
		if (*c < 128)
			seen[*c] = 1;
	}
	size_t n = 0;
	for (int c = 1; c < 128 && n + 1 < sizeof p->extra; c++)
		if (seen[c])
			p->extra[n++] = (char)c;
	p->extra[n] = '\0';
}

int maildir_name_parse(const char *name, struct maildir_name *p)
{
	memset(p, 0, sizeof *p);
	if (!name[0] || name[0] == '.' || strchr(name, '/'))
		return -1;
	const char *colon = strrchr(name, ':');
	if (colon && (colon[1] == '2' || colon[1] == '1') && colon[2] == ',') {
		p->keylen = (size_t)(colon - name);
		p->info = colon[1] - '0';
		if (p->info == 2)
			parse_info(colon + 3, p);
	} else {
		p->keylen = strlen(name);
	}
	if (p->keylen == 0)
		return -1;
	p->has_s = key_field(name, p->keylen, 'S', &p->s);
	p->has_w = key_field(name, p->keylen, 'W', &p->w);
	return 0;
}

int maildir_name_base(struct buf *out, int64_t sec, long usec, long pid,
		      unsigned long counter, const char *host)
{
	if (buf_addf(out, "%" PRId64 ".M%ldP%ldQ%lu.", sec, usec, pid, counter) < 0)
		return -1;
	if (!host || !*host)
		host = "localhost";
	for (const char *h = host; *h; h++) {
		int r;
		if (*h == '/')
			r = buf_addstr(out, "\\057");
		else if (*h == ':')
			r = buf_addstr(out, "\\072");
		else if (*h == ',')
			r = buf_addstr(out, "\\054");
		else
			r = buf_addch(out, *h);
		if (r < 0)
			return -1;
	}
	return 0;
}

int maildir_name_sizes(struct buf *out, uint64_t lf, uint64_t crlf)
{
	return buf_addf(out, ",S=%" PRIu64 ",W=%" PRIu64, lf, crlf);
}

int maildir_name_info(struct buf *out, unsigned sys, uint32_t kw, const char *extra)
{
	unsigned char set[128] = { 0 };
	for (size_t i = 0; i < sizeof std_flags / sizeof std_flags[0]; i++)
		if (sys & std_flags[i].bit)
			set[(unsigned char)std_flags[i].letter] = 1;
	for (int i = 0; i < 26; i++)
		if (kw & (1u << i))
			set['a' + i] = 1;
	for (const unsigned char *c = (const unsigned char *)(extra ? extra : ""); *c; c++)
		if (*c < 128 && *c > ' ' && *c != '/' && *c != ':')
			set[*c] = 1;
	if (buf_addstr(out, ":2,") < 0)
		return -1;
	for (int c = 1; c < 128; c++)
		if (set[c] && buf_addch(out, c) < 0)
			return -1;
	return 0;
}
