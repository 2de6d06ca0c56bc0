/*
 * test_exec_jobs.c — the --jobs machinery (sync/exec_jobs.c) with fake
 * workers: every queued item is run exactly once whatever the number of
 * workers that start, in the given order with one worker; a child that is
 * refused takes nothing; a failed item, a journal failure and a dead child
 * give the outcomes the executor maps to partial / failed. Each run() call
 * appends "PID ITEM" to a log file with one O_APPEND write.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec_jobs.h"
#include "testlib.h"
#include "lib/banned.h"

#define NITEMS 40
#define DIED 1000 /* logged as DIED + item by a child about to die */
#define GAVE_UP 2000 /* logged by a child whose login saw the queue run dry */

struct fake {
	int logfd;
	int refuse;          /* child_start fails in every child */
	int hang;            /* child_start waits for cancel_fd (a login never greeted) */
	int fail_item;       /* run() returns 1 for it (-1: none) */
	int child_jfail;     /* in a child, every item fails the journal */
	int child_dies;      /* in a child, the first item kills it */
	int wait_other;      /* the parent's first item waits for a child's */
	int claim;           /* run() claims its next item ahead (twice) */
	long claimed;        /* what the last run() claimed (-1: none) */
	int claim_wrong;     /* a run() got an item other than the one claimed */
	pid_t parent;
	int jfail;
	unsigned done;       /* items run by this process */
};

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void log_item(struct fake *f, size_t i)
{
	char line[64];
	int n = snprintf(line, sizeof line, "%ld %zu\n", (long)getpid(), i);
	if (write(f->logfd, line, (size_t)n) != n)
		abort();
}

/* Has a process other than this one logged an item yet? */
static int other_logged(struct fake *f)
{
	char buf[8192];
	ssize_t n = pread(f->logfd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	long me = (long)getpid();
	for (char *p = buf; *p;) {
		if (strtol(p, NULL, 10) != me)
			return 1;
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

static int f_before(void *ctx, struct err *e)
{
	(void)ctx;
	(void)e;
	return 0;
}

static int f_start(void *ctx, unsigned k, int cancel_fd, struct err *e)
{
	struct fake *f = ctx;
	(void)k;
	f->done = 0;
	f->wait_other = 0;
	if (f->refuse)
		return err_set(e, ERR_LIMIT, "refused by the test");
	if (f->hang) { /* up to 60 s, as a read timeout would */
		struct pollfd p = { .fd = cancel_fd, .events = POLLIN };
		if (cancel_fd >= 0 && poll(&p, 1, 60000) > 0)
			log_item(f, GAVE_UP);
		return err_set(e, ERR_TEMP, "no greeting");
	}
	return 0;
}

static int f_run(void *ctx, size_t i, struct exec_jobs_queue *q)
{
	struct fake *f = ctx;
	int child = getpid() != f->parent;
	if (f->claimed >= 0 && (size_t)f->claimed != i)
		f->claim_wrong = 1;
	f->claimed = -1;
	if (f->claim) {
		size_t a, b;
		int ra = exec_jobs_claim(q, &a), rb = exec_jobs_claim(q, &b);
		if (ra != rb || (ra && a != b))
			f->claim_wrong = 1;
		if (ra)
			f->claimed = (long)a;
	}
	if (child && f->child_dies) {
		log_item(f, DIED + i);
		_exit(3);
	}
	log_item(f, i);
	f->done++;
	if (f->wait_other) {
		for (int k = 0; k < 2000 && !other_logged(f); k++)
			sleep_ms(5);
		f->wait_other = 0;
	}
	sleep_ms(2);
	if ((int)i == f->fail_item)
		return 1;
	if (child && f->child_jfail) {
		f->jfail = 1;
		return -1;
	}
	return 0;
}

static void f_end(void *ctx, struct exec_jobs_result *r)
{
	struct fake *f = ctx;
	r->st.boxes = f->done;
	if (f->claim_wrong)
		r->partial = 1;
	r->jfail = f->jfail;
	if (f->jfail)
		err_set(&r->jerr, ERR_IO, "journal failed in the test");
}

static const struct exec_jobs_ops fake_ops = {
	.before_fork = f_before,
	.after_fork = f_before,
	.child_start = f_start,
	.run = f_run,
	.child_end = f_end,
	.log = NULL,
};

struct outcome {
	int rc;
	struct exec_jobs_result r;
	unsigned count[NITEMS];  /* times each item ran */
	unsigned died[NITEMS];   /* items a child died on */
	size_t seq[NITEMS];      /* items in log order */
	size_t nseq;
	unsigned pids;           /* distinct processes that ran items */
	unsigned parent_done;
	unsigned gave_up;        /* children whose login was called off */
};

static void read_log(int fd, struct outcome *o)
{
	FILE *in = fdopen(dup(fd), "r");
	long pid, pids[64];
	size_t item;
	CHECK(in != NULL);
	while (in && fscanf(in, "%ld %zu", &pid, &item) == 2) {
		if (item >= DIED && item < DIED + NITEMS) {
			o->died[item - DIED]++;
			continue;
		}
		if (item == GAVE_UP) {
			o->gave_up++;
			continue;
		}
		CHECK(item < NITEMS);
		if (item >= NITEMS)
			continue;
		o->count[item]++;
		if (o->nseq < NITEMS)
			o->seq[o->nseq++] = item;
		unsigned k;
		for (k = 0; k < o->pids && pids[k] != pid; k++)
			;
		if (k == o->pids && o->pids < 64)
			pids[o->pids++] = pid;
	}
	if (in)
		fclose(in);
}

static void run_fake(struct fake *f, unsigned jobs, struct outcome *o)
{
	char path[] = "/tmp/mf-test-jobs.XXXXXX";
	size_t order[NITEMS];
	struct err e;
	f->logfd = mkstemp(path);
	CHECK(f->logfd >= 0);
	fcntl(f->logfd, F_SETFL, fcntl(f->logfd, F_GETFL) | O_APPEND);
	unlink(path);
	f->parent = getpid();
	f->done = 0;
	for (size_t k = 0; k < NITEMS; k++)
		order[k] = NITEMS - 1 - k; /* "largest first": reversed */
	memset(o, 0, sizeof *o);
	err_clear(&e);
	o->rc = exec_jobs_run(order, NITEMS, jobs, &fake_ops, f, &o->r, &e);
	o->parent_done = f->done;
	lseek(f->logfd, 0, SEEK_SET);
	read_log(f->logfd, o);
	close(f->logfd);
}

/* Every item ran exactly once. */
static void each_once(const struct outcome *o)
{
	for (size_t i = 0; i < NITEMS; i++)
		CHECK_INT(o->count[i], 1);
}

static struct fake fake_default(void)
{
	struct fake f;
	memset(&f, 0, sizeof f);
	f.fail_item = -1;
	f.claimed = -1;
	return f;
}

static void case_each_once(void)
{
	struct fake f = fake_default();
	struct outcome o;
	f.wait_other = 1;
	run_fake(&f, 4, &o);
	CHECK_INT(o.rc, 0);
	each_once(&o);
	CHECK(o.pids >= 2);
	CHECK_INT(o.r.partial, 0);
	CHECK_INT(o.r.jfail, 0);
	/* the children's counts come back summed; the parent's stay its own */
	CHECK_INT(o.r.st.boxes + o.parent_done, NITEMS);
}

static void case_one_job_in_order(void)
{
	struct fake f = fake_default();
	struct outcome o;
	run_fake(&f, 1, &o);
	CHECK_INT(o.rc, 0);
	CHECK_INT(o.pids, 1);
	CHECK_INT(o.nseq, NITEMS);
	for (size_t k = 0; k < o.nseq; k++)
		CHECK_INT(o.seq[k], NITEMS - 1 - k);
	CHECK_INT(o.parent_done, NITEMS);
}

/* Workers that claim their next item ahead still run each item once, the
 * one they claimed next, and one worker keeps the order. */
static void case_claim(void)
{
	struct fake f = fake_default();
	struct outcome o;
	f.claim = 1;
	f.wait_other = 1;
	run_fake(&f, 4, &o);
	CHECK_INT(o.rc, 0);
	each_once(&o);
	CHECK_INT(o.r.partial, 0);
	CHECK_INT(f.claim_wrong, 0);
	f = fake_default();
	f.claim = 1;
	run_fake(&f, 1, &o);
	CHECK_INT(o.nseq, NITEMS);
	for (size_t k = 0; k < o.nseq; k++)
		CHECK_INT(o.seq[k], NITEMS - 1 - k);
	CHECK_INT(f.claim_wrong, 0);
	CHECK_INT(f.claimed, -1); /* the last one found the queue empty */
}

/* No child took an item: the parent did them all, and the run is whole. */
static void parent_did_all(const struct outcome *o)
{
	CHECK_INT(o->rc, 0);
	each_once(o);
	CHECK_INT(o->pids, 1);
	CHECK_INT(o->parent_done, NITEMS);
	CHECK_INT(o->r.partial, 0);
}

static void case_refused(void)
{
	struct fake f = fake_default();
	struct outcome o;
	f.refuse = 1;
	run_fake(&f, 4, &o);
	parent_did_all(&o);
}

/* Children whose login hangs (a server that accepts and never greets):
 * once the parent has emptied the queue it calls their logins off, so the
 * run ends then, not at their timeout; nothing is lost or partial. */
static void case_login_hangs(void)
{
	struct fake f = fake_default();
	struct outcome o;
	f.hang = 1;
	run_fake(&f, 3, &o);
	parent_did_all(&o);
	CHECK_INT(o.gave_up, 2);
}

static void case_failed_item(void)
{
	struct fake f = fake_default();
	struct outcome o;
	f.fail_item = 7;
	run_fake(&f, 3, &o);
	CHECK_INT(o.rc, 0);
	each_once(&o);
	CHECK_INT(o.r.partial, 1);
	CHECK_INT(o.r.jfail, 0);
}

/* A child's journal failure comes back (the executor fails the run); the
 * child stops after its first item, the parent does the rest. */
static void case_journal_failure(void)
{
	struct fake f = fake_default();
	struct outcome o;
	f.child_jfail = 1;
	f.wait_other = 1;
	run_fake(&f, 2, &o);
	CHECK_INT(o.r.jfail, 1);
	CHECK(strstr(o.r.jerr.msg, "journal failed") != NULL);
	CHECK_INT(o.r.partial, 1);
	CHECK_INT(o.r.st.boxes, 1);
	each_once(&o);
}

/* A child that dies (a crash, a kill) with an item: the run is partial, the
 * item is not done, the others are. */
static void case_child_died(void)
{
	struct fake f = fake_default();
	struct outcome o;
	f.child_dies = 1;
	f.wait_other = 1; /* the child logs the item it dies with */
	run_fake(&f, 2, &o);
	CHECK_INT(o.rc, 0);
	CHECK_INT(o.r.partial, 1);
	unsigned died = 0;
	for (size_t i = 0; i < NITEMS; i++) {
		died += o.died[i];
		CHECK_INT(o.count[i] + o.died[i], 1);
	}
	CHECK_INT(died, 1);
}

int main(int argc, char **argv)
{
	static const struct test_scenario v[] = {
		{ "each-once", case_each_once },
		{ "one-job", case_one_job_in_order },
		{ "claim", case_claim },
		{ "refused", case_refused },
		{ "login-hangs", case_login_hangs },
		{ "failed-item", case_failed_item },
		{ "journal-failure", case_journal_failure },
		{ "child-died", case_child_died },
	};
	return test_run_scenarios(argc, argv, v, sizeof v / sizeof v[0]);
}
