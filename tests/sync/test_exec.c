/*
 * test_exec.c — the executor (sync/exec.c) with a Maildir on both sides:
 * initial copy, a second run that does nothing, changes on both sides,
 * and the crash test (stop after every journal step in turn, resume, and
 * compare with an uninterrupted run: same messages, same flags, no loss,
 * no duplicate). Run as `test-exec CASE`; each case is a meson test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "maildir/maildir_store.h"
#include "testlib.h"
#include "lib/banned.h"

struct chan {
	char root[2][512]; /* [SIDE_REMOTE], [SIDE_LOCAL] */
	char journal[512];
};

static int open_md(void *ctx, enum plan_side side, int cancel_fd, struct store **s_r,
		   struct err *e)
{
	(void)cancel_fd; /* no network here */
	struct chan *c = ctx;
	struct maildir_opts o;
	memset(&o, 0, sizeof o);
	o.create = 1;
	o.delete_nonempty = 1;
	o.fsync_off = 1; /* tests: durability is not what is measured here */
	return maildir_store_open(c->root[side], &o, s_r, e);
}

static void rm_rf(const char *path)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", path);
}

static void chan_init(struct chan *c, const char *base, const char *tag)
{
	snprintf(c->root[0], sizeof c->root[0], "%s/%s-remote", base, tag);
	snprintf(c->root[1], sizeof c->root[1], "%s/%s-local", base, tag);
	snprintf(c->journal, sizeof c->journal, "%s/%s.db", base, tag);
}

static struct store *md(const struct chan *c, int side)
{
	struct store *s = NULL;
	struct err e;
	if (open_md((void *)c, side, -1, &s, &e) < 0) {
		fprintf(stderr, "open: %s\n", e.msg);
		exit(1);
	}
	return s;
}

/* Deliver one message with Message-ID <id@test> into box of a side. */
static void put(const struct chan *c, int side, const char *box, const char *id, unsigned flags,
		const char *kw)
{
	struct store *s = md(c, side);
	struct err e;
	struct store_box_state st;
	char msg[1024];
	int n = snprintf(msg, sizeof msg,
			 "From: a@test\r\nTo: b@test\r\nSubject: %s\r\nDate: Mon, 2 Jan 2023 10:00:00 "
			 "+0000\r\nMessage-ID: <%s@test>\r\n\r\nBody of %s.\r\n", id, id, id);
	s->ops->create_box(s, box, &e);
	CHECK(s->ops->open_box(s, box, 0, &st, &e) == 0);
	struct flagset f;
	flagset_init(&f);
	f.sys = flags;
	if (kw)
		flagset_add_kw(&f, kw);
	struct store_writer *w = NULL;
	CHECK(s->ops->append_begin(s, &f, 1672653600, (uint64_t)n, &w, &e) == 0);
	CHECK(s->ops->append_write(w, msg, (size_t)n, &e) == 0);
	CHECK(s->ops->append_end(w, 1, NULL, NULL, &e) == 0);
	CHECK(s->ops->flush(s, &e) == 0);
	flagset_free(&f);
	s->ops->close(s);
}

/* Find the key of <id@test> in box; "" if absent. */
static void key_of(struct store *s, const char *id, char *key, size_t keysz)
{
	struct store_listing l;
	struct err e;
	char want[256];
	snprintf(want, sizeof want, "<%s@test>", id);
	key[0] = '\0';
	memset(&l, 0, sizeof l);
	if (s->ops->list_msgs(s, NULL, &l, &e) < 0)
		return;
	for (size_t i = 0; i < l.n; i++) {
		struct buf mid = BUF_INIT(4096), date = BUF_INIT(4096);
		if (s->ops->headers(s, l.msgs[i].key, &mid, &date, &e) == 0 && strstr(mid.data, want))
			snprintf(key, keysz, "%s", l.msgs[i].key);
		buf_release(&mid);
		buf_release(&date);
	}
	store_listing_free(&l);
}

static void change(const struct chan *c, int side, const char *box, const char *id, unsigned add,
		   unsigned del, int expunge)
{
	struct store *s = md(c, side);
	struct err e;
	struct store_box_state st;
	char key[256];
	CHECK(s->ops->open_box(s, box, 0, &st, &e) == 0);
	key_of(s, id, key, sizeof key);
	CHECK(key[0] != '\0');
	const char *keys[1] = { key };
	if (expunge) {
		CHECK(s->ops->expunge(s, keys, 1, &e) == 0);
	} else {
		struct flagset a, d;
		flagset_init(&a);
		flagset_init(&d);
		a.sys = add;
		d.sys = del;
		CHECK(s->ops->set_flags(s, keys, 1, &a, &d, &e) == 0);
	}
	CHECK(s->ops->flush(s, &e) == 0);
	s->ops->close(s);
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "box <msgid> flags" for every message of a side, sorted, one per line. */
static void dump(const struct chan *c, int side, struct buf *out)
{
	struct store *s = md(c, side);
	struct err e;
	struct store_box *bv = NULL;
	size_t bn = 0;
	char **lines = NULL;
	size_t nl = 0;
	CHECK(s->ops->list_boxes(s, &bv, &bn, &e) == 0);
	for (size_t b = 0; b < bn; b++) {
		struct store_box_state st;
		struct store_listing l;
		memset(&l, 0, sizeof l);
		if (s->ops->open_box(s, bv[b].name, 1, &st, &e) < 0 ||
		    s->ops->list_msgs(s, NULL, &l, &e) < 0)
			continue;
		for (size_t i = 0; i < l.n; i++) {
			struct buf mid = BUF_INIT(4096), date = BUF_INIT(4096), line = BUF_INIT(8192);
			s->ops->headers(s, l.msgs[i].key, &mid, &date, &e);
			buf_addf(&line, "%s %s ", bv[b].name, mid.data);
			flagset_format(&l.msgs[i].flags, &line);
			lines = mf_reallocarray(lines, nl + 1, sizeof *lines);
			lines[nl++] = buf_detach(&line, NULL);
			buf_release(&mid);
			buf_release(&date);
		}
		store_listing_free(&l);
	}
	qsort(lines, nl, sizeof *lines, cmp_line);
	for (size_t i = 0; i < nl; i++) {
		buf_addf(out, "%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	store_boxes_free(bv, bn);
	s->ops->close(s);
}

static void capture_log(void *ctx, enum exec_level lvl, const char *msg)
{
	(void)ctx;
	if (lvl <= EXEC_LOG_WARN || getenv("TEST_VERBOSE"))
		fprintf(stderr, "  [exec %d] %s\n", (int)lvl, msg);
}

static void opts_default(struct exec_opts *o)
{
	memset(o, 0, sizeof *o);
	o->plan.push = o->plan.pull = 1;
	o->plan.create_remote = o->plan.create_local = 1;
	o->plan.remove_remote = o->plan.remove_local = 1;
	o->plan.now = 1700000000;
	o->log = capture_log;
	o->batch_msgs = 3; /* small batches: more journal steps to interrupt */
}

static int sync_once(struct chan *c, const struct exec_opts *o, struct exec_stats *st)
{
	struct err e;
	int rc = exec_sync(c->journal, open_md, c, o, st, &e);
	if (rc == EXEC_FAILED)
		fprintf(stderr, "sync failed: %s\n", e.msg);
	return rc;
}

static void check_same(struct chan *c, const char *what)
{
	struct buf a = BUF_INIT(1 << 20), b = BUF_INIT(1 << 20);
	dump(c, 0, &a);
	dump(c, 1, &b);
	if (strcmp(a.data, b.data) != 0)
		fprintf(stderr, "%s: sides differ\n--- remote\n%s--- local\n%s", what, a.data, b.data);
	CHECK(strcmp(a.data, b.data) == 0);
	buf_release(&a);
	buf_release(&b);
}

static uint64_t total_copied(const struct exec_stats *st)
{
	return st->dir[0].copied + st->dir[1].copied;
}

/* Traffic in both directions, two mailboxes, flags and a keyword. */
static void seed(struct chan *c)
{
	put(c, SIDE_REMOTE, "INBOX", "r1", 0, NULL);
	put(c, SIDE_REMOTE, "INBOX", "r2", MF_SEEN, NULL);
	put(c, SIDE_REMOTE, "INBOX", "r3", MF_SEEN | MF_FLAGGED, "$Forwarded");
	put(c, SIDE_REMOTE, "Work", "r4", MF_ANSWERED, NULL);
	put(c, SIDE_REMOTE, "Work", "r5", 0, "work");
	put(c, SIDE_LOCAL, "INBOX", "l1", MF_SEEN, NULL);
	put(c, SIDE_LOCAL, "INBOX", "l2", 0, NULL);
	put(c, SIDE_LOCAL, "Local/Sub", "l3", MF_DRAFT, NULL);
}

static void case_initial(const char *base)
{
	struct chan c;
	struct exec_opts o;
	struct exec_stats st;
	chan_init(&c, base, "initial");
	seed(&c);
	opts_default(&o);
	CHECK_INT(sync_once(&c, &o, &st), EXEC_OK);
	CHECK_INT(st.dir[SIDE_LOCAL].copied, 5);
	CHECK_INT(st.dir[SIDE_REMOTE].copied, 3);
	check_same(&c, "initial");
	/* a second run changes nothing */
	CHECK_INT(sync_once(&c, &o, &st), EXEC_OK);
	CHECK_INT(total_copied(&st), 0);
	CHECK_INT(st.dir[0].flags + st.dir[1].flags, 0);
	check_same(&c, "initial, second run");
}

/* After a sync of seed(): new mail, flag changes and expunges on both sides. */
static void both_change(struct chan *c)
{
	put(c, SIDE_REMOTE, "INBOX", "r6", 0, NULL);
	put(c, SIDE_LOCAL, "Work", "l7", MF_FLAGGED, NULL);
	change(c, SIDE_REMOTE, "INBOX", "r1", MF_SEEN, 0, 0);
	change(c, SIDE_LOCAL, "INBOX", "r2", MF_FLAGGED, MF_SEEN, 0);
	change(c, SIDE_LOCAL, "Work", "r4", 0, 0, 1);    /* local expunge */
	change(c, SIDE_REMOTE, "INBOX", "l2", 0, 0, 1);  /* remote expunge */
}

static void case_changes(const char *base)
{
	struct chan c;
	struct exec_opts o;
	struct exec_stats st;
	chan_init(&c, base, "changes");
	seed(&c);
	opts_default(&o);
	CHECK_INT(sync_once(&c, &o, &st), EXEC_OK);
	both_change(&c);
	CHECK(sync_once(&c, &o, &st) == EXEC_OK);
	CHECK_INT(st.dir[SIDE_LOCAL].copied, 1);
	CHECK_INT(st.dir[SIDE_REMOTE].copied, 1);
	CHECK_INT(st.dir[SIDE_LOCAL].expunged, 1);
	CHECK_INT(st.dir[SIDE_REMOTE].marked_deleted, 1);
	/* the remote copy of r4 is marked \Deleted, not expunged (default) */
	struct buf a = BUF_INIT(1 << 20);
	dump(&c, SIDE_REMOTE, &a);
	CHECK(strstr(a.data, "Work <r4@test> \\Answered \\Deleted") != NULL);
	CHECK(strstr(a.data, "INBOX <r1@test> \\Seen") != NULL);
	CHECK(strstr(a.data, "INBOX <r2@test> \\Flagged\n") != NULL);
	CHECK(strstr(a.data, "l2@test") == NULL);
	buf_release(&a);
	/* converged: a third run does nothing */
	CHECK(sync_once(&c, &o, &st) == EXEC_OK);
	CHECK_INT(total_copied(&st), 0);
	CHECK_INT(st.dir[0].flags + st.dir[1].flags, 0);
}

static void case_dry_run(const char *base)
{
	struct chan c;
	struct exec_opts o;
	struct exec_stats st;
	struct buf before[2] = { BUF_INIT(1 << 20), BUF_INIT(1 << 20) };
	chan_init(&c, base, "dry");
	seed(&c);
	opts_default(&o);
	o.dry_run = 1;
	dump(&c, 0, &before[0]);
	dump(&c, 1, &before[1]);
	CHECK_INT(sync_once(&c, &o, &st), EXEC_OK);
	CHECK_INT(st.dir[SIDE_LOCAL].copied, 5);
	CHECK_INT(st.dir[SIDE_REMOTE].copied, 3);
	for (int s = 0; s < 2; s++) {
		struct buf after = BUF_INIT(1 << 20);
		dump(&c, s, &after);
		CHECK_STR(after.data, before[s].data);
		buf_release(&after);
		buf_release(&before[s]);
	}
	struct stat sb;
	CHECK(stat(c.journal, &sb) < 0); /* no journal was created */
}

/* The channel a crash scenario starts from: seed() alone (a first sync), or
 * seed(), a sync and both_change() (flag changes and expunges, with no
 * intent in the journal to find them by). */
static void crash_prep(struct chan *c, int changes, const struct exec_opts *o)
{
	struct exec_stats st;
	seed(c);
	if (!changes)
		return;
	CHECK_INT(sync_once(c, o, &st), EXEC_OK);
	both_change(c);
}

/* Stop after journal step N for N = 1, 2, ... resuming each time, until a
 * run completes; the result must equal an uninterrupted run's. */
static void case_crash(const char *base, int changes)
{
	struct chan ref, c;
	struct exec_opts o;
	struct exec_stats st;
	struct buf want[2] = { BUF_INIT(1 << 20), BUF_INIT(1 << 20) };
	const char *sc = changes ? "changes-" : "";
	char tag[64];

	opts_default(&o);
	snprintf(tag, sizeof tag, "crash-%sref", sc);
	chan_init(&ref, base, tag);
	crash_prep(&ref, changes, &o);
	CHECK_INT(sync_once(&ref, &o, &st), EXEC_OK);
	dump(&ref, 0, &want[0]);
	dump(&ref, 1, &want[1]);
	if (!changes) /* (after changes the remote keeps r4, marked \Deleted) */
		CHECK_STR(want[0].data, want[1].data);

	unsigned long n;
	int stops = 0;
	for (n = 1; n < 500; n++) {
		snprintf(tag, sizeof tag, "crash-%s%lu", sc, n);
		chan_init(&c, base, tag);
		crash_prep(&c, changes, &o);
		/* interrupt at step n, then finish with a plain run (a real
		 * resume); repeat stopping at every step of that second run too */
		pid_t pid = fork();
		if (pid == 0) {
			struct exec_opts oc = o;
			oc.stop_after = n;
			_exit(sync_once(&c, &oc, &st));
		}
		int ws = 0;
		waitpid(pid, &ws, 0);
		CHECK(WIFEXITED(ws));
		int code = WEXITSTATUS(ws);
		if (code != 86) {
			CHECK_INT(code, EXEC_OK);
			break; /* the run finished before step n: every step was tried */
		}
		stops++;
		/* resume: first a run interrupted one step further, then a full one */
		pid = fork();
		if (pid == 0) {
			struct exec_opts oc = o;
			oc.stop_after = 1;
			_exit(sync_once(&c, &oc, &st));
		}
		waitpid(pid, &ws, 0);
		CHECK_INT(sync_once(&c, &o, &st), EXEC_OK);
		struct buf got[2] = { BUF_INIT(1 << 20), BUF_INIT(1 << 20) };
		for (int s = 0; s < 2; s++) {
			dump(&c, s, &got[s]);
			if (strcmp(got[s].data, want[s].data) != 0)
				fprintf(stderr, "stop after %lu: %s side differs:\n%s---\n%s", n,
					s ? "local" : "remote", got[s].data, want[s].data);
			CHECK_STR(got[s].data, want[s].data);
			buf_release(&got[s]);
		}
		/* and the resumed channel is converged */
		CHECK_INT(sync_once(&c, &o, &st), EXEC_OK);
		CHECK_INT(total_copied(&st), 0);
		rm_rf(c.root[0]);
		rm_rf(c.root[1]);
	}
	fprintf(stderr, "crash: interrupted %d times\n", stops);
	CHECK(stops >= 4);

	/* Die right after each store flush in turn, before the journal records
	 * what the flush made durable: the next run must find every copy by
	 * content (I5) instead of copying it again. */
	uint64_t recovered = 0;
	int crashes = 0;
	for (n = 1; n < 200; n++) {
		snprintf(tag, sizeof tag, "flush-%s%lu", sc, n);
		chan_init(&c, base, tag);
		crash_prep(&c, changes, &o);
		pid_t pid = fork();
		if (pid == 0) {
			struct exec_opts oc = o;
			oc.crash_after_flush = n;
			_exit(sync_once(&c, &oc, &st));
		}
		int ws = 0;
		waitpid(pid, &ws, 0);
		CHECK(WIFEXITED(ws));
		if (WEXITSTATUS(ws) != 86) {
			CHECK_INT(WEXITSTATUS(ws), EXEC_OK);
			break;
		}
		crashes++;
		CHECK_INT(sync_once(&c, &o, &st), EXEC_OK);
		recovered += st.recovered;
		for (int s = 0; s < 2; s++) {
			struct buf got = BUF_INIT(1 << 20);
			dump(&c, s, &got);
			if (strcmp(got.data, want[s].data) != 0)
				fprintf(stderr, "crash after flush %lu: %s side differs:\n%s---\n%s", n,
					s ? "local" : "remote", got.data, want[s].data);
			CHECK_STR(got.data, want[s].data);
			buf_release(&got);
		}
		CHECK_INT(sync_once(&c, &o, &st), EXEC_OK);
		CHECK_INT(total_copied(&st), 0);
		rm_rf(c.root[0]);
		rm_rf(c.root[1]);
	}
	fprintf(stderr, "crash: %d crashes after a flush, %llu copies recovered\n", crashes,
		(unsigned long long)recovered);
	CHECK(crashes >= 3);
	CHECK(recovered >= (changes ? 1u : 3u));
	buf_release(&want[0]);
	buf_release(&want[1]);
}

/* ------------------------------------------------------------ a flaky store */

/* Wraps the remote Maildir: fails the first `temp_fetches` fetches with
 * ERR_TEMP (a dropped connection) and refuses to open `bad_box`. The
 * budget lives in the test, so a reopened store does not fail again. */
struct flaky_ctl {
	struct chan *c;
	int temp_fetches;
	const char *bad_box;
	int opens;
};

struct flaky {
	struct store base;
	struct store *in;
	struct flaky_ctl *ctl;
};

#define IN(s) (((struct flaky *)(s))->in)

static void fl_close(struct store *s)
{
	IN(s)->ops->close(IN(s));
	free(s);
}
static int fl_list_boxes(struct store *s, struct store_box **v, size_t *n, struct err *e)
{
	return IN(s)->ops->list_boxes(IN(s), v, n, e);
}
static int fl_open_box(struct store *s, const char *name, int ro, struct store_box_state *st,
		       struct err *e)
{
	struct flaky *f = (struct flaky *)s;
	if (f->ctl->bad_box && !strcmp(name, f->ctl->bad_box))
		return err_set(e, ERR_PERM, "cannot open '%s': refused by the test", name);
	return IN(s)->ops->open_box(IN(s), name, ro, st, e);
}
static int fl_list_msgs(struct store *s, const struct store_since *since,
			struct store_listing *out, struct err *e)
{
	return IN(s)->ops->list_msgs(IN(s), since, out, e);
}
static int fl_fetch(struct store *s, const char *const *keys, size_t n,
		    const struct store_sink *sink, struct err *e)
{
	struct flaky *f = (struct flaky *)s;
	if (f->ctl->temp_fetches > 0) {
		f->ctl->temp_fetches--;
		return err_set(e, ERR_TEMP, "connection dropped by the test");
	}
	return IN(s)->ops->fetch(IN(s), keys, n, sink, e);
}
static int fl_headers(struct store *s, const char *key, struct buf *m, struct buf *d,
		      struct err *e)
{
	return IN(s)->ops->headers(IN(s), key, m, d, e);
}
/* The wrapper's writer: the inner store's writer and the table to use. */
struct fl_writer {
	const struct store_ops *ops;
	struct store_writer *w;
};

static int fl_append_begin(struct store *s, const struct flagset *f, int64_t idate,
			   uint64_t size, struct store_writer **w_r, struct err *e)
{
	struct fl_writer *fw = mf_calloc(1, sizeof *fw);
	fw->ops = IN(s)->ops;
	if (IN(s)->ops->append_begin(IN(s), f, idate, size, &fw->w, e) < 0) {
		free(fw);
		return -1;
	}
	*w_r = (struct store_writer *)fw;
	return 0;
}
static int fl_append_write(struct store_writer *w, const void *d, size_t n, struct err *e)
{
	struct fl_writer *fw = (struct fl_writer *)w;
	return fw->ops->append_write(fw->w, d, n, e);
}
static int fl_append_end(struct store_writer *w, int ok, store_append_cb *cb, void *ctx,
			 struct err *e)
{
	struct fl_writer *fw = (struct fl_writer *)w;
	int rc = fw->ops->append_end(fw->w, ok, cb, ctx, e);
	free(fw);
	return rc;
}
static int fl_set_flags(struct store *s, const char *const *k, size_t n, const struct flagset *a,
			const struct flagset *d, struct err *e)
{
	return IN(s)->ops->set_flags(IN(s), k, n, a, d, e);
}
static int fl_expunge(struct store *s, const char *const *k, size_t n, struct err *e)
{
	return IN(s)->ops->expunge(IN(s), k, n, e);
}
static int fl_create(struct store *s, const char *name, struct err *e)
{
	return IN(s)->ops->create_box(IN(s), name, e);
}
static int fl_delete(struct store *s, const char *name, struct err *e)
{
	return IN(s)->ops->delete_box(IN(s), name, e);
}
static int fl_rename(struct store *s, const char *a, const char *b, struct err *e)
{
	return IN(s)->ops->rename_box(IN(s), a, b, e);
}
static int fl_flush(struct store *s, struct err *e)
{
	return IN(s)->ops->flush(IN(s), e);
}

static const struct store_ops flaky_ops = {
	"flaky", fl_close, fl_list_boxes, fl_open_box, fl_list_msgs, fl_fetch, fl_headers,
	fl_append_begin, fl_append_write, fl_append_end, fl_set_flags, fl_expunge,
	fl_create, fl_delete, fl_rename, fl_flush,
};

static int open_flaky(void *ctx, enum plan_side side, int cancel_fd, struct store **s_r,
		      struct err *e)
{
	struct flaky_ctl *ctl = ctx;
	struct store *in;
	if (open_md(ctl->c, side, cancel_fd, &in, e) < 0)
		return -1;
	ctl->opens++;
	if (side == SIDE_LOCAL) {
		*s_r = in;
		return 0;
	}
	struct flaky *f = mf_calloc(1, sizeof *f);
	f->base.ops = &flaky_ops;
	f->base.label = in->label;
	f->in = in;
	f->ctl = ctl;
	*s_r = &f->base;
	return 0;
}

static void case_reconnect(const char *base)
{
	struct chan c;
	struct exec_opts o;
	struct exec_stats st;
	struct err e;
	struct flaky_ctl ctl = { &c, 2, NULL, 0 };
	chan_init(&c, base, "reconnect");
	seed(&c);
	opts_default(&o);
	o.backoff_ms = 1;
	CHECK_INT(exec_sync(c.journal, open_flaky, &ctl, &o, &st, &e), EXEC_OK);
	CHECK_INT(st.reconnects, 2);
	CHECK_INT(ctl.opens, 6);
	check_same(&c, "after reconnects");
	/* more drops than the budget: the mailbox fails, the run is partial */
	put(&c, SIDE_REMOTE, "INBOX", "r9", 0, NULL);
	ctl.temp_fetches = 100;
	CHECK_INT(exec_sync(c.journal, open_flaky, &ctl, &o, &st, &e), EXEC_PARTIAL);
	CHECK_INT(st.boxes_failed, 1);
	ctl.temp_fetches = 0;
	CHECK_INT(exec_sync(c.journal, open_flaky, &ctl, &o, &st, &e), EXEC_OK);
	CHECK_INT(st.dir[SIDE_LOCAL].copied, 1);
	check_same(&c, "after the retry run");
}

static void case_contained(const char *base)
{
	struct chan c;
	struct exec_opts o;
	struct exec_stats st;
	struct err e;
	struct flaky_ctl ctl = { &c, 0, "Work", 0 };
	chan_init(&c, base, "contained");
	seed(&c);
	opts_default(&o);
	/* Work cannot be opened: reported, skipped, the rest syncs */
	CHECK_INT(exec_sync(c.journal, open_flaky, &ctl, &o, &st, &e), EXEC_PARTIAL);
	CHECK_INT(st.boxes_failed, 1);
	CHECK_INT(st.dir[SIDE_LOCAL].copied, 3);
	CHECK_INT(st.dir[SIDE_REMOTE].copied, 3);
	/* the next run, with Work back, completes and converges */
	ctl.bad_box = NULL;
	CHECK_INT(exec_sync(c.journal, open_flaky, &ctl, &o, &st, &e), EXEC_OK);
	CHECK_INT(st.dir[SIDE_LOCAL].copied, 2);
	check_same(&c, "after the contained failure");
}

/* The header fields the fingerprint of a streamed copy is made of. */
static void case_headers(void)
{
	static const struct {
		const char *hdr, *msgid, *date;
	} t[] = {
		{ "Message-ID: <a@b>\r\nDate: Mon, 2 Jan 2023\r\n\r\nbody Message-ID: <x>\r\n",
		  "<a@b>", "Mon, 2 Jan 2023" },
		{ "message-id:\n <folded@b>\nDATE: x\n\n", "<folded@b>", "x" },
		{ "Subject: s\r\nX-Message-ID: <no>\r\n\r\n", "", "" },
		{ "Message-ID: <first>\nMessage-ID: <second>\n", "<first>", "" },
		{ "Date: a\r\n b\r\n\tc\r\nTo: x\r\n", "", "a b\tc" },
		{ "", "", "" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct buf id = BUF_INIT(4096), date = BUF_INIT(4096);
		CHECK_INT(exec_header_fields(t[i].hdr, strlen(t[i].hdr), &id, &date), 0);
		CHECK_STR(id.data, t[i].msgid);
		CHECK_STR(date.data, t[i].date);
		buf_release(&id);
		buf_release(&date);
	}
}

int main(int argc, char **argv)
{
	char base[] = "/tmp/mf-test-exec.XXXXXX";
	if (argc < 2) {
		fprintf(stderr, "usage: test-exec initial|changes|dry-run|crash\n");
		return 2;
	}
	if (!mkdtemp(base))
		return 1;
	if (!strcmp(argv[1], "initial"))
		case_initial(base);
	else if (!strcmp(argv[1], "changes"))
		case_changes(base);
	else if (!strcmp(argv[1], "dry-run"))
		case_dry_run(base);
	else if (!strcmp(argv[1], "crash"))
		case_crash(base, 0);
	else if (!strcmp(argv[1], "crash-changes"))
		case_crash(base, 1);
	else if (!strcmp(argv[1], "headers"))
		case_headers();
	else if (!strcmp(argv[1], "reconnect"))
		case_reconnect(base);
	else if (!strcmp(argv[1], "contained"))
		case_contained(base);
	else
		return 2;
	if (!getenv("TEST_KEEP"))
		rm_rf(base);
	return test_done();
}
