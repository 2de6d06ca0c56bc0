/*
 * mdtest.h — helpers shared by the Maildir driver tests: a temp dir, a
 * one-call delivery, a sink that collects a fetched message, and counting
 * files in a folder's subdirectory.
 */
#ifndef MF_MDTEST_H
#define MF_MDTEST_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir/maildir_scan.h"
#include "maildir/maildir_store.h"
#include "testlib.h"

struct md_cb {
	int calls;
	int errors;
	char key[512];
};

static void md_cb_fn(void *ctx, const char *key, const struct err *e)
{
	struct md_cb *c = ctx;
	c->calls++;
	if (e || !key) {
		c->errors++;
		if (e)
			fprintf(stderr, "append failed: %s\n", e->msg);
		return;
	}
	snprintf(c->key, sizeof c->key, "%s", key);
}

/* Deliver text (CRLF wire form) in chunks of `chunk` bytes. */
static inline int md_deliver(struct store *s, const char *text, size_t len, const char *flags,
			     int64_t idate, size_t chunk, struct md_cb *cb)
{
	struct flagset f;
	struct store_writer *w;
	struct err e = { 0 };
	flagset_init(&f);
	flagset_parse(&f, flags ? flags : "");
	int rc = s->ops->append_begin(s, &f, idate, len, &w, &e);
	flagset_free(&f);
	if (rc < 0) {
		fprintf(stderr, "append_begin: %s\n", e.msg);
		return -1;
	}
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		if (s->ops->append_write(w, text + off, n, &e) < 0) {
			s->ops->append_end(w, 0, NULL, NULL, &e);
			return -1;
		}
	}
	rc = s->ops->append_end(w, 1, md_cb_fn, cb, &e);
	if (rc < 0)
		fprintf(stderr, "append_end: %s\n", e.msg);
	return rc;
}

struct md_sink {
	struct buf data;
	struct store_msg meta;
	int begins, ends, ok;
	enum err_class end_cls;
};

static int md_sink_begin(void *ctx, const struct store_msg *m, struct err *e)
{
	struct md_sink *k = ctx;
	k->begins++;
	k->meta.size = m->size;
	k->meta.idate = m->idate;
	flagset_free(&k->meta.flags);
	flagset_copy(&k->meta.flags, &m->flags);
	buf_reset(&k->data);
	return 0;
}

static int md_sink_write(void *ctx, const void *p, size_t n, struct err *e)
{
	struct md_sink *k = ctx;
	return buf_add(&k->data, p, n);
}

static int md_sink_end(void *ctx, int ok, struct err *e)
{
	struct md_sink *k = ctx;
	k->ends++;
	k->ok = ok;
	k->end_cls = ok ? ERR_NONE : (e ? e->cls : ERR_NONE);
	return 0;
}

static inline void md_sink_init(struct md_sink *k, struct store_sink *sk)
{
	memset(k, 0, sizeof *k);
	buf_init(&k->data, 0);
	flagset_init(&k->meta.flags);
	sk->begin = md_sink_begin;
	sk->write = md_sink_write;
	sk->end = md_sink_end;
	sk->ctx = k;
}

static inline void md_sink_free(struct md_sink *k)
{
	buf_release(&k->data);
	flagset_free(&k->meta.flags);
}

/* A fresh store in /tmp/mf-<tag>-XXXXXX/m (created, fsync off) with INBOX
 * open for writing; dir is the temporary folder, root and inbox the paths. */
static inline void md_fresh_store(const char *tag, char dir[64], char root[128], char inbox[160],
				  struct store **s)
{
	struct maildir_opts o = { .create = 1, .fsync_off = 1 };
	struct err e = { 0 };
	struct store_box_state st;
	snprintf(dir, 64, "/tmp/mf-%s-XXXXXX", tag);
	if (!mkdtemp(dir))
		abort();
	snprintf(root, 128, "%s/m", dir);
	snprintf(inbox, 160, "%s/INBOX", root);
	CHECK_INT(maildir_store_open(root, &o, s, &e), 0);
	CHECK_INT((*s)->ops->open_box(*s, "INBOX", 0, &st, &e), 0);
}

/* Files (not dot files) in dir/sub. */
static inline int md_count(const char *dir, const char *sub)
{
	char p[1024];
	snprintf(p, sizeof p, "%s/%s", dir, sub);
	DIR *d = opendir(p);
	int n = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Change new/ (a dot file created and removed: no message) and take the
 * marker at once, all within one tick of the coarse clock (retried until
 * the tick did not move meanwhile): such a marker must be untrusted under
 * either rule of maildir_scan.h. Returns 1 when such a sample was had. */
static inline int md_fresh_marker(int dfd, char marker[MAILDIR_MARKER_MAX])
{
	for (int tries = 0; tries < 1000; tries++) {
		struct timespec c0, c1;
		clock_gettime(CLOCK_REALTIME_COARSE, &c0);
		int fd = openat(dfd, "new/.mf-touch", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			close(fd);
		unlinkat(dfd, "new/.mf-touch", 0);
		if (maildir_scan_marker(dfd, marker, NULL) < 0)
			return 0;
		clock_gettime(CLOCK_REALTIME_COARSE, &c1);
		if (c0.tv_sec == c1.tv_sec && c0.tv_nsec == c1.tv_nsec)
			return 1;
	}
	return 0;
}

static inline void md_rmrf(const char *dir)
{
	char cmd[1200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
