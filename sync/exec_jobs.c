/*
 * exec_jobs.c — several mailbox pairs synced at once, one process per worker
 * (see exec_jobs.h). Owns the forked children, the work queue and the
 * result pipe; the executor's state is reached only through the callbacks.
 *
 * Design
 *  - Processes, not threads: the stores and the journal handle are not
 *    thread-safe, and most of a big sync is kernel time writing files,
 *    which another process overlaps as well as a thread would.
 *  - The queue is a pipe of 4-byte records (queue indices, largest pair
 *    first), all written and the write end closed BEFORE the forks: a read
 *    of 4 bytes (< PIPE_BUF) is atomic, so each pair goes to exactly one
 *    worker, and a read of 0 (EOF) means the queue is empty. What does not
 *    fit in the pipe (thousands of pairs) the parent syncs after the queue.
 *  - A worker may take its next pair while it still works on the current
 *    one (exec_jobs_claim): the executor then has the server open that
 *    mailbox while it finishes local work. A claimed pair is that worker's.
 *  - A child that cannot log in (say the server's connection limit) takes
 *    nothing from the queue and reports so; the parent works the queue too,
 *    so every pair is synced whatever the number of children that started.
 *    A child still logging in when the parent has found the queue empty is
 *    of no more use: the parent closes the "ran dry" pipe, which the
 *    child's login watches, so a server that accepts a connection and never
 *    greets it costs no read timeout (120 s) at the end of the run.
 *  - Children die with the parent (PR_SET_PDEATHSIG, SIGKILL, with a
 *    getppid() check for a parent that died before the prctl). Each pair
 *    keeps the executor's crash invariants (I1-I7), so a killed run
 *    converges on the next one like a sequential run.
 *  - Each child ends with one write of its fixed-size result (< PIPE_BUF:
 *    atomic) to a shared pipe and _exit(): no atexit handlers, no stdio
 *    buffers flushed twice, none of the parent's state torn down. A child
 *    that died without a result (killed, crashed) makes the run partial.
 */
#include "exec_jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/banned.h"

_Static_assert(sizeof(struct exec_jobs_result) <= PIPE_BUF,
	       "a worker's result must be written atomically");

static void jlog(const struct exec_jobs_ops *ops, void *ctx, enum exec_level lvl,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void jlog(const struct exec_jobs_ops *ops, void *ctx, enum exec_level lvl,
		 const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	if (!ops->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ops->log(ctx, lvl, msg);
}

void exec_jobs_stats_add(struct exec_stats *a, const struct exec_stats *b)
{
	for (int d = 0; d < 2; d++) {
		struct exec_dir_stats *x = &a->dir[d];
		const struct exec_dir_stats *y = &b->dir[d];
		x->copied += y->copied;
		x->flags += y->flags;
		x->marked_deleted += y->marked_deleted;
		x->expunged += y->expunged;
		x->skipped += y->skipped;
		x->errors += y->errors;
		x->bytes += y->bytes;
		x->boxes_created += y->boxes_created;
		x->boxes_deleted += y->boxes_deleted;
	}
	a->boxes += b->boxes;
	a->boxes_failed += b->boxes_failed;
	a->boxes_renamed += b->boxes_renamed;
	a->repaired += b->repaired;
	a->recovered += b->recovered;
	a->reconnects += b->reconnects;
}

struct exec_jobs_queue {
	int fd;             /* the shared queue pipe; -1 when none or empty */
	const size_t *rest; /* then these, in order (the parent's overflow) */
	size_t nrest;
	int have;           /* a pair claimed ahead (exec_jobs_claim) */
	size_t next;
};

static int q_take(struct exec_jobs_queue *q, size_t *i_r)
{
	if (q->have) {
		q->have = 0;
		*i_r = q->next;
		return 1;
	}
	while (q->fd >= 0) {
		uint32_t i;
		ssize_t got = read(q->fd, &i, sizeof i);
		if (got < 0 && errno == EINTR)
			continue;
		if (got == (ssize_t)sizeof i) {
			*i_r = i;
			return 1;
		}
		q->fd = -1; /* EOF: empty (a short read cannot happen, see Design) */
	}
	if (!q->nrest)
		return 0;
	*i_r = *q->rest++;
	q->nrest--;
	return 1;
}

int exec_jobs_claim(struct exec_jobs_queue *q, size_t *i_r)
{
	if (!q || (!q->have && !q_take(q, &q->next)))
		return 0;
	q->have = 1;
	*i_r = q->next;
	return 1;
}

/* Run queued pairs until the queue is empty (0) or a pair says stop (-1). */
static int drain(struct exec_jobs_queue *q, const struct exec_jobs_ops *ops, void *ctx,
		 struct exec_jobs_result *r)
{
	size_t i;
	while (q_take(q, &i)) {
		int rc = ops->run(ctx, i, q);
		if (rc > 0)
			r->partial = 1;
		if (rc < 0) {
			r->partial = 1;
			return -1;
		}
	}
	return 0;
}

/* Has the parent closed the "ran dry" pipe (see Design)? */
static int ran_dry(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return fd >= 0 && poll(&p, 1, 0) > 0;
}

static void child(unsigned k, int qfd, int resfd, int dryfd, pid_t parent,
		  const struct exec_jobs_ops *ops, void *ctx) __attribute__((noreturn));

static void child(unsigned k, int qfd, int resfd, int dryfd, pid_t parent,
		  const struct exec_jobs_ops *ops, void *ctx)
{
	struct exec_jobs_result r;
	struct err e;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(0);
	memset(&r, 0, sizeof r);
	err_clear(&e);
	if (ops->child_start(ctx, k, dryfd, &e) < 0) {
		if (ran_dry(dryfd))
			jlog(ops, ctx, EXEC_LOG_TRACE, "worker %ld: login given up, no "
			     "mailbox left for it: %s", (long)getpid(), e.msg);
		else
			jlog(ops, ctx, EXEC_LOG_WARN, "worker %ld: %s (the other workers "
			     "take its mailboxes)", (long)getpid(), e.msg);
	} else {
		r.started = 1;
		struct exec_jobs_queue q = { .fd = qfd };
		drain(&q, ops, ctx, &r);
	}
	ops->child_end(ctx, &r);
	ssize_t w;
	do
		w = write(resfd, &r, sizeof r);
	while (w < 0 && errno == EINTR);
	_exit(0);
}

/* Queue what fits in the pipe; returns how many records went in. */
static size_t fill_queue(int wfd, const size_t *order, size_t n)
{
	size_t k;
	if (n * sizeof(uint32_t) > 65536)
		(void)fcntl(wfd, F_SETPIPE_SZ, (int)(n * sizeof(uint32_t) < (1u << 20) ?
						     n * sizeof(uint32_t) : (1u << 20)));
	if (fcntl(wfd, F_SETFL, O_NONBLOCK) < 0)
		return 0;
	for (k = 0; k < n; k++) {
		uint32_t v = (uint32_t)order[k];
		if (order[k] > UINT32_MAX || write(wfd, &v, sizeof v) != (ssize_t)sizeof v)
			break;
	}
	return k;
}

/* Read every child's result and reap every child. */
static void collect(int resfd, const pid_t *kids, size_t nk, const struct exec_jobs_ops *ops,
		    void *ctx, struct exec_jobs_result *r)
{
	struct exec_jobs_result c;
	size_t got = 0, started = 0;
	for (;;) {
		ssize_t n = read(resfd, &c, sizeof c);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof c)
			break;
		got++;
		started += c.started != 0;
		exec_jobs_stats_add(&r->st, &c.st);
		if (c.partial)
			r->partial = 1;
		if (c.jfail && !r->jfail) {
			r->jfail = 1;
			r->jerr = c.jerr;
		}
	}
	for (size_t k = 0; k < nk; k++) {
		int status = 0;
		pid_t w;
		while ((w = waitpid(kids[k], &status, 0)) < 0 && errno == EINTR)
			;
		if (w < 0)
			continue; /* reaped elsewhere (SIGCHLD ignored): its result says enough */
		if (WIFSIGNALED(status))
			jlog(ops, ctx, EXEC_LOG_ERROR, "worker %ld killed by signal %d",
			     (long)kids[k], WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			jlog(ops, ctx, EXEC_LOG_ERROR, "worker %ld exited with status %d",
			     (long)kids[k], WEXITSTATUS(status));
	}
	if (got < nk)
		r->partial = 1; /* a worker died: the pairs it held are not synced */
	jlog(ops, ctx, EXEC_LOG_TRACE, "%zu of %zu extra workers connected", started, nk);
}

static int run_here(const size_t *order, size_t n, const struct exec_jobs_ops *ops, void *ctx,
		    struct exec_jobs_result *r)
{
	struct exec_jobs_queue q = { .fd = -1, .rest = order, .nrest = n };
	return drain(&q, ops, ctx, r);
}

int exec_jobs_run(const size_t *order, size_t n, unsigned jobs, const struct exec_jobs_ops *ops,
		  void *ctx, struct exec_jobs_result *r, struct err *e)
{
	int q[2], res[2], dry[2] = { -1, -1 };

	memset(r, 0, sizeof *r);
	r->started = 1;
	if (jobs > n)
		jobs = (unsigned)n;
	if (jobs < 2)
		return run_here(order, n, ops, ctx, r);
	if (pipe2(q, O_CLOEXEC) < 0)
		return run_here(order, n, ops, ctx, r);
	if (pipe2(res, O_CLOEXEC) < 0) {
		close(q[0]);
		close(q[1]);
		return run_here(order, n, ops, ctx, r);
	}
	size_t queued = fill_queue(q[1], order, n);
	close(q[1]);
	if (ops->before_fork(ctx, e) < 0) {
		close(q[0]);
		close(res[0]);
		close(res[1]);
		return -1;
	}
	if (pipe2(dry, O_CLOEXEC) < 0)
		dry[0] = dry[1] = -1; /* children then log in to the end */
	fflush(NULL); /* no buffered output may be written twice */
	pid_t parent = getpid();
	pid_t *kids = mf_calloc(jobs, sizeof *kids);
	size_t nk = 0;
	for (unsigned k = 1; k < jobs && queued > 0; k++) {
		pid_t pid = fork();
		if (pid < 0) {
			jlog(ops, ctx, EXEC_LOG_WARN, "cannot start a worker: %s", strerror(errno));
			break;
		}
		if (pid == 0) {
			close(res[0]);
			if (dry[1] >= 0)
				close(dry[1]);
			child(k, q[0], res[1], dry[0], parent, ops, ctx);
		}
		kids[nk++] = pid;
	}
	close(res[1]);
	if (dry[0] >= 0)
		close(dry[0]);
	int rc = 0;
	if (ops->after_fork(ctx, e) < 0) {
		/* the children still work the queue; this process cannot */
		rc = -1;
		r->partial = 1;
	} else {
		struct exec_jobs_queue mine = { .fd = q[0], .rest = order + queued,
						.nrest = n - queued };
		if (drain(&mine, ops, ctx, r) < 0) {
			rc = -1;
		} else {
			if (dry[1] >= 0) /* the queue is empty: a login still going is not needed */
				close(dry[1]);
			dry[1] = -1;
			if (ops->idle)
				ops->idle(ctx);
		}
	}
	close(q[0]);
	collect(res[0], kids, nk, ops, ctx, r);
	close(res[0]);
	if (dry[1] >= 0) /* the queue may have held pairs: children were not called off */
		close(dry[1]);
	free(kids);
	return rc;
}
