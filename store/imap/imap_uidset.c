/*
 * imap_uidset.c — sequence sets / UID sets (RFC 3501 sequence-set, RFC 4315
 * uid-set): parse with bounds, iterate, format with a length cap. Owns the
 * range arrays of the sets it parses.
 */
#include "imap/imap_uidset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/banned.h"

/* nz-number or '*' at *sp; advances. */
static int parse_one(const char **sp, unsigned flags, uint32_t *v_r)
{
	const char *s = *sp;
	if (*s == '*') {
		if (!(flags & IMAP_UIDSET_ALLOW_STAR))
			return -1;
		*v_r = UINT32_MAX;
		*sp = s + 1;
		return 0;
	}
	if (*s < '1' || *s > '9')
		return -1;
	uint64_t v = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
		s++;
	}
	*v_r = (uint32_t)v;
	*sp = s;
	return 0;
}

int imap_uidset_parse(struct imap_uidset *set, const char *s, unsigned flags,
		      size_t max_ranges, struct err *e)
{
	const char *start = s;
	size_t alloc = 0;
	set->r = NULL;
	set->n = 0;
	if (!max_ranges)
		max_ranges = IMAP_UIDSET_DEFAULT_MAX_RANGES;
	for (;;) {
		uint32_t lo, hi;
		if (parse_one(&s, flags, &lo) < 0)
			return err_set(e, ERR_PROTO, "bad uid set '%.64s'", start);
		hi = lo;
		if (*s == ':') {
			s++;
			if (parse_one(&s, flags, &hi) < 0)
				return err_set(e, ERR_PROTO, "bad uid set '%.64s'", start);
		}
		if (set->n == max_ranges)
			return err_set(e, ERR_LIMIT, "uid set with more than %zu ranges",
				       max_ranges);
		if (set->n == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			if (alloc > max_ranges)
				alloc = max_ranges;
			set->r = mf_reallocarray(set->r, alloc, sizeof *set->r);
		}
		set->r[set->n].lo = lo < hi ? lo : hi;
		set->r[set->n].hi = lo < hi ? hi : lo;
		set->n++;
		if (*s == '\0')
			return 0;
		if (*s != ',')
			return err_set(e, ERR_PROTO, "bad uid set '%.64s'", start);
		s++;
	}
}

void imap_uidset_free(struct imap_uidset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

uint64_t imap_uidset_count(const struct imap_uidset *set)
{
	uint64_t n = 0;
	for (size_t i = 0; i < set->n; i++)
		n += (uint64_t)set->r[i].hi - set->r[i].lo + 1;
	return n;
}

int imap_uidset_contains(const struct imap_uidset *set, uint32_t uid)
{
	for (size_t i = 0; i < set->n; i++)
		if (uid >= set->r[i].lo && uid <= set->r[i].hi)
			return 1;
	return 0;
}

void imap_uidset_iter_init(struct imap_uidset_iter *it, const struct imap_uidset *set)
{
	it->set = set;
	it->i = 0;
	it->next = set->n ? set->r[0].lo : 0;
}

int imap_uidset_iter_next(struct imap_uidset_iter *it, uint32_t *uid_r)
{
	const struct imap_uidset *set = it->set;
	while (it->i < set->n && it->next > set->r[it->i].hi) {
		it->i++;
		if (it->i < set->n)
			it->next = set->r[it->i].lo;
	}
	if (it->i >= set->n)
		return 0;
	*uid_r = (uint32_t)it->next++;
	return 1;
}

int imap_uidset_format(const uint32_t *uids, size_t n, size_t max_len,
		       struct buf *out, size_t *used_r, struct err *e)
{
	char piece[32];
	size_t written = 0, i = 0;
	*used_r = 0;
	if (n == 0)
		return err_set(e, ERR_USAGE, "empty uid set");
	if (max_len && max_len < 21)
		return err_set(e, ERR_USAGE, "uid set length limit %zu too small", max_len);
	size_t start_len = out->len;
	while (i < n) {
		if (uids[i] == 0 || (i && uids[i] < uids[i - 1])) {
			buf_truncate(out, start_len);
			return err_set(e, ERR_USAGE, "uids not sorted or zero");
		}
		size_t j = i;
		/* extend over consecutive uids and duplicates */
		while (j + 1 < n && (uids[j + 1] == uids[j] ||
				     (uids[j] != UINT32_MAX && uids[j + 1] == uids[j] + 1)))
			j++;
		int k;
		if (uids[j] == uids[i])
			k = snprintf(piece, sizeof piece, "%s%u", written ? "," : "", uids[i]);
		else
			k = snprintf(piece, sizeof piece, "%s%u:%u", written ? "," : "",
				     uids[i], uids[j]);
		if (max_len && written + (size_t)k > max_len)
			break;
		if (buf_add(out, piece, (size_t)k) < 0) {
			buf_truncate(out, start_len);
			return err_set(e, ERR_LIMIT, "uid set does not fit its buffer");
		}
		written += (size_t)k;
		i = j + 1;
	}
	*used_r = i;
	return 0;
}
