/*
 * test_imapstore.c — the IMAP store driver (store/imap/imap_store.c)
 * against the real Dovecot fixture. One scenario per run (argv[1]), each
 * with its own user "imapstore-<scenario>":
 *   unit      name mapping and header parsing (no server)
 *   list      list_boxes counters == doveadm mailbox status (LIST-STATUS and
 *             pipelined STATUS)
 *   listing   full listing, then deltas after doveadm flag changes and an
 *             expunge: QRESYNC, CONDSTORE-only and no-CONDSTORE paths
 *   fetch     several messages into a sink, exact bytes; a missing UID
 *             reported ERR_GONE; headers and headers_many
 *   big       a 5 MB message streamed with bounded memory, and appended back
 *   append    flags, keywords, internal date, APPENDUID keys, bytes back
 *   flags     set_flags add/remove, expunge of chosen UIDs only
 *   boxes     create / rename / delete with non-ASCII names, errors classified
 *   many      1500 pipelined appends (MULTIAPPEND), fetch / flags / expunge
 *             over scattered UIDs
 *   copy      IMAP -> IMAP: a fetch streamed through the sink into appends on
 *             a second connection, bytes, flags and dates checked
 *   window    a first sync's listing a window at a time: sizes, dates, UID
 *             order, no window over its size, and expunges announced between
 *             windows neither skip nor repeat a message; a fetch by the
 *             window's own sequence map
 *   shift     (scripted fake server, no Dovecot) sequence numbers shift
 *             between the fetch's map and body passes: no message is ever
 *             reported ok under the wrong key, begin() once per key
 * Without the fixture's environment it exits 77 (skipped).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imap/imap_store.h"
#include "store.h"
#include "testlib.h"

static const char *dc_dir, *dc_script, *ca_file, *port;
static char user[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc;
}

/* Output of a shell command into b. */
static int capture(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int capture(struct buf *b, const char *fmt, ...)
{
	char cmd[4096], chunk[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	buf_reset(b);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(b, chunk, n);
	return pclose(f) == 0 ? 0 : -1;
}

static void new_user(const char *scenario)
{
	snprintf(user, sizeof user, "imapstore-%s", scenario);
	sh("rm -rf '%s/mail/%s'", dc_dir, user);
	sh("'%s' adduser '%s' '%s' '%s'", dc_script, dc_dir, user, user);
	/* Dovecot rereads the passwd file when its mtime changes: two users
	 * added within one second may need a nudge. */
	for (int i = 0; i < 50; i++) {
		char cmd[1024];
		snprintf(cmd, sizeof cmd, "'%s' doveadm '%s' user '%s' >/dev/null 2>&1", dc_script,
			 dc_dir, user);
		if (system(cmd) == 0)
			return;
		usleep(100000);
		snprintf(cmd, sizeof cmd, "touch -d '+%d seconds' '%s/passwd'", i + 1, dc_dir);
		if (system(cmd) != 0)
			break;
	}
	fprintf(stderr, "user %s not known to Dovecot\n", user);
}

static void doveadm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void doveadm(const char *fmt, ...)
{
	char args[3000];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	sh("'%s' doveadm '%s' %s", dc_script, dc_dir, args);
}

/* A CRLF message with Message-ID <id@test>, padded with `extra` body bytes. */
static void make_msg(struct buf *m, const char *id, size_t extra)
{
	buf_reset(m);
	buf_addf(m, "From: Alice <alice@test>\r\nTo: Bob <bob@test>\r\nSubject: message %s\r\n"
		 "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\nMessage-ID: <%s@test>\r\n\r\n"
		 "Body of %s.\r\n", id, id, id);
	for (size_t i = 0; i < extra / 76; i++)
		buf_addf(m, "%074zu\r\n", i);
}

static void deliver(const char *box, const struct buf *m)
{
	char path[] = "/tmp/mf-imapstore-msg-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, m->data, m->len) != (ssize_t)m->len)
		abort();
	close(fd);
	doveadm("mailbox create -u '%s' '%s' 2>/dev/null || true", user, box);
	doveadm("save -u '%s' -m '%s' < '%s'", user, box, path);
	unlink(path);
}

/* n messages <prefix0@test>... saved into box. */
static void deliver_many(const char *box, const char *prefix, int n)
{
	struct buf m = BUF_INIT(BUF_MAX_DEFAULT);
	for (int i = 0; i < n; i++) {
		char id[16];
		snprintf(id, sizeof id, "%s%d", prefix, i);
		make_msg(&m, id, 0);
		deliver(box, &m);
	}
	buf_release(&m);
}

/* One doveadm STATUS figure. */
static uint64_t dv_status(const char *box, const char *field)
{
	struct buf out = BUF_INIT(1 << 20);
	uint64_t v = UINT64_MAX;
	if (capture(&out, "'%s' doveadm '%s' -f flow mailbox status -u '%s' '%s' '%s'", dc_script,
		    dc_dir, user, field, box) == 0) {
		char key[64];
		snprintf(key, sizeof key, "%s=", field);
		const char *p = strstr(out.data, key);
		if (p)
			v = strtoull(p + strlen(key), NULL, 10);
	}
	buf_release(&out);
	return v;
}

static void trace(void *ctx, char dir, const char *line, size_t len)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "%ld.%03ld %c %.*s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000, dir,
		(int)len, line);
}

/* Client lines of the protocol trace, for tests that check which commands
 * a call sent (open_store_rec). */
static struct buf sent = BUF_INIT(1u << 20);

static void trace_rec(void *ctx, char dir, const char *line, size_t len)
{
	(void)ctx;
	if (dir == '>' && buf_add(&sent, line, len) == 0)
		buf_addch(&sent, '\n');
	if (getenv("MF_TRACE"))
		trace(NULL, dir, line, len);
}

static struct store *open_store_opt(unsigned nocap, int rec)
{
	struct imap_store_opts o = { 0 };
	struct store *s = NULL;
	struct err e = { 0 };
	o.host = "localhost";
	o.port = port;
	o.tls = IMAP_TLS_STARTTLS;
	o.ca_file = ca_file;
	o.user = user;
	o.pass = user;
	o.nocap = nocap;
	if (getenv("MF_TRACE"))
		o.trace = trace;
	if (rec)
		o.trace = trace_rec;
	if (imap_store_open(&o, &s, &e) < 0) {
		fprintf(stderr, "imap_store_open: %s\n", e.msg);
		exit(1);
	}
	return s;
}

static struct store *open_store(unsigned nocap)
{
	return open_store_opt(nocap, 0);
}

/* The client lines recorded since `from` (an offset into `sent`) hold
 * `what`. */
static int sent_has(size_t from, const char *what)
{
	return sent.len > from && strstr(sent.data + from, what) != NULL;
}

#define OK(call)                                                                \
	do {                                                                    \
		struct err e_ = { 0 };                                          \
		test_checks_++;                                                 \
		if ((call(&e_)) != 0) {                                         \
			test_failures_++;                                       \
			fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__,     \
				__LINE__, #call, e_.msg);                       \
		}                                                               \
	} while (0)

/* ------------------------------------------------------------------ */
/* A sink that keeps every message in memory (tests only).              */

struct got {
	char key[16];
	struct buf data;
	int ok;
	enum err_class cls;
	uint64_t size;
};

struct collect {
	struct got v[2048];
	size_t n;
	size_t max_chunk;
	int in_msg;
	int keep; /* keep the bytes (else count only) */
	const char *fail_key; /* write() fails for this key */
	uint64_t bytes;
};

static int c_begin(void *ctx, const struct store_msg *meta, struct err *e)
{
	struct collect *c = ctx;
	(void)e;
	if (c->in_msg || c->n == sizeof c->v / sizeof c->v[0])
		return -1;
	struct got *g = &c->v[c->n++];
	snprintf(g->key, sizeof g->key, "%s", meta->key);
	buf_init(&g->data, 64 << 20);
	g->size = meta->size;
	g->ok = -1;
	c->in_msg = 1;
	return 0;
}

static int c_write(void *ctx, const void *p, size_t n, struct err *e)
{
	struct collect *c = ctx;
	if (!c->in_msg)
		return -1;
	if (c->fail_key && !strcmp(c->v[c->n - 1].key, c->fail_key))
		return err_set(e, ERR_IO, "disk full (test)");
	if (n > c->max_chunk)
		c->max_chunk = n;
	c->bytes += n;
	if (c->keep)
		buf_add(&c->v[c->n - 1].data, p, n);
	return 0;
}

static int c_end(void *ctx, int ok, struct err *e)
{
	struct collect *c = ctx;
	c->v[c->n - 1].ok = ok;
	c->v[c->n - 1].cls = ok ? ERR_NONE : e->cls;
	c->in_msg = 0;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		buf_release(&c->v[i].data);
}

static const struct got *find_got(const struct collect *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].key, key))
			return &c->v[i];
	return NULL;
}

static const struct store_msg *find_msg(const struct store_listing *l, uint32_t uid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->msgs[i].uid == uid)
			return &l->msgs[i];
	return NULL;
}

static int has_vanished(const struct store_listing *l, const char *key)
{
	for (size_t i = 0; i < l->nvanished; i++)
		if (!strcmp(l->vanished[i], key))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */

static void t_unit(void)
{
	struct buf b = BUF_INIT(4096), d = BUF_INIT(4096);
	struct err e;
	static const struct {
		const char *store;
		char delim;
		const char *server; /* NULL: refused */
	} names[] = {
		{ "INBOX", '/', "INBOX" },     { "Work/Projects", '/', "Work/Projects" },
		{ "Work/Projects", '.', "Work.Projects" }, { "a.b", '.', NULL },
		{ "Entwürfe/日本語", '.', "Entwürfe.日本語" }, { "flat", 0, "flat" },
		{ "a/b", 0, NULL },            { "", '/', NULL },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		int rc = imap_store_name_to_server(names[i].store, names[i].delim, &b, &e);
		if (!names[i].server) {
			CHECK_INT(rc, -1);
			continue;
		}
		CHECK_INT(rc, 0);
		CHECK_STR(b.data, names[i].server);
		CHECK_INT(imap_store_name_from_server(b.data, names[i].delim, &d, &e), 0);
		CHECK_STR(d.data, names[i].store);
	}
	CHECK_INT(imap_store_name_from_server("a/b.c", '.', &d, &e), -1);

	static const struct {
		const char *hdr, *id, *date;
	} hdrs[] = {
		{ "Message-ID: <a@b>\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\n\r\n", "<a@b>",
		  "Mon, 2 Jan 2023 10:00:00 +0000" },
		{ "DATE:\tTue, 3 Jan 2023\r\n 11:00:00 +0100\r\nmessage-id:\r\n  <x@y>\r\n\r\n",
		  "<x@y>", "Tue, 3 Jan 2023 11:00:00 +0100" },
		{ "Subject: no\r\n\r\n", "", "" },
		{ "X-Message-ID: <no>\r\nMessage-Id: <yes>\r\n", "<yes>", "" },
	};
	for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
		imap_store_parse_headers(hdrs[i].hdr, strlen(hdrs[i].hdr), &b, &d);
		CHECK_STR(b.data, hdrs[i].id);
		CHECK_STR(d.data, hdrs[i].date);
	}
	buf_release(&b);
	buf_release(&d);

	/* the STATUS pass shared over two connections: heaviest first to the
	 * lighter side; unknown (0) weights alternate */
	static const struct {
		uint64_t w[8];
		size_t n;
		uint64_t start[2];
		const char *side;
	} splits[] = {
		{ { 0, 0, 0, 0, 0 }, 5, { 0, 0 }, "01010" },
		{ { 21372, 100, 12206, 8713, 300 }, 5, { 0, 0 }, "01111" }, /* 21373 : 21323 */
		{ { 5, 5, 5, 5 }, 4, { 0, 0 }, "0101" },
		{ { 1, 1, 1, 1, 1, 1, 1, 10 }, 8, { 0, 0 }, "11111100" }, /* 11 first, on st */
		{ { 0 }, 0, { 0, 0 }, "" },
		/* INBOX (21373) asked ahead on the aide: the rest start on st */
		{ { 100, 12206, 8713, 300 }, 4, { 0, 21373 }, "0000" }, /* 21323 : 21373 */
		{ { 0, 0, 0 }, 3, { 1, 0 }, "101" },
	};
	for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
		unsigned char side[8];
		char got[9] = "";
		imap_status_split(splits[i].w, splits[i].n, splits[i].start, side);
		for (size_t k = 0; k < splits[i].n; k++)
			got[k] = (char)('0' + side[k]);
		CHECK_STR(got, splits[i].side);
	}
}

/* An aide whose login ends after `late` questions (imap_aide_fn). */
struct late_aide {
	struct store *s;
	int late, asked;
};

static struct store *late_aide_fn(void *ctx)
{
	struct late_aide *a = ctx;
	return a->asked++ < a->late ? NULL : a->s;
}

/* shared: the STATUS pass split with a second connection that is in from
 * the start (1), joins after two windows (2) or never (3); the aide is
 * always a logged-in store, so a pass that never took it leaves it unused */
static void check_boxes(unsigned nocap, int shared)
{
	struct store *s = open_store(nocap);
	struct store *aide = shared ? open_store(nocap) : NULL;
	struct store_box *v = NULL;
	size_t n = 0;
	struct err e = { 0 };
	struct late_aide la = { aide, shared == 1 ? 0 : shared == 2 ? 2 : 1 << 20, 0 };
	if (shared)
		CHECK_INT(imap_store_list_boxes_shared(s, late_aide_fn, &la, NULL, NULL, &v, &n,
						       &e), 0);
	else
		CHECK_INT(s->ops->list_boxes(s, &v, &n, &e), 0);
	static const char *const want[] = { "INBOX", "Sent", "Entwürfe", "日本語/Unter", "Work" };
	for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
		const struct store_box *b = NULL;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i].name, want[w]))
				b = &v[i];
		CHECK(b != NULL);
		if (!b) {
			fprintf(stderr, "mailbox %s not listed\n", want[w]);
			continue;
		}
		CHECK(b->has_status);
		CHECK_INT(b->delim, '/');
		CHECK_INT(b->messages, dv_status(want[w], "messages"));
		/* UNSEEN only when asked for: it costs the server a count */
		CHECK_INT(b->unseen, nocap & IMAP_STORE_WANT_UNSEEN ? dv_status(want[w], "unseen") : 0);
		CHECK_INT(b->uidvalidity, dv_status(want[w], "uidvalidity"));
		CHECK_INT(b->uidnext, dv_status(want[w], "uidnext"));
		if (nocap & IMAP_STORE_NO_CONDSTORE)
			CHECK_INT(b->highestmodseq, 0);
		else
			CHECK_INT(b->highestmodseq, dv_status(want[w], "highestmodseq"));
		char ident[64];
		snprintf(ident, sizeof ident, "uv:%" PRIu32, b->uidvalidity);
		CHECK_STR(b->ident, ident);
		if (!strcmp(want[w], "Sent"))
			CHECK(b->attrs & BOX_SENT);
	}
	store_boxes_free(v, n);
	s->ops->close(s);
	if (aide)
		aide->ops->close(aide);
}

static void t_list(void)
{
	struct buf m = BUF_INIT(BUF_MAX_DEFAULT);
	new_user("list");
	for (int i = 0; i < 3; i++) {
		char id[16];
		snprintf(id, sizeof id, "l%d", i);
		make_msg(&m, id, 0);
		deliver("INBOX", &m);
		deliver(i ? "Entwürfe" : "日本語/Unter", &m);
	}
	deliver("Work", &m);
	doveadm("mailbox create -u '%s' Sent", user);
	doveadm("flags add -u '%s' '\\Seen' mailbox INBOX uid 1", user);
	check_boxes(0, 0);
	check_boxes(IMAP_STORE_NO_LIST_STATUS, 0); /* INBOX asked ahead of LIST */
	check_boxes(IMAP_STORE_WANT_UNSEEN, 0);
	check_boxes(IMAP_STORE_NO_LIST_STATUS | IMAP_STORE_WANT_UNSEEN, 0);
	check_boxes(IMAP_STORE_NO_LIST_STATUS | IMAP_STORE_NO_CONDSTORE, 0);
	check_boxes(0, 1);
	check_boxes(IMAP_STORE_WANT_UNSEEN | IMAP_STORE_NO_CONDSTORE, 1);
	check_boxes(0, 2);
	check_boxes(0, 3);
	buf_release(&m);
}

/* Full listing, then a change on the server, then a delta through the
 * path that `nocap` leaves. */
/* old full listing + delta (changed/new messages, vanished keys) must be
 * the new full listing, message for message. */
static int delta_matches(const struct store_listing *old, const struct store_listing *delta,
			 const struct store_listing *now)
{
	size_t n = 0;
	for (size_t i = 0; i < old->n; i++) {
		const struct store_msg *o = &old->msgs[i];
		if (has_vanished(delta, o->key) || find_msg(delta, o->uid))
			continue;
		const struct store_msg *x = find_msg(now, o->uid);
		if (!x || !flagset_equal(&x->flags, &o->flags) || x->size != o->size ||
		    x->idate != o->idate)
			return 0;
		n++;
	}
	for (size_t i = 0; i < delta->n; i++) {
		const struct store_msg *d = &delta->msgs[i];
		const struct store_msg *x = find_msg(now, d->uid);
		if (!x || !flagset_equal(&x->flags, &d->flags) || x->size != d->size ||
		    x->idate != d->idate)
			return 0;
		n++;
	}
	return n == now->n;
}

/* round with `qsel`: the second open goes through
 * imap_store_open_box_since, so the delta comes from SELECT (QRESYNC ...). */
static void listing_round(unsigned nocap, int round, int qsel)
{
	struct store *s = open_store(nocap);
	struct store_box_state st;
	struct store_listing l;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.full, 1);
	CHECK_INT(l.n, st.messages);
	CHECK_INT(st.messages, dv_status("INBOX", "messages"));
	for (size_t i = 1; i < l.n; i++)
		CHECK(l.msgs[i - 1].uid < l.msgs[i].uid);
	for (size_t i = 0; i < l.n; i++) {
		CHECK(l.msgs[i].size > 100);
		CHECK(l.msgs[i].idate > 1600000000);
		if (!(nocap & IMAP_STORE_NO_CONDSTORE))
			CHECK(l.msgs[i].modseq > 0);
	}
	struct store_since since = { 0 };
	since.uidvalidity = st.uidvalidity;
	since.modseq = st.highestmodseq;
	since.uidnext = st.uidnext;
	uint32_t first = l.msgs[0].uid, second = l.msgs[1].uid;
	struct store_listing old = l;
	s->ops->close(s);

	/* another client: flag one, expunge one, deliver one */
	doveadm("flags add -u '%s' '\\Flagged $Round%d' mailbox INBOX uid %" PRIu32, user, round,
		second);
	doveadm("expunge -u '%s' mailbox INBOX uid %" PRIu32, user, first);
	struct buf m = BUF_INIT(BUF_MAX_DEFAULT);
	char id[16];
	snprintf(id, sizeof id, "new%d", round);
	make_msg(&m, id, 0);
	deliver("INBOX", &m);
	buf_release(&m);

	s = open_store_opt(nocap, qsel);
	size_t mark = sent.len;
	if (qsel)
		CHECK_INT(imap_store_open_box_since(s, "INBOX", 0, &since, &st, &e), 0);
	else
		CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, &since, &l, &e), 0);
	if (qsel && (nocap & IMAP_STORE_NO_QRESYNC)) {
		CHECK(!sent_has(mark, "QRESYNC"));
	} else if (qsel) {
		char want[96];
		snprintf(want, sizeof want, "SELECT \"INBOX\" (QRESYNC (%" PRIu32 " %" PRIu64 " 1:%" PRIu32 "))",
			 since.uidvalidity, since.modseq, since.uidnext - 1);
		CHECK(sent_has(mark, want));
		CHECK(!sent_has(mark, "CHANGEDSINCE"));
		/* only size and date of the flagged one and the new ones */
		snprintf(want, sizeof want, "UID FETCH %" PRIu32 ",%" PRIu32 ":* (UID FLAGS RFC822.SIZE",
			 second, since.uidnext);
		CHECK(sent_has(mark, want));
		if (!sent_has(mark, want))
			fprintf(stderr, "sent: %s\n", sent.data + mark);
	}
	char k1[16], kw[32];
	snprintf(k1, sizeof k1, "%" PRIu32, first);
	snprintf(kw, sizeof kw, "$Round%d", round);
	const struct store_msg *m2 = find_msg(&l, second);
	CHECK(m2 != NULL);
	if (m2) {
		CHECK(m2->flags.sys & MF_FLAGGED);
		CHECK(flagset_has_kw(&m2->flags, kw));
		CHECK(m2->size > 100);
	}
	CHECK(find_msg(&l, first) == NULL);
	CHECK(find_msg(&l, st.uidnext - 1) != NULL); /* the new one */
	if (nocap & IMAP_STORE_NO_CONDSTORE) {
		CHECK_INT(l.full, 1);
		CHECK_INT(l.n, st.messages);
	} else {
		CHECK_INT(l.full, 0);
		CHECK(has_vanished(&l, k1));
		CHECK(l.n < st.messages || st.messages <= 2);
		if (l.n == st.messages && st.messages > 2)
			fprintf(stderr, "delta listed everything (%zu)\n", l.n);
		struct store_listing now;
		CHECK_INT(s->ops->list_msgs(s, NULL, &now, &e), 0);
		CHECK(delta_matches(&old, &l, &now));
		store_listing_free(&now);
	}
	store_listing_free(&l);
	store_listing_free(&old);

	/* since with another UIDVALIDITY: a full listing */
	since.uidvalidity ^= 1;
	CHECK_INT(s->ops->list_msgs(s, &since, &l, &e), 0);
	CHECK_INT(l.full, 1);
	CHECK_INT(l.n, st.messages);
	store_listing_free(&l);
	s->ops->close(s);
}

static int c_begin(void *ctx, const struct store_msg *meta, struct err *e);
static int c_write(void *ctx, const void *p, size_t n, struct err *e);
static int c_end(void *ctx, int ok, struct err *e);

/* fetch right after list_msgs uses the listing's sequence numbers (no UID
 * map pass); after an expunge by another client it still delivers every
 * surviving message under its own key, through a fresh map. */
static void t_fetch_known_map(void)
{
	struct store *s = open_store_opt(0, 1);
	struct store_box_state st;
	struct store_listing l;
	struct err e = { 0 };
	static struct collect c;
	struct store_sink sink = { c_begin, c_write, c_end, &c };
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK(l.n >= 4);
	if (l.n < 4) {
		store_listing_free(&l);
		s->ops->close(s);
		return;
	}
	const char *keys[3] = { l.msgs[1].key, l.msgs[2].key, l.msgs[3].key };
	memset(&c, 0, sizeof c);
	c.keep = 1;
	size_t mark = sent.len;
	CHECK_INT(s->ops->fetch(s, keys + 1, 2, &sink, &e), 0);
	CHECK(!sent_has(mark, " (UID)\n"));
	CHECK(sent_has(mark, "(UID BODY.PEEK[])"));
	CHECK_INT(c.n, 2);
	for (size_t i = 0; i < c.n; i++)
		CHECK(c.v[i].ok);
	collect_free(&c);

	/* another client expunges the first: our sequence numbers are stale */
	doveadm("expunge -u '%s' mailbox INBOX uid %" PRIu32, user, l.msgs[0].uid);
	memset(&c, 0, sizeof c);
	c.keep = 1;
	mark = sent.len;
	CHECK_INT(s->ops->fetch(s, keys, 3, &sink, &e), 0);
	CHECK_INT(c.n, 3);
	for (size_t i = 0; i < c.n; i++) {
		const struct got *g = &c.v[i];
		CHECK(g->ok);
		/* the data is the message of that key (its size as listed) */
		const struct store_msg *m = find_msg(&l, (uint32_t)strtoul(g->key, NULL, 10));
		CHECK(m != NULL && m->size == g->data.len);
	}
	collect_free(&c);
	store_listing_free(&l);
	s->ops->close(s);
}

/* Only expunges since the marker: SELECT (QRESYNC ...) tells everything,
 * list_msgs sends nothing. And a `since` other than the one given to
 * open_box_since is answered by the usual UID FETCH (CHANGEDSINCE). */
static void t_qresync_expunge_only(void)
{
	struct store *s = open_store(0);
	struct store_box_state st;
	struct store_listing l;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	struct store_since since = { st.uidvalidity, st.highestmodseq, st.uidnext, "", NULL, 0, 0, 0, NULL, NULL };
	CHECK(l.n >= 3);
	uint32_t victim = l.n >= 3 ? l.msgs[2].uid : 0;
	store_listing_free(&l);
	s->ops->close(s);
	doveadm("expunge -u '%s' mailbox INBOX uid %" PRIu32, user, victim);

	s = open_store_opt(0, 1);
	size_t mark = sent.len;
	CHECK_INT(imap_store_open_box_since(s, "INBOX", 1, &since, &st, &e), 0);
	size_t after_select = sent.len;
	CHECK_INT(s->ops->list_msgs(s, &since, &l, &e), 0);
	CHECK(sent_has(mark, "EXAMINE \"INBOX\" (QRESYNC ("));
	CHECK_INT((int)(sent.len - after_select), 0); /* nothing sent */
	CHECK_INT(l.full, 0);
	CHECK_INT(l.n, 0);
	char k[16];
	snprintf(k, sizeof k, "%" PRIu32, victim);
	CHECK(has_vanished(&l, k));
	CHECK_INT(l.nvanished, 1);
	store_listing_free(&l);

	/* a different since: the stash is not used */
	CHECK_INT(imap_store_open_box_since(s, "INBOX", 1, &since, &st, &e), 0);
	struct store_since other = since;
	other.modseq = since.modseq - 1;
	mark = sent.len;
	CHECK_INT(s->ops->list_msgs(s, &other, &l, &e), 0);
	CHECK(sent_has(mark, "CHANGEDSINCE"));
	CHECK(has_vanished(&l, k));
	store_listing_free(&l);
	/* an open_box_since not followed by list_msgs leaks nothing */
	CHECK_INT(imap_store_open_box_since(s, "INBOX", 1, &since, &st, &e), 0);
	s->ops->close(s);
	t_fetch_known_map();
}

/* Open and list box fully; since_r is what a later delta starts from. */
static void list_since(struct store *s, const char *box, struct store_since *since_r)
{
	struct store_box_state st;
	struct store_listing l;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, box, 0, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	store_listing_free(&l);
	memset(since_r, 0, sizeof *since_r);
	since_r->uidvalidity = st.uidvalidity;
	since_r->modseq = st.highestmodseq;
	since_r->uidnext = st.uidnext;
}

/* A SELECT sent ahead (imap_store_preselect) is the next open's when the
 * arguments match: no second SELECT goes out and the changes it reported
 * are listed. An open with other arguments waits it out and selects anew;
 * a failed one is the open's failure; a close with one in flight leaks
 * nothing. */
static void t_preselect(void)
{
	deliver_many("Other", "o", 3);
	struct store *s = open_store(0);
	struct store_since in, other;
	list_since(s, "INBOX", &in);
	list_since(s, "Other", &other);
	s->ops->close(s);
	uint32_t flagged = in.uidnext - 1;
	doveadm("flags add -u '%s' '\\Flagged' mailbox INBOX uid %" PRIu32, user, flagged);
	doveadm("expunge -u '%s' mailbox Other uid 1", user);

	s = open_store_opt(0, 1);
	struct store_box_state st;
	struct store_listing l;
	struct err e = { 0 };
	CHECK_INT(imap_store_open_box_since(s, "Other", 0, &other, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, &other, &l, &e), 0);
	CHECK(has_vanished(&l, "1"));
	store_listing_free(&l);
	size_t mark = sent.len;
	imap_store_preselect(s, "INBOX", 0, &in);
	CHECK(sent_has(mark, "SELECT \"INBOX\" (QRESYNC ("));
	size_t taken = sent.len;
	CHECK_INT(imap_store_open_box_since(s, "INBOX", 0, &in, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, &in, &l, &e), 0);
	CHECK(!sent_has(taken, "SELECT"));
	CHECK_INT(l.full, 0);
	const struct store_msg *f = find_msg(&l, flagged);
	CHECK(f && (f->flags.sys & MF_FLAGGED));
	CHECK_INT(st.messages, dv_status("INBOX", "messages"));
	store_listing_free(&l);

	/* sent ahead for Other, but INBOX is opened: selected anew */
	imap_store_preselect(s, "Other", 0, &other);
	mark = sent.len;
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	CHECK(sent_has(mark, "SELECT \"INBOX\"\n"));
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, dv_status("INBOX", "messages"));
	store_listing_free(&l);
	/* the same mailbox with another since: selected anew too */
	struct store_since older = other;
	older.modseq--;
	imap_store_preselect(s, "Other", 0, &other);
	mark = sent.len;
	CHECK_INT(imap_store_open_box_since(s, "Other", 0, &older, &st, &e), 0);
	CHECK(sent_has(mark, "SELECT \"Other\" (QRESYNC"));
	CHECK_INT(st.messages, 2);
	/* a mailbox that is not there: the open fails as a SELECT would */
	imap_store_preselect(s, "Nope", 0, &other);
	CHECK_INT(imap_store_open_box_since(s, "Nope", 0, &other, &st, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(s->ops->open_box(s, "Other", 0, &st, &e), 0);
	/* closed with one in flight */
	imap_store_preselect(s, "INBOX", 0, &in);
	s->ops->close(s);
}

static void t_listing(void)
{
	struct buf m = BUF_INIT(BUF_MAX_DEFAULT);
	new_user("listing");
	for (int i = 0; i < 12; i++) {
		char id[16];
		snprintf(id, sizeof id, "m%d", i);
		make_msg(&m, id, (size_t)i * 100);
		deliver("INBOX", &m);
	}
	buf_release(&m);
	listing_round(0, 1, 0);
	listing_round(IMAP_STORE_NO_QRESYNC, 2, 0);
	listing_round(IMAP_STORE_NO_CONDSTORE, 3, 0);
	listing_round(0, 4, 1);
	listing_round(IMAP_STORE_NO_QRESYNC, 5, 1); /* plain SELECT, CONDSTORE delta */
	t_qresync_expunge_only();
	t_preselect();
	buf_release(&sent);
}

static void t_fetch(void)
{
	struct buf m[5];
	new_user("fetch");
	for (int i = 0; i < 5; i++) {
		char id[16];
		snprintf(id, sizeof id, "f%d", i);
		buf_init(&m[i], 0);
		make_msg(&m[i], id, (size_t)i * 3000);
		deliver("INBOX", &m[i]);
	}
	struct store *s = open_store(0);
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "INBOX", 1, &st, &e), 0);
	CHECK_INT(st.read_only, 1);
	struct collect c = { .keep = 1 };
	struct store_sink sink = { c_begin, c_write, c_end, &c };
	const char *keys[] = { "3", "1", "99", "5", "2", "4", "x" };
	CHECK_INT(s->ops->fetch(s, keys, 7, &sink, &e), 0);
	CHECK_INT(c.n, 7);
	for (int i = 0; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof key, "%d", i + 1);
		const struct got *g = find_got(&c, key);
		CHECK(g != NULL);
		if (!g)
			continue;
		CHECK_INT(g->ok, 1);
		CHECK_INT(g->data.len, m[i].len);
		CHECK_INT(g->size, m[i].len);
		CHECK(g->data.len == m[i].len && !memcmp(g->data.data, m[i].data, m[i].len));
	}
	const struct got *g = find_got(&c, "99");
	CHECK(g && g->ok == 0 && g->cls == ERR_GONE);
	g = find_got(&c, "x");
	CHECK(g && g->ok == 0 && g->cls == ERR_GONE);
	collect_free(&c);

	/* a sink failing on one message: that one ends ok = 0, the rest go on */
	memset(&c, 0, sizeof c);
	c.keep = 1;
	c.fail_key = "2";
	CHECK_INT(s->ops->fetch(s, keys, 6, &sink, &e), 0);
	g = find_got(&c, "2");
	CHECK(g && g->ok == 0 && g->cls == ERR_IO);
	for (int i = 2; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof key, "%d", i + 1);
		g = find_got(&c, key);
		CHECK(g && g->ok == 1 && g->data.len == m[i].len);
	}
	collect_free(&c);

	struct buf id = BUF_INIT(4096), date = BUF_INIT(4096);
	CHECK_INT(s->ops->headers(s, "2", &id, &date, &e), 0);
	CHECK_STR(id.data, "<f1@test>");
	CHECK_STR(date.data, "Mon, 2 Jan 2023 10:00:00 +0000");
	CHECK_INT(s->ops->headers(s, "77", &id, &date, &e), -1);
	CHECK_INT(e.cls, ERR_GONE);
	buf_release(&id);
	buf_release(&date);
	s->ops->close(s);
	for (int i = 0; i < 5; i++)
		buf_release(&m[i]);
}

struct hm {
	int n;
	int bad;
};

static int hm_cb(void *ctx, const char *key, const char *msgid, const char *date,
		 struct err *e)
{
	struct hm *h = ctx;
	char want[32];
	(void)e;
	snprintf(want, sizeof want, "<h%d@test>", atoi(key) - 1);
	if (strcmp(msgid, want) != 0 || strncmp(date, "Mon, 2 Jan 2023", 15) != 0)
		h->bad++;
	h->n++;
	return 0;
}

static void t_headers_many(void)
{
	deliver_many("Hdr", "h", 40);
	struct store *s = open_store(0);
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "Hdr", 1, &st, &e), 0);
	const char *keys[42];
	char kb[42][8];
	for (int i = 0; i < 42; i++) {
		snprintf(kb[i], sizeof kb[i], "%d", 42 - i); /* 42, 41 missing */
		keys[i] = kb[i];
	}
	struct hm h = { 0 };
	CHECK_INT(imap_store_headers_many(s, keys, 42, hm_cb, &h, &e), 0);
	CHECK_INT(h.n, 40);
	CHECK_INT(h.bad, 0);
	s->ops->close(s);
}

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Appends the message in `m` through the store in chunks. */
struct append_res {
	int calls;
	char key[16];
	enum err_class cls;
};

static void append_cb(void *ctx, const char *key, const struct err *e)
{
	struct append_res *r = ctx;
	r->calls++;
	snprintf(r->key, sizeof r->key, "%s", key ? key : "");
	r->cls = e ? e->cls : ERR_NONE;
}

static int append_one(struct store *s, const char *data, size_t len, const struct flagset *f,
		      int64_t idate, struct append_res *r, struct err *e)
{
	struct store_writer *w;
	if (s->ops->append_begin(s, f, idate, len, &w, e) < 0)
		return -1;
	for (size_t off = 0; off < len; off += 7000) {
		size_t n = len - off < 7000 ? len - off : 7000;
		if (s->ops->append_write(w, data + off, n, e) < 0) {
			s->ops->append_end(w, 0, NULL, NULL, e);
			return -1;
		}
	}
	return s->ops->append_end(w, 1, append_cb, r, e);
}

static void t_big(void)
{
	struct buf m = BUF_INIT(BUF_MAX_DEFAULT);
	new_user("big");
	make_msg(&m, "big", 5u << 20);
	deliver("INBOX", &m);
	struct store *s = open_store(0);
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	struct collect c = { .keep = 0 };
	struct store_sink sink = { c_begin, c_write, c_end, &c };
	const char *keys[] = { "1" };
	long before = maxrss_kb();
	CHECK_INT(s->ops->fetch(s, keys, 1, &sink, &e), 0);
	long grew = maxrss_kb() - before;
	CHECK_INT(c.n, 1);
	CHECK_INT(c.v[0].ok, 1);
	CHECK_INT(c.bytes, m.len);
	/* streamed: no chunk near the message size, memory not grown by it */
	CHECK(c.max_chunk <= (1u << 20));
	CHECK(grew < 2500);
	fprintf(stderr, "5 MB fetch: max chunk %zu bytes, maxrss grew %ld KiB\n", c.max_chunk,
		grew);
	collect_free(&c);

	/* and back up (the spooled append path) */
	struct append_res r = { 0 };
	CHECK_INT(append_one(s, m.data, m.len, NULL, -1, &r, &e), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	CHECK_INT(r.calls, 1);
	CHECK_STR(r.key, "2");
	s->ops->close(s);
	CHECK_INT(dv_status("INBOX", "messages"), 2);
	buf_release(&m);
}

static void t_append(void)
{
	new_user("append");
	doveadm("mailbox create -u '%s' Target", user);
	struct store *s = open_store(0);
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "Target", 0, &st, &e), 0);
	struct buf m[3];
	struct append_res r[3];
	memset(r, 0, sizeof r);
	struct flagset f[3];
	const int64_t idate = 1672653600; /* 2023-01-02 10:00:00 UTC */
	for (int i = 0; i < 3; i++) {
		char id[16];
		snprintf(id, sizeof id, "a%d", i);
		buf_init(&m[i], 0);
		make_msg(&m[i], id, (size_t)i * 500);
		flagset_init(&f[i]);
	}
	f[0].sys = MF_SEEN | MF_FLAGGED;
	flagset_add_kw(&f[0], "$Forwarded");
	flagset_add_kw(&f[0], "work");
	f[1].sys = MF_ANSWERED | MF_DRAFT;
	for (int i = 0; i < 3; i++)
		CHECK_INT(append_one(s, m[i].data, m[i].len, &f[i], idate + i * 3600, &r[i], &e), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	for (int i = 0; i < 3; i++) {
		char key[8];
		snprintf(key, sizeof key, "%d", i + 1);
		CHECK_INT(r[i].calls, 1);
		CHECK_STR(r[i].key, key);
	}
	/* a size mismatch is refused */
	struct store_writer *w;
	CHECK_INT(s->ops->append_begin(s, NULL, -1, 10, &w, &e), 0);
	CHECK_INT(s->ops->append_write(w, "12345", 5, &e), 0);
	struct append_res rx = { 0 };
	CHECK_INT(s->ops->append_end(w, 1, append_cb, &rx, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);

	struct store_listing l;
	CHECK_INT(s->ops->open_box(s, "Target", 0, &st, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, 3);
	for (size_t i = 0; i < l.n && i < 3; i++) {
		CHECK(flagset_equal(&l.msgs[i].flags, &f[i]));
		CHECK_INT(l.msgs[i].idate, idate + (int64_t)i * 3600);
		CHECK_INT(l.msgs[i].size, m[i].len);
	}
	store_listing_free(&l);
	struct collect c = { .keep = 1 };
	struct store_sink sink = { c_begin, c_write, c_end, &c };
	const char *keys[] = { "1", "2", "3" };
	CHECK_INT(s->ops->fetch(s, keys, 3, &sink, &e), 0);
	for (int i = 0; i < 3; i++)
		CHECK(c.v[i].data.len == m[i].len && !memcmp(c.v[i].data.data, m[i].data, m[i].len));
	collect_free(&c);
	s->ops->close(s);

	/* without UIDPLUS the key is unknown */
	s = open_store(IMAP_STORE_NO_UIDPLUS);
	CHECK_INT(s->ops->open_box(s, "Target", 0, &st, &e), 0);
	struct append_res r4 = { 0 };
	CHECK_INT(append_one(s, m[0].data, m[0].len, NULL, -1, &r4, &e), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	CHECK_INT(r4.calls, 1);
	CHECK_STR(r4.key, "");
	CHECK_INT(r4.cls, ERR_NONE);
	s->ops->close(s);
	CHECK_INT(dv_status("Target", "messages"), 4);
	for (int i = 0; i < 3; i++) {
		buf_release(&m[i]);
		flagset_free(&f[i]);
	}
}

static void t_flags(void)
{
	new_user("flags");
	deliver_many("INBOX", "x", 10);
	/* another client's \Deleted message that our expunge must not remove */
	doveadm("flags add -u '%s' '\\Deleted' mailbox INBOX uid 10", user);
	struct store *s = open_store(0);
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	struct flagset add, del;
	flagset_init(&add);
	flagset_init(&del);
	add.sys = MF_SEEN | MF_FLAGGED;
	flagset_add_kw(&add, "$Junk");
	const char *k1[] = { "1", "2", "3", "5", "7" };
	CHECK_INT(s->ops->set_flags(s, k1, 5, &add, &del, &e), 0);
	flagset_free(&add);
	flagset_init(&add);
	del.sys = MF_FLAGGED;
	flagset_add_kw(&del, "$Junk");
	const char *k2[] = { "2", "3" };
	CHECK_INT(s->ops->set_flags(s, k2, 2, &add, &del, &e), 0);
	const char *k3[] = { "4", "6" };
	CHECK_INT(s->ops->expunge(s, k3, 2, &e), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);

	struct store_listing l;
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, 8);
	CHECK(find_msg(&l, 4) == NULL && find_msg(&l, 6) == NULL);
	CHECK(find_msg(&l, 10) != NULL); /* not ours to expunge */
	const struct store_msg *x;
	if ((x = find_msg(&l, 1))) {
		CHECK_INT(x->flags.sys, MF_SEEN | MF_FLAGGED);
		CHECK(flagset_has_kw(&x->flags, "$Junk"));
	}
	if ((x = find_msg(&l, 2))) {
		CHECK_INT(x->flags.sys, MF_SEEN);
		CHECK_INT(x->flags.nkw, 0);
	}
	if ((x = find_msg(&l, 8)))
		CHECK_INT(x->flags.sys, 0);
	store_listing_free(&l);
	/* a failing pipelined write is reported by flush */
	const char *k4[] = { "1" };
	flagset_free(&add);
	flagset_init(&add);
	flagset_add_kw(&add, "bad(kw");
	flagset_free(&del);
	flagset_init(&del);
	if (s->ops->set_flags(s, k4, 1, &add, &del, &e) == 0)
		CHECK_INT(s->ops->flush(s, &e), -1);
	CHECK_INT(s->ops->flush(s, &e), 0);
	flagset_free(&add);
	flagset_free(&del);
	s->ops->close(s);
	CHECK_INT(dv_status("INBOX", "messages"), 8);

	/* without UIDPLUS expunge is refused */
	s = open_store(IMAP_STORE_NO_UIDPLUS);
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	const char *k5[] = { "1" };
	CHECK_INT(s->ops->expunge(s, k5, 1, &e), -1);
	CHECK_INT(e.cls, ERR_PERM);
	CHECK(strstr(e.msg, "UIDPLUS") != NULL);
	s->ops->close(s);
	CHECK_INT(dv_status("INBOX", "messages"), 8);
}

static int box_listed(struct store *s, const char *name)
{
	struct store_box *v;
	size_t n;
	struct err e;
	int found = 0;
	if (s->ops->list_boxes(s, &v, &n, &e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			found = 1;
	store_boxes_free(v, n);
	return found;
}

/* Many messages: pipelined appends, then a fetch, flag change and expunge
 * over scattered UIDs (several bounded UID sets per command kind). */
/* Append n messages "<prefix><i>" (make_msg with (i % 7) * 80 extra
 * bytes, m is scratch) to the open mailbox, their results into r[]. */
static void append_made(struct store *s, const char *prefix, int n, struct append_res *r,
			struct buf *m)
{
	struct err e = { 0 };
	for (int i = 0; i < n; i++) {
		char id[16];
		snprintf(id, sizeof id, "%s%d", prefix, i);
		make_msg(m, id, (size_t)(i % 7) * 80);
		if (append_one(s, m->data, m->len, NULL, -1, &r[i], &e) < 0) {
			fprintf(stderr, "append %d: %s\n", i, e.msg);
			CHECK(0);
			return;
		}
	}
}

static void t_many(void)
{
	enum { N = 1500 };
	new_user("many");
	doveadm("mailbox create -u '%s' Bulk", user);
	struct store *s = open_store(0);
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "Bulk", 0, &st, &e), 0);
	static struct append_res r[N];
	struct buf m = BUF_INIT(BUF_MAX_DEFAULT);
	append_made(s, "n", N, r, &m);
	CHECK_INT(s->ops->flush(s, &e), 0);
	int ok = 0;
	for (int i = 0; i < N; i++)
		ok += r[i].calls == 1 && atoi(r[i].key) == i + 1;
	CHECK_INT(ok, N);

	/* every third message, newest first */
	static char kb[N][12];
	static const char *keys[N];
	size_t nk = 0;
	for (int i = N - 1; i >= 0; i -= 3) {
		snprintf(kb[nk], sizeof kb[nk], "%d", i + 1);
		keys[nk] = kb[nk];
		nk++;
	}
	static struct collect c;
	memset(&c, 0, sizeof c);
	c.keep = 1;
	struct store_sink sink = { c_begin, c_write, c_end, &c };
	CHECK_INT(s->ops->fetch(s, keys, nk, &sink, &e), 0);
	CHECK_INT(c.n, nk);
	int good = 0;
	for (size_t i = 0; i < c.n; i++) {
		char id[16];
		int idx = atoi(c.v[i].key) - 1;
		snprintf(id, sizeof id, "n%d", idx);
		make_msg(&m, id, (size_t)(idx % 7) * 80);
		good += c.v[i].ok == 1 && c.v[i].data.len == m.len &&
			!memcmp(c.v[i].data.data, m.data, m.len);
	}
	CHECK_INT(good, nk);
	collect_free(&c);

	struct flagset add, del;
	flagset_init(&add);
	flagset_init(&del);
	add.sys = MF_SEEN;
	flagset_add_kw(&add, "$Bulk");
	CHECK_INT(s->ops->set_flags(s, keys, nk, &add, &del, &e), 0);
	CHECK_INT(s->ops->expunge(s, keys, 100, &e), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	struct store_listing l;
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, N - 100);
	size_t seen = 0;
	for (size_t i = 0; i < l.n; i++)
		seen += (l.msgs[i].flags.sys & MF_SEEN) && flagset_has_kw(&l.msgs[i].flags, "$Bulk");
	CHECK_INT(seen, nk - 100);
	store_listing_free(&l);
	flagset_free(&add);
	flagset_free(&del);
	buf_release(&m);
	s->ops->close(s);
	CHECK_INT(dv_status("Bulk", "messages"), N - 100);
	CHECK_INT(dv_status("Bulk", "unseen"), N - nk);
}

static void t_boxes(void)
{
	new_user("boxes");
	struct store *s = open_store(0);
	struct err e = { 0 };
	struct buf out = BUF_INIT(1 << 20);
	CHECK_INT(s->ops->create_box(s, "Entwürfe", &e), 0);
	CHECK_INT(s->ops->create_box(s, "日本語/Unter", &e), 0);
	CHECK_INT(s->ops->create_box(s, "Entwürfe", &e), -1);
	CHECK_INT(e.cls, ERR_EXISTS);
	CHECK_INT(box_listed(s, "Entwürfe"), 1);
	CHECK_INT(box_listed(s, "日本語/Unter"), 1);
	capture(&out, "'%s' doveadm '%s' mailbox list -u '%s'", dc_script, dc_dir, user);
	CHECK(strstr(out.data, "Entwürfe\n") != NULL);
	CHECK(strstr(out.data, "日本語/Unter\n") != NULL);

	struct store_box_state st;
	CHECK_INT(s->ops->open_box(s, "Entwürfe", 0, &st, &e), 0);
	CHECK_INT(s->ops->rename_box(s, "Entwürfe", "Entwürfe alt", &e), 0);
	CHECK_INT(box_listed(s, "Entwürfe alt"), 1);
	CHECK_INT(box_listed(s, "Entwürfe"), 0);
	CHECK_INT(s->ops->rename_box(s, "Nichts", "Etwas", &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(s->ops->rename_box(s, "Entwürfe alt", "日本語/Unter", &e), -1);
	CHECK_INT(e.cls, ERR_EXISTS);
	CHECK_INT(s->ops->delete_box(s, "日本語/Unter", &e), 0);
	CHECK_INT(box_listed(s, "日本語/Unter"), 0);
	CHECK_INT(s->ops->delete_box(s, "日本語/Unter", &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(s->ops->open_box(s, "Nichts", 0, &st, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(s->ops->list_msgs(s, NULL, &(struct store_listing){ 0 }, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
	capture(&out, "'%s' doveadm '%s' mailbox list -u '%s'", dc_script, dc_dir, user);
	CHECK(strstr(out.data, "Entwürfe alt\n") != NULL);
	CHECK(strstr(out.data, "Unter") == NULL);
	buf_release(&out);
	s->ops->close(s);
}

/* IMAP -> IMAP: a fetch from one account streams, through the sink, into
 * appends on another connection (as the executor pairs two IMAP stores). */
struct pipe_ctx {
	struct store *dst;
	struct store_writer *w;
	int appended, failed;
	char keys[16][16];
};

static void pipe_appended(void *ctx, const char *key, const struct err *e)
{
	struct pipe_ctx *p = ctx;
	if (e || !key) {
		p->failed++;
		return;
	}
	if (p->appended < 16)
		snprintf(p->keys[p->appended], sizeof p->keys[0], "%s", key);
	p->appended++;
}

static int pipe_begin(void *ctx, const struct store_msg *meta, struct err *e)
{
	struct pipe_ctx *p = ctx;
	struct flagset f;
	flagset_init(&f);
	f.sys = MF_SEEN;
	int rc = p->dst->ops->append_begin(p->dst, &f, 1672653600, meta->size, &p->w, e);
	flagset_free(&f);
	return rc;
}

static int pipe_write(void *ctx, const void *d, size_t n, struct err *e)
{
	struct pipe_ctx *p = ctx;
	return p->dst->ops->append_write(p->w, d, n, e);
}

static int pipe_end(void *ctx, int ok, struct err *e)
{
	struct pipe_ctx *p = ctx;
	struct err e2;
	if (!p->w)
		return 0;
	int rc = p->dst->ops->append_end(p->w, ok, pipe_appended, p, ok ? e : &e2);
	p->w = NULL;
	return rc;
}

static void t_copy(void)
{
	struct buf m[6];
	new_user("copy-dst");
	doveadm("mailbox create -u '%s' Copied", user);
	struct store *dst = open_store(0);
	new_user("copy-src");
	for (int i = 0; i < 6; i++) {
		char id[16];
		snprintf(id, sizeof id, "c%d", i);
		buf_init(&m[i], 0);
		make_msg(&m[i], id, (size_t)i * 20000);
		deliver("INBOX", &m[i]);
	}
	struct store *src = open_store(0);
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(src->ops->open_box(src, "INBOX", 1, &st, &e), 0);
	CHECK_INT(dst->ops->open_box(dst, "Copied", 0, &st, &e), 0);
	struct pipe_ctx p = { .dst = dst };
	struct store_sink sink = { pipe_begin, pipe_write, pipe_end, &p };
	const char *keys[] = { "1", "2", "3", "4", "5", "6" };
	CHECK_INT(src->ops->fetch(src, keys, 6, &sink, &e), 0);
	CHECK_INT(dst->ops->flush(dst, &e), 0);
	CHECK_INT(p.appended, 6);
	CHECK_INT(p.failed, 0);
	/* the copies, byte for byte, with the flag and date given */
	struct collect c = { .keep = 1 };
	struct store_sink cs = { c_begin, c_write, c_end, &c };
	CHECK_INT(dst->ops->fetch(dst, keys, 6, &cs, &e), 0);
	CHECK_INT(c.n, 6);
	for (size_t i = 0; i < c.n; i++) {
		int idx = atoi(c.v[i].key) - 1;
		CHECK(idx >= 0 && idx < 6 && c.v[i].data.len == m[idx].len &&
		      !memcmp(c.v[i].data.data, m[idx].data, m[idx].len));
	}
	collect_free(&c);
	struct store_listing l;
	CHECK_INT(dst->ops->list_msgs(dst, NULL, &l, &e), 0);
	CHECK_INT(l.n, 6);
	for (size_t i = 0; i < l.n; i++) {
		CHECK_INT(l.msgs[i].flags.sys, MF_SEEN);
		CHECK_INT(l.msgs[i].idate, 1672653600);
	}
	store_listing_free(&l);
	src->ops->close(src);
	dst->ops->close(dst);
	for (int i = 0; i < 6; i++)
		buf_release(&m[i]);
}

/* ------------------------------------------------------------------ */
/* A scripted fake server on 127.0.0.1 (for races Dovecot cannot be made
 * to show on demand).                                                   */

struct script_step {
	const char *expect; /* substring of the command after the tag */
	const char *reply;  /* untagged lines (CRLF included), then "TAG OK" */
};

struct fake {
	int lfd;
	const struct script_step *steps;
	size_t nsteps;
	int mismatches;
};

static void *fake_run(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	const char *greet = "* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] fake ready\r\n";
	if (write(fd, greet, strlen(greet)) < 0)
		return NULL;
	char line[4096];
	size_t len = 0, step = 0;
	for (;;) {
		char ch;
		if (read(fd, &ch, 1) != 1)
			break;
		if (len + 1 < sizeof line)
			line[len++] = ch;
		if (ch != '\n')
			continue;
		line[len] = '\0';
		len = 0;
		char tag[32];
		if (sscanf(line, "%31s", tag) != 1)
			break;
		const char *cmd = line + strlen(tag) + 1;
		struct buf out = BUF_INIT(1 << 20);
		if (!strncmp(cmd, "LOGOUT", 6)) {
			buf_addf(&out, "* BYE bye\r\n%s OK done\r\n", tag);
		} else if (step < f->nsteps && strstr(cmd, f->steps[step].expect)) {
			buf_addf(&out, "%s%s OK done\r\n", f->steps[step].reply, tag);
			step++;
		} else {
			fprintf(stderr, "fake server: unexpected %s", line);
			f->mismatches++;
			buf_addf(&out, "%s BAD unexpected\r\n", tag);
		}
		ssize_t w = write(fd, out.data, out.len);
		buf_release(&out);
		if (w < 0 || !strncmp(cmd, "LOGOUT", 6))
			break;
	}
	close(fd);
	return NULL;
}

/* List the rest of the open mailbox window by window into seen[]. */
static void window_rest(struct store *s, struct imap_window *w, size_t max, uint32_t *seen,
			size_t *nseen, size_t cap)
{
	struct err e = { 0 };
	for (int guard = 0; guard < 100; guard++) {
		struct store_listing l;
		CHECK_INT(imap_store_list_window(s, w, max, &l, &e), 0);
		if (l.n == 0) {
			store_listing_free(&l);
			return;
		}
		CHECK(l.n <= max);
		for (size_t i = 0; i < l.n && *nseen < cap; i++) {
			CHECK(l.msgs[i].size > 0 && l.msgs[i].idate > 0);
			CHECK(*nseen == 0 || l.msgs[i].uid > seen[*nseen - 1]);
			seen[(*nseen)++] = l.msgs[i].uid;
		}
		store_listing_free(&l);
	}
	CHECK(0); /* never done */
}

static void t_window(void)
{
	enum { N = 30, MAX = 8 };
	new_user("window");
	doveadm("mailbox create -u '%s' Win", user);
	struct store *s = open_store_opt(0, 1);
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(s->ops->open_box(s, "Win", 0, &st, &e), 0);
	static struct append_res r[N];
	struct buf m = BUF_INIT(BUF_MAX_DEFAULT);
	append_made(s, "w", N, r, &m);
	CHECK_INT(s->ops->flush(s, &e), 0);
	/* UIDs 3 and 4 gone before the listing: windows go by sequence */
	doveadm("expunge -u '%s' mailbox Win uid 3:4", user);
	CHECK_INT(s->ops->open_box(s, "Win", 0, &st, &e), 0);

	struct imap_window w = { 0 };
	struct store_listing l;
	CHECK_INT(imap_store_list_window(s, &w, MAX, &l, &e), 0);
	static const uint32_t first[MAX] = { 1, 2, 5, 6, 7, 8, 9, 10 };
	CHECK_INT(l.n, MAX);
	for (size_t i = 0; i < l.n && i < MAX; i++)
		CHECK_INT(l.msgs[i].uid, first[i]);
	/* the window's own map serves the fetch (no UID pass) */
	size_t mark = sent.len;
	static struct collect c;
	memset(&c, 0, sizeof c);
	struct store_sink sink = { c_begin, c_write, c_end, &c };
	const char *keys[] = { l.msgs[2].key, l.msgs[7].key };
	CHECK_INT(s->ops->fetch(s, keys, 2, &sink, &e), 0);
	CHECK_INT(c.n, 2);
	CHECK(!sent_has(mark, "(UID)\n"));
	collect_free(&c);
	store_listing_free(&l);

	/* expunged elsewhere, and announced (by the flag change) before the
	 * next window: two inside the last window, one below and one ahead */
	doveadm("expunge -u '%s' mailbox Win uid 2,6,7,12", user);
	const char *one[] = { "1" };
	struct flagset add, del;
	flagset_init(&add);
	flagset_init(&del);
	add.sys = MF_FLAGGED;
	CHECK_INT(s->ops->set_flags(s, one, 1, &add, &del, &e), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	uint32_t seen[N];
	size_t nseen = 0;
	window_rest(s, &w, MAX, seen, &nseen, N);
	/* 11..30 less 12: 19 UIDs, each once, in order */
	CHECK_INT(nseen, 19);
	for (size_t i = 0, u = 11; i < nseen; i++, u++) {
		if (u == 12)
			u++;
		CHECK_INT(seen[i], u);
	}
	buf_release(&m);
	s->ops->close(s);
}

static void t_shift(void)
{
	static const struct script_step steps[] = {
		{ "LIST", "* LIST (\\Noselect) \"/\" \"\"\r\n" },
		{ "SELECT", "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 4] x\r\n" },
		/* round 1: the map says seq 1..3 = UID 1..3 ... */
		{ "UID FETCH 1:3 (UID)\r",
		  "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\n" },
		/* ... but UID 1 is expunged before the bodies go out */
		{ "UID FETCH 1:3 (UID BODY.PEEK[])",
		  "* 1 EXPUNGE\r\n* 1 FETCH (UID 2 BODY[] {5}\r\nbody2)\r\n"
		  "* 2 FETCH (UID 3 BODY[] {5}\r\nbody3)\r\n" },
		/* round 2: UID 3 never began (its body came under the wrong
		 * sequence number), so it alone is fetched again */
		{ "UID FETCH 3 (UID)\r", "* 2 FETCH (UID 3)\r\n" },
		{ "UID FETCH 3 (UID BODY.PEEK[])", "* 2 FETCH (UID 3 BODY[] {5}\r\nbody3)\r\n" },
	};
	struct fake f = { .steps = steps, .nsteps = sizeof steps / sizeof steps[0] };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof sa;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (f.lfd < 0 || bind(f.lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(f.lfd, 1) < 0 || getsockname(f.lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("fake server");
		CHECK(0);
		return;
	}
	pthread_t th;
	pthread_create(&th, NULL, fake_run, &f);
	char portbuf[16];
	snprintf(portbuf, sizeof portbuf, "%u", ntohs(sa.sin_port));
	struct imap_store_opts o = { 0 };
	o.host = "127.0.0.1";
	o.port = portbuf;
	o.tls = IMAP_TLS_NONE;
	o.user = "u";
	o.pass = "p";
	if (getenv("MF_TRACE"))
		o.trace = trace;
	struct store *s = NULL;
	struct err e = { 0 };
	CHECK_INT(imap_store_open(&o, &s, &e), 0);
	if (!s) {
		fprintf(stderr, "open: %s\n", e.msg);
		close(f.lfd);
		pthread_join(th, NULL);
		return;
	}
	struct store_box_state st;
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	struct collect c = { .keep = 1 };
	struct store_sink sink = { c_begin, c_write, c_end, &c };
	const char *keys[] = { "1", "2", "3" };
	CHECK_INT(s->ops->fetch(s, keys, 3, &sink, &e), 0);
	/* every ok=1 message carries its own body; begin() once per key; the
	 * two begun under a stale map end ok = 0 (temporary) */
	int ok2 = 0, ok3 = 0, gone1 = 0, temp = 0;
	CHECK_INT(c.n, 3);
	for (size_t i = 0; i < c.n; i++)
		for (size_t k = i + 1; k < c.n; k++)
			CHECK(strcmp(c.v[i].key, c.v[k].key) != 0);
	for (size_t i = 0; i < c.n; i++) {
		const struct got *g = &c.v[i];
		if (g->ok == 1) {
			char want[32];
			snprintf(want, sizeof want, "body%s", g->key);
			CHECK(g->data.len == 5 && !memcmp(g->data.data, want, 5));
			ok2 += !strcmp(g->key, "2");
			ok3 += !strcmp(g->key, "3");
			CHECK(strcmp(g->key, "1") != 0);
		} else if (!strcmp(g->key, "1") && g->cls == ERR_GONE) {
			gone1++;
		} else if (g->cls == ERR_TEMP) {
			temp++;
		}
	}
	CHECK_INT(ok2, 0);
	CHECK_INT(ok3, 1);
	CHECK_INT(gone1, 0);
	CHECK_INT(temp, 2);
	collect_free(&c);
	s->ops->close(s);
	pthread_join(th, NULL);
	close(f.lfd);
	CHECK_INT(f.mismatches, 0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s SCENARIO\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "unit")) {
		t_unit();
		return test_done();
	}
	if (!strcmp(argv[1], "shift")) {
		t_shift();
		return test_done();
	}
	dc_dir = getenv("MF_DOVECOT_DIR");
	dc_script = getenv("MF_DOVECOT");
	ca_file = getenv("MF_TEST_CA");
	port = getenv("MF_IMAP_PORT");
	if (!dc_dir || !dc_script || !ca_file || !port) {
		fputs("no Dovecot fixture (run tests/check.sh)\n", stderr);
		return 77;
	}
	static const struct {
		const char *name;
		void (*fn)(void);
	} scenarios[] = {
		{ "list", t_list },     { "listing", t_listing }, { "fetch", t_fetch },
		{ "big", t_big },       { "append", t_append },   { "flags", t_flags },
		{ "boxes", t_boxes },   { "many", t_many },       { "copy", t_copy },
		{ "window", t_window },
	};
	for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
		if (strcmp(argv[1], scenarios[i].name) != 0)
			continue;
		scenarios[i].fn();
		if (!strcmp(argv[1], "fetch"))
			t_headers_many();
		return test_done();
	}
	fprintf(stderr, "unknown scenario '%s'\n", argv[1]);
	return 2;
}
