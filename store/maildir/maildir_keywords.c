/*
 * maildir_keywords.c — read and extend a folder's dovecot-keywords file
 * (format and locking in maildir_keywords.h). Owns the in-memory table.
 */
#include "maildir/maildir_keywords.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"

#define LOCK_FILE MAILDIR_KEYWORDS_FILE ".lock"
#define LOCK_STALE_SECS 30
#define LOCK_WAIT_MS 10000
#define FILE_MAX ((size_t)1 << 20)

struct maildir_keywords {
	char *names[MAILDIR_KEYWORDS_MAX];
};

struct maildir_keywords *maildir_keywords_new(void)
{
	return mf_calloc(1, sizeof(struct maildir_keywords));
}

static void clear(struct maildir_keywords *kw)
{
	for (int i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		free(kw->names[i]);
		kw->names[i] = NULL;
	}
}

void maildir_keywords_free(struct maildir_keywords **kw)
{
	if (!*kw)
		return;
	clear(*kw);
	free(*kw);
	*kw = NULL;
}

/* A keyword is an IMAP atom: no space, no control character, no specials
 * that would break the file's line format. */
static int valid_name(const char *s, size_t n)
{
	if (n == 0 || n > 255)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || c == '(' || c == ')' || c == '{' ||
		    c == '"' || c == '\\' || c == '%' || c == '*' || c == ']')
			return 0;
	}
	return 1;
}

void maildir_keywords_parse(struct maildir_keywords *kw, const char *text, size_t len)
{
	clear(kw);
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *q = p;
		int idx = 0, digits = 0;
		while (q < le && *q >= '0' && *q <= '9' && digits < 3) {
			idx = idx * 10 + (*q++ - '0');
			digits++;
		}
		if (digits && q < le && *q == ' ' && idx < MAILDIR_KEYWORDS_MAX) {
			q++;
			size_t n = (size_t)(le - q);
			if (n && q[n - 1] == '\r')
				n--;
			if (valid_name(q, n) && !kw->names[idx]) {
				kw->names[idx] = mf_strndup(q, n);
			}
		}
		p = nl ? nl + 1 : end;
	}
}

int maildir_keywords_format(const struct maildir_keywords *kw, struct buf *out)
{
	for (int i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		if (kw->names[i] && buf_addf(out, "%d %s\n", i, kw->names[i]) < 0)
			return -1;
	return 0;
}

const char *maildir_keywords_name(const struct maildir_keywords *kw, int idx)
{
	if (idx < 0 || idx >= MAILDIR_KEYWORDS_MAX)
		return NULL;
	return kw->names[idx];
}

int maildir_keywords_find(const struct maildir_keywords *kw, const char *name)
{
	for (int i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
		if (kw->names[i] && strcmp(kw->names[i], name) == 0)
			return i;
	return -1;
}

int maildir_keywords_put(struct maildir_keywords *kw, const char *name)
{
	int i = maildir_keywords_find(kw, name);
	if (i >= 0)
		return i;
	if (!valid_name(name, strlen(name)))
		return -1;
	for (i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (!kw->names[i]) {
			kw->names[i] = mf_strdup(name);
			return i;
		}
	}
	return -1;
}

int maildir_keywords_read(struct maildir_keywords *kw, int dirfd, struct err *e)
{
	int fd = openat(dirfd, MAILDIR_KEYWORDS_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			clear(kw);
			return 0;
		}
		return err_sys(e, ERR_IO, "cannot open '%s'", MAILDIR_KEYWORDS_FILE);
	}
	struct buf b;
	buf_init(&b, FILE_MAX);
	int rc = 0;
	for (;;) {
		if (buf_grow(&b, 4096) < 0) {
			rc = err_set(e, ERR_CORRUPT, "'%s' is too large", MAILDIR_KEYWORDS_FILE);
			break;
		}
		ssize_t n = read(fd, b.data + b.len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys(e, ERR_IO, "cannot read '%s'", MAILDIR_KEYWORDS_FILE);
			break;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		b.data[b.len] = '\0';
	}
	close(fd);
	if (rc == 0)
		maildir_keywords_parse(kw, b.data, b.len);
	buf_release(&b);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Dovecot-compatible dotlock; returns the lock file's fd. */
static int lock_take(int dirfd, struct err *e)
{
	for (long waited = 0;; waited += 10) {
		int fd = openat(dirfd, LOCK_FILE, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return err_sys(e, ERR_IO, "cannot create '%s'", LOCK_FILE);
		struct stat st;
		if (fstatat(dirfd, LOCK_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + LOCK_STALE_SECS < time(NULL)) {
			unlinkat(dirfd, LOCK_FILE, 0);
			continue;
		}
		if (waited >= LOCK_WAIT_MS)
			return err_set(e, ERR_INUSE, "'%s' is locked by another process",
				       MAILDIR_KEYWORDS_FILE);
		sleep_ms(10);
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int rewrite_locked(struct maildir_keywords *kw, int dirfd, int lockfd, int do_fsync,
			  struct err *e)
{
	struct buf b;
	buf_init(&b, FILE_MAX);
	int rc = -1;
	if (maildir_keywords_format(kw, &b) < 0)
		err_sys(e, ERR_IO, "cannot format '%s'", MAILDIR_KEYWORDS_FILE);
	else if (write_all(lockfd, b.data, b.len) < 0)
		err_sys(e, ERR_IO, "cannot write '%s'", LOCK_FILE);
	else if (do_fsync && fsync(lockfd) < 0)
		err_sys(e, ERR_IO, "cannot fsync '%s'", LOCK_FILE);
	else if (renameat(dirfd, LOCK_FILE, dirfd, MAILDIR_KEYWORDS_FILE) < 0)
		err_sys(e, ERR_IO, "cannot rename '%s'", LOCK_FILE);
	else if (do_fsync && fsync(dirfd) < 0)
		err_sys(e, ERR_IO, "cannot fsync the folder of '%s'", MAILDIR_KEYWORDS_FILE);
	else
		rc = 0;
	buf_release(&b);
	return rc;
}

int maildir_keywords_add(struct maildir_keywords *kw, int dirfd, const char *name,
			 int do_fsync, int *idx_r, struct err *e)
{
	*idx_r = maildir_keywords_find(kw, name);
	if (*idx_r >= 0)
		return 0;
	if (!valid_name(name, strlen(name)))
		return err_set(e, ERR_USAGE, "keyword '%s' is not an atom", name);
	int lockfd = lock_take(dirfd, e);
	if (lockfd < 0)
		return -1;
	/* Another program may have added keywords since we read the file. */
	int rc = maildir_keywords_read(kw, dirfd, e);
	if (rc == 0) {
		*idx_r = maildir_keywords_find(kw, name);
		if (*idx_r < 0) {
			*idx_r = maildir_keywords_put(kw, name);
			if (*idx_r >= 0) {
				rc = rewrite_locked(kw, dirfd, lockfd, do_fsync, e);
				close(lockfd);
				if (rc < 0) {
					unlinkat(dirfd, LOCK_FILE, 0);
					free(kw->names[*idx_r]);
					kw->names[*idx_r] = NULL;
					*idx_r = -1;
				}
				return rc;
			}
		}
	}
	close(lockfd);
	unlinkat(dirfd, LOCK_FILE, 0);
	return rc;
}
