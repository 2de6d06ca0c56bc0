/*
 * test_journal_basic.c — the journal's records round trip: meta, mailbox
 * pairs, message pairs (flag sets as text, fingerprints), intents, keyword
 * overflow; deleting a mailbox pair cascades; transactions group and roll
 * back; steps are counted. Scenario by argv[1]: roundtrip, cascade, tx.
 */
#include "jtest.h"

#include <inttypes.h>

#include "lib/banned.h"

/* Flag sets as the flagset_format text and back (table-driven). */
static const struct {
	unsigned sys;
	const char *kw[4];
	const char *text;
} flag_cases[] = {
	{ 0, { NULL }, "" },
	{ MF_SEEN, { NULL }, "\\Seen" },
	{ MF_SEEN | MF_FLAGGED, { "$Junk", NULL }, "\\Flagged \\Seen $Junk" },
	{ MF_FLAGS_ALL, { "$Forwarded", "$label1", "work", NULL },
	  "\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $label1 work" },
	{ 0, { "a", "b", NULL }, "a b" },
};
#define NFLAG_CASES (sizeof flag_cases / sizeof flag_cases[0])

static void make_flags(size_t i, struct flagset *f)
{
	flagset_init(f);
	f->sys = flag_cases[i].sys;
	for (int k = 0; flag_cases[i].kw[k]; k++)
		flagset_add_kw(f, flag_cases[i].kw[k]);
}

static int64_t add_box(struct journal *j, const char *rname, const char *lname)
{
	struct journal_box b = { 0 };
	struct err e = { 0 };
	b.rname = (char *)rname;
	b.lname = (char *)lname;
	CHECK_INT(journal_box_put(j, &b, &e), 0);
	CHECK(b.id > 0);
	return b.id;
}

static void test_meta(struct journal *j)
{
	struct err e = { 0 };
	char *v = (char *)"x";
	CHECK_INT(journal_meta_get(j, "remote", &v, &e), 0);
	CHECK(v == NULL);
	CHECK_INT(journal_meta_set(j, "remote", "imap://u@h", &e), 0);
	CHECK_INT(journal_meta_set(j, "local", "maildir:/m", &e), 0);
	CHECK_INT(journal_meta_set(j, "remote", "imap://u@h2", &e), 0);
	CHECK_INT(journal_meta_get(j, "remote", &v, &e), 0);
	CHECK_STR(v, "imap://u@h2");
	free(v);
	CHECK_INT(journal_meta_set(j, "local", NULL, &e), 0);
	CHECK_INT(journal_meta_get(j, "local", &v, &e), 0);
	CHECK(v == NULL);
}

static void test_boxes(struct journal *j)
{
	struct err e = { 0 };
	struct journal_box b = { 0 };
	b.rname = (char *)"Archive/2024 é";
	b.lname = (char *)"Archive/2024 é";
	snprintf(b.rident, sizeof b.rident, "uv:%u", 4000000000u);
	snprintf(b.lident, sizeof b.lident, "f-1234");
	b.uidvalidity = 4000000000u;
	b.uidnext = 4294967295u;
	b.highestmodseq = UINT64_C(9223372036854775807);
	snprintf(b.lmarker, sizeof b.lmarker, "1700000000.5:1700000001.7");
	b.l_uidvalidity = 7;
	b.l_uidnext = 8;
	b.l_highestmodseq = UINT64_C(18446744073709551615); /* bits survive */
	b.complete = 1;
	CHECK_INT(journal_box_put(j, &b, &e), 0);
	int64_t id = b.id;
	CHECK(id > 0);
	int64_t inbox = add_box(j, "INBOX", "INBOX");

	struct journal_box *v;
	size_t n;
	CHECK_INT(journal_boxes(j, &v, &n, &e), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_INT(v[0].id, id);
		CHECK_STR(v[0].rname, b.rname);
		CHECK_STR(v[0].lname, b.lname);
		CHECK_STR(v[0].rident, "uv:4000000000");
		CHECK_STR(v[0].lident, "f-1234");
		CHECK(v[0].uidvalidity == 4000000000u);
		CHECK(v[0].uidnext == 4294967295u);
		CHECK(v[0].highestmodseq == UINT64_C(9223372036854775807));
		CHECK_STR(v[0].lmarker, b.lmarker);
		CHECK_INT(v[0].l_uidvalidity, 7);
		CHECK_INT(v[0].l_uidnext, 8);
		CHECK(v[0].l_highestmodseq == UINT64_C(18446744073709551615));
		CHECK_INT(v[0].complete, 1);
		CHECK_INT(v[1].id, inbox);
		CHECK_STR(v[1].rident, "");
		CHECK_INT(v[1].complete, 0);
	}
	journal_boxes_free(v, n);

	/* Update by id, rename included. */
	b.rname = (char *)"Archive/2025";
	b.uidnext = 12;
	b.complete = 0;
	CHECK_INT(journal_box_put(j, &b, &e), 0);
	CHECK_INT(b.id, id);
	CHECK_INT(journal_boxes(j, &v, &n, &e), 0);
	CHECK(n == 2 && strcmp(v[0].rname, "Archive/2025") == 0 && v[0].uidnext == 12 &&
	      v[0].complete == 0);
	journal_boxes_free(v, n);

	/* Unique names; unknown id; missing name. */
	struct journal_box dup = { 0 };
	dup.rname = (char *)"INBOX";
	dup.lname = (char *)"Other";
	CHECK_INT(journal_box_put(j, &dup, &e), -1);
	CHECK_INT(e.cls, ERR_EXISTS);
	CHECK(strstr(e.msg, "'INBOX'") != NULL);
	CHECK_INT(dup.id, 0);
	dup.rname = (char *)"Other";
	dup.lname = (char *)"INBOX";
	CHECK_INT(journal_box_put(j, &dup, &e), -1);
	CHECK_INT(e.cls, ERR_EXISTS);
	dup.id = 999;
	dup.lname = (char *)"Other";
	CHECK_INT(journal_box_put(j, &dup, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	dup.id = 0;
	dup.lname = NULL;
	CHECK_INT(journal_box_put(j, &dup, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
}

struct walked {
	int n;
	char base[4][64];
};

static int walk_one(void *ctx, const char *rkey, const char *lkey, const char *base)
{
	struct walked *w = ctx;
	(void)rkey;
	(void)lkey;
	if (w->n < 4)
		snprintf(w->base[w->n], sizeof w->base[0], "%s", base);
	w->n++;
	return 0;
}

/* journal_pair_set_base keeps the changed base beside the pair (v3): every
 * reader sees it, a later journal_pair_put replaces it, deleting the pair
 * (or its mailbox) drops it, and a missing pair is ERR_NOTFOUND. */
static void test_pair_base(struct journal *j, const char *path)
{
	struct err e = { 0 };
	int64_t box = add_box(j, "Base", "Base");
	int64_t ids[3];
	for (int i = 0; i < 3; i++) {
		struct journal_pair p = { 0 };
		char rk[16], lk[16];
		snprintf(rk, sizeof rk, "%d", i + 1);
		snprintf(lk, sizeof lk, "k%d", i);
		p.box_id = box;
		p.rkey = rk;
		p.lkey = lk;
		flagset_parse(&p.base, "\\Seen");
		CHECK_INT(journal_pair_put(j, &p, &e), 0);
		ids[i] = p.id;
		flagset_free(&p.base);
	}
	struct flagset f;
	flagset_init(&f);
	flagset_parse(&f, "\\Flagged $Later");
	CHECK_INT(journal_pair_set_base(j, ids[1], &f, &e), 0);
	CHECK_INT(journal_pair_set_base(j, ids[1], &f, &e), 0); /* twice: one row */
	CHECK_INT(journal_pair_set_base(j, ids[2] + 1000, &f, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM pair_base"), 1);

	struct journal_pair *v;
	size_t n;
	CHECK_INT(journal_pairs(j, box, &v, &n, &e), 0);
	CHECK(n == 3 && flagset_equal(&v[1].base, &f) && v[0].base.sys == MF_SEEN &&
	      !v[0].base.nkw);
	journal_pairs_free(v, n);
	const char *rk[] = { "2" };
	CHECK_INT(journal_pairs_some(j, box, rk, 1, NULL, 0, &v, &n, &e), 0);
	CHECK(n == 1 && flagset_equal(&v[0].base, &f));
	journal_pairs_free(v, n);
	CHECK_INT(journal_pairs_by_key(j, box, 1, "k1", &v, &n, &e), 0);
	CHECK(n == 1 && flagset_equal(&v[0].base, &f));
	struct walked w = { 0 };
	CHECK_INT(journal_pairs_walk(j, box, walk_one, &w, &e), 0);
	CHECK_INT(w.n, 3);
	CHECK_STR(w.base[0], "\\Seen");
	CHECK_STR(w.base[1], "\\Flagged $Later");
	/* the same rows one at a time, then the end */
	struct journal_cursor *cur;
	const char *crk, *clk, *cbase;
	CHECK_INT(journal_cursor_open(j, box, &cur, &e), 0);
	CHECK_INT(journal_cursor_next(cur, &crk, &clk, &cbase, &e), 1);
	CHECK_STR(cbase, "\\Seen");
	CHECK_INT(journal_cursor_next(cur, &crk, &clk, &cbase, &e), 1);
	CHECK_STR(cbase, "\\Flagged $Later");
	CHECK_INT(journal_cursor_next(cur, &crk, &clk, &cbase, &e), 1);
	CHECK_INT(journal_cursor_next(cur, &crk, &clk, &cbase, &e), 0);
	journal_cursor_close(&cur);
	CHECK(cur == NULL);

	/* a full update of the pair wins over the kept base */
	flagset_free(&v[0].base);
	flagset_parse(&v[0].base, "\\Answered");
	CHECK_INT(journal_pair_put(j, &v[0], &e), 0);
	journal_pairs_free(v, n);
	CHECK_INT(journal_pairs_by_key(j, box, 1, "k1", &v, &n, &e), 0);
	CHECK(n == 1 && v[0].base.sys == MF_ANSWERED && !v[0].base.nkw);
	journal_pairs_free(v, n);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM pair_base"), 0);

	/* deleting the pair, or its mailbox, takes its kept base along */
	CHECK_INT(journal_pair_set_base(j, ids[0], &f, &e), 0);
	CHECK_INT(journal_pair_set_base(j, ids[2], &f, &e), 0);
	CHECK_INT(journal_pair_delete(j, ids[0], &e), 0);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM pair_base"), 1);
	CHECK_INT(journal_box_delete(j, box, &e), 0);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM pair_base"), 0);
	flagset_free(&f);
}

static void test_pairs(struct journal *j)
{
	struct err e = { 0 };
	int64_t box = add_box(j, "Pairs", "Pairs");
	int64_t ids[NFLAG_CASES];
	for (size_t i = 0; i < NFLAG_CASES; i++) {
		struct journal_pair p = { 0 };
		char rk[16], lk[64];
		snprintf(rk, sizeof rk, "%zu", i + 1);
		snprintf(lk, sizeof lk, "1700000000.M%zuP42.host", i);
		p.box_id = box;
		p.rkey = i == 1 ? NULL : rk;  /* a pending download */
		p.lkey = i == 2 ? NULL : lk;  /* a pending upload */
		make_flags(i, &p.base);
		p.size = 1000 + i;
		p.idate = i == 3 ? -1 : 1700000000 + (int64_t)i;
		p.has_fp = i % 2 == 0;
		memset(p.fp, (int)(0xa0 + i), sizeof p.fp);
		CHECK_INT(journal_pair_put(j, &p, &e), 0);
		ids[i] = p.id;
		flagset_free(&p.base);
	}
	struct journal_pair *v;
	size_t n;
	CHECK_INT(journal_pairs(j, box, &v, &n, &e), 0);
	CHECK_INT(n, NFLAG_CASES);
	for (size_t i = 0; i < n && i < NFLAG_CASES; i++) {
		struct flagset want;
		struct buf t = BUF_INIT(4096);
		make_flags(i, &want);
		CHECK_INT(v[i].id, ids[i]);
		CHECK_INT(v[i].box_id, box);
		CHECK(i == 1 ? v[i].rkey == NULL : v[i].rkey != NULL);
		CHECK(i == 2 ? v[i].lkey == NULL : v[i].lkey != NULL);
		CHECK(flagset_equal(&v[i].base, &want));
		flagset_format(&v[i].base, &t);
		CHECK_STR(t.data, flag_cases[i].text);
		CHECK_INT(v[i].size, 1000 + i);
		CHECK_INT(v[i].idate, i == 3 ? -1 : 1700000000 + (int64_t)i);
		CHECK_INT(v[i].has_fp, i % 2 == 0);
		if (i % 2 == 0)
			CHECK(v[i].fp[0] == 0xa0 + i && v[i].fp[31] == 0xa0 + i);
		buf_release(&t);
		flagset_free(&want);
	}

	/* Update: fill in the missing key, change flags. */
	if (n > 1) {
		free(v[1].rkey);
		v[1].rkey = mf_strdup("77");
		flagset_add_kw(&v[1].base, "$Forwarded");
		CHECK_INT(journal_pair_put(j, &v[1], &e), 0);
	}
	journal_pairs_free(v, n);
	CHECK_INT(journal_pairs(j, box, &v, &n, &e), 0);
	CHECK(n > 1 && v[1].rkey && strcmp(v[1].rkey, "77") == 0 &&
	      flagset_has_kw(&v[1].base, "$Forwarded") && v[1].base.sys == MF_SEEN);
	journal_pairs_free(v, n);

	/* Lookups by key and by fingerprint. */
	CHECK_INT(journal_pairs_by_key(j, box, 0, "3", &v, &n, &e), 0);
	CHECK(n == 1 && v[0].id == ids[2] && v[0].lkey == NULL);
	journal_pairs_free(v, n);
	CHECK_INT(journal_pairs_by_key(j, box, 1, "1700000000.M3P42.host", &v, &n, &e), 0);
	CHECK(n == 1 && v[0].id == ids[3] && v[0].idate == -1);
	journal_pairs_free(v, n);
	CHECK_INT(journal_pairs_by_key(j, box, 1, "nope", &v, &n, &e), 0);
	CHECK(n == 0 && v == NULL);
	journal_pairs_free(v, n);
	/* The fingerprint is stored with the pair (looked up in memory, not by SQL). */
	unsigned char fp[32];
	memset(fp, 0xa4, sizeof fp);
	CHECK_INT(journal_pairs(j, box, &v, &n, &e), 0);
	size_t with_fp = 0;
	for (size_t i = 0; i < n; i++)
		with_fp += v[i].id == ids[4] && v[i].has_fp && !memcmp(v[i].fp, fp, sizeof fp);
	CHECK_INT(with_fp, 1);
	journal_pairs_free(v, n);
	int64_t other = add_box(j, "Pairs2", "Pairs2");
	struct journal_pair moved = { 0 };
	moved.box_id = other;
	moved.has_fp = 1;
	memcpy(moved.fp, fp, sizeof fp);
	CHECK_INT(journal_pair_put(j, &moved, &e), 0);
	CHECK_INT(journal_pairs(j, other, &v, &n, &e), 0);
	CHECK(n == 1 && v[0].id == moved.id && v[0].has_fp && !memcmp(v[0].fp, fp, sizeof fp));
	journal_pairs_free(v, n);

	/* Delete one; deleting again is fine; unknown update / box. */
	CHECK_INT(journal_pair_delete(j, ids[0], &e), 0);
	CHECK_INT(journal_pair_delete(j, ids[0], &e), 0);
	CHECK_INT(journal_pairs(j, box, &v, &n, &e), 0);
	CHECK_INT(n, NFLAG_CASES - 1);
	journal_pairs_free(v, n);
	struct journal_pair bad = { 0 };
	bad.box_id = box;
	bad.id = ids[0];
	CHECK_INT(journal_pair_put(j, &bad, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	bad.id = 0;
	bad.box_id = 424242;
	CHECK_INT(journal_pair_put(j, &bad, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(bad.id, 0);
	CHECK_INT(journal_pairs(j, 424242, &v, &n, &e), 0);
	CHECK_INT(n, 0);
	journal_pairs_free(v, n);
}

static void test_intents(struct journal *j)
{
	struct err e = { 0 };
	int64_t b1 = add_box(j, "I1", "I1"), b2 = add_box(j, "I2", "I2");
	static const struct {
		enum journal_intent_op op;
		int side;
		const char *rkey, *lkey, *data;
		int box2;
	} cases[] = {
		{ INTENT_DOWNLOAD, 1, "17", "1700000000.M1P2.h", NULL, 0 },
		{ INTENT_UPLOAD, 0, NULL, "1700000000.M3P2.h", NULL, 1 },
		{ INTENT_FLAGS, 0, "18", "k", "\\Seen $Junk", 0 },
		{ INTENT_EXPUNGE, 1, NULL, "k2", NULL, 0 },
	};
	int64_t ids[4];
	for (size_t i = 0; i < 4; i++) {
		struct journal_intent in = { 0 };
		in.box_id = cases[i].box2 ? b2 : b1;
		in.op = cases[i].op;
		in.side = cases[i].side;
		in.rkey = (char *)cases[i].rkey;
		in.lkey = (char *)cases[i].lkey;
		in.data = (char *)cases[i].data;
		in.pair_id = (int64_t)i * 10;
		in.uidnext = 100 + (uint32_t)i;
		in.size = 5000 + i;
		in.idate = 1600000000 + (int64_t)i;
		in.has_fp = i != 3;
		memset(in.fp, (int)i + 1, sizeof in.fp);
		CHECK_INT(journal_intent_add(j, &in, &e), 0);
		ids[i] = in.id;
		CHECK(in.id > 0);
	}
	struct journal_intent *v;
	size_t n;
	CHECK_INT(journal_intents(j, 0, &v, &n, &e), 0);
	CHECK_INT(n, 4);
	for (size_t i = 0; i < n && i < 4; i++) {
		CHECK_INT(v[i].id, ids[i]);
		CHECK_INT(v[i].box_id, cases[i].box2 ? b2 : b1);
		CHECK_INT(v[i].op, cases[i].op);
		CHECK_INT(v[i].side, cases[i].side);
		if (cases[i].rkey)
			CHECK_STR(v[i].rkey, cases[i].rkey);
		else
			CHECK(v[i].rkey == NULL);
		CHECK_STR(v[i].lkey, cases[i].lkey);
		if (cases[i].data)
			CHECK_STR(v[i].data, cases[i].data);
		else
			CHECK(v[i].data == NULL);
		CHECK_INT(v[i].pair_id, (int64_t)i * 10);
		CHECK_INT(v[i].uidnext, 100 + i);
		CHECK_INT(v[i].size, 5000 + i);
		CHECK_INT(v[i].idate, 1600000000 + (int64_t)i);
		CHECK_INT(v[i].has_fp, i != 3);
		CHECK(!v[i].has_fp || v[i].fp[5] == i + 1);
	}
	journal_intents_free(v, n);
	CHECK_INT(journal_intents(j, b2, &v, &n, &e), 0);
	CHECK(n == 1 && v[0].id == ids[1]);
	journal_intents_free(v, n);

	CHECK_INT(journal_intent_clear(j, ids[0], &e), 0);
	CHECK_INT(journal_intent_clear(j, ids[0], &e), 0);
	CHECK_INT(journal_intents(j, b1, &v, &n, &e), 0);
	CHECK(n == 2 && v[0].id == ids[2] && v[1].id == ids[3]);
	journal_intents_free(v, n);

	struct journal_intent bad = { 0 };
	bad.box_id = b1;
	bad.op = (enum journal_intent_op)9;
	CHECK_INT(journal_intent_add(j, &bad, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
	bad.op = INTENT_FLAGS;
	bad.box_id = 999999;
	CHECK_INT(journal_intent_add(j, &bad, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
}

static void test_kw_overflow(struct journal *j)
{
	struct err e = { 0 };
	int64_t box = add_box(j, "KW", "KW");
	struct flagset kw, got;
	flagset_init(&kw);
	kw.sys = MF_SEEN; /* ignored: keywords only */
	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof name, "$label%d", i);
		flagset_add_kw(&kw, name);
	}
	CHECK_INT(journal_kw_overflow_get(j, box, "k1", &got, &e), 0);
	CHECK_INT(got.nkw, 0);
	flagset_free(&got);
	CHECK_INT(journal_kw_overflow_set(j, box, "k1", &kw, &e), 0);
	CHECK_INT(journal_kw_overflow_get(j, box, "k1", &got, &e), 0);
	CHECK_INT(got.nkw, 40);
	CHECK_INT(got.sys, 0);
	kw.sys = 0;
	CHECK(flagset_equal(&got, &kw));
	flagset_free(&got);
	/* Replace, then clear with an empty set. */
	flagset_free(&kw);
	flagset_add_kw(&kw, "only");
	CHECK_INT(journal_kw_overflow_set(j, box, "k1", &kw, &e), 0);
	CHECK_INT(journal_kw_overflow_get(j, box, "k1", &got, &e), 0);
	CHECK(got.nkw == 1 && strcmp(got.kw[0], "only") == 0);
	flagset_free(&got);
	CHECK_INT(journal_kw_overflow_get(j, box, "k2", &got, &e), 0);
	CHECK_INT(got.nkw, 0);
	flagset_free(&got);
	flagset_free(&kw);
	CHECK_INT(journal_kw_overflow_set(j, box, "k1", &kw, &e), 0);
	CHECK_INT(journal_kw_overflow_get(j, box, "k1", &got, &e), 0);
	CHECK_INT(got.nkw, 0);
	flagset_free(&got);
	flagset_add_kw(&kw, "x");
	CHECK_INT(journal_kw_overflow_set(j, 31337, "k1", &kw, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	flagset_free(&kw);
}

static void scenario_roundtrip(void)
{
	const char *path = jt_path("rt.db");
	struct journal *j = jt_open(path);
	test_meta(j);
	test_boxes(j);
	test_pairs(j);
	test_intents(j);
	test_kw_overflow(j);
	test_pair_base(j, path);
	journal_close(&j);
	CHECK(j == NULL);
	journal_close(&j); /* NULL is fine */

	/* Everything survives a close and reopen. */
	j = jt_open(path);
	struct err e = { 0 };
	char *v = NULL;
	CHECK_INT(journal_meta_get(j, "remote", &v, &e), 0);
	CHECK_STR(v, "imap://u@h2");
	free(v);
	struct journal_box *b;
	size_t n;
	CHECK_INT(journal_boxes(j, &b, &n, &e), 0);
	CHECK_INT(n, 7);
	journal_boxes_free(b, n);
	CHECK_INT(journal_check(j, &e), 0);
	journal_close(&j);
	CHECK_INT(jt_sql_int(path, "PRAGMA user_version"), journal_schema_version());
	return;
}

static long long count(const char *path, const char *table, int64_t box)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE box_id = %" PRId64, table, box);
	return jt_sql_int(path, sql);
}

static void scenario_cascade(void)
{
	const char *path = jt_path("cascade.db");
	struct journal *j = jt_open(path);
	struct err e = { 0 };
	int64_t keep = add_box(j, "Keep", "Keep"), gone = add_box(j, "Gone", "Gone");
	struct flagset kw;
	flagset_init(&kw);
	flagset_add_kw(&kw, "$x");
	for (int64_t box = keep; box <= gone; box++) {
		for (int i = 0; i < 10; i++) {
			struct journal_pair p = { 0 };
			char k[16];
			snprintf(k, sizeof k, "%d", i);
			p.box_id = box;
			p.rkey = k;
			p.lkey = k;
			CHECK_INT(journal_pair_put(j, &p, &e), 0);
			flagset_free(&p.base);
			CHECK_INT(journal_kw_overflow_set(j, box, k, &kw, &e), 0);
		}
		struct journal_intent in = { 0 };
		in.box_id = box;
		in.op = INTENT_EXPUNGE;
		CHECK_INT(journal_intent_add(j, &in, &e), 0);
	}
	flagset_free(&kw);
	CHECK_INT(journal_box_delete(j, gone, &e), 0);
	CHECK_INT(journal_box_delete(j, gone, &e), 0);
	struct journal_pair *pv;
	size_t n;
	CHECK_INT(journal_pairs(j, gone, &pv, &n, &e), 0);
	CHECK_INT(n, 0);
	journal_pairs_free(pv, n);
	CHECK_INT(journal_pairs(j, keep, &pv, &n, &e), 0);
	CHECK_INT(n, 10);
	journal_pairs_free(pv, n);
	struct journal_intent *iv;
	CHECK_INT(journal_intents(j, 0, &iv, &n, &e), 0);
	CHECK(n == 1 && iv[0].box_id == keep);
	journal_intents_free(iv, n);
	CHECK_INT(journal_check(j, &e), 0);
	journal_close(&j);
	CHECK_INT(count(path, "pair", gone), 0);
	CHECK_INT(count(path, "intent", gone), 0);
	CHECK_INT(count(path, "kw_overflow", gone), 0);
	CHECK_INT(count(path, "kw_overflow", keep), 10);
	return;
}

static void scenario_tx(void)
{
	const char *path = jt_path("tx.db");
	struct journal *j = jt_open(path);
	struct err e = { 0 };
	CHECK_INT(journal_steps(j), 0);
	CHECK_INT(journal_meta_set(j, "a", "1", &e), 0); /* auto-commit: one step */
	CHECK_INT(journal_steps(j), 1);
	int64_t box = add_box(j, "B", "B");
	CHECK_INT(journal_steps(j), 2);

	/* Grouped: many writes, one step. */
	CHECK_INT(journal_begin(j, &e), 0);
	CHECK_INT(journal_begin(j, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
	for (int i = 0; i < 100; i++) {
		struct journal_pair p = { 0 };
		p.box_id = box;
		CHECK_INT(journal_pair_put(j, &p, &e), 0);
	}
	CHECK_INT(journal_meta_set(j, "a", "2", &e), 0);
	CHECK_INT(journal_steps(j), 2);
	CHECK_INT(journal_commit(j, &e), 0);
	CHECK_INT(journal_steps(j), 3);
	CHECK_INT(journal_commit(j, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);

	/* Rolled back: nothing of it stays, no step. */
	CHECK_INT(journal_begin(j, &e), 0);
	CHECK_INT(journal_meta_set(j, "a", "3", &e), 0);
	CHECK_INT(journal_box_delete(j, box, &e), 0);
	CHECK_INT(journal_rollback(j, &e), 0);
	CHECK_INT(journal_rollback(j, &e), 0); /* nothing open: fine */
	CHECK_INT(journal_steps(j), 3);
	char *v = NULL;
	CHECK_INT(journal_meta_get(j, "a", &v, &e), 0);
	CHECK_STR(v, "2");
	free(v);
	struct journal_pair *pv;
	size_t n;
	CHECK_INT(journal_pairs(j, box, &pv, &n, &e), 0);
	CHECK_INT(n, 100);
	journal_pairs_free(pv, n);

	/* A failing call inside a transaction leaves the rest of it usable. */
	CHECK_INT(journal_begin(j, &e), 0);
	CHECK_INT(journal_meta_set(j, "b", "1", &e), 0);
	struct journal_box dup = { 0 };
	dup.rname = dup.lname = (char *)"B";
	CHECK_INT(journal_box_put(j, &dup, &e), -1);
	CHECK_INT(e.cls, ERR_EXISTS);
	CHECK_INT(journal_commit(j, &e), 0);
	CHECK_INT(journal_meta_get(j, "b", &v, &e), 0);
	CHECK_STR(v, "1");
	free(v);

	/* Closing with a transaction open rolls it back. */
	CHECK_INT(journal_begin(j, &e), 0);
	CHECK_INT(journal_meta_set(j, "c", "1", &e), 0);
	journal_close(&j);
	j = jt_open(path);
	CHECK_INT(journal_meta_get(j, "c", &v, &e), 0);
	CHECK(v == NULL);
	CHECK_INT(journal_steps(j), 0);
	journal_close(&j);
	return;
}

int main(int argc, char **argv)
{
	static const struct test_scenario scenarios[] = {
		{ "roundtrip", scenario_roundtrip },
		{ "cascade", scenario_cascade },
		{ "tx", scenario_tx },
	};
	jt_mkdir("journal-basic");
	int r = test_run_scenarios(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0]);
	jt_cleanup();
	return r;
}
