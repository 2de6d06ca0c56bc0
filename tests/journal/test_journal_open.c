/*
 * test_journal_open.c — opening a journal: forward migration from schema v1
 * (built here with raw SQL, as an older mailferry wrote it), an atomic failed
 * migration, refusal of a newer schema and of foreign databases, detection of
 * damaged files (left byte for byte as they were), file modes, the
 * one-process lock. Scenario by argv[1].
 */
#include "jtest.h"

#include <sys/file.h>

#include "lib/banned.h"

/* Schema v1 exactly as the first mailferry wrote it (frozen: do not edit). */
static const char v1_schema[] =
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
	"CREATE INDEX intent_box ON intent(box_id);"
	"PRAGMA user_version = 1;";

static const char v1_data[] =
	"INSERT INTO meta VALUES ('remote', 'imap://u@h'), ('local', 'maildir:/m');"
	"INSERT INTO box(id, rname, lname, rident, lident, uidvalidity, uidnext,"
	" highestmodseq, lmarker, complete) VALUES"
	" (1, 'INBOX', 'INBOX', 'uv:17', 'f-1', 17, 300, 9000, 'm1', 1),"
	" (2, 'Sent', 'Sent', 'uv:18', 'f-2', 18, 5, 0, '', 0);"
	"INSERT INTO pair(id, box_id, rkey, lkey, base, size, idate, fp) VALUES"
	" (10, 1, '1', 'k1', '\\Seen $Junk', 1234, 1700000000,"
	"  x'0101010101010101010101010101010101010101010101010101010101010101'),"
	" (11, 1, '2', NULL, '', 99, 0, NULL),"
	" (12, 2, NULL, 'k3', '\\Flagged \\Answered', 7, -5, NULL);"
	"INSERT INTO intent(id, box_id, op, side, rkey, lkey, pair_id, uidnext, data)"
	" VALUES (5, 1, 2, 0, NULL, 'k9', 0, 301, NULL);";

static int make_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static void scenario_migrate(void)
{
	const char *path = jt_path("v1.db");
	struct err e = { 0 };
	CHECK_INT(make_file(path), 0);
	CHECK_INT(jt_sql(path, v1_schema), 0);
	CHECK_INT(jt_sql(path, v1_data), 0);
	CHECK_INT(jt_sql_int(path, "PRAGMA user_version"), 1);

	struct journal *j = NULL;
	CHECK_INT(journal_open(path, &j, &e), 0);
	if (!j) {
		fprintf(stderr, "%s\n", e.msg);
		return;
	}
	char *v = NULL;
	CHECK_INT(journal_meta_get(j, "local", &v, &e), 0);
	CHECK_STR(v, "maildir:/m");
	free(v);

	struct journal_box *b;
	size_t n;
	CHECK_INT(journal_boxes(j, &b, &n, &e), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK(b[0].id == 1 && strcmp(b[0].rname, "INBOX") == 0 &&
		      strcmp(b[0].rident, "uv:17") == 0 && strcmp(b[0].lident, "f-1") == 0);
		CHECK(b[0].uidvalidity == 17 && b[0].uidnext == 300 &&
		      b[0].highestmodseq == 9000 && b[0].complete == 1);
		CHECK_STR(b[0].lmarker, "m1");
		CHECK(b[0].l_uidvalidity == 0 && b[0].l_uidnext == 0 &&
		      b[0].l_highestmodseq == 0); /* new in v2: defaults */
		CHECK_STR(b[1].lname, "Sent");
		/* The new columns are writable. */
		b[1].l_uidnext = 44;
		CHECK_INT(journal_box_put(j, &b[1], &e), 0);
	}
	journal_boxes_free(b, n);

	struct journal_pair *p;
	CHECK_INT(journal_pairs(j, 1, &p, &n, &e), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK(p[0].id == 10 && strcmp(p[0].rkey, "1") == 0 &&
		      strcmp(p[0].lkey, "k1") == 0);
		CHECK(p[0].base.sys == MF_SEEN && p[0].base.nkw == 1 &&
		      strcmp(p[0].base.kw[0], "$Junk") == 0);
		CHECK(p[0].size == 1234 && p[0].idate == 1700000000);
		CHECK(p[0].has_fp && p[0].fp[0] == 1 && p[0].fp[31] == 1);
		CHECK(p[1].lkey == NULL && !p[1].has_fp && p[1].base.sys == 0);
	}
	journal_pairs_free(p, n);
	CHECK_INT(journal_pairs(j, 2, &p, &n, &e), 0);
	CHECK(n == 1 && p[0].rkey == NULL && p[0].base.sys == (MF_FLAGGED | MF_ANSWERED) &&
	      p[0].idate == -5);
	journal_pairs_free(p, n);

	struct journal_intent *in;
	CHECK_INT(journal_intents(j, 0, &in, &n, &e), 0);
	CHECK(n == 1 && in[0].id == 5 && in[0].op == INTENT_UPLOAD && in[0].uidnext == 301 &&
	      strcmp(in[0].lkey, "k9") == 0 && in[0].size == 0 && !in[0].has_fp);
	journal_intents_free(in, n);

	/* kw_overflow is new in v2. */
	struct flagset kw, got;
	flagset_init(&kw);
	flagset_add_kw(&kw, "$label27");
	CHECK_INT(journal_kw_overflow_set(j, 1, "k1", &kw, &e), 0);
	CHECK_INT(journal_kw_overflow_get(j, 1, "k1", &got, &e), 0);
	CHECK(flagset_equal(&kw, &got));
	flagset_free(&kw);
	flagset_free(&got);
	/* pair_base is new in v3: a v1 pair's base can be changed and read */
	struct flagset nb;
	flagset_init(&nb);
	flagset_parse(&nb, "\\Answered");
	struct journal_pair *pv;
	size_t pn;
	CHECK_INT(journal_pairs(j, 1, &pv, &pn, &e), 0);
	CHECK(pn > 0);
	if (pn > 0) {
		CHECK_INT(journal_pair_set_base(j, pv[0].id, &nb, &e), 0);
		journal_pairs_free(pv, pn);
		CHECK_INT(journal_pairs(j, 1, &pv, &pn, &e), 0);
		CHECK(pn > 0 && flagset_equal(&pv[0].base, &nb));
	}
	journal_pairs_free(pv, pn);
	flagset_free(&nb);
	CHECK_INT(journal_check(j, &e), 0);
	journal_close(&j);

	CHECK_INT(jt_sql_int(path, "PRAGMA user_version"), journal_schema_version());
	CHECK_INT(journal_schema_version(), 4);
	/* v4 dropped the fingerprint index the v1 journal had */
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'pair_fp'"), 0);
	CHECK_INT(jt_sql_int(path, "SELECT l_uidnext FROM box WHERE id = 2"), 44);
	/* Opening again migrates nothing and keeps everything. */
	j = jt_open(path);
	journal_close(&j);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM pair"), 3);
	return;
}

static void scenario_fresh(void)
{
	const char *path = jt_path("fresh.db");
	struct journal *j = jt_open(path);
	journal_close(&j);
	CHECK_INT(jt_sql_int(path, "PRAGMA user_version"), journal_schema_version());
	CHECK_INT(jt_sql_int(path, "PRAGMA application_id"), 0x4d464a31);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'kw_overflow'"),
		  1);
	/* A zero-length file (e.g. touched by the user) is a new journal too. */
	const char *empty = jt_path("empty.db");
	CHECK_INT(make_file(empty), 0);
	j = jt_open(empty);
	journal_close(&j);
	CHECK_INT(jt_sql_int(empty, "PRAGMA user_version"), journal_schema_version());
	return;
}

/* A migration that fails leaves the previous version whole. */
static void scenario_migrate_atomic(void)
{
	const char *path = jt_path("v1-bad.db");
	struct err e = { 0 };
	struct journal *j = NULL;
	CHECK_INT(make_file(path), 0);
	CHECK_INT(jt_sql(path, v1_schema), 0);
	CHECK_INT(jt_sql(path, v1_data), 0);
	/* Something in the way of step v2's last statement. */
	CHECK_INT(jt_sql(path, "CREATE TABLE kw_overflow(x);"), 0);
	CHECK_INT(journal_open(path, &j, &e), -1);
	CHECK(j == NULL);
	CHECK(strstr(e.msg, "schema 1 to 2") != NULL);
	CHECK(strstr(e.msg, "kw_overflow") != NULL);
	CHECK_INT(jt_sql_int(path, "PRAGMA user_version"), 1);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM pragma_table_info('box')"
			     " WHERE name = 'l_uidvalidity'"), 0);
	CHECK_INT(jt_sql_int(path, "SELECT count(*) FROM pair"), 3);
	/* Repaired, it migrates. */
	CHECK_INT(jt_sql(path, "DROP TABLE kw_overflow;"), 0);
	CHECK_INT(journal_open(path, &j, &e), 0);
	journal_close(&j);
	CHECK_INT(jt_sql_int(path, "PRAGMA user_version"), journal_schema_version());
	return;
}

/* Open must fail with `cls` and a message containing `want`, leaving the
 * file byte for byte as it was. */
static void refuse(const char *path, enum err_class cls, const char *want)
{
	size_t n0, n1;
	unsigned char *before = jt_slurp(path, &n0);
	struct journal *j = NULL;
	struct err e = { 0 };
	CHECK_INT(journal_open(path, &j, &e), -1);
	CHECK(j == NULL);
	CHECK_INT(e.cls, cls);
	CHECK(strstr(e.msg, path) != NULL);
	if (!strstr(e.msg, want))
		fprintf(stderr, "message '%s' lacks '%s'\n", e.msg, want);
	CHECK(strstr(e.msg, want) != NULL);
	journal_close(&j);
	unsigned char *after = jt_slurp(path, &n1);
	CHECK(before != NULL && after != NULL);
	CHECK_INT(n1, n0);
	CHECK(n0 == n1 && before && after && memcmp(before, after, n0) == 0);
	free(before);
	free(after);
}

static void scenario_newer(void)
{
	const char *path = jt_path("newer.db");
	struct journal *j = jt_open(path);
	journal_close(&j);
	CHECK_INT(jt_sql(path, "PRAGMA user_version = 99;"), 0);
	refuse(path, ERR_PERM, "was written by a newer mailferry (schema 99, this one knows 4)");
	CHECK_INT(jt_sql_int(path, "PRAGMA user_version"), 99);
	return;
}

/* SQLite databases that are not ours are refused, not taken over. */
static void scenario_foreign(void)
{
	const char *plain = jt_path("other.db"), *app = jt_path("app.db");
	CHECK_INT(make_file(plain), 0);
	CHECK_INT(jt_sql(plain, "CREATE TABLE t(x); INSERT INTO t VALUES (1);"), 0);
	refuse(plain, ERR_PERM, "not a mailferry journal");
	CHECK_INT(make_file(app), 0);
	CHECK_INT(jt_sql(app, "PRAGMA application_id = 42; PRAGMA user_version = 1;"
			 " CREATE TABLE t(x);"), 0);
	refuse(app, ERR_PERM, "another program");
	return;
}

/* Build a real journal with enough rows to span many pages. */
static void make_big(const char *path)
{
	struct journal *j = jt_open(path);
	struct err e = { 0 };
	struct journal_box b = { 0 };
	b.rname = b.lname = (char *)"INBOX";
	CHECK_INT(journal_box_put(j, &b, &e), 0);
	CHECK_INT(journal_begin(j, &e), 0);
	for (int i = 0; i < 3000; i++) {
		struct journal_pair p = { 0 };
		char rk[16], lk[64];
		snprintf(rk, sizeof rk, "%d", i + 1);
		snprintf(lk, sizeof lk, "1700000000.M%dP1234Q5.example.org", i);
		p.box_id = b.id;
		p.rkey = rk;
		p.lkey = lk;
		p.has_fp = 1;
		memset(p.fp, i & 0xff, sizeof p.fp);
		CHECK_INT(journal_pair_put(j, &p, &e), 0);
	}
	CHECK_INT(journal_commit(j, &e), 0);
	journal_close(&j); /* checkpoints: everything is in the main file */
}

static void dmg_garbage(const char *path)
{
	unsigned char b[8192];
	unsigned x = 12345;
	for (size_t i = 0; i < sizeof b; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (unsigned char)(x >> 16);
	}
	jt_write(path, b, sizeof b, 0600);
}

static void dmg_text(const char *path)
{
	static const char t[] = "this is not a database\n";
	jt_write(path, t, sizeof t - 1, 0600);
}

static void dmg_header(const char *path)
{
	make_big(path);
	int fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "SQLite format 4", 15, 0) == 15);
	close(fd);
}

static void dmg_truncated(const char *path)
{
	make_big(path);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK(st.st_size > 100000);
	CHECK_INT(truncate(path, st.st_size / 2), 0);
}

static void dmg_short_header(const char *path)
{
	make_big(path);
	CHECK_INT(truncate(path, 60), 0);
}

static void scribble(const char *path)
{
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	unsigned char junk[4096 * 4];
	memset(junk, 0x55, sizeof junk);
	int fd = open(path, O_WRONLY);
	off_t at = (st.st_size / 2) & ~(off_t)4095;
	CHECK(fd >= 0 && pwrite(fd, junk, sizeof junk, at) == (ssize_t)sizeof junk);
	close(fd);
}

static void dmg_scribbled(const char *path)
{
	make_big(path);
	scribble(path);
}

static void scenario_damaged(void)
{
	static const struct {
		const char *name;
		void (*make)(const char *path);
		const char *want;
	} cases[] = {
		{ "garbage", dmg_garbage, "not an SQLite database" },
		{ "text", dmg_text, "not an SQLite database" },
		{ "header", dmg_header, "not an SQLite database" },
		{ "short-header", dmg_short_header, "not an SQLite database" },
		{ "truncated", dmg_truncated, "is damaged" },
		{ "scribbled", dmg_scribbled, "is damaged" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char file[64];
		snprintf(file, sizeof file, "%s.db", cases[i].name);
		const char *path = jt_path(file);
		cases[i].make(path);
		fprintf(stderr, "case %s\n", cases[i].name);
		refuse(path, ERR_CORRUPT, cases[i].want);
		refuse(path, ERR_CORRUPT, "left untouched"); /* and again: still refused */
	}
	return;
}

static void scenario_mode(void)
{
	struct err e = { 0 };
	struct journal *j = NULL;
	struct stat st;
	mode_t old = umask(0);
	const char *path = jt_path("mode.db");
	j = jt_open(path);
	CHECK_INT(journal_meta_set(j, "k", "v", &e), 0);
	static const char *const files[] = { "mode.db", "mode.db.lock", "mode.db-wal" };
	for (size_t i = 0; i < 3; i++) {
		CHECK_INT(stat(jt_path(files[i]), &st), 0);
		if ((st.st_mode & 0777) != 0600)
			fprintf(stderr, "%s: mode %o\n", files[i], (unsigned)(st.st_mode & 0777));
		CHECK_INT(st.st_mode & 0777, 0600);
	}
	journal_close(&j);
	umask(old);

	/* Existing files: writable by others is refused (and left alone). */
	static const struct {
		mode_t mode;
		int ok;
	} modes[] = {
		{ 0600, 1 }, { 0640, 1 }, { 0644, 1 }, { 0400, 0 },
		{ 0660, 0 }, { 0606, 0 }, { 0666, 0 },
	};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		CHECK_INT(chmod(path, modes[i].mode), 0);
		int rc = journal_open(path, &j, &e);
		if (geteuid() == 0 && modes[i].mode == 0400) {
			/* root may write anyway; nothing to check */
			journal_close(&j);
			continue;
		}
		CHECK_INT(rc, modes[i].ok ? 0 : -1);
		if (!modes[i].ok && (modes[i].mode & 022)) {
			CHECK_INT(e.cls, ERR_PERM);
			CHECK(strstr(e.msg, "writable by group or others") != NULL);
		}
		journal_close(&j);
	}
	CHECK_INT(chmod(path, 0600), 0);

	/* Missing directory; a directory in the way. */
	CHECK_INT(journal_open(jt_path("no/such/dir.db"), &j, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(mkdir(jt_path("adir"), 0700), 0);
	CHECK_INT(journal_open(jt_path("adir"), &j, &e), -1);
	CHECK(j == NULL);
	return;
}

static long lock_file_pid(const char *path)
{
	char lp[600];
	size_t n;
	snprintf(lp, sizeof lp, "%s.lock", path);
	unsigned char *p = jt_slurp(lp, &n);
	long pid = p && n ? strtol((char *)p, NULL, 10) : 0;
	free(p);
	return pid;
}

static int lock_file_clean(const char *path)
{
	char lp[600];
	size_t n;
	snprintf(lp, sizeof lp, "%s.lock", path);
	unsigned char *p = jt_slurp(lp, &n);
	int clean = p && n > 6 && memcmp(p, "clean ", 6) == 0;
	free(p);
	return clean;
}

/* A clean close stamps the lock file (quick_check is then skipped at the
 * next open); a damaged file written after that stamp is still refused,
 * and a refused journal gets no stamp. */
static void scenario_stamp(void)
{
	const char *path = jt_path("stamp.db");
	make_big(path);
	CHECK(lock_file_clean(path));
	struct journal *j = jt_open(path);
	CHECK(!lock_file_clean(path));
	CHECK_INT(lock_file_pid(path), getpid());
	journal_close(&j);
	CHECK(lock_file_clean(path));
	scribble(path); /* a later write: mtime and content change */
	refuse(path, ERR_CORRUPT, "is damaged");
	CHECK(!lock_file_clean(path));
	refuse(path, ERR_CORRUPT, "left untouched");
}

/* --dry-run's private copy: it holds what the WAL held, writes to it stay
 * in it, and it is removed with its directory (under $TMPDIR). A channel
 * never synced has nothing to copy: the copy opens as a new journal. */
static void scenario_copy(void)
{
	const char *path = jt_path("copy.db");
	struct err e = { 0 };
	struct journal *j = jt_open(path), *cj = NULL;
	char *v = NULL, *tmpdir = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	CHECK_INT(journal_meta_set(j, "k", "orig", &e), 0);
	setenv("TMPDIR", jt_dir, 1);
	struct journal_copy c;
	CHECK_INT(journal_copy_make(path, &c, &e), 0); /* the commit is in the WAL */
	CHECK(!strncmp(c.dir, jt_dir, strlen(jt_dir)));
	CHECK_INT(journal_open(c.path, &cj, &e), 0);
	CHECK_INT(journal_meta_get(cj, "k", &v, &e), 0);
	CHECK_STR(v ? v : "(none)", "orig");
	free(v);
	CHECK_INT(journal_meta_set(cj, "k", "copy", &e), 0);
	journal_close(&cj);
	v = NULL;
	CHECK_INT(journal_meta_get(j, "k", &v, &e), 0);
	CHECK_STR(v ? v : "(none)", "orig");
	free(v);
	journal_close(&j);
	char dir[sizeof c.dir];
	snprintf(dir, sizeof dir, "%s", c.dir);
	journal_copy_remove(&c);
	struct stat st;
	CHECK(stat(dir, &st) < 0 && errno == ENOENT);
	CHECK_INT(c.dir[0], 0);
	journal_copy_remove(&c); /* twice is harmless */

	CHECK_INT(journal_copy_make(jt_path("never.db"), &c, &e), 0);
	CHECK_INT(journal_open(c.path, &cj, &e), 0);
	journal_close(&cj);
	journal_copy_remove(&c);
	if (tmpdir)
		setenv("TMPDIR", tmpdir, 1);
	else
		unsetenv("TMPDIR");
	free(tmpdir);
}

static void scenario_lock(void)
{
	const char *path = jt_path("lock.db");
	struct err e = { 0 };
	struct journal *j = NULL, *j2 = NULL;
	char want[128];

	/* Same process, second open: refused, names us. */
	j = jt_open(path);
	CHECK_INT(journal_open(path, &j2, &e), -1);
	CHECK_INT(e.cls, ERR_INUSE);
	snprintf(want, sizeof want, "journal '%s' is in use by process %ld", path, (long)getpid());
	CHECK_STR(e.msg, want);
	journal_close(&j);

	/* Another process holds it. */
	int up[2], down[2];
	CHECK(pipe(up) == 0 && pipe(down) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		struct journal *cj = NULL;
		struct err ce = { 0 };
		char c = journal_open(path, &cj, &ce) == 0 ? 'R' : 'F';
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(3);
		journal_close(&cj);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	char c = 0;
	CHECK_INT(jt_read_full(up[0], &c, 1), 0);
	CHECK(c == 'R');
	CHECK_INT(lock_file_pid(path), pid);
	CHECK_INT(journal_open(path, &j, &e), -1);
	CHECK_INT(e.cls, ERR_INUSE);
	snprintf(want, sizeof want, "journal '%s' is in use by process %ld", path, (long)pid);
	CHECK_STR(e.msg, want);
	CHECK(j == NULL);
	CHECK(write(down[1], "x", 1) == 1);
	CHECK_INT(jt_exit_status(pid), 0);
	close(up[0]);
	close(down[1]);
	CHECK_INT(journal_open(path, &j, &e), 0);
	CHECK_INT(lock_file_pid(path), getpid());
	journal_close(&j);

	/* A holder killed with SIGKILL leaves a stale lock file: no matter. */
	CHECK(pipe(up) == 0);
	pid = fork();
	if (pid == 0) {
		close(up[0]);
		struct journal *cj = NULL;
		struct err ce = { 0 };
		char r = journal_open(path, &cj, &ce) == 0 ? 'R' : 'F';
		if (write(up[1], &r, 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(up[1]);
	CHECK_INT(jt_read_full(up[0], &c, 1), 0);
	CHECK(c == 'R');
	CHECK_INT(kill(pid, SIGKILL), 0);
	CHECK_INT(jt_exit_status(pid), 1000 + SIGKILL);
	close(up[0]);
	CHECK_INT(lock_file_pid(path), pid); /* stale, and harmless */
	CHECK_INT(journal_open(path, &j, &e), 0);
	journal_close(&j);
	return;
}

int main(int argc, char **argv)
{
	static const struct test_scenario scenarios[] = {
		{ "migrate", scenario_migrate },
		{ "fresh", scenario_fresh },
		{ "migrate-atomic", scenario_migrate_atomic },
		{ "newer", scenario_newer },
		{ "foreign", scenario_foreign },
		{ "damaged", scenario_damaged },
		{ "mode", scenario_mode },
		{ "lock", scenario_lock },
		{ "stamp", scenario_stamp },
		{ "copy", scenario_copy },
	};
	jt_mkdir("journal-open");
	int r = test_run_scenarios(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0]);
	jt_cleanup();
	return r;
}
