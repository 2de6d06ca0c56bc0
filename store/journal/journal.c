/*
 * journal.c — the sync state of one channel in one SQLite database (see
 * journal.h). Owns the connection, its cached statements and the channel
 * lock; nothing else.
 *
 * Design
 *  - Lock before touching the database: `<path>.lock` (0600) is flock()ed
 *    exclusively without blocking and holds our pid, which a second process
 *    names in its ERR_INUSE message. flock belongs to the open file
 *    description, so the kernel drops it however we die; a stale lock file is
 *    harmless and is never removed (removing it would let two processes lock
 *    two different inodes). The fd is O_CLOEXEC; a plain fork() shares it.
 *  - We create the database file ourselves (0600) and refuse an existing one
 *    that group or others may write, then close our fd BEFORE SQLite opens
 *    the file: closing any fd of a file drops all of the process's POSIX
 *    locks on it, SQLite's included.
 *  - A damaged journal is never written to: the header is checked by hand,
 *    then the schema version is read and `PRAGMA quick_check` run, all
 *    before the first write (journal_mode=WAL, migrations). quick_check
 *    reads every page (~tens of ms at 100,000 pairs, on every run), so it
 *    is skipped when the file is provably the one we left: a clean close
 *    writes "clean <size> <mtime> <inode>" of the database file into the
 *    lock file (after SQLite folded and removed the WAL); an open that
 *    finds that stamp still matching, and no WAL, knows nobody wrote the
 *    file since a close that found it sound. A crash, a foreign write, a
 *    copy or a restore changes or lacks the stamp, and the check runs.
 *  - Schema: `migrations[i]` brings user_version from i to i + 1 in its own
 *    IMMEDIATE transaction, so a crash mid-migration leaves version i whole.
 *  - Durability: WAL with synchronous=NORMAL. A COMMIT is in the WAL (the
 *    page cache) when it returns, so a killed process (SIGKILL, abort,
 *    OOM) loses nothing; the WAL is fsynced at checkpoints, so a power
 *    loss or kernel crash may roll the journal back to an earlier, whole
 *    state (never a torn one). The executor commits only after the data
 *    it describes is durable in the stores, so a rolled-back journal
 *    knows LESS than the stores hold, never more, and the next run
 *    repairs that like any interrupted run: a message whose pairing was
 *    lost is found again by fingerprint on both sides (no copy), a lost
 *    flag base merges to the same flags, a lost deletion finds both sides
 *    gone. FULL would add an fsync per commit, several per mailbox pair
 *    (most of an incremental run's wall time), for no state the next run
 *    cannot rebuild. Each commit and each auto-committed mutating call is
 *    a "step" (counted for the stop-after test switch). Every mutating
 *    call here is a single SQL statement, so outside begin/commit it is
 *    atomic by itself.
 */
#include "journal/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/banned.h"

/* PRAGMA application_id: "MFJ1". */
#define JOURNAL_APP_ID 0x4d464a31
#define JOURNAL_BUSY_MS 250
#define JOURNAL_CACHE_KIB "256"        /* PRAGMA cache_size (see db_setup) */
#define JOURNAL_BULK_CACHE_KIB "1024"  /* in journal_bulk */
/* parallel workers wait for each other's commits (fsyncs under load) */
#define JOURNAL_WORKER_BUSY_MS 120000
#define KW_TEXT_MAX ((size_t)1 << 20)

/* migrations[i]: schema version i -> i + 1. Append only; never edit a step
 * that has shipped (databases out there were built by it). */
static const char *const migrations[] = {
	/* v1: the first shape. */
	"PRAGMA application_id = 1296452145;"
	"CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);"
	"CREATE TABLE box(id INTEGER PRIMARY KEY,"
	" rname TEXT NOT NULL UNIQUE, lname TEXT NOT NULL UNIQUE,"
	" rident TEXT NOT NULL DEFAULT '', lident TEXT NOT NULL DEFAULT '',"
	" uidvalidity INTEGER NOT NULL DEFAULT 0, uidnext INTEGER NOT NULL DEFAULT 0,"
	" highestmodseq INTEGER NOT NULL DEFAULT 0, lmarker TEXT NOT NULL DEFAULT '',"
	" complete INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE pair(id INTEGER PRIMARY KEY,"
	" box_id INTEGER NOT NULL REFERENCES box(id) ON DELETE CASCADE,"
	" rkey TEXT, lkey TEXT, base TEXT NOT NULL DEFAULT '',"
	" size INTEGER NOT NULL DEFAULT 0, idate INTEGER NOT NULL DEFAULT 0, fp BLOB);"
	"CREATE INDEX pair_rkey ON pair(box_id, rkey);"
	"CREATE INDEX pair_lkey ON pair(box_id, lkey);"
	"CREATE INDEX pair_fp ON pair(fp);"
	"CREATE TABLE intent(id INTEGER PRIMARY KEY,"
	" box_id INTEGER NOT NULL REFERENCES box(id) ON DELETE CASCADE,"
	" op INTEGER NOT NULL, side INTEGER NOT NULL, rkey TEXT, lkey TEXT,"
	" pair_id INTEGER NOT NULL DEFAULT 0, uidnext INTEGER NOT NULL DEFAULT 0,"
	" data TEXT);"
	"CREATE INDEX intent_box ON intent(box_id);",

	/* v2: local-side markers for IMAP<->IMAP, the intent's fingerprint
	 * (to find a message whose APPEND/download outcome is unknown), and
	 * keywords a Maildir folder cannot hold. */
	"ALTER TABLE box ADD COLUMN l_uidvalidity INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE box ADD COLUMN l_uidnext INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE box ADD COLUMN l_highestmodseq INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE intent ADD COLUMN size INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE intent ADD COLUMN idate INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE intent ADD COLUMN fp BLOB;"
	"CREATE TABLE kw_overflow("
	" box_id INTEGER NOT NULL REFERENCES box(id) ON DELETE CASCADE,"
	" lkey TEXT NOT NULL, keywords TEXT NOT NULL,"
	" PRIMARY KEY(box_id, lkey)) WITHOUT ROWID;",

	/* v3: a pair's base flags as last agreed, when they changed after the
	 * pair was written. A flag sync touches a few rows of every mailbox:
	 * in the pair table (~37 rows a page) that rewrote nearly every page
	 * of it, in this one (hundreds of rows a page) a tenth as many. */
	"CREATE TABLE pair_base(id INTEGER PRIMARY KEY REFERENCES pair(id) ON DELETE CASCADE,"
	" base TEXT NOT NULL);",

	/* v4: no index on the fingerprint. Nothing looks pairs up by it (the
	 * planner matches fingerprints in memory), and its random 32-byte keys
	 * made every pair insert and delete dirty a page of their own: a
	 * quarter of the pages an expunge of 1% of 100,000 pairs wrote. */
	"DROP INDEX IF EXISTS pair_fp;",
};
#define SCHEMA_LATEST ((int)(sizeof migrations / sizeof migrations[0]))

enum st {
	ST_META_GET,
	ST_META_SET,
	ST_META_DEL,
	ST_BOXES,
	ST_BOX_INS,
	ST_BOX_UPD,
	ST_BOX_DEL,
	ST_PAIRS,
	ST_PAIR_INS,
	ST_PAIR_UPD,
	ST_PAIR_DEL,
	ST_PAIR_RKEY,
	ST_PAIR_LKEY,
	ST_PAIR_COUNT,
	ST_PAIR_OPEN,
	ST_PAIR_BASE,
	ST_PAIR_BASE_DROP,
	ST_PAIR_BY_LKEY,
	ST_KW_GET,
	ST_KW_SET,
	ST_KW_DEL,
	ST_INT_INS,
	ST_INT_BOX,
	ST_INT_ALL,
	ST_INT_DEL,
	ST__N
};

#define BOX_COLS "rname, lname, rident, lident, uidvalidity, uidnext, highestmodseq," \
	" lmarker, l_uidvalidity, l_uidnext, l_highestmodseq, complete"
#define PAIR_COLS "box_id, rkey, lkey, base, size, idate, fp"
/* reading a pair: its base is pair_base's when there is one (v3) */
#define PAIR_SEL "p.box_id, p.rkey, p.lkey, coalesce(b.base, p.base), p.size, p.idate, p.fp"
#define PAIR_FROM " FROM pair p LEFT JOIN pair_base b ON b.id = p.id"
#define INT_COLS "box_id, op, side, rkey, lkey, pair_id, uidnext, size, idate, fp, data"

static const char *const st_sql[ST__N] = {
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_SET] = "INSERT INTO meta(key, value) VALUES (?1, ?2)"
			" ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[ST_META_DEL] = "DELETE FROM meta WHERE key = ?1",
	[ST_BOXES] = "SELECT id, " BOX_COLS " FROM box ORDER BY id",
	[ST_BOX_INS] = "INSERT INTO box(" BOX_COLS ")"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[ST_BOX_UPD] = "UPDATE box SET rname = ?1, lname = ?2, rident = ?3, lident = ?4,"
		       " uidvalidity = ?5, uidnext = ?6, highestmodseq = ?7, lmarker = ?8,"
		       " l_uidvalidity = ?9, l_uidnext = ?10, l_highestmodseq = ?11,"
		       " complete = ?12 WHERE id = ?13",
	[ST_BOX_DEL] = "DELETE FROM box WHERE id = ?1",
	[ST_PAIRS] = "SELECT p.id, " PAIR_SEL PAIR_FROM " WHERE p.box_id = ?1 ORDER BY p.id",
	[ST_PAIR_INS] = "INSERT INTO pair(" PAIR_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_PAIR_UPD] = "UPDATE pair SET box_id = ?1, rkey = ?2, lkey = ?3, base = ?4,"
			" size = ?5, idate = ?6, fp = ?7 WHERE id = ?8",
	[ST_PAIR_DEL] = "DELETE FROM pair WHERE id = ?1",
	[ST_PAIR_RKEY] = "SELECT p.id, " PAIR_SEL PAIR_FROM " WHERE p.box_id = ?1 AND p.rkey = ?2"
			 " ORDER BY p.id",
	[ST_PAIR_LKEY] = "SELECT p.id, " PAIR_SEL PAIR_FROM " WHERE p.box_id = ?1 AND p.lkey = ?2"
			 " ORDER BY p.id",
	[ST_PAIR_COUNT] = "SELECT count(*) FROM pair WHERE box_id = ?1",
	/* a missing pair fails the foreign key: "no such pair" */
	[ST_PAIR_BASE] = "INSERT INTO pair_base(id, base) VALUES (?2, ?1)"
			 " ON CONFLICT(id) DO UPDATE SET base = excluded.base",
	[ST_PAIR_BASE_DROP] = "DELETE FROM pair_base WHERE id = ?1",
	[ST_PAIR_BY_LKEY] = "SELECT p.rkey, p.lkey, coalesce(b.base, p.base)" PAIR_FROM
			    " WHERE p.box_id = ?1 ORDER BY p.lkey",
	/* two index seeks (an OR would scan the mailbox's every pair: 13 ms
	 * at 21,000); a pair missing both keys comes twice, the caller
	 * keeps one */
	[ST_PAIR_OPEN] = "SELECT p.id, " PAIR_SEL PAIR_FROM " WHERE p.box_id = ?1 AND p.rkey IS NULL"
			 " UNION ALL SELECT p.id, " PAIR_SEL PAIR_FROM
			 " WHERE p.box_id = ?1 AND p.lkey IS NULL",
	[ST_KW_GET] = "SELECT keywords FROM kw_overflow WHERE box_id = ?1 AND lkey = ?2",
	[ST_KW_SET] = "INSERT INTO kw_overflow(box_id, lkey, keywords) VALUES (?1, ?2, ?3)"
		      " ON CONFLICT(box_id, lkey) DO UPDATE SET keywords = excluded.keywords",
	[ST_KW_DEL] = "DELETE FROM kw_overflow WHERE box_id = ?1 AND lkey = ?2",
	[ST_INT_INS] = "INSERT INTO intent(" INT_COLS ")"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_INT_BOX] = "SELECT id, " INT_COLS " FROM intent WHERE box_id = ?1 ORDER BY id",
	[ST_INT_ALL] = "SELECT id, " INT_COLS " FROM intent ORDER BY id",
	[ST_INT_DEL] = "DELETE FROM intent WHERE id = ?1",
};

struct journal {
	char *path;
	sqlite3 *db;
	int lockfd;
	int clean_stamp;  /* the lock file held a stamp matching the file */
	int sound;        /* opened and checked; no corruption seen since */
	int in_tx;
	unsigned long steps;
	unsigned long stop_after;
	int busy_ms;      /* how long to wait for another writer (busy_wait) */
	struct timespec busy_since;
	sqlite3_stmt *st[ST__N];
};

/* ---- errors ---- */

static enum err_class db_class(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return ERR_CORRUPT;
	case SQLITE_FULL:
		return ERR_QUOTA;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return ERR_INUSE;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return ERR_NOTFOUND;
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return ERR_EXISTS;
		return ERR_USAGE;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_CANTOPEN:
		return ERR_PERM;
	case SQLITE_NOMEM:
		return ERR_TEMP;
	default:
		return ERR_IO;
	}
}

static int damaged(struct journal *j, struct err *e, const char *why);

/* Fill e from the connection's last error (rc is what the call returned). */
static int db_err(struct journal *j, struct err *e, int rc, const char *what)
{
	enum err_class cls = db_class(rc);
	const char *msg = j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc);
	if (cls == ERR_CORRUPT) {
		char why[256];
		snprintf(why, sizeof why, "%s: %s", what, msg);
		damaged(j, e, why);
	} else
		err_set(e, cls, "journal '%s': %s: %s", j->path, what, msg);
	/* Some errors (SQLITE_FULL, IOERR) roll the whole transaction back. */
	if (j->in_tx && j->db && sqlite3_get_autocommit(j->db)) {
		j->in_tx = 0;
		if (e) {
			size_t n = strlen(e->msg);
			snprintf(e->msg + n, sizeof e->msg - n,
				 " (the transaction was rolled back)");
		}
	}
	return -1;
}

/* ---- statements ---- */

static sqlite3_stmt *stmt(struct journal *j, enum st id, struct err *e)
{
	if (!j->st[id]) {
		int rc = sqlite3_prepare_v3(j->db, st_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &j->st[id], NULL);
		if (rc != SQLITE_OK) {
			db_err(j, e, rc, "preparing a statement");
			return NULL;
		}
	}
	return j->st[id];
}

static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static void step_done(struct journal *j)
{
	j->steps++;
	if (j->stop_after && j->steps == j->stop_after)
		_exit(86);
}

/* Run a statement that returns no rows; count a step when auto-committed. */
static int run(struct journal *j, sqlite3_stmt *s, const char *what, struct err *e)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_err(j, e, rc, what);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (!j->in_tx)
		step_done(j);
	return 0;
}

static int exec_sql(struct journal *j, const char *sql, const char *what, struct err *e)
{
	int rc = sqlite3_exec(j->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : db_err(j, e, rc, what);
}

static int pragma_int(struct journal *j, const char *sql, int64_t *v_r, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(j->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			*v_r = sqlite3_column_int64(s, 0);
			rc = SQLITE_OK;
		}
	}
	if (rc != SQLITE_OK) {
		db_err(j, e, rc, sql);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

/* Bind text of at most max bytes (fixed-size fields need not be NUL-ended). */
static void bind_text(sqlite3_stmt *s, int i, const char *t, size_t max)
{
	if (t)
		sqlite3_bind_text(s, i, t, (int)strnlen(t, max), SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static void bind_fp(sqlite3_stmt *s, int i, int has_fp, const unsigned char fp[32])
{
	if (has_fp)
		sqlite3_bind_blob(s, i, fp, 32, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static char *col_str(sqlite3_stmt *s, int i)
{
	return mf_strdup((const char *)sqlite3_column_text(s, i));
}

static void col_fixed(sqlite3_stmt *s, int i, char *dst, size_t n)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	snprintf(dst, n, "%s", t ? t : "");
}

static void col_fp(sqlite3_stmt *s, int i, int *has_fp, unsigned char fp[32])
{
	const void *b = sqlite3_column_blob(s, i);
	*has_fp = b && sqlite3_column_bytes(s, i) == 32;
	if (*has_fp)
		memcpy(fp, b, 32);
	else
		memset(fp, 0, 32);
}

/* ---- lock and file ---- */

/* The pid the holder wrote; it writes it just after taking the lock, so an
 * empty file is retried briefly. 0 if unknown. */
static long lock_holder(int fd)
{
	for (int i = 0; i < 20; i++) {
		char b[32];
		ssize_t n = pread(fd, b, sizeof b - 1, 0);
		if (n > 0) {
			b[n] = '\0';
			char *end;
			long pid = strtol(b, &end, 10);
			if (pid > 0 && end != b)
				return pid;
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* The stamp a clean close leaves in the lock file (see Design). */
static int stamp_of(const char *path, char *out, size_t n)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	int w = snprintf(out, n, "clean %lld %lld.%09ld %llu\n", (long long)st.st_size,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			 (unsigned long long)st.st_ino);
	return w > 0 && (size_t)w < n ? w : -1;
}

/* Under the lock, before our pid replaces it: does the lock file hold the
 * stamp of the database file as it is now, with no WAL beside it? */
static int stamp_matches(struct journal *j)
{
	char want[128], have[128], wal[8192];
	struct stat st;
	ssize_t n = pread(j->lockfd, have, sizeof have - 1, 0);
	if (n <= 0 || stamp_of(j->path, want, sizeof want) < 0)
		return 0;
	have[n] = '\0';
	snprintf(wal, sizeof wal, "%s-wal", j->path);
	if (stat(wal, &st) == 0 && st.st_size > 0)
		return 0;
	return strcmp(have, want) == 0;
}

static int lock_take(struct journal *j, struct err *e)
{
	struct buf lp = BUF_INIT(8192);
	if (buf_addf(&lp, "%s.lock", j->path) < 0)
		return err_sys(e, ERR_IO, "journal '%s'", j->path);
	j->lockfd = open(lp.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lockfd < 0) {
		enum err_class cls = errno == ENOENT ? ERR_NOTFOUND
				   : errno == EACCES ? ERR_PERM : ERR_IO;
		err_sys(e, cls, "cannot open lock file '%s'", lp.data);
		buf_release(&lp);
		return -1;
	}
	buf_release(&lp);
	if (flock(j->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EAGAIN)
			return err_sys(e, ERR_IO, "cannot lock journal '%s'", j->path);
		long pid = lock_holder(j->lockfd);
		if (pid > 0)
			return err_set(e, ERR_INUSE, "journal '%s' is in use by process %ld",
				       j->path, pid);
		return err_set(e, ERR_INUSE, "journal '%s' is in use by another process",
			       j->path);
	}
	j->clean_stamp = stamp_matches(j);
	char b[32];
	int n = snprintf(b, sizeof b, "%ld\n", (long)getpid());
	if (ftruncate(j->lockfd, 0) < 0 || pwrite(j->lockfd, b, (size_t)n, 0) != n)
		return err_sys(e, ERR_IO, "cannot write lock file of journal '%s'", j->path);
	return 0;
}

/* `why` may be quick_check's multi-line report: keep it on one line. */
static int damaged(struct journal *j, struct err *e, const char *why)
{
	static const char banner[] = "*** in database main ***\n";
	char flat[256];
	j->sound = 0;
	size_t n = 0;
	if (strncmp(why, banner, sizeof banner - 1) == 0)
		why += sizeof banner - 1;
	for (; *why && n + 3 < sizeof flat; why++) {
		if (*why == '\n') {
			flat[n++] = ';';
			flat[n++] = ' ';
		} else {
			flat[n++] = (unsigned char)*why < 0x20 ? ' ' : *why;
		}
	}
	flat[n] = '\0';
	return err_set(e, ERR_CORRUPT, "journal '%s' is damaged (%s); it was left untouched:"
		       " move it aside to start afresh", j->path, flat);
}

/* Create the file 0600 or check the existing one; a non-empty file must
 * start with the SQLite header. Closes its fd before SQLite opens the file. */
static int file_prepare(struct journal *j, struct err *e)
{
	int fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		enum err_class cls = errno == ENOENT ? ERR_NOTFOUND
				   : errno == EACCES ? ERR_PERM : ERR_IO;
		return err_sys(e, cls, "cannot open journal '%s'", j->path);
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = err_sys(e, ERR_IO, "cannot stat journal '%s'", j->path);
	} else if (!S_ISREG(st.st_mode)) {
		rc = err_set(e, ERR_PERM, "journal '%s' is not a regular file", j->path);
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		rc = err_set(e, ERR_PERM, "journal '%s' is writable by group or others"
			     " (mode %04o): chmod 600 it", j->path,
			     (unsigned)(st.st_mode & 07777));
	} else if (st.st_size > 0) {
		unsigned char hdr[100];
		ssize_t n = pread(fd, hdr, sizeof hdr, 0);
		if (n < 0)
			rc = err_sys(e, ERR_IO, "cannot read journal '%s'", j->path);
		else if (n < (ssize_t)sizeof hdr || memcmp(hdr, "SQLite format 3", 16) != 0)
			rc = damaged(j, e, "not an SQLite database");
	}
	close(fd);
	return rc;
}

/* ---- open, check, migrate ---- */

/* SQLite's own busy handler sleeps ever longer (up to 100 ms a time), so a
 * worker waiting for another's short write transaction would go on
 * sleeping long after the lock was free: poll every half millisecond. */
static int busy_wait(void *ctx, int count)
{
	struct journal *j = ctx;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0)
		j->busy_since = now;
	int64_t waited = (now.tv_sec - j->busy_since.tv_sec) * 1000 +
			 (now.tv_nsec - j->busy_since.tv_nsec) / 1000000;
	if (waited >= j->busy_ms)
		return 0;
	struct timespec d = { 0, 500000 };
	nanosleep(&d, NULL);
	return 1;
}

static void set_busy(struct journal *j, int ms)
{
	j->busy_ms = ms;
	sqlite3_busy_handler(j->db, busy_wait, j);
}

static int db_open(struct journal *j, struct err *e)
{
	/* NOMUTEX: one connection, used by one thread at a time (opened on a
	 * helper thread, then handed over), so SQLite's per-call mutexes are
	 * pure cost (~7% of a flag-sync run's CPU at 100k pairs). */
	int rc = sqlite3_open_v2(j->path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK)
		return db_err(j, e, rc, "opening");
	sqlite3_extended_result_codes(j->db, 1);
	set_busy(j, JOURNAL_BUSY_MS);
	return 0;
}

/* Everything read-only: is this a journal we may write to? */
static int db_check(struct journal *j, int *version_r, struct err *e)
{
	int64_t ver, app, ntab;
	if (pragma_int(j, "PRAGMA user_version", &ver, e) < 0 ||
	    pragma_int(j, "PRAGMA application_id", &app, e) < 0 ||
	    pragma_int(j, "SELECT count(*) FROM sqlite_master", &ntab, e) < 0)
		return -1;
	if (app != 0 && app != JOURNAL_APP_ID)
		return err_set(e, ERR_PERM, "journal '%s' is an SQLite database of another"
			       " program (application_id %" PRId64 ")", j->path, app);
	if (ver == 0 && ntab > 0)
		return err_set(e, ERR_PERM, "journal '%s' is an SQLite database but not a"
			       " mailferry journal", j->path);
	if (ver > SCHEMA_LATEST)
		return err_set(e, ERR_PERM, "journal '%s' was written by a newer mailferry"
			       " (schema %" PRId64 ", this one knows %d)", j->path, ver,
			       SCHEMA_LATEST);
	if (ver < 0)
		return damaged(j, e, "negative schema version");
	*version_r = (int)ver;
	if (ntab == 0 || j->clean_stamp)
		return 0;

	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(j->db, "PRAGMA quick_check(1)", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		db_err(j, e, rc, "quick_check");
		sqlite3_finalize(s);
		return -1;
	}
	const char *res = (const char *)sqlite3_column_text(s, 0);
	if (!res || strcmp(res, "ok") != 0) {
		damaged(j, e, res ? res : "quick_check failed");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

static int db_setup(struct journal *j, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(j->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		db_err(j, e, rc, "setting WAL mode");
		sqlite3_finalize(s);
		return -1;
	}
	const char *mode = (const char *)sqlite3_column_text(s, 0);
	int wal = mode && strcmp(mode, "wal") == 0;
	sqlite3_finalize(s);
	if (!wal)
		return err_set(e, ERR_IO, "journal '%s': cannot switch to WAL mode", j->path);
	int64_t fk;
	/* cache_size: SQLite's default 2000 KiB page cache fills up at about
	 * 10,000 pairs and stays for the run; the reads are index scans done
	 * once per mailbox pair (the OS caches the file), so a smaller cache
	 * costs little time and keeps peak RSS flatter as the account grows.
	 * The exception is a first sync's random inserts into the pair
	 * indexes: at 512 KiB an initial 100k-message sync took ~3 s more
	 * (re-reads and early spills), at 1 MiB as long as with the default,
	 * so journal_bulk raises it to 1 MiB for those. A transaction with
	 * more dirty pages spills them to the WAL early, which changes nothing
	 * for durability. */
	if (exec_sql(j, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"
			     " PRAGMA journal_size_limit=16777216;"
			     " PRAGMA cache_size=-" JOURNAL_CACHE_KIB ";", "setup", e) < 0 ||
	    pragma_int(j, "PRAGMA foreign_keys", &fk, e) < 0)
		return -1;
	if (fk != 1)
		return err_set(e, ERR_IO, "journal '%s': SQLite without foreign keys", j->path);
	return 0;
}

static int migrate(struct journal *j, int from, struct err *e)
{
	for (int v = from; v < SCHEMA_LATEST; v++) {
		char setv[64];
		snprintf(setv, sizeof setv, "PRAGMA user_version = %d", v + 1);
		if (exec_sql(j, "BEGIN IMMEDIATE", "migrating", e) < 0)
			return -1;
		if (exec_sql(j, migrations[v], "migrating", e) < 0 ||
		    exec_sql(j, setv, "migrating", e) < 0 ||
		    exec_sql(j, "COMMIT", "migrating", e) < 0) {
			sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
			err_prefix(e, "schema %d to %d", v, v + 1);
			return -1;
		}
	}
	return 0;
}

int journal_open(const char *path, struct journal **j_r, struct err *e)
{
	struct journal *j = mf_calloc(1, sizeof *j);
	int version = 0;
	*j_r = NULL;
	j->path = mf_strdup(path);
	j->lockfd = -1;
	if (lock_take(j, e) < 0 || file_prepare(j, e) < 0 || db_open(j, e) < 0 ||
	    db_check(j, &version, e) < 0 || db_setup(j, e) < 0 ||
	    migrate(j, version, e) < 0) {
		journal_close(&j);
		return -1;
	}
	j->sound = 1;
	*j_r = j;
	return 0;
}

void journal_close(struct journal **jp)
{
	struct journal *j = *jp;
	if (!j)
		return;
	for (int i = 0; i < ST__N; i++)
		sqlite3_finalize(j->st[i]);
	int closed = 0;
	if (j->db) {
		if (j->in_tx)
			sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
		closed = sqlite3_close(j->db) == SQLITE_OK;
	}
	if (j->lockfd >= 0) {
		/* still under the lock: leave the clean-close stamp (Design) */
		char b[128];
		int n = closed && j->sound ? stamp_of(j->path, b, sizeof b) : -1;
		if (n > 0 && ftruncate(j->lockfd, 0) == 0 && pwrite(j->lockfd, b, (size_t)n, 0) != n)
			(void)ftruncate(j->lockfd, 0);
		close(j->lockfd); /* releases the flock */
	}
	free(j->path);
	free(j);
	*jp = NULL;
}

int journal_suspend(struct journal *j, struct err *e)
{
	if (j->in_tx)
		return err_set(e, ERR_USAGE, "journal '%s': a transaction is open", j->path);
	for (int i = 0; i < ST__N; i++) {
		sqlite3_finalize(j->st[i]);
		j->st[i] = NULL;
	}
	int rc = sqlite3_close(j->db);
	if (rc != SQLITE_OK)
		return db_err(j, e, rc, "closing");
	j->db = NULL;
	return 0;
}

int journal_resume(struct journal *j, struct err *e)
{
	if (j->db)
		return 0;
	if (db_open(j, e) < 0 || db_setup(j, e) < 0) {
		sqlite3_close(j->db);
		j->db = NULL;
		return -1;
	}
	/* the workers forked meanwhile write too: wait for their commits */
	set_busy(j, JOURNAL_WORKER_BUSY_MS);
	return 0;
}

int journal_open_worker(const char *path, struct journal **j_r, struct err *e)
{
	struct journal *j = mf_calloc(1, sizeof *j);
	*j_r = NULL;
	j->path = mf_strdup(path);
	j->lockfd = -1;
	if (db_open(j, e) < 0 || db_setup(j, e) < 0) {
		journal_close(&j);
		return -1;
	}
	set_busy(j, JOURNAL_WORKER_BUSY_MS);
	j->sound = 1;
	*j_r = j;
	return 0;
}

int journal_check(struct journal *j, struct err *e)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(j->db, "PRAGMA integrity_check(1)", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		db_err(j, e, rc, "integrity_check");
		sqlite3_finalize(s);
		return -1;
	}
	const char *res = (const char *)sqlite3_column_text(s, 0);
	int ok = res && strcmp(res, "ok") == 0;
	if (!ok)
		damaged(j, e, res ? res : "integrity_check failed");
	sqlite3_finalize(s);
	if (!ok)
		return -1;
	rc = sqlite3_prepare_v2(j->db, "PRAGMA foreign_key_check", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return damaged(j, e, "a row refers to a missing mailbox pair");
	if (rc != SQLITE_DONE)
		return db_err(j, e, rc, "foreign_key_check");
	return 0;
}

int journal_schema_version(void)
{
	return SCHEMA_LATEST;
}

/* ---- transactions and the test switch ---- */

int journal_begin(struct journal *j, struct err *e)
{
	if (j->in_tx)
		return err_set(e, ERR_USAGE, "journal '%s': a transaction is already open",
			       j->path);
	if (exec_sql(j, "BEGIN IMMEDIATE", "begin", e) < 0)
		return -1;
	j->in_tx = 1;
	return 0;
}

int journal_commit(struct journal *j, struct err *e)
{
	if (!j->in_tx)
		return err_set(e, ERR_USAGE, "journal '%s': no transaction is open", j->path);
	if (exec_sql(j, "COMMIT", "commit", e) < 0)
		return -1;
	j->in_tx = 0;
	step_done(j);
	return 0;
}

int journal_rollback(struct journal *j, struct err *e)
{
	if (!j->in_tx)
		return 0;
	j->in_tx = 0;
	int rc = sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : db_err(j, e, rc, "rollback");
}

void journal_set_stop_after(struct journal *j, unsigned long n)
{
	j->stop_after = n;
}

unsigned long journal_steps(const struct journal *j)
{
	return j->steps;
}

/* ---- meta ---- */

int journal_meta_get(struct journal *j, const char *key, char **val_r, struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_META_GET, e);
	*val_r = NULL;
	if (!s)
		return -1;
	bind_text(s, 1, key, SIZE_MAX);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*val_r = col_str(s, 0);
	else if (rc != SQLITE_DONE)
		db_err(j, e, rc, "reading meta");
	stmt_done(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int journal_meta_set(struct journal *j, const char *key, const char *val, struct err *e)
{
	sqlite3_stmt *s = stmt(j, val ? ST_META_SET : ST_META_DEL, e);
	if (!s)
		return -1;
	bind_text(s, 1, key, SIZE_MAX);
	if (val)
		bind_text(s, 2, val, SIZE_MAX);
	return run(j, s, "writing meta", e);
}

/* ---- boxes ---- */

void journal_box_free(struct journal_box *b)
{
	if (!b)
		return;
	free(b->rname);
	free(b->lname);
	b->rname = b->lname = NULL;
}

void journal_boxes_free(struct journal_box *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		journal_box_free(&v[i]);
	free(v);
}

int journal_boxes(struct journal *j, struct journal_box **v_r, size_t *n_r, struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_BOXES, e);
	struct journal_box *v = NULL;
	size_t n = 0;
	int rc;
	*v_r = NULL;
	*n_r = 0;
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = mf_reallocarray(v, n + 1, sizeof *v);
		struct journal_box *b = &v[n++];
		memset(b, 0, sizeof *b);
		b->id = sqlite3_column_int64(s, 0);
		b->rname = col_str(s, 1);
		b->lname = col_str(s, 2);
		col_fixed(s, 3, b->rident, sizeof b->rident);
		col_fixed(s, 4, b->lident, sizeof b->lident);
		b->uidvalidity = (uint32_t)sqlite3_column_int64(s, 5);
		b->uidnext = (uint32_t)sqlite3_column_int64(s, 6);
		b->highestmodseq = (uint64_t)sqlite3_column_int64(s, 7);
		col_fixed(s, 8, b->lmarker, sizeof b->lmarker);
		b->l_uidvalidity = (uint32_t)sqlite3_column_int64(s, 9);
		b->l_uidnext = (uint32_t)sqlite3_column_int64(s, 10);
		b->l_highestmodseq = (uint64_t)sqlite3_column_int64(s, 11);
		b->complete = sqlite3_column_int(s, 12);
	}
	if (rc != SQLITE_DONE) {
		db_err(j, e, rc, "reading mailbox pairs");
		stmt_done(s);
		journal_boxes_free(v, n);
		return -1;
	}
	stmt_done(s);
	*v_r = v;
	*n_r = n;
	return 0;
}

int journal_box_put(struct journal *j, struct journal_box *b, struct err *e)
{
	if (!b->rname || !b->lname)
		return err_set(e, ERR_USAGE, "journal '%s': mailbox pair without a name",
			       j->path);
	sqlite3_stmt *s = stmt(j, b->id ? ST_BOX_UPD : ST_BOX_INS, e);
	if (!s)
		return -1;
	bind_text(s, 1, b->rname, SIZE_MAX);
	bind_text(s, 2, b->lname, SIZE_MAX);
	bind_text(s, 3, b->rident, sizeof b->rident);
	bind_text(s, 4, b->lident, sizeof b->lident);
	sqlite3_bind_int64(s, 5, b->uidvalidity);
	sqlite3_bind_int64(s, 6, b->uidnext);
	sqlite3_bind_int64(s, 7, (int64_t)b->highestmodseq);
	bind_text(s, 8, b->lmarker, sizeof b->lmarker);
	sqlite3_bind_int64(s, 9, b->l_uidvalidity);
	sqlite3_bind_int64(s, 10, b->l_uidnext);
	sqlite3_bind_int64(s, 11, (int64_t)b->l_highestmodseq);
	sqlite3_bind_int(s, 12, b->complete);
	if (b->id)
		sqlite3_bind_int64(s, 13, b->id);
	int in_tx = j->in_tx;
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		db_err(j, e, rc, "writing mailbox pair");
		if (e && e->cls == ERR_EXISTS)
			err_set(e, ERR_EXISTS, "journal '%s' already has a mailbox pair named"
				" '%s' or '%s'", j->path, b->rname, b->lname);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (b->id && sqlite3_changes(j->db) == 0)
		return err_set(e, ERR_NOTFOUND, "journal '%s' has no mailbox pair %" PRId64,
			       j->path, b->id);
	if (!b->id)
		b->id = sqlite3_last_insert_rowid(j->db);
	if (!in_tx)
		step_done(j);
	return 0;
}

int journal_box_delete(struct journal *j, int64_t id, struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_BOX_DEL, e);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return run(j, s, "deleting mailbox pair", e);
}

/* ---- pairs ---- */

void journal_pair_free(struct journal_pair *p)
{
	if (!p)
		return;
	free(p->rkey);
	free(p->lkey);
	p->rkey = p->lkey = NULL;
	flagset_free(&p->base);
}

void journal_pairs_free(struct journal_pair *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		journal_pair_free(&v[i]);
	free(v);
}

static void flags_from_col(sqlite3_stmt *s, int i, struct flagset *f)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	flagset_init(f);
	if (t)
		flagset_parse(f, t);
}

/* A growing array of pairs; the caller frees it (journal_pairs_free). */
struct pairvec {
	struct journal_pair *v;
	size_t n, cap;
};

/* Append the pairs a bound statement selects (PAIR_COLS after the id) to
 * pv. `hint`: the expected row count (0: unknown) for a first allocation. */
static int append_pairs(struct journal *j, sqlite3_stmt *s, size_t hint, struct pairvec *pv,
			struct err *e)
{
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (pv->n == pv->cap) {
			pv->cap = pv->cap ? pv->cap + pv->cap / 2 : (hint ? hint : 64);
			pv->v = mf_reallocarray(pv->v, pv->cap, sizeof *pv->v);
		}
		struct journal_pair *p = &pv->v[pv->n++];
		memset(p, 0, sizeof *p);
		p->id = sqlite3_column_int64(s, 0);
		p->box_id = sqlite3_column_int64(s, 1);
		p->rkey = col_str(s, 2);
		p->lkey = col_str(s, 3);
		flags_from_col(s, 4, &p->base);
		p->size = (uint64_t)sqlite3_column_int64(s, 5);
		p->idate = sqlite3_column_int64(s, 6);
		col_fp(s, 7, &p->has_fp, p->fp);
	}
	if (rc != SQLITE_DONE)
		db_err(j, e, rc, "reading message pairs");
	stmt_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Hand pv out sized to its rows: it is held for a whole mailbox pair's sync
 * next to its listings, so not to the next growth step (peak RSS). */
static void pairvec_out(struct pairvec *pv, struct journal_pair **v_r, size_t *n_r)
{
	if (pv->n && pv->n < pv->cap)
		pv->v = mf_reallocarray(pv->v, pv->n, sizeof *pv->v);
	*v_r = pv->v;
	*n_r = pv->n;
}

/* The pairs a bound statement selects, as a sized array. */
static int read_pairs(struct journal *j, sqlite3_stmt *s, size_t hint,
		      struct journal_pair **v_r, size_t *n_r, struct err *e)
{
	struct pairvec pv = { 0 };
	if (append_pairs(j, s, hint, &pv, e) < 0) {
		journal_pairs_free(pv.v, pv.n);
		return -1;
	}
	pairvec_out(&pv, v_r, n_r);
	return 0;
}

int journal_pairs(struct journal *j, int64_t box_id, struct journal_pair **v_r,
		  size_t *n_r, struct err *e)
{
	size_t count;
	/* the count (an index scan) sizes the array exactly */
	if (journal_pair_count(j, box_id, &count, e) < 0)
		return -1;
	sqlite3_stmt *s = stmt(j, ST_PAIRS, e);
	*v_r = NULL;
	*n_r = 0;
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, box_id);
	return read_pairs(j, s, count, v_r, n_r, e);
}

int journal_pairs_by_key(struct journal *j, int64_t box_id, int side, const char *key,
			 struct journal_pair **v_r, size_t *n_r, struct err *e)
{
	sqlite3_stmt *s = stmt(j, side ? ST_PAIR_LKEY : ST_PAIR_RKEY, e);
	*v_r = NULL;
	*n_r = 0;
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, box_id);
	bind_text(s, 2, key, SIZE_MAX);
	return read_pairs(j, s, 0, v_r, n_r, e);
}

int journal_pair_count(struct journal *j, int64_t box_id, size_t *count_r, struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_PAIR_COUNT, e);
	*count_r = 0;
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, box_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*count_r = (size_t)sqlite3_column_int64(s, 0);
	stmt_done(s);
	return rc == SQLITE_ROW ? 0 : db_err(j, e, rc, "counting message pairs");
}

static int cmp_pair_id(const void *a, const void *b)
{
	const struct journal_pair *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int journal_pairs_some(struct journal *j, int64_t box_id, const char *const *rkeys, size_t nr,
		       const char *const *lkeys, size_t nl, struct journal_pair **v_r,
		       size_t *n_r, struct err *e)
{
	struct pairvec pv = { 0 };
	*v_r = NULL;
	*n_r = 0;
	/* one read transaction for all the lookups, not one (with its WAL
	 * read-lock round trips) per key */
	int own = !j->in_tx && sqlite3_get_autocommit(j->db);
	if (own && exec_sql(j, "BEGIN", "reading message pairs", e) < 0)
		return -1;
	for (size_t k = 0; k < nr + nl; k++) {
		int side = k >= nr;
		sqlite3_stmt *s = stmt(j, side ? ST_PAIR_LKEY : ST_PAIR_RKEY, e);
		if (!s)
			goto fail;
		sqlite3_bind_int64(s, 1, box_id);
		bind_text(s, 2, side ? lkeys[k - nr] : rkeys[k], SIZE_MAX);
		if (append_pairs(j, s, 0, &pv, e) < 0)
			goto fail;
	}
	sqlite3_stmt *s = stmt(j, ST_PAIR_OPEN, e);
	if (!s)
		goto fail;
	sqlite3_bind_int64(s, 1, box_id);
	if (append_pairs(j, s, 0, &pv, e) < 0)
		goto fail;
	if (own && exec_sql(j, "COMMIT", "reading message pairs", e) < 0)
		goto fail;
	own = 0;
	if (pv.n)
		qsort(pv.v, pv.n, sizeof *pv.v, cmp_pair_id);
	size_t w = 0;
	for (size_t i = 0; i < pv.n; i++) {
		if (w && pv.v[w - 1].id == pv.v[i].id) {
			journal_pair_free(&pv.v[i]);
			continue;
		}
		pv.v[w++] = pv.v[i];
	}
	pv.n = w;
	pairvec_out(&pv, v_r, n_r);
	return 0;
fail:
	if (own)
		sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
	journal_pairs_free(pv.v, pv.n);
	return -1;
}

/* Bind a flag set as text at i; -1 only if it does not fit a buffer. */
static int bind_flags(struct journal *j, sqlite3_stmt *s, int i, const struct flagset *f,
		      struct err *e)
{
	struct buf t = BUF_INIT(KW_TEXT_MAX);
	if (flagset_format(f, &t) < 0) {
		buf_release(&t);
		return err_set(e, ERR_LIMIT, "journal '%s': flag set too large", j->path);
	}
	sqlite3_bind_text(s, i, t.data, (int)t.len, SQLITE_TRANSIENT);
	buf_release(&t);
	return 0;
}

int journal_pair_put(struct journal *j, struct journal_pair *p, struct err *e)
{
	sqlite3_stmt *s = stmt(j, p->id ? ST_PAIR_UPD : ST_PAIR_INS, e);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, p->box_id);
	bind_text(s, 2, p->rkey, SIZE_MAX);
	bind_text(s, 3, p->lkey, SIZE_MAX);
	if (bind_flags(j, s, 4, &p->base, e) < 0) {
		stmt_done(s);
		return -1;
	}
	sqlite3_bind_int64(s, 5, (int64_t)p->size);
	sqlite3_bind_int64(s, 6, p->idate);
	bind_fp(s, 7, p->has_fp, p->fp);
	if (p->id)
		sqlite3_bind_int64(s, 8, p->id);
	int in_tx = j->in_tx;
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		db_err(j, e, rc, "writing message pair");
		if (e && e->cls == ERR_NOTFOUND)
			err_set(e, ERR_NOTFOUND, "journal '%s' has no mailbox pair %" PRId64,
				j->path, p->box_id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (p->id && sqlite3_changes(j->db) == 0)
		return err_set(e, ERR_NOTFOUND, "journal '%s' has no message pair %" PRId64,
			       j->path, p->id);
	if (p->id) { /* the row holds the base now */
		sqlite3_stmt *d = stmt(j, ST_PAIR_BASE_DROP, e);
		if (!d)
			return -1;
		sqlite3_bind_int64(d, 1, p->id);
		rc = sqlite3_step(d);
		stmt_done(d);
		if (rc != SQLITE_DONE)
			return db_err(j, e, rc, "writing message pair");
	}
	if (!p->id)
		p->id = sqlite3_last_insert_rowid(j->db);
	if (!in_tx)
		step_done(j);
	return 0;
}

struct journal_cursor {
	struct journal *j;
	sqlite3_stmt *s;
};

int journal_cursor_open(struct journal *j, int64_t box_id, struct journal_cursor **c_r,
			struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_PAIR_BY_LKEY, e);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, box_id);
	struct journal_cursor *c = mf_calloc(1, sizeof *c);
	c->j = j;
	c->s = s;
	*c_r = c;
	return 0;
}

int journal_cursor_next(struct journal_cursor *c, const char **rkey, const char **lkey,
			const char **base, struct err *e)
{
	int rc = sqlite3_step(c->s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_err(c->j, e, rc, "reading message pairs");
	const char *b = (const char *)sqlite3_column_text(c->s, 2);
	*rkey = (const char *)sqlite3_column_text(c->s, 0);
	*lkey = (const char *)sqlite3_column_text(c->s, 1);
	*base = b ? b : "";
	return 1;
}

void journal_cursor_close(struct journal_cursor **c)
{
	if (!*c)
		return;
	stmt_done((*c)->s);
	free(*c);
	*c = NULL;
}

void journal_bulk(struct journal *j, int on)
{
	struct err e;
	/* a failure leaves the cache as it was: slower or bigger, never wrong */
	exec_sql(j, on ? "PRAGMA cache_size=-" JOURNAL_BULK_CACHE_KIB
		       : "PRAGMA cache_size=-" JOURNAL_CACHE_KIB, "cache size", &e);
}

int journal_pairs_walk(struct journal *j, int64_t box_id, journal_walk_fn *fn, void *ctx,
		       struct err *e)
{
	struct journal_cursor *c;
	if (journal_cursor_open(j, box_id, &c, e) < 0)
		return -1;
	const char *rkey, *lkey, *base;
	int r = 0, stop = 0;
	while (!stop && (r = journal_cursor_next(c, &rkey, &lkey, &base, e)) == 1)
		stop = fn(ctx, rkey, lkey, base);
	journal_cursor_close(&c);
	return stop ? stop : r;
}

int journal_pair_set_base(struct journal *j, int64_t id, const struct flagset *base,
			  struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_PAIR_BASE, e);
	if (!s)
		return -1;
	if (bind_flags(j, s, 1, base, e) < 0) {
		stmt_done(s);
		return -1;
	}
	sqlite3_bind_int64(s, 2, id);
	int in_tx = j->in_tx;
	int rc = sqlite3_step(s);
	stmt_done(s);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return err_set(e, ERR_NOTFOUND, "journal '%s' has no message pair %" PRId64,
			       j->path, id);
	if (rc != SQLITE_DONE)
		return db_err(j, e, rc, "writing message pair");
	if (!in_tx)
		step_done(j);
	return 0;
}

int journal_pair_delete(struct journal *j, int64_t id, struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_PAIR_DEL, e);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return run(j, s, "deleting message pair", e);
}

/* ---- keyword overflow ---- */

int journal_kw_overflow_get(struct journal *j, int64_t box_id, const char *lkey,
			    struct flagset *kw_out, struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_KW_GET, e);
	flagset_init(kw_out);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, box_id);
	bind_text(s, 2, lkey, SIZE_MAX);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		flags_from_col(s, 0, kw_out);
		kw_out->sys = 0;
	} else if (rc != SQLITE_DONE) {
		db_err(j, e, rc, "reading keyword overflow");
	}
	stmt_done(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int journal_kw_overflow_set(struct journal *j, int64_t box_id, const char *lkey,
			    const struct flagset *kw, struct err *e)
{
	if (!lkey)
		return err_set(e, ERR_USAGE, "journal '%s': keyword overflow without a key",
			       j->path);
	sqlite3_stmt *s = stmt(j, kw && kw->nkw ? ST_KW_SET : ST_KW_DEL, e);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, box_id);
	bind_text(s, 2, lkey, SIZE_MAX);
	if (kw && kw->nkw) {
		struct flagset only = *kw;
		only.sys = 0; /* keywords only; the flags live in the Maildir name */
		if (bind_flags(j, s, 3, &only, e) < 0) {
			stmt_done(s);
			return -1;
		}
	}
	return run(j, s, "writing keyword overflow", e);
}

/* ---- intents ---- */

void journal_intent_free(struct journal_intent *in)
{
	if (!in)
		return;
	free(in->rkey);
	free(in->lkey);
	free(in->data);
	in->rkey = in->lkey = in->data = NULL;
}

void journal_intents_free(struct journal_intent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		journal_intent_free(&v[i]);
	free(v);
}

int journal_intent_add(struct journal *j, struct journal_intent *in, struct err *e)
{
	if (in->op < INTENT_DOWNLOAD || in->op > INTENT_EXPUNGE || (in->side != 0 && in->side != 1))
		return err_set(e, ERR_USAGE, "journal '%s': bad intent (op %d, side %d)",
			       j->path, (int)in->op, in->side);
	sqlite3_stmt *s = stmt(j, ST_INT_INS, e);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, in->box_id);
	sqlite3_bind_int(s, 2, (int)in->op);
	sqlite3_bind_int(s, 3, in->side);
	bind_text(s, 4, in->rkey, SIZE_MAX);
	bind_text(s, 5, in->lkey, SIZE_MAX);
	sqlite3_bind_int64(s, 6, in->pair_id);
	sqlite3_bind_int64(s, 7, in->uidnext);
	sqlite3_bind_int64(s, 8, (int64_t)in->size);
	sqlite3_bind_int64(s, 9, in->idate);
	bind_fp(s, 10, in->has_fp, in->fp);
	bind_text(s, 11, in->data, SIZE_MAX);
	int in_tx = j->in_tx;
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		db_err(j, e, rc, "writing intent");
		if (e && e->cls == ERR_NOTFOUND)
			err_set(e, ERR_NOTFOUND, "journal '%s' has no mailbox pair %" PRId64,
				j->path, in->box_id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	in->id = sqlite3_last_insert_rowid(j->db);
	if (!in_tx)
		step_done(j);
	return 0;
}

int journal_intents(struct journal *j, int64_t box_id, struct journal_intent **v_r,
		    size_t *n_r, struct err *e)
{
	sqlite3_stmt *s = stmt(j, box_id ? ST_INT_BOX : ST_INT_ALL, e);
	struct journal_intent *v = NULL;
	size_t n = 0;
	int rc;
	*v_r = NULL;
	*n_r = 0;
	if (!s)
		return -1;
	if (box_id)
		sqlite3_bind_int64(s, 1, box_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = mf_reallocarray(v, n + 1, sizeof *v);
		struct journal_intent *in = &v[n++];
		memset(in, 0, sizeof *in);
		in->id = sqlite3_column_int64(s, 0);
		in->box_id = sqlite3_column_int64(s, 1);
		in->op = (enum journal_intent_op)sqlite3_column_int(s, 2);
		in->side = sqlite3_column_int(s, 3);
		in->rkey = col_str(s, 4);
		in->lkey = col_str(s, 5);
		in->pair_id = sqlite3_column_int64(s, 6);
		in->uidnext = (uint32_t)sqlite3_column_int64(s, 7);
		in->size = (uint64_t)sqlite3_column_int64(s, 8);
		in->idate = sqlite3_column_int64(s, 9);
		col_fp(s, 10, &in->has_fp, in->fp);
		in->data = col_str(s, 11);
	}
	if (rc != SQLITE_DONE) {
		db_err(j, e, rc, "reading intents");
		stmt_done(s);
		journal_intents_free(v, n);
		return -1;
	}
	stmt_done(s);
	*v_r = v;
	*n_r = n;
	return 0;
}

int journal_intent_clear(struct journal *j, int64_t id, struct err *e)
{
	sqlite3_stmt *s = stmt(j, ST_INT_DEL, e);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return run(j, s, "clearing intent", e);
}
