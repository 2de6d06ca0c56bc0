/*
 * exec_pair.c — one mailbox pair synced (sync_pair): its state (struct
 * boxrun), both sides opened and listed (a delta when the journal's
 * markers allow, a full local listing filtered against the journal
 * otherwise), the journal's pairs loaded (only those the deltas name when
 * both are deltas), the plan made and run phase by phase (the phases
 * themselves are in exec_copy.c and exec_change.c), first syncs of big
 * mailboxes cut into slices, and last the markers (I6). Owns the pair's
 * listings and plan for the duration of one sync_pair call.
 */
#include "exec_int.h"

#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "exec_jobs.h"
#include "imap/imap_store.h"
#include "maildir/maildir_keywords.h"
#include "maildir/maildir_store.h"
#include "lib/banned.h"

/* ------------------------------------------------------------ helpers */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void keyset_build(struct keyset *k, const struct journal_pair *p, size_t n, int side)
{
	k->v = mf_reallocarray(NULL, n ? n : 1, sizeof *k->v);
	k->n = 0;
	for (size_t i = 0; i < n; i++) {
		const char *key = side == SIDE_REMOTE ? p[i].rkey : p[i].lkey;
		if (key)
			k->v[k->n++] = key;
	}
	qsort(k->v, k->n, sizeof *k->v, cmp_str);
}

int keyset_has(const struct keyset *k, const char *key)
{
	return bsearch(&key, k->v, k->n, sizeof *k->v, cmp_str) != NULL;
}

static void keyset_free(struct keyset *k)
{
	free(k->v);
	k->v = NULL;
	k->n = 0;
}
/* ------------------------------------------------------------ a mailbox pair's state */

static void pm_free(struct side_state *sd)
{
	for (size_t i = 0; sd->pm_owns && i < sd->npm; i++) {
		free((char *)sd->pm[i].key);
		flagset_free(&sd->pm[i].flags);
	}
	free(sd->pm);
	sd->pm = NULL;
	sd->npm = 0;
	sd->pm_owns = 0;
}

void boxrun_free(struct boxrun *b)
{
	journal_box_free(&b->jb);
	for (int s = 0; s < 2; s++) {
		store_listing_free(&b->sd[s].ls);
		pm_free(&b->sd[s]);
		keyset_free(&b->paired[s]);
	}
	journal_pairs_free(b->pairs, b->npairs);
	b->pairs = NULL;
	b->npairs = 0;
}

int is_maildir(const struct store *s)
{
	return !strcmp(s->ops->type, "maildir");
}

const char *box_name(const struct boxrun *b, int side)
{
	return side == SIDE_REMOTE ? b->jb.rname : b->jb.lname;
}

struct journal_pair *pair_by_id(struct boxrun *b, int64_t id)
{
	size_t lo = 0, hi = b->npairs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b->pairs[mid].id == id)
			return &b->pairs[mid];
		if (b->pairs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < b->npairs; i++) /* ids may not be sorted after inserts */
		if (b->pairs[i].id == id)
			return &b->pairs[i];
	return NULL;
}

/* The pair an action is about: by id, or (an action following a PLAN_PAIR
 * of the same plan, pair_id 0) by its keys. */
struct journal_pair *pair_of(struct boxrun *b, const struct plan_action *a)
{
	if (a->pair_id)
		return pair_by_id(b, a->pair_id);
	for (size_t i = 0; i < b->npairs; i++) {
		const struct journal_pair *p = &b->pairs[i];
		if (a->rkey && p->rkey && !strcmp(a->rkey, p->rkey))
			return &b->pairs[i];
		if (a->lkey && p->lkey && !strcmp(a->lkey, p->lkey))
			return &b->pairs[i];
	}
	return NULL;
}

/* The keys a side's delta listing mentions (listed or vanished). */
static size_t delta_keys(const struct side_state *sd, const char **v)
{
	size_t n = 0;
	for (size_t i = 0; i < sd->ls.n; i++)
		v[n++] = sd->ls.msgs[i].key;
	for (size_t i = 0; i < sd->ls.nvanished; i++)
		v[n++] = sd->ls.vanished[i];
	return n;
}

/* (Re)load the pair's journal pairs. With b->subset (both listings are
 * deltas) only the pairs those deltas mention, plus pending ones, are
 * loaded: a pair neither delta mentions is unchanged on both sides and the
 * planner plans nothing for it, so an incremental run reads O(changes)
 * rows, not the whole mailbox. Pairs created during the run come from
 * listed messages, so the same keys find them on a reload. */
int load_pairs(struct exec *x, struct boxrun *b, struct err *e)
{
	journal_pairs_free(b->pairs, b->npairs);
	b->pairs = NULL;
	b->npairs = 0;
	for (int s = 0; s < 2; s++)
		keyset_free(&b->paired[s]);
	int rc = 0;
	if (b->jb.id && b->subset) {
		const char **k[2];
		size_t n[2];
		for (int s = 0; s < 2; s++) {
			const struct side_state *sd = &b->sd[s];
			k[s] = mf_calloc(sd->ls.n + sd->ls.nvanished + 1, sizeof *k[s]);
			n[s] = delta_keys(sd, k[s]);
		}
		rc = journal_pairs_some(x->j, b->jb.id, k[0], n[0], k[1], n[1], &b->pairs,
					&b->npairs, e);
		free(k[0]);
		free(k[1]);
	} else if (b->jb.id) {
		rc = journal_pairs(x->j, b->jb.id, &b->pairs, &b->npairs, e);
		b->pair_count = b->npairs;
	}
	if (rc < 0)
		return -1;
	for (int s = 0; s < 2; s++)
		keyset_build(&b->paired[s], b->pairs, b->npairs, s);
	return 0;
}

/* A remote delta listed with store_since.meta_later leaves the size and
 * internal date of old messages unknown (idate -1): the paired ones never
 * need them, the others (copy filters, fingerprints) get them by one
 * UID FETCH, which for a flag-only change is usually none at all. Before
 * the plan views are made of the listing. */
static int fill_remote_meta(struct exec *x, struct boxrun *b, struct err *e)
{
	struct side_state *sd = &b->sd[SIDE_REMOTE];
	struct store *st = x->s[SIDE_REMOTE];
	if (sd->ls.full || !sd->ls.n || strcmp(st->ops->type, "imap") != 0)
		return 0;
	struct store_msg **want = mf_calloc(sd->ls.n, sizeof *want);
	size_t n = 0;
	for (size_t i = 0; i < sd->ls.n; i++) {
		struct store_msg *m = &sd->ls.msgs[i];
		if (m->idate < 0 && (b->keys_invalid[SIDE_REMOTE] ||
				     !keyset_has(&b->paired[SIDE_REMOTE], m->key)))
			want[n++] = m;
	}
	int rc = n ? imap_store_fill_meta(st, want, n, e) : 0;
	free(want);
	return rc;
}

/* Are flags f, as stored text (flagset_format), the journal's `base`?
 * text is scratch space. */
static int flags_are(const struct flagset *f, const char *base, struct buf *text)
{
	buf_reset(text);
	return flagset_format(f, text) == 0 && strcmp(text->len ? text->data : "", base) == 0;
}

static void lf_push_van(struct lfilter *f, const char *key)
{
	if (f->nvan == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 64;
		f->van = mf_reallocarray(f->van, f->cap, sizeof *f->van);
	}
	f->van[f->nvan++] = mf_strdup(key);
}

/* To the next pair with a local key (a pending copy has none: the pairs
 * of those are loaded anyway), checking the order. */
static void lf_advance(struct lfilter *f)
{
	struct err e;
	int r;
	while ((r = journal_cursor_next(f->c, &f->rkey, &f->lkey, &f->base, &e)) == 1 &&
	       !f->lkey && !f->strict)
		;
	f->more = r == 1;
	if (r < 0 || (r == 1 && (!f->lkey || (f->strict && !f->rkey))) ||
	    (r == 1 && f->prev.len && strcmp(f->prev.data, f->lkey) >= 0))
		f->bad = 1, f->more = 0; /* not strictly ascending: do not guess */
	buf_reset(&f->prev);
	if (f->more && buf_addstr(&f->prev, f->lkey) < 0)
		f->bad = 1, f->more = 0;
}

int lf_open(struct exec *x, int64_t box_id, int strict, struct lfilter *f)
{
	struct err e;
	memset(f, 0, sizeof *f);
	f->strict = strict;
	buf_init(&f->prev, 0);
	buf_init(&f->last, 0);
	buf_init(&f->text, 0);
	if (journal_cursor_open(x->j, box_id, &f->c, &e) < 0)
		return -1;
	lf_advance(f);
	return 0;
}

/* store_since.unchanged: 1 for a message the journal knows as it is. */
int lf_unchanged(void *ctx, const char *key, const struct flagset *flags)
{
	struct lfilter *f = ctx;
	f->seen++;
	if (f->bad || (f->last.len && strcmp(f->last.data, key) >= 0)) {
		f->bad = 1;
		return 0;
	}
	buf_reset(&f->last);
	if (buf_addstr(&f->last, key) < 0) {
		f->bad = 1;
		return 0;
	}
	while (f->more && strcmp(f->lkey, key) < 0) {
		lf_push_van(f, f->lkey);
		lf_advance(f);
	}
	if (!f->more || strcmp(f->lkey, key) != 0)
		return 0; /* new to the journal */
	/* a pending upload (no remote key) stays listed, as it was */
	int known = f->rkey && flags_are(flags, f->base, &f->text);
	lf_advance(f);
	return known;
}

/* The rest of the journal's pairs are gone; ls (full, of the messages the
 * filter kept) becomes the delta. Returns -1 and leaves ls as it is when
 * the comparison went wrong. */
int lf_close(struct lfilter *f, struct store_listing *ls)
{
	while (f->more && ls) {
		lf_push_van(f, f->lkey);
		lf_advance(f);
	}
	journal_cursor_close(&f->c);
	int ok = ls && !f->bad;
	if (ok) {
		ls->vanished = f->van;
		ls->nvanished = f->nvan;
		ls->full = 0;
		ls->filtered = 0;
		f->van = NULL;
		f->nvan = 0;
	}
	for (size_t i = 0; i < f->nvan; i++)
		free(f->van[i]);
	free(f->van);
	buf_release(&f->prev);
	buf_release(&f->last);
	buf_release(&f->text);
	return ok ? 0 : -1;
}

static void lf_trace(struct exec *x, const struct boxrun *b, const struct store_listing *ls,
		     size_t seen)
{
	xlog(x, EXEC_LOG_TRACE, "%s: local folder against the journal: %zu of %zu listed "
	     "changed or new, %zu gone", b->jb.rname, ls->n, seen, ls->nvanished);
}

/* May the local side's full listing become a delta (with overflow keywords
 * every pair is loaded anyway)? */
static int delta_local_ok(const struct boxrun *b)
{
	return b->jb.id && b->jb.complete && !b->keys_invalid[SIDE_LOCAL] &&
	       !b->keys_invalid[SIDE_REMOTE] && !b->sd[SIDE_REMOTE].ls.full;
}

/* List the local side through the filter; a filter that went wrong
 * costs a second, plain listing. */
static int list_local_filtered(struct exec *x, struct boxrun *b, struct store_since *since,
			       struct err *e)
{
	struct lfilter f;
	if (lf_open(x, b->jb.id, 0, &f) < 0) {
		lf_close(&f, NULL);
		return list_side(x, b, SIDE_LOCAL, since, e);
	}
	since->unchanged = lf_unchanged;
	since->unchanged_ctx = &f;
	int r = list_side(x, b, SIDE_LOCAL, since, e);
	struct store_listing *ls = &b->sd[SIDE_LOCAL].ls;
	size_t seen = f.seen;
	if (lf_close(&f, r == 0 && ls->filtered ? ls : NULL) == 0) {
		lf_trace(x, b, ls, seen);
		return 0;
	}
	if (r < 0 || !ls->filtered)
		return r;
	since->unchanged = NULL;
	return list_side(x, b, SIDE_LOCAL, since, e);
}

/* A full listing the store did not filter, compared afterwards through the
 * same filter (which also finds an unsorted listing). Done, or left full
 * (either is right). */
static void local_to_delta(struct exec *x, struct boxrun *b)
{
	struct store_listing *ls = &b->sd[SIDE_LOCAL].ls;
	struct lfilter f;
	if (!ls->full || ls->filtered || ls->nvanished || !delta_local_ok(b))
		return;
	if (lf_open(x, b->jb.id, 0, &f) < 0) {
		lf_close(&f, NULL);
		return;
	}
	unsigned char *drop = mf_calloc(ls->n ? ls->n : 1, 1);
	struct store_listing kept = *ls;
	kept.n = 0;
	for (size_t i = 0; i < ls->n; i++) {
		drop[i] = (unsigned char)lf_unchanged(&f, ls->msgs[i].key, &ls->msgs[i].flags);
		kept.n += !drop[i];
	}
	size_t seen = f.seen;
	if (lf_close(&f, &kept) == 0) {
		size_t w = 0;
		for (size_t i = 0; i < ls->n; i++) {
			if (drop[i])
				store_msg_free(&ls->msgs[i]);
			else
				ls->msgs[w++] = ls->msgs[i];
		}
		/* the listing lives on while the plan runs: keep only the delta */
		kept.msgs = mf_reallocarray(ls->msgs, w ? w : 1, sizeof *ls->msgs);
		*ls = kept;
		lf_trace(x, b, ls, seen);
	}
	free(drop);
}

/* After listing: are both listings deltas small enough that loading the
 * pairs they mention beats loading every pair? */
static void choose_subset(struct boxrun *b)
{
	size_t keys = 0;
	for (int s = 0; s < 2; s++) {
		const struct side_state *sd = &b->sd[s];
		if (sd->ls.full || b->keys_invalid[s])
			return;
		keys += sd->ls.n + sd->ls.nvanished;
	}
	b->subset = keys < b->pair_count / 2;
}

/* Open the pair's mailboxes; in a dry run a mailbox that does not exist yet
 * (it would be created) is an empty one. */
static void since_of(const struct boxrun *b, int side, struct store_since *s);

/* with_since: the journal's markers are valid, so an IMAP side is selected
 * with QRESYNC parameters and reports its changes while selecting. */
int open_boxes(struct exec *x, struct boxrun *b, int with_since, struct err *e)
{
	for (int s = 0; s < 2; s++) {
		struct side_state *sd = &b->sd[s];
		struct store *st = x->s[s];
		struct store_since since;
		int r;
		memset(&sd->st, 0, sizeof sd->st);
		sd->exists = 0;
		since_of(b, s, &since);
		if (with_since && !strcmp(st->ops->type, "imap") && since.modseq)
			r = imap_store_open_box_since(st, box_name(b, s), x->o->dry_run, &since,
						      &sd->st, e);
		else
			r = st->ops->open_box(st, box_name(b, s), x->o->dry_run, &sd->st, e);
		if (r < 0) {
			if (x->o->dry_run && e->cls == ERR_NOTFOUND)
				continue;
			err_prefix(e, "opening %s mailbox '%s'", side_name(s), box_name(b, s));
			return -1;
		}
		sd->exists = 1;
	}
	return 0;
}

int list_side(struct exec *x, struct boxrun *b, int s, const struct store_since *since,
	      struct err *e)
{
	struct side_state *sd = &b->sd[s];
	store_listing_free(&sd->ls);
	if (!sd->exists) {
		sd->ls.full = 1;
		return 0;
	}
	if (x->s[s]->ops->list_msgs(x->s[s], since, &sd->ls, e) < 0) {
		err_prefix(e, "listing %s mailbox '%s'", side_name(s), box_name(b, s));
		return -1;
	}
	if (!since)
		sd->ls.full = 1;
	return 0;
}

/* ------------------------------------------------------------ one mailbox pair */

/* The plan view of listed messages [from, from + n). */
static void plan_msg_view(struct side_state *sd, size_t from, size_t n)
{
	pm_free(sd);
	sd->pm = mf_calloc(n + 1, sizeof *sd->pm);
	sd->npm = n;
	for (size_t i = 0; i < n; i++) {
		const struct store_msg *m = &sd->ls.msgs[from + i];
		sd->pm[i].key = m->key;
		sd->pm[i].flags = m->flags;
		sd->pm[i].size = m->size;
		sd->pm[i].idate = m->idate;
	}
}

/* The plan holds what execution needs (its own copies of keys and flags):
 * the plan views and, unless load_pairs still reads the delta keys from
 * them (b->subset), the listings go before execution, so a large mailbox
 * is not held as a listing, a plan view and a plan at once. */
static void drop_plan_inputs(struct boxrun *b)
{
	for (int s = 0; s < 2; s++) {
		struct side_state *sd = &b->sd[s];
		pm_free(sd);
		if (!b->subset) {
			int full = sd->ls.full;
			store_listing_free(&sd->ls);
			memset(&sd->ls, 0, sizeof sd->ls);
			sd->ls.full = full;
		}
	}
}

/* Before planning a full listing: the plan view takes over its keys and
 * flags and the listing's array goes (nothing reads it from here on; a
 * subset run keeps its small delta listings for load_pairs). */
static void listing_to_view(struct boxrun *b)
{
	for (int s = 0; s < 2 && !b->subset; s++) {
		struct side_state *sd = &b->sd[s];
		if (!sd->pm || sd->pm_owns || sd->npm != sd->ls.n)
			continue;
		free(sd->ls.msgs);
		sd->ls.msgs = NULL;
		sd->ls.n = 0;
		sd->pm_owns = 1;
	}
}

/* While planning, the pairs are the planner's plan_pairs, converted in
 * place with their strings and flag sets (a mailbox's worth of pairs is
 * never held twice); pairs_take_back converts them back, same order, same
 * strings (the keysets point at them). In place works because a plan_pair
 * is no larger than a journal_pair: going up, entry i is written over
 * journal pairs <= i only (each read whole first); coming back, going
 * down, over plan pairs >= i only. */
_Static_assert(sizeof(struct plan_pair) <= sizeof(struct journal_pair),
	       "plan_pair must fit in a journal_pair for the in-place conversion");

static struct plan_pair *pairs_lend(struct boxrun *b)
{
	char *mem = (char *)b->pairs;
	size_t n = b->npairs;
	b->pairs = NULL;
	if (!mem)
		return mf_calloc(1, sizeof(struct plan_pair));
	for (size_t i = 0; i < n; i++) {
		struct journal_pair q;
		memcpy(&q, mem + i * sizeof q, sizeof q);
		struct plan_pair p = { .id = q.id, .rkey = q.rkey, .lkey = q.lkey, .base = q.base,
				       .size = q.size, .idate = q.idate, .has_fp = q.has_fp };
		memcpy(p.fp, q.fp, sizeof p.fp);
		memcpy(mem + i * sizeof p, &p, sizeof p);
	}
	return (struct plan_pair *)(void *)mf_reallocarray(mem, n ? n : 1,
							   sizeof(struct plan_pair));
}

static void pairs_take_back(struct boxrun *b, struct plan_pair *pp)
{
	size_t n = b->npairs;
	char *mem = mf_reallocarray(pp, n ? n : 1, sizeof(struct journal_pair));
	for (size_t i = n; i-- > 0;) {
		struct plan_pair p;
		memcpy(&p, mem + i * sizeof p, sizeof p);
		struct journal_pair q = { .id = p.id, .box_id = b->jb.id, .rkey = (char *)p.rkey,
					  .lkey = (char *)p.lkey, .base = p.base, .size = p.size,
					  .idate = p.idate, .has_fp = p.has_fp };
		memcpy(q.fp, p.fp, sizeof q.fp);
		memcpy(mem + i * sizeof q, &q, sizeof q);
	}
	b->pairs = (struct journal_pair *)(void *)mem;
}

int load_jbox(struct exec *x, int64_t id, struct journal_box *out, struct err *e)
{
	struct journal_box *v = NULL;
	size_t n = 0;
	if (jcheck(x, journal_boxes(x->j, &v, &n, e), e) < 0)
		return -1;
	int found = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id) {
			*out = v[i];
			memset(&v[i], 0, sizeof v[i]);
			found = 1;
		}
	journal_boxes_free(v, n);
	return found ? 0 : err_set(e, ERR_CORRUPT, "mailbox pair %lld missing from the journal",
				   (long long)id);
}

static void since_of(const struct boxrun *b, int side, struct store_since *s)
{
	memset(s, 0, sizeof *s);
	if (side == SIDE_REMOTE) {
		s->uidvalidity = b->jb.uidvalidity;
		s->uidnext = b->jb.uidnext;
		s->modseq = b->jb.highestmodseq;
	} else {
		s->uidvalidity = b->jb.l_uidvalidity;
		s->uidnext = b->jb.l_uidnext;
		s->modseq = b->jb.l_highestmodseq;
		snprintf(s->marker, sizeof s->marker, "%s", b->jb.lmarker);
	}
}

static void count_plan(struct exec *x, const struct plan *p)
{
	for (int s = 0; s < 2; s++) {
		struct exec_dir_stats *d = &x->st->dir[s];
		d->copied += p->counts.copy[s];
		d->flags += p->counts.flags[s];
		d->marked_deleted += p->counts.mark_deleted[s];
		d->expunged += p->counts.expunge[s];
		d->bytes += p->counts.bytes[s];
	}
	x->st->repaired += p->counts.paired;
}

static void count_skips(struct exec *x, const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].op == PLAN_SKIP)
			x->st->dir[p->v[i].side].skipped++;
}

/* ------------------------------------------------------------ keyword overflow */

/* A Maildir folder holds at most 26 keywords; the driver keeps the others
 * in memory for the open folder and the journal keeps them across runs.
 * The channel meta "kw_overflow" says whether any were ever stored, so the
 * common case costs no lookups.
 *
 * Has the journal ever kept keywords a Maildir folder could not hold? */
static int overflow_any(struct exec *x, struct boxrun *b, int *any_r, struct err *e)
{
	char *flag = NULL;
	*any_r = 0;
	if (!is_maildir(x->s[SIDE_LOCAL]) || !b->jb.id || !b->sd[SIDE_LOCAL].exists)
		return 0;
	if (jcheck(x, journal_meta_get(x->j, "kw_overflow", &flag, e), e) < 0)
		return -1;
	*any_r = flag && *flag == '1';
	free(flag);
	return 0;
}

static int overflow_seed(struct exec *x, struct boxrun *b, struct err *e)
{
	struct store *l = x->s[SIDE_LOCAL];
	for (size_t i = 0; i < b->npairs; i++) {
		struct flagset f;
		flagset_init(&f);
		if (!b->pairs[i].lkey)
			continue;
		if (jcheck(x, journal_kw_overflow_get(x->j, b->jb.id, b->pairs[i].lkey, &f, e), e) < 0)
			return -1;
		if (f.nkw)
			maildir_store_kw_overflow_set(l, b->pairs[i].lkey, &f);
		flagset_free(&f);
	}
	return 0;
}

static int overflow_save(struct exec *x, struct boxrun *b, struct err *e)
{
	struct store *l = x->s[SIDE_LOCAL];
	struct flagset all; /* the distinct keywords that did not fit, for the warning */
	int began = 0;
	if (x->o->dry_run || !is_maildir(l) || !b->jb.id)
		return 0;
	flagset_init(&all);
	for (size_t i = 0; i < b->npairs; i++) {
		struct flagset f;
		flagset_init(&f);
		if (!b->pairs[i].lkey || !maildir_store_kw_overflow(l, b->pairs[i].lkey, &f)) {
			flagset_free(&f);
			continue;
		}
		for (size_t k = 0; k < f.nkw; k++)
			flagset_add_kw(&all, f.kw[k]);
		int r = 0;
		if (!began) {
			r = jbegin(x) < 0 ? -1 : journal_meta_set(x->j, "kw_overflow", "1", e);
			began = 1;
		}
		if (r == 0)
			r = journal_kw_overflow_set(x->j, b->jb.id, b->pairs[i].lkey, &f, e);
		flagset_free(&f);
		if (jcheck(x, r, e) < 0) {
			flagset_free(&all);
			jrollback(x);
			return -1;
		}
	}
	if (all.nkw)
		xlog(x, EXEC_LOG_WARN, "%s: %zu keyword%s not fit in the Maildir folder (%d at "
		     "most); kept in the journal", b->jb.rname, all.nkw,
		     all.nkw == 1 ? " does" : "s do", MAILDIR_KEYWORDS_MAX);
	flagset_free(&all);
	return began ? jcommit(x) : 0;
}

/* Record the markers read when the pair's sync started (I6). */
static int store_markers(struct exec *x, struct boxrun *b, const int need_full[2], int wrote,
			 struct err *e)
{
	const struct store_box_state *r = &b->sd[SIDE_REMOTE].st, *l = &b->sd[SIDE_LOCAL].st;
	b->jb.uidvalidity = r->uidvalidity;
	b->jb.uidnext = r->uidnext;
	/* a side the planner wants listed in full next time gets no delta marker */
	b->jb.highestmodseq = need_full[SIDE_REMOTE] ? 0 : r->highestmodseq;
	snprintf(b->jb.rident, sizeof b->jb.rident, "%s", r->ident);
	snprintf(b->jb.lident, sizeof b->jb.lident, "%s", l->ident);
	/* a marker read before our own writes is stored as untrusted (":u"):
	 * it no longer matches, and the next run's local_verified (or this
	 * run's settle_local) knows the difference may be ours */
	int n = snprintf(b->jb.lmarker, sizeof b->jb.lmarker, "%s%s",
			 need_full[SIDE_LOCAL] ? "" : l->marker,
			 !need_full[SIDE_LOCAL] && wrote && !marker_untrusted(l->marker) ? ":u" : "");
	if (n < 0 || (size_t)n >= sizeof b->jb.lmarker)
		b->jb.lmarker[0] = '\0'; /* cut short it could match by chance: list in full */
	b->jb.l_uidvalidity = l->uidvalidity;
	b->jb.l_uidnext = l->uidnext;
	b->jb.l_highestmodseq = need_full[SIDE_LOCAL] ? 0 : l->highestmodseq;
	b->jb.complete = 1;
	if (jbegin(x) < 0 || jcheck(x, journal_box_put(x->j, &b->jb, e), e) < 0)
		return -1;
	/* Deferred like I4: the next pair's first commit or the end of the run
	 * carries it. Lost in a crash, it only costs a full listing next time. */
	return jdefer(x);
}

static int cmp_pair_rkey(const void *a, const void *b)
{
	const struct journal_pair *x = *(const struct journal_pair *const *)a;
	const struct journal_pair *y = *(const struct journal_pair *const *)b;
	return strcmp(x->rkey, y->rkey);
}

static int cmp_key_pair(const void *k, const void *p)
{
	return strcmp(k, (*(const struct journal_pair *const *)p)->rkey);
}

/* Our own writes to the remote mailbox moved its HIGHESTMODSEQ (and UIDNEXT)
 * past the values read when the pair's sync started, so the next run would
 * see the mailbox as changed and list our changes again. Ask the server for
 * every change since the start (CHANGEDSINCE + VANISHED, QRESYNC only): when
 * each changed or new message is paired in the journal with exactly its
 * flags as base, and no paired UID vanished, the journal already holds all
 * of it, and the mod-sequence and UIDNEXT it reached are recorded instead
 * (I6). Anything else, or any error, keeps the start values (correctness
 * over speed: the next run then lists the changes). */
static void learn_own_changes(struct exec *x, struct boxrun *b, const struct plan *p)
{
	struct store *rs = x->s[SIDE_REMOTE];
	struct store_box_state *st = &b->sd[SIDE_REMOTE].st;
	const struct plan_counts *c = &p->counts;
	if (strcmp(rs->ops->type, "imap") != 0 || !b->sd[SIDE_REMOTE].exists ||
	    !st->highestmodseq || p->need_full[SIDE_REMOTE] ||
	    !(c->copy[SIDE_REMOTE] || c->flags[SIDE_REMOTE] || c->mark_deleted[SIDE_REMOTE] ||
	      c->expunge[SIDE_REMOTE]))
		return;
	const struct journal_pair **idx = mf_calloc(b->npairs + 1, sizeof *idx);
	size_t ni = 0;
	uint32_t limit = st->uidnext;
	for (size_t i = 0; i < b->npairs; i++) {
		if (!b->pairs[i].rkey)
			continue;
		idx[ni++] = &b->pairs[i];
		unsigned long u = strtoul(b->pairs[i].rkey, NULL, 10);
		if (u < UINT32_MAX && u + 1 > limit)
			limit = (uint32_t)(u + 1);
	}
	qsort(idx, ni, sizeof *idx, cmp_pair_rkey);
	struct store_listing ls;
	uint64_t hi = 0, maxms = 0;
	uint32_t maxuid = 0;
	struct err e;
	int ok = imap_store_list_changed(rs, st->highestmodseq, limit, &ls, &hi, &e) == 0;
	for (size_t i = 0; ok && i < ls.n; i++) {
		const struct store_msg *m = &ls.msgs[i];
		const struct journal_pair *const *q = bsearch(m->key, idx, ni, sizeof *idx,
							      cmp_key_pair);
		ok = q && m->modseq && flagset_equal(&m->flags, &(*q)->base);
		if (m->modseq > maxms)
			maxms = m->modseq;
		if (m->uid > maxuid)
			maxuid = m->uid;
	}
	for (size_t i = 0; ok && i < ls.nvanished; i++)
		ok = !bsearch(ls.vanished[i], idx, ni, sizeof *idx, cmp_key_pair);
	if (ok) {
		uint64_t ms = maxms > hi ? maxms : hi;
		xlog(x, EXEC_LOG_TRACE, "%s: own changes reached HIGHESTMODSEQ %llu (from %llu)",
		     b->jb.rname, (unsigned long long)ms, (unsigned long long)st->highestmodseq);
		if (ms > st->highestmodseq)
			st->highestmodseq = ms;
		if (maxuid && maxuid + 1 > st->uidnext)
			st->uidnext = maxuid + 1;
	}
	store_listing_free(&ls);
	free(idx);
}

/* Does the journal pair identity say the side's keys are void? */
static int keys_void(const struct boxrun *b, int side)
{
	const struct store_box_state *st = &b->sd[side].st;
	const struct journal_box *jb = &b->jb;
	if (!b->pair_count || !b->sd[side].exists)
		return 0;
	if (side == SIDE_REMOTE)
		return jb->uidvalidity && st->uidvalidity && jb->uidvalidity != st->uidvalidity;
	if (jb->l_uidvalidity && st->uidvalidity && jb->l_uidvalidity != st->uidvalidity)
		return 1;
	return jb->lident[0] && st->ident[0] && strcmp(jb->lident, st->ident) != 0;
}

#define OP(o) (1u << (o))

/* Does the plan hold an action whose op is in the mask (OP(...) | ...)? */
static int has_op(const struct plan *p, unsigned mask)
{
	for (size_t i = 0; i < p->n; i++)
		if (mask & OP(p->v[i].op))
			return 1;
	return 0;
}

static int wrote_local(const struct plan *p)
{
	const struct plan_counts *c = &p->counts;
	return c->copy[SIDE_LOCAL] || c->flags[SIDE_LOCAL] || c->mark_deleted[SIDE_LOCAL] ||
	       c->expunge[SIDE_LOCAL];
}

/* An initial sync (nothing paired, the local side empty) plans every
 * remote message on its own: a large mailbox is planned and carried out in
 * slices of its listing, so that neither the plan nor its views ever hold
 * the whole mailbox (a plan action alone is ~200 bytes). A slice that
 * fails leaves pairs for what it copied; the retry is then an ordinary
 * sync. Not in a dry run, whose output is one plan per mailbox. */
#define SLICE_MSGS 2000 /* four batches of DEF_BATCH_MSGS */
#define BULK_MSGS 1000  /* a first sync this big gets the journal's bigger cache */

/* A first sync with nothing to pair: no journal pairs, keys valid, not a
 * dry run. */
static int fresh_pair(const struct exec *x, const struct boxrun *b)
{
	return !x->o->dry_run && !b->npairs && !b->pair_count && !b->keys_invalid[0] &&
	       !b->keys_invalid[1];
}

static int local_empty(const struct boxrun *b)
{
	const struct store_listing *l = &b->sd[SIDE_LOCAL].ls;
	return l->full && !l->n && !l->nvanished;
}

static int sliceable(const struct exec *x, const struct boxrun *b)
{
	const struct side_state *r = &b->sd[SIDE_REMOTE];
	return fresh_pair(x, b) && r->ls.full && !r->ls.nvanished && local_empty(b) &&
	       r->ls.n > SLICE_MSGS;
}

/* Give the heap's free pages back: a slice's keys, plan and transfer
 * buffers are freed in between allocations that stay, and glibc only
 * returns the heap's top, so without this the process's resident size
 * creeps up with every slice of a big first sync. */
static void heap_trim(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Could this pair's first sync list the remote side a window at a time
 * (imap_store_list_window)? Everything but the local side's emptiness is
 * known before listing; local_empty tells the rest once it is listed. */
static int window_candidate(const struct exec *x, const struct boxrun *b)
{
	return fresh_pair(x, b) && b->sd[SIDE_REMOTE].exists &&
	       b->sd[SIDE_REMOTE].st.messages > SLICE_MSGS &&
	       !strcmp(x->s[SIDE_REMOTE]->ops->type, "imap");
}

/* The next window of a windowed first sync into the remote listing: 1
 * listed, 0 the mailbox is done. The last window's messages went with its
 * plan (drop_slice left the array). */
static int next_window(struct exec *x, struct boxrun *b, struct imap_window *w, struct err *e)
{
	struct side_state *sd = &b->sd[SIDE_REMOTE];
	store_listing_free(&sd->ls);
	if (imap_store_list_window(x->s[SIDE_REMOTE], w, SLICE_MSGS, &sd->ls, e) < 0) {
		err_prefix(e, "listing remote mailbox '%s'", box_name(b, SIDE_REMOTE));
		return -1;
	}
	xlog(x, EXEC_LOG_TRACE, "%s: window of %zu messages up to UID %" PRIu32,
	     box_name(b, SIDE_REMOTE), sd->ls.n, w->last_uid);
	return sd->ls.n > 0;
}

/* A slice is done: its messages' keys and flags go (the listing stays
 * until the last slice). */
static void drop_slice(struct side_state *sd, size_t from, size_t len)
{
	for (size_t i = from; i < from + len; i++)
		store_msg_free(&sd->ls.msgs[i]);
}

static void add_counts(struct plan_counts *t, const struct plan_counts *c)
{
	for (int s = 0; s < 2; s++) {
		t->copy[s] += c->copy[s];
		t->flags[s] += c->flags[s];
		t->mark_deleted[s] += c->mark_deleted[s];
		t->expunge[s] += c->expunge[s];
		t->bytes[s] += c->bytes[s];
	}
	t->paired += c->paired;
	t->skipped += c->skipped;
	t->rekeyed += c->rekeyed;
}

/* Does carrying out p use the remote mailbox (its downloads counted only
 * with_downloads)? */
static int uses_remote(const struct plan *p, int with_downloads)
{
	const struct plan_counts *c = &p->counts;
	return (with_downloads && c->copy[SIDE_LOCAL]) || c->copy[SIDE_REMOTE] ||
	       c->flags[SIDE_REMOTE] || c->mark_deleted[SIDE_REMOTE] || c->expunge[SIDE_REMOTE];
}

/* The running pair needs the remote mailbox no more: have the server
 * select this worker's next mailbox, claimed from the queue now, with the
 * arguments open_boxes will use, while the local side is written. A guess
 * only: open_boxes selects as usual when the arguments differ or nothing
 * was sent. */
void preopen_next(struct exec *x)
{
	struct store *r = x->s[SIDE_REMOTE];
	size_t i;
	if (!x->jq || !r || strcmp(r->ops->type, "imap") != 0 || exec_jobs_claim(x->jq, &i) != 1)
		return;
	/* the run's start-up copy of its journal row: only the pair's own
	 * sync changes the remote markers open_boxes will read */
	const struct journal_box *jb = jbox_of(x, x->queue[i]->journal_id);
	if (!jb || !jb->complete)
		return;
	struct boxrun nb = { .jb = *jb };
	struct store_since since;
	since_of(&nb, SIDE_REMOTE, &since);
	if (since.modseq && imap_store_preselect(r, jb->rname, x->o->dry_run, &since))
		xlog(x, EXEC_LOG_TRACE, "%s: selected ahead", jb->rname);
}

/* Plan remote messages [from, from + len) (all of both listings when not
 * sliced) and carry the plan out. -1 error, 0 done, 1 a dry run (printed,
 * nothing carried out). */
static int plan_and_run(struct exec *x, struct boxrun *b, const char *rname, int sliced,
			size_t from, size_t len, struct plan *p, struct err *e)
{
	if (sliced)
		plan_msg_view(&b->sd[SIDE_REMOTE], from, len);
	else
		listing_to_view(b);
	struct plan_pair *pp = pairs_lend(b);
	struct plan_msgs_input in = {
		.remote = b->sd[SIDE_REMOTE].pm,
		.nremote = b->sd[SIDE_REMOTE].npm,
		.remote_full = b->sd[SIDE_REMOTE].ls.full,
		.remote_vanished = (const char *const *)b->sd[SIDE_REMOTE].ls.vanished,
		.nremote_vanished = b->sd[SIDE_REMOTE].ls.nvanished,
		.local = b->sd[SIDE_LOCAL].pm,
		.nlocal = sliced ? 0 : b->sd[SIDE_LOCAL].npm,
		.local_full = b->sd[SIDE_LOCAL].ls.full,
		.local_vanished = (const char *const *)b->sd[SIDE_LOCAL].ls.vanished,
		.nlocal_vanished = b->sd[SIDE_LOCAL].ls.nvanished,
		/* none when sliced: the pairs earlier slices made name messages
		 * outside this one, which a full listing would call gone */
		.pairs = pp,
		.npairs = sliced ? 0 : b->npairs,
		.remote_keys_invalid = b->keys_invalid[SIDE_REMOTE],
		.local_keys_invalid = b->keys_invalid[SIDE_LOCAL],
	};
	int prc = plan_msgs(&in, &x->o->plan, p);
	if (!sliced)
		drop_plan_inputs(b);
	pairs_take_back(b, pp);
	if (prc < 0)
		return err_set(e, ERR_PERM, "cannot plan mailbox '%s'", rname);
	count_skips(x, p);
	if (p->alert) {
		xlog(x, EXEC_LOG_ERROR, "%s: not synced: %s", rname, p->alert);
		b->errors++;
	}
	if (x->o->dry_run) {
		struct buf out = BUF_INIT(BUF_MAX_DEFAULT);
		if (plan_format(p, rname, x->o->verbose, &out) == 0 && out.len)
			xlog(x, EXEC_LOG_PLAN, "%.*s", (int)(out.len && out.data[out.len - 1] == '\n' ?
							 out.len - 1 : out.len), out.data);
		buf_release(&out);
		count_plan(x, p);
		return 1;
	}
	if (p->n)
		xlog(x, EXEC_LOG_PROGRESS, "%s: %zu down, %zu up, %zu+%zu flag changes", rname,
		     p->counts.copy[SIDE_LOCAL], p->counts.copy[SIDE_REMOTE],
		     p->counts.flags[SIDE_LOCAL], p->counts.flags[SIDE_REMOTE]);
	/* the last use of the remote: none, or the downloads' fetches */
	int pre_after_fetch = !sliced && !uses_remote(p, 0) && p->counts.copy[SIDE_LOCAL];
	if (!sliced && !uses_remote(p, 1))
		preopen_next(x);

	if (do_journal_only(x, b, p, e) < 0 ||
	    (has_op(p, OP(PLAN_PAIR) | OP(PLAN_REKEY) | OP(PLAN_BASE) | OP(PLAN_UNPAIR)) &&
	     load_pairs(x, b, e) < 0))
		return -1;
	static const enum plan_op order[] = { PLAN_EXPUNGE, PLAN_FLAGS, PLAN_MARK_DELETED };
	for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
		for (int s = 0; s < 2; s++)
			if (do_changes(x, b, p, s, order[k], e) < 0)
				return -1;
	for (int s = 0; s < 2; s++)
		if (do_copies(x, b, p, s, s == SIDE_LOCAL && pre_after_fetch, e) < 0)
			return -1;
	return 0;
}

/* After carrying a plan out, are the pairs worth reloading (every one of
 * them: a mailbox's worth after an initial sync)? Only learn_own_changes
 * (remote writes) and overflow_save (keywords a Maildir folder could not
 * hold) read them. */
static int tail_needs_pairs(struct exec *x, const struct plan *p)
{
	const struct plan_counts *c = &p->counts;
	struct store *l = x->s[SIDE_LOCAL];
	if (c->copy[SIDE_REMOTE] || c->flags[SIDE_REMOTE] || c->mark_deleted[SIDE_REMOTE] ||
	    c->expunge[SIDE_REMOTE])
		return 1;
	return is_maildir(l) && maildir_store_kw_overflow_count(l) > 0;
}

/* How one pair's sync goes, decided once both sides are open. */
struct pair_mode {
	int overflow; /* keywords kept in the journal: every pair loaded up front */
	int windowed; /* a first sync into an empty side: the remote a window at a time */
	int sliced;   /* planned and run SLICE_MSGS remote messages at a time */
	int bulk;     /* the journal in bulk mode (a big first sync) */
};

/* May the pair's listings be deltas from the journal's markers? Not
 * before its first complete sync, nor when the options changed since the
 * last run: a one-way run or another --max-size may have left out
 * messages the markers are already past. */
static int markers_usable(const struct exec *x, const struct boxrun *b)
{
	return b->jb.complete && !x->opts_changed;
}

/* The pair's journal state (its unfinished intents resolved first), both
 * mailboxes open, and a new pair's identity recorded (I6). */
static int pair_start(struct exec *x, struct boxrun *b, const char *rname, const char *lname,
		      int64_t jid, struct err *e)
{
	if (jid) {
		if (load_jbox(x, jid, &b->jb, e) < 0)
			return -1;
		struct journal_box copy = b->jb;
		if (!x->o->dry_run && resolve_intents(x, &copy, e) < 0)
			return -1;
	} else {
		b->jb.rname = mf_strdup(rname);
		b->jb.lname = mf_strdup(lname);
	}
	if (open_boxes(x, b, markers_usable(x, b), e) < 0)
		return -1;
	/* I6: a new pair records its identity before its first pairs */
	if (!x->o->dry_run && (b->jb.id == 0 || !b->jb.uidvalidity)) {
		b->jb.uidvalidity = b->sd[SIDE_REMOTE].st.uidvalidity;
		b->jb.l_uidvalidity = b->sd[SIDE_LOCAL].st.uidvalidity;
		snprintf(b->jb.rident, sizeof b->jb.rident, "%s", b->sd[SIDE_REMOTE].st.ident);
		snprintf(b->jb.lident, sizeof b->jb.lident, "%s", b->sd[SIDE_LOCAL].st.ident);
		if (jcheck(x, journal_box_put(x->j, &b->jb, e), e) < 0)
			return -1;
	}
	return 0;
}

/* Both sides listed (deltas where the journal allows), the journal pairs
 * the plan needs loaded, fingerprints taken, and *m decided. */
static int pair_list(struct exec *x, struct boxrun *b, struct pair_mode *m, struct err *e)
{
	/* Keywords kept in the journal must reach the Maildir store before it
	 * lists, and they are found through the pairs: then load them all now. */
	if (overflow_any(x, b, &m->overflow, e) < 0)
		return -1;
	if (m->overflow ? load_pairs(x, b, e) < 0 || overflow_seed(x, b, e) < 0
			: b->jb.id && jcheck(x, journal_pair_count(x->j, b->jb.id, &b->pair_count, e),
					     e) < 0)
		return -1;
	for (int s = 0; s < 2; s++)
		b->keys_invalid[s] = keys_void(b, s);
	/* a first sync into an empty side lists the remote a window at a time */
	m->windowed = !m->overflow && window_candidate(x, b);
	for (int s = m->windowed ? SIDE_LOCAL : 0; s < 2; s++) {
		struct store_since since;
		since_of(b, s, &since);
		since.meta_later = s == SIDE_REMOTE; /* fill_remote_meta */
		int delta = markers_usable(x, b) && !b->keys_invalid[0] && !b->keys_invalid[1];
		int r = s == SIDE_LOCAL && delta && !m->overflow && delta_local_ok(b)
				? list_local_filtered(x, b, &since, e)
				: list_side(x, b, s, delta ? &since : NULL, e);
		if (r < 0)
			return -1;
	}
	int began_empty = local_empty(b);
	if (m->windowed && !began_empty) {
		m->windowed = 0;
		if (list_side(x, b, SIDE_REMOTE, NULL, e) < 0)
			return -1;
	}
	/* an empty folder of a pair the journal holds nothing of began from
	 * the journal's state as much as an empty delta does */
	b->local_listed = b->sd[SIDE_LOCAL].ls.full && (b->pair_count || !began_empty);
	if (m->windowed)
		b->sd[SIDE_REMOTE].ls.full = 1;
	if (!m->overflow) {
		local_to_delta(x, b);
		choose_subset(b);
		if (load_pairs(x, b, e) < 0)
			return -1;
	}
	if (fill_remote_meta(x, b, e) < 0)
		return -1;
	m->sliced = m->windowed || sliceable(x, b);
	/* a first sync of a big mailbox inserts its pairs all over the indexes */
	m->bulk = !b->pair_count && (m->windowed ? b->sd[SIDE_REMOTE].st.messages
						 : b->sd[SIDE_REMOTE].ls.n + b->sd[SIDE_LOCAL].ls.n) >
					    BULK_MSGS;
	if (m->bulk)
		journal_bulk(x->j, 1);
	if (!m->sliced) {
		for (int s = 0; s < 2; s++)
			plan_msg_view(&b->sd[s], 0, b->sd[s].ls.n);
		if (compute_fps(x, b, e) < 0)
			return -1;
	}
	return 0;
}

/* One plan, or one per slice or window, each run before the next; then p
 * holds their counts and need_full alone, and the pairs the tail needs
 * are loaded again. 1: a dry run (printed, nothing carried out). */
static int pair_plans(struct exec *x, struct boxrun *b, const struct pair_mode *m,
		      const char *rname, struct plan *p, struct err *e)
{
	struct plan_counts total;
	int need_full[2] = { 0, 0 }, reload = 0;
	size_t nr = b->sd[SIDE_REMOTE].ls.n, from = 0;
	struct imap_window win = { 0 };
	memset(&total, 0, sizeof total);
	do {
		if (m->windowed) {
			int r = next_window(x, b, &win, e);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
			nr = b->sd[SIDE_REMOTE].ls.n;
			from = 0;
		}
		size_t len = m->sliced && nr - from > SLICE_MSGS ? SLICE_MSGS : nr - from;
		int r = plan_and_run(x, b, rname, m->sliced, from, len, p, e);
		if (r != 0)
			return r;
		/* copies made pairs, expunges dropped some: the tail needs them */
		reload |= has_op(p, OP(PLAN_COPY) | OP(PLAN_EXPUNGE));
		add_counts(&total, &p->counts);
		for (int s = 0; s < 2; s++)
			need_full[s] |= p->need_full[s];
		plan_release_actions(p);
		if (m->sliced) {
			drop_slice(&b->sd[SIDE_REMOTE], from, len);
			heap_trim();
		}
		from += len;
	} while (from < nr || m->windowed);
	drop_plan_inputs(b);
	p->counts = total;
	for (int s = 0; s < 2; s++)
		p->need_full[s] = need_full[s];
	return reload && tail_needs_pairs(x, p) && load_pairs(x, b, e) < 0 ? -1 : 0;
}

/* After the plans: keywords kept, our own changes learned, the markers
 * stored (I6) and a written local folder queued to be settled. */
static int pair_finish(struct exec *x, struct boxrun *b, const struct plan *p, struct err *e)
{
	if (overflow_save(x, b, e) < 0)
		return -1;
	if (b->errors)
		return 0;
	learn_own_changes(x, b, p);
	int wrote = wrote_local(p);
	if (store_markers(x, b, p->need_full, wrote, e) < 0)
		return -1;
	if (!p->need_full[SIDE_LOCAL] && wrote && b->jb.id && is_maildir(x->s[SIDE_LOCAL]) &&
	    !x->o->dry_run) {
		x->settle = mf_reallocarray(x->settle, x->nsettle + 1, sizeof *x->settle);
		x->settle[x->nsettle++] = (struct settle){
			.id = b->jb.id, .unlisted = !b->local_listed };
	}
	return 0;
}

static int sync_pair_once(struct exec *x, const char *rname, const char *lname, int64_t jid,
			  struct err *e)
{
	struct boxrun b;
	struct plan p;
	struct pair_mode m;
	int rc = -1;

	memset(&b, 0, sizeof b);
	memset(&p, 0, sizeof p);
	memset(&m, 0, sizeof m);
	if (pair_start(x, &b, rname, lname, jid, e) < 0 || pair_list(x, &b, &m, e) < 0)
		goto out;
	if (b.keys_invalid[SIDE_REMOTE])
		xlog(x, EXEC_LOG_WARN, "%s: UIDVALIDITY changed (%u -> %u), re-pairing by content",
		     rname, b.jb.uidvalidity, b.sd[SIDE_REMOTE].st.uidvalidity);
	int r = pair_plans(x, &b, &m, rname, &p, e);
	if (r > 0)
		rc = 0; /* a dry run: printed, nothing to carry out */
	else if (r == 0 && pair_finish(x, &b, &p, e) == 0)
		rc = b.errors ? 1 : 0;
out:
	/* what a deferred transaction holds is true: keep it even on failure;
	 * after a success it stays open for the next pair (one fsync fewer per
	 * pair), and exec_sync commits whatever is left at the end */
	if (rc < 0 && x->tx_open && jcommit(x) < 0)
		rc = -1;
	if (x->jfail)
		*e = x->jerr;
	if (m.bulk)
		journal_bulk(x->j, 0);
	plan_free(&p);
	boxrun_free(&b);
	return rc;
}

/* One mailbox pair with I7's containment: 0 synced, 1 partly, -1 failed
 * (reported; the run goes on unless the journal or every store is gone). */
int sync_pair(struct exec *x, const char *rname, const char *lname, int64_t jid)
{
	struct err e;
	for (;;) {
		err_clear(&e);
		int rc = sync_pair_once(x, rname, lname, jid, &e);
		if (rc >= 0)
			return rc;
		if (x->jfail)
			return -1;
		if (err_is_temporary(&e)) {
			xlog(x, EXEC_LOG_WARN, "%s: %s", rname, e.msg);
			if (reconnect(x, &e) == 0) {
				/* a new pair may have been stored before the drop */
				if (!jid) {
					struct journal_box *v = NULL;
					size_t n = 0;
					struct err e2;
					if (journal_boxes(x->j, &v, &n, &e2) == 0)
						for (size_t i = 0; i < n; i++)
							if (!strcmp(v[i].rname, rname) &&
							    !strcmp(v[i].lname, lname))
								jid = v[i].id;
					journal_boxes_free(v, n);
				}
				continue;
			}
		}
		xlog(x, EXEC_LOG_ERROR, "%s: %s", rname, e.msg);
		return -1;
	}
}
