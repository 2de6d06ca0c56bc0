/*
 * test_journal_crash.c — the journal across crashes. A child process writes
 * and is killed with SIGKILL (or stops itself with the stop-after switch);
 * the parent then opens the journal and checks it is consistent
 * (integrity_check, foreign keys) and holds exactly the committed work.
 * Scenario by argv[1]: kill-midtx, kill-random, stop-after.
 */
#include "jtest.h"

#include <inttypes.h>
#include <time.h>

#include "lib/banned.h"

#define PAIRS_PER_TX 50

static void child_fail(const char *what, const struct err *e)
{
	fprintf(stderr, "child: %s: %s\n", what, e->msg);
	_exit(3);
}

static int64_t put_box(struct journal *j, const char *name)
{
	struct journal_box b = { 0 };
	struct err e = { 0 };
	b.rname = b.lname = (char *)name;
	if (journal_box_put(j, &b, &e) < 0)
		child_fail("box_put", &e);
	return b.id;
}

static void put_pair(struct journal *j, int64_t box, const char *rkey)
{
	struct journal_pair p = { 0 };
	struct err e = { 0 };
	p.box_id = box;
	p.rkey = (char *)rkey;
	p.lkey = (char *)rkey;
	p.size = 4242;
	p.base.sys = MF_SEEN;
	p.has_fp = 1;
	memset(p.fp, 0x5a, sizeof p.fp);
	if (journal_pair_put(j, &p, &e) < 0)
		child_fail("pair_put", &e);
}

/* Open in the parent after a crash: the journal must open and pass the full
 * check. */
static struct journal *reopen_checked(const char *path)
{
	struct journal *j = jt_open(path);
	struct err e = { 0 };
	CHECK_INT(journal_check(j, &e), 0);
	if (e.msg[0])
		fprintf(stderr, "%s\n", e.msg);
	return j;
}

static void kill_child(pid_t pid)
{
	CHECK_INT(kill(pid, SIGKILL), 0);
	CHECK_INT(jt_exit_status(pid), 1000 + SIGKILL);
}

/* Killed after thousands of writes inside one transaction, before commit:
 * none of them may be there. */
static void scenario_kill_midtx(void)
{
	const char *path = jt_path("midtx.db");
	int up[2];
	CHECK_INT(pipe(up), 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(up[0]);
		struct journal *j = jt_open(path);
		struct err e = { 0 };
		int64_t box = put_box(j, "INBOX"); /* committed */
		put_pair(j, box, "committed");
		if (journal_begin(j, &e) < 0)
			child_fail("begin", &e);
		for (int i = 0; i < 20000; i++) { /* more than the page cache holds */
			char k[32];
			snprintf(k, sizeof k, "u%d", i);
			put_pair(j, box, k);
		}
		if (journal_meta_set(j, "uncommitted", "yes", &e) < 0)
			child_fail("meta", &e);
		if (journal_box_delete(j, box, &e) < 0 || put_box(j, "Other") <= 0)
			child_fail("delete", &e);
		if (write(up[1], "R", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(up[1]);
	char c = 0;
	CHECK_INT(jt_read_full(up[0], &c, 1), 0);
	CHECK(c == 'R');
	kill_child(pid);
	close(up[0]);

	struct journal *j = reopen_checked(path);
	struct err e = { 0 };
	struct journal_box *b;
	size_t n;
	CHECK_INT(journal_boxes(j, &b, &n, &e), 0);
	CHECK(n == 1 && strcmp(b[0].rname, "INBOX") == 0);
	int64_t box = n ? b[0].id : 0;
	journal_boxes_free(b, n);
	struct journal_pair *p;
	CHECK_INT(journal_pairs(j, box, &p, &n, &e), 0);
	CHECK(n == 1 && strcmp(p[0].rkey, "committed") == 0);
	journal_pairs_free(p, n);
	char *v = (char *)"x";
	CHECK_INT(journal_meta_get(j, "uncommitted", &v, &e), 0);
	CHECK(v == NULL);
	/* And it is writable again. */
	put_pair(j, box, "after");
	journal_close(&j);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM pair"), 2);
	return;
}

/* Child: transactions numbered from (meta "last" + 1), each PAIRS_PER_TX
 * pairs "t<n>-<k>" plus meta last = n, reporting n on the pipe after each
 * commit. Runs until killed. */
static void tx_loop(const char *path, int fd)
{
	struct journal *j = jt_open(path);
	struct err e = { 0 };
	char *last = NULL;
	if (journal_meta_get(j, "last", &last, &e) < 0)
		child_fail("meta_get", &e);
	uint32_t t = last ? (uint32_t)strtoul(last, NULL, 10) : 0;
	free(last);
	struct journal_box *b;
	size_t n;
	if (journal_boxes(j, &b, &n, &e) < 0)
		child_fail("boxes", &e);
	int64_t box = n ? b[0].id : put_box(j, "INBOX");
	journal_boxes_free(b, n);
	for (;;) {
		t++;
		if (journal_begin(j, &e) < 0)
			child_fail("begin", &e);
		for (int k = 0; k < PAIRS_PER_TX; k++) {
			char key[32];
			snprintf(key, sizeof key, "t%" PRIu32 "-%d", t, k);
			put_pair(j, box, key);
		}
		char num[16];
		snprintf(num, sizeof num, "%" PRIu32, t);
		if (journal_meta_set(j, "last", num, &e) < 0 || journal_commit(j, &e) < 0)
			child_fail("commit", &e);
		if (write(fd, &t, sizeof t) != (ssize_t)sizeof t)
			_exit(3);
	}
}

/* Every transaction 1..last is complete, none after it exists; last is at
 * least what the child reported. Returns last. */
static uint32_t verify_prefix(const char *path, uint32_t reported)
{
	struct journal *j = reopen_checked(path);
	struct err e = { 0 };
	char *v = NULL;
	CHECK_INT(journal_meta_get(j, "last", &v, &e), 0);
	uint32_t last = v ? (uint32_t)strtoul(v, NULL, 10) : 0;
	free(v);
	CHECK(last >= reported);
	struct journal_box *b;
	size_t nb;
	CHECK_INT(journal_boxes(j, &b, &nb, &e), 0);
	CHECK(nb <= 1);
	struct journal_pair *p = NULL;
	size_t n = 0;
	if (nb)
		CHECK_INT(journal_pairs(j, b[0].id, &p, &n, &e), 0);
	journal_boxes_free(b, nb);
	unsigned *per_tx = calloc(last + 2, sizeof *per_tx);
	size_t stray = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned long t = strtoul(p[i].rkey + 1, NULL, 10);
		if (t >= 1 && t <= last)
			per_tx[t]++;
		else
			stray++;
		CHECK(p[i].size == 4242 && p[i].base.sys == MF_SEEN && p[i].has_fp);
	}
	CHECK_INT(stray, 0);
	size_t bad = 0;
	for (uint32_t t = 1; t <= last; t++)
		if (per_tx[t] != PAIRS_PER_TX) {
			fprintf(stderr, "transaction %" PRIu32 ": %u pairs\n", t, per_tx[t]);
			bad++;
		}
	CHECK_INT(bad, 0);
	CHECK_INT(n, (size_t)last * PAIRS_PER_TX);
	free(per_tx);
	journal_pairs_free(p, n);
	journal_close(&j);
	return last;
}

/* Kills at random moments of a loop of committed transactions, round after
 * round on the same journal. The seed is fixed; the timing is not, and
 * the checks hold whatever moment the kill lands on. */
static void scenario_kill_random(void)
{
	const char *path = jt_path("random.db");
	unsigned seed = 20261126;
	uint32_t last = 0;
	for (int round = 0; round < 20; round++) {
		int up[2];
		CHECK_INT(pipe(up), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(up[0]);
			tx_loop(path, up[1]);
			_exit(3);
		}
		close(up[1]);
		seed = seed * 1103515245u + 12345u;
		unsigned reports = 1 + (seed >> 16) % 12;
		uint32_t t = 0;
		for (unsigned i = 0; i < reports; i++)
			if (jt_read_full(up[0], &t, sizeof t) < 0)
				break;
		seed = seed * 1103515245u + 12345u;
		struct timespec ts = { 0, (long)((seed >> 16) % 4000) * 1000 };
		nanosleep(&ts, NULL);
		kill_child(pid);
		close(up[0]);
		CHECK(t > last);
		last = verify_prefix(path, t);
		if (getenv("JT_VERBOSE"))
			fprintf(stderr, "round %d: reported %u, committed %u\n", round, t, last);
	}
	CHECK(last >= 20);
	return;
}

/* The child's fixed sequence of steps; step i leaves marker i behind. */
static void stop_after_child(const char *path, unsigned long n)
{
	struct journal *j = jt_open(path);
	struct err e = { 0 };
	journal_set_stop_after(j, n);
	if (journal_meta_set(j, "s1", "1", &e) < 0) /* step 1 */
		child_fail("s1", &e);
	if (journal_begin(j, &e) < 0) /* step 2: one transaction */
		child_fail("begin", &e);
	int64_t box = put_box(j, "INBOX");
	for (int i = 0; i < 10; i++)
		put_pair(j, box, "k");
	if (journal_meta_set(j, "s2", "1", &e) < 0 || journal_commit(j, &e) < 0)
		child_fail("s2", &e);
	if (journal_meta_set(j, "s3", "1", &e) < 0) /* step 3 */
		child_fail("s3", &e);
	struct journal_intent in = { 0 };
	in.box_id = box;
	in.op = INTENT_EXPUNGE;
	in.side = 1;
	if (journal_intent_add(j, &in, &e) < 0) /* step 4 */
		child_fail("intent", &e);
	if (journal_meta_set(j, "s5", "1", &e) < 0) /* step 5 */
		child_fail("s5", &e);
	if (journal_steps(j) != 5)
		_exit(4);
	journal_close(&j);
	_exit(0);
}

static void scenario_stop_after(void)
{
	for (unsigned long n = 0; n <= 6; n++) {
		char file[32];
		snprintf(file, sizeof file, "stop%lu.db", n);
		const char *path = jt_path(file);
		pid_t pid = fork();
		if (pid == 0)
			stop_after_child(path, n);
		int status = jt_exit_status(pid);
		/* 0 = off and 6 = beyond the last step: the child ends normally. */
		CHECK_INT(status, n >= 1 && n <= 5 ? 86 : 0);
		unsigned long done = n >= 1 && n <= 5 ? n : 5;

		struct journal *j = reopen_checked(path);
		struct err e = { 0 };
		static const char *const keys[] = { "s1", "s2", "s3", NULL, "s5" };
		for (unsigned long s = 1; s <= 5; s++) {
			if (!keys[s - 1])
				continue;
			char *v = NULL;
			CHECK_INT(journal_meta_get(j, keys[s - 1], &v, &e), 0);
			if ((v != NULL) != (s <= done))
				fprintf(stderr, "stop after %lu: marker %lu %s\n", n, s,
					v ? "present" : "missing");
			CHECK((v != NULL) == (s <= done));
			free(v);
		}
		struct journal_box *b;
		size_t nb;
		CHECK_INT(journal_boxes(j, &b, &nb, &e), 0);
		CHECK_INT(nb, done >= 2);
		if (nb) {
			struct journal_pair *p;
			size_t np;
			CHECK_INT(journal_pairs(j, b[0].id, &p, &np, &e), 0);
			CHECK_INT(np, 10);
			journal_pairs_free(p, np);
		}
		journal_boxes_free(b, nb);
		struct journal_intent *in;
		size_t ni;
		CHECK_INT(journal_intents(j, 0, &in, &ni, &e), 0);
		CHECK_INT(ni, done >= 4);
		journal_intents_free(in, ni);
		journal_close(&j);
	}
	return;
}

int main(int argc, char **argv)
{
	static const struct test_scenario scenarios[] = {
		{ "kill-midtx", scenario_kill_midtx },
		{ "kill-random", scenario_kill_random },
		{ "stop-after", scenario_stop_after },
	};
	jt_mkdir("journal-crash");
	int r = test_run_scenarios(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0]);
	jt_cleanup();
	return r;
}
