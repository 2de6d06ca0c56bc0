/*
 * maildir_deliver.c — delivery into the open folder and group commit.
 *
 * A delivery streams CRLF wire data into tmp/<unique>, converting CRLF to
 * LF on the fly through a fixed output buffer (the message is never held
 * in memory). append_end closes the file (checked) with its mtime set to
 * the internal date and queues it. flush() then makes the queue durable in
 * one go: syncfs() (or fsync of each file), the renames into cur/ or new/,
 * one fsync of each touched directory, and only then the callbacks.
 * flush() fails only when durability itself failed (syncfs/fsync): then
 * every pending callback gets the error. A single message that cannot be
 * renamed gets the error in its own callback and the batch goes on.
 *
 * Conversion state: `cr` says the last input byte was a CR not yet written
 * (it may start a CRLF). A CR followed by LF becomes LF; a lone CR is kept.
 * The CRLF size W is what fetch() will give back: every LF on disk not
 * preceded by a CR counts two bytes.
 */
#include "maildir/maildir_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/banned.h"

#define OBUF_SIZE 65536
#define UNIQUE_TRIES 100

struct store_writer {
	struct md_store *s;
	int fd;
	char *tmp;           /* file name in tmp/ (also the key's start) */
	struct flagset flags;
	int64_t idate;
	uint64_t size;       /* announced CRLF size, 0 = unknown */
	uint64_t in_bytes;   /* CRLF bytes received */
	uint64_t lf_bytes;   /* bytes written to disk */
	uint64_t crlf_bytes; /* W= */
	int cr;
	char last;           /* last byte put on disk */
	int failed;
	size_t olen;
	char obuf[OBUF_SIZE];
};

static void writer_free(struct store_writer *w)
{
	flagset_free(&w->flags);
	free(w->tmp);
	free(w);
}

static void writer_discard(struct store_writer *w)
{
	char path[512];
	if (w->fd >= 0)
		close(w->fd);
	snprintf(path, sizeof path, "tmp/%s", w->tmp);
	unlinkat(w->s->boxfd, path, 0);
	writer_free(w);
}

int maildir_deliver_begin(struct store *st, const struct flagset *flags, int64_t idate,
			  uint64_t size, struct store_writer **w_r, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	struct buf name;
	*w_r = NULL;
	if (s->boxfd < 0)
		return err_set(e, ERR_USAGE, "no mailbox is open");
	if (s->read_only)
		return err_set(e, ERR_USAGE, "mailbox '%s' is open read-only", s->box);
	buf_init(&name, 400);
	for (int tries = 0; tries < UNIQUE_TRIES; tries++) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		buf_reset(&name);
		buf_addstr(&name, "tmp/");
		if (maildir_name_base(&name, tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
				      ++s->counter, s->host) < 0) {
			buf_release(&name);
			return err_set(e, ERR_LIMIT, "host name too long");
		}
		int fd = openat(s->boxfd, name.data,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0) {
			err_sys(e, ERR_IO, "cannot create '%s'", name.data);
			buf_release(&name);
			return -1;
		}
		struct store_writer *w = mf_calloc(1, sizeof *w);
		w->s = s;
		w->fd = fd;
		w->tmp = mf_strdup(name.data + 4);
		flagset_copy(&w->flags, flags);
		w->idate = idate;
		w->size = size;
		w->last = '\n';
		*w_r = w;
		buf_release(&name);
		return 0;
	}
	buf_release(&name);
	return err_set(e, ERR_TEMP, "cannot find a unique file name in tmp/");
}

static int out_flush(struct store_writer *w, struct err *e)
{
	size_t off = 0;
	while (off < w->olen) {
		ssize_t n = write(w->fd, w->obuf + off, w->olen - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			w->failed = 1;
			return err_sys(e, ERR_IO, "cannot write 'tmp/%s'", w->tmp);
		}
		off += (size_t)n;
	}
	w->olen = 0;
	return 0;
}

/* Append bytes that hold no CR to the output, keeping both size counts:
 * on disk (LF) and in wire form (CRLF: an LF not after a CR counts 2). */
static int out_block(struct store_writer *w, const char *p, size_t len, struct err *e)
{
	if (len == 0)
		return 0;
	size_t lfs = 0;
	for (const char *q = p; (q = memchr(q, '\n', (size_t)(p + len - q))) != NULL; q++)
		lfs++;
	if (p[0] == '\n' && w->last == '\r')
		lfs--;
	w->lf_bytes += len;
	w->crlf_bytes += len + lfs;
	w->last = p[len - 1];
	while (len) {
		if (w->olen == sizeof w->obuf && out_flush(w, e) < 0)
			return -1;
		size_t k = sizeof w->obuf - w->olen;
		if (k > len)
			k = len;
		memcpy(w->obuf + w->olen, p, k);
		w->olen += k;
		p += k;
		len -= k;
	}
	return 0;
}

/* CRLF -> LF on the fly, a run between CRs at a time (a byte-by-byte loop
 * here cost almost half of an initial sync's CPU). A CR at the end of a
 * chunk waits in w->cr for the next byte; a lone CR is kept. */
int maildir_deliver_write(struct store_writer *w, const void *data, size_t n, struct err *e)
{
	const char *p = data;
	if (w->failed)
		return err_set(e, ERR_IO, "delivery into 'tmp/%s' already failed", w->tmp);
	w->in_bytes += n;
	while (n) {
		if (w->cr) {
			w->cr = 0;
			if (*p == '\n') {
				if (out_block(w, "\n", 1, e) < 0)
					return -1;
				p++;
				n--;
				continue;
			}
			if (out_block(w, "\r", 1, e) < 0)
				return -1;
		}
		const char *cr = memchr(p, '\r', n);
		size_t run = cr ? (size_t)(cr - p) : n;
		if (out_block(w, p, run, e) < 0)
			return -1;
		p += run;
		n -= run;
		if (cr) {
			w->cr = 1;
			p++;
			n--;
		}
	}
	return 0;
}

/* The final name (without directory) and whether it goes to new/. */
static int final_name(struct store_writer *w, struct buf *name, int *to_new, struct err *e)
{
	struct md_store *s = w->s;
	uint32_t bits = 0;
	buf_addstr(name, w->tmp);
	maildir_name_sizes(name, w->lf_bytes, w->crlf_bytes);
	*to_new = w->flags.sys == 0 && w->flags.nkw == 0;
	if (*to_new)
		return 0;
	for (size_t i = 0; i < w->flags.nkw; i++) {
		int idx;
		if (maildir_keywords_add(s->kw, s->boxfd, w->flags.kw[i], s->do_fsync, &idx, e) < 0)
			return -1;
		if (idx >= 0)
			bits |= 1u << idx;
		else
			maildir_store_ovf_add(s, name->data, w->flags.kw[i]);
	}
	return maildir_name_info(name, w->flags.sys & MF_FLAGS_ALL, bits, "");
}

int maildir_deliver_end(struct store_writer *w, int ok, store_append_cb *cb, void *cb_ctx,
			struct err *e)
{
	struct md_store *s = w->s;
	if (!ok) {
		writer_discard(w);
		return 0;
	}
	if (w->cr) {
		w->cr = 0;
		if (out_block(w, "\r", 1, e) < 0)
			goto fail;
	}
	if (out_flush(w, e) < 0)
		goto fail;
	if (w->size && w->in_bytes != w->size) {
		err_set(e, ERR_PROTO, "message has %llu bytes, %llu were announced",
			(unsigned long long)w->in_bytes, (unsigned long long)w->size);
		goto fail;
	}
	if (w->idate >= 0) {
		struct timespec ts[2] = { { (time_t)w->idate, 0 }, { (time_t)w->idate, 0 } };
		if (futimens(w->fd, ts) < 0) {
			err_sys(e, ERR_IO, "cannot set the date of 'tmp/%s'", w->tmp);
			goto fail;
		}
	}
	int fd = w->fd;
	w->fd = -1;
	if (close(fd) < 0) {
		err_sys(e, ERR_IO, "cannot close 'tmp/%s'", w->tmp);
		goto fail;
	}
	struct buf name;
	int to_new;
	buf_init(&name, 1024);
	if (final_name(w, &name, &to_new, e) < 0) {
		buf_release(&name);
		goto fail;
	}
	s->pend = mf_reallocarray(s->pend, s->npend + 1, sizeof *s->pend);
	struct maildir_pending *pd = &s->pend[s->npend++];
	struct maildir_name pn;
	maildir_name_parse(name.data, &pn);
	pd->key = mf_strndup(name.data, pn.keylen);
	pd->tmp = w->tmp;
	w->tmp = NULL;
	buf_addstr(&name, "");
	size_t n = name.len;
	pd->dest = mf_calloc(1, n + 5);
	memcpy(pd->dest, to_new ? "new/" : "cur/", 4);
	memcpy(pd->dest + 4, name.data, n);
	pd->cb = cb;
	pd->cb_ctx = cb_ctx;
	buf_release(&name);
	writer_free(w);
	return 0;
fail:
	writer_discard(w);
	return -1;
}

static void pending_free(struct maildir_pending *p)
{
	free(p->tmp);
	free(p->dest);
	free(p->key);
}

/* Below this many files, fsync each: syncfs() writes back everything
 * dirty on the file system (the server's and other workers' data too),
 * which only pays off for a large batch. */
#define SYNCFS_MIN_FILES 16

/* Make the queued tmp files durable: syncfs, else fsync each. */
static int sync_files(struct md_store *s, struct err *e)
{
	if (s->npend >= SYNCFS_MIN_FILES && syncfs(s->boxfd) == 0)
		return 0;
	for (size_t i = 0; i < s->npend; i++) {
		char path[512];
		snprintf(path, sizeof path, "tmp/%s", s->pend[i].tmp);
		int fd = openat(s->boxfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return err_sys(e, ERR_IO, "cannot open '%s'", path);
		int r = fdatasync(fd);
		close(fd);
		if (r < 0)
			return err_sys(e, ERR_IO, "cannot fsync '%s'", path);
	}
	return 0;
}

int maildir_deliver_flush(struct store *st, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	struct err ferr = { 0 };
	int rc = 0;
	size_t n = s->npend;
	char *done = mf_calloc(n ? n : 1, 1); /* 1: renamed, 2: failed (cb called) */
	if (n && s->do_fsync && sync_files(s, &ferr) < 0)
		rc = -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct maildir_pending *p = &s->pend[i];
		char path[512];
		snprintf(path, sizeof path, "tmp/%s", p->tmp);
		if (renameat(s->boxfd, path, s->boxfd, p->dest) == 0) {
			maildir_watch_own(s->watch, s->wslot, 1); /* tmp/ is not watched */
			done[i] = 1;
			if (p->dest[0] == 'n')
				s->dirty_new = 1;
			else
				s->dirty_cur = 1;
			continue;
		}
		struct err pe;
		err_sys(&pe, ERR_IO, "cannot rename '%s' to '%s'", path, p->dest);
		unlinkat(s->boxfd, path, 0);
		done[i] = 2;
		/* Reported to its callback; the others still commit. */
		if (p->cb)
			p->cb(p->cb_ctx, NULL, &pe);
	}
	if (rc == 0 && s->boxfd >= 0 &&
	    ((s->dirty_cur && maildir_store_fsync_dir(s, s->boxfd, "cur", &ferr) < 0) ||
	     (s->dirty_new && maildir_store_fsync_dir(s, s->boxfd, "new", &ferr) < 0)))
		rc = -1;
	if (rc == 0)
		s->dirty_cur = s->dirty_new = 0;
	for (size_t i = 0; i < n; i++) {
		struct maildir_pending *p = &s->pend[i];
		if (done[i] == 0) {
			/* never renamed: the sync failed; drop the file */
			char path[512];
			snprintf(path, sizeof path, "tmp/%s", p->tmp);
			unlinkat(s->boxfd, path, 0);
		}
		if (done[i] != 2 && p->cb)
			p->cb(p->cb_ctx, rc == 0 ? p->key : NULL, rc == 0 ? NULL : &ferr);
		pending_free(p);
	}
	free(done);
	free(s->pend);
	s->pend = NULL;
	s->npend = 0;
	if (rc < 0) {
		if (e)
			*e = ferr;
		return -1;
	}
	return 0;
}
