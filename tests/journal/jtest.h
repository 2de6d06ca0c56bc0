/*
 * jtest.h — helpers shared by the journal tests: a scratch directory that
 * is removed at the end, whole-file reads for byte comparisons, raw SQL
 * against a journal file, child processes with a pipe.
 */
#ifndef MF_JTEST_H
#define MF_JTEST_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal/journal.h"
#include "testlib.h"

static char jt_dir[512];

static inline int jt_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static inline void jt_cleanup(void)
{
	if (jt_dir[0])
		nftw(jt_dir, jt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh scratch directory; removed by jt_cleanup(). */
static inline const char *jt_mkdir(const char *name)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(jt_dir, sizeof jt_dir, "%s/mf-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	if (!mkdtemp(jt_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	return jt_dir;
}

/* jt_path("x.db") -> "<dir>/x.db" in a small rotating set of buffers. */
static inline const char *jt_path(const char *file)
{
	static char bufs[8][600];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", jt_dir, file);
	return b;
}

/* The whole file (malloc'ed) or NULL. */
static inline unsigned char *jt_slurp(const char *path, size_t *n_r)
{
	FILE *f = fopen(path, "rb");
	*n_r = 0;
	if (!f)
		return NULL;
	unsigned char *p = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			p = realloc(p, cap);
			if (!p)
				abort();
		}
		size_t r = fread(p + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	*n_r = n;
	return p;
}

static inline void jt_write(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) < 0) {
		perror(path);
		exit(1);
	}
}

/* Run SQL on a database file directly (no journal code involved). */
static inline int jt_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fprintf(stderr, "jt_sql: %s\n", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* First column of the first row as an integer, -1 on error. */
static inline long long jt_sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else
		fprintf(stderr, "jt_sql_int: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Open or die (for setup steps whose failure makes the test meaningless). */
static inline struct journal *jt_open(const char *path)
{
	struct journal *j = NULL;
	struct err e = { 0 };
	if (journal_open(path, &j, &e) < 0) {
		fprintf(stderr, "journal_open %s: %s\n", path, e.msg);
		exit(1);
	}
	return j;
}

static inline int jt_exit_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 1000 + WTERMSIG(st);
	return -1;
}

/* Read exactly n bytes; 0 on success, -1 on EOF/error. */
static inline int jt_read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

#endif
