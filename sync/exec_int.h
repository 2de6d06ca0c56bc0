/*
 * exec_int.h — what the executor's source files share: the run's state
 * (struct exec), a mailbox pair's state (struct boxrun) and the functions
 * one file of the executor calls in another. Not a public interface: the
 * executor's callers see exec.h only. Which file owns what is in each
 * file's opening comment; the durability invariants I1-I7 every side
 * effect obeys are at the top of exec.c.
 */
#ifndef MF_EXEC_INT_H
#define MF_EXEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "plan.h"
#include "store.h"
#include "journal/journal.h"
#include "lib/buf.h"
#include "lib/err.h"

struct exec_jobs_queue;

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
	/* --jobs: a second login to the remote account, made once the first
	 * one is in; it shares the mailbox STATUS work when it is in time,
	 * then becomes the first forked worker's remote connection (NULL when
	 * none) */
	struct store *aide;
	struct aide_open *aide_pending; /* the aide still logging in (its thread runs) */
	const char *jpath;      /* the journal, for a worker's own connection */
	/* local folders this process wrote to, whose stored marker is the
	 * pre-write one: settled (checked, new marker stored) at the end */
	struct settle *settle;
	size_t nsettle;
};

/* The aide's login, still going at the start (exec.c): aide_poll takes it
 * into x->aide if it has ended, without waiting (1 when x->aide is set);
 * aide_settle ends the wait, giving it AIDE_GRACE_MS when `want`, else
 * calling it off. */
void aide_settle(struct exec *x, int want);
int aide_poll(struct exec *x);

/* Sorted view of keys, for "is this key paired" questions. */
struct keyset {
	const char **v;
	size_t n;
};

struct side_state {
	int exists;
	struct store_box_state st;
	struct store_listing ls;
	struct plan_msg *pm;      /* plan view of ls.msgs */
	size_t npm;
	int pm_owns;              /* pm holds the listed keys and flags (ls.msgs is gone) */
};

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

/* ---- exec.c: the run, its log, journal transactions and stores */
char *flags_text(const struct flagset *f);
void flushed(struct exec *x);
int jbegin(struct exec *x);
int jcheck(struct exec *x, int rc, const struct err *e);
int jcommit(struct exec *x);
int jdefer(struct exec *x);
void jrollback(struct exec *x);
int reconnect(struct exec *x, struct err *e);
const char *side_name(int side);
void sleep_ms(unsigned ms);
void xlog(struct exec *x, enum exec_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- exec_boxes.c: mailbox-level actions and the "unchanged since the last sync" tests */
int fully_synced(struct exec *x, const struct journal_box *jb, int side);
const struct journal_box *jbox_of(const struct exec *x, int64_t id);
const struct store_box *listed(const struct exec *x, int side, const char *name);
int mailbox_usable(const struct store_box *b);
int marker_untrusted(const char *m);
int run_box_action(struct exec *x, const struct plan_box_action *a);
void settle_local(struct exec *x);

/* ---- exec_pair.c: one mailbox pair, listed, planned and run */
const char *box_name(const struct boxrun *b, int side);
void boxrun_free(struct boxrun *b);
int is_maildir(const struct store *s);
int keyset_has(const struct keyset *k, const char *key);
int lf_close(struct lfilter *f, struct store_listing *ls);
int lf_open(struct exec *x, int64_t box_id, int strict, struct lfilter *f);
int lf_unchanged(void *ctx, const char *key, const struct flagset *flags);
int list_side(struct exec *x, struct boxrun *b, int s, const struct store_since *since,
	      struct err *e);
int load_jbox(struct exec *x, int64_t id, struct journal_box *out, struct err *e);
int load_pairs(struct exec *x, struct boxrun *b, struct err *e);
int open_boxes(struct exec *x, struct boxrun *b, int with_since, struct err *e);
struct journal_pair *pair_by_id(struct boxrun *b, int64_t id);
struct journal_pair *pair_of(struct boxrun *b, const struct plan_action *a);
void preopen_next(struct exec *x);
int sync_pair(struct exec *x, const char *rname, const char *lname, int64_t jid);

/* ---- exec_copy.c: copies (I1-I4), unfinished intents (I5), fingerprints */
int compute_fps(struct exec *x, struct boxrun *b, struct err *e);
int do_copies(struct exec *x, struct boxrun *b, const struct plan *p, int dst,
	      int preopen, struct err *e);
int resolve_intents(struct exec *x, const struct journal_box *jb, struct err *e);

/* ---- exec_change.c: flag changes, deletion marks, expunges, journal-only steps */
int do_changes(struct exec *x, struct boxrun *b, const struct plan *p, int side,
	       enum plan_op op, struct err *e);
int do_journal_only(struct exec *x, struct boxrun *b, const struct plan *p,
		    struct err *e);

#endif
