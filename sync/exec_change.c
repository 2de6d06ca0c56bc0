/*
 * exec_change.c — the executor's idempotent phases: flag changes, deletion
 * marks and expunges on either side (grouped so that one store call covers
 * every message with the same change), and the plan's journal-only steps
 * (new pairings, updated bases, forgotten pairs). None needs an intent
 * (I1): a crash before the pair's markers are stored (I6) leaves the
 * change visible to the next run's listings, which plans it again.
 */
#include "exec_int.h"

#include <stdlib.h>
#include <string.h>

#include "maildir/maildir_store.h"
#include "lib/banned.h"

/* ------------------------------------------------------------ flags, marks, expunges */

struct change {
	const struct plan_action *a;
	char *sig;
	struct journal_pair *pp; /* the pair it is about, if any */
};

static int cmp_change(const void *pa, const void *pb)
{
	const struct change *a = pa, *b = pb;
	return strcmp(a->sig, b->sig);
}

static int cmp_change_id(const void *pa, const void *pb)
{
	const struct change *a = pa, *b = pb;
	int64_t x = a->pp ? a->pp->id : 0, y = b->pp ? b->pp->id : 0;
	return x < y ? -1 : x > y;
}

static char *change_sig(const struct plan_action *a)
{
	struct buf s = BUF_INIT(BUF_MAX_DEFAULT);
	char *add = flags_text(&a->add), *del = flags_text(&a->del);
	buf_addf(&s, "%d|+%s|-%s", (int)a->op, add, del);
	free(add);
	free(del);
	return buf_detach(&s, NULL);
}

/* Apply one kind of change (FLAGS, MARK_DELETED or EXPUNGE) on one side:
 * the store calls grouped by identical change, flush, commit. */
int do_changes(struct exec *x, struct boxrun *b, const struct plan *p, int side,
	       enum plan_op op, struct err *e)
{
	struct store *s = x->s[side];
	struct change *cv = mf_calloc(p->n ? p->n : 1, sizeof *cv);
	const char **keys = mf_reallocarray(NULL, p->n ? p->n : 1, sizeof *keys);
	size_t n = 0;
	int rc = -1;

	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].op == op && (int)p->v[i].side == side) {
			cv[n].a = &p->v[i];
			cv[n].sig = change_sig(&p->v[i]);
			cv[n].pp = pair_of(b, &p->v[i]);
			n++;
		}
	if (n == 0) {
		rc = 0;
		goto out;
	}
	qsort(cv, n, sizeof *cv, cmp_change);

	/* No intent (I1): a change is idempotent and its pair's markers stay
	 * behind it (I6) until the pair completes, so after a crash both
	 * listings show it again and the plan finishes it (or, done on the
	 * store already, sees both sides agree and only records the base). */
	/* A Maildir folder that was not listed holds what the journal says:
	 * each file is named after its pair's base flags, so the store can
	 * rename or remove it without reading the folder. */
	if (side == SIDE_LOCAL && is_maildir(s) && !b->sd[side].ls.full)
		for (size_t i = 0; i < n; i++)
			if (cv[i].pp)
				maildir_store_hint(s, cv[i].a->key, &cv[i].pp->base);
	/* I2: one store call per distinct change */
	struct flagset deleted;
	flagset_init(&deleted);
	deleted.sys = MF_DELETED;
	for (size_t i = 0; i < n;) {
		size_t k = i, m = 0;
		while (k < n && !strcmp(cv[k].sig, cv[i].sig))
			keys[m++] = cv[k++].a->key;
		const struct plan_action *a = cv[i].a;
		int r;
		if (op == PLAN_EXPUNGE)
			r = s->ops->expunge(s, keys, m, e);
		else if (op == PLAN_MARK_DELETED)
			r = s->ops->set_flags(s, keys, m, &deleted, NULL, e);
		else
			r = s->ops->set_flags(s, keys, m, &a->add, &a->del, e);
		if (r < 0) {
			if (err_is_temporary(e))
				goto out;
			xlog(x, EXEC_LOG_ERROR, "%s: %s on %s side failed: %s", box_name(b, side),
			     plan_op_name(op), side_name(side), e->msg);
			x->st->dir[side].errors += m;
			b->errors++;
			for (size_t q = i; q < k; q++)
				cv[q].a = NULL; /* not done: its intent is resolved next run */
		}
		i = k;
	}
	if (s->ops->flush(s, e) < 0) /* I3 */
		goto out;
	flushed(x);

	/* in pair id (row) order: each journal page is then read and written
	 * once, not once per change it holds (a small page cache spills) */
	qsort(cv, n, sizeof *cv, cmp_change_id);
	if (jbegin(x) < 0) /* I4 */
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct plan_action *a = cv[i].a;
		if (!a)
			continue;
		struct journal_pair *pp = cv[i].pp;
		int r = 0;
		if (op == PLAN_EXPUNGE) {
			x->st->dir[side].expunged++;
			if (pp && !a->keep_pair)
				r = journal_pair_delete(x->j, pp->id, e);
		} else {
			if (op == PLAN_MARK_DELETED)
				x->st->dir[side].marked_deleted++;
			else
				x->st->dir[side].flags++;
			if (pp)
				r = journal_pair_set_base(x->j, pp->id, &a->flags, e);
			if (pp && r == 0) { /* learn_own_changes compares with it */
				flagset_free(&pp->base);
				flagset_copy(&pp->base, &a->flags);
			}
		}
		if (jcheck(x, r, e) < 0) {
			jrollback(x);
			goto out;
		}
	}
	if (jdefer(x) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(cv[i].sig);
	free(cv);
	free(keys);
	return rc;
}

/* Journal-only actions (PAIR, REKEY, BASE, UNPAIR) in one transaction. */
int do_journal_only(struct exec *x, struct boxrun *b, const struct plan *p,
		    struct err *e)
{
	int any = 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		if (a->op != PLAN_PAIR && a->op != PLAN_REKEY && a->op != PLAN_BASE &&
		    a->op != PLAN_UNPAIR)
			continue;
		if (!any && jbegin(x) < 0)
			return -1;
		any = 1;
		struct journal_pair *pp = a->pair_id ? pair_by_id(b, a->pair_id) : NULL;
		struct journal_pair q;
		int r = 0;
		memset(&q, 0, sizeof q);
		switch (a->op) {
		case PLAN_PAIR:
			q.box_id = b->jb.id;
			q.rkey = a->rkey;
			q.lkey = a->lkey;
			q.base = a->flags;
			q.size = a->size;
			q.idate = a->idate;
			q.has_fp = a->has_fp;
			memcpy(q.fp, a->fp, 32);
			r = journal_pair_put(x->j, &q, e);
			x->st->repaired++;
			break;
		case PLAN_REKEY:
			if (!pp)
				break;
			q = *pp;
			if (a->rkey)
				q.rkey = a->rkey;
			if (a->lkey)
				q.lkey = a->lkey;
			r = journal_pair_put(x->j, &q, e);
			x->st->repaired++;
			break;
		case PLAN_BASE:
			if (!pp)
				break;
			q = *pp;
			q.base = a->flags;
			r = journal_pair_put(x->j, &q, e);
			break;
		default:
			if (pp)
				r = journal_pair_delete(x->j, pp->id, e);
			break;
		}
		if (jcheck(x, r, e) < 0) {
			jrollback(x);
			return -1;
		}
	}
	return any ? jdefer(x) : 0;
}
