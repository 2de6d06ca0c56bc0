/*
 * url.h — IMAP server addresses as the user types them:
 *   imap://USER@HOST[:PORT]    port 143, STARTTLS by default
 *   imaps://USER@HOST[:PORT]   port 993, implicit TLS
 * USER is percent-decoded ("me%40example.com" is "me@example.com"); HOST is
 * a name, an IPv4 address or a bracketed IPv6 literal ("[::1]"). A trailing
 * "/" is accepted; any other path, query or fragment is refused.
 *
 * TLS modes (--tls): implicit, starttls, none. The default follows the
 * scheme; "none" (plaintext) is never a default and is refused for a host
 * that is not loopback (localhost, 127.0.0.0/8, ::1), since the password
 * would cross the network in clear.
 */
#ifndef MF_URL_H
#define MF_URL_H

#include "lib/err.h"

enum url_tls {
	URL_TLS_DEFAULT = 0, /* "not given": follow the scheme */
	URL_TLS_IMPLICIT,
	URL_TLS_STARTTLS,
	URL_TLS_NONE,
};

struct imap_url {
	char *user;      /* decoded, owned */
	char *host;      /* without brackets, owned */
	unsigned port;   /* explicit or the scheme's default */
	int port_given;
	int imaps;       /* scheme was imaps:// */
};

/* Parse `s` into *u (ERR_USAGE with the reason on failure; *u is then
 * empty). Free with url_free. */
int url_parse(const char *s, struct imap_url *u, struct err *e);
void url_free(struct imap_url *u);

/* "implicit" / "starttls" / "none" -> mode; -1 for anything else. */
int url_tls_parse(const char *arg, enum url_tls *mode_r);
const char *url_tls_name(enum url_tls mode);

/* The TLS mode to use: `asked` (URL_TLS_DEFAULT when the user gave none)
 * resolved against the scheme; refuses plaintext to a non-loopback host and
 * implicit TLS asked on an imap:// URL is allowed (the user said so). */
int url_tls_resolve(const struct imap_url *u, enum url_tls asked, enum url_tls *mode_r,
		    struct err *e);

/* The port to connect to: the one in the URL, else 993 for implicit TLS and
 * 143 otherwise (so "imap://u@h --tls implicit" goes to 993). */
unsigned url_port(const struct imap_url *u, enum url_tls mode);

/* Is `host` a loopback name or address (no DNS lookup)? */
int url_host_is_loopback(const char *host);

#endif
