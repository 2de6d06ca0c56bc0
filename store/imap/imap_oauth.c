/*
 * imap_oauth.c — OAUTHBEARER (RFC 7628) and XOAUTH2 client responses (see
 * imap_oauth.h). Owns nothing: the user name and token are the caller's.
 *
 *   OAUTHBEARER  "n,a=USER,^Ahost=HOST^Aport=PORT^Aauth=Bearer TOKEN^A^A"
 *   XOAUTH2      "user=USER^Aauth=Bearer TOKEN^A^A"
 * A refused token: the server's challenge is a JSON error, answered with
 * "^A" (OAUTHBEARER, RFC 7628 3.2.3) or an empty response (XOAUTH2), and
 * the server then says NO.
 */
#include "imap/imap_oauth.h"

#include <string.h>

#include "lib/banned.h"

const char *imap_oauth_mech(enum imap_oauth_kind k)
{
	return k == IMAP_OAUTH_BEARER ? "OAUTHBEARER" : "XOAUTH2";
}

/* The value of "status" in the server's JSON error, printable ASCII only
 * (it goes into a message); "" when there is none. Not a JSON parser: the
 * value is the string or number after the key. */
static void error_status(const char *in, size_t n, char *st, size_t cap)
{
	static const char key[] = "\"status\"";
	size_t k = 0;
	st[0] = 0;
	const char *p = NULL;
	for (size_t i = 0; i + sizeof key - 1 <= n && !p; i++)
		if (!memcmp(in + i, key, sizeof key - 1))
			p = in + i + sizeof key - 1;
	if (!p)
		return;
	const char *end = in + n;
	while (p < end && (*p == ' ' || *p == ':' || *p == '"'))
		p++;
	while (p < end && *p != '"' && *p != ',' && *p != '}' && k + 1 < cap) {
		st[k++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
		p++;
	}
	while (k > 0 && st[k - 1] == ' ')
		k--;
	st[k] = 0;
}

/* RFC 7628 and XOAUTH2 separate fields with ^A: none may hold one, nor
 * may OAUTHBEARER's authzid hold ',' unescaped (RFC 5801 saslname). */
static int add_field(struct buf *out, const char *v, int saslname)
{
	for (const char *p = v; *p; p++) {
		if (*p == 1 || *p == '\r' || *p == '\n')
			return -1;
		int r = saslname && (*p == ',' || *p == '=')
				  ? buf_addstr(out, *p == ',' ? "=2C" : "=3D")
				  : buf_addch(out, *p);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int initial(struct imap_oauth *o, struct buf *out, struct err *e)
{
	int bad;
	if (o->kind == IMAP_OAUTH_BEARER) {
		bad = buf_addstr(out, "n,a=") < 0 || add_field(out, o->user, 1) < 0 ||
		      buf_addstr(out, ",\x01") < 0;
		if (!bad && o->host && *o->host)
			bad = buf_addstr(out, "host=") < 0 || add_field(out, o->host, 0) < 0 ||
			      buf_addch(out, 1) < 0;
		if (!bad && o->port && *o->port)
			bad = buf_addstr(out, "port=") < 0 || add_field(out, o->port, 0) < 0 ||
			      buf_addch(out, 1) < 0;
	} else {
		bad = buf_addstr(out, "user=") < 0 || add_field(out, o->user, 0) < 0 ||
		      buf_addch(out, 1) < 0;
	}
	bad = bad || buf_addstr(out, "auth=Bearer ") < 0 || add_field(out, o->token, 0) < 0 ||
	      buf_addstr(out, "\x01\x01") < 0;
	if (bad)
		return err_set(e, ERR_USAGE, "%s: the user name or token holds a control "
			       "character, or is too long", imap_oauth_mech(o->kind));
	o->sent = 1;
	return 0;
}

int imap_oauth_step(void *ctx, const char *in, size_t n, struct buf *out, struct err *e)
{
	struct imap_oauth *o = ctx;
	if (!o->sent)
		return initial(o, out, e);
	if (o->refused)
		return err_set(e, ERR_PROTO, "%s: a second challenge after the error",
			       imap_oauth_mech(o->kind));
	o->refused = 1;
	error_status(in ? in : "", n, o->status, sizeof o->status);
	if (o->kind == IMAP_OAUTH_BEARER)
		return buf_addch(out, 1) < 0 ? err_set(e, ERR_LIMIT, "response too long") : 0;
	return 0;
}
