/*
 * test_watch.c — the two O(changes) aids of the Maildir driver:
 * maildir_store_clean (nothing but this store changed a folder since it was
 * opened for writing: inotify, maildir_watch.h) and maildir_store_hint
 * (rename or remove a message by a name guessed from the journal, without
 * reading the folder; wrong guesses still end right). One scenario per meson
 * test.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mdtest.h"

#define NMSG 12

struct fx {
	char dir[64];
	char root[128];
	char inbox[160];
	struct store *s;
	char *keys[NMSG];
};

/* NMSG messages in INBOX: even ones \Seen (cur/), odd ones unflagged (new/);
 * then the store is closed and opened again, so the folder is unwatched. */
static void fx_open(struct fx *f)
{
	struct err e = { 0 };
	memset(f, 0, sizeof *f);
	md_fresh_store("watch", f->dir, f->root, f->inbox, &f->s);
	for (int i = 0; i < NMSG; i++) {
		static const char msg[] = "From: a@b\r\nSubject: w\r\n\r\nbody\r\n";
		struct md_cb cb = { 0 };
		CHECK_INT(md_deliver(f->s, msg, strlen(msg), i % 2 ? "" : "\\Seen", 1600000000 + i,
				     4096, &cb), 0);
		CHECK_INT(f->s->ops->flush(f->s, &e), 0);
		f->keys[i] = mf_strdup(cb.key);
	}
	f->s->ops->close(f->s);
	struct maildir_opts o = { .fsync_off = 1 };
	struct store_box_state st;
	CHECK_INT(maildir_store_open(f->root, &o, &f->s, &e), 0);
	CHECK_INT(f->s->ops->open_box(f->s, "INBOX", 0, &st, &e), 0);
}

static void fx_close(struct fx *f)
{
	f->s->ops->close(f->s);
	for (int i = 0; i < NMSG; i++)
		free(f->keys[i]);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
}

static void hint(struct fx *f, int i, const char *flags)
{
	struct flagset fl;
	flagset_init(&fl);
	flagset_parse(&fl, flags);
	maildir_store_hint(f->s, f->keys[i], &fl);
	flagset_free(&fl);
}

/* Our own flag change, delivery and expunge, then close: clean. */
static void own_changes(struct fx *f)
{
	struct err e = { 0 };
	struct flagset add;
	flagset_init(&add);
	flagset_parse(&add, "\\Flagged");
	const char *k[2] = { f->keys[0], f->keys[1] }; /* cur/ -> cur/, new/ -> cur/ */
	CHECK_INT(f->s->ops->set_flags(f->s, k, 2, &add, NULL, &e), 0);
	CHECK_INT(f->s->ops->expunge(f->s, (const char *const *)&f->keys[2], 1, &e), 0);
	struct md_cb cb = { 0 };
	CHECK_INT(md_deliver(f->s, "A: b\r\n\r\nx\r\n", 11, "", 1600000100, 4096, &cb), 0);
	CHECK_INT(f->s->ops->flush(f->s, &e), 0);
	flagset_free(&add);
}

static int clean_after_reopen(struct fx *f)
{
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(f->s->ops->open_box(f->s, "INBOX", 1, &st, &e), 0);
	return maildir_store_clean(f->s, "INBOX");
}

static void t_own_only(struct fx *f)
{
	own_changes(f);
	CHECK_INT(clean_after_reopen(f), 1);
	CHECK_INT(maildir_store_clean(f->s, "INBOX"), 1); /* asking again changes nothing */
	CHECK_INT(maildir_store_clean(f->s, "Other"), 0); /* never opened for writing */
}

static void t_foreign_rename(struct fx *f)
{
	own_changes(f);
	char from[600], to[600];
	struct maildir_scan sc;
	int dfd = open(f->inbox, O_RDONLY | O_DIRECTORY);
	CHECK_INT(maildir_scan_names(dfd, &sc, NULL), 0);
	struct maildir_scan_ent *en = maildir_scan_find(&sc, f->keys[4]);
	CHECK(en != NULL);
	snprintf(from, sizeof from, "cur/%s", en->name);
	snprintf(to, sizeof to, "cur/%s:2,RS", f->keys[4]);
	CHECK_INT(renameat(dfd, from, dfd, to), 0); /* a mail reader, while we run */
	maildir_scan_free(&sc);
	close(dfd);
	CHECK_INT(clean_after_reopen(f), 0);
}

static void t_foreign_add(struct fx *f)
{
	own_changes(f);
	char p[300];
	snprintf(p, sizeof p, "%s/new/1.foreign", f->inbox);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(clean_after_reopen(f), 0);
}

static void t_read_only(struct fx *f)
{
	struct store_box_state st;
	struct err e = { 0 };
	CHECK_INT(f->s->ops->open_box(f->s, "INBOX", 1, &st, &e), 0);
	f->s->ops->close(f->s); /* reopen the store: its first open is read-only */
	struct maildir_opts o = { .fsync_off = 1 };
	CHECK_INT(maildir_store_open(f->root, &o, &f->s, &e), 0);
	CHECK_INT(clean_after_reopen(f), 0);
}

static void t_distrust(struct fx *f)
{
	struct err e = { 0 };
	own_changes(f);
	CHECK_INT(f->s->ops->create_box(f->s, "Other", &e), 0);
	CHECK_INT(f->s->ops->rename_box(f->s, "Other", "Other2", &e), 0);
	CHECK_INT(clean_after_reopen(f), 0);
}

/* A forked worker's copy of the store, abandoned, leaves the parent's
 * watches alone (the inotify descriptor is shared); unwatching answers
 * "cannot tell" from then on. */
static void t_unwatch(struct fx *f)
{
	own_changes(f);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		maildir_store_abandon(f->s);
		_exit(0);
	}
	int status = 0;
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK_INT(clean_after_reopen(f), 1);
	maildir_store_unwatch(f->s);
	CHECK_INT(maildir_store_clean(f->s, "INBOX"), 0);
	CHECK_INT(clean_after_reopen(f), 0);
	maildir_store_unwatch(f->s); /* twice: no matter */
}

/* More own events than the kernel queues (max_queued_events, 16384 by
 * default) between two checks: the store reads the queue as it goes, so
 * the folder is still known clean. */
static void t_bulk(struct fx *f)
{
	struct err e = { 0 };
	static const char msg[] = "A: b\r\n\r\nx\r\n";
	int n = 17000;
	FILE *q = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
	if (q) {
		if (fscanf(q, "%d", &n) == 1)
			n += 600;
		fclose(q);
	}
	struct md_cb cb = { 0 }; /* told at each flush */
	for (int i = 0; i < n; i++) {
		CHECK_INT(md_deliver(f->s, msg, sizeof msg - 1, "\\Seen", 1600000000, 4096, &cb), 0);
		if (i % 500 == 499)
			CHECK_INT(f->s->ops->flush(f->s, &e), 0);
	}
	CHECK_INT(f->s->ops->flush(f->s, &e), 0);
	CHECK_INT(cb.calls, n);
	CHECK_INT(cb.errors, 0);
	CHECK_INT(clean_after_reopen(f), 1);
}

/* Right guesses: the folder's directories are never read. */
static void t_hints_right(struct fx *f)
{
	struct err e = { 0 };
	unsigned long before = maildir_store_dir_scans(f->s);
	for (int i = 0; i < 6; i++)
		hint(f, i, i % 2 ? "" : "\\Seen");
	struct flagset add;
	flagset_init(&add);
	flagset_parse(&add, "\\Answered");
	CHECK_INT(f->s->ops->set_flags(f->s, (const char *const *)f->keys, 4, &add, NULL, &e), 0);
	CHECK_INT(f->s->ops->expunge(f->s, (const char *const *)&f->keys[4], 2, &e), 0);
	CHECK_INT(maildir_store_dir_scans(f->s) - before, 0);
	flagset_free(&add);
	CHECK_INT(md_count(f->inbox, "cur"), NMSG / 2 + 2 - 1);
	CHECK_INT(md_count(f->inbox, "new"), NMSG / 2 - 2 - 1);
	CHECK_INT(clean_after_reopen(f), 1);
}

/* A message without flags that had a flag added and taken away sits in
 * cur/ as "<key>:2,", not in new/ where the guess puts it: that form is
 * tried too, so the folder is still not read. */
static void t_hints_cur(struct fx *f)
{
	struct err e = { 0 };
	char from[512], to[512];
	for (int i = 1; i < NMSG; i += 2) { /* the unflagged ones, to cur/ */
		snprintf(from, sizeof from, "%s/new/%s", f->inbox, f->keys[i]);
		snprintf(to, sizeof to, "%s/cur/%s:2,", f->inbox, f->keys[i]);
		CHECK_INT(rename(from, to), 0);
	}
	unsigned long before = maildir_store_dir_scans(f->s);
	for (int i = 0; i < NMSG; i++)
		hint(f, i, i % 2 ? "" : "\\Seen");
	struct flagset add;
	flagset_init(&add);
	flagset_parse(&add, "\\Flagged");
	const char *odd[] = { f->keys[1], f->keys[3], f->keys[5] };
	CHECK_INT(f->s->ops->set_flags(f->s, odd, 3, &add, NULL, &e), 0);
	const char *gone[] = { f->keys[7], f->keys[9] };
	CHECK_INT(f->s->ops->expunge(f->s, gone, 2, &e), 0);
	struct buf id, date;
	buf_init(&id, 0);
	buf_init(&date, 0);
	CHECK_INT(f->s->ops->headers(f->s, f->keys[11], &id, &date, &e), 0); /* opens the file */
	buf_release(&id);
	buf_release(&date);
	CHECK_INT(maildir_store_dir_scans(f->s) - before, 0);
	flagset_free(&add);
	CHECK_INT(md_count(f->inbox, "new"), 0);
	CHECK_INT(md_count(f->inbox, "cur"), NMSG - 2);
	/* (not clean: the renames above were foreign) */
}

/* Wrong guesses (flags that are not the file's): every change still lands,
 * and the first miss reads the folder once for all later keys. */
static void t_hints_wrong(struct fx *f)
{
	struct err e = { 0 };
	unsigned long before = maildir_store_dir_scans(f->s);
	for (int i = 0; i < NMSG; i++)
		hint(f, i, "\\Draft");
	struct flagset add;
	flagset_init(&add);
	flagset_parse(&add, "\\Flagged");
	CHECK_INT(f->s->ops->set_flags(f->s, (const char *const *)f->keys, NMSG - 1, &add, NULL,
				       &e), 0);
	CHECK_INT(f->s->ops->expunge(f->s, (const char *const *)&f->keys[NMSG - 1], 1, &e), 0);
	flagset_free(&add);
	CHECK_INT(maildir_store_dir_scans(f->s) - before, 1);
	CHECK_INT(md_count(f->inbox, "new"), 0);
	CHECK_INT(md_count(f->inbox, "cur"), NMSG - 1);
	struct store_listing ls;
	CHECK_INT(f->s->ops->list_msgs(f->s, NULL, &ls, &e), 0);
	for (size_t i = 0; i < ls.n; i++)
		CHECK(ls.msgs[i].flags.sys & MF_FLAGGED);
	store_listing_free(&ls);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(struct fx *);
	} cases[] = {
		{ "own-only", t_own_only },       { "foreign-rename", t_foreign_rename },
		{ "foreign-add", t_foreign_add }, { "read-only", t_read_only },
		{ "distrust", t_distrust },       { "hints-right", t_hints_right },
		{ "hints-wrong", t_hints_wrong }, { "hints-cur", t_hints_cur },
		{ "bulk", t_bulk },               { "unwatch", t_unwatch },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		struct fx f;
		fx_open(&f);
		cases[i].fn(&f);
		fx_close(&f);
	}
	return test_done();
}
