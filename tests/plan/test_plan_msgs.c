/*
 * test_plan_msgs.c — table tests of plan_msgs(): every combination of
 * {nothing, flag change, \Deleted mark, expunge} on each side of a pair
 * under each expunge setting; new messages; per-flag three-way merges
 * (system flags and keywords); delta listings; pending pairs; filters;
 * directions; fingerprint pairing (first sync into a pre-filled Maildir,
 * duplicates) and UIDVALIDITY re-pairing with its safety valve.
 *
 * Usage: test-plan-msgs [table|matrix|flags|repair|format|large]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "plan_util.h"
#include "testlib.h"

#include "lib/banned.h"

#define NOW 100000

struct scen {
	const char *name;
	const char *remote, *local, *pairs;
	const char *expect;
	unsigned expunge;
	int dir;                /* 0 both ways, 1 pull only, 2 push only */
	int rdelta, ldelta;     /* listing is a delta */
	const char *rvan, *lvan;
	int rinvalid, linvalid;
	uint64_t max_size;
	int64_t max_age;
	const char *alert;      /* substring of plan.alert, NULL: no alert */
	const char *reason;     /* substring of some action's reason */
};

static void run(const struct scen *t)
{
	struct tmsgs r, l;
	struct tpairs p;
	size_t nrv, nlv;
	tu_msgs_parse(&r, t->remote);
	tu_msgs_parse(&l, t->local);
	tu_pairs_parse(&p, t->pairs);
	char **rv = tu_words(t->rvan, &nrv), **lv = tu_words(t->lvan, &nlv);
	struct plan_msgs_input in = {
		.remote = r.v, .nremote = r.n, .remote_full = !t->rdelta,
		.remote_vanished = (const char *const *)rv, .nremote_vanished = nrv,
		.local = l.v, .nlocal = l.n, .local_full = !t->ldelta,
		.local_vanished = (const char *const *)lv, .nlocal_vanished = nlv,
		.pairs = p.v, .npairs = p.n,
		.remote_keys_invalid = t->rinvalid, .local_keys_invalid = t->linvalid,
	};
	struct plan_opts o = {
		.push = t->dir != 1, .pull = t->dir != 2, .expunge = t->expunge,
		.max_size = t->max_size, .max_age = t->max_age, .now = NOW,
	};
	struct plan pl;
	struct buf got = BUF_INIT(BUF_MAX_DEFAULT);
	CHECK_INT(plan_msgs(&in, &o, &pl), 0);
	tu_plan_str(&pl, &got);
	test_checks_++;
	if (strcmp(got.data, t->expect) != 0) {
		test_failures_++;
		fprintf(stderr, "%s:\n  got    \"%s\"\n  expect \"%s\"\n", t->name, got.data,
			t->expect);
	}
	if (t->alert) {
		CHECK(pl.alert && strstr(pl.alert, t->alert));
	} else if (pl.alert) {
		test_failures_++;
		fprintf(stderr, "%s: unexpected alert \"%s\"\n", t->name, pl.alert);
	}
	if (t->reason) {
		int found = 0;
		for (size_t i = 0; i < pl.n; i++)
			found |= pl.v[i].reason && strstr(pl.v[i].reason, t->reason) != NULL;
		if (!found)
			fprintf(stderr, "%s: no reason with \"%s\"\n", t->name, t->reason);
		CHECK(found);
	}
	/* the plan formats, and counts add up */
	struct buf txt = BUF_INIT(BUF_MAX_DEFAULT);
	CHECK_INT(plan_format(&pl, "INBOX", 1, &txt), 0);
	size_t total = pl.counts.copy[0] + pl.counts.copy[1] + pl.counts.flags[0] +
		       pl.counts.flags[1] + pl.counts.mark_deleted[0] +
		       pl.counts.mark_deleted[1] + pl.counts.expunge[0] +
		       pl.counts.expunge[1] + pl.counts.paired + pl.counts.rekeyed +
		       pl.counts.skipped;
	size_t journal_only = 0;
	for (size_t i = 0; i < pl.n; i++)
		journal_only += pl.v[i].op == PLAN_BASE || pl.v[i].op == PLAN_UNPAIR;
	CHECK_INT(total + journal_only, pl.n);
	buf_release(&txt);
	buf_release(&got);
	plan_free(&pl);
	tu_words_free(rv, nrv);
	tu_words_free(lv, nlv);
	tu_msgs_free(&r);
	tu_msgs_free(&l);
	tu_pairs_free(&p);
}

/* ------------------------------------------------------------ the table */

static const struct scen table[] = {
	/* new messages */
	{ "new remote", "1=a:S", "", "", "copy>L 1 :S" },
	{ "new local", "", "L1=a:F+$Forwarded", "", "copy>R L1 :F+$Forwarded" },
	{ "new both sides", "1=a:", "L1=b:S", "", "copy>R L1 :S; copy>L 1 :" },
	{ "new remote, keywords kept", "1=a:+$Junk+work", "", "", "copy>L 1 :+$Junk+work" },
	{ "copies in UID order", "10=a: 9=b: 100=c: 2=d:", "", "",
	  "copy>L 2 :; copy>L 9 :; copy>L 10 :; copy>L 100 :" },
	{ "unchanged pair", "1=a:S", "L1=a:S", "1/L1=a:S", "" },
	/* new messages carrying \Deleted */
	{ "new remote deleted, expunge none", "1=a:T", "", "", "copy>L 1 :T" },
	{ "new remote deleted, expunge remote", "1=a:T", "", "", "expunge R 1",
	  .expunge = EXPUNGE_REMOTE },
	{ "new remote deleted, expunge local", "1=a:T", "", "", "skip>L 1",
	  .expunge = EXPUNGE_LOCAL },
	{ "new local deleted, expunge local", "", "L1=a:T", "", "expunge L L1",
	  .expunge = EXPUNGE_LOCAL },
	{ "new local deleted, expunge remote", "", "L1=a:T", "", "skip>R L1",
	  .expunge = EXPUNGE_REMOTE },
	/* flags: three-way merge */
	{ "remote adds keyword, local drops another", "1=a:+$Junk+work", "L1=a:",
	  "1/L1=a:+$Junk", "flags R 1 -+$Junk =+work; flags L L1 ++work =+work" },
	{ "stale side does not overwrite", "1=a:S", "L1=a:FS", "1/L1=a:S",
	  "flags R 1 +F =FS" },
	{ "both add different flags", "1=a:RS", "L1=a:FS", "1/L1=a:S",
	  "flags R 1 +F =FRS; flags L L1 +R =FRS" },
	/* deletions */
	{ "local deletion, remote flag change overridden", "1=a:FS", "", "1/L1=a:S",
	  "mark R 1 =FST", .reason = "overridden" },
	{ "remote expunge, local flag change discarded", "", "L1=a:FS", "1/L1=a:S",
	  "expunge L L1", .reason = "discarded" },
	{ "tombstone: nothing more", "1=a:ST", "", "1/L1=a:ST", "" },
	{ "tombstone undeleted on remote: marked again", "1=a:S", "", "1/L1=a:ST",
	  "mark R 1 =ST" },
	{ "two expunges drop the pair once", "1=a:T", "L1=a:T", "1/L1=a:T",
	  "expunge L L1 keep; expunge R 1", .expunge = EXPUNGE_BOTH },
	/* delta listings */
	{ "delta: absent = unchanged", "", "L1=a:S", "1/L1=a:S", "", .rdelta = 1 },
	{ "delta: absent, local change", "", "L1=a:FS", "1/L1=a:S", "flags R 1 +F =FS",
	  .rdelta = 1 },
	{ "delta: changed", "1=a:FS", "L1=a:S", "1/L1=a:S", "flags L L1 +F =FS",
	  .rdelta = 1 },
	{ "delta: vanished", "2=b:", "L1=a:S", "1/L1=a:S", "expunge L L1; copy>L 2 :",
	  .rdelta = 1, .rvan = "1 77" },
	{ "local delta: vanished", "1=a:S", "", "1/L1=a:S", "mark R 1 =ST", .ldelta = 1,
	  .lvan = "L1" },
	/* pending pairs (a transfer that did not complete) */
	{ "pending upload retried", "", "L1=a:S", "-/L1=a:S", "copy>R L1 :S #1" },
	{ "pending upload landed", "7=a:S", "L1=a:S", "-/L1=a:S", "rekey #1 7/L1" },
	{ "pending upload landed, local changed since", "7=a:", "L1=a:S", "-/L1=a:",
	  "rekey #1 7/L1; flags R 7 +S =S" },
	{ "pending download retried", "5=a:F", "", "5/-=a:F", "copy>L 5 :F #1" },
	{ "pending, source gone", "", "", "5/-=a:F", "unpair #1" },
	{ "pair without keys", "", "", "-/-=a:", "unpair #1" },
	/* filters */
	{ "max size", "1=a:#5000 2=b:#10", "", "", "copy>L 2 :; skip>L 1",
	  .max_size = 1000 },
	{ "max age", "1=a:~50000 2=b:~99500 3=c:~-1", "", "",
	  "copy>L 2 :; copy>L 3 :; skip>L 1", .max_age = 1000 },
	{ "max size both ways", "1=a:#5000", "L1=b:#6000", "", "skip>R L1; skip>L 1",
	  .max_size = 1000 },
	/* directions */
	{ "pull only", "1=a:", "L1=b:", "", "copy>L 1 :", .dir = 1 },
	{ "push only", "1=a:", "L1=b:", "", "copy>R L1 :", .dir = 2 },
	{ "pull only merge keeps remote as base", "1=a:S", "L1=a:F", "1/L1=a:",
	  "flags L L1 +S =S", .dir = 1 },
	{ "push only merge keeps local as base", "1=a:S", "L1=a:F", "1/L1=a:",
	  "flags R 1 +F =F", .dir = 2 },
	{ "push only: remote expunge not propagated", "", "L1=a:", "1/L1=a:", "",
	  .dir = 2 },
	{ "pull only: local deletion not propagated", "1=a:", "", "1/L1=a:", "",
	  .dir = 1 },
	{ "pull only: no remote expunge", "1=a:T", "L1=a:T", "1/L1=a:T", "",
	  .dir = 1, .expunge = EXPUNGE_REMOTE },
	/* fingerprint pairing: first sync into existing mail */
	{ "first sync into pre-filled maildir", "1=a:S 2=b: 3=c:F", "La=a: Lc=c:F Ld=d:", "",
	  "pair 1/La =S; pair 3/Lc =F; flags L La +S =S; copy>R Ld :; copy>L 2 :",
	  .reason = "fingerprint" },
	{ "first pairing: union of flags", "1=a:S", "L1=a:T+x", "",
	  "pair 1/L1 =ST+x; flags R 1 +T+x =ST+x; flags L L1 +S =ST+x" },
	{ "duplicates pair one-to-one", "1=a: 2=a: 3=a:", "L1=a: L2=a:", "",
	  "pair 1/L1 =; pair 2/L2 =; copy>L 3 :" },
	{ "duplicates, more locally", "1=a:", "L1=a: L2=a: L3=a:", "",
	  "pair 1/L1 =; copy>R L2 :; copy>R L3 :" },
	{ "no fingerprint: copied", "1=-:", "L1=-:", "", "copy>R L1 :; copy>L 1 :" },
	{ "paired messages are not re-paired", "1=a: 2=a:", "L1=a:", "1/L1=a:",
	  "copy>L 2 :" },
	/* odd input */
	{ "a key listed twice counts once", "", "L1=a:S L1=b:F", "", "copy>R L1 :S" },
	{ "a key listed twice, paired", "1=a:", "L1=a: L1=a:", "1/L1=a:", "" },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		run(&table[i]);
}

/* ---------------------------------------------- event matrix on one pair */

/* Events on one side of the pair 1/L1 whose base is \Seen:
 * n nothing, f \Flagged added, m \Deleted added (a mark), x expunged. */
static const char *event_msg(char ev, const char *key)
{
	static const char *const txt[2][4] = {
		{ "1=a:S", "1=a:FS", "1=a:ST", "" },
		{ "L1=a:S", "L1=a:FS", "L1=a:ST", "" },
	};
	int s = key[0] == 'L';
	return txt[s][ev == 'n' ? 0 : ev == 'f' ? 1 : ev == 'm' ? 2 : 3];
}

struct mrow {
	const char *ev;        /* remote event, local event */
	const char *expect[4]; /* by expunge: none, remote, local, both */
};

#define EXR "expunge L L1 keep; expunge R 1"
static const struct mrow matrix[] = {
	{ "nn", { "", "", "", "" } },
	{ "nf", { "flags R 1 +F =FS", "flags R 1 +F =FS", "flags R 1 +F =FS",
		  "flags R 1 +F =FS" } },
	{ "nm", { "flags R 1 +T =ST", EXR, "expunge L L1 keep; flags R 1 +T =ST", EXR } },
	{ "nx", { "mark R 1 =ST", "expunge R 1", "mark R 1 =ST", "expunge R 1" } },
	{ "fn", { "flags L L1 +F =FS", "flags L L1 +F =FS", "flags L L1 +F =FS",
		  "flags L L1 +F =FS" } },
	{ "ff", { "base #1 =FS", "base #1 =FS", "base #1 =FS", "base #1 =FS" } },
	{ "fm", { "flags R 1 +T =FST; flags L L1 +F =FST", EXR,
		  "expunge L L1 keep; flags R 1 +T =FST", EXR } },
	{ "fx", { "mark R 1 =FST", "expunge R 1", "mark R 1 =FST", "expunge R 1" } },
	{ "mn", { "flags L L1 +T =ST", EXR, "base #1 =ST; expunge L L1 keep", EXR } },
	{ "mf", { "flags R 1 +F =FST; flags L L1 +T =FST", EXR,
		  "expunge L L1 keep; flags R 1 +F =FST", EXR } },
	{ "mm", { "base #1 =ST", EXR, "base #1 =ST; expunge L L1 keep", EXR } },
	{ "mx", { "base #1 =ST", "expunge R 1", "base #1 =ST", "expunge R 1" } },
	{ "xn", { "expunge L L1", "expunge L L1", "expunge L L1", "expunge L L1" } },
	{ "xf", { "expunge L L1", "expunge L L1", "expunge L L1", "expunge L L1" } },
	{ "xm", { "expunge L L1", "expunge L L1", "expunge L L1", "expunge L L1" } },
	{ "xx", { "unpair #1", "unpair #1", "unpair #1", "unpair #1" } },
};

static void test_matrix(void)
{
	static const char *const mode[4] = { "none", "remote", "local", "both" };
	for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++)
		for (unsigned e = 0; e < 4; e++) {
			char name[64];
			snprintf(name, sizeof name, "matrix %s expunge=%s", matrix[i].ev,
				 mode[e]);
			struct scen t = {
				.name = name,
				.remote = event_msg(matrix[i].ev[0], "1"),
				.local = event_msg(matrix[i].ev[1], "L1"),
				.pairs = "1/L1=a:S",
				.expect = matrix[i].expect[e],
				.expunge = e,
			};
			run(&t);
		}
	/* the matrix again, with one new message on each side as well: the new
	 * ones are copied whatever happens to the pair */
	struct scen t = { "new beside a flag change", "1=a:FS 2=b:", "L1=a:S L2=c:R",
			  "1/L1=a:S", "flags L L1 +F =FS; copy>R L2 :R; copy>L 2 :" };
	run(&t);
}

/* ------------------------------------------------ per-flag merge sweep */

/* For every flag (system flags and two keywords), every base value, and
 * every change on the remote side (keep/toggle) and the local side, the
 * merged value is "the side that changed it", and other flags (one set,
 * one unset, untouched by both) stay as they are. */
static void test_flags(void)
{
	static const char *const fl[] = { "D", "F", "R", "S", "T", "+$Junk", "+work" };
	size_t nf = sizeof fl / sizeof fl[0];
	for (size_t x = 0; x < nf; x++)
		for (size_t y = 0; y < nf; y++)
			for (int bits = 0; bits < 16; bits++) {
				int bx = bits & 1, rx = (bits >> 1) & 1, ly = (bits >> 2) & 1;
				int by = (bits >> 3) & 1;
				/* base: x = bx, y = by; remote toggles x when rx;
				 * local toggles y when ly (x == y: both toggle x) */
				char b[32] = "", r[32] = "", l[32] = "";
				int vb[2] = { bx, by }, vr[2] = { bx ^ rx, by };
				int vl[2] = { bx, by ^ ly };
				if (x == y) {
					vb[1] = vb[0];
					vr[1] = vr[0];
					vl[0] = vl[1] = bx ^ ly;
				}
				const char *n2[2] = { fl[x], fl[y] };
				/* letters before keywords, as the notation wants */
				for (int pass = 0; pass < 2; pass++)
				for (int k = 0; k < 2; k++) {
					if ((k == 1 && x == y) || (n2[k][0] == '+') != pass)
						continue;
					if (vb[k])
						snprintf(b + strlen(b), sizeof b - strlen(b), "%s", n2[k]);
					if (vr[k])
						snprintf(r + strlen(r), sizeof r - strlen(r), "%s", n2[k]);
					if (vl[k])
						snprintf(l + strlen(l), sizeof l - strlen(l), "%s", n2[k]);
				}
				/* expected merge per flag: remote's value if remote
				 * changed it, else local's */
				int m[2];
				for (int k = 0; k < 2; k++)
					m[k] = vr[k] != vb[k] ? vr[k] : vl[k];
				struct flagset fb, fr, fll, fm;
				tu_flags_parse(&fb, b);
				tu_flags_parse(&fr, r);
				tu_flags_parse(&fll, l);
				flagset_init(&fm);
				for (int k = 0; k < 2 && !(k == 1 && x == y); k++) {
					struct flagset one;
					tu_flags_parse(&one, n2[k]);
					if (m[k]) {
						fm.sys |= one.sys;
						for (size_t i = 0; i < one.nkw; i++)
							flagset_add_kw(&fm, one.kw[i]);
					}
					flagset_free(&one);
				}
				char rm[64], lm[64], pr[64];
				snprintf(rm, sizeof rm, "1=a:%s", r);
				snprintf(lm, sizeof lm, "L1=a:%s", l);
				snprintf(pr, sizeof pr, "1/L1=a:%s", b);
				struct tmsgs tr, tl;
				struct tpairs tp;
				tu_msgs_parse(&tr, rm);
				tu_msgs_parse(&tl, lm);
				tu_pairs_parse(&tp, pr);
				struct plan_msgs_input in = {
					.remote = tr.v, .nremote = tr.n, .remote_full = 1,
					.local = tl.v, .nlocal = tl.n, .local_full = 1,
					.pairs = tp.v, .npairs = tp.n,
				};
				struct plan_opts o = { .push = 1, .pull = 1, .now = NOW };
				struct plan p;
				plan_msgs(&in, &o, &p);
				/* apply and compare */
				struct flagset after[2], base;
				flagset_copy(&after[0], &fr);
				flagset_copy(&after[1], &fll);
				flagset_copy(&base, &fb);
				for (size_t i = 0; i < p.n; i++) {
					const struct plan_action *a = &p.v[i];
					CHECK(a->op == PLAN_FLAGS || a->op == PLAN_BASE);
					if (a->op == PLAN_FLAGS) {
						struct flagset *t = &after[a->side];
						t->sys = (t->sys | a->add.sys) & ~a->del.sys;
						for (size_t k = 0; k < a->add.nkw; k++)
							flagset_add_kw(t, a->add.kw[k]);
						for (size_t k = 0; k < a->del.nkw; k++)
							flagset_del_kw(t, a->del.kw[k]);
					}
					flagset_free(&base);
					flagset_copy(&base, &a->flags);
				}
				int ok = flagset_equal(&after[0], &fm) &&
					 flagset_equal(&after[1], &fm) && flagset_equal(&base, &fm);
				if (!ok)
					fprintf(stderr, "flags: base '%s' remote '%s' local '%s'\n",
						b, r, l);
				CHECK(ok);
				flagset_free(&after[0]);
				flagset_free(&after[1]);
				flagset_free(&base);
				flagset_free(&fb);
				flagset_free(&fr);
				flagset_free(&fll);
				flagset_free(&fm);
				plan_free(&p);
				tu_msgs_free(&tr);
				tu_msgs_free(&tl);
				tu_pairs_free(&tp);
			}
}

/* ------------------------------------------- UIDVALIDITY and re-pairing */

static const struct scen repair[] = {
	{ "uidvalidity: re-pair, new, gone", "11=a:S 12=b:F 14=d:", "L1=a:S L2=b: L3=c:",
	  "1/L1=a:S 2/L2=b: 3/L3=c:",
	  "rekey #1 11/L1; rekey #2 12/L2; expunge L L3; flags L L2 +F =F; copy>L 14 :",
	  .rinvalid = 1 },
	{ "uidvalidity: same uids still rekeyed", "1=a:S", "L1=a:S", "1/L1=a:S",
	  "rekey #1 1/L1", .rinvalid = 1 },
	{ "uidvalidity: duplicates re-pair one-to-one", "21=a: 22=a: 23=a:",
	  "L1=a: L2=a:", "1/L1=a: 2/L2=a:",
	  "rekey #1 21/L1; rekey #2 22/L2; copy>L 23 :", .rinvalid = 1 },
	{ "uidvalidity: empty server, nothing destructive", "", "L1=a:S L2=b:",
	  "1/L1=a:S 2/L2=b:", "", .rinvalid = 1, .alert = "nothing planned" },
	{ "uidvalidity: nothing matched, nothing destructive", "11=x: 12=y:",
	  "L1=a:S L2=b:", "1/L1=a:S 2/L2=b:", "", .rinvalid = 1,
	  .alert = "no message matched" },
	{ "uidvalidity with a delta listing refused", "11=a:", "L1=a:", "1/L1=a:", "",
	  .rinvalid = 1, .rdelta = 1, .alert = "delta" },
	{ "uidvalidity, empty journal: all new", "11=a:", "", "", "copy>L 11 :",
	  .rinvalid = 1 },
	{ "uidvalidity, pull off: unmatched pair uploaded again", "11=a:", "L1=a: L2=b:",
	  "1/L1=a: 2/L2=b:", "rekey #1 11/L1; unpair #2; copy>R L2 :", .rinvalid = 1, .dir = 2 },
	{ "local folder replaced: re-pair", "1=a: 2=b:", "N1=a: N9=z:", "1/L1=a: 2/L2=b:",
	  "rekey #1 1/N1; mark R 2 =T; copy>R N9 :", .linvalid = 1 },
	{ "local folder replaced and empty", "1=a: 2=b:", "", "1/L1=a: 2/L2=b:", "",
	  .linvalid = 1, .alert = "local" },
	{ "both sides renumbered", "7=a:S 8=b:", "N1=a: N2=b:F", "1/L1=a: 2/L2=b:",
	  "rekey #1 7/N1; rekey #2 8/N2; flags R 8 +F =F; flags L N1 +S =S",
	  .rinvalid = 1, .linvalid = 1 },
	/* lost journal: first sync again, nothing duplicated */
	{ "lost journal", "1=a:S 2=b:F 3=c:", "X=a:S Y=b:F Z=c:", "",
	  "pair 1/X =S; pair 2/Y =F; pair 3/Z =" },
};

static void test_repair(void)
{
	for (size_t i = 0; i < sizeof repair / sizeof repair[0]; i++)
		run(&repair[i]);
	/* format of an alerted plan */
	struct plan p = { .alert = "x: nothing planned" };
	struct buf b = BUF_INIT(BUF_MAX_DEFAULT);
	CHECK_INT(plan_format(&p, "INBOX", 1, &b), 0);
	CHECK_STR(b.data, "INBOX: x: nothing planned\n");
	buf_release(&b);
}

/* ------------------------------------------------------------ format */

static void test_format(void)
{
	struct tmsgs r, l;
	struct tpairs p;
	tu_msgs_parse(&r, "1=a:FS 2=b: 3=c:#5000 4=d:S");
	tu_msgs_parse(&l, "L1=a:S L9=z:R");
	tu_pairs_parse(&p, "1/L1=a:S 4/L4=d:S 5/L5=e:");
	struct plan_msgs_input in = {
		.remote = r.v, .nremote = r.n, .remote_full = 1,
		.local = l.v, .nlocal = l.n, .local_full = 1,
		.pairs = p.v, .npairs = p.n,
	};
	struct plan_opts o = { .push = 1, .pull = 1, .max_size = 1000, .now = NOW };
	struct plan pl;
	struct buf b = BUF_INIT(BUF_MAX_DEFAULT);
	CHECK_INT(plan_msgs(&in, &o, &pl), 0);
	CHECK_INT(plan_format(&pl, "INBOX", 0, &b), 0);
	CHECK_STR(b.data, "INBOX: 1 to local, 1 to remote, 1 flag changes, 1 marked deleted, "
			  "0 expunged, 1 skipped\n");
	buf_reset(&b);
	CHECK_INT(plan_format(&pl, "INBOX", 1, &b), 0);
	CHECK_STR(b.data,
		  "INBOX: 1 to local, 1 to remote, 1 flag changes, 1 marked deleted, "
		  "0 expunged, 1 skipped\n"
		  "  unpair remote:5 local:L5 pair 3: gone on both sides\n"
		  "  flags local:L1 +(\\Flagged)\n"
		  "  mark-deleted remote:4: deleted locally\n"
		  "  copy local:L9 -> remote flags(\\Answered) 100 bytes\n"
		  "  copy remote:2 -> local 100 bytes\n"
		  "  skip remote:3 (not copied to local): larger than max-size\n");
	CHECK_STR(plan_op_name(PLAN_MARK_DELETED), "mark-deleted");
	CHECK_STR(plan_box_op_name(PBOX_RENAME), "rename");
	buf_release(&b);
	plan_free(&pl);
	tu_msgs_free(&r);
	tu_msgs_free(&l);
	tu_pairs_free(&p);
}

/* ------------------------------------------------------------ large */

/* 100,000 messages a side, 90,000 pairs, a fifth of them changed, plus
 * duplicates: must plan in well under a second (no quadratic step). */
static void test_large(void)
{
	enum { N = 100000, NP = 90000 };
	struct plan_msg *r = mf_calloc(N, sizeof *r), *l = mf_calloc(N, sizeof *l);
	struct plan_pair *p = mf_calloc(NP, sizeof *p);
	char **keys = mf_calloc(2 * N, sizeof *keys);
	for (int i = 0; i < N; i++) {
		char k[32], id[32];
		snprintf(k, sizeof k, "%d", i + 1);
		keys[i] = mf_strdup(k);
		snprintf(k, sizeof k, "L%07d", i);
		keys[N + i] = mf_strdup(k);
		snprintf(id, sizeof id, "m%d", i < N - 100 ? i : 7); /* 100 duplicates */
		r[i] = (struct plan_msg){ .key = keys[i], .size = 10, .idate = 1, .has_fp = 1 };
		l[i] = (struct plan_msg){ .key = keys[N + i], .size = 10, .idate = 1, .has_fp = 1 };
		tu_fp(id, r[i].fp);
		snprintf(id, sizeof id, "m%d", i < NP ? i : N + i);
		tu_fp(id, l[i].fp);
		if (i % 5 == 0)
			r[i].flags.sys = MF_SEEN;
	}
	for (int i = 0; i < NP; i++) {
		p[i] = (struct plan_pair){ .id = i + 1, .rkey = keys[i], .lkey = keys[N + i],
					   .has_fp = 1 };
		memcpy(p[i].fp, l[i].fp, 32);
	}
	struct plan_msgs_input in = {
		.remote = r, .nremote = N, .remote_full = 1,
		.local = l, .nlocal = N, .local_full = 1,
		.pairs = p, .npairs = NP,
	};
	struct plan_opts o = { .push = 1, .pull = 1, .now = NOW };
	struct plan pl;
	CHECK_INT(plan_msgs(&in, &o, &pl), 0);
	CHECK_INT(pl.counts.flags[SIDE_LOCAL], NP / 5);
	CHECK_INT(pl.counts.copy[SIDE_REMOTE], N - NP);
	CHECK_INT(pl.counts.copy[SIDE_LOCAL], N - NP);
	plan_free(&pl);
	in.remote_keys_invalid = 1; /* the same, renumbered: re-paired */
	CHECK_INT(plan_msgs(&in, &o, &pl), 0);
	CHECK_INT(pl.counts.rekeyed, NP);
	plan_free(&pl);
	for (int i = 0; i < 2 * N; i++)
		free(keys[i]);
	free(keys);
	free(r);
	free(l);
	free(p);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "all";
	int all = strcmp(what, "all") == 0;
	if (all || !strcmp(what, "table"))
		test_table();
	if (all || !strcmp(what, "matrix"))
		test_matrix();
	if (all || !strcmp(what, "flags"))
		test_flags();
	if (all || !strcmp(what, "repair"))
		test_repair();
	if (all || !strcmp(what, "format"))
		test_format();
	if (all || !strcmp(what, "large"))
		test_large();
	return test_done();
}
