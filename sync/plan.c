/*
 * plan.c — the message planner (plan.h): for one mailbox pair, from the two
 * listings and the journal's message pairs, the ordered list of actions that
 * brings both sides in step. Pure: no I/O, no clock (opts->now), no logging,
 * no globals. Owns nothing beyond the plan it returns.
 *
 * Design (the rules, in the order the code applies them)
 *
 * 1. Where is each pair now? Per side a pair is NONE (no key: a transfer
 *    that never completed), PRESENT (listed; in a delta listing a paired key
 *    that is not mentioned is PRESENT with the base as its flags) or GONE
 *    (absent from a full listing, or in the delta's vanished keys).
 * 2. Keys invalid on a side (UIDVALIDITY changed, Maildir folder replaced):
 *    the pairs are re-matched with that side's listing by fingerprint,
 *    one-to-one (multiset), and get PLAN_REKEY; a listed message no pair
 *    matches is new; an unmatched pair counts as GONE on that side (rule 6:
 *    deleted there). Safety valve: when pairs had keys on that side but not
 *    one of them matched (empty listing, or a server that lost or
 *    renumbered everything), or the listing is only a delta, nothing at all
 *    is planned and plan->alert says why; the caller must then keep the old
 *    identity, so the next run looks again. A stale remote key never stays
 *    in the journal (a new UIDVALIDITY reuses small UIDs): an unmatched pair
 *    is expunged locally or dropped; when the local side may not be written
 *    (push only) it is dropped and its local copy is new again (uploaded).
 *    Stale local keys may stay in a tombstone: Maildir names never repeat.
 * 3. Fingerprint pairing of what is left unpaired: a pending pair (one key
 *    NULL) first looks for an unpaired message with its fingerprint on the
 *    missing side (PLAN_REKEY: the APPEND or download did land); then
 *    unpaired messages of both sides with equal fingerprints are paired
 *    one-to-one (PLAN_PAIR), in key order, never one with two. The base of
 *    such a first pairing is the UNION of both flag sets (there is no base
 *    to say who changed what, and adding is the change that loses nothing;
 *    the code merges against the intersection, which yields the union), so
 *    the side that lacks some gets PLAN_FLAGS, and a union holding \Deleted
 *    follows rule 5 like any pair.
 * 4. Both PRESENT: three-way merge per system flag and per keyword against
 *    the base: a flag one side changed takes that side's value; a flag both
 *    changed was changed the same way (a bit has two values), so there is
 *    never a real conflict; a flag nobody changed keeps the base. So a stale
 *    side cannot overwrite a fresh one.
 * 5. \Deleted and expunge. \Deleted is merged like any flag. When the merged
 *    flags hold \Deleted and expunge is allowed on the remote side, the
 *    message is expunged on the remote side and, since a remote expunge
 *    always propagates to the local side, on the local side too. When only
 *    local expunge is allowed, the local copy is expunged (a local T flag
 *    with --expunge local removes the file) and the remote copy keeps
 *    \Deleted: the pair stays as a tombstone (see 6).
 * 6. One side GONE, the other PRESENT. Remote GONE (expunged on the server):
 *    the local copy is expunged (local files are ours to remove), even if
 *    its flags changed: an expunge beats a flag change, and `reason` says
 *    so. Local GONE (file removed: a local expunge): the remote copy gets
 *    \Deleted (PLAN_MARK_DELETED), or is expunged when remote expunge is
 *    allowed; again the deletion beats a remote flag change, including a
 *    remote "undelete". The pair is kept while the remote copy exists, so
 *    it is not copied back; a tombstone whose remote copy already has
 *    \Deleted plans nothing. Both GONE or NONE: PLAN_UNPAIR.
 * 7. Pending pairs (one key NULL, other side PRESENT) that found no match in
 *    3 are completed by PLAN_COPY with pair_id set (no size/age filter: the
 *    message was admitted before).
 * 8. Unpaired messages are new: PLAN_COPY to the other side with their
 *    flags, keywords and internal date, unless filtered (max_size, max_age:
 *    PLAN_SKIP, counted). A new message that carries \Deleted is expunged
 *    where it is when that side allows expunge, skipped when only the other
 *    side allows it (it would be expunged there at once), copied otherwise.
 * 9. Directions: opts->pull means "may write the local side", opts->push
 *    "may write the remote side"; nothing is planned that writes a side not
 *    allowed. The new base after a flag merge is the merged set when both
 *    sides are written, else the flags of the side that is not written (so
 *    that side's later changes still flow, and nothing flips back).
 *
 * Action contract for the executor (in addition to plan.h):
 *  - Every action carries rkey and lkey when known (the keys after it).
 *    FLAGS and EXPUNGE with pair_id 0 after a PLAN_PAIR of the same plan name
 *    the new pair by these keys.
 *  - COPY: `flags` become the pair's base; pair_id != 0 completes that pair
 *    (sets its key on `side`), pair_id 0 creates a new pair.
 *  - MARK_DELETED and FLAGS: the pair's base becomes `flags`.
 *  - EXPUNGE drops pair_id unless keep_pair; when both sides are expunged,
 *    the local one comes first with keep_pair = 1, so a crash in between
 *    leaves a pair that the next run finishes.
 *  - REKEY never sets a key to NULL; it gives the pair both current keys.
 *  - plan->need_full[s]: some pair kept after this plan does not hold its
 *    base on side s (a tombstone, or a side not written), so "absent from a
 *    delta = unchanged = base" would be wrong next time: list s in full.
 *  - PLAN_SKIP is informational and repeats on every run while its cause
 *    holds; everything else is idempotent: planning again right after the
 *    plan was carried out yields no action (tests/plan/test_plan_converge).
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "lib/banned.h"

enum pstate { PS_NONE = 0, PS_PRESENT, PS_GONE };

struct keyidx {
	const char *key;
	size_t i;
};

struct side {
	const struct plan_msg *m;
	size_t n;
	int full;
	int invalid;
	int writable;
	int expunge;              /* expunge allowed and side writable */
	struct keyidx *byk;       /* keys of m with their indices, sorted by key */
	const char **van;         /* vanished keys, sorted */
	size_t nvan;
	unsigned char *claimed;   /* per m: belongs to a pair */
};

struct pst {                       /* one journal pair, during planning (one per pair: small) */
	const struct plan_msg *msg[2]; /* PRESENT: listed message, or NULL = base */
	const char *key[2];            /* current key per side (after rekey) */
	unsigned char st[2];           /* enum pstate */
	unsigned char stale[2];        /* GONE because keys invalid and unmatched */
	unsigned char rekey;           /* emit PLAN_REKEY */
};

struct ctx {
	const struct plan_msgs_input *in;
	const struct plan_opts *o;
	struct plan *out;
	size_t cap;
	struct side sd[2];
	struct pst *ps;
};

/* ------------------------------------------------------------ helpers */

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* Key order for the executor: IMAP UIDs numerically, other keys by strcmp. */
static int key_order(const char *a, const char *b)
{
	if (!a || !b)
		return a ? 1 : b ? -1 : 0;
	if (all_digits(a) && all_digits(b)) {
		while (*a == '0' && a[1])
			a++;
		while (*b == '0' && b[1])
			b++;
		size_t la = strlen(a), lb = strlen(b);
		if (la != lb)
			return la < lb ? -1 : 1;
	}
	return strcmp(a, b);
}

static const struct flagset *msg_flags(const struct pst *p, const struct plan_pair *pr,
				       int s)
{
	return p->msg[s] ? &p->msg[s]->flags : &pr->base;
}

/* Three-way merge: per flag, the side that changed it against the base wins;
 * both sides changing one flag can only have changed it the same way. */
static void merge3(const struct flagset *b, const struct flagset *r,
		   const struct flagset *l, struct flagset *m)
{
	unsigned rc = r->sys ^ b->sys;
	flagset_init(m);
	m->sys = (r->sys & rc) | (l->sys & ~rc);
	const struct flagset *all[3] = { b, r, l };
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < all[k]->nkw; i++) {
			const char *kw = all[k]->kw[i];
			int hb = flagset_has_kw(b, kw), hr = flagset_has_kw(r, kw);
			int want = hr != hb ? hr : flagset_has_kw(l, kw);
			if (want)
				flagset_add_kw(m, kw);
		}
}

/* add = to - from, del = from - to */
static void flag_diff(const struct flagset *from, const struct flagset *to,
		      struct flagset *add, struct flagset *del)
{
	flagset_init(add);
	flagset_init(del);
	add->sys = to->sys & ~from->sys;
	del->sys = from->sys & ~to->sys;
	for (size_t i = 0; i < to->nkw; i++)
		if (!flagset_has_kw(from, to->kw[i]))
			flagset_add_kw(add, to->kw[i]);
	for (size_t i = 0; i < from->nkw; i++)
		if (!flagset_has_kw(to, from->kw[i]))
			flagset_add_kw(del, from->kw[i]);
}

/* ------------------------------------------------------------ emitting */

static struct plan_action *emit(struct ctx *c, enum plan_op op, enum plan_side side)
{
	struct plan *p = c->out;
	if (p->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		p->v = mf_reallocarray(p->v, c->cap, sizeof *p->v);
	}
	struct plan_action *a = &p->v[p->n++];
	memset(a, 0, sizeof *a);
	a->op = op;
	a->side = side;
	flagset_init(&a->flags);
	flagset_init(&a->add);
	flagset_init(&a->del);
	return a;
}

/* `key` is always one of the action's two keys, so it shares that copy
 * (one string fewer per action: an initial sync plans one per message). */
static void set_keys(struct plan_action *a, const char *key, const char *rkey,
		     const char *lkey)
{
	a->rkey = mf_strdup(rkey);
	a->lkey = mf_strdup(lkey);
	if (key && rkey && !strcmp(key, rkey))
		a->key = a->rkey;
	else if (key && lkey && !strcmp(key, lkey))
		a->key = a->lkey;
	else
		a->key = mf_strdup(key);
}

static void set_meta_msg(struct plan_action *a, const struct plan_msg *m)
{
	a->size = m->size;
	a->idate = m->idate;
	a->has_fp = m->has_fp;
	memcpy(a->fp, m->fp, sizeof a->fp);
}

static void set_meta_pair(struct plan_action *a, const struct plan_pair *pr)
{
	a->pair_id = pr->id;
	a->size = pr->size;
	a->idate = pr->idate;
	a->has_fp = pr->has_fp;
	memcpy(a->fp, pr->fp, sizeof a->fp);
}

static void emit_flags(struct ctx *c, int s, const char *key, const char *rkey,
		       const char *lkey, const struct flagset *from,
		       const struct flagset *to, const struct flagset *base,
		       const struct plan_pair *pr)
{
	struct plan_action *a = emit(c, PLAN_FLAGS, (enum plan_side)s);
	set_keys(a, key, rkey, lkey);
	if (pr)
		set_meta_pair(a, pr);
	flag_diff(from, to, &a->add, &a->del);
	flagset_copy(&a->flags, base);
}

static void emit_expunge(struct ctx *c, int s, const char *key, const char *rkey,
			 const char *lkey, const struct plan_pair *pr, int keep,
			 const char *reason)
{
	struct plan_action *a = emit(c, PLAN_EXPUNGE, (enum plan_side)s);
	set_keys(a, key, rkey, lkey);
	if (pr)
		set_meta_pair(a, pr);
	a->keep_pair = keep;
	a->reason = reason;
}

static void emit_simple(struct ctx *c, enum plan_op op, const struct plan_pair *pr,
			const char *rkey, const char *lkey, const struct flagset *fl,
			const char *reason)
{
	struct plan_action *a = emit(c, op, SIDE_REMOTE);
	set_keys(a, NULL, rkey, lkey);
	set_meta_pair(a, pr);
	if (fl)
		flagset_copy(&a->flags, fl);
	a->reason = reason;
}

/* ------------------------------------------------------------ lookups */

static int cmp_keyidx(const void *a, const void *b)
{
	const struct keyidx *x = a, *y = b;
	int r = strcmp(x->key, y->key);
	return r ? r : x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static long find_key(const struct side *sd, const char *key)
{
	size_t lo = 0, hi = sd->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(sd->byk[mid].key, key);
		if (r == 0) {
			while (mid > 0 && strcmp(sd->byk[mid - 1].key, key) == 0)
				mid--; /* the first of a key listed twice */
			return (long)sd->byk[mid].i;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int vanished(const struct side *sd, const char *key)
{
	return bsearch(&key, sd->van, sd->nvan, sizeof *sd->van, cmp_str) != NULL;
}

static void side_init(struct side *sd, const struct plan_msg *m, size_t n, int full,
		      const char *const *van, size_t nvan, int invalid)
{
	sd->m = m;
	sd->n = n;
	sd->full = full;
	sd->invalid = invalid;
	struct keyidx *ki = mf_calloc(n ? n : 1, sizeof *ki);
	for (size_t i = 0; i < n; i++)
		ki[i] = (struct keyidx){ m[i].key, i };
	qsort(ki, n, sizeof *ki, cmp_keyidx);
	sd->byk = ki;
	sd->claimed = mf_calloc(n ? n : 1, 1);
	/* a key listed twice (two Maildir files with one unique name): only
	 * the first counts; the other is never taken for a new message, which
	 * would be copied again on every run */
	for (size_t i = 1; i < n; i++)
		if (strcmp(ki[i].key, ki[i - 1].key) == 0)
			sd->claimed[ki[i].i] = 1;
	sd->nvan = nvan;
	sd->van = mf_reallocarray(NULL, nvan ? nvan : 1, sizeof *sd->van);
	for (size_t i = 0; i < nvan; i++)
		sd->van[i] = van[i];
	qsort(sd->van, nvan, sizeof *sd->van, cmp_str);
}

static void side_free(struct side *sd)
{
	free(sd->byk);
	free(sd->van);
	free(sd->claimed);
}

/* ---------------------------------------------------- fingerprint matching */

/* A candidate for fingerprint matching: a listed message (pair < 0) or a
 * pair (msg < 0). */
struct cand {
	const unsigned char *fp;
	const char *key;  /* for deterministic order */
	long msg;
	long pair;
	long match;       /* index into the other list, -1 if none */
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int r = memcmp(x->fp, y->fp, 32);
	if (r)
		return r;
	/* pairs first: they are ours and looking for their lost half */
	if ((x->pair >= 0) != (y->pair >= 0))
		return x->pair >= 0 ? -1 : 1;
	r = key_order(x->key, y->key);
	if (r)
		return r;
	return x->msg != y->msg ? (x->msg < y->msg ? -1 : 1)
				: (x->pair < y->pair ? -1 : x->pair > y->pair);
}

/* One-to-one matching of two sorted candidate lists by fingerprint; a pair
 * never matches a pair. Within an equal-fingerprint group the candidates are
 * matched in order, so k copies on one side and j on the other give
 * min(k, j) matches. */
static void match_lists(struct cand *a, size_t na, struct cand *b, size_t nb)
{
	size_t i = 0, j = 0;
	while (i < na && j < nb) {
		int r = memcmp(a[i].fp, b[j].fp, 32);
		if (r < 0) {
			i++;
			continue;
		}
		if (r > 0) {
			j++;
			continue;
		}
		size_t ie = i, je = j;
		while (ie < na && memcmp(a[ie].fp, a[i].fp, 32) == 0)
			ie++;
		while (je < nb && memcmp(b[je].fp, b[j].fp, 32) == 0)
			je++;
		for (size_t x = i; x < ie; x++)
			for (size_t y = j; y < je; y++) {
				if (b[y].match >= 0 || (a[x].pair >= 0 && b[y].pair >= 0))
					continue;
				a[x].match = (long)y;
				b[y].match = (long)x;
				break;
			}
		i = ie;
		j = je;
	}
}

/* Keys invalid on side s: re-match pairs with s's listing by fingerprint.
 * Returns -1 (and sets the alert) when nothing matched that should have. */
static int rekey_side(struct ctx *c, int s)
{
	const struct plan_msgs_input *in = c->in;
	struct side *sd = &c->sd[s];
	struct cand *pc = mf_calloc(in->npairs ? in->npairs : 1, sizeof *pc);
	struct cand *mc = mf_calloc(sd->n ? sd->n : 1, sizeof *mc);
	size_t np = 0, nm = 0, eligible = 0, matched = 0;

	for (size_t i = 0; i < in->npairs; i++) {
		const struct plan_pair *pr = &in->pairs[i];
		const char *k = s == SIDE_REMOTE ? pr->rkey : pr->lkey;
		if (k)
			eligible++;
		if (pr->has_fp)
			pc[np++] = (struct cand){ pr->fp, k, -1, (long)i, -1 };
	}
	for (size_t i = 0; i < sd->n; i++)
		if (sd->m[i].has_fp && !sd->claimed[i])
			mc[nm++] = (struct cand){ sd->m[i].fp, sd->m[i].key, (long)i, -1, -1 };
	qsort(pc, np, sizeof *pc, cmp_cand);
	qsort(mc, nm, sizeof *mc, cmp_cand);
	match_lists(pc, np, mc, nm);

	for (size_t i = 0; i < np; i++) {
		if (pc[i].match < 0)
			continue;
		struct pst *p = &c->ps[pc[i].pair];
		const struct plan_msg *m = &sd->m[mc[pc[i].match].msg];
		p->st[s] = PS_PRESENT;
		p->msg[s] = m;
		p->key[s] = m->key;
		p->rekey = 1;
		sd->claimed[mc[pc[i].match].msg] = 1;
		matched++;
	}
	for (size_t i = 0; i < in->npairs; i++) {
		struct pst *p = &c->ps[i];
		if (p->st[s] == PS_PRESENT || !p->key[s])
			continue;
		p->st[s] = PS_GONE;
		p->stale[s] = 1;
	}
	free(pc);
	free(mc);
	if (eligible > 0 && matched == 0) {
		c->out->alert = s == SIDE_REMOTE
			? "remote mailbox renumbered and no message matched the journal: "
			  "nothing planned"
			: "local mailbox replaced and no message matched the journal: "
			  "nothing planned";
		return -1;
	}
	return 0;
}

static void locate_side(struct ctx *c, int s)
{
	struct side *sd = &c->sd[s];
	for (size_t i = 0; i < c->in->npairs; i++) {
		struct pst *p = &c->ps[i];
		const char *k = p->key[s];
		if (!k) {
			p->st[s] = PS_NONE;
			continue;
		}
		long mi = find_key(sd, k);
		if (mi >= 0) {
			p->st[s] = PS_PRESENT;
			p->msg[s] = &sd->m[mi];
			sd->claimed[mi] = 1;
		} else if (sd->full || vanished(sd, k)) {
			p->st[s] = PS_GONE;
		} else {
			p->st[s] = PS_PRESENT; /* unchanged in a delta */
		}
	}
}

static void plan_both(struct ctx *c, const struct plan_pair *pr, struct pst *p,
		      int newpair);

/* Unpaired messages of both sides, and pending pairs, matched by
 * fingerprint. Pairs matched here get their missing key (REKEY); two
 * messages matched get PLAN_PAIR with the union of their flags. */
static void pair_by_fp(struct ctx *c)
{
	const struct plan_msgs_input *in = c->in;
	struct cand *cl[2];
	size_t nc[2] = { 0, 0 };

	for (int s = 0; s < 2; s++) {
		struct side *sd = &c->sd[s];
		/* sized by what has a fingerprint: usually few or none, while
		 * n + npairs would be a mailbox's worth of candidates */
		size_t want = 1;
		for (size_t i = 0; i < sd->n; i++)
			want += !sd->claimed[i] && sd->m[i].has_fp;
		for (size_t i = 0; i < in->npairs; i++)
			want += c->ps[i].st[s] == PS_PRESENT && c->ps[i].st[!s] == PS_NONE;
		cl[s] = mf_calloc(want, sizeof *cl[s]);
		for (size_t i = 0; i < sd->n; i++)
			if (!sd->claimed[i] && sd->m[i].has_fp)
				cl[s][nc[s]++] = (struct cand){ sd->m[i].fp, sd->m[i].key,
								(long)i, -1, -1 };
		/* a pair PRESENT on s and NONE on the other looks for a message
		 * on the other side: it stands in s's list */
		for (size_t i = 0; i < in->npairs; i++) {
			struct pst *p = &c->ps[i];
			if (p->st[s] != PS_PRESENT || p->st[!s] != PS_NONE)
				continue;
			const unsigned char *fp = in->pairs[i].has_fp ? in->pairs[i].fp
				: p->msg[s] && p->msg[s]->has_fp ? p->msg[s]->fp : NULL;
			if (fp)
				cl[s][nc[s]++] = (struct cand){ fp, p->key[s], -1, (long)i, -1 };
		}
		qsort(cl[s], nc[s], sizeof *cl[s], cmp_cand);
	}
	match_lists(cl[0], nc[0], cl[1], nc[1]);

	for (size_t i = 0; i < nc[0]; i++) {
		struct cand *r = &cl[0][i];
		if (r->match < 0)
			continue;
		struct cand *l = &cl[1][r->match];
		if (r->pair >= 0 || l->pair >= 0) {
			/* pending pair finds its other half */
			int s = r->pair >= 0 ? SIDE_LOCAL : SIDE_REMOTE;
			struct cand *pcand = r->pair >= 0 ? r : l;
			struct cand *mcand = r->pair >= 0 ? l : r;
			struct pst *p = &c->ps[pcand->pair];
			const struct plan_msg *m = &c->sd[s].m[mcand->msg];
			p->st[s] = PS_PRESENT;
			p->msg[s] = m;
			p->key[s] = m->key;
			p->rekey = 1;
			c->sd[s].claimed[mcand->msg] = 1;
			continue;
		}
		const struct plan_msg *rm = &c->sd[0].m[r->msg], *lm = &c->sd[1].m[l->msg];
		c->sd[0].claimed[r->msg] = 1;
		c->sd[1].claimed[l->msg] = 1;
		/* merging against the intersection as base gives the union */
		struct plan_pair np = { .rkey = rm->key, .lkey = lm->key, .size = rm->size,
					.idate = rm->idate, .has_fp = 1 };
		memcpy(np.fp, rm->fp, sizeof np.fp);
		flagset_init(&np.base);
		np.base.sys = rm->flags.sys & lm->flags.sys;
		for (size_t k = 0; k < rm->flags.nkw; k++)
			if (flagset_has_kw(&lm->flags, rm->flags.kw[k]))
				flagset_add_kw(&np.base, rm->flags.kw[k]);
		struct pst ps = { .st = { PS_PRESENT, PS_PRESENT }, .msg = { rm, lm },
				  .key = { rm->key, lm->key } };
		plan_both(c, &np, &ps, 1);
		flagset_free(&np.base);
	}
	free(cl[0]);
	free(cl[1]);
}

/* ------------------------------------------------------------ decisions */

/* An unpaired message (or the present half of a pending pair, pr != NULL)
 * on side s: copy it to the other side, or skip, or expunge it. */
static void plan_new(struct ctx *c, int s, const struct plan_msg *m,
		     const struct flagset *fl, const char *key,
		     const struct plan_pair *pr)
{
	const struct plan_opts *o = c->o;
	int d = !s;
	const char *rkey = s == SIDE_REMOTE ? key : NULL;
	const char *lkey = s == SIDE_LOCAL ? key : NULL;

	if (fl->sys & MF_DELETED) {
		if (c->sd[s].expunge) {
			emit_expunge(c, s, key, rkey, lkey, pr, 0,
				     "marked deleted, expunge allowed");
			return;
		}
		if (c->sd[d].expunge) {
			struct plan_action *a = emit(c, PLAN_SKIP, (enum plan_side)d);
			set_keys(a, key, rkey, lkey);
			if (m)
				set_meta_msg(a, m);
			a->reason = "marked deleted: not copied";
			return;
		}
	}
	if (!c->sd[d].writable)
		return;
	if (!pr && m) {
		const char *why = NULL;
		if (o->max_size && m->size > o->max_size)
			why = "larger than max-size";
		else if (o->max_age && m->idate >= 0 && o->now - m->idate > o->max_age)
			why = "older than max-age";
		if (why) {
			struct plan_action *a = emit(c, PLAN_SKIP, (enum plan_side)d);
			set_keys(a, key, rkey, lkey);
			set_meta_msg(a, m);
			a->reason = why;
			return;
		}
	}
	struct plan_action *a = emit(c, PLAN_COPY, (enum plan_side)d);
	set_keys(a, key, rkey, lkey);
	if (m)
		set_meta_msg(a, m);
	if (pr) {
		a->pair_id = pr->id;
		if (!m)
			set_meta_pair(a, pr);
		a->reason = "completing a pending transfer";
	}
	flagset_copy(&a->flags, fl);
}

/* Both sides present: merge flags, maybe expunge. newpair: pr is not in
 * the journal yet (a fingerprint match): PLAN_PAIR carries the new base
 * instead of PLAN_BASE, and pair_id is 0. */
static void plan_both(struct ctx *c, const struct plan_pair *pr, struct pst *p,
		      int newpair)
{
	const struct flagset *b = &pr->base;
	const struct flagset *f[2] = { msg_flags(p, pr, 0), msg_flags(p, pr, 1) };
	const char *rk = p->key[0], *lk = p->key[1];
	int w[2] = { c->sd[0].writable, c->sd[1].writable };
	struct flagset m, nb;

	merge3(b, f[0], f[1], &m);
	if ((m.sys & MF_DELETED) && c->sd[SIDE_REMOTE].expunge) {
		if (newpair && !w[SIDE_LOCAL]) {
			/* the local copy stays: pair it, or it would be new
			 * (and copied back) next time */
			struct plan_action *a = emit(c, PLAN_PAIR, SIDE_REMOTE);
			set_keys(a, NULL, rk, lk);
			set_meta_pair(a, pr);
			flagset_copy(&a->flags, f[SIDE_LOCAL]);
			a->reason = "same fingerprint on both sides";
		}
		if (w[SIDE_LOCAL]) {
			emit_expunge(c, SIDE_LOCAL, lk, rk, lk, pr, 1,
				     "marked deleted, expunged on both sides");
		} else {
			/* a tombstone: remote gone, local copy as it is */
			c->out->need_full[SIDE_REMOTE] = 1;
			if (newpair || !flagset_equal(f[SIDE_LOCAL], b))
				c->out->need_full[SIDE_LOCAL] = 1;
		}
		emit_expunge(c, SIDE_REMOTE, rk, rk, lk, pr, !w[SIDE_LOCAL],
			     "marked deleted, remote expunge allowed");
		flagset_free(&m);
		return;
	}
	int exp_local = (m.sys & MF_DELETED) && c->sd[SIDE_LOCAL].expunge;
	if (exp_local) /* no point in changing flags of what goes away */
		flagset_copy(&nb, w[SIDE_REMOTE] ? &m : f[SIDE_REMOTE]);
	else
		flagset_copy(&nb, w[0] && w[1] ? &m : w[1] ? f[0] : w[0] ? f[1] : b);
	if (exp_local)
		w[SIDE_LOCAL] = 0;
	if (newpair) {
		struct plan_action *a = emit(c, PLAN_PAIR, SIDE_REMOTE);
		set_keys(a, NULL, rk, lk);
		set_meta_pair(a, pr);
		flagset_copy(&a->flags, &nb);
		a->reason = "same fingerprint on both sides";
	}
	int any = newpair;
	for (int s = 0; s < 2; s++) {
		if (w[s] && !flagset_equal(&m, f[s])) {
			emit_flags(c, s, p->key[s], rk, lk, f[s], &m, &nb, pr);
			any = 1;
		}
		if (!flagset_equal(w[s] ? &m : f[s], &nb))
			c->out->need_full[s] = 1;
	}
	if (!any && !flagset_equal(&nb, b))
		emit_simple(c, PLAN_BASE, pr, rk, lk, &nb, NULL);
	if (exp_local) {
		emit_expunge(c, SIDE_LOCAL, lk, rk, lk, pr, 1,
			     "marked deleted, local expunge allowed");
		c->out->need_full[SIDE_LOCAL] = 1;
	}
	flagset_free(&nb);
	flagset_free(&m);
}

static void plan_pair(struct ctx *c, size_t i)
{
	const struct plan_pair *pr = &c->in->pairs[i];
	struct pst *p = &c->ps[i];
	const char *rk = p->key[0], *lk = p->key[1];
	enum pstate r = (enum pstate)p->st[0], l = (enum pstate)p->st[1];

	if (p->rekey)
		emit_simple(c, PLAN_REKEY, pr, rk, lk, NULL,
			    "re-paired by fingerprint");
	if (r != PS_PRESENT && l != PS_PRESENT) {
		emit_simple(c, PLAN_UNPAIR, pr, rk, lk, NULL, "gone on both sides");
		return;
	}
	if (r == PS_PRESENT && l == PS_PRESENT) {
		plan_both(c, pr, p, 0);
		return;
	}
	int s = r == PS_PRESENT ? SIDE_REMOTE : SIDE_LOCAL; /* the present side */
	const struct flagset *fl = msg_flags(p, pr, s);
	/* a one-sided pair whose flags left its base: list that side in full
	 * next time (conservative: some paths below reset the base anyway) */
	if (!flagset_equal(fl, &pr->base))
		c->out->need_full[s] = 1;
	if (p->st[!s] == PS_NONE) {
		plan_new(c, s, p->msg[s], fl, p->key[s], pr);
		return;
	}
	if (s == SIDE_LOCAL) {
		/* expunged on the server: propagate */
		if (!c->sd[SIDE_LOCAL].writable) {
			if (p->stale[SIDE_REMOTE]) {
				/* its old UID may name another message now: the
				 * pair cannot stay; the local copy is new again */
				emit_simple(c, PLAN_UNPAIR, pr, NULL, lk, NULL,
					    "not found on the renumbered remote side");
				plan_new(c, SIDE_LOCAL, p->msg[SIDE_LOCAL], fl, lk, NULL);
			} else
				c->out->need_full[SIDE_REMOTE] = 1;
			return;
		}
		emit_expunge(c, SIDE_LOCAL, lk, rk, lk, pr, 0,
			     flagset_equal(fl, &pr->base) ? "expunged on remote"
			     : "expunged on remote; local flag change discarded");
		return;
	}
	/* deleted locally (the file is gone) */
	if (c->sd[SIDE_REMOTE].expunge) {
		emit_expunge(c, SIDE_REMOTE, rk, rk, lk, pr, 0,
			     flagset_equal(fl, &pr->base) ? "deleted locally"
			     : "deleted locally; remote flag change discarded");
		return;
	}
	c->out->need_full[SIDE_LOCAL] = 1; /* the pair stays as a tombstone */
	if (!c->sd[SIDE_REMOTE].writable) {
		if (!flagset_equal(fl, &pr->base))
			c->out->need_full[SIDE_REMOTE] = 1;
		return;
	}
	if (fl->sys & MF_DELETED) {
		if (!flagset_equal(fl, &pr->base))
			emit_simple(c, PLAN_BASE, pr, rk, lk, fl, "tombstone");
		return;
	}
	struct plan_action *a = emit(c, PLAN_MARK_DELETED, SIDE_REMOTE);
	set_keys(a, rk, rk, lk);
	set_meta_pair(a, pr);
	flagset_copy(&a->flags, fl);
	a->flags.sys |= MF_DELETED;
	a->add.sys = MF_DELETED;
	a->reason = flagset_equal(fl, &pr->base) ? "deleted locally"
		: "deleted locally; remote flag change overridden";
}

/* ------------------------------------------------------------ ordering */

static int rank(enum plan_op op)
{
	switch (op) {
	case PLAN_PAIR:
	case PLAN_REKEY:
	case PLAN_BASE:
	case PLAN_UNPAIR:
		return 0;
	case PLAN_EXPUNGE:
		return 1;
	case PLAN_FLAGS:
		return 2;
	case PLAN_MARK_DELETED:
		return 3;
	case PLAN_COPY:
		return 4;
	case PLAN_SKIP:
		return 5;
	}
	return 6;
}

static int cmp_act(const void *x, const void *y)
{
	const struct plan_action *a = *(const struct plan_action *const *)x;
	const struct plan_action *b = *(const struct plan_action *const *)y;
	int ra = rank(a->op), rb = rank(b->op);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (ra != 0) {
		/* expunges: local first (see the executor contract above) */
		int sa = a->op == PLAN_EXPUNGE ? !a->side : (int)a->side;
		int sb = b->op == PLAN_EXPUNGE ? !b->side : (int)b->side;
		if (sa != sb)
			return sa < sb ? -1 : 1;
		int r = key_order(a->key, b->key);
		if (r)
			return r;
	}
	return a < b ? -1 : a > b; /* emission order: one array */
}

static void count(struct plan *p)
{
	struct plan_counts *k = &p->counts;
	memset(k, 0, sizeof *k);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		switch (a->op) {
		case PLAN_COPY:
			k->copy[a->side]++;
			k->bytes[a->side] += a->size;
			break;
		case PLAN_FLAGS:
			k->flags[a->side]++;
			break;
		case PLAN_MARK_DELETED:
			k->mark_deleted[a->side]++;
			break;
		case PLAN_EXPUNGE:
			k->expunge[a->side]++;
			break;
		case PLAN_PAIR:
			k->paired++;
			break;
		case PLAN_REKEY:
			k->rekeyed++;
			break;
		case PLAN_SKIP:
			k->skipped++;
			break;
		default:
			break;
		}
	}
}

/* Sort the actions in place: pointers are sorted, then the permutation is
 * applied cycle by cycle, so the peak is one index per action rather than
 * a second copy of the plan (an initial sync plans one copy per message).
 * The array is then cut to its length. */
static void order_and_count(struct plan *p)
{
	size_t n = p->n;
	if (n > 1) {
		struct plan_action **ptr = mf_reallocarray(NULL, n, sizeof *ptr);
		for (size_t i = 0; i < n; i++)
			ptr[i] = &p->v[i];
		qsort(ptr, n, sizeof *ptr, cmp_act);
		size_t *from = mf_reallocarray(NULL, n, sizeof *from);
		for (size_t i = 0; i < n; i++)
			from[i] = (size_t)(ptr[i] - p->v); /* slot i takes action from[i] */
		free(ptr);
		for (size_t i = 0; i < n; i++) {
			if (from[i] == SIZE_MAX)
				continue;
			struct plan_action tmp = p->v[i];
			size_t j = i;
			for (;;) {
				size_t k = from[j];
				from[j] = SIZE_MAX;
				if (k == i) {
					p->v[j] = tmp;
					break;
				}
				p->v[j] = p->v[k];
				j = k;
			}
		}
		free(from);
	}
	if (n)
		p->v = mf_reallocarray(p->v, n, sizeof *p->v);
	count(p);
}

/* ------------------------------------------------------------ entry */

int plan_msgs(const struct plan_msgs_input *in, const struct plan_opts *o,
	      struct plan *out)
{
	if (!out)
		return -1;
	memset(out, 0, sizeof *out);
	if (!in || !o)
		return -1;
	struct ctx c = { .in = in, .o = o, .out = out };
	side_init(&c.sd[0], in->remote, in->nremote, in->remote_full,
		  in->remote_vanished, in->nremote_vanished, in->remote_keys_invalid);
	side_init(&c.sd[1], in->local, in->nlocal, in->local_full,
		  in->local_vanished, in->nlocal_vanished, in->local_keys_invalid);
	c.sd[SIDE_REMOTE].writable = o->push;
	c.sd[SIDE_LOCAL].writable = o->pull;
	c.sd[SIDE_REMOTE].expunge = o->push && (o->expunge & EXPUNGE_REMOTE);
	c.sd[SIDE_LOCAL].expunge = o->pull && (o->expunge & EXPUNGE_LOCAL);
	c.ps = mf_calloc(in->npairs ? in->npairs : 1, sizeof *c.ps);
	for (size_t i = 0; i < in->npairs; i++) {
		c.ps[i].key[0] = in->pairs[i].rkey;
		c.ps[i].key[1] = in->pairs[i].lkey;
	}

	int ok = 1;
	for (int s = 0; s < 2 && ok; s++) {
		if (c.sd[s].invalid && !c.sd[s].full) {
			out->alert = "keys invalid but the listing is only a delta: "
				     "nothing planned";
			ok = 0;
		}
	}
	for (int s = 0; s < 2 && ok; s++)
		if (!c.sd[s].invalid)
			locate_side(&c, s);
	for (int s = 0; s < 2 && ok; s++)
		if (c.sd[s].invalid && rekey_side(&c, s) < 0)
			ok = 0;
	if (ok) {
		pair_by_fp(&c);
		for (size_t i = 0; i < in->npairs; i++)
			plan_pair(&c, i);
		for (int s = 0; s < 2; s++)
			for (size_t i = 0; i < c.sd[s].n; i++) {
				const struct plan_msg *m = &c.sd[s].m[c.sd[s].byk[i].i];
				if (!c.sd[s].claimed[c.sd[s].byk[i].i])
					plan_new(&c, s, m, &m->flags, m->key, NULL);
			}
		order_and_count(out);
	}
	free(c.ps);
	side_free(&c.sd[0]);
	side_free(&c.sd[1]);
	return 0;
}

void plan_release_actions(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct plan_action *a = &p->v[i];
		if (a->key != a->rkey && a->key != a->lkey)
			free(a->key);
		free(a->rkey);
		free(a->lkey);
		flagset_free(&a->flags);
		flagset_free(&a->add);
		flagset_free(&a->del);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	plan_release_actions(p);
	memset(p, 0, sizeof *p);
}
