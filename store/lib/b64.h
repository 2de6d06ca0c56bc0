/*
 * b64.h — standard base64 (RFC 4648 section 4), as SASL exchanges carry it
 * on the IMAP wire (RFC 3501 6.2.2): encoding into a buf, and a strict
 * decoding that refuses what a careless decoder would let through.
 */
#ifndef MF_B64_H
#define MF_B64_H

#include <stddef.h>

#include "lib/buf.h"

/* Append the encoding of n bytes at p (padded with '='). 0, or -1 when the
 * buffer's cap is hit (the buffer is then as it was). */
int b64_encode(const void *p, size_t n, struct buf *out);

/* Append the bytes that s[0..n) encodes. -1 (nothing appended) unless s is
 * whole quads of the alphabet with '=' only as the last one or two
 * characters, the padding bits zero, and the result fits the cap. */
int b64_decode(const char *s, size_t n, struct buf *out);

#endif
