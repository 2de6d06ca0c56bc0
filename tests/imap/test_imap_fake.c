/*
 * test_imap_fake.c — the IMAP client against a scripted fake server (a
 * forked child on a localhost listener), for what Dovecot will not send:
 * BYE in the middle of a command, a connection cut inside a literal,
 * garbage, odd greetings, every NO code, refused synchronizing literals,
 * LITERAL-, out-of-order tagged replies, unsolicited data, AUTHENTICATE
 * without SASL-IR, and the plaintext/STARTTLS policies (the server records
 * what it received, so "nothing was sent" is checked on the wire).
 * Needs no Dovecot.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "imap/imap_client.h"
#include "imap/imap_io.h"
#include "lib/buf.h"
#include "testlib.h"
#include "lib/banned.h"

/* ------------------------------------------------------------------ */
/* The fake server                                                      */

/* Script steps: 'S' send (with %T = tag of the last command read), 'R' read
 * one command (literals included: "+ go" for synchronizing ones), 'N' read
 * a command line up to a literal header and refuse it (send text, no "+"),
 * 'W' read until EOF, 'C' close. */
struct step {
	char op;
	const char *text;
};

struct fake {
	int lfd;
	char port[16];
	pid_t pid;
	int logpipe[2];
	struct buf got; /* what the server received (parent side, after end) */
};

struct conn {
	int fd;
	char tag[32];
	struct buf in;
	struct buf log;
	int zip;              /* COMPRESS=DEFLATE active (step 'Z') */
	z_stream zin, zout;
};

static int conn_fill(struct conn *c)
{
	char tmp[8192], out[65536];
	ssize_t n = read(c->fd, tmp, sizeof(tmp));

	if (n <= 0)
		return -1;
	if (!c->zip) {
		buf_add(&c->in, tmp, (size_t)n);
		buf_add(&c->log, tmp, (size_t)n);
		return 0;
	}
	c->zin.next_in = (Bytef *)tmp;
	c->zin.avail_in = (uInt)n;
	do {
		c->zin.next_out = (Bytef *)out;
		c->zin.avail_out = sizeof(out);
		int z = inflate(&c->zin, Z_SYNC_FLUSH);
		if (z < 0 && z != Z_BUF_ERROR)
			_exit(4);
		size_t got = sizeof(out) - c->zin.avail_out;
		buf_add(&c->in, out, got);
		buf_add(&c->log, out, got);
	} while (c->zin.avail_in > 0 || c->zin.avail_out == 0);
	return 0;
}

static void conn_write(struct conn *c, const void *p, size_t n)
{
	char out[65536];

	if (!c->zip) {
		if (write(c->fd, p, n) < 0)
			_exit(3);
		return;
	}
	c->zout.next_in = (Bytef *)p;
	c->zout.avail_in = (uInt)n;
	do {
		c->zout.next_out = (Bytef *)out;
		c->zout.avail_out = sizeof(out);
		deflate(&c->zout, Z_SYNC_FLUSH);
		if (write(c->fd, out, sizeof(out) - c->zout.avail_out) < 0)
			_exit(3);
	} while (c->zout.avail_out == 0);
}

/* One line (without CRLF) into out; -1 at EOF. */
static int conn_line(struct conn *c, struct buf *out)
{
	for (;;) {
		char *nl = memchr(c->in.data, '\n', c->in.len);
		if (nl) {
			size_t n = (size_t)(nl - c->in.data);
			buf_set(out, c->in.data, n && nl[-1] == '\r' ? n - 1 : n);
			buf_consume(&c->in, n + 1);
			return 0;
		}
		if (conn_fill(c) < 0)
			return -1;
	}
}

static int conn_skip(struct conn *c, size_t n)
{
	while (c->in.len < n)
		if (conn_fill(c) < 0)
			return -1;
	buf_consume(&c->in, n);
	return 0;
}

/* Damage applied to what 'M' steps send (the mutation test): the byte at
 * offset `pos` of their concatenated output is replaced by `byte`, or with
 * `cut` the connection is closed just before it. Set before fork. */
static struct {
	int on;
	long pos;
	int byte;
	int cut;
	long sent;
} mut;

static void conn_send_m(struct conn *c, const char *text, int mutate)
{
	struct buf b = BUF_INIT(1 << 20);

	for (const char *p = text; *p; p++) {
		if (p[0] == '%' && p[1] == 'T') {
			buf_addstr(&b, c->tag);
			p++;
		} else {
			buf_addch(&b, *p);
		}
	}
	if (mutate && mut.on && mut.pos >= mut.sent && mut.pos < mut.sent + (long)b.len) {
		size_t at = (size_t)(mut.pos - mut.sent);
		if (mut.cut) {
			if (write(c->fd, b.data, at) < 0)
				_exit(3);
			shutdown(c->fd, SHUT_RDWR);
			_exit(0);
		}
		b.data[at] = (char)mut.byte;
	}
	if (mutate)
		mut.sent += (long)b.len;
	conn_write(c, b.data, b.len);
	buf_release(&b);
}

static void conn_send(struct conn *c, const char *text)
{
	conn_send_m(c, text, 0);
}

/* Literal header at the end of a line: size, and *sync_r. -1 if none. */
static long long lit_header(const struct buf *line, int *sync_r)
{
	if (line->len < 3 || line->data[line->len - 1] != '}')
		return -1;
	const char *open = strrchr(line->data, '{');
	if (!open)
		return -1;
	*sync_r = line->data[line->len - 2] != '+';
	return strtoll(open + 1, NULL, 10);
}

static void note_tag(struct conn *c, const struct buf *line)
{
	size_t n = strcspn(line->data, " ");

	if (line->data[0] == 'A' && n > 1 && n < sizeof(c->tag) &&
	    strspn(line->data + 1, "0123456789") == n - 1)
		snprintf(c->tag, sizeof(c->tag), "%.*s", (int)n, line->data);
}

static int conn_read_cmd(struct conn *c, int refuse, const char *refusal)
{
	struct buf line = BUF_INIT(1 << 20);
	int sync, first = 1;

	for (;;) {
		if (conn_line(c, &line) < 0) {
			buf_release(&line);
			return -1;
		}
		if (first)
			note_tag(c, &line);
		first = 0;
		long long n = lit_header(&line, &sync);
		if (n < 0)
			break;
		if (refuse) {
			conn_send(c, refusal);
			break;
		}
		if (sync)
			conn_send(c, "+ go\r\n");
		if (conn_skip(c, (size_t)n) < 0) {
			buf_release(&line);
			return -1;
		}
	}
	buf_release(&line);
	return 0;
}

static void run_server(int fd, const struct step *steps, int logfd)
{
	struct conn c = { .fd = fd, .tag = "*", .in = BUF_INIT(64 << 20), .log = BUF_INIT(64 << 20) };

	for (const struct step *s = steps; s->op; s++) {
		switch (s->op) {
		case 'S':
			conn_send(&c, s->text);
			break;
		case 'M':
			conn_send_m(&c, s->text, 1);
			break;
		case 'Z':
			inflateInit2(&c.zin, -15);
			deflateInit2(&c.zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
				     Z_DEFAULT_STRATEGY);
			c.zip = 1;
			break;
		case 'R':
			conn_read_cmd(&c, 0, NULL);
			break;
		case 'N':
			conn_read_cmd(&c, 1, s->text);
			break;
		case 'W':
			while (conn_fill(&c) == 0)
				;
			break;
		case 'C':
			shutdown(fd, SHUT_RDWR);
			break;
		}
	}
	close(fd);
	if (write(logfd, c.log.data, c.log.len) < 0)
		_exit(3);
	close(logfd);
	_exit(0);
}

static int fake_start(struct fake *f, const char *addr, const struct step *steps)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	int v6 = strchr(addr, ':') != NULL;
	socklen_t sl = v6 ? sizeof(*s6) : sizeof(*s4);

	memset(f, 0, sizeof(*f));
	memset(&ss, 0, sizeof(ss));
	buf_init(&f->got, 64 << 20);
	if (v6) {
		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
	} else {
		s4->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &s4->sin_addr);
	}
	f->lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&ss, sl) < 0 ||
	    listen(f->lfd, 1) < 0 || getsockname(f->lfd, (struct sockaddr *)&ss, &sl) < 0 ||
	    pipe(f->logpipe) < 0) {
		perror("fake server");
		if (f->lfd >= 0)
			close(f->lfd);
		return -1;
	}
	snprintf(f->port, sizeof(f->port), "%u", ntohs(v6 ? s6->sin6_port : s4->sin_port));
	fflush(NULL);
	f->pid = fork();
	if (f->pid == 0) {
		close(f->logpipe[0]);
		int fd = accept(f->lfd, NULL, NULL);
		close(f->lfd);
		if (fd < 0)
			_exit(2);
		run_server(fd, steps, f->logpipe[1]);
	}
	close(f->logpipe[1]);
	close(f->lfd);
	return 0;
}

/* Wait for the server; f->got = what it received. */
static void fake_end(struct fake *f)
{
	char tmp[8192];
	ssize_t n;

	while ((n = read(f->logpipe[0], tmp, sizeof(tmp))) > 0)
		buf_add(&f->got, tmp, (size_t)n);
	close(f->logpipe[0]);
	waitpid(f->pid, NULL, 0);
}

static void fake_free(struct fake *f)
{
	buf_release(&f->got);
}

static void opts_for(struct imap_client_opts *o, const char *host, const struct fake *f,
		     enum imap_tls_mode tls)
{
	memset(o, 0, sizeof(*o));
	o->host = host;
	o->port = f->port;
	o->tls = tls;
	o->connect_timeout_ms = 5000;
	o->read_timeout_ms = 5000;
}

/* Start a fake on 127.0.0.1 and connect a client (plaintext). */
static struct imap_client *connect_fake(struct fake *f, const struct step *steps,
					struct err *e)
{
	struct imap_client_opts o;
	struct imap_client *c = NULL;

	if (fake_start(f, "127.0.0.1", steps) < 0)
		exit(1);
	opts_for(&o, "127.0.0.1", f, IMAP_TLS_NONE);
	if (imap_client_connect(&o, &c, e) < 0)
		return NULL;
	return c;
}

#define CHECK_ERR(call, want_cls, sub)                                                  \
	do {                                                                            \
		err_clear(&e);                                                          \
		int r_ = (call);                                                        \
		if (r_ == 0 || e.cls != (want_cls) || !strstr(e.msg, (sub)))            \
			fprintf(stderr, "%s:%d: %s: got %d %s '%s', want %s '%s'\n",    \
				__FILE__, __LINE__, #call, r_, err_class_name(e.cls),   \
				e.msg, err_class_name(want_cls), (sub));                \
		CHECK(r_ < 0 && e.cls == (want_cls) && strstr(e.msg, (sub)));           \
	} while (0)

#define PREAUTH "* PREAUTH [CAPABILITY IMAP4rev1 UIDPLUS] fake ready\r\n"

/* ------------------------------------------------------------------ */

struct done_rec {
	int called;
	enum err_class cls;
	char msg[ERR_MSG_MAX];
};

static void rec_done(void *ctx, const struct err *e)
{
	struct done_rec *r = ctx;

	r->called = 1;
	r->cls = e ? e->cls : ERR_NONE;
	snprintf(r->msg, sizeof(r->msg), "%s", e ? e->msg : "");
}

static void t_bye_mid_command(void)
{
	static const struct step s[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1] fake\r\n" }, { 'R', NULL },
		{ 'S', "* BYE server shutting down\r\n" }, { 'C', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client *c = connect_fake(&f, s, &e);

	CHECK(c != NULL);
	CHECK_ERR(imap_noop(c, NULL, &e), ERR_TEMP, "127.0.0.1: NOOP: server closed the connection: BYE server shutting down");
	CHECK(imap_client_fatal(c) != NULL);
	CHECK_INT(imap_client_state(c), IMAP_STATE_LOGOUT);
	CHECK_ERR(imap_capability(c, &e), ERR_TEMP, "CAPABILITY: server closed the connection");
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);

	/* Detached commands: the callback gets the error, drain fails. */
	static const struct step s2[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1] fake\r\n" }, { 'R', NULL }, { 'R', NULL },
		{ 'S', "A1 OK fine\r\n* BYE going away\r\n" }, { 'C', NULL }, { 0, NULL },
	};
	struct done_rec r1 = { 0 }, r2 = { 0 };
	struct imap_cmd *h1, *h2;
	c = connect_fake(&f, s2, &e);
	CHECK(imap_noop(c, &h1, &e) == 0);
	CHECK(imap_noop(c, &h2, &e) == 0);
	imap_cmd_on_done(&h1, rec_done, &r1);
	imap_cmd_on_done(&h2, rec_done, &r2);
	CHECK_ERR(imap_client_drain(c, &e), ERR_TEMP, "BYE going away");
	CHECK(r1.called && r1.cls == ERR_NONE);
	CHECK(r2.called && r2.cls == ERR_TEMP && strstr(r2.msg, "NOOP: server closed"));
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);
}

struct sinkstate {
	uint64_t got;
	int fail;
};

static int sb_begin(void *ctx, uint32_t seq, const char *sec, uint64_t size, struct err *e)
{
	(void)ctx, (void)seq, (void)sec, (void)size, (void)e;
	return 1;
}

static int sb_data(void *ctx, const void *p, size_t n, struct err *e)
{
	struct sinkstate *s = ctx;

	(void)p;
	s->got += n;
	if (s->fail)
		return err_set(e, ERR_IO, "disk full (test)");
	return 0;
}

static void t_cut_in_literal(void)
{
	static const struct step s[] = {
		{ 'S', PREAUTH }, { 'R', NULL },
		{ 'S', "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] uv\r\n* OK [UIDNEXT 2] n\r\n"
		       "%T OK [READ-WRITE] done\r\n" },
		{ 'R', NULL }, { 'S', "* 1 FETCH (UID 1 BODY[] {100}\r\nabc" }, { 'C', NULL },
		{ 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client *c = connect_fake(&f, s, &e);
	struct sinkstate ss = { 0 };
	struct imap_fetch_handler h = { .body_begin = sb_begin, .body_data = sb_data, .ctx = &ss };

	CHECK(c != NULL);
	CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);
	CHECK(imap_select(c, "INBOX", NULL, &e) == 0);
	CHECK_INT(imap_client_mailbox(c)->uidvalidity, 7);
	CHECK_INT(imap_client_mailbox(c)->uidnext, 2);
	CHECK_INT(imap_client_mailbox(c)->exists, 1);
	CHECK_ERR(imap_uid_fetch(c, "1", "BODY.PEEK[]", 0, 0, &h, NULL, &e), ERR_TEMP,
		  "127.0.0.1: UID FETCH 1: connection closed by server in the middle of a response");
	CHECK_INT(ss.got, 3);
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);
}

static void t_garbage(void)
{
	static const struct step s[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1] fake\r\n" }, { 'R', NULL },
		{ 'S', "\x01\x02\xff garbage (\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	static const struct step s2[] = {
		{ 'S', "HTTP/1.1 400 Bad Request\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	static const struct step s3[] = {
		{ 'S', "* BYE too many connections\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	static const struct step s4[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1] fake\r\n" }, { 'R', NULL },
		{ 'S', "A99 OK who are you\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client *c = connect_fake(&f, s, &e);

	CHECK(c != NULL);
	CHECK_ERR(imap_noop(c, NULL, &e), ERR_PROTO, "127.0.0.1: NOOP: bad response from server");
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);

	c = connect_fake(&f, s2, &e);
	CHECK(c == NULL);
	CHECK(e.cls == ERR_PROTO);
	CHECK(strstr(e.msg, "127.0.0.1") != NULL);
	fake_end(&f);
	fake_free(&f);

	c = connect_fake(&f, s3, &e);
	CHECK(c == NULL);
	CHECK(e.cls == ERR_TEMP && strstr(e.msg, "too many connections"));
	fake_end(&f);
	fake_free(&f);

	c = connect_fake(&f, s4, &e);
	CHECK_ERR(imap_noop(c, NULL, &e), ERR_PROTO, "NOOP: server answered unknown tag 'A99'");
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);
}

static void t_no_codes(void)
{
	static const struct {
		const char *reply;
		enum err_class cls;
	} tab[] = {
		{ "%T NO [OVERQUOTA] Quota exceeded\r\n", ERR_QUOTA },
		{ "%T NO [TRYCREATE] No such mailbox\r\n", ERR_TRYCREATE },
		{ "%T NO [NONEXISTENT] Unknown mailbox\r\n", ERR_NOTFOUND },
		{ "%T NO [ALREADYEXISTS] Mailbox exists\r\n", ERR_EXISTS },
		{ "%T NO [INUSE] Mailbox in use\r\n", ERR_INUSE },
		{ "%T NO [UNAVAILABLE] Try later\r\n", ERR_TEMP },
		{ "%T NO [SERVERBUG] Oops\r\n", ERR_TEMP },
		{ "%T NO [AUTHENTICATIONFAILED] Bad\r\n", ERR_AUTH },
		{ "%T NO [LIMIT] Too many\r\n", ERR_LIMIT },
		{ "%T NO [CANNOT] Not that\r\n", ERR_PERM },
		{ "%T NO Something else\r\n", ERR_PERM },
		{ "%T BAD Syntax error\r\n", ERR_PERM },
		{ "%T NO [X-UNKNOWN foo] Whatever\r\n", ERR_PERM },
	};
	enum { N = sizeof(tab) / sizeof(tab[0]) };
	struct step s[2 * N + 3];
	size_t k = 0;
	s[k++] = (struct step){ 'S', PREAUTH };
	for (size_t i = 0; i < N; i++) {
		s[k++] = (struct step){ 'R', NULL };
		s[k++] = (struct step){ 'S', tab[i].reply };
	}
	s[k++] = (struct step){ 'W', NULL };
	s[k++] = (struct step){ 0, NULL };

	struct fake f;
	struct err e;
	struct imap_client *c = connect_fake(&f, s, &e);
	CHECK(c != NULL);
	for (size_t i = 0; i < N && c; i++) {
		char want[256];
		/* "%T NO [X] text\r\n" -> "CREATE "x": NO [X] text" */
		snprintf(want, sizeof(want), "127.0.0.1: CREATE \"Fö\": %.*s", (int)(strlen(tab[i].reply) - 5),
			 tab[i].reply + 3);
		CHECK_ERR(imap_create(c, "Fö", NULL, &e), tab[i].cls, want);
	}
	imap_client_free(&c);
	fake_end(&f);
	CHECK(strstr(f.got.data, "CREATE \"F&APY-\"") != NULL);
	fake_free(&f);
}

/* A message source producing `n` bytes of 'x' in 1000-byte chunks. */
struct src {
	uint64_t left;
};

static int src_read(void *ctx, void *buf, size_t cap, size_t *got_r, struct err *e)
{
	struct src *s = ctx;
	size_t n = cap < 1000 ? cap : 1000;

	(void)e;
	if (n > s->left)
		n = (size_t)s->left;
	memset(buf, 'x', n);
	s->left -= n;
	*got_r = n;
	return 0;
}

static void t_sync_literals(void)
{
	static const struct step s[] = {
		{ 'S', PREAUTH }, { 'R', NULL }, { 'S', "%T OK [APPENDUID 9 5] done\r\n" },
		{ 'N', "%T NO [OVERQUOTA] too big\r\n" },
		{ 'R', NULL }, { 'S', "%T OK noop\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client *c = connect_fake(&f, s, &e);
	struct src sr = { 3000 };
	struct imap_append_msg m = { .flags = "\\Seen", .idate = 0,
				     .src = { .size = 3000, .read = src_read, .ctx = &sr } };
	struct imap_uidmap map;

	CHECK(c != NULL);
	CHECK(imap_append(c, "INBOX", &m, &map, NULL, &e) == 0);
	CHECK_INT(map.uidvalidity, 9);
	CHECK_STR(map.dst_uids, "5");
	imap_uidmap_free(&map);
	struct imap_append_msg m2 = { .idate = -1, .src = { .size = 5, .data = "SECRT" } };
	CHECK_ERR(imap_append(c, "INBOX", &m2, &map, NULL, &e), ERR_QUOTA,
		  "APPEND \"INBOX\": NO [OVERQUOTA] too big");
	CHECK(imap_noop(c, NULL, &e) == 0);
	imap_client_free(&c);
	fake_end(&f);
	CHECK(strstr(f.got.data, "APPEND \"INBOX\" (\\Seen) \"01-Jan-1970 00:00:00 +0000\" {3000}\r\n") != NULL);
	CHECK(strstr(f.got.data, "SECRT") == NULL); /* refused literal never sent */
	CHECK(strstr(f.got.data, "{5}\r\nA3 NOOP\r\n") != NULL);
	fake_free(&f);
}

static void t_literal_minus(void)
{
	static const struct step s[] = {
		{ 'S', "* PREAUTH [CAPABILITY IMAP4rev1 LITERAL-] hi\r\n" },
		{ 'R', NULL }, { 'S', "%T OK a\r\n" }, { 'R', NULL }, { 'S', "%T OK b\r\n" },
		{ 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client *c = connect_fake(&f, s, &e);
	struct src s1 = { 100 }, s2 = { 5000 };
	struct imap_append_msg m1 = { .idate = -1, .src = { .size = 100, .read = src_read, .ctx = &s1 } };
	struct imap_append_msg m2 = { .idate = -1, .src = { .size = 5000, .read = src_read, .ctx = &s2 } };

	CHECK(c != NULL);
	CHECK(imap_append(c, "INBOX", &m1, NULL, NULL, &e) == 0);
	CHECK(imap_append(c, "INBOX", &m2, NULL, NULL, &e) == 0);
	imap_client_free(&c);
	fake_end(&f);
	CHECK(strstr(f.got.data, "{100+}\r\n") != NULL);
	CHECK(strstr(f.got.data, "{5000}\r\n") != NULL);
	fake_free(&f);
}

static void t_out_of_order(void)
{
	static const struct step s[] = {
		{ 'S', PREAUTH }, { 'R', NULL }, { 'R', NULL }, { 'R', NULL },
		{ 'S', "A3 OK third\r\nA1 NO [UNAVAILABLE] first\r\nA2 OK second\r\n" },
		{ 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client *c = connect_fake(&f, s, &e);
	struct imap_cmd *h[3];

	CHECK(c != NULL);
	for (int i = 0; i < 3; i++)
		CHECK(imap_noop(c, &h[i], &e) == 0);
	CHECK_STR(imap_cmd_tag(h[0]), "A1");
	CHECK(imap_cmd_wait(c, &h[2], &e) == 0);
	CHECK_ERR(imap_cmd_wait(c, &h[0], &e), ERR_TEMP, "NOOP: NO [UNAVAILABLE] first");
	CHECK(imap_cmd_wait(c, &h[1], &e) == 0);
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);
}

struct evs {
	int exists, expunge, alert, fetch, flags, caps;
	char alert_text[64];
};

static void on_event(void *ctx, const struct imap_event *ev)
{
	struct evs *v = ctx;

	switch (ev->type) {
	case IMAP_EV_EXISTS:
		v->exists++;
		break;
	case IMAP_EV_EXPUNGE:
		v->expunge++;
		break;
	case IMAP_EV_ALERT:
		v->alert++;
		snprintf(v->alert_text, sizeof(v->alert_text), "%s", ev->text);
		break;
	case IMAP_EV_FETCH:
		v->fetch += ev->fetch && (ev->fetch->flags.sys & MF_SEEN);
		break;
	case IMAP_EV_FLAGS:
		v->flags++;
		break;
	case IMAP_EV_CAPS:
		v->caps++;
		break;
	default:
		break;
	}
}

static void t_unsolicited(void)
{
	static const struct step s[] = {
		{ 'S', PREAUTH }, { 'R', NULL },
		{ 'S', "* 2 EXISTS\r\n* FLAGS (\\Seen \\Deleted)\r\n"
		       "* OK [PERMANENTFLAGS (\\Seen \\*)] p\r\n%T OK [READ-ONLY] done\r\n" },
		{ 'R', NULL },
		{ 'S', "* 3 EXISTS\r\n* 2 EXPUNGE\r\n* OK [ALERT] disk almost full\r\n"
		       "* 1 FETCH (UID 4 FLAGS (\\Seen))\r\n* FLAGS (\\Seen foo)\r\n"
		       "* CAPABILITY IMAP4rev1 MOVE\r\n%T OK noop\r\n" },
		{ 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct evs v = { 0 };
	struct imap_client *c = connect_fake(&f, s, &e);

	CHECK(c != NULL);
	imap_client_set_event_cb(c, on_event, &v);
	CHECK(imap_select(c, "INBOX", NULL, &e) == 0);
	const struct imap_mailbox *mb = imap_client_mailbox(c);
	CHECK(mb->read_only);
	CHECK_STR(mb->permanentflags, "\\Seen \\*");
	CHECK(imap_noop(c, NULL, &e) == 0);
	CHECK_INT(mb->exists, 2);
	CHECK_INT(mb->expunged, 1);
	CHECK_STR(mb->flags, "\\Seen foo");
	CHECK_INT(v.exists, 2);
	CHECK_INT(v.expunge, 1);
	CHECK_INT(v.alert, 1);
	CHECK_STR(v.alert_text, "disk almost full");
	CHECK_INT(v.fetch, 1);
	CHECK_INT(v.flags, 2);
	CHECK(v.caps >= 1);
	CHECK(imap_client_has_cap(c, "MOVE"));
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);
}

static void collect(void *ctx, char dir, const char *line, size_t len);

static void t_sink_failure(void)
{
	static char longline[6000];
	static struct step s[] = {
		{ 'S', PREAUTH }, { 'R', NULL }, { 'S', "%T OK selected\r\n" }, { 'R', NULL },
		{ 'S', "* 1 FETCH (UID 1 BODY[] {10}\r\n0123456789)\r\n%T OK done\r\n" },
		{ 'R', NULL }, { 'S', "%T OK noop\r\n" }, { 'R', NULL }, { 'S', longline },
		{ 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct sinkstate ss = { 0, 1 };
	struct imap_fetch_handler h = { .body_begin = sb_begin, .body_data = sb_data, .ctx = &ss };
	struct buf tr = BUF_INIT(1 << 20);

	/* A FETCH line longer than the trace's line cap, then a literal. */
	size_t k = (size_t)snprintf(longline, sizeof(longline), "* 1 FETCH (UID 1 X-LONG (");
	while (k < 4000)
		k += (size_t)snprintf(longline + k, sizeof(longline) - k, "abcdefgh ");
	snprintf(longline + k, sizeof(longline) - k,
		 "end) BODY[] {12}\r\nSECRETSECRET)\r\n%%T OK done\r\n");
	if (fake_start(&f, "127.0.0.1", s) < 0)
		exit(1);
	opts_for(&o, "127.0.0.1", &f, IMAP_TLS_NONE);
	o.trace = collect;
	o.trace_ctx = &tr;
	CHECK(imap_client_connect(&o, &c, &e) == 0);
	CHECK(imap_auth(c, "u", "p", &e) == 0); /* PREAUTH: nothing to do */
	CHECK(c != NULL);
	CHECK(imap_select(c, "INBOX", NULL, &e) == 0);
	CHECK_ERR(imap_uid_fetch(c, "1", "BODY.PEEK[]", 0, 0, &h, NULL, &e), ERR_IO,
		  "disk full (test)");
	CHECK(imap_noop(c, NULL, &e) == 0); /* connection still usable */
	ss.fail = 0;
	ss.got = 0;
	CHECK(imap_uid_fetch(c, "1", "BODY.PEEK[]", 0, 0, &h, NULL, &e) == 0);
	CHECK_INT(ss.got, 12);
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);
	/* Literal bytes never reach the trace, even after an over-long line. */
	CHECK(strstr(tr.data, "< <10 bytes>)\n") != NULL);
	CHECK(strstr(tr.data, "< <12 bytes>)\n") != NULL);
	CHECK(strstr(tr.data, "0123456789") == NULL);
	CHECK(strstr(tr.data, "SECRET") == NULL);
	buf_release(&tr);
}

static void collect(void *ctx, char dir, const char *line, size_t len)
{
	struct buf *b = ctx;

	buf_addch(b, dir);
	buf_addch(b, ' ');
	buf_add(b, line, len);
	buf_addch(b, '\n');
}

static void log_collect(void *ctx, const char *msg)
{
	buf_addstr(ctx, msg);
	buf_addch(ctx, '\n');
}

static void t_auth_no_sasl_ir(void)
{
	static const struct step s[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n" },
		{ 'R', NULL }, { 'S', "+ \r\n" }, { 'R', NULL },
		{ 'S', "%T OK [CAPABILITY IMAP4rev1 X-AFTER] welcome\r\n" },
		{ 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct buf tr = BUF_INIT(1 << 20);

	if (fake_start(&f, "127.0.0.1", s) < 0)
		exit(1);
	opts_for(&o, "127.0.0.1", &f, IMAP_TLS_NONE);
	struct buf lg = BUF_INIT(1 << 20);
	o.trace = collect;
	o.trace_ctx = &tr;
	o.log = log_collect;
	o.log_ctx = &lg;
	CHECK(imap_client_connect(&o, &c, &e) == 0);
	CHECK(imap_auth(c, "user", "pass", &e) == 0 || (fprintf(stderr, "%s\n%s", e.msg, tr.data), 0));
	CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);
	CHECK(imap_client_has_cap(c, "X-AFTER"));
	size_t n;
	imap_client_caps_prelogin(c, &n);
	CHECK_INT(n, 2);
	imap_client_free(&c);
	fake_end(&f);
	CHECK(strstr(f.got.data, "A1 AUTHENTICATE PLAIN\r\nAHVzZXIAcGFzcw==\r\n") != NULL);
	CHECK(strstr(tr.data, "> A1 AUTHENTICATE PLAIN\n") != NULL);
	CHECK(strstr(tr.data, "> <redacted>\n") != NULL);
	CHECK(strstr(tr.data, "AHVzZXIAcGFzcw") == NULL);
	CHECK(strstr(lg.data, "state: not authenticated -> authenticated\n") != NULL);
	buf_release(&tr);
	buf_release(&lg);
	fake_free(&f);
}

/* SCRAM-SHA-256 against a scripted server, with RFC 7677's example
 * exchange: a right one logs in; a server that says OK without proving it
 * knows the password, or proves it wrongly, is refused (the second after
 * the client cancels with "*"). */
#define SCRAM_FIRST "cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxz" \
		    "PVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY="
#define SCRAM_FINAL "dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ=="
#define SCRAM_WRONG "dj1BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBPQ=="
#define SCRAM_C1 "A1 AUTHENTICATE SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=\r\n"
#define SCRAM_C2 "Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhO" \
		 "bEYkazAscD1kSHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ==\r\n"

static void scram_case(const struct step *s, int want_rc, const char *want_msg,
		       const char *want_got)
{
	struct fake f;
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct buf tr = BUF_INIT(1 << 20);

	if (fake_start(&f, "127.0.0.1", s) < 0)
		exit(1);
	opts_for(&o, "127.0.0.1", &f, IMAP_TLS_NONE);
	o.trace = collect;
	o.trace_ctx = &tr;
	CHECK(imap_client_connect(&o, &c, &e) == 0);
	err_clear(&e);
	int rc = imap_authenticate_scram(c, IMAP_SCRAM_SHA256, "user", "pencil",
					 "rOprNGfwEbeRWgbNEkqO", &e);
	CHECK_INT(rc, want_rc);
	if (want_rc == 0) {
		CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);
	} else {
		CHECK_INT(e.cls, ERR_AUTH);
		if (!strstr(e.msg, want_msg))
			fprintf(stderr, "got '%s', want '%s'\n", e.msg, want_msg);
		CHECK(strstr(e.msg, want_msg) != NULL);
		CHECK(imap_client_state(c) != IMAP_STATE_AUTHENTICATED || imap_noop(c, NULL, &e) < 0);
	}
	imap_client_free(&c);
	fake_end(&f);
	if (!strstr(f.got.data, want_got))
		fprintf(stderr, "server got:\n%s\n", f.got.data);
	CHECK(strstr(f.got.data, want_got) != NULL);
	CHECK(strstr(tr.data, "> A1 AUTHENTICATE SCRAM-SHA-256") != NULL);
	CHECK(strstr(tr.data, "<redacted>\n") != NULL);
	CHECK(strstr(tr.data, "Yz1iaXdz") == NULL); /* the proof is not in the trace */
	buf_release(&tr);
	fake_free(&f);
}

static void t_scram(void)
{
	static const struct step good[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256] hi\r\n" },
		{ 'R', NULL }, { 'S', "+ " SCRAM_FIRST "\r\n" }, { 'R', NULL },
		{ 'S', "+ " SCRAM_FINAL "\r\n" }, { 'R', NULL },
		{ 'S', "%T OK [CAPABILITY IMAP4rev1] welcome\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	scram_case(good, 0, NULL, SCRAM_C1 SCRAM_C2 "\r\n");
	/* OK straight after the client's proof: no server signature */
	static const struct step no_proof[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256] hi\r\n" },
		{ 'R', NULL }, { 'S', "+ " SCRAM_FIRST "\r\n" }, { 'R', NULL },
		{ 'S', "%T OK [CAPABILITY IMAP4rev1] welcome\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	scram_case(no_proof, -1, "without proving", SCRAM_C1 SCRAM_C2);
	static const struct step wrong[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256] hi\r\n" },
		{ 'R', NULL }, { 'S', "+ " SCRAM_FIRST "\r\n" }, { 'R', NULL },
		{ 'S', "+ " SCRAM_WRONG "\r\n" }, { 'R', NULL },
		{ 'S', "%T BAD Authentication cancelled\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	scram_case(wrong, -1, "signature is wrong", SCRAM_C1 SCRAM_C2 "*\r\n");
	/* without SASL-IR: an empty "+" asks for the client's first message */
	static const struct step no_ir[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 AUTH=SCRAM-SHA-256] hi\r\n" },
		{ 'R', NULL }, { 'S', "+ \r\n" }, { 'R', NULL }, { 'S', "+ " SCRAM_FIRST "\r\n" },
		{ 'R', NULL }, { 'S', "+ " SCRAM_FINAL "\r\n" }, { 'R', NULL },
		{ 'S', "%T OK [CAPABILITY IMAP4rev1] welcome\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	scram_case(no_ir, 0, NULL, "A1 AUTHENTICATE SCRAM-SHA-256\r\n"
		   "biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=\r\n" SCRAM_C2 "\r\n");
	/* a challenge that is not base64 is cancelled */
	static const struct step garbled[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256] hi\r\n" },
		{ 'R', NULL }, { 'S', "+ !!not base64!!\r\n" }, { 'R', NULL },
		{ 'S', "%T BAD Authentication cancelled\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	if (fake_start(&f, "127.0.0.1", garbled) < 0)
		exit(1);
	opts_for(&o, "127.0.0.1", &f, IMAP_TLS_NONE);
	CHECK(imap_client_connect(&o, &c, &e) == 0);
	CHECK_INT(imap_authenticate_scram(c, IMAP_SCRAM_SHA256, "user", "pencil", NULL, &e), -1);
	CHECK_INT(e.cls, ERR_PROTO);
	CHECK(strstr(e.msg, "not base64") != NULL);
	imap_client_free(&c);
	fake_end(&f);
	CHECK(strstr(f.got.data, "\r\n*\r\n") != NULL);
	fake_free(&f);
}

/* Which mechanism imap_auth_with picks from the advertised ones. */
static void t_auth_choice(void)
{
	static const struct {
		const char *caps;
		enum imap_auth_mech ask;
		const char *sent; /* the start of the first command; NULL: refused unsent */
	} cases[] = {
		{ "AUTH=PLAIN AUTH=SCRAM-SHA-1 AUTH=SCRAM-SHA-256", IMAP_AUTH_AUTO,
		  "A1 AUTHENTICATE SCRAM-SHA-256 " },
		{ "AUTH=PLAIN AUTH=SCRAM-SHA-1", IMAP_AUTH_AUTO, "A1 AUTHENTICATE SCRAM-SHA-1 " },
		{ "AUTH=PLAIN", IMAP_AUTH_AUTO, "A1 AUTHENTICATE PLAIN " },
		{ "AUTH=LOGIN", IMAP_AUTH_AUTO, "A1 LOGIN " },
		{ "AUTH=SCRAM-SHA-256 AUTH=PLAIN", IMAP_AUTH_PLAIN, "A1 AUTHENTICATE PLAIN " },
		{ "AUTH=SCRAM-SHA-256", IMAP_AUTH_LOGIN, "A1 LOGIN " },
		{ "AUTH=PLAIN", IMAP_AUTH_SCRAM_SHA256, NULL },
		{ "AUTH=SCRAM-SHA-256", IMAP_AUTH_SCRAM_SHA1, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char greet[256];
		snprintf(greet, sizeof greet, "* OK [CAPABILITY IMAP4rev1 SASL-IR %s] hi\r\n",
			 cases[i].caps);
		const struct step s[] = {
			{ 'S', greet }, { 'R', NULL }, { 'S', "%T NO [AUTHENTICATIONFAILED] no\r\n" },
			{ 'W', NULL }, { 0, NULL },
		};
		const struct step quiet[] = { { 'S', greet }, { 'W', NULL }, { 0, NULL } };
		struct fake f;
		struct err e;
		struct imap_client_opts o;
		struct imap_client *c = NULL;
		if (fake_start(&f, "127.0.0.1", cases[i].sent ? s : quiet) < 0)
			exit(1);
		opts_for(&o, "127.0.0.1", &f, IMAP_TLS_NONE);
		CHECK(imap_client_connect(&o, &c, &e) == 0);
		CHECK_INT(imap_auth_with(c, cases[i].ask, "user", "pw", &e), -1);
		CHECK_INT(e.cls, cases[i].sent ? ERR_AUTH : ERR_USAGE);
		imap_client_free(&c);
		fake_end(&f);
		if (cases[i].sent && strncmp(f.got.data, cases[i].sent, strlen(cases[i].sent)))
			fprintf(stderr, "case %zu: server got '%s'\n", i, f.got.data);
		CHECK(cases[i].sent ? !strncmp(f.got.data, cases[i].sent, strlen(cases[i].sent))
				    : f.got.len == 0);
		fake_free(&f);
	}
	enum imap_auth_mech m;
	CHECK(imap_auth_mech_parse("SCRAM-SHA-256", &m) == 0 && m == IMAP_AUTH_SCRAM_SHA256);
	CHECK(imap_auth_mech_parse("auto", &m) == 0 && m == IMAP_AUTH_AUTO);
	CHECK_INT(imap_auth_mech_parse("cram-md5", &m), -1);
}

static void t_policies(void)
{
	static const struct step quiet[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] hi\r\n" }, { 'W', NULL },
		{ 0, NULL },
	};
	static const struct step nostarttls[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n" }, { 'W', NULL },
		{ 0, NULL },
	};
	static const struct step refused[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi\r\n" }, { 'R', NULL },
		{ 'S', "%T NO not today\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	static const struct step disabled[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n" }, { 'W', NULL },
		{ 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;

	/* STARTTLS asked for, not offered: error, nothing else sent. */
	CHECK(fake_start(&f, "127.0.0.1", nostarttls) == 0);
	opts_for(&o, "127.0.0.1", &f, IMAP_TLS_STARTTLS);
	CHECK_ERR(imap_client_connect(&o, &c, &e), ERR_TLS, "does not offer STARTTLS");
	fake_end(&f);
	CHECK_INT(f.got.len, 0);
	fake_free(&f);

	/* STARTTLS refused: error, no fallback. */
	CHECK(fake_start(&f, "127.0.0.1", refused) == 0);
	opts_for(&o, "127.0.0.1", &f, IMAP_TLS_STARTTLS);
	CHECK_ERR(imap_client_connect(&o, &c, &e), ERR_TLS, "STARTTLS: NO not today");
	fake_end(&f);
	CHECK_STR(f.got.data, "A1 STARTTLS\r\n");
	fake_free(&f);

	/* LOGINDISABLED honoured. */
	c = connect_fake(&f, disabled, &e);
	CHECK(c != NULL);
	CHECK_ERR(imap_login(c, "u", "p", &e), ERR_USAGE, "LOGINDISABLED");
	CHECK_ERR(imap_auth(c, "u", "p", &e), ERR_USAGE, "LOGINDISABLED");
	imap_client_free(&c);
	fake_end(&f);
	CHECK_INT(f.got.len, 0);
	fake_free(&f);

	/* Plaintext to a non-loopback address: refused before sending. */
	struct ifaddrs *ifa = NULL;
	char ip[64] = "";
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
			if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET)
				continue;
			inet_ntop(AF_INET, &((struct sockaddr_in *)p->ifa_addr)->sin_addr, ip,
				  sizeof(ip));
			if (!imap_io_ip_is_loopback(ip))
				break;
			ip[0] = '\0';
		}
		freeifaddrs(ifa);
	}
	if (!ip[0]) {
		printf("no non-loopback IPv4 address: end-to-end plaintext check skipped\n");
		return;
	}
	CHECK(fake_start(&f, ip, quiet) == 0);
	opts_for(&o, ip, &f, IMAP_TLS_NONE);
	CHECK(imap_client_connect(&o, &c, &e) == 0);
	if (c) {
		CHECK(!imap_client_is_loopback(c));
		CHECK_ERR(imap_login(c, "u", "secret", &e), ERR_USAGE,
			  "LOGIN: refusing to send a password over an unencrypted connection");
		CHECK_ERR(imap_authenticate_plain(c, NULL, "u", "secret", &e), ERR_USAGE, "refusing");
		CHECK_ERR(imap_auth(c, "u", "secret", &e), ERR_USAGE, "refusing");
	}
	imap_client_free(&c);
	fake_end(&f);
	CHECK(strstr(f.got.data, "secret") == NULL);
	CHECK(strstr(f.got.data, "LOGIN") == NULL);
	CHECK(strstr(f.got.data, "AUTHENTICATE") == NULL);
	fake_free(&f);
}

/* UID MOVE without MOVE: COPY + STORE \Deleted + UID EXPUNGE. */
static void t_move_fallback(void)
{
	static const struct step s[] = {
		{ 'S', PREAUTH }, { 'R', NULL }, { 'S', "%T OK selected\r\n" },
		{ 'R', NULL }, { 'S', "%T OK [COPYUID 77 4:5 10:11] copied\r\n" },
		{ 'R', NULL }, { 'S', "%T OK stored\r\n" },
		{ 'R', NULL }, { 'S', "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n%T OK expunged\r\n" },
		{ 'W', NULL }, { 0, NULL },
	};
	static const struct step s2[] = {
		{ 'S', "* PREAUTH [CAPABILITY IMAP4rev1] old server\r\n" }, { 'R', NULL },
		{ 'S', "%T OK selected\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_uidmap map;
	struct imap_cmd *h = NULL;
	struct imap_client *c = connect_fake(&f, s, &e);

	CHECK(c != NULL);
	CHECK(imap_select(c, "INBOX", NULL, &e) == 0);
	CHECK(imap_uid_move(c, "4:5", "Archive", &map, NULL, &e) == 0);
	CHECK_INT(map.uidvalidity, 77);
	CHECK_STR(map.src_uids, "4:5");
	CHECK_STR(map.dst_uids, "10:11");
	imap_uidmap_free(&map);
	CHECK_ERR(imap_uid_move(c, "4:5", "Archive", &map, &h, &e), ERR_USAGE, "MOVE");
	imap_client_free(&c);
	fake_end(&f);
	CHECK(strstr(f.got.data, "A2 UID COPY 4:5 \"Archive\"\r\n"
			       "A3 UID STORE 4:5 +FLAGS.SILENT (\\Deleted)\r\n"
			       "A4 UID EXPUNGE 4:5\r\n") != NULL);
	fake_free(&f);

	c = connect_fake(&f, s2, &e);
	CHECK(imap_select(c, "INBOX", NULL, &e) == 0);
	CHECK_ERR(imap_uid_move(c, "1", "Archive", &map, NULL, &e), ERR_USAGE, "neither MOVE nor UIDPLUS");
	imap_client_free(&c);
	fake_end(&f);
	CHECK(strstr(f.got.data, "COPY") == NULL);
	fake_free(&f);
}

/* IPv6 loopback: getaddrinfo path, loopback policy, peer address. */
static void t_ipv6(void)
{
	static const struct step s[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] v6\r\n" }, { 'R', NULL },
		{ 'S', "%T OK [CAPABILITY IMAP4rev1 X-V6] in\r\n" }, { 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;

	if (fake_start(&f, "::1", s) < 0) {
		printf("no IPv6 loopback: skipped\n");
		return;
	}
	opts_for(&o, "::1", &f, IMAP_TLS_NONE);
	CHECK(imap_client_connect(&o, &c, &e) == 0);
	if (c) {
		CHECK(imap_client_is_loopback(c));
		CHECK(imap_login(c, "u", "p", &e) == 0); /* loopback: plaintext allowed */
		CHECK(imap_client_has_cap(c, "X-V6"));
	}
	imap_client_free(&c);
	fake_end(&f);
	fake_free(&f);
}

/* A realistic session whose server bytes are damaged one at a time (or cut
 * short) at deterministic pseudo-random places: every call must end in
 * success or a classified error naming the host, never a crash, a hang, a
 * leak or a sanitizer report. */
static void t_mutations(void)
{
	static const struct step s[] = {
		{ 'S', PREAUTH }, { 'R', NULL },
		{ 'M', "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
		       "* OK [PERMANENTFLAGS (\\Seen \\*)] Flags permitted.\r\n* 3 EXISTS\r\n"
		       "* 0 RECENT\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
		       "* OK [UIDNEXT 4] Predicted next UID\r\n"
		       "* OK [HIGHESTMODSEQ 12] Highest\r\n%T OK [READ-WRITE] Select completed.\r\n" },
		{ 'R', NULL },
		{ 'M', "* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE 12 INTERNALDATE "
		       "\"17-Jul-1996 02:44:25 -0700\" BODY[] {12}\r\nHello World!)\r\n"
		       "* 2 FETCH (UID 2 FLAGS () RFC822.SIZE 3 BODY[] \"abc\")\r\n"
		       "* 3 FETCH (UID 3 FLAGS (\\Deleted $Junk) MODSEQ (9) BODY[] NIL)\r\n"
		       "%T OK Fetch completed.\r\n" },
		{ 'R', NULL },
		{ 'M', "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
		       "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
		       "* LIST (\\HasChildren) \"/\" {14}\r\nEntw&APw-rfe/x\r\n%T OK List completed.\r\n" },
		{ 'R', NULL },
		{ 'M', "* STATUS \"Sent\" (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 5 UNSEEN 1)\r\n"
		       "%T OK Status completed.\r\n" },
		{ 'R', NULL },
		{ 'M', "* SEARCH 3 1 2\r\n%T OK Search completed.\r\n" },
		{ 'R', NULL },
		{ 'M', "* 4 EXISTS\r\n* VANISHED 2\r\n* OK [ALERT] hello\r\n%T OK NOOP completed.\r\n" },
		{ 'W', NULL }, { 0, NULL },
	};
	unsigned long seed = 12345;
	int fails = 0, oks = 0;

	for (int iter = 0; iter < 500; iter++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		mut.on = iter > 0; /* iteration 0: the undamaged session */
		mut.pos = (long)((seed >> 33) % 1150);
		mut.byte = (int)((seed >> 20) & 0xff);
		mut.cut = (seed >> 17) % 4 == 0;
		mut.sent = 0;

		struct fake f;
		struct err e;
		struct imap_client_opts o;
		struct imap_client *c = NULL;
		if (fake_start(&f, "127.0.0.1", s) < 0)
			exit(1);
		opts_for(&o, "127.0.0.1", &f, IMAP_TLS_NONE);
		o.read_timeout_ms = 200;
		int ok = 1;
		if (imap_client_connect(&o, &c, &e) < 0) {
			CHECK(0);
			fake_end(&f);
			fake_free(&f);
			continue;
		}
		struct imap_fetch_handler h = { 0 };
		struct imap_boxlist l;
		struct imap_mbox_status st;
		uint32_t *uids = NULL;
		size_t n = 0;
		int r[6];
		r[0] = imap_select(c, "INBOX", NULL, &e);
		if (r[0] < 0)
			CHECK(e.cls != ERR_NONE && strstr(e.msg, "127.0.0.1: SELECT"));
		r[1] = imap_uid_fetch(c, "1:*", "UID FLAGS BODY[]", 0, 0, &h, NULL, &e);
		if (r[1] < 0)
			CHECK(e.cls != ERR_NONE && strstr(e.msg, "127.0.0.1: UID FETCH"));
		r[2] = imap_list(c, "", "*", 0, 0, &l, NULL, &e);
		if (r[2] < 0)
			CHECK(e.cls != ERR_NONE && strstr(e.msg, "127.0.0.1: LIST"));
		imap_boxlist_free(&l);
		r[3] = imap_status(c, "Sent", IMAP_STATUS_ALL, &st, NULL, &e);
		if (r[3] < 0)
			CHECK(e.cls != ERR_NONE && strstr(e.msg, "127.0.0.1: STATUS"));
		r[4] = imap_uid_search(c, "ALL", &uids, &n, NULL, &e);
		if (r[4] < 0)
			CHECK(e.cls != ERR_NONE && strstr(e.msg, "127.0.0.1: UID SEARCH"));
		free(uids);
		r[5] = imap_noop(c, NULL, &e);
		if (r[5] < 0)
			CHECK(e.cls != ERR_NONE && strstr(e.msg, "127.0.0.1: NOOP"));
		for (int i = 0; i < 6; i++)
			ok &= r[i] == 0;
		if (iter == 0) {
			CHECK(ok);
			CHECK_INT(imap_client_mailbox(c)->exists, 3);
			CHECK_INT(imap_client_mailbox(c)->highestmodseq, 12);
		}
		oks += ok;
		fails += !ok;
		imap_client_free(&c);
		fake_end(&f);
		fake_free(&f);
	}
	printf("mutations: %d sessions ok, %d failed cleanly\n", oks, fails);
	CHECK(fails > 100);
}

/* COMPRESS=DEFLATE against a fake server that deflates both ways. */
static void t_compress(void)
{
	static const struct step s[] = {
		{ 'S', "* PREAUTH [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE LITERAL+] hi\r\n" },
		{ 'R', NULL }, { 'S', "%T OK DEFLATE active\r\n" }, { 'Z', NULL },
		{ 'R', NULL }, { 'S', "* 1 EXISTS\r\n%T OK [READ-WRITE] selected\r\n" },
		{ 'R', NULL }, { 'S', "%T OK [APPENDUID 3 9] appended\r\n" },
		{ 'R', NULL },
		{ 'S', "* 1 FETCH (UID 9 BODY[] {26}\r\nabcdefghijklmnopqrstuvwxyz)\r\n%T OK done\r\n" },
		{ 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client *c = connect_fake(&f, s, &e);
	struct sinkstate ss = { 0, 0 };
	struct imap_fetch_handler h = { .body_begin = sb_begin, .body_data = sb_data, .ctx = &ss };
	static char big[200000];
	struct imap_append_msg m = { .idate = -1, .src = { .size = sizeof(big), .data = big } };
	struct imap_uidmap map;

	memset(big, 'q', sizeof(big));
	CHECK(c != NULL);
	CHECK(imap_compress(c, &e) == 0);
	CHECK(imap_client_is_compressed(c));
	CHECK(imap_select(c, "INBOX", NULL, &e) == 0);
	CHECK_INT(imap_client_mailbox(c)->exists, 1);
	CHECK(imap_append(c, "INBOX", &m, &map, NULL, &e) == 0 ||
	      (fprintf(stderr, "append: %s\n", e.msg), 0));
	CHECK_STR(map.dst_uids, "9");
	imap_uidmap_free(&map);
	CHECK(imap_uid_fetch(c, "9", "BODY.PEEK[]", 0, 0, &h, NULL, &e) == 0);
	CHECK_INT(ss.got, 26);
	imap_client_free(&c);
	fake_end(&f);
	/* the server saw the whole 200000-byte literal through inflate */
	CHECK(f.got.len > sizeof(big));
	CHECK(strstr(f.got.data, "A1 COMPRESS DEFLATE\r\nA2 SELECT \"INBOX\"\r\n") != NULL);
	fake_free(&f);
}

/* The plaintext-password policy as pure functions (no network). */
static void t_policy_unit(void)
{
	static const struct {
		const char *ip;
		int loop;
	} ips[] = {
		{ "127.0.0.1", 1 }, { "127.255.0.9", 1 }, { "::1", 1 }, { "::ffff:127.0.0.1", 1 },
		{ "10.0.0.1", 0 },  { "192.168.1.1", 0 }, { "::2", 0 },  { "::ffff:10.0.0.1", 0 },
		{ "localhost", 0 }, { "", 0 },            { "128.0.0.1", 0 }, { "1.127.0.0", 0 },
	};
	static const struct {
		int tls, loop, ok;
	} pol[] = {
		{ 0, 0, 0 }, { 1, 0, 1 }, { 0, 1, 1 }, { 1, 1, 1 },
	};
	struct err e;

	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++)
		CHECK_INT(imap_io_ip_is_loopback(ips[i].ip), ips[i].loop);
	CHECK_INT(imap_io_ip_is_loopback(NULL), 0);
	for (size_t i = 0; i < sizeof(pol) / sizeof(pol[0]); i++) {
		err_clear(&e);
		int r = imap_client_password_allowed("mail.example.com", pol[i].tls, pol[i].loop, &e);
		CHECK_INT(r == 0, pol[i].ok);
		if (!pol[i].ok)
			CHECK(e.cls == ERR_USAGE &&
			      strstr(e.msg, "mail.example.com: refusing to send a password"));
	}
	CHECK_STR(imap_state_name(IMAP_STATE_SELECTED), "selected");
}

static void t_timeout_and_injection(void)
{
	static const struct step silent[] = { { 'W', NULL }, { 0, NULL } };
	static const struct step inject[] = {
		{ 'S', "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n" }, { 'R', NULL },
		{ 'S', "%T OK begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n" },
		{ 'W', NULL }, { 0, NULL },
	};
	struct fake f;
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;

	/* No greeting: the read timeout ends the wait with ERR_TEMP. */
	CHECK(fake_start(&f, "127.0.0.1", silent) == 0);
	opts_for(&o, "127.0.0.1", &f, IMAP_TLS_NONE);
	o.read_timeout_ms = 300;
	CHECK_ERR(imap_client_connect(&o, &c, &e), ERR_TEMP, "127.0.0.1: no answer from server");
	fake_end(&f);
	fake_free(&f);

	/* Plaintext bytes after the OK to STARTTLS are refused (RFC 2595). */
	CHECK(fake_start(&f, "127.0.0.1", inject) == 0);
	opts_for(&o, "127.0.0.1", &f, IMAP_TLS_STARTTLS);
	CHECK_ERR(imap_client_connect(&o, &c, &e), ERR_PROTO, "before the TLS handshake");
	CHECK(c == NULL);
	fake_end(&f);
	fake_free(&f);
}

int main(int argc, char **argv)
{
	static const struct test_scenario tests[] = {
		{ "bye", t_bye_mid_command },   { "cut-literal", t_cut_in_literal },
		{ "garbage", t_garbage },       { "no-codes", t_no_codes },
		{ "sync-literal", t_sync_literals }, { "literal-minus", t_literal_minus },
		{ "out-of-order", t_out_of_order }, { "unsolicited", t_unsolicited },
		{ "sink-failure", t_sink_failure }, { "auth-no-sasl-ir", t_auth_no_sasl_ir },
		{ "policies", t_policies },     { "timeout-injection", t_timeout_and_injection },
		{ "policy-unit", t_policy_unit }, { "move-fallback", t_move_fallback },
		{ "ipv6", t_ipv6 },             { "mutations", t_mutations },
		{ "compress", t_compress },     { "scram", t_scram },
		{ "auth-choice", t_auth_choice },
	};

	signal(SIGPIPE, SIG_IGN);
	return test_run_scenarios(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
