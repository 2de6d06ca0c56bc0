/*
 * journal.h — the sync state of one channel (a remote store paired with a
 * local store), kept in one SQLite database.
 *
 * It remembers, per mailbox pair, the markers seen at the last complete sync
 * and, per message pair, the two keys and the flags both sides agreed on
 * (the base of the three-way merge), plus a content fingerprint used to
 * re-pair messages when keys become meaningless. The intent table records an
 * operation before its side effect and is cleared after it, so that a crash
 * in between can be resolved on the next run.
 *
 * Ownership: all structs returned are owned by the caller and freed with the
 * matching *_free function. Strings passed in are copied.
 * Errors: 0 / -1 with `struct err` (classes: ERR_INUSE when another process
 * holds the channel, ERR_CORRUPT for a damaged database, ERR_PERM for a
 * database from a newer mailferry, ERR_IO otherwise).
 * Transactions: every mutating call outside journal_begin/commit is its own
 * transaction. Inside begin/commit they are grouped (one fsync for the lot).
 */
#ifndef MF_JOURNAL_H
#define MF_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "store.h"

struct journal;

/* Open (creating if needed, mode 0600, WAL, foreign keys on) and lock the
 * journal at `path`, migrating an older schema forward. A second process
 * gets ERR_INUSE with a message naming the holder's pid. The lock is an
 * flock on `<path>.lock` (O_CLOEXEC): a child made by fork() without exec
 * shares it and must not use the journal. A damaged file (ERR_CORRUPT), a
 * newer schema or a foreign SQLite database (ERR_PERM), or a file that
 * group/others may write (ERR_PERM) is refused and left as it is. */
int journal_open(const char *path, struct journal **j_r, struct err *e);
/* Close and unlock; NULLs *j. */
void journal_close(struct journal **j);
/* Parallel sync (sync/exec_jobs.c). SQLite state must not cross a fork():
 * journal_suspend() closes the connection (no transaction may be open) but
 * keeps the channel lock; journal_resume() reopens it, with the workers'
 * busy timeout. A suspended journal may only be resumed or closed (a forked
 * child closes its copy: the flock stays with the parent's descriptor).
 * journal_open_worker() opens a second connection to a journal whose lock
 * another process of the same run holds: no lock, no check, no migration,
 * a long busy timeout (writers wait for each other). */
int journal_suspend(struct journal *j, struct err *e);
int journal_resume(struct journal *j, struct err *e);
int journal_open_worker(const char *path, struct journal **j_r, struct err *e);
/* A private copy of the journal at `path` (database and WAL) in a new
 * temporary directory under $TMPDIR or /tmp, for a dry run: journal_open
 * the copy's `path`, and journal_copy_remove it (files and directory) after
 * closing. On failure, whatever was made is still for journal_copy_remove. */
struct journal_copy {
	char dir[4096];
	char path[4096 + 16];
};
int journal_copy_make(const char *path, struct journal_copy *c, struct err *e);
void journal_copy_remove(struct journal_copy *c);
/* Full check (PRAGMA integrity_check and foreign_key_check); ERR_CORRUPT
 * with the first problem found. Slow on a big journal: for tests and a
 * future `check` command, not for every run (open does a quick_check). */
int journal_check(struct journal *j, struct err *e);
/* The schema version (PRAGMA user_version) this code writes. */
int journal_schema_version(void);

int journal_begin(struct journal *j, struct err *e);
int journal_commit(struct journal *j, struct err *e);
int journal_rollback(struct journal *j, struct err *e);

/* Test switch: after the n-th committed step (each commit, and each
 * auto-committed mutating call, is one step) the process exits at once with
 * status 86 without cleaning up, as a crash would. 0 turns it off.
 * Steps are counted from journal_open (migrations are not steps); the
 * switch fires when the count reaches n exactly. */
void journal_set_stop_after(struct journal *j, unsigned long n);
/* Bulk mode (on while a first sync inserts thousands of pairs at random
 * places in the indexes) gives SQLite a page cache four times bigger;
 * every other run reads each page about once and keeps it small. */
void journal_bulk(struct journal *j, int on);
unsigned long journal_steps(const struct journal *j);

/* Channel metadata (the two stores' labels, options): small key/value.
 * A missing key is not an error: *val_r is NULL. Setting NULL deletes. */
int journal_meta_get(struct journal *j, const char *key, char **val_r, struct err *e);
int journal_meta_set(struct journal *j, const char *key, const char *val, struct err *e);

/* One mailbox pair. */
struct journal_box {
	int64_t id;            /* 0 until stored */
	char *rname;           /* remote name (UTF-8, '/'-separated) */
	char *lname;           /* local name */
	char rident[64];       /* remote identity ("uv:<uidvalidity>") */
	char lident[64];       /* local identity (Maildir folder id) */
	uint32_t uidvalidity;  /* remote UIDVALIDITY at the last complete sync */
	uint32_t uidnext;      /* remote UIDNEXT at the last complete sync */
	uint64_t highestmodseq;/* remote HIGHESTMODSEQ at the last complete sync */
	char lmarker[64];      /* local scan marker at the last complete sync */
	uint32_t l_uidvalidity, l_uidnext; /* local side markers when it is IMAP */
	uint64_t l_highestmodseq;
	int complete;          /* 1 once a sync of this pair finished */
};

void journal_box_free(struct journal_box *b);
void journal_boxes_free(struct journal_box *v, size_t n);

int journal_boxes(struct journal *j, struct journal_box **v_r, size_t *n_r, struct err *e);
/* Insert (b->id == 0; sets b->id) or update by id. */
int journal_box_put(struct journal *j, struct journal_box *b, struct err *e);
/* Delete a mailbox pair with all its message pairs and intents. */
int journal_box_delete(struct journal *j, int64_t id, struct err *e);

/* One message pair. A pair may lack one key while a transfer is pending. */
struct journal_pair {
	int64_t id;            /* 0 until stored */
	int64_t box_id;
	char *rkey;            /* may be NULL */
	char *lkey;            /* may be NULL */
	struct flagset base;   /* flags both sides agreed on at the last sync */
	uint64_t size;         /* CRLF size */
	int64_t idate;
	int has_fp;
	unsigned char fp[32];
};

void journal_pair_free(struct journal_pair *p);
void journal_pairs_free(struct journal_pair *v, size_t n);

/* All pairs of a mailbox pair, ordered by id. */
int journal_pairs(struct journal *j, int64_t box_id, struct journal_pair **v_r,
		  size_t *n_r, struct err *e);
/* Pairs of a mailbox pair whose remote key (side 0) or local key (side 1)
 * is `key`, by id (normally 0 or 1 of them). */
int journal_pairs_by_key(struct journal *j, int64_t box_id, int side, const char *key,
			 struct journal_pair **v_r, size_t *n_r, struct err *e);
/* How many pairs a mailbox pair has. */
int journal_pair_count(struct journal *j, int64_t box_id, size_t *count_r, struct err *e);
/* The pairs of a mailbox pair that a delta sync can touch: those whose
 * remote key is in rkeys or whose local key is in lkeys, and those with a
 * missing key (pending transfers); ordered by id, each once. */
int journal_pairs_some(struct journal *j, int64_t box_id, const char *const *rkeys, size_t nr,
		       const char *const *lkeys, size_t nl, struct journal_pair **v_r,
		       size_t *n_r, struct err *e);
/* Insert (p->id == 0; sets p->id) or update by id. */
int journal_pair_put(struct journal *j, struct journal_pair *p, struct err *e);
int journal_pair_delete(struct journal *j, int64_t id, struct err *e);
/* Every pair of a mailbox pair in local-key order (strcmp order; pairs
 * without a local key first), streamed: fn gets the keys (NULL when
 * missing) and the base flags as stored text (flagset_format), and returns
 * 0 to go on or 1 to stop. Nothing is held in memory. Returns 0, 1 when fn
 * stopped, -1 on error. */
typedef int journal_walk_fn(void *ctx, const char *rkey, const char *lkey, const char *base);
int journal_pairs_walk(struct journal *j, int64_t box_id, journal_walk_fn *fn, void *ctx,
		       struct err *e);
/* The same walk one pair at a time, for a caller that merges it with
 * another sorted stream: next() gives 1 and the row (strings valid until
 * the next call), 0 at the end, -1 on error. No other call may use the
 * journal between open and close. */
struct journal_cursor;
int journal_cursor_open(struct journal *j, int64_t box_id, struct journal_cursor **c_r,
			struct err *e);
int journal_cursor_next(struct journal_cursor *c, const char **rkey, const char **lkey,
			const char **base, struct err *e);
void journal_cursor_close(struct journal_cursor **c);
/* Only the base flags of pair `id` (cheaper than journal_pair_put: no
 * index is rewritten). */
int journal_pair_set_base(struct journal *j, int64_t id, const struct flagset *base,
			  struct err *e);

/* Keywords that the local store could not hold (a Maildir folder takes at
 * most 26), kept per local key so that they still sync. get initialises
 * *kw_out (empty when none); set with no keywords deletes the entry. Only
 * keywords are kept (kw->sys is ignored). Deleting a pair does not touch its
 * overflow: the executor clears it with an empty set. */
int journal_kw_overflow_get(struct journal *j, int64_t box_id, const char *lkey,
			    struct flagset *kw_out, struct err *e);
int journal_kw_overflow_set(struct journal *j, int64_t box_id, const char *lkey,
			    const struct flagset *kw, struct err *e);

/* Intents: written before a side effect, cleared after it is durable. */
enum journal_intent_op {
	INTENT_DOWNLOAD = 1, /* remote rkey -> local file key lkey (tmp name known) */
	INTENT_UPLOAD = 2,   /* local lkey -> remote APPEND; uidnext = remote UIDNEXT before */
	INTENT_FLAGS = 3,    /* flag change on `side` of pair_id; data = new base */
	INTENT_EXPUNGE = 4,  /* expunge of key on `side` */
};

struct journal_intent {
	int64_t id;            /* 0 until stored */
	int64_t box_id;
	enum journal_intent_op op;
	int side;              /* 0 remote, 1 local: the side written to */
	char *rkey;            /* may be NULL */
	char *lkey;            /* may be NULL */
	int64_t pair_id;       /* 0 if none */
	uint32_t uidnext;      /* UPLOAD: remote UIDNEXT before the APPEND */
	uint64_t size;
	int64_t idate;
	int has_fp;
	unsigned char fp[32];
	char *data;            /* op-specific text (flags), may be NULL */
};

void journal_intent_free(struct journal_intent *in);
void journal_intents_free(struct journal_intent *v, size_t n);

int journal_intent_add(struct journal *j, struct journal_intent *in, struct err *e);
/* Unfinished intents, of one mailbox pair (box_id != 0) or all, by id. */
int journal_intents(struct journal *j, int64_t box_id, struct journal_intent **v_r,
		    size_t *n_r, struct err *e);
int journal_intent_clear(struct journal *j, int64_t id, struct err *e);
/* Deleting (box, pair, intent) an id that is not there is not an error;
 * updating one (put with id != 0) is ERR_NOTFOUND, and so is a pair or
 * intent whose box_id does not exist. A second box with the same rname or
 * lname is ERR_EXISTS. */

#endif
