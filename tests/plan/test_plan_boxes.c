/*
 * test_plan_boxes.c — table tests of plan_boxes(): pairing by name and
 * INBOX, creation (allowed or not), deletion (allowed, not allowed, not
 * empty: re-created), forgetting, renames on either side (by identity),
 * include/exclude patterns, \Noselect boxes, and the order of actions.
 *
 * Notation: boxes "NAME[:IDENT][!]" ('!' = \Noselect); journal pairs
 * "RNAME|LNAME|RIDENT|LIDENT|EMPTY", ids 1, 2, ...; plans one item per
 * action, "; "-separated: "sync A/A #1", "create>L A", "delete L A #1",
 * "rename L A->B #1", "forget #1", "skip R A".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "plan_util.h"
#include "testlib.h"

#include "lib/banned.h"

struct bscen {
	const char *name;
	const char *remote, *local, *known;
	const char *expect;
	int no_create_remote, no_create_local;
	int remove_remote, remove_local;
	int dir; /* 0 both, 1 pull only, 2 push only */
	const char *include, *exclude;
	const char *reason;
};

struct tboxes {
	struct plan_box_side *v;
	char **w;
	size_t n;
};

static void boxes_parse(struct tboxes *b, const char *text)
{
	b->w = tu_words(text, &b->n);
	b->v = mf_calloc(b->n + 1, sizeof *b->v);
	for (size_t i = 0; i < b->n; i++) {
		char *s = b->w[i];
		size_t len = strlen(s);
		if (len && s[len - 1] == '!') {
			s[len - 1] = '\0';
			b->v[i].attrs = BOX_NOSELECT;
		}
		char *c = strchr(s, ':');
		if (c)
			*c = '\0';
		b->v[i].name = s;
		b->v[i].ident = c ? c + 1 : "";
	}
}

struct tknown {
	struct plan_box_known *v;
	char **w;
	size_t n;
};

static char *field(char **p)
{
	char *s = *p, *bar = strchr(s, '|');
	if (bar) {
		*bar = '\0';
		*p = bar + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

static void known_parse(struct tknown *k, const char *text)
{
	k->w = tu_words(text, &k->n);
	k->v = mf_calloc(k->n + 1, sizeof *k->v);
	for (size_t i = 0; i < k->n; i++) {
		char *p = k->w[i];
		k->v[i].id = (int64_t)i + 1;
		k->v[i].rname = field(&p);
		k->v[i].lname = field(&p);
		k->v[i].rident = field(&p);
		k->v[i].lident = field(&p);
		k->v[i].empty_since_sync = atoi(field(&p));
	}
}

static void plan_str(const struct plan_boxes *p, struct buf *out)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_box_action *a = &p->v[i];
		char sc = a->side == SIDE_REMOTE ? 'R' : 'L';
		const char *nm = a->side == SIDE_REMOTE ? a->rname : a->lname;
		if (i)
			buf_addstr(out, "; ");
		switch (a->op) {
		case PBOX_SYNC:
			buf_addf(out, "sync %s/%s", a->rname, a->lname);
			break;
		case PBOX_CREATE:
			buf_addf(out, "create>%c %s", sc, nm);
			break;
		case PBOX_DELETE:
			buf_addf(out, "delete %c %s", sc, nm);
			break;
		case PBOX_RENAME:
			buf_addf(out, "rename %c %s->%s", sc, a->from, nm);
			break;
		case PBOX_FORGET:
			buf_addstr(out, "forget");
			break;
		case PBOX_SKIP:
			buf_addf(out, "skip %c %s", sc, nm);
			break;
		}
		if (a->journal_id)
			buf_addf(out, " #%lld", (long long)a->journal_id);
	}
}

static void run(const struct bscen *t)
{
	struct tboxes r, l;
	struct tknown k;
	size_t ni, ne;
	boxes_parse(&r, t->remote);
	boxes_parse(&l, t->local);
	known_parse(&k, t->known);
	char **inc = tu_words(t->include, &ni), **exc = tu_words(t->exclude, &ne);
	struct plan_opts o = {
		.push = t->dir != 1, .pull = t->dir != 2,
		.create_remote = !t->no_create_remote, .create_local = !t->no_create_local,
		.remove_remote = t->remove_remote, .remove_local = t->remove_local,
		.include = (const char *const *)inc, .ninclude = ni,
		.exclude = (const char *const *)exc, .nexclude = ne,
	};
	struct plan_boxes p;
	struct buf got = BUF_INIT(BUF_MAX_DEFAULT), txt = BUF_INIT(BUF_MAX_DEFAULT);
	CHECK_INT(plan_boxes(r.v, r.n, l.v, l.n, k.v, k.n, &o, &p), 0);
	plan_str(&p, &got);
	test_checks_++;
	if (strcmp(got.data, t->expect) != 0) {
		test_failures_++;
		fprintf(stderr, "%s:\n  got    \"%s\"\n  expect \"%s\"\n", t->name, got.data,
			t->expect);
	}
	if (t->reason) {
		int found = 0;
		for (size_t i = 0; i < p.n; i++)
			found |= p.v[i].reason && strstr(p.v[i].reason, t->reason) != NULL;
		if (!found)
			fprintf(stderr, "%s: no reason with \"%s\"\n", t->name, t->reason);
		CHECK(found);
	}
	CHECK_INT(plan_boxes_format(&p, &txt), 0);
	CHECK(p.n == 0 || txt.len > 0);
	buf_release(&got);
	buf_release(&txt);
	plan_boxes_free(&p);
	tu_words_free(inc, ni);
	tu_words_free(exc, ne);
	tu_words_free(r.w, r.n);
	tu_words_free(l.w, l.n);
	tu_words_free(k.w, k.n);
	free(r.v);
	free(l.v);
	free(k.v);
}

static const struct bscen table[] = {
	{ "first sync: INBOX pairs, new ones created", "INBOX:uv:1 A:uv:2", "INBOX:l1 B:l2", "",
	  "create>L A; create>R B; sync INBOX/INBOX" },
	{ "INBOX in any case", "INBOX", "inbox", "", "sync INBOX/INBOX" },
	{ "known pair syncs", "A:uv:1", "A:l1", "A|A|uv:1|l1|1", "sync A/A #1" },
	{ "creation not allowed", "A:uv:1", "", "", "skip L A", .no_create_local = 1,
	  .reason = "not allowed" },
	{ "creation on remote needs push", "", "A:l1", "", "skip R A", .dir = 1 },
	{ "parents created before children", "A/B/C A A/B", "", "",
	  "create>L A; create>L A/B; create>L A/B/C" },
	{ "noselect is not a mailbox", "A! A/B:uv:3", "", "", "create>L A/B" },
	/* deletions */
	{ "deleted on remote, removal allowed, empty", "", "A:l1", "A|A|uv:1|l1|1",
	  "delete L A #1", .remove_local = 1 },
	{ "deleted on remote, unsynced mail: re-created", "", "A:l1", "A|A|uv:1|l1|0",
	  "forget #1; create>R A", .remove_local = 1, .reason = "unsynced" },
	{ "deleted on remote, removal not allowed: re-created", "", "A:l1", "A|A|uv:1|l1|1",
	  "forget #1; create>R A", .reason = "not allowed: re-created" },
	{ "deleted locally, removal allowed", "A:uv:1", "", "A|A|uv:1|l1|1",
	  "delete R A #1", .remove_remote = 1 },
	{ "deleted locally, neither allowed", "A:uv:1", "", "A|A|uv:1|l1|1",
	  "skip L A #1", .no_create_local = 1, .reason = "neither" },
	{ "children deleted before parents", "", "A A/B", "A|A|r1|l1|1 A/B|A/B|r2|l2|1",
	  "delete L A/B #2; delete L A #1", .remove_local = 1 },
	{ "INBOX is never deleted", "INBOX:uv:1", "", "INBOX|INBOX|uv:1|l1|1",
	  "forget #1; create>L INBOX", .remove_remote = 1, .reason = "INBOX" },
	{ "gone on both sides", "B", "B", "A|A|uv:1|l1|1", "forget #1; sync B/B" },
	/* renames */
	{ "renamed on remote", "B:uv:1", "A:l1", "A|A|uv:1|l1|0", "rename L A->B #1",
	  .reason = "renamed on remote" },
	{ "renamed locally", "A:uv:1", "B:l1", "A|A|uv:1|l1|0", "rename R A->B #1",
	  .reason = "renamed locally" },
	{ "renamed into a subfolder", "X/A:uv:7 X:uv:8", "A:l1 X:l2",
	  "A|A|uv:7|l1|0 X|X|uv:8|l2|0", "rename L A->X/A #1; sync X/X #2" },
	{ "rename target taken: no rename", "B:uv:1", "A:l1 B:l9", "A|A|uv:1|l1|0",
	  "forget #1; create>R A; sync B/B" },
	{ "different identity: not a rename", "B:uv:2", "A:l1", "A|A|uv:1|l1|1",
	  "delete L A #1; create>L B", .remove_local = 1 },
	{ "rename on both sides", "B:uv:1", "C:l1", "A|A|uv:1|l1|0",
	  "forget #1; create>L B; create>R C" },
	{ "rename needs write access", "B:uv:1", "A:l1", "A|A|uv:1|l1|1",
	  "skip R A #1; skip L B", .dir = 2, .no_create_remote = 1 },
	/* patterns */
	{ "exclude", "INBOX Spam Spam/x Work", "", "", "create>L INBOX; create>L Work; "
	  "skip R Spam; skip R Spam/x", .exclude = "Spam*" },
	{ "include", "INBOX A B", "", "", "create>L INBOX; skip R A; skip R B",
	  .include = "INBOX" },
	{ "percent stops at the separator", "Ar Ar/2020 Ar/2020/x", "", "",
	  "create>L Ar; create>L Ar/2020/x; skip R Ar/2020", .exclude = "Ar/%" },
	{ "excluded known pair is skipped, not forgotten", "A:uv:1", "", "A|A|uv:1|l1|1",
	  "skip R A #1", .remove_remote = 1, .exclude = "A" },
	{ "star", "a/b/c x", "", "", "create>L x; skip R a/b/c", .exclude = "a*c" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		run(&table[i]);
	return test_done();
}
