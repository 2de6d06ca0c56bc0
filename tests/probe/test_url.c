/*
 * test_url.c — imap:// / imaps:// parsing and TLS mode choice, table-driven.
 */
#include <stdlib.h>

#include "url.h"
#include "testlib.h"

static const struct {
	const char *in;
	int ok;
	const char *user, *host;
	unsigned port;
	int imaps;
} cases[] = {
	{ "imap://alice@localhost", 1, "alice", "localhost", 143, 0 },
	{ "imaps://alice@mail.example.com", 1, "alice", "mail.example.com", 993, 1 },
	{ "imap://alice@localhost:20343", 1, "alice", "localhost", 20343, 0 },
	{ "IMAPS://bob@host:1/", 1, "bob", "host", 1, 1 },
	{ "imap://me%40example.com@host", 1, "me@example.com", "host", 143, 0 },
	{ "imap://me@example.com@host", 1, "me@example.com", "host", 143, 0 },
	{ "imap://u%2fx@host", 1, "u/x", "host", 143, 0 },
	{ "imap://u@[::1]", 1, "u", "::1", 143, 0 },
	{ "imaps://u@[::1]:9993", 1, "u", "::1", 9993, 1 },
	{ "imap://u@[2001:db8::1]:143/", 1, "u", "2001:db8::1", 143, 0 },
	{ "imap://u@127.0.0.1:20343", 1, "u", "127.0.0.1", 20343, 0 },
	{ "pop3://u@host", 0, NULL, NULL, 0, 0 },
	{ "imap://host", 0, NULL, NULL, 0, 0 },
	{ "imap://@host", 0, NULL, NULL, 0, 0 },
	{ "imap://u:secret@host", 0, NULL, NULL, 0, 0 },
	{ "imap://u@", 0, NULL, NULL, 0, 0 },
	{ "imap://u@host:", 0, NULL, NULL, 0, 0 },
	{ "imap://u@host:0", 0, NULL, NULL, 0, 0 },
	{ "imap://u@host:65536", 0, NULL, NULL, 0, 0 },
	{ "imap://u@host:12a", 0, NULL, NULL, 0, 0 },
	{ "imap://u@host/INBOX", 0, NULL, NULL, 0, 0 },
	{ "imap://u@host?x", 0, NULL, NULL, 0, 0 },
	{ "imap://u@[::1", 0, NULL, NULL, 0, 0 },
	{ "imap://u@[zz::1]", 0, NULL, NULL, 0, 0 },
	{ "imap://u@[::1]x", 0, NULL, NULL, 0, 0 },
	{ "imap://u%4@host", 0, NULL, NULL, 0, 0 },
	{ "imap://u%0a@host", 0, NULL, NULL, 0, 0 },
	{ "imap://u@ho st", 0, NULL, NULL, 0, 0 },
	{ "imap://u@::1", 0, NULL, NULL, 0, 0 },
};

static const struct {
	const char *url;
	const char *asked; /* NULL: default */
	int ok;
	enum url_tls mode;
} tls_cases[] = {
	{ "imap://u@mail.example.com", NULL, 1, URL_TLS_STARTTLS },
	{ "imaps://u@mail.example.com", NULL, 1, URL_TLS_IMPLICIT },
	{ "imap://u@mail.example.com", "implicit", 1, URL_TLS_IMPLICIT },
	{ "imap://u@mail.example.com", "none", 0, 0 },
	{ "imap://u@192.0.2.1", "none", 0, 0 },
	{ "imap://u@[2001:db8::1]", "none", 0, 0 },
	{ "imap://u@localhost", "none", 1, URL_TLS_NONE },
	{ "imap://u@127.0.0.1", "none", 1, URL_TLS_NONE },
	{ "imap://u@127.1.2.3", "NONE", 1, URL_TLS_NONE },
	{ "imap://u@[::1]", "none", 1, URL_TLS_NONE },
	{ "imap://u@[::ffff:127.0.0.1]", "none", 1, URL_TLS_NONE },
	{ "imaps://u@localhost", "starttls", 0, 0 },
	{ "imaps://u@localhost", "none", 0, 0 },
	{ "imap://u@localhost", "starttls", 1, URL_TLS_STARTTLS },
	/* Loopback: plaintext by default, nothing crosses a network. */
	{ "imap://u@127.0.0.1", NULL, 1, URL_TLS_NONE },
	{ "imap://u@[::1]", NULL, 1, URL_TLS_NONE },
	{ "imap://u@localhost", NULL, 1, URL_TLS_NONE },
	{ "imaps://u@127.0.0.1", NULL, 1, URL_TLS_IMPLICIT },
};

int main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct imap_url u;
		struct err e = { 0 };
		int rc = url_parse(cases[i].in, &u, &e);
		if (!cases[i].ok) {
			CHECK_INT(rc, -1);
			CHECK_INT(e.cls, ERR_USAGE);
			CHECK(e.msg[0] != '\0');
			if (rc == 0)
				fprintf(stderr, "accepted: %s\n", cases[i].in);
			url_free(&u);
			continue;
		}
		CHECK_INT(rc, 0);
		if (rc < 0) {
			fprintf(stderr, "refused: %s: %s\n", cases[i].in, e.msg);
			continue;
		}
		CHECK_STR(u.user, cases[i].user);
		CHECK_STR(u.host, cases[i].host);
		CHECK_INT(u.port, cases[i].port);
		CHECK_INT(u.imaps, cases[i].imaps);
		url_free(&u);
	}
	for (size_t i = 0; i < sizeof tls_cases / sizeof tls_cases[0]; i++) {
		struct imap_url u;
		struct err e = { 0 };
		enum url_tls asked = URL_TLS_DEFAULT, mode = URL_TLS_DEFAULT;
		CHECK_INT(url_parse(tls_cases[i].url, &u, &e), 0);
		if (tls_cases[i].asked)
			CHECK_INT(url_tls_parse(tls_cases[i].asked, &asked), 0);
		int rc = url_tls_resolve(&u, asked, &mode, &e);
		CHECK_INT(rc, tls_cases[i].ok ? 0 : -1);
		if (tls_cases[i].ok)
			CHECK_INT(mode, tls_cases[i].mode);
		else
			CHECK_INT(e.cls, ERR_USAGE);
		url_free(&u);
	}
	enum url_tls m;
	CHECK_INT(url_tls_parse("plain", &m), -1);
	struct imap_url u;
	struct err e;
	CHECK_INT(url_parse("imap://u@h", &u, &e), 0);
	CHECK_INT(url_port(&u, URL_TLS_IMPLICIT), 993);
	CHECK_INT(url_port(&u, URL_TLS_STARTTLS), 143);
	url_free(&u);
	CHECK_INT(url_parse("imap://u@h:1143", &u, &e), 0);
	CHECK_INT(url_port(&u, URL_TLS_IMPLICIT), 1143);
	url_free(&u);
	CHECK_STR(url_tls_name(URL_TLS_STARTTLS), "starttls");
	return test_done();
}
