/*
 * imap_testutil.h — helpers for the IMAP client tests: the Dovecot fixture
 * environment (exit 77 without it), per-test users, client options, and a
 * trace collector.
 */
#ifndef MF_IMAP_TESTUTIL_H
#define MF_IMAP_TESTUTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "imap/imap_client.h"
#include "lib/buf.h"
#include "testlib.h"

struct fixture {
	const char *dir, *port, *tls_port, *ca, *dovecot;
};

/* A per-run user name ("imap-msgs-1234"), so reruns against one Dovecot
 * start from empty mailboxes. Rotating static buffers. */
static inline const char *U(const char *base)
{
	static char names[8][64];
	static int next;
	char *n = names[next++ % 8];
	snprintf(n, sizeof(names[0]), "%s-%ld", base, (long)getpid());
	return n;
}

static inline void fixture_get(struct fixture *f)
{
	f->dir = getenv("MF_DOVECOT_DIR");
	f->port = getenv("MF_IMAP_PORT");
	f->tls_port = getenv("MF_IMAPS_PORT");
	f->ca = getenv("MF_TEST_CA");
	f->dovecot = getenv("MF_DOVECOT");
	if (!f->dir || !f->port || !f->tls_port || !f->ca || !f->dovecot) {
		printf("no Dovecot fixture (MF_DOVECOT_DIR...): skipped\n");
		exit(77);
	}
}

/* Run "$MF_DOVECOT <args>" (args already shell-quoted where needed). */
static inline int fixture_sh(const struct fixture *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int fixture_sh(const struct fixture *f, const char *fmt, ...)
{
	struct buf b = BUF_INIT(1 << 20);
	va_list ap;

	buf_addf(&b, "'%s' ", f->dovecot);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	int r = system(b.data);
	buf_release(&b);
	return r;
}

/* Add USER (password USER) and wait until Dovecot knows it: its passwd-file
 * is re-read when the file's mtime changes, so a user added within the
 * second of an earlier re-read stays unseen; touching the file a second
 * later makes Dovecot look again. */
static inline int fixture_try_login(const struct fixture *f, const char *user, const char *pass);
static inline void fixture_user_pass(const struct fixture *f, const char *user, const char *pass)
{
	struct timespec now;
	char path[4096];

	if (fixture_sh(f, "adduser '%s' '%s' '%s' >/dev/null", f->dir, user, pass) != 0) {
		fprintf(stderr, "cannot add user %s\n", user);
		exit(1);
	}
	/* Touch the file in the next second: Dovecot then either re-reads it
	 * or last read it after a change at or past that second, which came
	 * after our append. */
	clock_gettime(CLOCK_REALTIME, &now);
	usleep((useconds_t)((1000000000L - now.tv_nsec) / 1000 + 20000));
	snprintf(path, sizeof(path), "%s/passwd", f->dir);
	utime(path, NULL);
	for (int i = 0; i < 10; i++) {
		if (fixture_try_login(f, user, pass) == 0)
			return;
		sleep(1);
		fixture_sh(f, "doveadm '%s' auth cache flush >/dev/null 2>&1; touch '%s/passwd'",
			   f->dir, f->dir);
	}
	fprintf(stderr, "Dovecot does not know user %s\n", user);
	exit(1);
}

static inline void fixture_user(const struct fixture *f, const char *user)
{
	fixture_user_pass(f, user, user);
}

/* Captured trace, both directions, one line per entry ("> ..." / "< ..."). */
struct trace_log {
	struct buf text;
};

static inline void trace_collect(void *ctx, char dir, const char *line, size_t len)
{
	struct trace_log *t = ctx;
	buf_addch(&t->text, dir);
	buf_addch(&t->text, ' ');
	buf_add(&t->text, line, len);
	buf_addch(&t->text, '\n');
	if (getenv("MF_TEST_TRACE"))
		fprintf(stderr, "%c %.*s\n", dir, (int)len, line);
}

static inline void opts_init(struct imap_client_opts *o, const struct fixture *f,
			     enum imap_tls_mode tls, const char *host)
{
	memset(o, 0, sizeof(*o));
	o->host = host ? host : "localhost";
	o->port = tls == IMAP_TLS_IMPLICIT ? f->tls_port : f->port;
	o->tls = tls;
	o->ca_file = f->ca;
	o->connect_timeout_ms = 5000;
	o->read_timeout_ms = 20000;
}

static inline int fixture_try_login(const struct fixture *f, const char *user, const char *pass)
{
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct err e;
	int r = -1;

	opts_init(&o, f, IMAP_TLS_NONE, "localhost");
	if (imap_client_connect(&o, &c, &e) == 0 && imap_login(c, user, pass, &e) == 0)
		r = 0;
	if (c)
		imap_logout(c, &e);
	imap_client_free(&c);
	return r;
}

/* Connect + login as `user` (password = user), or exit. */
static inline struct imap_client *login_as(const struct fixture *f, const char *user,
					  enum imap_tls_mode tls, struct trace_log *tl)
{
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct err e;

	fixture_user(f, user);
	opts_init(&o, f, tls, "localhost");
	if (tl) {
		o.trace = trace_collect;
		o.trace_ctx = tl;
	}
	if (imap_client_connect(&o, &c, &e) < 0 || imap_auth(c, user, user, &e) < 0) {
		fprintf(stderr, "login as %s failed: %s\n", user, e.msg);
		exit(1);
	}
	return c;
}

/* Check a 0/-1 call that fills `e` (a struct err in scope). */
#define CHECK_OK(call)                                                                  \
	do {                                                                            \
		err_clear(&e);                                                          \
		int r_ = (call);                                                        \
		if (r_ < 0)                                                             \
			fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__,  \
				#call, e.msg);                                          \
		CHECK(r_ == 0);                                                         \
	} while (0)

/* Check a call fails with class `cls` and a message containing `sub`. */
#define CHECK_FAIL(call, want_cls, sub)                                                      \
	do {                                                                            \
		err_clear(&e);                                                          \
		int r_ = (call);                                                        \
		CHECK(r_ < 0);                                                          \
		if (r_ < 0 && (e.cls != (want_cls) || !strstr(e.msg, (sub))))                \
			fprintf(stderr, "%s:%d: %s: got %s '%s', expected %s '%s'\n",   \
				__FILE__, __LINE__, #call, err_class_name(e.cls), e.msg, \
				err_class_name(want_cls), (sub));                            \
		CHECK(r_ < 0 && e.cls == (want_cls) && strstr(e.msg, (sub)));                \
	} while (0)

#endif
