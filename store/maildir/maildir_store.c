/*
 * maildir_store.c — the Maildir driver's ops table (store.h): opening the
 * tree, the open folder, listing, streaming out, headers, flag changes,
 * expunge and the keyword overflow. Folder-level ops live in
 * maildir_folder.c, delivery and group commit in maildir_deliver.c; the
 * behaviour promised to callers is in maildir_store.h.
 *
 * The open folder keeps the last scan as a key -> file name map. A name in
 * it may be stale (a mail reader renamed the file): every operation that
 * meets ENOENT looks the key up again on disk (maildir_scan_locate) before
 * it calls the message gone.
 */
#include "maildir/maildir_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir/maildir_hdr.h"

#include "lib/banned.h"

#define IO_CHUNK 16384 /* buffers live on the stack */
#define HDR_MAX ((size_t)256 << 10)

int maildir_store_fsync_dir(struct md_store *s, int fd, const char *sub, struct err *e)
{
	if (!s->do_fsync)
		return 0;
	int d = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return err_sys(e, ERR_IO, "cannot open '%s'", sub);
	int r = fsync(d);
	close(d);
	return r < 0 ? err_sys(e, ERR_IO, "cannot fsync '%s'", sub) : 0;
}

/* ---- keyword overflow ---- */

static struct maildir_overflow *ovf_find(struct md_store *s, const char *key)
{
	for (size_t i = 0; i < s->novf; i++)
		if (strcmp(s->ovf[i].key, key) == 0)
			return &s->ovf[i];
	return NULL;
}

void maildir_store_ovf_add(struct md_store *s, const char *key, const char *kw)
{
	struct maildir_overflow *o = ovf_find(s, key);
	if (!o) {
		s->ovf = mf_reallocarray(s->ovf, s->novf + 1, sizeof *s->ovf);
		o = &s->ovf[s->novf++];
		o->key = mf_strdup(key);
		flagset_init(&o->kws);
	}
	flagset_add_kw(&o->kws, kw);
}

static void ovf_drop(struct md_store *s, const char *key)
{
	struct maildir_overflow *o = ovf_find(s, key);
	if (!o)
		return;
	free(o->key);
	flagset_free(&o->kws);
	*o = s->ovf[--s->novf];
}

static void ovf_free_all(struct md_store *s)
{
	for (size_t i = 0; i < s->novf; i++) {
		free(s->ovf[i].key);
		flagset_free(&s->ovf[i].kws);
	}
	free(s->ovf);
	s->ovf = NULL;
	s->novf = 0;
}

size_t maildir_store_kw_overflow(struct store *st, const char *key, struct flagset *out)
{
	struct maildir_overflow *o = ovf_find((struct md_store *)st, key);
	if (!o)
		return 0;
	for (size_t i = 0; i < o->kws.nkw; i++)
		flagset_add_kw(out, o->kws.kw[i]);
	return o->kws.nkw;
}

int maildir_store_clean(struct store *st, const char *box)
{
	struct md_store *s = (struct md_store *)st;
	return maildir_watch_clean(s->watch, maildir_layout_is_inbox(box) ? "INBOX" : box);
}

void maildir_store_unwatch(struct store *st)
{
	struct md_store *s = (struct md_store *)st;
	if (s && !s->abandoned)
		maildir_watch_stop(s->watch);
}

unsigned long maildir_store_dir_scans(struct store *st)
{
	return ((struct md_store *)st)->dir_scans;
}

size_t maildir_store_kw_overflow_count(struct store *st)
{
	return ((struct md_store *)st)->novf;
}

unsigned long maildir_store_list_stats(struct store *st)
{
	struct md_store *s = (struct md_store *)st;
	return s->list_stats + s->list_reads;
}

void maildir_store_kw_overflow_set(struct store *st, const char *key, const struct flagset *kws)
{
	struct md_store *s = (struct md_store *)st;
	ovf_drop(s, key);
	for (size_t i = 0; i < kws->nkw; i++)
		maildir_store_ovf_add(s, key, kws->kw[i]);
}

/* ---- open folder ---- */

int maildir_store_close_box(struct md_store *s, struct err *e)
{
	int rc = 0;
	if (s->boxfd < 0)
		return 0;
	if ((s->npend || s->dirty_cur || s->dirty_new) && maildir_deliver_flush(&s->base, e) < 0)
		rc = -1;
	close(s->boxfd);
	s->boxfd = -1;
	free(s->box);
	s->box = NULL;
	maildir_keywords_free(&s->kw);
	maildir_scan_free(&s->scan);
	s->scanned = s->scan_part = 0;
	maildir_scan_free(&s->hints);
	s->hints_off = 0;
	s->wslot = -1;
	ovf_free_all(s);
	return rc;
}

static int md_open_box(struct store *st, const char *name, int read_only,
		       struct store_box_state *st_r, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	int fd;
	if (maildir_store_close_box(s, e) < 0)
		return -1;
	memset(st_r, 0, sizeof *st_r);
	if (maildir_layout_is_inbox(name) && !read_only &&
	    maildir_folder_ensure(s, "INBOX", NULL, e) < 0)
		return -1;
	if (maildir_folder_open(s, name, &fd, e) < 0)
		return -1;
	const char *box = maildir_layout_is_inbox(name) ? "INBOX" : name;
	/* before the marker is read: any change after it is then an event */
	s->wslot = read_only ? -1 : maildir_watch_add(s->watch, box, fd);
	s->kw = maildir_keywords_new();
	/* The identity is created even for a read-only open, so that it is the
	 * same whichever call saw the folder first (list_boxes creates it too);
	 * on a read-only file system it stays empty. */
	if ((maildir_folder_ident(s, fd, 0, s->ident, e) < 0 && !read_only) ||
	    maildir_keywords_read(s->kw, fd, e) < 0) {
		maildir_keywords_free(&s->kw);
		close(fd);
		return -1;
	}
	s->boxfd = fd;
	s->box = mf_strdup(box);
	s->read_only = read_only;
	if (!read_only)
		maildir_scan_clean_tmp(fd, time(NULL), NULL, NULL);
	st_r->read_only = read_only;
	snprintf(st_r->ident, sizeof st_r->ident, "%s", s->ident);
	maildir_scan_marker(fd, st_r->marker, NULL);
	return 0;
}

/* maildir_scan_locate, counted (maildir_store_dir_scans) */
static int locate(struct md_store *s, const char *key, char **name_r, int *in_new_r,
		  struct err *e)
{
	s->dir_scans++;
	return maildir_scan_locate(s->boxfd, key, name_r, in_new_r, e);
}

/* A guessed name, until a guess proves wrong. */
static struct maildir_scan_ent *hint_find(struct md_store *s, const char *key)
{
	if (s->scanned || !s->hints.n || s->hints_off)
		return NULL;
	if (!s->hints_sorted) {
		qsort(s->hints.v, s->hints.n, sizeof *s->hints.v, maildir_scan_ent_order);
		s->hints_sorted = 1;
	}
	return maildir_scan_find(&s->hints, key);
}

static struct maildir_scan_ent *find_ent(struct md_store *s, const char *key);

/* The file en names was not there; the entry to try next, or NULL (then
 * maildir_scan_locate). A message without flags is guessed where delivery
 * put it, new/<key>, but a flag added and taken away again left it in
 * cur/ as "<key>:2,": that form is tried before the guess counts as
 * wrong. A wrong guess ends the guessing: the folder's names are read
 * once and serve every later key (a locate per wrong guess would read the
 * directories as often as there are stale guesses). */
static struct maildir_scan_ent *ent_retry(struct md_store *s, struct maildir_scan_ent *en,
					  const char *key)
{
	if (!en || en < s->hints.v || en >= s->hints.v + s->hints.n)
		return NULL;
	if (en->in_new && !strcmp(en->name, key)) {
		struct buf alt;
		buf_init(&alt, 0);
		buf_addf(&alt, "%s:2,", key);
		maildir_scan_ent_rename(en, buf_detach(&alt, NULL));
		en->in_new = 0;
		return en;
	}
	s->hints_off = 1;
	return find_ent(s, key);
}

/* The name to try for key (owned): en's, or without one where
 * maildir_scan_locate finds it; 1, 0 gone, -1 error. */
static int ent_name(struct md_store *s, const struct maildir_scan_ent *en, const char *key,
		    char **name_r, int *in_new_r, struct err *e)
{
	if (!en)
		return locate(s, key, name_r, in_new_r, e);
	*name_r = mf_strdup(en->name);
	*in_new_r = en->in_new;
	return 1;
}

/* The map key -> file name comes from the last listing; without one (an
 * unchanged folder is not listed), read the names once so that a run of
 * lookups does not read the directories per key. Names only: every user
 * of a name handles a stale one, so no file needs a stat here. */
static struct maildir_scan_ent *find_ent(struct md_store *s, const char *key)
{
	struct maildir_scan_ent *h = hint_find(s, key);
	if (h)
		return h;
	if (s->scan_part) {
		struct maildir_scan_ent *en = maildir_scan_find(&s->scan, key);
		if (en)
			return en;
		maildir_scan_free(&s->scan); /* a key the filter left out */
		s->scanned = s->scan_part = 0;
	}
	if (!s->scanned && (s->dir_scans++, maildir_scan_names(s->boxfd, &s->scan, NULL) == 0)) {
		s->scanned = 1;
		s->list_stats += s->scan.nstat;
	}
	return maildir_scan_find(&s->scan, key);
}

/* Open the file of key for reading; 1 ok, 0 gone, -1 error. *p_r is the
 * parsed name of the file opened. */
static int open_msg(struct md_store *s, const char *key, int *fd_r, struct maildir_name *p_r,
		    struct err *e)
{
	struct maildir_scan_ent *en = find_ent(s, key);
	char path[1024];
	for (int tries = 0; tries < 6; tries++) {
		char *name;
		int in_new;
		int r = ent_name(s, en, key, &name, &in_new, e);
		if (r <= 0)
			return r;
		snprintf(path, sizeof path, "%s/%s", in_new ? "new" : "cur", name);
		*fd_r = openat(s->boxfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		int err = errno;
		if (*fd_r >= 0) {
			maildir_name_parse(name, p_r);
			free(name);
			return 1;
		}
		free(name);
		if (err != ENOENT) {
			errno = err;
			return err_sys(e, ERR_IO, "cannot open '%s'", path);
		}
		en = ent_retry(s, en, key);
	}
	return 0;
}

/* Size in CRLF form of the open file (reads it; rewinds). */
static int crlf_size(int fd, uint64_t *size_r, struct err *e)
{
	char b[IO_CHUNK];
	uint64_t n = 0;
	char last = 0;
	for (;;) {
		ssize_t r = read(fd, b, sizeof b);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(e, ERR_IO, "cannot read message");
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			n += (b[i] == '\n' && last != '\r') ? 2 : 1;
			last = b[i];
		}
	}
	*size_r = n;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return err_sys(e, ERR_IO, "cannot rewind message");
	return 0;
}

/* The header block of the open file into hdr (bounded). */
static int read_header(int fd, struct buf *hdr, struct err *e)
{
	for (;;) {
		if (buf_grow(hdr, 8192) < 0)
			return 0; /* header too long: use what we have */
		ssize_t r = read(fd, hdr->data + hdr->len, 8192);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(e, ERR_IO, "cannot read message");
		if (r == 0)
			return 0;
		hdr->len += (size_t)r;
		hdr->data[hdr->len] = '\0';
		size_t bl = maildir_hdr_block_len(hdr->data, hdr->len);
		if (bl < hdr->len) {
			buf_truncate(hdr, bl);
			return 0;
		}
	}
}

static int64_t date_from_header(int fd)
{
	struct buf hdr, date;
	int64_t t = -1;
	buf_init(&hdr, HDR_MAX);
	buf_init(&date, 4096);
	if (read_header(fd, &hdr, NULL) == 0 &&
	    store_header_field(hdr.data, hdr.len, "Date", &date) == 1 &&
	    maildir_hdr_parse_date(date.data, &t) < 0)
		t = -1;
	buf_release(&hdr);
	buf_release(&date);
	return t;
}

static void name_flags(struct md_store *s, const char *key, const struct maildir_name *p,
		       struct flagset *f)
{
	flagset_init(f);
	if (p->info == 2) {
		f->sys = p->sys;
		for (int i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
			const char *kw = (p->kw & (1u << i)) ? maildir_keywords_name(s->kw, i) : NULL;
			if (kw)
				flagset_add_kw(f, kw);
		}
	}
	maildir_store_kw_overflow(&s->base, key, f);
}

static int key_cmp(const void *a, const void *b)
{
	const struct maildir_scan_ent *en = a;
	return maildir_scan_ent_keycmp(en, *(const char *const *)b);
}

static int known_key(const struct store_since *since, const struct maildir_scan_ent *en)
{
	return since && (since->flags_only ||
			 (since->known && since->nknown &&
			  bsearch(en, since->known, since->nknown, sizeof *since->known, key_cmp)));
}

/* Fill m from the scan entry: flags from the name; for a key the caller
 * knows nothing more (size from W= or 0, idate -1); else size (W= or read)
 * and date (mtime, or Date: for a bogus mtime). */
static void list_one(struct md_store *s, const struct maildir_scan_ent *en, int known,
		     struct store_msg *m)
{
	struct maildir_name p;
	maildir_name_parse(en->name, &p);
	m->key = maildir_scan_ent_key(en);
	name_flags(s, m->key, &p, &m->flags);
	m->size = p.has_w ? p.w : 0;
	m->idate = known ? -1 : en->mtime;
	if (known || (p.has_w && en->mtime > 0))
		return;
	/* Foreign file without W=, or a bogus mtime: read it. */
	int fd;
	struct maildir_name p2;
	if (open_msg(s, m->key, &fd, &p2, NULL) != 1)
		return;
	s->list_reads++;
	if (!p.has_w)
		crlf_size(fd, &m->size, NULL);
	if (en->mtime <= 0)
		m->idate = date_from_header(fd);
	close(fd);
}

/* Ask since->unchanged about en (a key too long for the stack is listed). */
static int unchanged(struct md_store *s, const struct store_since *since,
		     const struct maildir_scan_ent *en)
{
	char key[256];
	if (en->keylen >= sizeof key)
		return 0;
	memcpy(key, en->name, en->keylen);
	key[en->keylen] = '\0';
	struct maildir_name p;
	struct flagset f;
	maildir_name_parse(en->name, &p);
	name_flags(s, key, &p, &f);
	int r = since->unchanged(since->unchanged_ctx, key, &f);
	flagset_free(&f);
	return r == 1;
}

/*
 * With since->known the folder is read by names only and the files of
 * known keys are never touched; the others are stat'ed one by one (and
 * dropped from the scan when gone, so that the scan stays the listing).
 */
static int md_list_msgs(struct store *st, const struct store_since *since,
			struct store_listing *out, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	memset(out, 0, sizeof *out);
	if (s->boxfd < 0)
		return err_set(e, ERR_USAGE, "no mailbox is open");
	if (since && since->marker[0] && maildir_scan_unchanged(s->boxfd, since->marker))
		return 0; /* full = 0, nothing changed */
	int names = since && (since->flags_only || (since->known && since->nknown));
	maildir_scan_free(&s->scan);
	s->scanned = s->scan_part = 0;
	if (maildir_keywords_read(s->kw, s->boxfd, e) < 0 ||
	    (names ? maildir_scan_names : maildir_scan_list)(s->boxfd, &s->scan, e) < 0)
		return -1;
	s->scanned = 1;
	int filter = since && since->unchanged;
	size_t cap = filter ? 64 : s->scan.n ? s->scan.n : 1;
	out->msgs = mf_calloc(cap, sizeof *out->msgs);
	out->full = 1;
	out->filtered = filter;
	/* Stat the unknown keys first, dropping the gone ones, so that the scan
	 * is whole and sorted again before list_one looks keys up in it. */
	size_t w = 0;
	int rc = 0;
	for (size_t i = 0; i < s->scan.n; i++) {
		struct maildir_scan_ent *en = &s->scan.v[i];
		if (names && rc == 0 && en->mtime < 0 && !known_key(since, en)) {
			int r = maildir_scan_stat(s->boxfd, &s->scan, en, e);
			if (r <= 0) {
				rc = r; /* -1: stop listing; the scan keeps the rest */
				maildir_scan_ent_drop(en);
				continue;
			}
		}
		s->scan.v[w++] = *en;
	}
	s->scan.n = w;
	s->list_stats += s->scan.nstat;
	if (rc < 0) {
		store_listing_free(out);
		memset(out, 0, sizeof *out);
		return -1;
	}
	/* what the filter left out, dropped from the scan after the loop (list_one
	 * may look keys up in it meanwhile) */
	unsigned char *same = filter ? mf_calloc(s->scan.n / 8 + 1, 1) : NULL;
	for (size_t i = 0; i < s->scan.n; i++) {
		const struct maildir_scan_ent *en = &s->scan.v[i];
		if (filter && unchanged(s, since, en)) {
			same[i / 8] |= (unsigned char)(1u << (i % 8));
			continue;
		}
		if (out->n == cap) {
			cap *= 2;
			out->msgs = mf_reallocarray(out->msgs, cap, sizeof *out->msgs);
		}
		list_one(s, en, known_key(since, en), &out->msgs[out->n++]);
	}
	if (filter) { /* the journal knows the rest: keep what was listed */
		for (size_t i = 0; i < s->scan.n; i++)
			if (same[i / 8] & (1u << (i % 8)))
				maildir_scan_ent_drop(&s->scan.v[i]);
		free(same);
		maildir_scan_compact(&s->scan);
		s->scan_part = 1;
	}
	return 0;
}

/* Stream one open file to the sink, LF -> CRLF. */
static int stream_msg(int fd, const struct store_sink *sink, struct err *e)
{
	char in[IO_CHUNK], out[2 * IO_CHUNK];
	char last = 0;
	for (;;) {
		ssize_t r = read(fd, in, sizeof in);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(e, ERR_IO, "cannot read message");
		if (r == 0)
			return 0;
		size_t o = 0;
		for (ssize_t i = 0; i < r; i++) {
			if (in[i] == '\n' && last != '\r')
				out[o++] = '\r';
			out[o++] = in[i];
			last = in[i];
		}
		if (sink->write(sink->ctx, out, o, e) != 0)
			return -1;
	}
}

static int md_fetch(struct store *st, const char *const *keys, size_t n,
		    const struct store_sink *sink, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	if (s->boxfd < 0)
		return err_set(e, ERR_USAGE, "no mailbox is open");
	for (size_t i = 0; i < n; i++) {
		struct store_msg meta = { 0 };
		struct maildir_name p;
		struct err me = { 0 };
		int fd = -1;
		int r = open_msg(s, keys[i], &fd, &p, &me);
		meta.key = (char *)keys[i];
		meta.idate = -1;
		flagset_init(&meta.flags);
		if (r <= 0) {
			if (r == 0)
				err_set(&me, ERR_GONE, "message '%s' is gone", keys[i]);
			if (sink->begin(sink->ctx, &meta, &me) == 0)
				sink->end(sink->ctx, 0, &me);
			continue;
		}
		struct stat stt;
		if (fstat(fd, &stt) == 0)
			meta.idate = stt.st_mtime;
		name_flags(s, keys[i], &p, &meta.flags);
		meta.size = p.w;
		int ok = p.has_w || crlf_size(fd, &meta.size, &me) == 0;
		if (ok && sink->begin(sink->ctx, &meta, &me) != 0) {
			/* the sink refused the message: no end() for it */
			flagset_free(&meta.flags);
			close(fd);
			continue;
		}
		if (ok)
			ok = stream_msg(fd, sink, &me) == 0;
		close(fd);
		flagset_free(&meta.flags);
		sink->end(sink->ctx, ok, &me);
	}
	return 0;
}

static int md_headers(struct store *st, const char *key, struct buf *msgid, struct buf *date,
		      struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	struct maildir_name p;
	int fd;
	if (s->boxfd < 0)
		return err_set(e, ERR_USAGE, "no mailbox is open");
	int r = open_msg(s, key, &fd, &p, e);
	if (r <= 0)
		return r == 0 ? err_set(e, ERR_GONE, "message '%s' is gone", key) : -1;
	struct buf hdr;
	buf_init(&hdr, HDR_MAX);
	int rc = read_header(fd, &hdr, e);
	close(fd);
	if (rc == 0 && (store_header_field(hdr.data, hdr.len, "Message-ID", msgid) < 0 ||
			store_header_field(hdr.data, hdr.len, "Date", date) < 0))
		rc = err_set(e, ERR_LIMIT, "header field too long in '%s'", key);
	buf_release(&hdr);
	return rc;
}

/* Keyword name -> slot, adding to dovecot-keywords; -1 = overflow. */
static int kw_bits(struct md_store *s, const struct flagset *f, int add, uint32_t *bits,
		   struct err *e)
{
	*bits = 0;
	for (size_t i = 0; f && i < f->nkw; i++) {
		int idx = maildir_keywords_find(s->kw, f->kw[i]);
		if (idx < 0 && add &&
		    maildir_keywords_add(s->kw, s->boxfd, f->kw[i], s->do_fsync, &idx, e) < 0)
			return -1;
		if (idx >= 0)
			*bits |= 1u << idx;
	}
	return 0;
}

void maildir_store_hint(struct store *st, const char *key, const struct flagset *flags)
{
	struct md_store *s = (struct md_store *)st;
	uint32_t kw;
	if (s->boxfd < 0 || s->scanned || kw_bits(s, flags, 0, &kw, NULL) < 0)
		return;
	/* where delivery puts it (maildir_deliver.c): no flags, new/ and no info */
	int in_new = !(flags->sys & MF_FLAGS_ALL) && !flags->nkw;
	struct buf name;
	buf_init(&name, 0);
	buf_addstr(&name, key);
	if (!in_new)
		maildir_name_info(&name, flags->sys & MF_FLAGS_ALL, kw, "");
	struct maildir_scan_ent en = { .in_new = (uint8_t)in_new, .mtime = -1 };
	en.keylen = (uint32_t)strlen(key);
	en.name = buf_detach(&name, NULL);
	s->hints.v = mf_reallocarray(s->hints.v, s->hints.n + 1, sizeof *s->hints.v);
	s->hints.v[s->hints.n++] = en;
	s->hints_sorted = 0;
}

/* Rename one message to its new info; 1 done, 0 gone, -1 error. */
static int reflag_one(struct md_store *s, const char *key, unsigned add_sys, unsigned del_sys,
		      uint32_t add_kw, uint32_t del_kw, struct err *e)
{
	struct maildir_scan_ent *en = find_ent(s, key);
	for (int tries = 0; tries < 6; tries++) {
		char *name;
		int in_new;
		int found = ent_name(s, en, key, &name, &in_new, e);
		if (found <= 0)
			return found;
		struct maildir_name p;
		maildir_name_parse(name, &p);
		unsigned sys = (p.sys | add_sys) & ~del_sys;
		uint32_t kw = (p.kw | add_kw) & ~del_kw;
		if (sys == p.sys && kw == p.kw && (p.info == 2 || (in_new && !sys && !kw))) {
			free(name);
			return 1;
		}
		struct buf from, to;
		buf_init(&from, 0);
		buf_init(&to, 0);
		buf_addf(&from, "%s/%s", in_new ? "new" : "cur", name);
		buf_addstr(&to, "cur/");
		buf_add(&to, name, p.keylen);
		maildir_name_info(&to, sys, kw, p.info == 2 ? p.extra : "");
		free(name);
		int r = renameat(s->boxfd, from.data, s->boxfd, to.data);
		int err = errno;
		if (r == 0) {
			maildir_watch_own(s->watch, s->wslot, 2);
			s->dirty_cur = 1;
			s->dirty_new |= in_new;
			if (en) {
				maildir_scan_ent_rename(en, mf_strdup(to.data + 4));
				en->in_new = 0;
			}
		}
		buf_release(&from);
		buf_release(&to);
		if (r == 0)
			return 1;
		if (err != ENOENT) {
			errno = err;
			return err_sys(e, ERR_IO, "cannot rename message '%s'", key);
		}
		en = ent_retry(s, en, key);
	}
	return 0;
}

static int md_set_flags(struct store *st, const char *const *keys, size_t n,
			const struct flagset *add, const struct flagset *del, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	uint32_t add_kw, del_kw;
	size_t gone = 0;
	const char *first_gone = NULL;
	if (s->boxfd < 0)
		return err_set(e, ERR_USAGE, "no mailbox is open");
	if (s->read_only)
		return err_set(e, ERR_USAGE, "mailbox '%s' is open read-only", s->box);
	if (kw_bits(s, add, 1, &add_kw, e) < 0 || kw_bits(s, del, 0, &del_kw, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int r = reflag_one(s, keys[i], add ? add->sys : 0, del ? del->sys : 0, add_kw,
				   del_kw, e);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (!gone++)
				first_gone = keys[i];
			continue;
		}
		for (size_t k = 0; add && k < add->nkw; k++)
			if (maildir_keywords_find(s->kw, add->kw[k]) < 0)
				maildir_store_ovf_add(s, keys[i], add->kw[k]);
		struct maildir_overflow *o = ovf_find(s, keys[i]);
		for (size_t k = 0; o && del && k < del->nkw; k++)
			flagset_del_kw(&o->kws, del->kw[k]);
	}
	if (gone)
		return err_set(e, ERR_GONE, "%zu message(s) gone, first '%s'", gone, first_gone);
	return 0;
}

/* Unlink new/ or cur/ name; 1 done, 0 not there (ENOENT), -1 error. */
static int unlink_msg(struct md_store *s, int in_new, const char *name, struct err *e)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", in_new ? "new" : "cur", name);
	if (unlinkat(s->boxfd, path, 0) < 0)
		return errno == ENOENT ? 0 : err_sys(e, ERR_IO, "cannot remove '%s'", path);
	maildir_watch_own(s->watch, s->wslot, 1);
	s->dirty_cur |= !in_new;
	s->dirty_new |= in_new;
	return 1;
}

static int md_expunge(struct store *st, const char *const *keys, size_t n, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	if (s->boxfd < 0)
		return err_set(e, ERR_USAGE, "no mailbox is open");
	if (s->read_only)
		return err_set(e, ERR_USAGE, "mailbox '%s' is open read-only", s->box);
	for (size_t i = 0; i < n; i++) {
		struct maildir_scan_ent *en = find_ent(s, keys[i]);
		int done = 0;
		for (; en && !done; en = done ? en : ent_retry(s, en, keys[i]))
			if ((done = unlink_msg(s, en->in_new, en->name, e)) < 0)
				return -1;
		for (int tries = 0; !done && tries < 4; tries++) {
			char *name;
			int in_new;
			int r = locate(s, keys[i], &name, &in_new, e);
			if (r < 0)
				return -1;
			if (r == 0)
				break; /* already gone: that is what was asked */
			done = unlink_msg(s, in_new, name, e);
			free(name);
			if (done < 0)
				return -1;
		}
		ovf_drop(s, keys[i]);
	}
	return 0;
}

static int md_flush(struct store *st, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	if (s->boxfd < 0)
		return 0;
	return maildir_deliver_flush(st, e);
}

static void md_close(struct store *st)
{
	struct md_store *s = (struct md_store *)st;
	if (!s)
		return;
	maildir_store_close_box(s, NULL);
	maildir_store_unwatch(st);
	maildir_watch_free(&s->watch);
	free(s->root);
	free(s->root_real);
	free(s->inbox_path);
	free(s->base.label);
	free(s);
}

/* A forked child's copy: deliveries still pending are the parent's to
 * rename and fsync; the child only forgets them (their memory goes with
 * the child's _exit) and closes its descriptors. */
void maildir_store_abandon(struct store *st)
{
	struct md_store *s = (struct md_store *)st;
	if (!s)
		return;
	s->pend = NULL;
	s->npend = 0;
	s->dirty_cur = s->dirty_new = 0;
	s->abandoned = 1;
	md_close(st);
}

static const struct store_ops maildir_ops = {
	.type = "maildir",
	.close = md_close,
	.list_boxes = maildir_folder_list,
	.open_box = md_open_box,
	.list_msgs = md_list_msgs,
	.fetch = md_fetch,
	.headers = md_headers,
	.append_begin = maildir_deliver_begin,
	.append_write = maildir_deliver_write,
	.append_end = maildir_deliver_end,
	.set_flags = md_set_flags,
	.expunge = md_expunge,
	.create_box = maildir_folder_create,
	.delete_box = maildir_folder_delete,
	.rename_box = maildir_folder_rename,
	.flush = md_flush,
};

static int mkdir_p(char *path)
{
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		int r = mkdir(path, 0700);
		*p = c;
		if (r < 0 && errno != EEXIST)
			return -1;
		if (!c)
			return 0;
	}
}

int maildir_store_open(const char *root, const struct maildir_opts *o, struct store **s_r,
		       struct err *e)
{
	static const struct maildir_opts defaults = { 0 };
	*s_r = NULL;
	if (!o)
		o = &defaults;
	if (!root || !*root)
		return err_set(e, ERR_USAGE, "empty Maildir root");
	struct stat st;
	if (stat(root, &st) < 0) {
		if (errno != ENOENT)
			return err_sys(e, ERR_IO, "cannot access '%s'", root);
		if (!o->create)
			return err_set(e, ERR_NOTFOUND, "Maildir root '%s' does not exist", root);
		char *p = mf_strdup(root);
		int r = mkdir_p(p);
		free(p);
		if (r < 0)
			return err_sys(e, ERR_IO, "cannot create '%s'", root);
	} else if (!S_ISDIR(st.st_mode)) {
		return err_set(e, ERR_USAGE, "Maildir root '%s' is not a directory", root);
	}
	struct md_store *s = mf_calloc(1, sizeof *s);
	s->base.ops = &maildir_ops;
	s->root = mf_strdup(root);
	s->root_real = realpath(root, NULL);
	s->layout = o->layout;
	s->do_fsync = !o->fsync_off;
	s->delete_nonempty = o->delete_nonempty;
	s->boxfd = -1;
	s->watch = maildir_watch_new();
	s->wslot = -1;
	if (!s->root_real) {
		err_sys(e, ERR_IO, "cannot resolve '%s'", root);
		md_close(&s->base);
		return -1;
	}
	if (o->inbox_path && *o->inbox_path) {
		char *ip = realpath(o->inbox_path, NULL);
		s->inbox_path = ip ? ip : mf_strdup(o->inbox_path);
		if (s->inbox_path[0] != '/') {
			err_set(e, ERR_USAGE, "inbox path '%s' must be absolute", o->inbox_path);
			md_close(&s->base);
			return -1;
		}
	}
	if (o->hostname)
		snprintf(s->host, sizeof s->host, "%s", o->hostname);
	else if (gethostname(s->host, sizeof s->host - 1) < 0)
		snprintf(s->host, sizeof s->host, "localhost");
	s->host[64] = '\0'; /* keeps file names well below NAME_MAX */
	struct buf label;
	buf_init(&label, 0);
	buf_addf(&label, "maildir:%s", root);
	s->base.label = buf_detach(&label, NULL);
	if (o->create && maildir_folder_ensure(s, "INBOX", NULL, e) < 0) {
		md_close(&s->base);
		return -1;
	}
	*s_r = &s->base;
	return 0;
}
