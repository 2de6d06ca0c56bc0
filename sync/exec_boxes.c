/*
 * exec_boxes.c — the executor's mailbox-level steps: each planned mailbox
 * action (create, delete, rename, sync a pair) is carried out here, and a
 * pair is queued for a real sync only when it may have changed: its remote
 * STATUS against the journal's markers, its local folder's marker, and,
 * when only the marker moved, a listing of the folder compared with the
 * journal (local_verified). Owns the settling of local folders written by
 * the run (their markers stored once trustworthy). Borrows everything else
 * from struct exec (exec_int.h).
 */
#include "exec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildir/maildir_store.h"
#include "lib/banned.h"

/* ------------------------------------------------------------ mailboxes */

int mailbox_usable(const struct store_box *b)
{
	return !(b->attrs & (BOX_NOSELECT | BOX_NONEXISTENT));
}

/* Whether a mailbox that still exists on `side` holds nothing unsynced, so
 * its deletion on the other side may be propagated. */
int fully_synced(struct exec *x, const struct journal_box *jb, int side)
{
	struct boxrun b;
	struct err e;
	int ok = 0;
	memset(&b, 0, sizeof b);
	b.jb.id = jb->id;
	b.jb.rname = mf_strdup(jb->rname);
	b.jb.lname = mf_strdup(jb->lname);
	struct store *s = x->s[side];
	struct side_state *sd = &b.sd[side];
	if (s->ops->open_box(s, box_name(&b, side), 1, &sd->st, &e) < 0)
		goto out;
	sd->exists = 1;
	if (list_side(x, &b, side, NULL, &e) < 0 || load_pairs(x, &b, &e) < 0)
		goto out;
	ok = 1;
	for (size_t i = 0; i < sd->ls.n && ok; i++) {
		const struct store_msg *m = &sd->ls.msgs[i];
		const struct journal_pair *pr = NULL;
		for (size_t k = 0; k < b.npairs && !pr; k++) {
			const char *key = side == SIDE_REMOTE ? b.pairs[k].rkey : b.pairs[k].lkey;
			if (key && !strcmp(key, m->key))
				pr = &b.pairs[k];
		}
		if (!pr || !flagset_equal(&pr->base, &m->flags))
			ok = 0;
	}
out:
	boxrun_free(&b);
	return ok;
}

int marker_untrusted(const char *m)
{
	size_t n = strlen(m);
	return n >= 2 && !strcmp(m + n - 2, ":u");
}

/* A Maildir marker stored as trusted that the folder still shows. */
static int marker_unchanged(const char *stored, const char *now)
{
	size_t n = strlen(stored);
	if (!n || (n >= 2 && !strcmp(stored + n - 2, ":u")))
		return 0;
	return !strncmp(now, stored, n) && (now[n] == '\0' || !strcmp(now + n, ":u"));
}

const struct store_box *listed(const struct exec *x, int side, const char *name)
{
	for (size_t i = 0; i < x->bn[side]; i++)
		if (!strcmp(x->bv[side][i].name, name))
			return &x->bv[side][i];
	return NULL;
}

const struct journal_box *jbox_of(const struct exec *x, int64_t id)
{
	for (size_t i = 0; id && i < x->jn; i++)
		if (x->jv[i].id == id)
			return &x->jv[i];
	return NULL;
}

/* The remote side's STATUS shows the counters recorded at the last complete
 * sync of the pair (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ). */
static const struct journal_box *remote_unchanged(const struct exec *x,
						  const struct plan_box_action *a)
{
	const struct journal_box *jb = jbox_of(x, a->journal_id);
	if (x->opts_changed || !jb || !jb->complete)
		return NULL;
	const struct store_box *r = listed(x, SIDE_REMOTE, a->rname);
	if (!r || !r->has_status || !jb->highestmodseq || r->uidvalidity != jb->uidvalidity ||
	    r->uidnext != jb->uidnext || r->highestmodseq != jb->highestmodseq)
		return NULL;
	return jb;
}

/* Nothing changed on either side since the last complete sync of the pair,
 * as the bulk mailbox listing tells (STATUS counters with HIGHESTMODSEQ,
 * Maildir directory mtimes): the pair is skipped without being opened. */
static int pair_unchanged(const struct exec *x, const struct plan_box_action *a)
{
	const struct journal_box *jb = remote_unchanged(x, a);
	const struct store_box *l = listed(x, SIDE_LOCAL, a->lname);
	if (!jb || !l)
		return 0;
	if (l->has_status)
		return jb->l_highestmodseq && l->uidvalidity == jb->l_uidvalidity &&
		       l->uidnext == jb->l_uidnext && l->highestmodseq == jb->l_highestmodseq;
	return marker_unchanged(jb->lmarker, l->marker);
}

/* Does the open local folder hold exactly the journal's pairs of box jb,
 * each with its base flags (and no intent is pending)? With `watched`, the
 * store's watch answers: nothing but our own changes since a sync that
 * began from the journal's state (maildir_store_clean), so the folder is
 * that state plus exactly the changes the journal recorded. Otherwise a
 * names-only listing (store_since.flags_only: no stat) is compared with the
 * journal streamed in key order beside it while the store lists (struct
 * lfilter), so not even the listing is held in memory. 1 yes, 0 no (or
 * could not tell: a store that does not filter). */
static int folder_is_journal(struct exec *x, const struct journal_box *jb, int watched)
{
	struct store *s = x->s[SIDE_LOCAL];
	struct store_listing ls;
	struct journal_intent *iv = NULL;
	size_t in = 0;
	struct err e;
	int ok = 0;

	memset(&ls, 0, sizeof ls);
	if (journal_intents(x->j, jb->id, &iv, &in, &e) < 0 || in)
		goto out;
	if (watched) {
		ok = maildir_store_clean(s, jb->lname);
		goto out;
	}
	struct lfilter f;
	if (lf_open(x, jb->id, 1, &f) < 0) {
		lf_close(&f, NULL);
		goto out;
	}
	struct store_since since;
	memset(&since, 0, sizeof since);
	since.flags_only = 1;
	since.unchanged = lf_unchanged;
	since.unchanged_ctx = &f;
	int r = s->ops->list_msgs(s, &since, &ls, &e);
	/* equal: the filter left nothing listed and found nothing gone */
	ok = lf_close(&f, r == 0 && ls.full && ls.filtered && !ls.n ? &ls : NULL) == 0 &&
	     !ls.nvanished;
out:
	journal_intents_free(iv, in);
	store_listing_free(&ls);
	return ok;
}

/* Store `marker` as box id's local marker (deferred like store_markers:
 * lost in a crash, it only costs a listing next time). */
static int put_lmarker(struct exec *x, int64_t id, const char *marker)
{
	struct journal_box nb;
	struct err e;
	memset(&nb, 0, sizeof nb);
	if (load_jbox(x, id, &nb, &e) < 0)
		return x->jfail ? -1 : 0;
	snprintf(nb.lmarker, sizeof nb.lmarker, "%s", marker);
	int rc = 0;
	if (jbegin(x) < 0 || jcheck(x, journal_box_put(x->j, &nb, &e), &e) < 0 || jdefer(x) < 0)
		rc = -1;
	journal_box_free(&nb);
	return rc;
}

/* The local folder `jb` names was just opened (st): is it still the one
 * the journal knows, holding exactly its pairs with their base flags
 * (folder_is_journal, by its watch or by a listing)? When it is and st's
 * marker is trusted and new, that marker (taken BEFORE the listing or the
 * watch's answer, so a change made after it still shows next time) is
 * stored. 1 equal, 0 not (or cannot tell), -1 the journal failed. */
static int folder_check_mark(struct exec *x, const struct journal_box *jb,
			     const struct store_box_state *st, int watched)
{
	if (!st->marker[0] || strcmp(st->ident, jb->lident) != 0 ||
	    (jb->l_uidvalidity && st->uidvalidity != jb->l_uidvalidity) ||
	    !folder_is_journal(x, jb, watched))
		return 0;
	/* An untrusted marker would not spare the next run this check: it is
	 * not worth a journal write. */
	if (!x->o->dry_run && strcmp(st->marker, jb->lmarker) != 0 &&
	    !marker_untrusted(st->marker) && put_lmarker(x, jb->id, st->marker) < 0)
		return -1;
	return 1;
}

/* The remote side is unchanged but the local folder's marker does not let
 * it be skipped: the stored marker was read before our own writes of an
 * earlier run (untrusted, ":u"). Instead of a full sync of the pair, list
 * the folder alone (names only: no stat, no file opens, no SELECT) and
 * compare it with the journal (folder_check_mark). 1: unchanged (skip the
 * pair), 0: sync it, -1: the journal failed. */
static int local_verified(struct exec *x, const struct plan_box_action *a)
{
	const struct journal_box *jb = remote_unchanged(x, a);
	const struct store_box *l = listed(x, SIDE_LOCAL, a->lname);
	struct store *s = x->s[SIDE_LOCAL];
	struct store_box_state st;
	struct err e;

	if (!jb || !l || l->has_status || !is_maildir(s) || !jb->lmarker[0] || !jb->lident[0])
		return 0;
	/* a trusted marker that no longer matches means a change we did not
	 * make: listing the folder here would only be done again by the sync */
	if (!marker_untrusted(jb->lmarker))
		return 0;
	if (s->ops->open_box(s, a->lname, 1, &st, &e) < 0)
		return 0;
	return folder_check_mark(x, jb, &st, 0);
}

/* The folders this process wrote to still have their pre-write marker in
 * the journal, so the next run would list them again. Now that the run's
 * writes are done (and the clock has moved past most of them), take each
 * folder's marker and check it against the journal (folder_check_mark: by
 * its watch when its sync began from the journal's state, else, or when the
 * watch cannot tell, by a names-only listing as local_verified does):
 * equal, the marker taken BEFORE the check is stored, so a change by anyone else during or after that
 * listing still shows next time, and one made before it shows as a
 * difference now (the marker is then left as it was). A marker is
 * trusted once its mtimes are older than the kernel's coarse clock
 * (maildir_scan.h): waiting a few milliseconds once, for the last folder
 * written, beats a full listing on the next run. */
void settle_local(struct exec *x)
{
	struct store *s = x->s[SIDE_LOCAL];
	for (size_t i = 0; i < x->nsettle && s && x->j && !x->jfail; i++) {
		struct journal_box jb;
		struct store_box_state st;
		struct err e;
		memset(&jb, 0, sizeof jb);
		if (load_jbox(x, x->settle[i].id, &jb, &e) < 0)
			continue;
		int r = jb.lmarker[0] && jb.complete ? 0 : -1;
		for (int tries = 0; r == 0 && tries < 6; tries++) {
			r = s->ops->open_box(s, jb.lname, 1, &st, &e);
			if (r < 0 || !marker_untrusted(st.marker))
				break;
			sleep_ms(2);
		}
		if (r == 0 && !marker_untrusted(st.marker) && strcmp(st.marker, jb.lmarker) != 0) {
			/* a journal failure sets x->jfail */
			int w = x->settle[i].unlisted ? folder_check_mark(x, &jb, &st, 1) : 0;
			if (w == 1)
				xlog(x, EXEC_LOG_TRACE, "%s: settled: only our own changes seen",
				     jb.rname);
			else if (w == 0 && folder_check_mark(x, &jb, &st, 0) == 1)
				xlog(x, EXEC_LOG_TRACE, "%s: settled: local folder listed", jb.rname);
		}
		journal_box_free(&jb);
	}
	/* each caller settles once its process syncs no more pairs */
	if (s && is_maildir(s))
		maildir_store_unwatch(s);
	free(x->settle);
	x->settle = NULL;
	x->nsettle = 0;
}

int run_box_action(struct exec *x, const struct plan_box_action *a)
{
	struct err e;
	int side = a->side;
	const char *name = side == SIDE_REMOTE ? a->rname : a->lname;
	struct store *s = x->s[side];

	err_clear(&e);
	switch (a->op) {
	case PBOX_SKIP:
		xlog(x, EXEC_LOG_ACTION, "%s: skipped (%s)", a->rname ? a->rname : a->lname,
		     a->reason ? a->reason : "excluded");
		return 0;
	case PBOX_FORGET:
		if (x->o->dry_run)
			return 0;
		return jcheck(x, journal_box_delete(x->j, a->journal_id, &e), &e) < 0 ? -1 : 0;
	case PBOX_DELETE:
		if (x->o->dry_run) {
			xlog(x, EXEC_LOG_PLAN, "delete %s mailbox '%s'", side_name(side), name);
			x->st->dir[side].boxes_deleted++;
			return 0;
		}
		if (s->ops->delete_box(s, name, &e) < 0 && e.cls != ERR_NOTFOUND) {
			xlog(x, EXEC_LOG_ERROR, "cannot delete %s mailbox '%s': %s", side_name(side),
			     name, e.msg);
			x->st->dir[side].errors++;
			return 1;
		}
		x->st->dir[side].boxes_deleted++;
		xlog(x, EXEC_LOG_PROGRESS, "deleted %s mailbox '%s'", side_name(side), name);
		if (a->journal_id &&
		    jcheck(x, journal_box_delete(x->j, a->journal_id, &e), &e) < 0)
			return -1;
		return 0;
	case PBOX_CREATE:
		if (x->o->dry_run) {
			xlog(x, EXEC_LOG_PLAN, "create %s mailbox '%s'", side_name(side), name);
		} else if (s->ops->create_box(s, name, &e) < 0 && e.cls != ERR_EXISTS) {
			xlog(x, EXEC_LOG_ERROR, "cannot create %s mailbox '%s': %s", side_name(side),
			     name, e.msg);
			x->st->dir[side].errors++;
			return 1;
		}
		x->st->dir[side].boxes_created++;
		break;
	case PBOX_RENAME:
		if (x->o->dry_run) {
			xlog(x, EXEC_LOG_PLAN, "rename %s mailbox '%s' to '%s'", side_name(side),
			     a->from, name);
			x->st->boxes_renamed++;
			return 0;
		}
		if (s->ops->rename_box(s, a->from, name, &e) < 0) {
			xlog(x, EXEC_LOG_ERROR, "cannot rename %s mailbox '%s': %s", side_name(side),
			     a->from, e.msg);
			x->st->dir[side].errors++;
			return 1;
		}
		x->st->boxes_renamed++;
		if (a->journal_id) {
			struct journal_box jb;
			memset(&jb, 0, sizeof jb);
			if (load_jbox(x, a->journal_id, &jb, &e) == 0) {
				free(jb.rname);
				free(jb.lname);
				jb.rname = mf_strdup(a->rname);
				jb.lname = mf_strdup(a->lname);
				int r = journal_box_put(x->j, &jb, &e);
				journal_box_free(&jb);
				if (jcheck(x, r, &e) < 0)
					return -1;
			}
		}
		break;
	case PBOX_SYNC:
		if (pair_unchanged(x, a)) {
			x->st->boxes++;
			xlog(x, EXEC_LOG_TRACE, "%s: unchanged since the last sync", a->rname);
			return 0;
		}
		switch (local_verified(x, a)) {
		case 1:
			x->st->boxes++;
			xlog(x, EXEC_LOG_TRACE, "%s: unchanged since the last sync (local folder "
			     "listed)", a->rname);
			return 0;
		case -1:
			return -1;
		}
		break;
	}
	x->st->boxes++;
	if (x->queue) { /* --jobs: synced by run_queue */
		x->queue[x->nqueue++] = a;
		return 0;
	}
	int rc = sync_pair(x, a->rname, a->lname, a->journal_id);
	if (rc != 0)
		x->st->boxes_failed++;
	return rc < 0 ? (x->jfail ? -1 : 1) : rc;
}
