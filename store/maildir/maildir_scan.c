/*
 * maildir_scan.c — race-tolerant listing of a folder's new/ and cur/,
 * tmp/ cleaning and the change marker (design in maildir_scan.h). Owns the
 * scan arrays it returns.
 */
#include "maildir/maildir_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "lib/banned.h"

#define SCAN_PASSES_MAX 4
#define LOCATE_TRIES 2
#define LOCATE_TRIES_MAX 50
#define VERIFY_TRIES_MAX 50

static const char *const subdirs[2] = { "cur", "new" };

/* statfs f_type of the file systems the fine rule trusts (maildir_scan.h):
 * local, nanosecond timestamps taken from the kernel's coarse clock (or
 * later, with multigrain timestamps). */
static const unsigned long fine_fs_types[] = {
	0xEF53UL,     /* ext2, ext3, ext4 */
	0x58465342UL, /* xfs */
	0x9123683EUL, /* btrfs */
	0x01021994UL, /* tmpfs */
	0xF2F52010UL, /* f2fs */
	0xCA451A4EUL, /* bcachefs */
	0x2FC12FC1UL, /* zfs */
};
#define MARKER_MARGIN_NS 1000000LL /* 1 ms */
#define NS_PER_S 1000000000LL

/* Blocks above glibc's mmap threshold (cmd/main.c): freed with the scan,
 * they go back to the kernel at once. */
#define POOL_BLOCK (256 * 1024)

struct maildir_name_pool {
	struct maildir_name_pool *next;
	size_t used, cap;
	char data[];
};

static char *pool_strdup(struct maildir_name_pool **pp, const char *name)
{
	size_t n = strlen(name) + 1;
	struct maildir_name_pool *b = *pp;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > POOL_BLOCK ? n : POOL_BLOCK;
		b = mf_calloc(1, sizeof *b + cap);
		b->cap = cap;
		b->next = *pp;
		*pp = b;
	}
	char *d = b->data + b->used;
	memcpy(d, name, n);
	b->used += n;
	return d;
}

static void pool_free(struct maildir_name_pool *b)
{
	while (b) {
		struct maildir_name_pool *next = b->next;
		free(b);
		b = next;
	}
}

void maildir_scan_ent_drop(struct maildir_scan_ent *en)
{
	if (!en->pooled)
		free(en->name);
	en->name = NULL;
	en->pooled = 0;
}

void maildir_scan_ent_rename(struct maildir_scan_ent *en, char *name)
{
	maildir_scan_ent_drop(en);
	en->name = name;
}

void maildir_scan_compact(struct maildir_scan *s)
{
	struct maildir_name_pool *pool = NULL;
	size_t w = 0;
	for (size_t i = 0; i < s->n; i++) {
		struct maildir_scan_ent *en = &s->v[i];
		if (!en->name)
			continue;
		if (en->pooled)
			en->name = pool_strdup(&pool, en->name);
		s->v[w++] = *en;
	}
	pool_free(s->pool);
	s->pool = pool;
	s->n = w;
	s->v = mf_reallocarray(s->v, w ? w : 1, sizeof *s->v);
}

void maildir_scan_free(struct maildir_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		maildir_scan_ent_drop(&s->v[i]);
	free(s->v);
	pool_free(s->pool);
	s->v = NULL;
	s->n = 0;
	s->pool = NULL;
}

/* strcmp order of the two keys (no key holds a NUL) */
int maildir_scan_ent_order(const void *a, const void *b)
{
	const struct maildir_scan_ent *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->keylen < y->keylen ? x->keylen : y->keylen);
	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

int maildir_scan_ent_keycmp(const struct maildir_scan_ent *en, const char *key)
{
	int c = strncmp(en->name, key, en->keylen);
	return c ? c : key[en->keylen] ? -1 : 0;
}

char *maildir_scan_ent_key(const struct maildir_scan_ent *en)
{
	return mf_strndup(en->name, en->keylen);
}

static int ent_cmp(const void *a, const void *b)
{
	const struct maildir_scan_ent *x = a, *y = b;
	int c = maildir_scan_ent_order(x, y);
	if (c)
		return c;
	/* Same key: cur/ (in_new = 0) first, so it wins the dedup. */
	return x->in_new - y->in_new;
}

struct maildir_scan_ent *maildir_scan_find(const struct maildir_scan *s, const char *key)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = maildir_scan_ent_keycmp(&s->v[mid], key);
		if (c == 0)
			return &s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Call fn for every message name in dirfd/sub. */
static int read_sub(int dirfd, const char *sub, int (*fn)(void *, const char *, int), void *ctx,
		    struct err *e)
{
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(e, ERR_IO, "cannot open '%s'", sub);
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(e, ERR_IO, "cannot read '%s'", sub);
	}
	int in_new = strcmp(sub, "new") == 0, rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_UNKNOWN && de->d_type != DT_REG)
			continue;
		rc = fn(ctx, de->d_name, in_new);
		if (rc != 0)
			break;
		errno = 0;
	}
	if (rc == 0 && errno != 0)
		rc = err_sys(e, ERR_IO, "cannot read '%s'", sub);
	closedir(d);
	return rc;
}

struct collect {
	struct maildir_scan_ent *v;
	size_t n, alloc;
	int pass;
	struct maildir_name_pool *pool;
};

static int collect_one(void *ctx, const char *name, int in_new)
{
	struct collect *c = ctx;
	struct maildir_name p;
	if (maildir_name_parse(name, &p) < 0)
		return 0;
	if (c->n == c->alloc) {
		/* past glibc's mmap threshold realloc is an mremap, not a copy:
		 * grow by a quarter there, so a big folder leaves little slack */
		c->alloc = c->alloc < 4096 ? (c->alloc ? c->alloc * 2 : 64) : c->alloc + c->alloc / 4;
		c->v = mf_reallocarray(c->v, c->alloc, sizeof *c->v);
	}
	struct maildir_scan_ent *en = &c->v[c->n++];
	memset(en, 0, sizeof *en);
	en->name = pool_strdup(&c->pool, name);
	en->pooled = 1;
	en->keylen = (uint32_t)p.keylen;
	en->in_new = (uint8_t)in_new;
	en->mtime = -1;
	en->seen_pass = (uint16_t)c->pass;
	return 0;
}

/* mtimes (and devices, dev may be NULL) of cur/ and new/; -1 if absent */
static void dir_stats(int dirfd, struct timespec ts[2], dev_t *dev)
{
	for (int i = 0; i < 2; i++) {
		struct stat st;
		if (fstatat(dirfd, subdirs[i], &st, 0) == 0) {
			ts[i] = st.st_mtim;
			if (dev)
				dev[i] = st.st_dev;
		} else {
			ts[i].tv_sec = ts[i].tv_nsec = -1;
		}
	}
}

static void dir_mtimes(int dirfd, struct timespec ts[2])
{
	dir_stats(dirfd, ts, NULL);
}

static int same_times(const struct timespec a[2], const struct timespec b[2])
{
	return a[0].tv_sec == b[0].tv_sec && a[0].tv_nsec == b[0].tv_nsec &&
	       a[1].tv_sec == b[1].tv_sec && a[1].tv_nsec == b[1].tv_nsec;
}

static void sift_down(struct maildir_scan_ent *v, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && ent_cmp(&v[child], &v[child + 1]) < 0)
			child++;
		if (ent_cmp(&v[root], &v[child]) >= 0)
			return;
		struct maildir_scan_ent t = v[root];
		v[root] = v[child];
		v[child] = t;
	}
}

/* In place: glibc's qsort is a merge sort with a copy of the whole array
 * beside it (0.7 MB more at the peak for a 21,000-message folder). */
static void sort_ents(struct maildir_scan_ent *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n);
	for (size_t end = n; end > 1; end--) {
		struct maildir_scan_ent t = v[0];
		v[0] = v[end - 1];
		v[end - 1] = t;
		sift_down(v, 0, end - 1);
	}
}

/* Sort and keep one entry per key, preferring cur/ over new/, with the
 * last pass that saw the key. Which of several passes' names survives does
 * not matter: verify() stats it and finds the key again if the name is
 * stale. */
static void dedup(struct collect *c)
{
	sort_ents(c->v, c->n);
	size_t w = 0;
	for (size_t r = 0; r < c->n; r++) {
		struct maildir_scan_ent *last = w ? &c->v[w - 1] : NULL;
		if (last && maildir_scan_ent_order(last, &c->v[r]) == 0) {
			if (c->v[r].seen_pass > last->seen_pass)
				last->seen_pass = c->v[r].seen_pass;
			maildir_scan_ent_drop(&c->v[r]);
			continue;
		}
		c->v[w++] = c->v[r];
	}
	c->n = w;
}

/* Stat the entry's file; on ENOENT find the key again. 1 ok, 0 gone, -1.
 * A file that locate keeps finding under a new name exists: "gone" would
 * make the caller propagate a deletion, so after VERIFY_TRIES_MAX renames
 * in a row the listing fails instead (the folder changes too fast now; the
 * next run lists it again). */
static int verify(int dirfd, struct maildir_scan_ent *en, unsigned long *nstat,
		  struct err *e)
{
	char path[PATH_MAX];
	for (int tries = 0; tries < VERIFY_TRIES_MAX; tries++) {
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", en->in_new ? "new" : "cur", en->name);
		(*nstat)++;
		if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!S_ISREG(st.st_mode))
				return 0;
			en->mtime = st.st_mtime;
			en->fsize = (uint64_t)st.st_size;
			return 1;
		}
		if (errno != ENOENT)
			return err_sys(e, ERR_IO, "cannot stat '%s'", path);
		char *name, *key = maildir_scan_ent_key(en);
		int in_new;
		int r = maildir_scan_locate(dirfd, key, &name, &in_new, e);
		free(key);
		if (r <= 0)
			return r;
		maildir_scan_ent_rename(en, name); /* the same key: keylen, order stay */
		en->in_new = (uint8_t)in_new;
	}
	return err_set(e, ERR_IO, "message '%.*s' was renamed %d times while listing",
		       (int)en->keylen, en->name, VERIFY_TRIES_MAX);
}

/* The passes and the dedup; with names_only, only keys missing from the
 * last pass (deleted or renamed while listing?) are stat'ed. */
static int scan(int dirfd, int names_only, struct maildir_scan *out, struct err *e)
{
	struct collect c = { 0 };
	struct timespec before[2], after[2];
	memset(out, 0, sizeof *out);
	for (int pass = 0; pass < SCAN_PASSES_MAX; pass++) {
		c.pass = pass;
		dir_mtimes(dirfd, before);
		/* new/ first: a file moving new/ -> cur/ is then seen at least once. */
		if (read_sub(dirfd, "new", collect_one, &c, e) < 0 ||
		    read_sub(dirfd, "cur", collect_one, &c, e) < 0)
			goto fail;
		dir_mtimes(dirfd, after);
		out->passes = pass + 1;
		if (same_times(before, after))
			break;
	}
	dedup(&c);
	size_t w = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (names_only && c.v[i].seen_pass == c.pass) {
			c.v[w++] = c.v[i];
			continue;
		}
		int r = verify(dirfd, &c.v[i], &out->nstat, e);
		if (r < 0) {
			for (size_t j = i; j < c.n; j++)
				maildir_scan_ent_drop(&c.v[j]);
			c.n = w;
			goto fail;
		}
		if (r == 0) {
			maildir_scan_ent_drop(&c.v[i]);
			continue;
		}
		c.v[w++] = c.v[i];
	}
	c.n = w;
	/* verify() may have changed a name; keys, hence the order, stay. The
	 * array loses its growth slack: it lives as long as the folder is open. */
	out->v = mf_reallocarray(c.v, c.n ? c.n : 1, sizeof *c.v);
	out->n = c.n;
	out->pool = c.pool;
	return 0;
fail:
	for (size_t i = 0; i < c.n; i++)
		maildir_scan_ent_drop(&c.v[i]);
	free(c.v);
	pool_free(c.pool);
	return -1;
}

int maildir_scan_list(int dirfd, struct maildir_scan *out, struct err *e)
{
	return scan(dirfd, 0, out, e);
}

int maildir_scan_names(int dirfd, struct maildir_scan *out, struct err *e)
{
	return scan(dirfd, 1, out, e);
}

int maildir_scan_stat(int dirfd, struct maildir_scan *s, struct maildir_scan_ent *en,
		      struct err *e)
{
	return verify(dirfd, en, &s->nstat, e);
}

struct locate {
	const char *key;
	size_t keylen;
	char *name;
	int in_new;
};

static int locate_one(void *ctx, const char *name, int in_new)
{
	struct locate *l = ctx;
	if (strncmp(name, l->key, l->keylen) != 0)
		return 0;
	struct maildir_name p;
	if (maildir_name_parse(name, &p) < 0 || p.keylen != l->keylen)
		return 0;
	free(l->name);
	l->name = mf_strdup(name);
	l->in_new = in_new;
	return in_new ? 0 : 1; /* cur/ wins: stop there */
}

int maildir_scan_locate(int dirfd, const char *key, char **name_r, int *in_new_r,
			struct err *e)
{
	struct locate l = { key, strlen(key), NULL, 0 };
	struct timespec before[2], after[2];
	*name_r = NULL;
	/* A miss counts only when the directories did not change meanwhile
	 * (readdir may skip an entry renamed under it); after a bounded number
	 * of busy rounds, fail rather than call the message gone (a caller
	 * would propagate that as a deletion). */
	int quiet = 0;
	for (int tries = 0; tries < LOCATE_TRIES_MAX; tries++) {
		dir_mtimes(dirfd, before);
		if (read_sub(dirfd, "new", locate_one, &l, e) < 0 ||
		    read_sub(dirfd, "cur", locate_one, &l, e) < 0) {
			free(l.name);
			return -1;
		}
		if (l.name) {
			*name_r = l.name;
			*in_new_r = l.in_new;
			return 1;
		}
		dir_mtimes(dirfd, after);
		quiet = same_times(before, after);
		if (quiet && tries + 1 >= LOCATE_TRIES)
			break;
	}
	if (!quiet)
		return err_set(e, ERR_IO, "folder changes too fast to find message '%s'", key);
	return 0;
}

int maildir_scan_clean_tmp(int dirfd, time_t now, unsigned *removed_r, struct err *e)
{
	unsigned removed = 0;
	int fd = openat(dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (removed_r)
		*removed_r = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(e, ERR_IO, "cannot open 'tmp'");
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(e, ERR_IO, "cannot read 'tmp'");
	}
	struct dirent *de;
	time_t limit = now - MAILDIR_SCAN_TMP_AGE;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (st.st_mtime < limit && st.st_ctime < limit &&
		    unlinkat(fd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed_r)
		*removed_r = removed;
	return 0;
}

/* The folder's file system is fine and holds cur/ and new/ (devices). */
static int fs_is_fine(int dirfd, const dev_t dev[2])
{
	struct statfs sf;
	struct stat st;
	if (fstatfs(dirfd, &sf) < 0 || fstat(dirfd, &st) < 0)
		return 0;
	/* cur/ or new/ on another file system (a mount point): not judged */
	if (dev[0] != st.st_dev || dev[1] != st.st_dev)
		return 0;
	for (size_t i = 0; i < sizeof fine_fs_types / sizeof *fine_fs_types; i++)
		if ((unsigned long)sf.f_type == fine_fs_types[i])
			return 1;
	return 0;
}

int maildir_scan_fine_fs(int dirfd)
{
	struct timespec ts[2];
	dev_t dev[2];
	dir_stats(dirfd, ts, dev);
	return ts[0].tv_sec >= 0 && ts[1].tv_sec >= 0 && fs_is_fine(dirfd, dev);
}

static long long ts_ns(const struct timespec *t)
{
	return (long long)t->tv_sec * NS_PER_S + t->tv_nsec;
}

/* A timestamp finer than the margin: not a whole number of milliseconds. */
static int sub_ms(const struct timespec *t)
{
	return t->tv_nsec % MARKER_MARGIN_NS != 0;
}

int maildir_scan_marker_trusted(const struct timespec mt[2], const struct timespec *coarse,
				const struct timespec *now, int fine_fs)
{
	if (fine_fs && sub_ms(&mt[0]) && sub_ms(&mt[1]) &&
	    ts_ns(&mt[0]) < ts_ns(coarse) - MARKER_MARGIN_NS &&
	    ts_ns(&mt[1]) < ts_ns(coarse) - MARKER_MARGIN_NS)
		return 1;
	return now->tv_sec > mt[0].tv_sec + 1 && now->tv_sec > mt[1].tv_sec + 1;
}

int maildir_scan_marker(int dirfd, char out[MAILDIR_MARKER_MAX], struct err *e)
{
	struct timespec ts[2], coarse, now;
	dev_t dev[2];
	/* the coarse clock BEFORE the mtimes: see maildir_scan.h */
	if (clock_gettime(CLOCK_REALTIME_COARSE, &coarse) < 0)
		coarse.tv_sec = coarse.tv_nsec = 0;
	dir_stats(dirfd, ts, dev);
	if (ts[0].tv_sec < 0 || ts[1].tv_sec < 0) {
		out[0] = '\0';
		return err_set(e, ERR_NOTFOUND, "folder has no cur/ or new/");
	}
	clock_gettime(CLOCK_REALTIME, &now);
	int trusted = maildir_scan_marker_trusted(ts, &coarse, &now, fs_is_fine(dirfd, dev));
	snprintf(out, MAILDIR_MARKER_MAX, "v1:%lld.%09ld:%lld.%09ld%s", (long long)ts[0].tv_sec,
		 ts[0].tv_nsec, (long long)ts[1].tv_sec, ts[1].tv_nsec, trusted ? "" : ":u");
	return 0;
}

int maildir_scan_unchanged(int dirfd, const char *marker)
{
	char now[MAILDIR_MARKER_MAX];
	size_t n = strlen(marker);
	if (!n || strncmp(marker, "v1:", 3) != 0 || (n >= 2 && strcmp(marker + n - 2, ":u") == 0))
		return 0;
	if (maildir_scan_marker(dirfd, now, NULL) < 0)
		return 0;
	/* The fresh marker may be untrusted (":u") while the mtimes match. */
	return strncmp(now, marker, n) == 0 && (now[n] == '\0' || strcmp(now + n, ":u") == 0);
}
