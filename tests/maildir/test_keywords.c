/*
 * test_keywords.c — the dovecot-keywords file: parsing (tolerant), reading,
 * adding with the atomic locked rewrite, a file changed behind our back,
 * the 26-slot limit (overflow), a stale lock.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir/maildir_keywords.h"
#include "testlib.h"

static char *slurp(int dirfd, const char *name)
{
	static char b[8192];
	int fd = openat(dirfd, name, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	b[n < 0 ? 0 : n] = '\0';
	return b;
}

static void put(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (write(fd, text, strlen(text)) < 0)
		perror("write");
	close(fd);
}

static void test_parse(void)
{
	struct maildir_keywords *kw = maildir_keywords_new();
	const char *text = "0 $Forwarded\n1 $Junk\r\n3 work\nbad line\n30 toolarge\n"
			   "2 \n4 a b\n 5 lead\n1 dup\n6 last";
	maildir_keywords_parse(kw, text, strlen(text));
	CHECK_STR(maildir_keywords_name(kw, 0), "$Forwarded");
	CHECK_STR(maildir_keywords_name(kw, 1), "$Junk");
	CHECK(maildir_keywords_name(kw, 2) == NULL);
	CHECK_STR(maildir_keywords_name(kw, 3), "work");
	CHECK(maildir_keywords_name(kw, 4) == NULL); /* "a b" is not an atom */
	CHECK(maildir_keywords_name(kw, 5) == NULL);
	CHECK_STR(maildir_keywords_name(kw, 6), "last");
	CHECK(maildir_keywords_name(kw, 26) == NULL);
	CHECK_INT(maildir_keywords_find(kw, "work"), 3);
	CHECK_INT(maildir_keywords_find(kw, "Work"), -1);
	CHECK_INT(maildir_keywords_put(kw, "new"), 2); /* first free slot */
	struct buf b;
	buf_init(&b, 0);
	maildir_keywords_format(kw, &b);
	CHECK_STR(b.data, "0 $Forwarded\n1 $Junk\n2 new\n3 work\n6 last\n");
	buf_release(&b);
	maildir_keywords_free(&kw);
	CHECK(kw == NULL);
}

static void test_file(const char *dir)
{
	struct err e = { 0 };
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct maildir_keywords *kw = maildir_keywords_new();
	int idx;
	CHECK_INT(maildir_keywords_read(kw, dfd, &e), 0); /* no file: empty */
	CHECK(maildir_keywords_name(kw, 0) == NULL);
	CHECK_INT(maildir_keywords_add(kw, dfd, "$Junk", 1, &idx, &e), 0);
	CHECK_INT(idx, 0);
	CHECK_STR(slurp(dfd, MAILDIR_KEYWORDS_FILE), "0 $Junk\n");
	CHECK(faccessat(dfd, MAILDIR_KEYWORDS_FILE ".lock", F_OK, 0) != 0);
	/* someone else (Dovecot) adds a keyword meanwhile: it is kept */
	put(dfd, MAILDIR_KEYWORDS_FILE, "0 $Junk\n1 $label1\n");
	CHECK_INT(maildir_keywords_add(kw, dfd, "$Forwarded", 1, &idx, &e), 0);
	CHECK_INT(idx, 2);
	CHECK_STR(slurp(dfd, MAILDIR_KEYWORDS_FILE), "0 $Junk\n1 $label1\n2 $Forwarded\n");
	CHECK_INT(maildir_keywords_add(kw, dfd, "$Junk", 1, &idx, &e), 0);
	CHECK_INT(idx, 0);
	CHECK_INT(maildir_keywords_add(kw, dfd, "bad word", 1, &idx, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
	/* fill to 26, then overflow */
	for (int i = 3; i < 26; i++) {
		char name[32];
		snprintf(name, sizeof name, "kw%02d", i);
		CHECK_INT(maildir_keywords_add(kw, dfd, name, 0, &idx, &e), 0);
		CHECK_INT(idx, i);
	}
	CHECK_INT(maildir_keywords_add(kw, dfd, "kw26", 1, &idx, &e), 0);
	CHECK_INT(idx, -1);
	CHECK(faccessat(dfd, MAILDIR_KEYWORDS_FILE ".lock", F_OK, 0) != 0);
	struct maildir_keywords *kw2 = maildir_keywords_new();
	CHECK_INT(maildir_keywords_read(kw2, dfd, &e), 0);
	CHECK_STR(maildir_keywords_name(kw2, 25), "kw25");
	CHECK_INT(maildir_keywords_find(kw2, "kw26"), -1);
	maildir_keywords_free(&kw2);
	maildir_keywords_free(&kw);

	/* a stale lock (older than 30 s) is broken; a fresh one blocks */
	char sub[512];
	snprintf(sub, sizeof sub, "%s/stale", dir);
	mkdir(sub, 0700);
	int sfd = open(sub, O_RDONLY | O_DIRECTORY);
	put(sfd, MAILDIR_KEYWORDS_FILE ".lock", "");
	struct timespec old[2] = { { time(NULL) - 100, 0 }, { time(NULL) - 100, 0 } };
	utimensat(sfd, MAILDIR_KEYWORDS_FILE ".lock", old, 0);
	kw = maildir_keywords_new();
	CHECK_INT(maildir_keywords_add(kw, sfd, "x", 1, &idx, &e), 0);
	CHECK_INT(idx, 0);
	CHECK_STR(slurp(sfd, MAILDIR_KEYWORDS_FILE), "0 x\n");
	maildir_keywords_free(&kw);
	close(sfd);
	close(dfd);
}

int main(void)
{
	char dir[] = "/tmp/mf-kw-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	test_parse();
	test_file(dir);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	return test_done();
}
