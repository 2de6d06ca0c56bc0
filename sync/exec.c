/*
 * exec.c — the executor: one two-way sync of a channel, run against its
 * journal. Owns the run's stores (opened through the caller's opener, so a
 * dropped connection can be reopened) and the journal handle; asks the pure
 * planner (plan.c) what to do and does it.
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
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exec_jobs.h"
#include "imap/imap_store.h"
#include "journal/journal.h"
#include "maildir/maildir_keywords.h"
#include "maildir/maildir_store.h"
#include "lib/order.h"
#include "lib/banned.h"

#define DEF_RECONNECTS 3
#define DEF_BACKOFF_MS 500
#define DEF_BATCH_MSGS 500
#define DEF_BATCH_BYTES ((uint64_t)64 << 20)
#define HDR_MAX (64 * 1024)

/* A local folder written by this run, to be settled at its end. */
struct settle {
	int64_t id;             /* journal box */
	int unlisted;           /* the sync began from the journal's state (its
				 * local listing was an empty delta, or an empty
				 * folder of a pair without journal pairs) */
};

struct exec {
	const struct exec_opts *o;
	exec_open_fn *open_fn;
	void *open_ctx;
	struct store *s[2];
	struct journal *j;
	struct exec_stats *st;
	uint64_t msg_bytes;     /* message data through the sinks (kill switch) */
	unsigned long flushes;  /* store flushes of side effects (crash switch) */
	unsigned reconnects;
	int jfail;              /* a journal write failed: stop the run */
	int tx_open;            /* a journal transaction is open (see jdefer) */
	struct err jerr;
	/* the run's mailbox lists, for the "unchanged since last time" test */
	const struct store_box *bv[2];
	size_t bn[2];
	const struct journal_box *jv;
	size_t jn;
	int opts_changed;       /* the options differ from the last run's: open every pair */
	/* --jobs (exec_jobs.c): run_box_action queues the pairs needing a real
	 * sync (queue != NULL); run() shares them out after the box actions */
	const struct plan_box_action **queue;
	size_t nqueue;
	int worker;             /* parallel phase: no deferred commits (jdefer) */
	struct exec_jobs_queue *jq; /* the running pair's queue (q_run), to claim ahead */
	/* --jobs: a second login to the remote account, made while the first
	 * one logs in; it shares the mailbox STATUS work, then becomes the
	 * first forked worker's remote connection (NULL when none) */
	struct store *aide;
	const char *jpath;      /* the journal, for a worker's own connection */
	/* local folders this process wrote to, whose stored marker is the
	 * pre-write one: settled (checked, new marker stored) at the end */
	struct settle *settle;
	size_t nsettle;
};

static const char *side_name(int side)
{
	return side == SIDE_REMOTE ? "remote" : "local";
}

static void xlog(struct exec *x, enum exec_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void xlog(struct exec *x, enum exec_level lvl, const char *fmt, ...)
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
static int jcheck(struct exec *x, int rc, const struct err *e)
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
static int jbegin(struct exec *x)
{
	struct err e;
	if (x->tx_open)
		return 0;
	if (jcheck(x, journal_begin(x->j, &e), &e) < 0)
		return -1;
	x->tx_open = 1;
	return 0;
}

static int jcommit(struct exec *x)
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

static int jdefer(struct exec *x)
{
	/* the open transaction is committed by the next jcommit; in parallel
	 * it would hold SQLite's write lock and serialize the workers */
	return x->worker ? jcommit(x) : 0;
}

static void jrollback(struct exec *x)
{
	struct err e;
	if (!x->tx_open)
		return;
	x->tx_open = 0;
	journal_rollback(x->j, &e);
}

static char *flags_text(const struct flagset *f)
{
	struct buf b = BUF_INIT(BUF_MAX_DEFAULT);
	if (flagset_format(f, &b) < 0) {
		buf_release(&b);
		return mf_strdup("");
	}
	return buf_detach(&b, NULL);
}

/* ------------------------------------------------------------ helpers */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted view of keys, for "is this key paired" questions. */
struct keyset {
	const char **v;
	size_t n;
};

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

static int keyset_has(const struct keyset *k, const char *key)
{
	return bsearch(&key, k->v, k->n, sizeof *k->v, cmp_str) != NULL;
}

static void keyset_free(struct keyset *k)
{
	free(k->v);
	k->v = NULL;
	k->n = 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int exec_header_fields(const char *hdr, size_t n, struct buf *msgid, struct buf *date)
{
	buf_reset(msgid);
	buf_reset(date);
	if (store_header_field(hdr, n, "Message-ID", msgid) < 0 ||
	    store_header_field(hdr, n, "Date", date) < 0)
		return -1;
	return 0;
}

static int msg_fingerprint(struct store *s, const struct store_msg *m, unsigned char fp[32],
			   struct err *e)
{
	struct buf id = BUF_INIT(HDR_MAX), date = BUF_INIT(HDR_MAX);
	int rc = s->ops->headers(s, m->key, &id, &date, e);
	if (rc == 0)
		store_fingerprint(id.data, date.data, m->size, m->idate, fp);
	buf_release(&id);
	buf_release(&date);
	return rc;
}

/* ------------------------------------------------------------ stores */

/* Test switch: die between I3 and I4, as a crash at the worst moment. */
static void flushed(struct exec *x)
{
	x->flushes++;
	if (x->o->crash_after_flush && x->flushes == x->o->crash_after_flush)
		_exit(86);
}

static void sleep_ms(unsigned ms)
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
static int reconnect(struct exec *x, struct err *e)
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
			if (x->open_fn(x->open_ctx, side, &x->s[side], e) < 0)
				ok = 0;
		}
		if (ok)
			return 0;
		if (!err_is_temporary(e))
			return -1;
	}
	return -1;
}

/* ------------------------------------------------------------ a mailbox pair's state */

struct side_state {
	int exists;
	struct store_box_state st;
	struct store_listing ls;
	struct plan_msg *pm;      /* plan view of ls.msgs */
	size_t npm;
	int pm_owns;              /* pm holds the listed keys and flags (ls.msgs is gone) */
};

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

struct boxrun {
	struct journal_box jb;
	struct side_state sd[2];
	struct journal_pair *pairs;
	size_t npairs;
	size_t pair_count;         /* pairs in the journal, loaded or not */
	int subset;                /* pairs holds only what the deltas touch */
	struct keyset paired[2];
	int keys_invalid[2];
	int local_listed;          /* listed in full, and not empty as the
				    * journal's state of the pair was */
	unsigned errors;
};

static void boxrun_free(struct boxrun *b)
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

static int is_maildir(const struct store *s)
{
	return !strcmp(s->ops->type, "maildir");
}

static const char *box_name(const struct boxrun *b, int side)
{
	return side == SIDE_REMOTE ? b->jb.rname : b->jb.lname;
}

static struct journal_pair *pair_by_id(struct boxrun *b, int64_t id)
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
static struct journal_pair *pair_of(struct boxrun *b, const struct plan_action *a)
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
static int load_pairs(struct exec *x, struct boxrun *b, struct err *e)
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

/* A full local listing (a mail reader changed the folder) made into a
 * delta against the journal: the journal's pairs are read in local-key
 * order beside the listing, also sorted; a message whose flags are the
 * pair's base is dropped, a pair whose message is missing becomes a
 * vanished key. The pair then plans, like a server delta, with only the
 * pairs the deltas name (choose_subset) instead of the listing, every pair
 * and the planner's copies of both at once. The Maildir store does this
 * while it lists (store_since.unchanged), so that the messages the journal
 * knows as they are never become listing entries at all; another store's
 * full listing is compared afterwards. Anything unexpected (an unsorted
 * listing, a key twice in the journal) keeps the full listing, which is
 * always right. */
struct lfilter {
	struct journal_cursor *c;
	const char *rkey, *lkey, *base; /* the current pair, while `more` */
	int more;
	struct buf prev;           /* the current pair's local key, kept */
	struct buf last;           /* the previous listed key */
	char **van;
	size_t nvan, cap, seen;
	int bad;
	int strict;                /* a pair without both keys is a difference */
	struct buf text;
};

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

static int lf_open(struct exec *x, int64_t box_id, int strict, struct lfilter *f)
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
static int lf_unchanged(void *ctx, const char *key, const struct flagset *flags)
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
static int lf_close(struct lfilter *f, struct store_listing *ls)
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

static int list_side(struct exec *x, struct boxrun *b, int s, const struct store_since *since,
		     struct err *e);

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
static int open_boxes(struct exec *x, struct boxrun *b, int with_since, struct err *e)
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

static int list_side(struct exec *x, struct boxrun *b, int s, const struct store_since *since,
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

/* ------------------------------------------------------------ I5: unfinished intents */

struct fpcache {
	int done;
	int ok;
	unsigned char fp[32];
};

static int fp_of(struct exec *x, int side, const struct store_msg *m, struct fpcache *c)
{
	struct err e;
	if (!c->done) {
		c->done = 1;
		c->ok = msg_fingerprint(x->s[side], m, c->fp, &e) == 0;
		if (!c->ok && err_is_temporary(&e))
			return -1;
	}
	return 0;
}

static const struct store_msg *find_msg(const struct store_listing *ls, const char *key)
{
	if (!key)
		return NULL;
	for (size_t i = 0; i < ls->n; i++)
		if (!strcmp(ls->msgs[i].key, key))
			return &ls->msgs[i];
	return NULL;
}

/* Look for the result of one unfinished copy on its destination. */
static int resolve_copy(struct exec *x, struct boxrun *b, const struct journal_intent *in,
			struct fpcache *cache[2], char *used, struct err *e)
{
	int dst = in->side, src = !in->side;
	const struct store_listing *dl = &b->sd[dst].ls;
	const char *skey = src == SIDE_REMOTE ? in->rkey : in->lkey;
	unsigned char sfp[32];
	int have_sfp = 0;

	if (in->has_fp) {
		memcpy(sfp, in->fp, 32);
		have_sfp = 1;
	}
	for (size_t i = 0; i < dl->n; i++) {
		const struct store_msg *m = &dl->msgs[i];
		if (used[i] || keyset_has(&b->paired[dst], m->key))
			continue;
		if (in->size && m->size && m->size != in->size)
			continue;
		if (dst == SIDE_REMOTE && in->uidnext && m->uid && m->uid < in->uidnext)
			continue;
		if (!have_sfp) {
			const struct store_msg *sm = find_msg(&b->sd[src].ls, skey);
			if (!sm)
				return 0; /* the source is gone: nothing to tell it by */
			if (msg_fingerprint(x->s[src], sm, sfp, e) < 0)
				return err_is_temporary(e) ? -1 : 0;
			have_sfp = 1;
		}
		if (fp_of(x, dst, m, &cache[dst][i]) < 0)
			return -1;
		if (!cache[dst][i].ok || memcmp(cache[dst][i].fp, sfp, 32) != 0)
			continue;
		/* Found: the copy arrived before the crash. Pair it. */
		struct journal_pair p;
		memset(&p, 0, sizeof p);
		p.box_id = b->jb.id;
		p.rkey = (char *)(dst == SIDE_REMOTE ? m->key : skey);
		p.lkey = (char *)(dst == SIDE_LOCAL ? m->key : skey);
		flagset_init(&p.base);
		if (in->data)
			flagset_parse(&p.base, in->data);
		p.size = in->size ? in->size : m->size;
		p.idate = in->idate;
		p.has_fp = 1;
		memcpy(p.fp, sfp, 32);
		int rc = journal_pair_put(x->j, &p, e);
		flagset_free(&p.base);
		if (jcheck(x, rc, e) < 0)
			return -1;
		used[i] = 1;
		x->st->recovered++;
		xlog(x, EXEC_LOG_ACTION, "%s: recovered copy of %s %s as %s", box_name(b, dst),
		     side_name(src), skey ? skey : "?", m->key);
		return 0;
	}
	return 0;
}

static int resolve_intents(struct exec *x, const struct journal_box *jb, struct err *e)
{
	struct journal_intent *iv = NULL;
	size_t n = 0;
	int need_stores = 0, rc = -1;
	struct boxrun b;
	struct fpcache *cache[2] = { NULL, NULL };
	char *used = NULL;

	memset(&b, 0, sizeof b);
	if (jcheck(x, journal_intents(x->j, jb->id, &iv, &n, e), e) < 0)
		return -1;
	if (n == 0)
		return 0;
	b.jb.id = jb->id;
	b.jb.rname = mf_strdup(jb->rname);
	b.jb.lname = mf_strdup(jb->lname);
	for (size_t i = 0; i < n; i++)
		if (iv[i].op == INTENT_DOWNLOAD || iv[i].op == INTENT_UPLOAD)
			need_stores = 1;
	if (need_stores) {
		if (open_boxes(x, &b, 0, e) < 0) {
			if (err_is_temporary(e))
				goto out;
			/* A mailbox that cannot be opened holds no result to find. */
			xlog(x, EXEC_LOG_TRACE, "%s", e->msg);
			need_stores = 0;
		} else if (list_side(x, &b, SIDE_REMOTE, NULL, e) < 0 ||
			   list_side(x, &b, SIDE_LOCAL, NULL, e) < 0 || load_pairs(x, &b, e) < 0) {
			goto out;
		}
	}
	for (int s = 0; s < 2; s++)
		cache[s] = mf_calloc(b.sd[s].ls.n + 1, sizeof *cache[s]);
	used = mf_calloc(b.sd[SIDE_REMOTE].ls.n + b.sd[SIDE_LOCAL].ls.n + 2, 1);
	if (jbegin(x) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct journal_intent *in = &iv[i];
		if (need_stores && (in->op == INTENT_DOWNLOAD || in->op == INTENT_UPLOAD)) {
			char *u = used + (in->side == SIDE_LOCAL ? b.sd[SIDE_REMOTE].ls.n + 1 : 0);
			if (resolve_copy(x, &b, in, cache, u, e) < 0) {
				jrollback(x);
				goto out;
			}
		}
		if (jcheck(x, journal_intent_clear(x->j, in->id, e), e) < 0) {
			jrollback(x);
			goto out;
		}
	}
	if (jcommit(x) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && x->jfail)
		*e = x->jerr;
	free(cache[0]);
	free(cache[1]);
	free(used);
	boxrun_free(&b);
	journal_intents_free(iv, n);
	return rc;
}

/* ------------------------------------------------------------ copies (I1-I4) */

struct xfer_item {
	const struct plan_action *a;
	int64_t intent_id;
	char *newkey;
	int sent;       /* append_end(ok) accepted it */
	int failed;
	int gone;       /* failed because the source no longer has it (ERR_GONE) */
	char *why;      /* the first error, for the report (owned) */
	int has_fp;
	unsigned char fp[32];
};

struct xfer {
	struct exec *x;
	struct boxrun *b;
	int dst;
	struct xfer_item *items;
	size_t n, hint;
	struct xfer_item *cur;
	struct store_writer *w;
	uint64_t size, written;
	struct buf hdr;
	int hdr_done;
};

/* The first error of an item is the one reported. */
static void why_set(struct xfer_item *it, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void why_set(struct xfer_item *it, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;
	if (it->why)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	it->why = mf_strdup(msg);
}

static void xfer_appended(void *ctx, const char *key, const struct err *e)
{
	struct xfer_item *it = ctx;
	if (e && e->cls != ERR_NONE) {
		it->failed = 1;
		why_set(it, "%s", e->msg);
		return;
	}
	if (key) {
		free(it->newkey);
		it->newkey = mf_strdup(key);
	}
}

static struct xfer_item *xfer_find(struct xfer *t, const char *key)
{
	for (size_t k = 0; k < t->n; k++) {
		size_t i = (t->hint + k) % t->n;
		if (!strcmp(t->items[i].a->key, key)) {
			t->hint = i + 1;
			return &t->items[i];
		}
	}
	return NULL;
}

static int sink_begin(void *ctx, const struct store_msg *meta, struct err *e)
{
	struct xfer *t = ctx;
	struct store *d = t->x->s[t->dst];
	struct xfer_item *it = xfer_find(t, meta->key);
	if (!it)
		return err_set(e, ERR_PROTO, "unexpected message '%s' in fetch", meta->key);
	t->cur = it;
	t->size = meta->size ? meta->size : it->a->size;
	t->written = 0;
	buf_reset(&t->hdr);
	t->hdr_done = 0;
	int64_t idate = it->a->idate >= 0 ? it->a->idate : meta->idate;
	if (d->ops->append_begin(d, &it->a->flags, idate, t->size, &t->w, e) < 0) {
		t->w = NULL;
		it->failed = 1;
		why_set(it, "%s", e->msg);
		return -1;
	}
	return 0;
}

static void hdr_feed(struct xfer *t, const char *data, size_t n)
{
	if (t->hdr_done)
		return;
	size_t old = t->hdr.len;
	size_t take = n;
	if (old + take > HDR_MAX)
		take = HDR_MAX - old;
	if (buf_add(&t->hdr, data, take) < 0 || t->hdr.len >= HDR_MAX) {
		t->hdr_done = 1;
		return;
	}
	size_t from = old >= 3 ? old - 3 : 0;
	for (size_t i = from; i + 1 < t->hdr.len; i++) {
		if (t->hdr.data[i] == '\n' &&
		    (t->hdr.data[i + 1] == '\n' ||
		     (t->hdr.data[i + 1] == '\r' && i + 2 < t->hdr.len && t->hdr.data[i + 2] == '\n'))) {
			t->hdr_done = 1;
			return;
		}
	}
}

static int sink_write(void *ctx, const void *data, size_t n, struct err *e)
{
	struct xfer *t = ctx;
	struct exec *x = t->x;
	if (!t->w)
		return err_set(e, ERR_PROTO, "message data without a message");
	if (t->written + n > t->size)
		return err_set(e, ERR_PROTO, "message '%s' longer than its size %llu",
			       t->cur->a->key, (unsigned long long)t->size);
	hdr_feed(t, data, n);
	if (t->x->s[t->dst]->ops->append_write(t->w, data, n, e) < 0)
		return -1;
	t->written += n;
	x->msg_bytes += n;
	x->st->dir[t->dst].bytes += n;
	if (x->o->kill_after_bytes && x->msg_bytes >= x->o->kill_after_bytes)
		raise(SIGKILL); /* test switch: a crash at a random moment */
	return 0;
}

static int sink_end(void *ctx, int ok, struct err *e)
{
	struct xfer *t = ctx;
	struct xfer_item *it = t->cur;
	int rc = 0;
	if (!it)
		return 0;
	if (t->w) {
		if (ok && t->written != t->size) {
			ok = 0;
			why_set(it, "got %llu bytes of %llu", (unsigned long long)t->written,
				(unsigned long long)t->size);
		}
		if (!ok)
			why_set(it, "%s", e && e->msg[0] ? e->msg : "fetch failed");
		rc = t->x->s[t->dst]->ops->append_end(t->w, ok, xfer_appended, it, e);
		if (rc < 0)
			why_set(it, "%s", e->msg);
		t->w = NULL;
		if (rc == 0 && ok) {
			it->sent = 1;
			if (!it->a->has_fp) {
				struct buf id = BUF_INIT(HDR_MAX), date = BUF_INIT(HDR_MAX);
				if (exec_header_fields(t->hdr.data, t->hdr.len, &id, &date) == 0) {
					store_fingerprint(id.data, date.data, t->size, it->a->idate, it->fp);
					it->has_fp = 1;
				}
				buf_release(&id);
				buf_release(&date);
			}
		} else {
			it->failed = 1;
		}
	} else {
		it->failed = 1;
	}
	if (!ok && e && e->cls == ERR_GONE)
		it->gone = 1;
	t->cur = NULL;
	return rc;
}

/* Record the outcome of one delivered copy (inside the I4 transaction). */
static int copy_commit(struct exec *x, struct boxrun *b, int dst, struct xfer_item *it,
		       struct err *e)
{
	const struct plan_action *a = it->a;
	struct journal_pair p, *old = a->pair_id ? pair_by_id(b, a->pair_id) : NULL;
	memset(&p, 0, sizeof p);
	if (old) {
		p = *old;
		if (dst == SIDE_REMOTE)
			p.rkey = it->newkey;
		else
			p.lkey = it->newkey;
	} else {
		p.box_id = b->jb.id;
		p.rkey = dst == SIDE_REMOTE ? it->newkey : a->key;
		p.lkey = dst == SIDE_LOCAL ? it->newkey : a->key;
		p.size = a->size;
		p.idate = a->idate;
	}
	p.base = a->flags;
	if (a->has_fp) {
		p.has_fp = 1;
		memcpy(p.fp, a->fp, 32);
	} else if (it->has_fp) {
		p.has_fp = 1;
		memcpy(p.fp, it->fp, 32);
	}
	/* p borrows everything; journal_pair_put copies what it keeps */
	if (jcheck(x, journal_pair_put(x->j, &p, e), e) < 0)
		return -1;
	return jcheck(x, journal_intent_clear(x->j, it->intent_id, e), e);
}

static void preopen_next(struct exec *x);
static const struct journal_box *jbox_of(const struct exec *x, int64_t id);

/* One batch of copies to `dst`: I1 intents, I2 stream, I3 flush, I4 commit;
 * with preopen, the next mailbox is selected ahead once it is fetched. */
static int copy_batch(struct exec *x, struct boxrun *b, int dst, const struct plan_action **av,
		      size_t n, int preopen, struct err *e)
{
	int src = !dst, rc = -1;
	struct xfer t;
	const char **keys = mf_reallocarray(NULL, n, sizeof *keys);
	memset(&t, 0, sizeof t);
	t.x = x;
	t.b = b;
	t.dst = dst;
	t.n = n;
	t.items = mf_calloc(n, sizeof *t.items);
	buf_init(&t.hdr, HDR_MAX);

	/* I1 */
	if (jbegin(x) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct plan_action *a = av[i];
		struct journal_intent in;
		memset(&in, 0, sizeof in);
		in.box_id = b->jb.id;
		in.op = dst == SIDE_LOCAL ? INTENT_DOWNLOAD : INTENT_UPLOAD;
		in.side = dst;
		in.rkey = src == SIDE_REMOTE ? a->key : NULL;
		in.lkey = src == SIDE_LOCAL ? a->key : NULL;
		in.pair_id = a->pair_id;
		in.uidnext = dst == SIDE_REMOTE ? b->sd[SIDE_REMOTE].st.uidnext : 0;
		in.size = a->size;
		in.idate = a->idate;
		in.has_fp = a->has_fp;
		memcpy(in.fp, a->fp, 32);
		in.data = flags_text(&a->flags);
		int r = journal_intent_add(x->j, &in, e);
		free(in.data);
		if (jcheck(x, r, e) < 0) {
			jrollback(x);
			goto out;
		}
		t.items[i].a = a;
		t.items[i].intent_id = in.id;
		keys[i] = a->key;
	}
	if (jcommit(x) < 0)
		goto out;

	/* I2 */
	struct store_sink sink = { sink_begin, sink_write, sink_end, &t };
	if (x->s[src]->ops->fetch(x->s[src], keys, n, &sink, e) < 0) {
		if (t.w) {
			struct err e2;
			x->s[dst]->ops->append_end(t.w, 0, xfer_appended, t.cur, &e2);
			t.w = NULL;
		}
		if (err_is_temporary(e))
			goto out;
		/* a permanent failure of the fetch as a whole: the items not
		 * delivered count as errors below */
		xlog(x, EXEC_LOG_ERROR, "%s: fetching from %s: %s", box_name(b, src),
		     side_name(src), e->msg);
	}
	if (preopen)
		preopen_next(x);
	/* I3 */
	if (x->s[dst]->ops->flush(x->s[dst], e) < 0) {
		err_prefix(e, "%s mailbox '%s'", side_name(dst), box_name(b, dst));
		goto out;
	}
	flushed(x);
	/* I4 */
	if (jbegin(x) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct xfer_item *it = &t.items[i];
		if (it->sent && !it->failed) {
			x->st->dir[dst].copied++;
			/* Without a new key (no UIDPLUS) the intent stays: the
			 * next run finds the message by fingerprint (I5). */
			if (it->newkey && copy_commit(x, b, dst, it, e) < 0) {
				jrollback(x);
				goto out;
			}
		} else if (it->gone) {
			/* expunged (or deleted locally) since it was listed: not an
			 * error, nothing to copy; its intent resolves next run (I5) */
			x->st->dir[dst].skipped++;
			xlog(x, EXEC_LOG_ACTION, "%s: %s message %s is gone, not copied",
			     box_name(b, dst), side_name(src), it->a->key);
		} else {
			x->st->dir[dst].errors++;
			b->errors++;
			xlog(x, EXEC_LOG_ERROR, "%s: cannot copy %s message %s: %s", box_name(b, dst),
			     side_name(src), it->a->key, it->why ? it->why : "not delivered");
		}
	}
	if (jdefer(x) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++) {
		free(t.items[i].newkey);
		free(t.items[i].why);
	}
	free(t.items);
	free(keys);
	buf_release(&t.hdr);
	return rc;
}

/* Copies of p to dst in batches; with preopen, the next mailbox is
 * selected ahead once the last batch is fetched (preopen_next). */
static int do_copies(struct exec *x, struct boxrun *b, const struct plan *p, int dst,
		     int preopen, struct err *e)
{
	unsigned maxn = x->o->batch_msgs ? x->o->batch_msgs : DEF_BATCH_MSGS;
	uint64_t maxb = x->o->batch_bytes ? x->o->batch_bytes : DEF_BATCH_BYTES;
	const struct plan_action **av = mf_reallocarray(NULL, p->n ? p->n : 1, sizeof *av);
	size_t n = 0, done = 0, total = p->counts.copy[dst];
	uint64_t bytes = 0;
	int rc = 0;
	for (size_t i = 0; i <= p->n && rc == 0; i++) {
		const struct plan_action *a = i < p->n ? &p->v[i] : NULL;
		if (a && (a->op != PLAN_COPY || (int)a->side != dst))
			continue;
		if (n && (!a || n >= maxn || bytes + a->size > maxb)) {
			rc = copy_batch(x, b, dst, av, n, preopen && !a, e);
			done += n;
			if (total > n) /* a long transfer shows how far it got */
				xlog(x, EXEC_LOG_PROGRESS, "%s: %zu of %zu copied to %s", box_name(b, dst),
				     done, total, side_name(dst));
			n = 0;
			bytes = 0;
		}
		if (a) {
			av[n++] = a;
			bytes += a->size;
		}
	}
	free(av);
	return rc;
}

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
static int do_changes(struct exec *x, struct boxrun *b, const struct plan *p, int side,
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
static int do_journal_only(struct exec *x, struct boxrun *b, const struct plan *p,
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

/* ------------------------------------------------------------ fingerprints */

/* Messages of one side whose fingerprints are wanted: indices into the
 * listing, sorted by key for the batch callback. */
struct fp_want {
	struct plan_msg *pm;
	const struct store_msg *msgs;
	size_t *idx;
	size_t n;
};

static int fp_batch_cb(void *ctx, const char *key, const char *msgid, const char *date,
		       struct err *e)
{
	const struct fp_want *w = ctx;
	(void)e;
	/* keys are decimal UIDs, idx is in listing order (ascending UID) */
	size_t lo = 0, hi = w->n;
	unsigned long k = strtoul(key, NULL, 10);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct store_msg *m = &w->msgs[w->idx[mid]];
		if (m->uid == k) {
			store_fingerprint(msgid, date, m->size, m->idate, w->pm[w->idx[mid]].fp);
			w->pm[w->idx[mid]].has_fp = 1;
			return 0;
		}
		if (m->uid < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < w->n; i++) /* not in UID order after all */
		if (!strcmp(w->msgs[w->idx[i]].key, key)) {
			const struct store_msg *m = &w->msgs[w->idx[i]];
			store_fingerprint(msgid, date, m->size, m->idate, w->pm[w->idx[i]].fp);
			w->pm[w->idx[i]].has_fp = 1;
		}
	return 0;
}

/* Fingerprints of the wanted messages: one pipelined batch on IMAP, one
 * header read per message elsewhere. A message that vanished meanwhile
 * simply gets none (it pairs by key or not at all). */
static int fps_of(struct store *st, struct fp_want *w, struct err *e)
{
	if (!w->n)
		return 0;
	if (!strcmp(st->ops->type, "imap")) {
		const char **keys = mf_reallocarray(NULL, w->n, sizeof *keys);
		for (size_t i = 0; i < w->n; i++)
			keys[i] = w->msgs[w->idx[i]].key;
		int rc = imap_store_headers_many(st, keys, w->n, fp_batch_cb, w, e);
		free(keys);
		return rc;
	}
	for (size_t i = 0; i < w->n; i++) {
		const struct store_msg *m = &w->msgs[w->idx[i]];
		if (msg_fingerprint(st, m, w->pm[w->idx[i]].fp, e) < 0) {
			if (err_is_temporary(e))
				return -1;
			continue;
		}
		w->pm[w->idx[i]].has_fp = 1;
	}
	return 0;
}

/* Fingerprints for messages that keys cannot pair: computed only when both
 * sides hold unpaired messages (or a side's keys are void), and only for
 * sizes that occur on the other side, since the size is part of the print. */
static int compute_fps(struct exec *x, struct boxrun *b, struct err *e)
{
	size_t nun[2] = { 0, 0 };
	uint64_t *sizes[2];
	int rc = -1;

	for (int s = 0; s < 2; s++) {
		const struct store_listing *ls = &b->sd[s].ls;
		sizes[s] = mf_reallocarray(NULL, ls->n + b->npairs + 1, sizeof *sizes[s]);
		for (size_t i = 0; i < ls->n; i++)
			if (b->keys_invalid[s] || !keyset_has(&b->paired[s], ls->msgs[i].key))
				sizes[s][nun[s]++] = ls->msgs[i].size;
	}
	if (!(nun[0] && nun[1]) && !b->keys_invalid[0] && !b->keys_invalid[1]) {
		rc = 0;
		goto out;
	}
	/* a side whose keys are void is matched against the journal's prints */
	for (int s = 0; s < 2; s++)
		if (b->keys_invalid[!s])
			for (size_t i = 0; i < b->npairs; i++)
				sizes[s][nun[s]++] = b->pairs[i].size;
	for (int s = 0; s < 2; s++)
		qsort(sizes[s], nun[s], sizeof *sizes[s], cmp_u64);
	for (int s = 0; s < 2; s++) {
		const struct store_listing *ls = &b->sd[s].ls;
		struct fp_want w = { b->sd[s].pm, ls->msgs, NULL, 0 };
		w.idx = mf_reallocarray(NULL, ls->n + 1, sizeof *w.idx);
		for (size_t i = 0; i < ls->n; i++) {
			const struct store_msg *m = &ls->msgs[i];
			if (!b->keys_invalid[s] && keyset_has(&b->paired[s], m->key))
				continue;
			if (!bsearch(&m->size, sizes[!s], nun[!s], sizeof *sizes[!s], cmp_u64))
				continue;
			w.idx[w.n++] = i;
		}
		int r = fps_of(x->s[s], &w, e);
		free(w.idx);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	free(sizes[0]);
	free(sizes[1]);
	return rc;
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

static int load_jbox(struct exec *x, int64_t id, struct journal_box *out, struct err *e)
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

static int marker_untrusted(const char *m);

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
	snprintf(b->jb.lmarker, sizeof b->jb.lmarker, "%s%s", need_full[SIDE_LOCAL] ? "" : l->marker,
		 !need_full[SIDE_LOCAL] && wrote && !marker_untrusted(l->marker) ? ":u" : "");
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
static void preopen_next(struct exec *x)
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

static int sync_pair_once(struct exec *x, const char *rname, const char *lname, int64_t jid,
			  struct err *e)
{
	struct boxrun b;
	struct plan p;
	int rc = -1, bulk = 0;

	memset(&b, 0, sizeof b);
	memset(&p, 0, sizeof p);
	if (jid) {
		if (load_jbox(x, jid, &b.jb, e) < 0)
			goto out;
		struct journal_box copy = b.jb;
		if (!x->o->dry_run && resolve_intents(x, &copy, e) < 0)
			goto out;
	} else {
		b.jb.rname = mf_strdup(rname);
		b.jb.lname = mf_strdup(lname);
	}
	if (open_boxes(x, &b, b.jb.complete, e) < 0)
		goto out;

	/* I6: a new pair records its identity before its first pairs */
	if (!x->o->dry_run && (b.jb.id == 0 || !b.jb.uidvalidity)) {
		b.jb.uidvalidity = b.sd[SIDE_REMOTE].st.uidvalidity;
		b.jb.l_uidvalidity = b.sd[SIDE_LOCAL].st.uidvalidity;
		snprintf(b.jb.rident, sizeof b.jb.rident, "%s", b.sd[SIDE_REMOTE].st.ident);
		snprintf(b.jb.lident, sizeof b.jb.lident, "%s", b.sd[SIDE_LOCAL].st.ident);
		if (jcheck(x, journal_box_put(x->j, &b.jb, e), e) < 0)
			goto out;
	}
	/* Keywords kept in the journal must reach the Maildir store before it
	 * lists, and they are found through the pairs: then load them all now. */
	int overflow = 0;
	if (overflow_any(x, &b, &overflow, e) < 0)
		goto out;
	if (overflow ? load_pairs(x, &b, e) < 0 || overflow_seed(x, &b, e) < 0
		     : b.jb.id && jcheck(x, journal_pair_count(x->j, b.jb.id, &b.pair_count, e),
					 e) < 0)
		goto out;
	for (int s = 0; s < 2; s++)
		b.keys_invalid[s] = keys_void(&b, s);
	/* a first sync into an empty side lists the remote a window at a time */
	int windowed = !overflow && window_candidate(x, &b);
	for (int s = windowed ? SIDE_LOCAL : 0; s < 2; s++) {
		struct store_since since;
		since_of(&b, s, &since);
		since.meta_later = s == SIDE_REMOTE; /* fill_remote_meta */
		int delta = b.jb.complete && !b.keys_invalid[0] && !b.keys_invalid[1];
		int r = s == SIDE_LOCAL && delta && !overflow && delta_local_ok(&b)
				? list_local_filtered(x, &b, &since, e)
				: list_side(x, &b, s, delta ? &since : NULL, e);
		if (r < 0)
			goto out;
	}
	int began_empty = local_empty(&b);
	if (windowed && !began_empty) {
		windowed = 0;
		if (list_side(x, &b, SIDE_REMOTE, NULL, e) < 0)
			goto out;
	}
	/* an empty folder of a pair the journal holds nothing of began from
	 * the journal's state as much as an empty delta does */
	b.local_listed = b.sd[SIDE_LOCAL].ls.full && (b.pair_count || !began_empty);
	if (windowed)
		b.sd[SIDE_REMOTE].ls.full = 1;
	if (!overflow) {
		local_to_delta(x, &b);
		choose_subset(&b);
		if (load_pairs(x, &b, e) < 0)
			goto out;
	}
	if (fill_remote_meta(x, &b, e) < 0)
		goto out;
	int sliced = windowed || sliceable(x, &b);
	/* a first sync of a big mailbox inserts its pairs all over the indexes */
	bulk = !b.pair_count && (windowed ? b.sd[SIDE_REMOTE].st.messages
					  : b.sd[SIDE_REMOTE].ls.n + b.sd[SIDE_LOCAL].ls.n) > BULK_MSGS;
	if (bulk)
		journal_bulk(x->j, 1);
	if (!sliced) {
		for (int s = 0; s < 2; s++)
			plan_msg_view(&b.sd[s], 0, b.sd[s].ls.n);
		if (compute_fps(x, &b, e) < 0)
			goto out;
	}
	if (b.keys_invalid[SIDE_REMOTE])
		xlog(x, EXEC_LOG_WARN, "%s: UIDVALIDITY changed (%u -> %u), re-pairing by content",
		     rname, b.jb.uidvalidity, b.sd[SIDE_REMOTE].st.uidvalidity);
	/* one plan, or one per slice (then p ends with their counts alone) */
	struct plan_counts total;
	int need_full[2] = { 0, 0 }, reload = 0;
	size_t nr = b.sd[SIDE_REMOTE].ls.n, from = 0;
	struct imap_window win = { 0 };
	memset(&total, 0, sizeof total);
	do {
		if (windowed) {
			int r = next_window(x, &b, &win, e);
			if (r < 0)
				goto out;
			if (r == 0)
				break;
			nr = b.sd[SIDE_REMOTE].ls.n;
			from = 0;
		}
		size_t len = sliced && nr - from > SLICE_MSGS ? SLICE_MSGS : nr - from;
		int r = plan_and_run(x, &b, rname, sliced, from, len, &p, e);
		if (r < 0)
			goto out;
		if (r > 0) { /* a dry run: printed, nothing to carry out */
			rc = 0;
			goto out;
		}
		/* copies made pairs, expunges dropped some: the tail needs them */
		reload |= has_op(&p, OP(PLAN_COPY) | OP(PLAN_EXPUNGE));
		add_counts(&total, &p.counts);
		for (int s = 0; s < 2; s++)
			need_full[s] |= p.need_full[s];
		plan_release_actions(&p);
		if (sliced) {
			drop_slice(&b.sd[SIDE_REMOTE], from, len);
			heap_trim();
		}
		from += len;
	} while (from < nr || windowed);
	drop_plan_inputs(&b);
	p.counts = total;
	for (int s = 0; s < 2; s++)
		p.need_full[s] = need_full[s];
	if ((reload && tail_needs_pairs(x, &p) && load_pairs(x, &b, e) < 0) ||
	    overflow_save(x, &b, e) < 0)
		goto out;
	if (b.errors == 0)
		learn_own_changes(x, &b, &p);
	int wrote = wrote_local(&p);
	if (b.errors == 0 && store_markers(x, &b, p.need_full, wrote, e) < 0)
		goto out;
	if (b.errors == 0 && !p.need_full[SIDE_LOCAL] && wrote && b.jb.id &&
	    is_maildir(x->s[SIDE_LOCAL]) && !x->o->dry_run) {
		x->settle = mf_reallocarray(x->settle, x->nsettle + 1, sizeof *x->settle);
		x->settle[x->nsettle++] = (struct settle){
			.id = b.jb.id, .unlisted = !b.local_listed };
	}
	rc = b.errors ? 1 : 0;
out:
	/* what a deferred transaction holds is true: keep it even on failure;
	 * after a success it stays open for the next pair (one fsync fewer per
	 * pair), and exec_sync commits whatever is left at the end */
	if (rc < 0 && x->tx_open && jcommit(x) < 0)
		rc = -1;
	if (x->jfail)
		*e = x->jerr;
	if (bulk)
		journal_bulk(x->j, 0);
	plan_free(&p);
	boxrun_free(&b);
	return rc;
}

/* One mailbox pair with I7's containment: 0 synced, 1 partly, -1 failed
 * (reported; the run goes on unless the journal or every store is gone). */
static int sync_pair(struct exec *x, const char *rname, const char *lname, int64_t jid)
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

/* ------------------------------------------------------------ mailboxes */

static int mailbox_usable(const struct store_box *b)
{
	return !(b->attrs & (BOX_NOSELECT | BOX_NONEXISTENT));
}

/* Whether a mailbox that still exists on `side` holds nothing unsynced, so
 * its deletion on the other side may be propagated. */
static int fully_synced(struct exec *x, const struct journal_box *jb, int side)
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

static int marker_untrusted(const char *m)
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

static const struct store_box *listed(const struct exec *x, int side, const char *name)
{
	for (size_t i = 0; i < x->bn[side]; i++)
		if (!strcmp(x->bv[side][i].name, name))
			return &x->bv[side][i];
	return NULL;
}

static const struct journal_box *jbox_of(const struct exec *x, int64_t id)
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
static void settle_local(struct exec *x)
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

static int run_box_action(struct exec *x, const struct plan_box_action *a)
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

static int list_shared(struct exec *x, struct store *st, struct store_box **bv, size_t *bn,
		       struct err *e)
{
	struct jbox_index ix = { .v = mf_calloc(x->jn + 1, sizeof *ix.v), .n = x->jn };
	for (size_t i = 0; i < x->jn; i++)
		ix.v[i] = &x->jv[i];
	qsort(ix.v, ix.n, sizeof *ix.v, cmp_jbox_rname);
	int rc = imap_store_list_boxes_shared(st, x->aide, status_weight, &ix, bv, bn, e);
	free(ix.v);
	return rc;
}

static int list_all(struct exec *x, struct store_box *bv[2], size_t bn[2], struct err *e)
{
	for (int s = 0; s < 2; s++) {
		for (;;) {
			struct store *st = x->s[s];
			if (s == SIDE_REMOTE && x->aide && !strcmp(st->ops->type, "imap") &&
			    list_shared(x, st, &bv[s], &bn[s], e) == 0)
				break;
			if (s == SIDE_REMOTE && x->aide) {
				close_aide(x); /* whatever failed, list the plain way */
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
static int q_child_start(void *ctx, unsigned k, struct err *e)
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
		if (!x->s[s] && x->open_fn(x->open_ctx, s, &x->s[s], e) < 0)
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
	int prc = plan_boxes(side[0], ns[0], side[1], ns[1], known, jn, &po, &pb);
	free(side[0]);
	free(side[1]);
	free(known);
	if (prc < 0) {
		err_set(e, ERR_PERM, "cannot plan the mailboxes");
		goto out;
	}
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

struct aide_open {
	exec_open_fn *fn;
	void *ctx;
	struct store *s;
};

static void *aide_run(void *arg)
{
	struct aide_open *a = arg;
	struct err e;
	if (a->fn(a->ctx, SIDE_REMOTE, &a->s, &e) < 0)
		a->s = NULL;
	else if (strcmp(a->s->ops->type, "imap") != 0) {
		a->s->ops->close(a->s);
		a->s = NULL;
	}
	return NULL;
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
	struct aide_open ao = { .fn = open_fn, .ctx = open_ctx };
	pthread_t ath;
	int athreaded = jobs_of(&x) > 1 && pthread_create(&ath, NULL, aide_run, &ao) == 0;
	int orc = open_fn(open_ctx, SIDE_REMOTE, &x.s[SIDE_REMOTE], e);
	if (athreaded) {
		pthread_join(ath, NULL);
		x.aide = ao.s; /* NULL when that login failed: no matter */
		if (orc < 0 && x.aide) {
			/* a server's connection limit may refuse either of two
			 * logins made at once: the one that got in serves */
			x.s[SIDE_REMOTE] = x.aide;
			x.aide = NULL;
			orc = 0;
		}
	}
	if (orc == 0)
		orc = open_fn(open_ctx, SIDE_LOCAL, &x.s[SIDE_LOCAL], e);
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
