/*
 * imap_scram.h — the client side of SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802,
 * RFC 7677), as a SASL step function for AUTHENTICATE.
 *
 * SCRAM never sends the password: the client proves it knows the password,
 * and the server proves it knows it too (its signature in the last
 * challenge), so a server that merely accepts the login is not enough.
 * imap_scram_verified() says whether that proof arrived and was right; a
 * login that ends without it must be treated as failed.
 *
 * Not done: channel binding (the -PLUS variants; the gs2 header says "n",
 * the client does not support it), and SASLprep of user name and password
 * (they are used as the UTF-8 bytes given, which is the same for ASCII).
 */
#ifndef MF_IMAP_SCRAM_H
#define MF_IMAP_SCRAM_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

enum imap_scram_hash {
	IMAP_SCRAM_SHA1,
	IMAP_SCRAM_SHA256,
};

/* A server asking for more PBKDF2 rounds than this is refused: the count
 * comes from the server, and each round is the client's CPU time. */
#define IMAP_SCRAM_MAX_ITER 1000000

struct imap_scram;

/* Start an exchange for user/pass. `nonce` NULL: 24 random bytes in base64
 * (a test passes the RFC's example nonce instead). */
int imap_scram_new(enum imap_scram_hash h, const char *user, const char *pass,
		   const char *nonce, struct imap_scram **s_r, struct err *e);

/* "SCRAM-SHA-1" or "SCRAM-SHA-256". */
const char *imap_scram_mech(enum imap_scram_hash h);

/* One step: `in` is the server's challenge, decoded (NULL for the initial
 * response); the client's answer is appended to `out` (not encoded). -1 on
 * a malformed or hostile challenge, a failure the server reported (e=), or
 * a server signature that does not match. */
int imap_scram_step(struct imap_scram *s, const char *in, size_t n, struct buf *out,
		    struct err *e);

/* The server proved it knows the password. */
int imap_scram_verified(const struct imap_scram *s);

/* Wipe the secrets and free. */
void imap_scram_free(struct imap_scram **s);

#endif
