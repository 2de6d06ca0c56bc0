/*
 * test_oauth.c — OAUTHBEARER and XOAUTH2 responses byte for byte (RFC 7628's
 * example layout), the answer to a server's error challenge and the status
 * kept from it, and what a response cannot carry.
 */
#include <string.h>

#include "imap/imap_oauth.h"
#include "testlib.h"

static const struct {
	enum imap_oauth_kind k;
	const char *user, *token, *host, *port, *want;
} initial[] = {
	{ IMAP_OAUTH_BEARER, "user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
	  "server.example.com", "143",
	  "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
	  "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01" },
	{ IMAP_OAUTH_BEARER, "a,b=c", "t", NULL, NULL, "n,a=a=2Cb=3Dc,\x01" "auth=Bearer t\x01\x01" },
	{ IMAP_OAUTH_XOAUTH2, "someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
	  "h", "993",
	  "user=someuser@example.com\x01" "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
	  "\x01\x01" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof initial / sizeof initial[0]; i++) {
		struct imap_oauth o = { .kind = initial[i].k, .user = initial[i].user,
					.token = initial[i].token, .host = initial[i].host,
					.port = initial[i].port };
		struct buf out = BUF_INIT(4096);
		struct err e;
		CHECK_INT(imap_oauth_step(&o, NULL, 0, &out, &e), 0);
		CHECK_INT(out.len, strlen(initial[i].want));
		CHECK(memcmp(out.data, initial[i].want, out.len) == 0);
		/* the error challenge: answered, its status kept */
		const char *json = "{\"status\":\"invalid_token\",\"scope\":\"mail\"}";
		buf_reset(&out);
		CHECK_INT(imap_oauth_step(&o, json, strlen(json), &out, &e), 0);
		CHECK_INT(out.len, initial[i].k == IMAP_OAUTH_BEARER ? 1 : 0);
		CHECK(initial[i].k != IMAP_OAUTH_BEARER || out.data[0] == 1);
		CHECK(o.refused);
		CHECK_STR(o.status, "invalid_token");
		/* nothing more may come */
		CHECK_INT(imap_oauth_step(&o, json, strlen(json), &out, &e), -1);
		CHECK_INT(e.cls, ERR_PROTO);
		buf_release(&out);
	}
	/* a numeric status, control bytes, no status at all */
	static const struct {
		const char *json, *status;
	} errs[] = {
		{ "{\"status\":\"401\",\"schemes\":\"bearer\"}", "401" },
		{ "{ \"status\" : 400 }", "400" },
		{ "{\"status\":\"x\x01y\x7f\"}", "x?y?" },
		{ "{\"scope\":\"mail\"}", "" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		struct imap_oauth o = { .kind = IMAP_OAUTH_XOAUTH2, .user = "u", .token = "t" };
		struct buf out = BUF_INIT(4096);
		struct err e;
		CHECK_INT(imap_oauth_step(&o, NULL, 0, &out, &e), 0);
		CHECK_INT(imap_oauth_step(&o, errs[i].json, strlen(errs[i].json), &out, &e), 0);
		CHECK_STR(o.status, errs[i].status);
		buf_release(&out);
	}
	/* a token or user name with ^A or a line break cannot be sent */
	static const char *const bad[][2] = { { "u", "t\x01" }, { "u\r\n", "t" }, { "u", "t\n" } };
	for (size_t i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++) {
			struct imap_oauth o = { .kind = k ? IMAP_OAUTH_XOAUTH2 : IMAP_OAUTH_BEARER,
						.user = bad[i][0], .token = bad[i][1] };
			struct buf out = BUF_INIT(4096);
			struct err e;
			CHECK_INT(imap_oauth_step(&o, NULL, 0, &out, &e), -1);
			CHECK_INT(e.cls, ERR_USAGE);
			buf_release(&out);
		}
	CHECK_STR(imap_oauth_mech(IMAP_OAUTH_BEARER), "OAUTHBEARER");
	CHECK_STR(imap_oauth_mech(IMAP_OAUTH_XOAUTH2), "XOAUTH2");
	return test_done();
}
