/*
 * test_name.c — Maildir file names: formatting and parsing, including odd
 * but legal names written by other programs (table-driven).
 */
#include <stdlib.h>
#include <string.h>

#include "maildir/maildir_name.h"
#include "store.h"
#include "testlib.h"

struct parse_case {
	const char *name;
	int rc;
	const char *key;
	int info;
	unsigned sys;
	uint32_t kw;
	const char *extra;
	int has_s, has_w;
	uint64_t s, w;
};

static const struct parse_case parse_cases[] = {
	/* Dovecot */
	{ "1700000000.M123P456Q7.host,S=1234,W=1260:2,Sa", 0,
	  "1700000000.M123P456Q7.host,S=1234,W=1260", 2, MF_SEEN, 1, "", 1, 1, 1234, 1260 },
	{ "1700000000.M1P2.host,W=10,S=9:2,DFRST", 0, "1700000000.M1P2.host,W=10,S=9", 2,
	  MF_DRAFT | MF_FLAGGED | MF_ANSWERED | MF_SEEN | MF_DELETED, 0, "", 1, 1, 9, 10 },
	/* mutt */
	{ "1234567890.12345_1.myhost:2,S", 0, "1234567890.12345_1.myhost", 2, MF_SEEN, 0, "",
	  0, 0, 0, 0 },
	{ "1234567890.12345_1.myhost:2,", 0, "1234567890.12345_1.myhost", 2, 0, 0, "", 0, 0, 0, 0 },
	/* mbsync */
	{ "1600000000.2222_3.box,U=123:2,FS", 0, "1600000000.2222_3.box,U=123", 2,
	  MF_FLAGGED | MF_SEEN, 0, "", 0, 0, 0, 0 },
	/* new/ without info */
	{ "1600000000.2222_3.box", 0, "1600000000.2222_3.box", 0, 0, 0, "", 0, 0, 0, 0 },
	{ "1600000000.2222_3.box,S=77", 0, "1600000000.2222_3.box,S=77", 0, 0, 0, "", 1, 0, 77, 0 },
	/* legacy :1, (experimental semantics: no flags taken) */
	{ "123.abc:1,xyz", 0, "123.abc", 1, 0, 0, "", 0, 0, 0, 0 },
	/* passed flag and unknown uppercase letters preserved */
	{ "1.2.h:2,PS", 0, "1.2.h", 2, MF_SEEN, 0, "P", 0, 0, 0, 0 },
	{ "1.2.h:2,ZSXbd", 0, "1.2.h", 2, MF_SEEN, (1u << 1) | (1u << 3), "XZ", 0, 0, 0, 0 },
	{ "1.2.h:2,az", 0, "1.2.h", 2, 0, 1u | (1u << 25), "", 0, 0, 0, 0 },
	/* colon in the unique part (escaped hosts are not, but be tolerant) */
	{ "1.2.h:x:2,S", 0, "1.2.h:x", 2, MF_SEEN, 0, "", 0, 0, 0, 0 },
	/* ,S= with a non-number is not a size */
	{ "1.2.h,S=abc:2,", 0, "1.2.h,S=abc", 2, 0, 0, "", 0, 0, 0, 0 },
	{ "1.2.h,S=12x:2,", 0, "1.2.h,S=12x", 2, 0, 0, "", 0, 0, 0, 0 },
	/* not messages */
	{ ".hidden", -1, NULL, 0, 0, 0, "", 0, 0, 0, 0 },
	{ "", -1, NULL, 0, 0, 0, "", 0, 0, 0, 0 },
	{ ":2,S", -1, NULL, 0, 0, 0, "", 0, 0, 0, 0 },
};

static void test_parse(void)
{
	for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case *c = &parse_cases[i];
		struct maildir_name p;
		int rc = maildir_name_parse(c->name, &p);
		CHECK_INT(rc, c->rc);
		if (rc < 0 || c->rc < 0)
			continue;
		char key[256];
		snprintf(key, sizeof key, "%.*s", (int)p.keylen, c->name);
		CHECK_STR(key, c->key);
		CHECK_INT(p.info, c->info);
		CHECK_INT(p.sys, c->sys);
		CHECK_INT(p.kw, c->kw);
		CHECK_STR(p.extra, c->extra);
		CHECK_INT(p.has_s, c->has_s);
		CHECK_INT(p.has_w, c->has_w);
		CHECK_INT(p.s, c->s);
		CHECK_INT(p.w, c->w);
	}
}

struct info_case {
	unsigned sys;
	uint32_t kw;
	const char *extra;
	const char *want;
};

static const struct info_case info_cases[] = {
	{ 0, 0, "", ":2," },
	{ MF_SEEN, 0, "", ":2,S" },
	{ MF_SEEN | MF_DRAFT | MF_FLAGGED | MF_ANSWERED | MF_DELETED, 0, "", ":2,DFRST" },
	{ MF_SEEN | MF_ANSWERED, 0, "P", ":2,PRS" },
	{ MF_SEEN, 1u | (1u << 2), "", ":2,Sac" },
	{ MF_FLAGGED, 1u << 25, "XZ", ":2,FXZz" },
	{ 0, 0, "SS", ":2,S" },          /* duplicates collapse */
	{ 0, 0, "a/:", ":2,a" },         /* never '/' or ':' */
};

static void test_info(void)
{
	for (size_t i = 0; i < sizeof info_cases / sizeof info_cases[0]; i++) {
		struct buf b;
		buf_init(&b, 0);
		CHECK_INT(maildir_name_info(&b, info_cases[i].sys, info_cases[i].kw,
					    info_cases[i].extra), 0);
		CHECK_STR(b.data, info_cases[i].want);
		buf_release(&b);
	}
}

static void test_base_and_roundtrip(void)
{
	struct buf b;
	buf_init(&b, 0);
	CHECK_INT(maildir_name_base(&b, 1700000000, 42, 1234, 7, "my/host:x,y"), 0);
	CHECK_STR(b.data, "1700000000.M42P1234Q7.my\\057host\\072x\\054y");
	CHECK_INT(maildir_name_sizes(&b, 100, 104), 0);
	size_t keylen = b.len;
	CHECK_INT(maildir_name_info(&b, MF_SEEN | MF_FLAGGED, 1u << 4, "P"), 0);
	CHECK_STR(b.data, "1700000000.M42P1234Q7.my\\057host\\072x\\054y,S=100,W=104:2,FPSe");
	struct maildir_name p;
	CHECK_INT(maildir_name_parse(b.data, &p), 0);
	CHECK_INT(p.keylen, keylen);
	CHECK_INT(p.sys, MF_SEEN | MF_FLAGGED);
	CHECK_INT(p.kw, 1u << 4);
	CHECK_STR(p.extra, "P");
	CHECK(p.has_s && p.s == 100 && p.has_w && p.w == 104);
	/* re-flagging keeps the key and the extras */
	struct buf r;
	buf_init(&r, 0);
	buf_add(&r, b.data, p.keylen);
	maildir_name_info(&r, MF_SEEN, 0, p.extra);
	struct maildir_name q;
	CHECK_INT(maildir_name_parse(r.data, &q), 0);
	CHECK_INT(q.keylen, p.keylen);
	CHECK(strncmp(r.data, b.data, p.keylen) == 0);
	CHECK_STR(q.extra, "P");
	buf_release(&r);
	buf_reset(&b);
	CHECK_INT(maildir_name_base(&b, 1, 2, 3, 4, NULL), 0);
	CHECK_STR(b.data, "1.M2P3Q4.localhost");
	buf_release(&b);
}

int main(void)
{
	test_parse();
	test_info();
	test_base_and_roundtrip();
	return test_done();
}
