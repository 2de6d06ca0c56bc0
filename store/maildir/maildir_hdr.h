/*
 * maildir_hdr.h — the little header reading the Maildir driver needs, pure:
 * the length of a header block (fields come from store_header_field() in
 * store.h), and an RFC 5322 date
 * (for the internal-date fallback when a file's mtime is bogus).
 */
#ifndef MF_MAILDIR_HDR_H
#define MF_MAILDIR_HDR_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Length of the header block at the start of text (up to and including
 * the empty line), or len when the block does not end within text. */
size_t maildir_hdr_block_len(const char *text, size_t len);

/* Parse an RFC 5322 date-time ("Tue, 1 Jul 2003 10:52:37 +0200", day name
 * and seconds optional, obsolete zone names UT/GMT/EST.. accepted) into
 * Unix seconds. 0 or -1. */
int maildir_hdr_parse_date(const char *s, int64_t *t_r);

#endif
