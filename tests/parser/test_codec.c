/*
 * test_codec.c — modified UTF-7 both ways (valid and invalid tables), uid
 * sets (parse, iterate, bounded format) and IMAP dates (parse, format).
 * One executable, three tests selected by argv[1].
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_date.h"
#include "imap/imap_uidset.h"
#include "imap/imap_utf7.h"
#include "testlib.h"

static void test_utf7(void)
{
	static const struct {
		const char *utf7, *utf8;
	} ok[] = {
		{ "INBOX", "INBOX" },
		{ "", "" },
		{ "&-", "&" },
		{ "A&-B", "A&B" },
		{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
		{ "&AOQ-", "\xc3\xa4" },
		{ "Entw&APw-rfe", "Entw\xc3\xbc" "rfe" },
		{ "&AOQA9gD8-", "\xc3\xa4\xc3\xb6\xc3\xbc" },
		{ "&AOQ-&-", "\xc3\xa4&" },
		{ "&2D3eAA-", "\xf0\x9f\x98\x80" },         /* U+1F600, a surrogate pair */
		{ "&2D3eANg93gE-", "\xf0\x9f\x98\x80\xf0\x9f\x98\x81" },
		{ "&AAk-", "\t" },
		{ "&AH8-", "\x7f" },
		{ "a b", "a b" },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct buf b = BUF_INIT(4096);
		struct err e;
		CHECK_INT(imap_utf7_decode(ok[i].utf7, strlen(ok[i].utf7), &b, &e), 0);
		CHECK_STR(b.data, ok[i].utf8);
		buf_reset(&b);
		CHECK_INT(imap_utf7_encode(ok[i].utf8, strlen(ok[i].utf8), &b, &e), 0);
		CHECK_STR(b.data, ok[i].utf7);
		buf_release(&b);
	}
	static const char *const bad7[] = {
		"&",            /* unterminated */
		"&AOQ",         /* unterminated */
		"&AOQ-&AOQ-",   /* adjacent shifts */
		"&AGE-",        /* 'a' inside a shift */
		"&AOR-",        /* non-zero padding bits */
		"&AOQA-",       /* leftover 6+ bits */
		"&A=Q-",        /* bad base64 */
		"&AO/-",        /* '/' is not modified base64 */
		"&2D0-",        /* lone high surrogate */
		"&3gA-",        /* lone low surrogate */
		"&2D3YPQ-",     /* high followed by high */
		"&AAA-",        /* NUL */
		"\xc3\xa4",     /* raw 8-bit */
		"a\tb",         /* control char */
		"&--",          /* fine "&-" then '-'... is valid; see below */
	};
	for (size_t i = 0; i + 1 < sizeof bad7 / sizeof bad7[0]; i++) {
		struct buf b = BUF_INIT(4096);
		struct err e;
		buf_addstr(&b, "keep");
		CHECK_INT(imap_utf7_decode(bad7[i], strlen(bad7[i]), &b, &e), -1);
		CHECK_INT(e.cls, ERR_PROTO);
		CHECK_STR(b.data, "keep");
		buf_release(&b);
	}
	{
		struct buf b = BUF_INIT(4096);
		struct err e;
		CHECK_INT(imap_utf7_decode("&--", 3, &b, &e), 0);
		CHECK_STR(b.data, "&-");
		CHECK_INT(imap_utf7_decode("a\0b", 3, &b, &e), -1);
		buf_release(&b);
	}
	static const char *const bad8[] = {
		"\xc0\xaf",             /* overlong '/' */
		"\xe0\x80\xaf",         /* overlong */
		"\xed\xa0\x80",         /* surrogate */
		"\xf4\x90\x80\x80",     /* > U+10FFFF */
		"\xc3",                 /* truncated */
		"a\x80",                /* stray continuation */
		"\xff",
		"\xe6\x97",             /* truncated 3-byte */
	};
	for (size_t i = 0; i < sizeof bad8 / sizeof bad8[0]; i++) {
		struct buf b = BUF_INIT(4096);
		struct err e;
		CHECK_INT(imap_utf7_encode(bad8[i], strlen(bad8[i]), &b, &e), -1);
		CHECK_INT(e.cls, ERR_USAGE);
		CHECK_INT(b.len, 0);
		buf_release(&b);
	}
	{
		struct buf b = BUF_INIT(4096);
		struct err e;
		CHECK_INT(imap_utf7_encode("a\0b", 3, &b, &e), -1);
		CHECK_INT(imap_utf7_encode("\xc3\xa4\0", 3, &b, &e), -1); /* NUL last */
		buf_release(&b);
		/* the cap of the output buffer is honoured */
		struct buf small = BUF_INIT(4);
		CHECK_INT(imap_utf7_encode("\xc3\xa4\xc3\xa4", 4, &small, &e), -1);
		CHECK_INT(imap_utf7_decode("&AOQA9gD8-", 10, &small, &e), -1);
		buf_release(&small);
	}
	CHECK(imap_utf7_needs_encoding("a&b", 3));
	CHECK(imap_utf7_needs_encoding("\xc3\xa4", 2));
	CHECK(!imap_utf7_needs_encoding("INBOX/x y", 9));
}

static void fmt_all(const uint32_t *uids, size_t n, size_t max, const char *want)
{
	struct buf out = BUF_INIT(BUF_MAX_DEFAULT);
	struct err e;
	size_t pos = 0;
	while (pos < n) {
		size_t used;
		if (out.len)
			buf_addch(&out, '|');
		size_t before = out.len;
		CHECK_INT(imap_uidset_format(uids + pos, n - pos, max, &out, &used, &e), 0);
		CHECK(used > 0);
		if (max)
			CHECK(out.len - before <= max);
		if (!used)
			break;
		pos += used;
	}
	CHECK_STR(out.data, want);
	buf_release(&out);
}

static void test_uidset(void)
{
	static const struct {
		const char *in;
		unsigned flags;
		int ok;
		uint64_t count;
	} t[] = {
		{ "1", 0, 1, 1 },
		{ "1:40,42,50:90", 0, 1, 82 },
		{ "5:3", 0, 1, 3 },
		{ "4294967295", 0, 1, 1 },
		{ "4294967296", 0, 0, 0 },
		{ "0", 0, 0, 0 },
		{ "01", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "1,", 0, 0, 0 },
		{ ",1", 0, 0, 0 },
		{ "1::2", 0, 0, 0 },
		{ "1:", 0, 0, 0 },
		{ "1 2", 0, 0, 0 },
		{ "-1", 0, 0, 0 },
		{ "1:*", 0, 0, 0 },
		{ "1:*", IMAP_UIDSET_ALLOW_STAR, 1, 4294967295u },
		{ "*", IMAP_UIDSET_ALLOW_STAR, 1, 1 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct imap_uidset s;
		struct err e;
		int r = imap_uidset_parse(&s, t[i].in, t[i].flags, 0, &e);
		CHECK_INT(r, t[i].ok ? 0 : -1);
		if (r == 0)
			CHECK_INT(imap_uidset_count(&s), t[i].count);
		else
			CHECK_INT(e.cls, ERR_PROTO);
		imap_uidset_free(&s);
	}
	/* bounded number of ranges */
	struct imap_uidset s;
	struct err e;
	CHECK_INT(imap_uidset_parse(&s, "1,3,5", 0, 3, &e), 0);
	imap_uidset_free(&s);
	CHECK_INT(imap_uidset_parse(&s, "1,3,5,7", 0, 3, &e), -1);
	CHECK_INT(e.cls, ERR_LIMIT);
	imap_uidset_free(&s);

	/* iteration keeps the sent order (COPYUID pairs by position) */
	CHECK_INT(imap_uidset_parse(&s, "7,2:4,4294967295", 0, 0, &e), 0);
	struct imap_uidset_iter it;
	uint32_t uid, got[8];
	size_t n = 0;
	imap_uidset_iter_init(&it, &s);
	while (n < 8 && imap_uidset_iter_next(&it, &uid))
		got[n++] = uid;
	CHECK_INT(n, 5);
	CHECK_INT(got[0], 7);
	CHECK_INT(got[1], 2);
	CHECK_INT(got[3], 4);
	CHECK_INT(got[4], 4294967295u);
	CHECK(imap_uidset_contains(&s, 3));
	CHECK(!imap_uidset_contains(&s, 5));
	imap_uidset_free(&s);

	/* format */
	static const uint32_t u1[] = { 1, 2, 3, 5, 7, 8, 9, 9, 10, 20 };
	fmt_all(u1, 10, 0, "1:3,5,7:10,20");
	fmt_all(u1, 10, 21, "1:3,5,7:10,20");
	static const uint32_t u2[] = { 1000000001, 1000000003, 1000000005, 4294967294, 4294967295 };
	fmt_all(u2, 5, 21, "1000000001,1000000003|1000000005|4294967294:4294967295");
	fmt_all(u2, 5, 22, "1000000001,1000000003|1000000005|4294967294:4294967295");
	fmt_all(u2, 5, 32, "1000000001,1000000003,1000000005|4294967294:4294967295");
	struct buf out = BUF_INIT(BUF_MAX_DEFAULT);
	size_t used;
	static const uint32_t uns[] = { 3, 2 };
	CHECK_INT(imap_uidset_format(uns, 2, 0, &out, &used, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
	CHECK_INT(out.len, 0);
	static const uint32_t zero[] = { 0 };
	CHECK_INT(imap_uidset_format(zero, 1, 0, &out, &used, &e), -1);
	CHECK_INT(imap_uidset_format(u1, 0, 0, &out, &used, &e), -1);
	CHECK_INT(imap_uidset_format(u1, 1, 20, &out, &used, &e), -1);
	buf_release(&out);
}

static void test_date(void)
{
	static const struct {
		const char *in;
		int ok;
		long long t;
	} t[] = {
		{ "17-Jul-1996 02:44:25 -0700", 1, 837596665 },
		{ " 7-Jul-1996 02:44:25 -0700", 1, 836732665 },
		{ "7-Jul-1996 02:44:25 -0700", 1, 836732665 },
		{ "07-jul-1996 02:44:25 -0700", 1, 836732665 },
		{ "01-Jan-1970 00:00:00 +0000", 1, 0 },
		{ "01-Jan-1970 01:00:00 +0100", 1, 0 },
		{ "29-Feb-2024 23:59:59 +0000", 1, 1709251199 },
		{ "31-Dec-1969 23:59:59 +0000", 1, -1 },
		{ "01-Mar-2100 00:00:00 +0000", 1, 4107542400LL },
		{ "29-Feb-2023 00:00:00 +0000", 0, 0 },
		{ "29-Feb-2100 00:00:00 +0000", 0, 0 },
		{ "32-Jan-2020 00:00:00 +0000", 0, 0 },
		{ "00-Jan-2020 00:00:00 +0000", 0, 0 },
		{ "01-Foo-2020 00:00:00 +0000", 0, 0 },
		{ "01-Jan-2020 24:00:00 +0000", 0, 0 },
		{ "01-Jan-2020 00:60:00 +0000", 0, 0 },
		{ "01-Jan-2020 00:00:00 +0060", 0, 0 },
		{ "01-Jan-2020 00:00:00", 0, 0 },
		{ "01-Jan-2020 00:00:00 0000", 0, 0 },
		{ "01-Jan-2020 00:00:00 +0000 ", 0, 0 },
		{ "01-Jan-20 00:00:00 +0000", 0, 0 },
		{ "1-Jan-2020  0:00:00 +0000", 0, 0 },
		{ "", 0, 0 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		time_t v = 12345;
		int r = imap_date_time_parse(t[i].in, &v);
		CHECK_INT(r, t[i].ok ? 0 : -1);
		if (r == 0)
			CHECK_INT(v, t[i].t);
		if (r != (t[i].ok ? 0 : -1))
			fprintf(stderr, "date case '%s'\n", t[i].in);
	}
	char buf[IMAP_DATE_TIME_LEN + 1], day[IMAP_DATE_LEN + 1];
	CHECK_INT(imap_date_time_format(837596665, -420, buf), 0);
	CHECK_STR(buf, "17-Jul-1996 02:44:25 -0700");
	CHECK_INT(imap_date_time_format(836732665, 0, buf), 0);
	CHECK_STR(buf, "07-Jul-1996 09:44:25 +0000");
	CHECK_INT(imap_date_time_format(0, 330, buf), 0);
	CHECK_STR(buf, "01-Jan-1970 05:30:00 +0530");
	CHECK_INT(imap_date_time_format(0, 24 * 60, buf), -1);
	time_t back;
	CHECK_INT(imap_date_time_parse(buf, &back), 0);
	CHECK_INT(back, 0);
	CHECK_INT(imap_date_time_format(1709251199, 0, buf), 0);
	CHECK_INT(imap_date_time_parse(buf, &back), 0);
	CHECK_INT(back, 1709251199);
	CHECK_INT(imap_date_format(1709251199, day), 0);
	CHECK_STR(day, "29-Feb-2024");
	CHECK_INT(imap_date_parse("29-Feb-2024", &back), 0);
	CHECK_INT(back, 1709164800);
	CHECK_INT(imap_date_parse("1-Mar-2024", &back), 0);
	CHECK_INT(back, 1709251200);
	CHECK_INT(imap_date_parse(" 1-Mar-2024", &back), -1);
	CHECK_INT(imap_date_parse("1-Mar-2024 ", &back), -1);
}

int main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "all";
	int all = strcmp(which, "all") == 0;
	if (all || strcmp(which, "utf7") == 0)
		test_utf7();
	if (all || strcmp(which, "uidset") == 0)
		test_uidset();
	if (all || strcmp(which, "date") == 0)
		test_date();
	return test_done();
}
