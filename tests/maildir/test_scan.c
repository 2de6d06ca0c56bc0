/*
 * test_scan.c — scanning while another process (a forked "mail reader")
 * renames files to change their flags, moves them from new/ to cur/,
 * delivers new ones and deletes others, in a tight loop. Every scan must
 * succeed, list each surviving message exactly once under its key, and
 * never list a message that was deleted before the scan began. Every
 * other scan is names-only (maildir_scan_names), and the driver listing
 * alternates between stat'ing everything and knowing every stable key.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "maildir/maildir_scan.h"
#include "mdtest.h"

#define STABLE 300
#define DOOMED 200

static void put(int dfd, const char *path)
{
	int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "A: b\n\nx\n", 8) != 8)
		perror(path);
	close(fd);
}

static void key_of(char *b, size_t n, const char *kind, int i)
{
	snprintf(b, n, "1700000000.M%dP1Q1.%s,S=8,W=11", i, kind);
}

static volatile int *mmap_shared_int(void)
{
	void *m = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The "mail reader": runs until killed. */
static void reader(int dfd, volatile int *deleted)
{
	static char cur[STABLE][300];
	static int in_new[STABLE];
	char k[200], from[300], to[300];
	unsigned seed = 42;
	for (int i = 0; i < STABLE; i++) {
		key_of(k, sizeof k, "stable", i);
		in_new[i] = i % 3 == 0;
		snprintf(cur[i], sizeof cur[i], in_new[i] ? "new/%s" : "cur/%s:2,", k);
	}
	for (unsigned long step = 0;; step++) {
		int i = (int)(rand_r(&seed) % STABLE);
		key_of(k, sizeof k, "stable", i);
		snprintf(from, sizeof from, "%s", cur[i]);
		const char *flags[] = { "", "S", "RS", "FS", "T" };
		snprintf(to, sizeof to, "cur/%s:2,%s", k, flags[rand_r(&seed) % 5]);
		if (strcmp(from, to) != 0 && renameat(dfd, from, dfd, to) == 0)
			snprintf(cur[i], sizeof cur[i], "%s", to);
		if (step % 4 == 0 && *deleted < DOOMED) {
			key_of(k, sizeof k, "doomed", *deleted);
			snprintf(from, sizeof from, "cur/%s:2,S", k);
			unlinkat(dfd, from, 0);
			__atomic_add_fetch(deleted, 1, __ATOMIC_SEQ_CST);
		}
		usleep(50); /* thousands of renames a second: far busier than a reader */
		if (step % 16 == 0 && step < 16 * 300) {
			snprintf(from, sizeof from, "tmp/extra%lu", step);
			snprintf(to, sizeof to, "new/1700000001.M%luP2Q1.extra", step);
			put(dfd, from);
			renameat(dfd, from, dfd, to);
		}
	}
}

int main(void)
{
	char dir[] = "/tmp/mf-scan-XXXXXX";
	char root[600], k[200], p[700];
	if (!mkdtemp(dir))
		return 1;
	snprintf(root, sizeof root, "%s/m", dir);
	struct maildir_opts o = { .create = 1, .fsync_off = 1 };
	struct store *s;
	struct err e = { 0 };
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	static char kbuf[STABLE][200];
	static char *known[STABLE];
	for (int i = 0; i < STABLE; i++) {
		key_of(kbuf[i], sizeof kbuf[i], "stable", i);
		known[i] = kbuf[i];
	}
	qsort(known, STABLE, sizeof *known, cmp_str);
	snprintf(p, sizeof p, "%s/INBOX", root);
	int dfd = open(p, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < STABLE; i++) {
		key_of(k, sizeof k, "stable", i);
		if (i % 3 == 0)
			snprintf(p, sizeof p, "new/%s", k);
		else
			snprintf(p, sizeof p, "cur/%s:2,", k);
		put(dfd, p);
	}
	for (int i = 0; i < DOOMED; i++) {
		key_of(k, sizeof k, "doomed", i);
		snprintf(p, sizeof p, "cur/%s:2,S", k);
		put(dfd, p);
	}
	/* shared counter of deletions done by the reader */
	volatile int *deleted = mmap_shared_int();
	pid_t pid = fork();
	if (pid == 0) {
		reader(dfd, deleted);
		_exit(0);
	}
	struct store_box_state st;
	CHECK_INT(s->ops->open_box(s, "INBOX", 1, &st, &e), 0);
	int scans = 0, bad = 0, passes = 0, busy = 0;
	time_t until = time(NULL) + 3;
	while (time(NULL) < until || scans < 50) {
		int del_before = __atomic_load_n(deleted, __ATOMIC_SEQ_CST);
		struct maildir_scan sc;
		int names = scans % 2;
		if ((names ? maildir_scan_names : maildir_scan_list)(dfd, &sc, &e) < 0) {
			/* A file gone while the folder never stood still through
			 * all the lookup's rounds fails the scan rather than be
			 * guessed deleted (maildir_scan.h): with a reader this busy
			 * on a loaded machine that can happen; the caller's retry
			 * (the next run) does. Anything else is a failure. */
			if (e.cls == ERR_IO && strstr(e.msg, "changes too fast")) {
				busy++;
				scans++;
				continue;
			}
			fprintf(stderr, "scan failed: %s\n", e.msg);
			bad++;
			break;
		}
		passes += sc.passes;
		int stable_seen = 0;
		char *prev = NULL;
		for (size_t i = 0; i < sc.n; i++) {
			char *key = maildir_scan_ent_key(&sc.v[i]);
			if (prev && strcmp(prev, key) >= 0)
				bad++; /* sorted, unique */
			int n = atoi(key + strlen("1700000000.M"));
			if (strstr(key, ".stable,"))
				stable_seen++;
			if (strstr(key, ".doomed,") && n < del_before - 1)
				bad++; /* deleted before the scan began */
			if (names && sc.v[i].mtime != -1 && sc.passes == 1)
				bad++; /* a single pass stats nothing */
			free(prev);
			prev = key;
		}
		free(prev);
		if (stable_seen != STABLE) {
			fprintf(stderr, "scan %d saw %d stable messages\n", scans, stable_seen);
			bad++;
		}
		maildir_scan_free(&sc);
		/* and through the driver */
		if (scans % 10 == 0) {
			struct store_listing l;
			struct store_since since = { 0 };
			since.known = (const char *const *)known;
			since.nknown = scans % 20 ? STABLE : 0;
			/* A file renamed over and over while it is looked up makes
			 * a listing fail rather than guess (maildir_scan.h); the
			 * reader here renames thousands of times a second, so a
			 * caller's retry (the next run) must do. */
			int r, tries = 0;
			while ((r = s->ops->list_msgs(s, &since, &l, &e)) < 0 && ++tries < 5)
				fprintf(stderr, "listing failed, retried: %s\n", e.msg);
			CHECK_INT(r, 0);
			int n2 = 0;
			for (size_t i = 0; i < l.n; i++)
				if (strstr(l.msgs[i].key, ".stable,"))
					n2++;
			CHECK_INT(n2, STABLE);
			store_listing_free(&l);
		}
		scans++;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("%d scans (%d refused: folder too busy), %d directory passes, %d deletions\n",
	       scans, busy, passes, *deleted);
	CHECK_INT(bad, 0);
	CHECK(busy * 2 < scans); /* most scans still succeed */
	CHECK(*deleted > 0);
	close(dfd);
	s->ops->close(s);
	md_rmrf(dir);
	return test_done();
}
