/*
 * imap_oauth.h — logging in with an OAuth 2.0 access token: OAUTHBEARER
 * (RFC 7628) and Google's and Microsoft's XOAUTH2, as a SASL step function
 * for AUTHENTICATE.
 *
 * The token comes from wherever the password would (a command such as an
 * OAuth helper that refreshes it, a file, the environment); getting and
 * refreshing tokens is that helper's job. A refused token makes the server
 * send an error challenge (JSON) before its NO: the step answers it as the
 * mechanism requires and keeps the JSON's "status" for the error message.
 */
#ifndef MF_IMAP_OAUTH_H
#define MF_IMAP_OAUTH_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

enum imap_oauth_kind {
	IMAP_OAUTH_BEARER, /* OAUTHBEARER */
	IMAP_OAUTH_XOAUTH2,
};

struct imap_oauth {
	enum imap_oauth_kind kind;
	const char *user, *token;
	const char *host, *port; /* OAUTHBEARER's host and port keys; may be NULL */
	int sent;                /* the initial response went out */
	int refused;             /* the server sent its error challenge */
	char status[64];         /* "status" of that challenge, printable; "" if none */
};

/* "OAUTHBEARER" or "XOAUTH2". */
const char *imap_oauth_mech(enum imap_oauth_kind k);

/* imap_sasl_step_fn over a struct imap_oauth. -1 for a second challenge
 * after the error one, or a user name / token a response cannot carry. */
int imap_oauth_step(void *ctx, const char *in, size_t n, struct buf *out, struct err *e);

#endif
