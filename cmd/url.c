/*
 * url.c — parse imap:// and imaps:// addresses (RFC 5092 subset: user,
 * host, port) and pick the TLS mode (see url.h). Pure string work: no DNS,
 * no state.
 */
#include "url.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/banned.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [p, p+n) into a new string; refuses control bytes. */
static char *pct_decode(const char *p, size_t n, struct err *e)
{
	char *out = mf_calloc(n + 1, 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '%') {
			int a = i + 1 < n ? hexval(p[i + 1]) : -1;
			int b = i + 2 < n ? hexval(p[i + 2]) : -1;
			int h = (a < 0 || b < 0) ? -1 : a * 16 + b;
			if (h < 0) {
				free(out);
				err_set(e, ERR_USAGE, "bad percent escape in user name");
				return NULL;
			}
			c = h;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) {
			free(out);
			err_set(e, ERR_USAGE, "control character in user name");
			return NULL;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static int valid_hostname(const char *h, size_t n)
{
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return 0;
	}
	return 1;
}

static int parse_port(const char *p, size_t n, unsigned *port_r)
{
	if (n == 0 || n > 5)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port_r = v;
	return 0;
}

/* host[:port] or [v6][:port] in [p, p+n). */
static int parse_hostport(const char *p, size_t n, struct imap_url *u, struct err *e)
{
	const char *host, *rest;
	size_t hlen;
	if (n && p[0] == '[') {
		const char *close = memchr(p, ']', n);
		if (!close)
			return err_set(e, ERR_USAGE, "missing ']' after IPv6 address");
		host = p + 1;
		hlen = (size_t)(close - host);
		char tmp[INET6_ADDRSTRLEN + 1];
		unsigned char bin[16];
		if (hlen == 0 || hlen >= sizeof tmp)
			return err_set(e, ERR_USAGE, "bad IPv6 address");
		memcpy(tmp, host, hlen);
		tmp[hlen] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1)
			return err_set(e, ERR_USAGE, "bad IPv6 address '%s'", tmp);
		rest = close + 1;
	} else {
		const char *colon = memchr(p, ':', n);
		host = p;
		hlen = colon ? (size_t)(colon - p) : n;
		rest = p + hlen;
		if (!valid_hostname(host, hlen))
			return err_set(e, ERR_USAGE, "bad host name '%.*s'", (int)hlen, host);
	}
	size_t rlen = (size_t)(p + n - rest);
	if (rlen) {
		if (rest[0] != ':' || parse_port(rest + 1, rlen - 1, &u->port) < 0)
			return err_set(e, ERR_USAGE, "bad port '%.*s'", (int)rlen, rest);
		u->port_given = 1;
	}
	u->host = mf_strndup(host, hlen);
	return 0;
}

int url_parse(const char *s, struct imap_url *u, struct err *e)
{
	memset(u, 0, sizeof *u);
	const char *p;
	if (!strncasecmp(s, "imaps://", 8)) {
		u->imaps = 1;
		u->port = 993;
		p = s + 8;
	} else if (!strncasecmp(s, "imap://", 7)) {
		u->port = 143;
		p = s + 7;
	} else {
		return err_set(e, ERR_USAGE, "'%s' is not an imap:// or imaps:// URL", s);
	}
	size_t n = strcspn(p, "/?#");
	const char *tail = p + n;
	if (*tail && strcmp(tail, "/") != 0)
		return err_set(e, ERR_USAGE, "unexpected '%s' after the host in '%s'", tail, s);
	/* The user name may hold '@' only percent-encoded, so the last '@'
	 * before the host ends it (tolerating a raw '@' too, as curl does). */
	const char *at = NULL;
	for (const char *q = p; q < tail; q++)
		if (*q == '@')
			at = q;
	if (!at || at == p)
		return err_set(e, ERR_USAGE, "no user name in '%s' (imap://USER@HOST)", s);
	if (memchr(p, ':', (size_t)(at - p)))
		return err_set(e, ERR_USAGE, "no password in the URL, please: use --pass-cmd, "
			       "--pass-file or $MAILFERRY_PASSWORD");
	u->user = pct_decode(p, (size_t)(at - p), e);
	if (!u->user)
		return -1;
	if (parse_hostport(at + 1, (size_t)(tail - at - 1), u, e) < 0) {
		url_free(u);
		return -1;
	}
	return 0;
}

void url_free(struct imap_url *u)
{
	free(u->user);
	free(u->host);
	memset(u, 0, sizeof *u);
}

static const char *const tls_names[] = {
	[URL_TLS_DEFAULT] = "default",
	[URL_TLS_IMPLICIT] = "implicit",
	[URL_TLS_STARTTLS] = "starttls",
	[URL_TLS_NONE] = "none",
};

int url_tls_parse(const char *arg, enum url_tls *mode_r)
{
	for (int m = URL_TLS_IMPLICIT; m <= URL_TLS_NONE; m++) {
		if (!strcasecmp(arg, tls_names[m])) {
			*mode_r = (enum url_tls)m;
			return 0;
		}
	}
	return -1;
}

const char *url_tls_name(enum url_tls mode)
{
	return (unsigned)mode <= URL_TLS_NONE ? tls_names[mode] : "?";
}

int url_host_is_loopback(const char *host)
{
	unsigned char bin[16];
	if (!strcasecmp(host, "localhost") || !strcasecmp(host, "localhost."))
		return 1;
	if (inet_pton(AF_INET, host, bin) == 1)
		return bin[0] == 127;
	if (inet_pton(AF_INET6, host, bin) == 1) {
		static const unsigned char v6lo[16] = { [15] = 1 };
		static const unsigned char v4map[12] = { [10] = 0xff, [11] = 0xff };
		if (!memcmp(bin, v6lo, 16))
			return 1;
		return !memcmp(bin, v4map, 12) && bin[12] == 127;
	}
	return 0;
}

int url_tls_resolve(const struct imap_url *u, enum url_tls asked, enum url_tls *mode_r,
		    struct err *e)
{
	enum url_tls m = asked;
	/* imap:// to a loopback address is plaintext unless asked otherwise:
	 * nothing crosses a network, and local test servers rarely hold a
	 * certificate for 127.0.0.1. Anywhere else STARTTLS is required. */
	if (m == URL_TLS_DEFAULT)
		m = u->imaps ? URL_TLS_IMPLICIT
		    : url_host_is_loopback(u->host) ? URL_TLS_NONE : URL_TLS_STARTTLS;
	if (u->imaps && m != URL_TLS_IMPLICIT)
		return err_set(e, ERR_USAGE, "imaps:// means implicit TLS; use imap:// with "
			       "--tls %s", url_tls_name(m));
	if (m == URL_TLS_NONE && !url_host_is_loopback(u->host))
		return err_set(e, ERR_USAGE, "refusing plaintext IMAP to '%s': not a loopback "
			       "address, the password would cross the network in clear",
			       u->host);
	*mode_r = m;
	return 0;
}

unsigned url_port(const struct imap_url *u, enum url_tls mode)
{
	if (u->port_given)
		return u->port;
	return mode == URL_TLS_IMPLICIT ? 993 : 143;
}
