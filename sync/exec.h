/*
 * exec.h — the executor: runs one two-way sync of a channel (a remote store
 * paired with a local store) against its journal. It resolves what a crashed
 * run left unfinished, asks the planner what to do per mailbox pair, does
 * it with the durability order described at the top of exec.c, and counts
 * what happened.
 *
 * The executor opens stores through a caller-supplied function (so it can
 * reconnect after a dropped connection) and never prints: every message goes
 * through the log callback, the caller decides where it lands.
 *
 * Ownership: the executor owns the stores it opened and closes them before
 * exec_sync() returns. Everything passed in is borrowed for the call.
 */
#ifndef MF_EXEC_H
#define MF_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "plan.h"
#include "store.h"

/* Open the store of one side (SIDE_REMOTE / SIDE_LOCAL). Called once at the
 * start and again to reconnect after an ERR_TEMP. cancel_fd is -1, or an fd
 * whose becoming readable (or hung up) means the connection is no longer
 * wanted: a network open gives up then (ERR_TEMP) rather than wait out its
 * timeouts (imap_io_opts.cancel_fd). */
typedef int exec_open_fn(void *ctx, enum plan_side side, int cancel_fd, struct store **s_r,
			 struct err *e);

enum exec_level {
	EXEC_LOG_ERROR = 0,  /* a message, mailbox or the run failed */
	EXEC_LOG_WARN,       /* something worth telling under cron too */
	EXEC_LOG_PLAN,       /* --dry-run: the plan (always shown) */
	EXEC_LOG_PROGRESS,   /* per mailbox, what is being done */
	EXEC_LOG_ACTION,     /* each action (-v) */
	EXEC_LOG_TRACE,      /* details (-vv) */
};

typedef void exec_log_fn(void *ctx, enum exec_level level, const char *msg);

/* The --jobs default of `mailferry sync`: measured on 2 cores (10k messages,
 * 8 folders, initial sync), 2 workers take most of the gain of 3 or 4 with
 * half the logins; well under Dovecot's 10 connections per user and IP. */
#define MF_SYNC_JOBS 2

struct exec_opts {
	struct plan_opts plan;      /* direction, expunge, creation, filters */
	int dry_run;                /* plan only: no store or journal is written */
	int verbose;                /* plan detail for --dry-run */
	unsigned long stop_after;   /* test switch: journal_set_stop_after() */
	uint64_t kill_after_bytes;  /* test switch: SIGKILL self after this many message bytes */
	unsigned long crash_after_flush; /* test switch: exit 86 right after the n-th store
					  * flush, before its journal commit (the window
					  * start-up recovery exists for) */
	unsigned max_reconnects;    /* per run; 0 means the default (3) */
	unsigned backoff_ms;        /* first reconnect delay, doubled each time; 0 = 500 */
	unsigned jobs;              /* mailbox pairs synced at once, each worker over its
				     * own connections (exec_jobs.c); 0 or 1: one at a
				     * time (`mailferry sync` defaults to MF_SYNC_JOBS) */
	unsigned batch_msgs;        /* copies per group commit; 0 = 500 */
	uint64_t batch_bytes;       /* bytes per group commit; 0 = 64 MiB */
	exec_log_fn *log;           /* may be NULL */
	void *log_ctx;
};

/* Per direction, indexed by the side written to: [SIDE_LOCAL] is
 * remote -> local (pull), [SIDE_REMOTE] is local -> remote (push). */
struct exec_dir_stats {
	uint64_t copied;
	uint64_t flags;
	uint64_t marked_deleted;
	uint64_t expunged;
	uint64_t skipped;
	uint64_t errors;
	uint64_t bytes;
	uint64_t boxes_created;
	uint64_t boxes_deleted;
};

struct exec_stats {
	struct exec_dir_stats dir[2];
	uint64_t boxes;             /* mailbox pairs looked at */
	uint64_t boxes_failed;      /* could not be synced this time */
	uint64_t boxes_renamed;
	uint64_t repaired;          /* pairs found by fingerprint (no transfer) */
	uint64_t recovered;         /* unfinished intents resolved at start-up */
	uint64_t reconnects;
	double seconds;
};

enum exec_result {
	EXEC_OK = 0,      /* everything synced */
	EXEC_PARTIAL = 1, /* some of it failed; a rerun retries */
	EXEC_FAILED = 2,  /* nothing could be synced (connection, auth, journal) */
};

/* One sync of the channel whose journal is at `journal_path`. Returns an
 * enum exec_result; with EXEC_FAILED `e` says why. `st` is filled in every
 * case. */
int exec_sync(const char *journal_path, exec_open_fn *open_fn, void *open_ctx,
	      const struct exec_opts *o, struct exec_stats *st, struct err *e);

/* The Message-ID and Date fields of a header block (CRLF or LF), unfolded,
 * as the fingerprint wants them; absent fields come back empty. Exposed for
 * tests. */
int exec_header_fields(const char *hdr, size_t n, struct buf *msgid, struct buf *date);

#endif
