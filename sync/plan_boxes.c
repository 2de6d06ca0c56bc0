/*
 * plan_boxes.c — the mailbox-level planner (plan_boxes() in plan.h): which
 * mailboxes pair up, and which are created, deleted, renamed or forgotten
 * on which side. Pure, like plan.c: no I/O, no clock, no globals.
 *
 * Rules, in order:
 *  - Boxes listed \Noselect or \NonExistent are not mailboxes (they hold no
 *    messages): they are ignored, as if absent.
 *  - Names cross the store interface identically on both sides (UTF-8,
 *    '/'), so a pair has rname == lname except after a rename; any case of
 *    "inbox" is INBOX.
 *  - Patterns: a box is synced when it matches an include pattern (or there
 *    are none) and no exclude pattern; '*' matches anything, '%' anything
 *    but '/'. An excluded box or journal pair gets PBOX_SKIP, nothing else.
 *  - A journal pair present on both sides: PBOX_SYNC (journal id).
 *  - A journal pair gone from one side: first, is it a rename? A name on
 *    that side that no journal pair knows, with the pair's identity (rident
 *    for remote, lident for local, non-empty), and free on the other side,
 *    is the new name: PBOX_RENAME on the other side (from the old name),
 *    then sync; nothing is copied. Otherwise, when removal is allowed on the
 *    other side and the caller says the box holds nothing unsynced
 *    (empty_since_sync): PBOX_DELETE there. Otherwise it is re-created:
 *    PBOX_FORGET of the old pair (its message pairs point into a mailbox
 *    that no longer exists) and PBOX_CREATE on the side it vanished from,
 *    with a reason; the messages of the surviving side are then copied by
 *    the first sync of the new pair. If creation is not allowed either:
 *    PBOX_SKIP with a reason, the journal pair is kept.
 *  - INBOX is never deleted (a server cannot delete it): when it is gone
 *    from one side it is re-created there.
 *  - Gone from both sides: PBOX_FORGET (a rename on both sides looks the
 *    same; the new names pair up below and their messages pair by
 *    fingerprint, so nothing is duplicated).
 *  - Names no journal pair knows: on both sides, PBOX_SYNC with journal id 0
 *    (a first sync: messages pair by fingerprint before anything is copied);
 *    on one side, PBOX_CREATE on the other side when allowed
 *    (create_remote/create_local and the direction), else PBOX_SKIP.
 *  - Writing the remote side (create, delete, rename) needs opts->push,
 *    the local side opts->pull.
 *  - Order: RENAME, FORGET, DELETE (children before parents), CREATE
 *    (parents before children), SYNC, SKIP; by name within each.
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/banned.h"

struct bside {
	const struct plan_box_side *v;
	size_t n;
	unsigned char *used;
};

struct bctx {
	const struct plan_opts *o;
	struct plan_boxes *out;
	size_t cap;
	struct bside sd[2];
};

static const char *norm(const char *name)
{
	return strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
}

static int selectable(const struct plan_box_side *b)
{
	return !(b->attrs & (BOX_NOSELECT | BOX_NONEXISTENT));
}

static long find_box(const struct bside *sd, const char *name)
{
	if (!name)
		return -1;
	name = norm(name);
	for (size_t i = 0; i < sd->n; i++)
		if (selectable(&sd->v[i]) && strcmp(norm(sd->v[i].name), name) == 0)
			return (long)i;
	return -1;
}

/* IMAP LIST wildcards: '*' matches anything, '%' anything but '/'. */
static int pat_match(const char *p, const char *s)
{
	for (; *p; p++, s++) {
		if (*p == '*' || *p == '%') {
			for (const char *t = s;; t++) {
				if (pat_match(p + 1, t))
					return 1;
				if (!*t || (*p == '%' && *t == '/'))
					return 0;
			}
		}
		if (*s != *p)
			return 0;
	}
	return *s == '\0';
}

static int wanted(const struct plan_opts *o, const char *name)
{
	name = norm(name);
	int inc = o->ninclude == 0;
	for (size_t i = 0; i < o->ninclude && !inc; i++)
		inc = pat_match(norm(o->include[i]), name);
	if (!inc)
		return 0;
	for (size_t i = 0; i < o->nexclude; i++)
		if (pat_match(norm(o->exclude[i]), name))
			return 0;
	return 1;
}

static struct plan_box_action *bemit(struct bctx *c, enum plan_box_op op,
				     enum plan_side side, int64_t id,
				     const char *rname, const char *lname,
				     const char *reason)
{
	struct plan_boxes *p = c->out;
	if (p->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		p->v = mf_reallocarray(p->v, c->cap, sizeof *p->v);
	}
	struct plan_box_action *a = &p->v[p->n++];
	memset(a, 0, sizeof *a);
	a->op = op;
	a->side = side;
	a->journal_id = id;
	a->rname = mf_strdup(rname);
	a->lname = mf_strdup(lname);
	a->reason = reason;
	return a;
}

static int can_create(const struct plan_opts *o, int side)
{
	return side == SIDE_REMOTE ? o->push && o->create_remote
				   : o->pull && o->create_local;
}

static int can_remove(const struct plan_opts *o, int side)
{
	return side == SIDE_REMOTE ? o->push && o->remove_remote
				   : o->pull && o->remove_local;
}

static int can_write(const struct plan_opts *o, int side)
{
	return side == SIDE_REMOTE ? o->push : o->pull;
}

/* A name on side s that no journal pair knows, carrying `ident`. */
static long find_renamed(struct bctx *c, int s, const char *ident,
			 const struct plan_box_known *known, size_t nknown)
{
	const struct bside *sd = &c->sd[s];
	if (!ident || !*ident)
		return -1;
	for (size_t i = 0; i < sd->n; i++) {
		const struct plan_box_side *b = &sd->v[i];
		if (sd->used[i] || !selectable(b) || !b->ident || strcmp(b->ident, ident))
			continue;
		int knownname = 0;
		for (size_t k = 0; k < nknown && !knownname; k++) {
			const char *kn = s == SIDE_REMOTE ? known[k].rname : known[k].lname;
			knownname = kn && strcmp(norm(kn), norm(b->name)) == 0;
		}
		if (!knownname && find_box(&c->sd[!s], b->name) < 0)
			return (long)i;
	}
	return -1;
}

/* Journal pair k is gone from side `g` and present on the other. */
static void plan_gone_one(struct bctx *c, const struct plan_box_known *k, int g,
			  long other, const struct plan_box_known *known, size_t nknown)
{
	const struct plan_opts *o = c->o;
	int s = !g; /* the side where it still is */
	const char *ident = g == SIDE_REMOTE ? k->rident : k->lident;
	const char *oldname = s == SIDE_REMOTE ? k->rname : k->lname;
	c->sd[s].used[other] = 1;

	long rn = can_write(o, s) ? find_renamed(c, g, ident, known, nknown) : -1;
	if (rn >= 0) {
		const char *nn = c->sd[g].v[rn].name;
		c->sd[g].used[rn] = 1;
		if (!wanted(o, nn)) {
			bemit(c, PBOX_SKIP, (enum plan_side)s, k->id, k->rname, k->lname,
			      "renamed to an excluded name");
			return;
		}
		struct plan_box_action *a = bemit(c, PBOX_RENAME, (enum plan_side)s, k->id,
						  nn, nn, g == SIDE_REMOTE
						  ? "renamed on remote" : "renamed locally");
		a->from = mf_strdup(oldname);
		return;
	}
	int inbox = strcmp(norm(oldname), "INBOX") == 0; /* never deleted */
	if (can_remove(o, s) && k->empty_since_sync && !inbox) {
		bemit(c, PBOX_DELETE, (enum plan_side)s, k->id, k->rname, k->lname,
		      g == SIDE_REMOTE ? "deleted on remote" : "deleted locally");
		return;
	}
	const char *why = inbox ? (g == SIDE_REMOTE ? "INBOX gone on remote: re-created"
					       : "INBOX gone locally: re-created")
		: !can_remove(o, s)
		? (g == SIDE_REMOTE ? "deleted on remote, local removal not allowed: re-created"
				    : "deleted locally, remote removal not allowed: re-created")
		: (g == SIDE_REMOTE ? "deleted on remote, local copy holds unsynced mail: re-created"
				    : "deleted locally, remote copy holds unsynced mail: re-created");
	if (!can_create(o, g)) {
		bemit(c, PBOX_SKIP, (enum plan_side)g, k->id, k->rname, k->lname,
		      g == SIDE_REMOTE ? "deleted on remote; neither removal nor re-creation allowed"
				       : "deleted locally; neither removal nor re-creation allowed");
		return;
	}
	bemit(c, PBOX_FORGET, (enum plan_side)g, k->id, k->rname, k->lname, why);
	bemit(c, PBOX_CREATE, (enum plan_side)g, 0, k->rname, k->lname, why);
}

static void plan_known(struct bctx *c, const struct plan_box_known *known,
		       size_t nknown, size_t i)
{
	const struct plan_box_known *k = &known[i];
	long r = find_box(&c->sd[0], k->rname), l = find_box(&c->sd[1], k->lname);
	if ((k->rname && !wanted(c->o, k->rname)) || (k->lname && !wanted(c->o, k->lname))) {
		if (r >= 0)
			c->sd[0].used[r] = 1;
		if (l >= 0)
			c->sd[1].used[l] = 1;
		bemit(c, PBOX_SKIP, SIDE_REMOTE, k->id, k->rname, k->lname,
		      "excluded by pattern");
		return;
	}
	if (r >= 0 && l >= 0) {
		c->sd[0].used[r] = c->sd[1].used[l] = 1;
		bemit(c, PBOX_SYNC, SIDE_REMOTE, k->id, k->rname, k->lname, NULL);
	} else if (r < 0 && l < 0) {
		bemit(c, PBOX_FORGET, SIDE_REMOTE, k->id, k->rname, k->lname,
		      "gone on both sides");
	} else if (r < 0) {
		plan_gone_one(c, k, SIDE_REMOTE, l, known, nknown);
	} else {
		plan_gone_one(c, k, SIDE_LOCAL, r, known, nknown);
	}
}

static void plan_unknown(struct bctx *c, int s, size_t i)
{
	const struct plan_box_side *b = &c->sd[s].v[i];
	if (c->sd[s].used[i] || !selectable(b))
		return;
	c->sd[s].used[i] = 1;
	const char *name = norm(b->name);
	long o = find_box(&c->sd[!s], name);
	if (o >= 0 && !c->sd[!s].used[o])
		c->sd[!s].used[o] = 1;
	else
		o = -1;
	if (!wanted(c->o, name)) {
		bemit(c, PBOX_SKIP, (enum plan_side)s, 0, name, name, "excluded by pattern");
		return;
	}
	if (o >= 0) {
		bemit(c, PBOX_SYNC, SIDE_REMOTE, 0, name, name, "new on both sides");
		return;
	}
	int d = !s;
	if (!can_create(c->o, d)) {
		bemit(c, PBOX_SKIP, (enum plan_side)d, 0, name, name,
		      d == SIDE_REMOTE ? "creation on remote not allowed"
				       : "creation on local not allowed");
		return;
	}
	bemit(c, PBOX_CREATE, (enum plan_side)d, 0, name, name,
	      s == SIDE_REMOTE ? "new on remote" : "new locally");
}

static int brank(enum plan_box_op op)
{
	switch (op) {
	case PBOX_RENAME:
		return 0;
	case PBOX_FORGET:
		return 1;
	case PBOX_DELETE:
		return 2;
	case PBOX_CREATE:
		return 3;
	case PBOX_SYNC:
		return 4;
	case PBOX_SKIP:
		return 5;
	}
	return 6;
}

struct bord {
	struct plan_box_action a;
	size_t seq;
};

static int cmp_bord(const void *x, const void *y)
{
	const struct bord *a = x, *b = y;
	int ra = brank(a->a.op), rb = brank(b->a.op);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	const char *na = a->a.side == SIDE_REMOTE ? a->a.rname : a->a.lname;
	const char *nb = b->a.side == SIDE_REMOTE ? b->a.rname : b->a.lname;
	int r = strcmp(na ? na : "", nb ? nb : "");
	if (a->a.op == PBOX_DELETE)
		r = -r;
	if (r)
		return r;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int plan_boxes(const struct plan_box_side *remote, size_t nremote,
	       const struct plan_box_side *local, size_t nlocal,
	       const struct plan_box_known *known, size_t nknown,
	       const struct plan_opts *o, struct plan_boxes *out)
{
	memset(out, 0, sizeof *out);
	if (!o)
		return -1;
	struct bctx c = { .o = o, .out = out };
	c.sd[0] = (struct bside){ remote, nremote, mf_calloc(nremote + 1, 1) };
	c.sd[1] = (struct bside){ local, nlocal, mf_calloc(nlocal + 1, 1) };

	/* pairs present on both sides claim their names before any rename
	 * search looks for unknown names */
	for (size_t i = 0; i < nknown; i++) {
		long r = find_box(&c.sd[0], known[i].rname);
		long l = find_box(&c.sd[1], known[i].lname);
		if (r >= 0 && l >= 0)
			c.sd[0].used[r] = c.sd[1].used[l] = 1;
	}
	for (size_t i = 0; i < nknown; i++)
		plan_known(&c, known, nknown, i);
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < c.sd[s].n; i++)
			plan_unknown(&c, s, i);

	struct bord *v = mf_calloc(out->n + 1, sizeof *v);
	for (size_t i = 0; i < out->n; i++)
		v[i] = (struct bord){ out->v[i], i };
	qsort(v, out->n, sizeof *v, cmp_bord);
	for (size_t i = 0; i < out->n; i++)
		out->v[i] = v[i].a;
	free(v);
	free(c.sd[0].used);
	free(c.sd[1].used);
	return 0;
}

void plan_boxes_free(struct plan_boxes *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].rname);
		free(p->v[i].lname);
		free(p->v[i].from);
	}
	free(p->v);
	memset(p, 0, sizeof *p);
}
