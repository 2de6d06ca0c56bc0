/*
 * test_marker.c — the trust rules of the change marker (maildir_scan.h):
 * the pure rule on a table of cases; a marker right after a write is
 * untrusted; ~10 ms later it is trusted under the fine rule (the test's
 * temp dir, and /dev/shm when it is tmpfs) or still untrusted under the
 * 2 s rule on other file systems, which the test then checks instead;
 * whole-second mtimes fall back to the 2 s rule; and any write after a
 * trusted marker changes the marker (1000 rounds, no sleeps). One scenario
 * per meson test.
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "mdtest.h"

struct rule_case {
	long long m0, m1;   /* mtimes, ns since the epoch */
	long long coarse;   /* ns */
	long long now;      /* ns */
	int fine;
	int trusted;
};

#define S 1000000000LL
#define MS 1000000LL
#define T0 (1700000000LL * S)

static struct timespec ts_of(long long ns)
{
	struct timespec t = { (time_t)(ns / S), (long)(ns % S) };
	return t;
}

static void t_rule(void)
{
	static const struct rule_case cases[] = {
		/* fine rule: strictly older than coarse - 1 ms */
		{ T0 + 5, T0 + 7, T0 + 2 * MS, T0 + 2 * MS, 1, 1 },
		{ T0 + 5, T0 + 7, T0 + MS + 7, T0 + 3 * MS, 1, 0 },
		{ T0 + 5, T0 + 7, T0 + MS + 8, T0 + 3 * MS, 1, 1 },
		{ T0 + 5, T0 + 4 * MS, T0 + 4 * MS, T0 + 5 * MS, 1, 0 },
		{ T0 + 5, T0 + 5, T0 + 1, T0 + 10 * MS, 1, 0 }, /* mtime after the reading */
		/* not a fine file system: the 2 s rule */
		{ T0 + 5, T0 + 7, T0 + 500 * MS, T0 + 500 * MS, 0, 0 },
		{ T0 + 5, T0 + 7, T0 + 1999 * MS, T0 + 1999 * MS, 0, 0 },
		{ T0 + 5, T0 + 7, T0 + 2 * S, T0 + 2 * S, 0, 1 },
		{ T0 + 5, T0 + S + 7, T0 + 2 * S, T0 + 2 * S, 0, 0 },
		/* whole milliseconds (a coarse granularity) too */
		{ T0 + 5 * MS, T0 + 7, T0 + 500 * MS, T0 + 500 * MS, 1, 0 },
		{ T0 + 7, T0 + 9 * MS, T0 + 500 * MS, T0 + 500 * MS, 1, 0 },
		{ T0 + 5 * MS + 1, T0 + 7, T0 + 500 * MS, T0 + 500 * MS, 1, 1 },
		/* a zero tv_nsec falls back to the 2 s rule */
		{ T0, T0 + 7, T0 + 500 * MS, T0 + 500 * MS, 1, 0 },
		{ T0 + 7, T0, T0 + 1500 * MS, T0 + 1500 * MS, 1, 0 },
		{ T0, T0, T0 + 2 * S, T0 + 2 * S, 1, 1 },
		/* old mtimes: trusted either way */
		{ T0 - 100 * S + 1, T0 - 50 * S + 1, T0, T0, 0, 1 },
		{ T0 - 100 * S + 1, T0 - 50 * S + 1, T0, T0, 1, 1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct rule_case *c = &cases[i];
		struct timespec mt[2] = { ts_of(c->m0), ts_of(c->m1) };
		struct timespec coarse = ts_of(c->coarse), now = ts_of(c->now);
		int got = maildir_scan_marker_trusted(mt, &coarse, &now, c->fine);
		if (got != c->trusted)
			fprintf(stderr, "rule case %zu\n", i);
		CHECK_INT(got, c->trusted);
	}
}

/* A folder (cur/ new/ tmp/) under base; returns its fd. */
static int mkfolder(const char *base, char *dir, size_t n)
{
	snprintf(dir, n, "%s/mf-marker-XXXXXX", base);
	if (!mkdtemp(dir))
		return -1;
	static const char *const subs[] = { "cur", "new", "tmp" };
	char p[600];
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
		if (mkdir(p, 0700) < 0)
			return -1;
	}
	return open(dir, O_RDONLY | O_DIRECTORY);
}

static const char *tmpbase(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

/* Both mtimes finer than whole milliseconds (see the fine rule). */
static int dir_nsec_nonzero(int dfd)
{
	struct stat a, b;
	return fstatat(dfd, "cur", &a, 0) == 0 && fstatat(dfd, "new", &b, 0) == 0 &&
	       a.st_mtim.tv_nsec % MS != 0 && b.st_mtim.tv_nsec % MS != 0;
}

static int untrusted(const char *m)
{
	size_t n = strlen(m);
	return n >= 2 && strcmp(m + n - 2, ":u") == 0;
}

static void put_msg(int dfd, const char *path)
{
	int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "A: b\n\nx\n", 8) != 8)
		perror(path);
	close(fd);
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/* Fresh marker untrusted; after ~10 ms trusted under the fine rule, else
 * untrusted until 2 whole seconds passed. */
static void check_fresh_then_settled(const char *base)
{
	char dir[600], m[MAILDIR_MARKER_MAX];
	struct err e = { 0 };
	int dfd = mkfolder(base, dir, sizeof dir);
	CHECK(dfd >= 0);
	if (dfd < 0)
		return;
	CHECK_INT(md_fresh_marker(dfd, m), 1);
	CHECK(untrusted(m));
	CHECK_INT(maildir_scan_unchanged(dfd, m), 0);
	put_msg(dfd, "new/1.a");
	int fine = maildir_scan_fine_fs(dfd) && dir_nsec_nonzero(dfd);
	printf("%s: %s rule\n", base, fine ? "fine" : "2 s");
	sleep_ms(10);
	CHECK_INT(maildir_scan_marker(dfd, m, &e), 0);
	if (fine) {
		CHECK(!untrusted(m));
		CHECK_INT(maildir_scan_unchanged(dfd, m), 1);
	} else {
		/* the 2 s rule: still untrusted; trusted once the second is 2 on */
		time_t written = time(NULL);
		CHECK(untrusted(m));
		while (time(NULL) < written + 3)
			sleep_ms(50);
		CHECK_INT(maildir_scan_marker(dfd, m, &e), 0);
		CHECK(!untrusted(m));
	}
	close(dfd);
	md_rmrf(dir);
}

static void t_settle(void)
{
	struct statfs sf;
	check_fresh_then_settled(tmpbase());
	/* tmpfs too, where there is one */
	if (statfs("/dev/shm", &sf) == 0 && sf.f_type == 0x01021994 &&
	    access("/dev/shm", W_OK) == 0)
		check_fresh_then_settled("/dev/shm");
}

/* mtimes in whole seconds (tv_nsec 0) use the 2 s rule, fine fs or not. */
static void t_whole_seconds(void)
{
	char dir[600], m[MAILDIR_MARKER_MAX];
	struct err e = { 0 };
	int dfd = mkfolder(tmpbase(), dir, sizeof dir);
	CHECK(dfd >= 0);
	if (dfd < 0)
		return;
	int fine = maildir_scan_fine_fs(dfd);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	/* this second, whole: the 2 s rule says no for 2 s at least */
	struct timespec secs[2] = { { now.tv_sec, 0 }, { now.tv_sec, 0 } };
	/* 100 ms ago with nanoseconds: the fine rule says yes */
	struct timespec ago = ts_of((long long)now.tv_sec * S + now.tv_nsec - 100 * MS);
	ago.tv_nsec |= 1;
	struct timespec nsecs[2] = { ago, ago };
	struct timespec old[2] = { { now.tv_sec - 3, 0 }, { now.tv_sec - 3, 0 } };
	CHECK_INT(utimensat(dfd, "cur", secs, 0), 0);
	CHECK_INT(utimensat(dfd, "new", secs, 0), 0);
	CHECK_INT(maildir_scan_marker(dfd, m, &e), 0);
	CHECK(untrusted(m));
	/* one dir with nanoseconds, the other without: still the 2 s rule */
	CHECK_INT(utimensat(dfd, "new", nsecs, 0), 0);
	CHECK_INT(maildir_scan_marker(dfd, m, &e), 0);
	CHECK(untrusted(m));
	/* both with nanoseconds: the fine rule where it applies */
	CHECK_INT(utimensat(dfd, "cur", nsecs, 0), 0);
	CHECK_INT(maildir_scan_marker(dfd, m, &e), 0);
	CHECK_INT(untrusted(m), !fine);
	/* whole seconds, 3 s ago: the 2 s rule says yes */
	CHECK_INT(utimensat(dfd, "cur", old, 0), 0);
	CHECK_INT(utimensat(dfd, "new", old, 0), 0);
	CHECK_INT(maildir_scan_marker(dfd, m, &e), 0);
	CHECK(!untrusted(m));
	char want[2 * MAILDIR_MARKER_MAX];
	snprintf(want, sizeof want, "v1:%lld.000000000:%lld.000000000",
		 (long long)now.tv_sec - 3, (long long)now.tv_sec - 3);
	CHECK_STR(m, want); /* the format stored journals hold */
	close(dfd);
	md_rmrf(dir);
}

/* The marker without its ":u". */
static void strip(char *m)
{
	if (untrusted(m))
		m[strlen(m) - 2] = '\0';
}

/* Take markers until one is trusted (busy: no sleep); 0 if none within
 * `ms` milliseconds. */
static int wait_trusted(int dfd, char m[MAILDIR_MARKER_MAX], long ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (maildir_scan_marker(dfd, m, NULL) == 0 && !untrusted(m))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return 0;
	}
}

/* One of four writes, by round: deliver to new/, move new/ -> cur/, rename
 * in cur/ (a flag change), delete from cur/. */
static void write_one(int dfd, int round)
{
	char a[128], b[128];
	int k = round / 4;
	switch (round % 4) {
	case 0:
		snprintf(a, sizeof a, "new/%d.k", k);
		put_msg(dfd, a);
		break;
	case 1:
		snprintf(a, sizeof a, "new/%d.k", k);
		snprintf(b, sizeof b, "cur/%d.k:2,", k);
		CHECK_INT(renameat(dfd, a, dfd, b), 0);
		break;
	case 2:
		snprintf(a, sizeof a, "cur/%d.k:2,", k);
		snprintf(b, sizeof b, "cur/%d.k:2,S", k);
		CHECK_INT(renameat(dfd, a, dfd, b), 0);
		break;
	default:
		snprintf(a, sizeof a, "cur/%d.k:2,S", k);
		CHECK_INT(unlinkat(dfd, a, 0), 0);
	}
}

/* Any write right after a trusted marker changes the marker: the marker is
 * taken the moment it becomes trusted (the tightest case), then written
 * to at once. 1000 rounds under the fine rule; under the 2 s rule, where
 * each round waits 2 s, 3 rounds. */
static void t_write_changes(void)
{
	char dir[600], m1[MAILDIR_MARKER_MAX], m2[MAILDIR_MARKER_MAX];
	int dfd = mkfolder(tmpbase(), dir, sizeof dir);
	CHECK(dfd >= 0);
	if (dfd < 0)
		return;
	put_msg(dfd, "new/.probe");
	unlinkat(dfd, "new/.probe", 0);
	int fine = maildir_scan_fine_fs(dfd) && dir_nsec_nonzero(dfd);
	int rounds = fine ? 1000 : 3, changed = 0, waited = 0;
	for (int r = 0; r < rounds; r++) {
		if (!wait_trusted(dfd, m1, 4000)) /* 2 s rule at worst */
			break;
		waited++;
		write_one(dfd, r);
		CHECK_INT(maildir_scan_marker(dfd, m2, NULL), 0);
		CHECK_INT(maildir_scan_unchanged(dfd, m1), 0);
		strip(m2);
		if (strcmp(m1, m2) != 0)
			changed++;
		else
			fprintf(stderr, "round %d: marker %s unchanged by a write\n", r, m1);
	}
	printf("%s rule: %d rounds, %d changed\n", fine ? "fine" : "2 s", waited, changed);
	CHECK_INT(waited, rounds);
	CHECK_INT(changed, rounds);
	close(dfd);
	md_rmrf(dir);
}

static const struct test_scenario scenarios[] = {
	{ "rule", t_rule },
	{ "settle", t_settle },
	{ "whole-seconds", t_whole_seconds },
	{ "write-changes", t_write_changes },
};

int main(int argc, char **argv)
{
	return test_run_scenarios(argc, argv, scenarios, sizeof scenarios / sizeof *scenarios);
}
