/*
 * test_store.c — the Maildir driver's ops end to end on disk: folders in
 * both layouts (list, create, delete, rename, identity), flags and
 * keywords (dovecot-keywords, new/ -> cur/, foreign letters kept, more
 * than 26 keywords), expunge, headers, vanished messages, the change
 * marker, tmp/ cleaning, the Date fallback, foreign files.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir/maildir_hdr.h"
#include "maildir/maildir_scan.h"
#include "mdtest.h"

static const char *MSG = "From: a@b\r\nMessage-ID:\r\n <id1@test>\r\n"
			 "Date: Mon, 2 Jan 2023 10:00:00 +0100\r\nSubject: x\r\n\r\nbody\r\n";

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		perror(path);
	close(fd);
}

static struct store *open_store(const char *root, int layout)
{
	struct maildir_opts o = { .layout = layout, .create = 1, .fsync_off = 1 };
	struct store *s = NULL;
	struct err e = { 0 };
	md_rmrf(root);
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	return s;
}

static int has_box(struct store *s, const char *name, char ident[64])
{
	struct store_box *b;
	size_t n;
	struct err e;
	int found = 0;
	if (s->ops->list_boxes(s, &b, &n, &e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(b[i].name, name) == 0) {
			found = 1;
			CHECK(strncmp(b[i].ident, "md:", 3) == 0 && strlen(b[i].ident) == 35);
			CHECK(strncmp(b[i].marker, "v1:", 3) == 0);
			CHECK_INT(b[i].delim, '/');
			if (ident)
				snprintf(ident, 64, "%s", b[i].ident);
		}
	store_boxes_free(b, n);
	return found;
}

static void test_folders(const char *root, int layout)
{
	struct store *s = open_store(root, layout);
	struct err e = { 0 };
	char id1[64], id2[64], path[1024];
	CHECK_INT(has_box(s, "INBOX", id1), 1);
	CHECK_INT(s->ops->create_box(s, "Work/Project", &e), 0);
	CHECK_INT(s->ops->create_box(s, "Work/Project", &e), -1);
	CHECK_INT(e.cls, ERR_EXISTS);
	CHECK_INT(s->ops->create_box(s, "Archive", &e), 0);
	CHECK_INT(has_box(s, "Work/Project", id1), 1);
	CHECK_INT(has_box(s, "Work/Project", id2), 1);
	CHECK_STR(id1, id2); /* stable */
	CHECK_INT(has_box(s, "Work", NULL), 0); /* VERBATIM: a plain dir; PP: absent */
	snprintf(path, sizeof path, layout ? "%s/.Work.Project/cur" : "%s/Work/Project/cur", root);
	CHECK(access(path, F_OK) == 0);
	if (layout) {
		snprintf(path, sizeof path, "%s/.Work.Project/maildirfolder", root);
		CHECK(access(path, F_OK) == 0);
	}
	/* rename keeps the identity; children follow */
	CHECK_INT(s->ops->create_box(s, "Work/Project/Deep", &e), 0);
	CHECK_INT(s->ops->rename_box(s, "Work", "Job", &e), -1); /* not a folder */
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(s->ops->rename_box(s, "Work/Project", "Jobs/Proj", &e), 0);
	const char *now = "Jobs/Proj";
	CHECK_INT(has_box(s, "Work/Project", NULL), 0);
	CHECK_INT(has_box(s, now, id2), 1);
	CHECK_STR(id1, id2);
	char deep[128];
	snprintf(deep, sizeof deep, "%s/Deep", now);
	CHECK_INT(has_box(s, deep, NULL), 1);
	CHECK_INT(s->ops->rename_box(s, now, "Archive", &e), -1);
	CHECK_INT(e.cls, ERR_EXISTS);
	CHECK_INT(s->ops->rename_box(s, "INBOX", "X", &e), -1);
	CHECK_INT(s->ops->delete_box(s, "INBOX", &e), -1);
	/* delete: refused while it holds mail */
	struct store_box_state st;
	struct md_cb cb = { 0 };
	CHECK_INT(s->ops->open_box(s, "Archive", 0, &st, &e), 0);
	CHECK_INT(md_deliver(s, MSG, strlen(MSG), "\\Seen", 1600000000, 100, &cb), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	CHECK_INT(s->ops->delete_box(s, "Archive", &e), -1);
	CHECK_INT(e.cls, ERR_INUSE);
	CHECK_INT(s->ops->delete_box(s, deep, &e), 0);
	CHECK_INT(has_box(s, deep, NULL), 0);
	CHECK_INT(s->ops->delete_box(s, "Nope", &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(s->ops->open_box(s, "Nope", 0, &st, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	/* a folder replaced behind our back gets a new identity */
	CHECK_INT(s->ops->delete_box(s, now, &e), 0);
	CHECK_INT(s->ops->create_box(s, now, &e), 0);
	CHECK_INT(has_box(s, now, id2), 1);
	CHECK(strcmp(id1, id2) != 0);
	/* foreign directories are skipped */
	snprintf(path, sizeof path, layout ? "%s/.%%41" : "%s/%%41", root);
	mkdir(path, 0700);
	CHECK_INT(has_box(s, "A", NULL), 0);
	s->ops->close(s);

	/* delete_nonempty */
	struct maildir_opts o = { .layout = layout, .delete_nonempty = 1, .fsync_off = 1 };
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	CHECK_INT(s->ops->delete_box(s, "Archive", &e), 0);
	CHECK_INT(has_box(s, "Archive", NULL), 0);
	s->ops->close(s);
}

static struct store_msg *find(struct store_listing *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->msgs[i].key, key) == 0)
			return &l->msgs[i];
	return NULL;
}

static void test_flags(const char *root)
{
	struct store *s = open_store(root, 0);
	struct err e = { 0 };
	struct store_box_state st;
	struct md_cb c1 = { 0 }, c2 = { 0 };
	char inbox[700], path[1400];
	snprintf(inbox, sizeof inbox, "%s/INBOX", root);
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	CHECK(strncmp(st.ident, "md:", 3) == 0);
	CHECK_INT(md_deliver(s, MSG, strlen(MSG), "", 1600000000, 100, &c1), 0);
	CHECK_INT(md_deliver(s, MSG, strlen(MSG), "\\Seen $Junk work", 1600000001, 100, &c2), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	CHECK_INT(md_count(inbox, "new"), 1);
	snprintf(path, sizeof path, "%s/cur/%s:2,Sab", inbox, c2.key);
	CHECK(access(path, F_OK) == 0);
	/* keywords through dovecot-keywords */
	struct store_listing l;
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, 2);
	struct store_msg *m2 = find(&l, c2.key), *m1 = find(&l, c1.key);
	CHECK(m1 && m2);
	if (m1 && m2) {
		CHECK_INT(m1->flags.sys, 0);
		CHECK_INT(m2->flags.sys, MF_SEEN);
		CHECK_INT(m2->flags.nkw, 2);
		CHECK(flagset_has_kw(&m2->flags, "$Junk") && flagset_has_kw(&m2->flags, "work"));
		CHECK_INT(m1->idate, 1600000000);
		CHECK_INT(m1->size, strlen(MSG));
	}
	store_listing_free(&l);
	/* set_flags: new/ -> cur/, keyword add and remove, P and X kept */
	snprintf(path, sizeof path, "%s/cur/%s:2,Sab", inbox, c2.key);
	char path2[1400];
	snprintf(path2, sizeof path2, "%s/cur/%s:2,PSXab", inbox, c2.key);
	CHECK_INT(rename(path, path2), 0); /* a reader added P and X */
	struct flagset add, del;
	flagset_init(&add);
	flagset_init(&del);
	flagset_parse(&add, "\\Flagged $Forwarded");
	flagset_parse(&del, "\\Seen work");
	const char *keys[2] = { c1.key, c2.key };
	CHECK_INT(s->ops->set_flags(s, keys, 2, &add, &del, &e), 0);
	CHECK_INT(md_count(inbox, "new"), 0);
	snprintf(path, sizeof path, "%s/cur/%s:2,Fc", inbox, c1.key);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof path, "%s/cur/%s:2,FPXac", inbox, c2.key);
	CHECK(access(path, F_OK) == 0);
	flagset_free(&add);
	flagset_free(&del);
	/* gone key */
	const char *gone[1] = { "123.nope" };
	flagset_parse(&add, "\\Seen");
	CHECK_INT(s->ops->set_flags(s, gone, 1, &add, NULL, &e), -1);
	CHECK_INT(e.cls, ERR_GONE);
	flagset_free(&add);
	/* a reader renamed the file meanwhile: set_flags still finds it */
	snprintf(path2, sizeof path2, "%s/cur/%s:2,FPRXac", inbox, c2.key);
	CHECK_INT(rename(path, path2), 0);
	{
		/* fetch finds the renamed file too, with its new flags */
		struct md_sink k0;
		struct store_sink sk0;
		md_sink_init(&k0, &sk0);
		CHECK_INT(s->ops->fetch(s, keys + 1, 1, &sk0, &e), 0);
		CHECK_INT(k0.ok, 1);
		CHECK_INT(k0.meta.flags.sys, MF_FLAGGED | MF_ANSWERED);
		CHECK_INT(k0.data.len, strlen(MSG));
		md_sink_free(&k0);
	}
	flagset_parse(&add, "\\Draft");
	CHECK_INT(s->ops->set_flags(s, keys + 1, 1, &add, NULL, &e), 0);
	snprintf(path, sizeof path, "%s/cur/%s:2,DFPRXac", inbox, c2.key);
	CHECK(access(path, F_OK) == 0);
	flagset_free(&add);
	/* headers */
	struct buf id, date;
	buf_init(&id, 0);
	buf_init(&date, 0);
	CHECK_INT(s->ops->headers(s, c2.key, &id, &date, &e), 0);
	CHECK_STR(id.data, "<id1@test>");
	CHECK_STR(date.data, "Mon, 2 Jan 2023 10:00:00 +0100");
	buf_release(&id);
	buf_release(&date);
	/* expunge, twice; then fetch reports it gone */
	CHECK_INT(s->ops->expunge(s, keys, 1, &e), 0);
	CHECK_INT(s->ops->expunge(s, keys, 1, &e), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	struct md_sink k;
	struct store_sink sk;
	md_sink_init(&k, &sk);
	CHECK_INT(s->ops->fetch(s, keys, 2, &sk, &e), 0);
	CHECK_INT(k.begins, 2);
	CHECK_INT(k.ends, 2);
	CHECK_INT(k.ok, 1);
	md_sink_free(&k);
	md_sink_init(&k, &sk);
	CHECK_INT(s->ops->fetch(s, keys, 1, &sk, &e), 0);
	CHECK_INT(k.ok, 0);
	CHECK_INT(k.end_cls, ERR_GONE);
	md_sink_free(&k);
	s->ops->close(s);
}

static void test_overflow(const char *root)
{
	struct store *s = open_store(root, 0);
	struct err e = { 0 };
	struct store_box_state st;
	struct md_cb c = { 0 };
	char kws[2048] = "";
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	for (int i = 0; i < 30; i++) {
		size_t n = strlen(kws);
		snprintf(kws + n, sizeof kws - n, "%skw%02d", i ? " " : "", i);
	}
	CHECK_INT(md_deliver(s, MSG, strlen(MSG), kws, -1, 100, &c), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	struct flagset ov;
	flagset_init(&ov);
	CHECK_INT(maildir_store_kw_overflow(s, c.key, &ov), 4);
	CHECK(flagset_has_kw(&ov, "kw26") && flagset_has_kw(&ov, "kw29"));
	struct store_listing l;
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, 1);
	if (l.n)
		CHECK_INT(l.msgs[0].flags.nkw, 30);
	store_listing_free(&l);
	/* a new run knows nothing until the journal seeds it */
	struct store_box_state st2;
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st2, &e), 0);
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	if (l.n)
		CHECK_INT(l.msgs[0].flags.nkw, 26);
	store_listing_free(&l);
	maildir_store_kw_overflow_set(s, c.key, &ov);
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	if (l.n)
		CHECK_INT(l.msgs[0].flags.nkw, 30);
	store_listing_free(&l);
	/* removing an overflow keyword */
	struct flagset del;
	flagset_init(&del);
	flagset_parse(&del, "kw27 kw00");
	const char *keys[1] = { c.key };
	CHECK_INT(s->ops->set_flags(s, keys, 1, NULL, &del, &e), 0);
	flagset_free(&ov);
	flagset_init(&ov);
	CHECK_INT(maildir_store_kw_overflow(s, c.key, &ov), 3);
	CHECK(!flagset_has_kw(&ov, "kw27"));
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	if (l.n)
		CHECK_INT(l.msgs[0].flags.nkw, 28);
	store_listing_free(&l);
	flagset_free(&del);
	flagset_free(&ov);
	s->ops->close(s);
}

static void test_scan_misc(const char *root)
{
	struct store *s = open_store(root, 0);
	struct err e = { 0 };
	struct store_box_state st;
	char inbox[700], path[1400];
	snprintf(inbox, sizeof inbox, "%s/INBOX", root);
	/* foreign files and dirs are ignored; a bogus mtime uses Date: */
	snprintf(path, sizeof path, "%s/cur/.hidden", inbox);
	put(path, "x");
	snprintf(path, sizeof path, "%s/cur/subdir", inbox);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/new/1.2.zero", inbox);
	put(path, "Date: Mon, 2 Jan 2023 10:00:00 +0100\n\nx\n");
	struct timespec zero[2] = { { 0, 0 }, { 0, 0 } };
	utimensat(AT_FDCWD, path, zero, 0);
	/* stale tmp files go, fresh ones stay */
	snprintf(path, sizeof path, "%s/tmp/old", inbox);
	put(path, "x");
	struct timespec old[2] = { { time(NULL) - 40 * 3600, 0 }, { time(NULL) - 40 * 3600, 0 } };
	utimensat(AT_FDCWD, path, old, 0);
	int dfd = open(inbox, O_RDONLY | O_DIRECTORY);
	unsigned removed;
	/* ctime is now: nothing old enough yet */
	CHECK_INT(maildir_scan_clean_tmp(dfd, time(NULL), &removed, &e), 0);
	CHECK_INT(removed, 0);
	CHECK_INT(maildir_scan_clean_tmp(dfd, time(NULL) + 37 * 3600, &removed, &e), 0);
	CHECK_INT(removed, 1);
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	struct store_listing l;
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, 1);
	CHECK_INT(l.full, 1);
	if (l.n) {
		CHECK_STR(l.msgs[0].key, "1.2.zero");
		CHECK_INT(l.msgs[0].idate, 1672650000);
		CHECK_INT(l.msgs[0].size, 43);
	}
	store_listing_free(&l);
	/* markers: fresh ones are not trusted; old mtimes are */
	char marker[MAILDIR_MARKER_MAX];
	CHECK_INT(md_fresh_marker(dfd, marker), 1);
	CHECK(strstr(marker, ":u") != NULL);
	CHECK_INT(maildir_scan_unchanged(dfd, marker), 0);
	struct timespec past[2] = { { time(NULL) - 100, 5 }, { time(NULL) - 100, 5 } };
	utimensat(dfd, "cur", past, 0);
	utimensat(dfd, "new", past, 0);
	CHECK_INT(maildir_scan_marker(dfd, marker, &e), 0);
	CHECK(strstr(marker, ":u") == NULL);
	CHECK_INT(maildir_scan_unchanged(dfd, marker), 1);
	struct store_since since = { 0 };
	snprintf(since.marker, sizeof since.marker, "%s", marker);
	CHECK_INT(s->ops->list_msgs(s, &since, &l, &e), 0);
	CHECK_INT(l.full, 0);
	CHECK_INT(l.n, 0);
	store_listing_free(&l);
	snprintf(path, sizeof path, "%s/new/1.3.more", inbox);
	put(path, "A: b\n\nx\n");
	CHECK_INT(maildir_scan_unchanged(dfd, marker), 0);
	CHECK_INT(s->ops->list_msgs(s, &since, &l, &e), 0);
	CHECK_INT(l.full, 1);
	CHECK_INT(l.n, 2);
	store_listing_free(&l);
	close(dfd);
	s->ops->close(s);
}

/* INBOX configured elsewhere; lookups without a listing first. */
static void test_inbox_path(const char *base)
{
	char root[700], inbox[700], path[1500];
	snprintf(root, sizeof root, "%s/root", base);
	snprintf(inbox, sizeof inbox, "%s/inbox-elsewhere", base);
	md_rmrf(root);
	md_rmrf(inbox);
	mkdir(inbox, 0700);
	struct maildir_opts o = { .create = 1, .fsync_off = 1, .inbox_path = inbox };
	struct store *s;
	struct err e = { 0 };
	struct store_box_state st;
	struct md_cb c = { 0 };
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	snprintf(path, sizeof path, "%s/cur", inbox);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof path, "%s/INBOX", root);
	CHECK(access(path, F_OK) != 0);
	CHECK_INT(s->ops->create_box(s, "INBOX/Sub", &e), 0); /* children stay below the root */
	snprintf(path, sizeof path, "%s/INBOX/Sub/cur", root);
	CHECK(access(path, F_OK) == 0);
	CHECK_INT(has_box(s, "INBOX", NULL), 1);
	CHECK_INT(has_box(s, "INBOX/Sub", NULL), 1);
	CHECK_INT(s->ops->open_box(s, "inbox", 0, &st, &e), 0);
	CHECK_INT(md_deliver(s, MSG, strlen(MSG), "\\Seen $Junk", 1600000000, 100, &c), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	CHECK_INT(md_count(inbox, "cur"), 1);
	/* a fresh store: fetch without list_msgs knows the flags */
	s->ops->close(s);
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	CHECK_INT(s->ops->open_box(s, "INBOX", 1, &st, &e), 0);
	struct md_sink k;
	struct store_sink sk;
	md_sink_init(&k, &sk);
	const char *keys[1] = { c.key };
	CHECK_INT(s->ops->fetch(s, keys, 1, &sk, &e), 0);
	CHECK_INT(k.ok, 1);
	CHECK_INT(k.meta.flags.sys, MF_SEEN);
	CHECK(flagset_has_kw(&k.meta.flags, "$Junk"));
	CHECK_INT(k.meta.size, strlen(MSG));
	CHECK_INT(k.meta.idate, 1600000000);
	CHECK_STR(k.data.data, MSG);
	md_sink_free(&k);
	s->ops->close(s);
}

static void test_dates(void)
{
	static const struct {
		const char *s;
		int64_t t;
	} cases[] = {
		{ "Mon, 2 Jan 2023 10:00:00 +0100", 1672650000 },
		{ "2 Jan 2023 09:00:00 GMT", 1672650000 },
		{ "Mon, 02 Jan 23 04:00 -0500", 1672650000 },
		{ "Mon (comment), 2 Jan 2023 04:00:00 EST", 1672650000 },
		{ "Thu, 29 Feb 2024 23:59:60 +0000", 1709251200 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t t = 0;
		CHECK_INT(maildir_hdr_parse_date(cases[i].s, &t), 0);
		CHECK_INT(t, cases[i].t);
	}
	int64_t t;
	CHECK_INT(maildir_hdr_parse_date("garbage", &t), -1);
	CHECK_INT(maildir_hdr_parse_date("", &t), -1);
	const char *h = "Subject: a\r\n\tb\r\nmessage-id:  <x@y> \r\n\r\nMessage-ID: <no>\r\n";
	struct buf b;
	buf_init(&b, 0);
	CHECK_INT(store_header_field(h, strlen(h), "Subject", &b), 1);
	CHECK_STR(b.data, "a\tb");
	buf_reset(&b);
	CHECK_INT(store_header_field(h, strlen(h), "Message-ID", &b), 1);
	CHECK_STR(b.data, "<x@y>");
	buf_reset(&b);
	CHECK_INT(store_header_field(h, strlen(h), "Date", &b), 0);
	CHECK_INT(maildir_hdr_block_len(h, strlen(h)), 39);
	buf_release(&b);
}

int main(void)
{
	char dir[] = "/tmp/mf-store-XXXXXX";
	char root[600];
	if (!mkdtemp(dir))
		return 1;
	snprintf(root, sizeof root, "%s/m", dir);
	test_folders(root, 0);
	test_folders(root, 1);
	test_flags(root);
	test_overflow(root);
	test_scan_misc(root);
	test_inbox_path(dir);
	test_dates();
	md_rmrf(dir);
	return test_done();
}
