/*
 * imap_uidset.h — IMAP sequence sets / UID sets ("1:40,42,50:90", RFC 3501
 * sequence-set, RFC 4315 uid-set): parse, iterate, format.
 *
 * A parsed set keeps the ranges in the order sent (COPYUID pairs its source
 * and destination sets by position), each range normalised to lo <= hi.
 * '*' is accepted only when asked for and then stands for UINT32_MAX.
 */
#ifndef MF_IMAP_UIDSET_H
#define MF_IMAP_UIDSET_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

struct imap_uid_range {
	uint32_t lo, hi; /* lo <= hi, both >= 1 */
};

struct imap_uidset {
	struct imap_uid_range *r; /* owned */
	size_t n;
};

#define IMAP_UIDSET_ALLOW_STAR 1u /* flag for imap_uidset_parse */
#define IMAP_UIDSET_DEFAULT_MAX_RANGES ((size_t)1 << 20)

/* Parse `s` (NUL-terminated) into `set` (overwritten; free with
 * imap_uidset_free even on error). Numbers are nz-number (1..2^32-1): no
 * sign, no leading zero, no spaces. At most
 * `max_ranges` ranges (0: the default); more is an ERR_LIMIT error, bad
 * syntax ERR_PROTO. */
int imap_uidset_parse(struct imap_uidset *set, const char *s, unsigned flags,
		      size_t max_ranges, struct err *e);
void imap_uidset_free(struct imap_uidset *set);

/* Number of UIDs covered (ranges counted as sent, overlaps counted twice). */
uint64_t imap_uidset_count(const struct imap_uidset *set);
/* Is `uid` in the set? */
int imap_uidset_contains(const struct imap_uidset *set, uint32_t uid);

/* Walk the UIDs in set order:
 *	struct imap_uidset_iter it; uint32_t uid;
 *	imap_uidset_iter_init(&it, &set);
 *	while (imap_uidset_iter_next(&it, &uid)) ...                      */
struct imap_uidset_iter {
	const struct imap_uidset *set;
	size_t i;      /* current range */
	uint64_t next; /* next uid in it */
};
void imap_uidset_iter_init(struct imap_uidset_iter *it, const struct imap_uidset *set);
int imap_uidset_iter_next(struct imap_uidset_iter *it, uint32_t *uid_r);

/* Format a prefix of `uids` (ascending; duplicates allowed, 0 not allowed)
 * as a compressed set appended to `out`, of at most `max_len` bytes
 * (0: unlimited; otherwise at least 21, the longest single range). *used_r
 * is how many entries of `uids` it covers (all of them when it fits); the
 * caller loops on the rest to split a long set into several commands.
 * Errors (ERR_USAGE): unsorted input, a 0 UID, max_len too small, n == 0;
 * ERR_LIMIT: `out` cap. */
int imap_uidset_format(const uint32_t *uids, size_t n, size_t max_len,
		       struct buf *out, size_t *used_r, struct err *e);

#endif
