/*
 * imap_utf7.h — modified UTF-7 mailbox names (RFC 3501 section 5.1.3) to and
 * from UTF-8, strictly validated both ways.
 *
 * Rejected (ERR_PROTO for utf7 -> utf8, ERR_USAGE for utf8 -> utf7):
 *  - UTF-7 side: a byte outside 0x20..0x7e; '&' not closed by '-'; a base64
 *    char outside the modified alphabet (A-Z a-z 0-9 + ,); non-zero padding
 *    bits or a leftover of 6+ bits; "&-"-style empty shifts other than "&-"
 *    itself (which is '&'); a shift holding only directly-printable chars
 *    (0x20..0x7e); two adjacent shifts ("&AOQ-&AOQ-" must be one shift);
 *    unpaired or misordered surrogates; U+0000.
 *  - UTF-8 side: overlong forms, surrogates (U+D800..DFFF), code points
 *    above U+10FFFF, truncated sequences, stray continuation bytes, NUL.
 * The encoder produces the one canonical form, so decode(encode(x)) == x and
 * encode(decode(y)) == y for every valid y.
 */
#ifndef MF_IMAP_UTF7_H
#define MF_IMAP_UTF7_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

/* Modified UTF-7 `in` (len bytes) to UTF-8 appended to `out`. 0 or -1;
 * on -1, `out` is cut back to its length at entry. */
int imap_utf7_decode(const char *in, size_t len, struct buf *out, struct err *e);

/* UTF-8 `in` (len bytes) to modified UTF-7 appended to `out`. 0 or -1
 * (then `out` is cut back to its length at entry). */
int imap_utf7_encode(const char *in, size_t len, struct buf *out, struct err *e);

/* Does `s` (len bytes) need encoding (any byte outside 0x20..0x7e or '&')? */
int imap_utf7_needs_encoding(const char *s, size_t len);

#endif
