/*
 * exec.c — the executor: one two-way sync of a channel, run against its
 * journal. Owns the run's stores (opened through the caller's opener, so a
 * dropped connection can be reopened) and the journal handle; asks the pure
 * planner (plan.c) what to do and does it.
 *
 * The executor's files: this one holds the run (listing, the mailbox plan,
 * the queue shared out by --jobs), the log, journal transactions and the
 * stores; exec_boxes.c the mailbox-level actions and the "unchanged since
 * the last sync" tests; exec_pair.c one mailbox pair from listing to
 * markers; exec_copy.c copies, unfinished intents and fingerprints;
 * exec_change.c flag changes, marks, expunges and journal-only steps.
 * What they share is in exec_int.h.
 *
 * Durability order (numbered invariants; every side effect obeys them)
 *
 *  I1. Intent first. Before a copy into either side, an intent row
 *      describing it is committed to the journal (many in one transaction:
 *      group commit). A flag change, a deletion mark or an expunge needs
 *      none: it is idempotent, and the pair's markers stay behind it (I6)
 *      until the pair completes, so the next run's listings show whatever
 *      a crash left undone and the plan finishes it.
 *  I2. Then the side effect: fetch -> sink -> append for copies (streamed,
 *      never a whole message in memory), set_flags, expunge.
 *  I3. Then durability: the written store's flush() (Maildir: one fsync of
 *      the touched directories; IMAP: every pipelined command answered OK).
 *      Nothing is recorded as done before flush() returned 0.
 *  I4. Then, in ONE transaction, the pairing / new base is written and the
 *      intent cleared. A crash anywhere leaves either no intent (nothing
 *      started, or all done) or an intent whose side effect may or may not
 *      have happened. (This transaction may stay open until the next I1 or
 *      the pair's markers join it, one fsync for both: losing it in a crash
 *      only leaves intents that I5 resolves to the same result.)
 *  I5. Start-up resolves every unfinished intent before anything else:
 *      a copy whose result exists on the destination (an unpaired message
 *      there with the same fingerprint; for an upload only among UIDs at
 *      or above the UIDNEXT recorded in the intent) is paired, never sent
 *      again; one whose result does not exist is cleared and the normal
 *      plan retries it; flag, mark and expunge intents (written by
 *      earlier versions) are cleared and re-planned. Messages are never
 *      rewritten to find them again.
 *  I6. A mailbox pair's markers (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ read
 *      when its sync STARTED, and the local marker) are stored only after
 *      the whole pair synced without error, so a later delta listing never
 *      skips work a failed or interrupted run left undone. The UIDVALIDITY
 *      is stored early only when the journal had none (a first sync), as
 *      the identity under which the first pairs are recorded. The one
 *      exception moves the remote markers FORWARD past our own writes:
 *      after a CHANGEDSINCE/VANISHED listing (taken after every write was
 *      acknowledged) shows that each change since the start is already in
 *      the journal (learn_own_changes), the mod-sequence and UIDNEXT it
 *      reached replace the start values; a change the journal does not
 *      hold keeps them.
 *  I7. Failures are contained: a refused message or a mailbox that cannot
 *      be opened is reported and skipped, the run ends partial (a message
 *      gone from its source since the listing is only skipped); ERR_TEMP
 *      (dropped connection) reopens the stores a bounded number of times
 *      with backoff and retries the mailbox pair from I5.
 *
 * --dry-run works on a private copy of the journal and opens mailboxes
 * read-only, so neither store nor the real journal changes.
 *
 * Per mailbox pair (sync_pair_once): resolve its intents (I5), open both
 * sides, list them (a delta when the journal's markers allow), load the
 * journal pairs, fingerprint unpaired messages when both sides have some
 * or a side's keys are void (UIDVALIDITY / folder identity changed), plan,
 * then run the plan in phases: journal-only actions, expunges, flag
 * changes, deletion marks, copies (batched: MAILFERRY_TEST_BATCH / 500
 * messages or 64 MiB per group commit), each phase obeying I1-I4, and last
 * the markers (I6). A first sync of a big mailbox into an empty side goes
 * in slices of SLICE_MSGS remote messages, each listed (an IMAP remote a
 * window at a time, imap_store_list_window), planned and run before the
 * next, so no listing or plan grows with the mailbox. A pair unchanged
 * since its last complete sync, as the bulk mailbox listing shows, is not
 * opened at all. When only the local Maildir marker stands in the way (our
 * own writes moved the mtimes, or they were too recent to be trusted) while
 * the remote STATUS is unchanged, the folder alone is listed and compared
 * with the journal (local_verified): equal, the pair is skipped without a
 * SELECT and the marker taken before that listing is recorded when it is
 * trusted (old enough).
 *
 * Test switches (exec_opts): stop after journal step N (journal.c), SIGKILL
 * after N message bytes, exit right after the N-th store flush.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec_int.h"
#include "exec_jobs.h"
#include "imap/imap_store.h"
#include "maildir/maildir_store.h"
#include "lib/order.h"
#include "lib/banned.h"

#define DEF_RECONNECTS 3
#define DEF_BACKOFF_MS 500

const char *side_name(int side)
{
	return side == SIDE_REMOTE ? "remote" : "local";
}

void xlog(struct exec *x, enum exec_level lvl, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	if (!x->o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	x->o->log(x->o->log_ctx, lvl, msg);
}

/* ------------------------------------------------------------ journal */

/* A failed journal write ends the run: continuing could record a state
 * that is not the truth. */
int jcheck(struct exec *x, int rc, const struct err *e)
{
	if (rc == 0)
		return 0;
	if (!x->jfail) {
		x->jfail = 1;
		x->jerr = *e;
	}
	return -1;
}

/* Transactions. An I4 transaction is not committed at once: it stays open
 * (jdefer) and the next I1 or the mailbox pair's markers join it, so a pair
 * costs one journal fsync per phase instead of two. That is safe because a
 * transaction lost in a crash leaves its intents in place, and I5 resolves
 * them to the same result. Every side effect is still preceded by a commit
 * of its intents (I1). */
int jbegin(struct exec *x)
{
	struct err e;
	if (x->tx_open)
		return 0;
	if (jcheck(x, journal_begin(x->j, &e), &e) < 0)
		return -1;
	x->tx_open = 1;
	return 0;
}

int jcommit(struct exec *x)
{
	struct err e;
	if (!x->tx_open)
		return 0;
	x->tx_open = 0;
	if (journal_commit(x->j, &e) == 0)
		return 0;
	struct err e2;
	journal_rollback(x->j, &e2);
	return jcheck(x, -1, &e);
}

int jdefer(struct exec *x)
{
	/* the open transaction is committed by the next jcommit; in parallel
	 * it would hold SQLite's write lock and serialize the workers */
	return x->worker ? jcommit(x) : 0;
}

void jrollback(struct exec *x)
{
	struct err e;
	if (!x->tx_open)
		return;
	x->tx_open = 0;
	journal_rollback(x->j, &e);
}

char *flags_text(const struct flagset *f)
{
	struct buf b = BUF_INIT(BUF_MAX_DEFAULT);
	if (flagset_format(f, &b) < 0) {
		buf_release(&b);
		return mf_strdup("");
	}
	return buf_detach(&b, NULL);
}

/* ------------------------------------------------------------ stores */

/* Test switch: die between I3 and I4, as a crash at the worst moment. */
void flushed(struct exec *x)
{
	x->flushes++;
	if (x->o->crash_after_flush && x->flushes == x->o->crash_after_flush)
		_exit(86);
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void close_store(struct exec *x, int side)
{
	if (x->s[side]) {
		x->s[side]->ops->close(x->s[side]);
		x->s[side] = NULL;
	}
}

/* Reopen both stores after a temporary failure, with backoff. 0 when both
 * are open again; -1 when the budget is spent or the reopen failed. */
int reconnect(struct exec *x, struct err *e)
{
	unsigned max = x->o->max_reconnects ? x->o->max_reconnects : DEF_RECONNECTS;
	unsigned delay = x->o->backoff_ms ? x->o->backoff_ms : DEF_BACKOFF_MS;
	while (x->reconnects < max) {
		sleep_ms(delay << x->reconnects);
		x->reconnects++;
		x->st->reconnects++;
		xlog(x, EXEC_LOG_WARN, "reconnecting (%u of %u)", x->reconnects, max);
		int ok = 1;
		for (int side = 0; side < 2 && ok; side++) {
			close_store(x, side);
			if (x->open_fn(x->open_ctx, side, -1, &x->s[side], e) < 0)
				ok = 0;
		}
		if (ok)
			return 0;
		if (!err_is_temporary(e))
			return -1;
	}
	return -1;
}

/* What the plan depends on besides the two stores. When it changed since
 * the last run (say --expunge both was added), an unchanged mailbox may
 * still have work, so no pair is skipped this time. */
static int check_opts(struct exec *x, struct buf *sig, struct err *e)
{
	const struct plan_opts *o = &x->o->plan;
	char *old = NULL;
	buf_addf(sig, "push=%d pull=%d expunge=%u create=%d%d remove=%d%d max_size=%llu "
		 "max_age=%lld", o->push, o->pull, o->expunge, o->create_remote, o->create_local,
		 o->remove_remote, o->remove_local, (unsigned long long)o->max_size,
		 (long long)o->max_age);
	for (size_t i = 0; i < o->ninclude; i++)
		buf_addf(sig, " +%s", o->include[i]);
	for (size_t i = 0; i < o->nexclude; i++)
		buf_addf(sig, " -%s", o->exclude[i]);
	if (jcheck(x, journal_meta_get(x->j, "plan_opts", &old, e), e) < 0)
		return -1;
	x->opts_changed = !old || strcmp(old, sig->data) != 0;
	free(old);
	return 0;
}

static void close_aide(struct exec *x)
{
	if (x->aide) {
		x->aide->ops->close(x->aide);
		x->aide = NULL;
	}
}

struct jbox_index {
	const struct journal_box **v;
	size_t n;
};

static int cmp_jbox_rname(const void *a, const void *b)
{
	return strcmp((*(const struct journal_box *const *)a)->rname,
		      (*(const struct journal_box *const *)b)->rname);
}

/* imap_status_weight_fn over the journal's boxes sorted by remote name:
 * the mailbox's UIDNEXT at its last sync, about as many messages as the
 * server rescans to answer its STATUS after a change. */
static uint64_t status_weight(void *ctx, const char *name)
{
	const struct jbox_index *ix = ctx;
	struct journal_box key = { .rname = (char *)name };
	const struct journal_box *kp = &key;
	const struct journal_box **hit = bsearch(&kp, ix->v, ix->n, sizeof *ix->v, cmp_jbox_rname);
	return hit ? (*hit)->uidnext : 0;
}

static struct store *aide_when_in(void *ctx)
{
	struct exec *x = ctx;
	aide_poll(x);
	return x->aide;
}

static int list_shared(struct exec *x, struct store *st, struct store_box **bv, size_t *bn,
		       struct err *e)
{
	struct jbox_index ix = { .v = mf_calloc(x->jn + 1, sizeof *ix.v), .n = x->jn };
	for (size_t i = 0; i < x->jn; i++)
		ix.v[i] = &x->jv[i];
	qsort(ix.v, ix.n, sizeof *ix.v, cmp_jbox_rname);
	int rc = imap_store_list_boxes_shared(st, aide_when_in, x, status_weight, &ix, bv, bn, e);
	free(ix.v);
	return rc;
}

static int list_all(struct exec *x, struct store_box *bv[2], size_t bn[2], struct err *e)
{
	for (int s = 0; s < 2; s++) {
		for (;;) {
			struct store *st = x->s[s];
			int aide = s == SIDE_REMOTE && (x->aide || x->aide_pending);
			if (aide && !strcmp(st->ops->type, "imap") &&
			    list_shared(x, st, &bv[s], &bn[s], e) == 0)
				break;
			if (aide) {
				aide_settle(x, 0); /* whatever failed, list the plain way */
				close_aide(x);
				continue;
			}
			if (st->ops->list_boxes(st, &bv[s], &bn[s], e) == 0)
				break;
			if (!err_is_temporary(e) || reconnect(x, e) < 0) {
				err_prefix(e, "listing %s mailboxes", side_name(s));
				return -1;
			}
		}
	}
	return 0;
}

/* Mailboxes an IMAP store could not name (imap_store_refused_names) are
 * not synced; say so rather than drop them silently. */
static void warn_refused(struct exec *x)
{
	for (int s = 0; s < 2; s++) {
		const char *const *v = NULL;
		if (strcmp(x->s[s]->ops->type, "imap") != 0)
			continue;
		size_t n = imap_store_refused_names(x->s[s], &v);
		for (size_t i = 0; i < n; i++)
			xlog(x, EXEC_LOG_WARN, "%s mailbox '%s' skipped: its name cannot be used "
			     "here", side_name(s), v[i]);
	}
}

/* ------------------------------------------------------------ --jobs (exec_jobs.c) */

/* Are the pairs that need a real sync queued (run_queue), even for one
 * worker (the queue lets a worker select its next mailbox ahead)? Not
 * for a dry run or under a test switch: those count steps, bytes and
 * flushes of one process, in plan order. */
static int queued(const struct exec *x)
{
	const struct exec_opts *o = x->o;
	return !(o->dry_run || o->stop_after || o->kill_after_bytes || o->crash_after_flush);
}

/* How many workers: 1 when not queued. */
static unsigned jobs_of(const struct exec *x)
{
	const struct exec_opts *o = x->o;
	if (!queued(x))
		return 1;
	return o->jobs ? o->jobs : 1;
}

/* Work a queued pair is expected to be (messages to fetch), so the largest
 * start first; a pair never completely synced before goes first. */
static uint64_t pair_weight(const struct exec *x, const struct plan_box_action *a)
{
	const struct journal_box *jb = jbox_of(x, a->journal_id);
	int fresh = !jb || !jb->complete;
	uint64_t w = fresh ? (uint64_t)1 << 40 : 0;
	for (int s = 0; s < 2; s++) {
		const char *name = s == SIDE_REMOTE ? a->rname : a->lname;
		const struct store_box *b = name ? listed(x, s, name) : NULL;
		if (!b || !b->has_status)
			continue;
		uint32_t uv = jb ? (s == SIDE_REMOTE ? jb->uidvalidity : jb->l_uidvalidity) : 0;
		uint32_t un = jb ? (s == SIDE_REMOTE ? jb->uidnext : jb->l_uidnext) : 0;
		if (fresh || uv != b->uidvalidity)
			w += b->messages;
		else if (b->uidnext > un)
			w += b->uidnext - un;
	}
	return w;
}

static void q_log(void *ctx, enum exec_level lvl, const char *msg)
{
	struct exec *x = ctx;
	xlog(x, lvl, "%s", msg);
}

static int q_run(void *ctx, size_t i, struct exec_jobs_queue *q)
{
	struct exec *x = ctx;
	const struct plan_box_action *a = x->queue[i];
	x->jq = q;
	int rc = sync_pair(x, a->rname, a->lname, a->journal_id);
	x->jq = NULL;
	if (rc != 0)
		x->st->boxes_failed++;
	if (x->worker && jcommit(x) < 0)
		rc = -1;
	return rc < 0 ? (x->jfail ? -1 : 1) : rc;
}

static int q_before_fork(void *ctx, struct err *e)
{
	struct exec *x = ctx;
	aide_settle(x, 1);
	if (jcommit(x) < 0 || jcheck(x, journal_suspend(x->j, e), e) < 0) {
		*e = x->jerr;
		return -1;
	}
	x->worker = 1;
	return 0;
}

static int q_after_fork(void *ctx, struct err *e)
{
	struct exec *x = ctx;
	if (x->aide) { /* the first child's now */
		imap_store_abandon(x->aide);
		x->aide = NULL;
	}
	return jcheck(x, journal_resume(x->j, e), e);
}

/* In a child: the parent's connections and journal handle are left
 * without a word (they are still the parent's), then its own are opened. */
static int q_child_start(void *ctx, unsigned k, int cancel_fd, struct err *e)
{
	struct exec *x = ctx;
	struct store *aide = x->aide;
	x->aide = NULL;
	if (aide && k != 1) {
		imap_store_abandon(aide);
		aide = NULL;
	}
	for (int s = 0; s < 2; s++) {
		if (x->s[s] && is_maildir(x->s[s]))
			maildir_store_abandon(x->s[s]);
		else if (x->s[s] && !strcmp(x->s[s]->ops->type, "imap"))
			imap_store_abandon(x->s[s]);
		x->s[s] = NULL;
	}
	journal_close(&x->j); /* suspended: only our copy of the lock fd goes */
	memset(x->st, 0, sizeof *x->st);
	x->worker = 1;
	x->s[SIDE_REMOTE] = aide; /* logged in already */
	for (int s = 0; s < 2; s++)
		if (!x->s[s] && x->open_fn(x->open_ctx, s, cancel_fd, &x->s[s], e) < 0)
			return -1;
	return journal_open_worker(x->jpath, &x->j, e);
}

/* The parent's own folders are settled while the children finish. */
static void q_idle(void *ctx)
{
	settle_local(ctx);
}

static void q_child_end(void *ctx, struct exec_jobs_result *r)
{
	struct exec *x = ctx;
	settle_local(x);
	if (x->j && x->tx_open)
		jcommit(x);
	for (int s = 0; s < 2; s++)
		close_store(x, s);
	journal_close(&x->j);
	r->st = *x->st;
	r->jfail = x->jfail;
	r->jerr = x->jerr;
}

/* Sync the queued pairs over up to jobs_of() workers. 1 when some failed. */
static int run_queue(struct exec *x)
{
	static const struct exec_jobs_ops ops = {
		.before_fork = q_before_fork,
		.after_fork = q_after_fork,
		.child_start = q_child_start,
		.run = q_run,
		.idle = q_idle,
		.child_end = q_child_end,
		.log = q_log,
	};
	uint64_t *w = mf_calloc(x->nqueue + 1, sizeof *w);
	size_t *order = mf_calloc(x->nqueue + 1, sizeof *order);
	for (size_t i = 0; i < x->nqueue; i++)
		w[i] = pair_weight(x, x->queue[i]);
	order_heaviest_first(w, x->nqueue, order);
	free(w);
	struct exec_jobs_result r;
	struct err e;
	err_clear(&e);
	unsigned jobs = jobs_of(x);
	xlog(x, EXEC_LOG_TRACE, "%zu mailbox pairs to sync, %u workers", x->nqueue,
	     jobs < x->nqueue ? jobs : (unsigned)x->nqueue);
	int rc = exec_jobs_run(order, x->nqueue, jobs, &ops, x, &r, &e);
	free(order);
	x->worker = 0;
	exec_jobs_stats_add(x->st, &r.st);
	if (r.jfail)
		jcheck(x, -1, &r.jerr);
	if (rc < 0 && !x->jfail)
		jcheck(x, -1, &e);
	return r.partial;
}

/* The mailbox plan: which pairs to sync, create, delete, rename or
 * forget, from both sides' usable mailboxes and the journal's pairs. */
static int plan_mailboxes(struct exec *x, struct store_box *bv[2], const size_t bn[2],
			  struct plan_boxes *pb, struct err *e)
{
	const struct journal_box *jv = x->jv;
	size_t jn = x->jn;
	struct plan_box_side *side[2];
	size_t ns[2] = { 0, 0 };
	for (int s = 0; s < 2; s++) {
		side[s] = mf_calloc(bn[s] + 1, sizeof *side[s]);
		for (size_t i = 0; i < bn[s]; i++)
			if (mailbox_usable(&bv[s][i])) {
				side[s][ns[s]].name = bv[s][i].name;
				side[s][ns[s]].ident = bv[s][i].ident;
				side[s][ns[s]].attrs = bv[s][i].attrs;
				ns[s]++;
			}
	}
	struct plan_box_known *known = mf_calloc(jn + 1, sizeof *known);
	for (size_t i = 0; i < jn; i++) {
		int present[2] = { 0, 0 };
		for (int s = 0; s < 2; s++)
			for (size_t k = 0; k < ns[s]; k++)
				if (!strcmp(side[s][k].name, s == SIDE_REMOTE ? jv[i].rname : jv[i].lname))
					present[s] = 1;
		known[i].id = jv[i].id;
		known[i].rname = jv[i].rname;
		known[i].lname = jv[i].lname;
		known[i].rident = jv[i].rident;
		known[i].lident = jv[i].lident;
		if (present[0] != present[1])
			known[i].empty_since_sync = fully_synced(x, &jv[i], present[0] ? 0 : 1);
	}
	struct plan_opts po = x->o->plan;
	int prc = plan_boxes(side[0], ns[0], side[1], ns[1], known, jn, &po, pb);
	free(side[0]);
	free(side[1]);
	free(known);
	if (prc < 0)
		return err_set(e, ERR_PERM, "cannot plan the mailboxes");
	return 0;
}

static int run(struct exec *x, struct err *e)
{
	struct store_box *bv[2] = { NULL, NULL };
	size_t bn[2] = { 0, 0 };
	struct journal_box *jv = NULL;
	size_t jn = 0;
	struct plan_boxes pb;
	struct buf optsig = BUF_INIT(16384);
	int rc = EXEC_FAILED, partial = 0;

	memset(&pb, 0, sizeof pb);
	/* I5 first: whatever a crashed run left unfinished */
	if (jcheck(x, journal_boxes(x->j, &jv, &jn, e), e) < 0)
		goto out;
	if (!x->o->dry_run)
		for (size_t i = 0; i < jn; i++) {
			if (resolve_intents(x, &jv[i], e) == 0)
				continue;
			if (x->jfail)
				goto out;
			xlog(x, EXEC_LOG_ERROR, "%s: %s", jv[i].rname, e->msg);
			partial = 1;
		}
	x->jv = jv;
	x->jn = jn;
	if (list_all(x, bv, bn, e) < 0)
		goto out;
	warn_refused(x);
	for (int s = 0; s < 2; s++) {
		x->bv[s] = bv[s];
		x->bn[s] = bn[s];
	}
	if (check_opts(x, &optsig, e) < 0)
		goto out;

	if (plan_mailboxes(x, bv, bn, &pb, e) < 0)
		goto out;
	if (queued(x))
		x->queue = mf_calloc(pb.n + 1, sizeof *x->queue);
	for (size_t i = 0; i < pb.n; i++) {
		int r = run_box_action(x, &pb.v[i]);
		if (r < 0 || x->jfail) {
			*e = x->jerr;
			goto out;
		}
		if (r > 0)
			partial = 1;
	}
	if (x->queue && run_queue(x))
		partial = 1;
	settle_local(x);
	if (x->jfail) {
		*e = x->jerr;
		goto out;
	}
	if (!partial && x->opts_changed && !x->o->dry_run &&
	    jcheck(x, journal_meta_set(x->j, "plan_opts", optsig.data, e), e) < 0)
		goto out;
	rc = partial ? EXEC_PARTIAL : EXEC_OK;
out:
	buf_release(&optsig);
	free(x->queue);
	x->queue = NULL;
	if (x->jfail && rc == EXEC_FAILED)
		*e = x->jerr;
	plan_boxes_free(&pb);
	journal_boxes_free(jv, jn);
	store_boxes_free(bv[0], bn[0]);
	store_boxes_free(bv[1], bn[1]);
	return rc;
}

/* ------------------------------------------------------------ entry point */

/* The journal is opened (lock, checks: quick_check is O(journal size)
 * after an unclean close) on a thread while the stores connect, greet and
 * log in, which is mostly waiting for the server. Nothing else touches the
 * journal until the join. */
struct jopen {
	const char *path;
	struct journal *j;
	struct err e;
	int rc;
};

static void *jopen_run(void *arg)
{
	struct jopen *jo = arg;
	err_clear(&jo->e);
	jo->rc = journal_open(jo->path, &jo->j, &jo->e);
	return NULL;
}

/* The two logins made at the start (when --jobs allows a second): the
 * first connection's and the aide's, which joins the STATUS pass when it is
 * in and then serves the first worker. The aide's starts when the first
 * one's is through, or after AIDE_DELAY_MS if that seems stuck: two logins
 * at once slow each other, and nothing can start before the first is in.
 * The first does not wait for the aide: an unchanged account is done
 * before the aide is in, and its login is then called off. When one is
 * in and the other is wanted, the other gets AIDE_GRACE_MS more and is
 * then given up, so a server that accepts a connection and never greets
 * it (a full connection table, a stuck login process) costs that much
 * instead of the read timeout. Either may be the one given up: if it is
 * the first, the aide's connection serves in its place. */
#define AIDE_DELAY_MS 300
#define AIDE_GRACE_MS 2000

struct aide_open {
	exec_open_fn *fn;
	void *ctx;
	int started;
	pthread_t th;
	struct store *s;
	int cancel[2];       /* closing cancel[1] gives the aide's login up */
	int main_cancel[2];  /* ... the first connection's */
	int main_done[2];    /* main_done[1] closed: the first login ended */
};

static void pipe_or_none(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		p[0] = p[1] = -1; /* then that login is waited for to the end */
}

/* Close one end (if open); closing a write end is how a login is told. */
static void close_end(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void close_pipe(int p[2])
{
	close_end(&p[0]);
	close_end(&p[1]);
}

static void *aide_run(void *arg)
{
	struct aide_open *a = arg;
	struct err e;
	/* not before the first login is through (or seems stuck): two logins
	 * at once make both slower, and the first one's is waited for */
	struct pollfd p0 = { .fd = a->main_done[0], .events = POLLIN };
	if (p0.fd >= 0)
		poll(&p0, 1, AIDE_DELAY_MS);
	if (a->fn(a->ctx, SIDE_REMOTE, a->cancel[0], &a->s, &e) < 0) {
		a->s = NULL;
		return NULL;
	}
	if (strcmp(a->s->ops->type, "imap") != 0) {
		a->s->ops->close(a->s);
		a->s = NULL;
		return NULL;
	}
	struct pollfd p = { .fd = a->main_done[0], .events = POLLIN };
	if (p.fd >= 0 && a->main_cancel[1] >= 0 && poll(&p, 1, AIDE_GRACE_MS) == 0)
		close_end(&a->main_cancel[1]);
	return NULL;
}

static void aide_start(struct aide_open *a, exec_open_fn *fn, void *ctx, int want)
{
	memset(a, 0, sizeof *a);
	a->fn = fn;
	a->ctx = ctx;
	a->cancel[0] = a->cancel[1] = a->main_cancel[0] = a->main_cancel[1] = -1;
	a->main_done[0] = a->main_done[1] = -1;
	if (!want)
		return;
	pipe_or_none(a->cancel);
	pipe_or_none(a->main_cancel);
	pipe_or_none(a->main_done);
	a->started = pthread_create(&a->th, NULL, aide_run, a) == 0;
}

/* The aide's store, or NULL. With `grace` (the first login succeeded) the
 * aide gets AIDE_GRACE_MS more, then its login is given up. */
static struct store *aide_finish(struct aide_open *a, int grace)
{
	close_end(&a->main_done[1]); /* the first login ended: a waiting aide goes on */
	if (a->started) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long ns = ts.tv_nsec + (long)(AIDE_GRACE_MS % 1000) * 1000000L;
		ts.tv_sec += AIDE_GRACE_MS / 1000 + ns / 1000000000L;
		ts.tv_nsec = ns % 1000000000L;
		if (!grace || a->cancel[1] < 0 || pthread_timedjoin_np(a->th, NULL, &ts) != 0) {
			if (grace)
				close_end(&a->cancel[1]);
			pthread_join(a->th, NULL);
		}
	}
	close_pipe(a->cancel);
	close_pipe(a->main_cancel);
	close_pipe(a->main_done);
	return a->s;
}

/* The aide still logging in: wanted (the workers start), it gets
 * AIDE_GRACE_MS more; not wanted, its login is called off. */
void aide_settle(struct exec *x, int want)
{
	struct aide_open *a = x->aide_pending;
	if (!a)
		return;
	x->aide_pending = NULL;
	if (!want)
		close_end(&a->cancel[1]);
	struct store *s = aide_finish(a, want);
	if (want && !x->aide)
		x->aide = s;
	else if (s)
		imap_store_abandon(s);
}

/* Take the aide if its login has ended, without waiting. */
int aide_poll(struct exec *x)
{
	struct aide_open *a = x->aide_pending;
	if (a && pthread_tryjoin_np(a->th, NULL) == 0) {
		a->started = 0;
		x->aide_pending = NULL;
		x->aide = aide_finish(a, 1);
	}
	return x->aide != NULL;
}

int exec_sync(const char *journal_path, exec_open_fn *open_fn, void *open_ctx,
	      const struct exec_opts *o, struct exec_stats *st, struct err *e)
{
	struct exec x;
	struct timespec t0, t1;
	struct journal_copy dry = { .dir = "" }; /* a dry run works on a private copy */
	int rc = EXEC_FAILED;

	memset(&x, 0, sizeof x);
	memset(st, 0, sizeof *st);
	x.o = o;
	x.open_fn = open_fn;
	x.open_ctx = open_ctx;
	x.st = st;
	x.jpath = journal_path;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	const char *jpath = journal_path;
	if (o->dry_run) {
		if (journal_copy_make(journal_path, &dry, e) < 0)
			goto out;
		jpath = dry.path;
	}
	struct jopen jo = { .path = jpath };
	pthread_t th;
	int threaded = pthread_create(&th, NULL, jopen_run, &jo) == 0;
	if (!threaded)
		jopen_run(&jo);
	struct aide_open ao;
	aide_start(&ao, open_fn, open_ctx, jobs_of(&x) > 1);
	int orc = open_fn(open_ctx, SIDE_REMOTE, ao.main_cancel[0], &x.s[SIDE_REMOTE], e);
	if (orc == 0 && ao.started) {
		/* the aide logs in now; the STATUS pass takes it when it is in,
		 * the workers wait for it (aide_settle) */
		close_end(&ao.main_done[1]);
		x.aide_pending = &ao;
	} else {
		if (orc < 0 && e->cls == ERR_AUTH)
			close_end(&ao.cancel[1]); /* refused: the aide's would be too */
		x.aide = aide_finish(&ao, orc == 0); /* NULL when that login failed */
	}
	if (orc < 0 && x.aide) {
		/* a server's connection limit may refuse either of two logins
		 * made at once: the one that got in serves */
		x.s[SIDE_REMOTE] = x.aide;
		x.aide = NULL;
		orc = 0;
	}
	if (orc == 0)
		orc = open_fn(open_ctx, SIDE_LOCAL, -1, &x.s[SIDE_LOCAL], e);
	if (threaded)
		pthread_join(th, NULL);
	x.j = jo.j;
	if (jo.rc < 0) {
		/* the journal's error wins: it is why nothing can be synced */
		*e = jo.e;
		err_prefix(e, "journal '%s'", journal_path);
		goto out;
	}
	if (orc < 0)
		goto out;
	if (o->stop_after && !o->dry_run)
		journal_set_stop_after(x.j, o->stop_after);
	rc = run(&x, e);
	if (x.tx_open && jcommit(&x) < 0) {
		*e = x.jerr;
		rc = EXEC_FAILED;
	}
out:
	free(x.settle);
	aide_settle(&x, 0);
	close_aide(&x);
	for (int s = 0; s < 2; s++)
		close_store(&x, s);
	journal_close(&x.j);
	if (o->dry_run)
		journal_copy_remove(&dry);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return rc;
}
