/*
 * exec_jobs.h — `mailferry sync --jobs N`: the mailbox pairs that need a real
 * sync are shared out among N processes (the executor's process and N - 1
 * forked children), each over its own connections and journal connection.
 * The executor (exec.c) queues the pairs, then hands the queue to
 * exec_jobs_run() with callbacks that know its private state; this module
 * owns only the processes, the pipes and the summing of the results.
 *
 * Ownership: everything passed in is borrowed for the call.
 */
#ifndef MF_EXEC_JOBS_H
#define MF_EXEC_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "exec.h"
#include "lib/err.h"

/* What a worker reports when it is done (a child through a pipe). */
struct exec_jobs_result {
	int started;             /* the worker had its connections and took pairs */
	int partial;             /* some pair failed or was not synced */
	int jfail;               /* a journal write failed: the run must fail */
	struct err jerr;         /* why, with jfail */
	struct exec_stats st;    /* what the worker did (children only) */
};

/* A worker's source of queued pairs (the shared queue, then, in the
 * parent, what did not fit in it). */
struct exec_jobs_queue;

struct exec_jobs_ops {
	/* Parent, just before the forks: make the state safe to copy (commit
	 * the journal transaction, close the SQLite connection, flush stdio). */
	int (*before_fork)(void *ctx, struct err *e);
	/* Parent, after the forks: reopen what before_fork closed. */
	int (*after_fork)(void *ctx, struct err *e);
	/* Child k (1 .. jobs - 1), right after the fork: drop the parent's
	 * connections without a word on them, open its own, giving up when
	 * cancel_fd (-1: none) becomes readable: the queue ran dry meanwhile.
	 * -1: this worker takes no pair. */
	int (*child_start)(void *ctx, unsigned k, int cancel_fd, struct err *e);
	/* Sync queued pair i: 0 synced, 1 partly or failed (go on), -1 stop
	 * (the journal failed). Sets worker mode (no deferred commits) itself.
	 * May claim its next pair early from q (exec_jobs_claim). */
	int (*run)(void *ctx, size_t i, struct exec_jobs_queue *q);
	/* Parent (may be NULL): its share of the queue is done, the children
	 * may still work; called before waiting for them. */
	void (*idle)(void *ctx);
	/* Child, at the end: close its connections, fill *r (stats, jfail). */
	void (*child_end)(void *ctx, struct exec_jobs_result *r);
	/* A message for the run's log (may be NULL). */
	void (*log)(void *ctx, enum exec_level lvl, const char *msg);
};

/* Sync the n queued pairs, in the given order (order[k] is a queue index,
 * largest pairs first), with up to `jobs` workers (the caller's process
 * counts as one). With jobs < 2 or n < 2 they are synced in this process.
 * A child that cannot log in (a server's connection limit) takes nothing;
 * what it would have taken, the others take. Fills *r with the summed
 * stats of the children (the caller's own are already in its stats) and
 * the combined outcome; returns -1 only when the parent itself could not
 * go on (r->jfail set, or e says why). */
int exec_jobs_run(const size_t *order, size_t n, unsigned jobs, const struct exec_jobs_ops *ops,
		  void *ctx, struct exec_jobs_result *r, struct err *e);

/* Take this worker's next pair now, while it still works on the current
 * one (so that its mailbox can be opened ahead); the next run() call gets
 * it. 1 and *i_r set, 0 when the queue is empty (q may be NULL). Claiming
 * again before that run returns the same pair. */
int exec_jobs_claim(struct exec_jobs_queue *q, size_t *i_r);

/* Add b's counters to a's. */
void exec_jobs_stats_add(struct exec_stats *a, const struct exec_stats *b);

#endif
