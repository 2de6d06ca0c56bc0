/*
 * test_known.c — list_msgs with since->known (store.h): the folder is read
 * by names only, known keys cost no stat or open (counted with
 * maildir_store_list_stats) and come with idate -1 and size W= (0 without),
 * unknown keys come with their real size and date, and everything that
 * later needs a file (fetch, set_flags, expunge, headers) still finds it
 * after a mail reader renamed or deleted files behind the listing, or with
 * no listing at all (the names are then read once, no stat); since->unchanged
 * leaves out what the caller knows (a filtered listing), and the store then
 * holds only what it listed (a key left out costs one more names read). Also
 * maildir_scan_names / maildir_scan_stat directly. One scenario per meson
 * test.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir/maildir_scan.h"
#include "mdtest.h"

#define NMSG 120
#define IDATE0 1600000000

static const char *MSG = "From: a@b\r\nMessage-ID: <known@test>\r\n"
			 "Date: Mon, 2 Jan 2023 10:00:00 +0100\r\nSubject: x\r\n\r\nbody\r\n";

struct fx {
	char dir[64];
	char root[128];
	char inbox[160];
	struct store *s;
	int dfd;
	char *keys[NMSG + 1]; /* every key, sorted by strcmp */
	size_t nkeys;
	char *dkeys[NMSG]; /* the delivered ones (not the foreign file), sorted */
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void put(int dfd, const char *path, const char *text)
{
	int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		perror(path);
	close(fd);
}

/* NMSG delivered messages (every third one \Seen, idate IDATE0 + i) and a
 * foreign file without W= in new/ (key "1.foreign", mtime IDATE0 - 1). */
static void fx_open(struct fx *f)
{
	struct err e = { 0 };
	memset(f, 0, sizeof *f);
	md_fresh_store("known", f->dir, f->root, f->inbox, &f->s);
	for (int i = 0; i < NMSG; i++) {
		struct md_cb cb = { 0 };
		CHECK_INT(md_deliver(f->s, MSG, strlen(MSG), i % 3 ? "" : "\\Seen", IDATE0 + i,
				     4096, &cb),
			  0);
		CHECK_INT(f->s->ops->flush(f->s, &e), 0);
		CHECK_INT(cb.calls, 1);
		f->keys[f->nkeys++] = mf_strdup(cb.key);
	}
	f->dfd = open(f->inbox, O_RDONLY | O_DIRECTORY);
	put(f->dfd, "new/1.foreign", "A: b\n\nx\n");
	struct timespec t[2] = { { IDATE0 - 1, 0 }, { IDATE0 - 1, 0 } };
	utimensat(f->dfd, "new/1.foreign", t, 0);
	f->keys[f->nkeys++] = mf_strdup("1.foreign");
	qsort(f->keys, f->nkeys, sizeof *f->keys, cmp_str);
	size_t nd = 0;
	for (size_t i = 0; i < f->nkeys; i++)
		if (strcmp(f->keys[i], "1.foreign") != 0)
			f->dkeys[nd++] = f->keys[i];
}

static void fx_close(struct fx *f)
{
	for (size_t i = 0; i < f->nkeys; i++)
		free(f->keys[i]);
	close(f->dfd);
	f->s->ops->close(f->s);
	md_rmrf(f->dir);
}

static int list(struct fx *f, const char *const *known, size_t nknown, struct store_listing *l)
{
	struct store_since since = { 0 };
	struct err e = { 0 };
	since.known = known;
	since.nknown = nknown;
	int r = f->s->ops->list_msgs(f->s, &since, l, &e);
	if (r < 0)
		fprintf(stderr, "list_msgs: %s\n", e.msg);
	return r;
}

static const struct store_msg *find_msg(const struct store_listing *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->msgs[i].key, key) == 0)
			return &l->msgs[i];
	return NULL;
}

static int is_foreign(const char *key)
{
	return strcmp(key, "1.foreign") == 0;
}

/* Every key known: no stat, no open; flags from the names; W= sizes. */
static void t_all_known(void)
{
	struct fx f;
	struct store_listing full, l;
	fx_open(&f);
	CHECK_INT(f.s->ops->list_msgs(f.s, NULL, &full, &(struct err){ 0 }), 0);
	CHECK_INT(full.n, NMSG + 1);
	unsigned long before = maildir_store_list_stats(f.s);
	CHECK_INT(list(&f, (const char *const *)f.keys, f.nkeys, &l), 0);
	CHECK_INT(maildir_store_list_stats(f.s) - before, 0);
	CHECK_INT(l.full, 1);
	CHECK_INT(l.n, NMSG + 1);
	for (size_t i = 0; i < l.n && i < full.n; i++) {
		const struct store_msg *m = &l.msgs[i], *fm = &full.msgs[i];
		CHECK_STR(m->key, fm->key);
		CHECK_INT(m->idate, -1);
		CHECK_INT(m->size, is_foreign(m->key) ? 0 : strlen(MSG));
		CHECK(flagset_equal(&m->flags, &fm->flags));
	}
	/* the full listing had real values */
	const struct store_msg *fo = find_msg(&full, "1.foreign");
	CHECK(fo && fo->size == 11 && fo->idate == IDATE0 - 1);
	store_listing_free(&full);
	store_listing_free(&l);
	/* only `known` set (no marker, no modseq): still a full listing */
	CHECK_INT(list(&f, (const char *const *)f.keys, 1, &l), 0);
	CHECK_INT(l.full, 1);
	CHECK_INT(l.n, NMSG + 1);
	store_listing_free(&l);
	fx_close(&f);
}

/* Half the keys known: the others get their real size and date, and only
 * they are stat'ed (the foreign one also read for its size). */
static void t_half_known(void)
{
	struct fx f;
	struct store_listing l;
	const char *known[NMSG + 1];
	size_t nknown = 0, nunknown = 0;
	fx_open(&f);
	for (size_t i = 0; i < f.nkeys; i++) {
		if (i % 2 == 0)
			known[nknown++] = f.keys[i];
		else
			nunknown++;
	}
	int foreign_known = 0;
	for (size_t i = 0; i < nknown; i++)
		foreign_known |= is_foreign(known[i]);
	unsigned long before = maildir_store_list_stats(f.s);
	CHECK_INT(list(&f, known, nknown, &l), 0);
	CHECK_INT(maildir_store_list_stats(f.s) - before, nunknown + !foreign_known);
	CHECK_INT(l.n, NMSG + 1);
	for (size_t i = 0; i < l.n; i++) {
		const struct store_msg *m = &l.msgs[i];
		int kn = bsearch(&m->key, known, nknown, sizeof *known, cmp_str) != NULL;
		if (kn) {
			CHECK_INT(m->idate, -1);
		} else if (is_foreign(m->key)) {
			CHECK_INT(m->idate, IDATE0 - 1);
			CHECK_INT(m->size, 11);
		} else {
			CHECK(m->idate >= IDATE0 && m->idate < IDATE0 + NMSG);
			CHECK_INT(m->size, strlen(MSG));
		}
	}
	store_listing_free(&l);
	fx_close(&f);
}

/* Rename (flags, new/ -> cur/) and delete files after a names-only
 * listing: fetch, headers, set_flags and expunge still find the renamed
 * ones and report the deleted ones as gone. */
static void t_stale_names(void)
{
	struct fx f;
	struct store_listing l;
	struct err e = { 0 };
	fx_open(&f);
	CHECK_INT(list(&f, (const char *const *)f.keys, f.nkeys, &l), 0);
	store_listing_free(&l);
	/* a mail reader: keys 0..9 renamed, 10..14 deleted */
	for (int i = 0; i < 15; i++) {
		char *name, from[600], to[600];
		int in_new;
		CHECK_INT(maildir_scan_locate(f.dfd, f.dkeys[i], &name, &in_new, &e), 1);
		snprintf(from, sizeof from, "%s/%s", in_new ? "new" : "cur", name);
		if (i < 10) {
			snprintf(to, sizeof to, "cur/%s:2,FS", f.dkeys[i]);
			CHECK_INT(renameat(f.dfd, from, f.dfd, to), 0);
		} else {
			CHECK_INT(unlinkat(f.dfd, from, 0), 0);
		}
		free(name);
	}
	struct store_sink sk;
	struct md_sink k;
	md_sink_init(&k, &sk);
	CHECK_INT(f.s->ops->fetch(f.s, (const char *const *)f.dkeys, 15, &sk, &e), 0);
	CHECK_INT(k.begins, 15);
	CHECK_INT(k.ends, 15);
	md_sink_free(&k);
	for (int i = 0; i < 15; i++) {
		md_sink_init(&k, &sk);
		CHECK_INT(f.s->ops->fetch(f.s, (const char *const *)&f.dkeys[i], 1, &sk, &e), 0);
		CHECK_INT(k.ok, i < 10);
		if (i < 10) {
			CHECK_INT(k.data.len, strlen(MSG));
			CHECK(k.data.len == strlen(MSG) &&
			      memcmp(k.data.data, MSG, k.data.len) == 0);
			CHECK_INT(k.meta.flags.sys, MF_SEEN | MF_FLAGGED);
			CHECK(k.meta.idate >= IDATE0);
		} else {
			CHECK_INT(k.end_cls, ERR_GONE);
		}
		md_sink_free(&k);
	}
	struct buf mid, date;
	buf_init(&mid, 1024);
	buf_init(&date, 1024);
	CHECK_INT(f.s->ops->headers(f.s, f.dkeys[3], &mid, &date, &e), 0);
	CHECK_STR(mid.data, "<known@test>");
	CHECK_INT(f.s->ops->headers(f.s, f.dkeys[12], &mid, &date, &e), -1);
	CHECK_INT(e.cls, ERR_GONE);
	buf_release(&mid);
	buf_release(&date);
	/* set_flags: renamed keys are found; deleted ones give ERR_GONE after
	 * the others were done */
	struct flagset add;
	flagset_init(&add);
	add.sys = MF_ANSWERED;
	CHECK_INT(f.s->ops->set_flags(f.s, (const char *const *)f.dkeys, 15, &add, NULL, &e), -1);
	CHECK_INT(e.cls, ERR_GONE);
	for (int i = 0; i < 10; i++) {
		char *name;
		int in_new;
		CHECK_INT(maildir_scan_locate(f.dfd, f.dkeys[i], &name, &in_new, &e), 1);
		CHECK(name && strstr(name, ":2,FRS") != NULL);
		free(name);
	}
	/* renamed again behind our back, then expunged */
	for (int i = 0; i < 5; i++) {
		char from[600], to[600];
		snprintf(from, sizeof from, "cur/%s:2,FRS", f.dkeys[i]);
		snprintf(to, sizeof to, "cur/%s:2,RS", f.dkeys[i]);
		CHECK_INT(renameat(f.dfd, from, f.dfd, to), 0);
	}
	CHECK_INT(f.s->ops->expunge(f.s, (const char *const *)f.dkeys, 15, &e), 0);
	CHECK_INT(md_count(f.inbox, "cur") + md_count(f.inbox, "new"), NMSG + 1 - 15);
	/* and the listing agrees */
	CHECK_INT(list(&f, (const char *const *)f.keys, f.nkeys, &l), 0);
	CHECK_INT(l.n, NMSG + 1 - 15);
	for (int i = 0; i < 15; i++)
		CHECK(find_msg(&l, f.dkeys[i]) == NULL);
	store_listing_free(&l);
	fx_close(&f);
}

/* Known keys whose files vanished before the listing are simply absent;
 * a new unknown file is listed in full. */
static void t_vanished(void)
{
	struct fx f;
	struct store_listing l;
	struct err e = { 0 };
	fx_open(&f);
	for (int i = 0; i < 7; i++) {
		char *name, path[600];
		int in_new;
		CHECK_INT(maildir_scan_locate(f.dfd, f.dkeys[i], &name, &in_new, &e), 1);
		snprintf(path, sizeof path, "%s/%s", in_new ? "new" : "cur", name);
		CHECK_INT(unlinkat(f.dfd, path, 0), 0);
		free(name);
	}
	put(f.dfd, "cur/2.extra,W=10:2,S", "A: b\n\nx\n");
	struct timespec t[2] = { { IDATE0 + 5000, 0 }, { IDATE0 + 5000, 0 } };
	utimensat(f.dfd, "cur/2.extra,W=10:2,S", t, 0);
	unsigned long before = maildir_store_list_stats(f.s);
	CHECK_INT(list(&f, (const char *const *)f.keys, f.nkeys, &l), 0);
	CHECK_INT(maildir_store_list_stats(f.s) - before, 1);
	CHECK_INT(l.n, NMSG + 1 - 7 + 1);
	for (int i = 0; i < 7; i++)
		CHECK(find_msg(&l, f.dkeys[i]) == NULL);
	const struct store_msg *m = find_msg(&l, "2.extra,W=10");
	CHECK(m != NULL);
	if (m) {
		CHECK_INT(m->idate, IDATE0 + 5000);
		CHECK_INT(m->size, 10);
		CHECK_INT(m->flags.sys, MF_SEEN);
	}
	store_listing_free(&l);
	fx_close(&f);
}

/* The scan itself: names only stats nothing; maildir_scan_stat fills one
 * entry later and follows a renamed file; a deleted one is gone. */
static void t_scan_names(void)
{
	struct fx f;
	struct maildir_scan sc;
	struct err e = { 0 };
	fx_open(&f);
	CHECK_INT(maildir_scan_names(f.dfd, &sc, &e), 0);
	CHECK_INT(sc.n, NMSG + 1);
	CHECK_INT(sc.nstat, 0);
	for (size_t i = 0; i < sc.n; i++) {
		CHECK_INT(maildir_scan_ent_keycmp(&sc.v[i], f.keys[i]), 0);
		CHECK_INT(sc.v[i].mtime, -1);
		CHECK_INT(sc.v[i].fsize, 0);
	}
	struct maildir_scan_ent *a = maildir_scan_find(&sc, f.dkeys[0]);
	struct maildir_scan_ent *b = maildir_scan_find(&sc, f.dkeys[1]);
	struct maildir_scan_ent *c = maildir_scan_find(&sc, f.dkeys[2]);
	size_t lf = strlen(MSG);
	for (const char *p = MSG; *p; p++)
		lf -= *p == '\r';
	char from[600], to[600];
	snprintf(from, sizeof from, "%s/%s", b->in_new ? "new" : "cur", b->name);
	snprintf(to, sizeof to, "cur/%.*s:2,T", (int)b->keylen, b->name);
	CHECK_INT(renameat(f.dfd, from, f.dfd, to), 0);
	snprintf(from, sizeof from, "%s/%s", c->in_new ? "new" : "cur", c->name);
	CHECK_INT(unlinkat(f.dfd, from, 0), 0);
	CHECK_INT(maildir_scan_stat(f.dfd, &sc, a, &e), 1);
	CHECK(a->mtime >= IDATE0);
	CHECK_INT(a->fsize, lf); /* LF on disk */
	CHECK_INT(maildir_scan_stat(f.dfd, &sc, b, &e), 1);
	CHECK_INT(b->in_new, 0);
	struct maildir_name bp;
	CHECK_INT(maildir_name_parse(b->name, &bp), 0);
	CHECK_INT(bp.sys, MF_DELETED);
	CHECK_STR(b->name, to + 4);
	CHECK_INT(maildir_scan_stat(f.dfd, &sc, c, &e), 0);
	CHECK(sc.nstat >= 4);
	maildir_scan_free(&sc);
	/* the full scan stats every file once */
	CHECK_INT(maildir_scan_list(f.dfd, &sc, &e), 0);
	CHECK_INT(sc.n, NMSG);
	CHECK_INT(sc.nstat, NMSG);
	maildir_scan_free(&sc);
	fx_close(&f);
}

/* Lookups with no listing before (the folder was unchanged, so the caller
 * did not list it, or list_msgs answered "nothing changed"): set_flags,
 * fetch, headers and expunge read the names once and stat nothing. */
static void t_no_listing(void)
{
	struct fx f;
	struct err e = { 0 };
	struct store_box_state st;
	fx_open(&f);
	for (int round = 0; round < 2; round++) {
		CHECK_INT(f.s->ops->open_box(f.s, "INBOX", 0, &st, &e), 0);
		if (round == 1) {
			/* a since whose marker still matches: no listing made */
			struct store_since since = { 0 };
			struct store_listing l;
			struct timespec past[2] = { { IDATE0, 5 }, { IDATE0, 5 } };
			utimensat(f.dfd, "cur", past, 0);
			utimensat(f.dfd, "new", past, 0);
			CHECK_INT(maildir_scan_marker(f.dfd, since.marker, &e), 0);
			CHECK_INT(f.s->ops->list_msgs(f.s, &since, &l, &e), 0);
			CHECK_INT(l.full, 0);
			CHECK_INT(l.n, 0);
			store_listing_free(&l);
		}
		unsigned long before = maildir_store_list_stats(f.s);
		const char *const *k = (const char *const *)f.dkeys + 10 * round;
		struct flagset add;
		flagset_init(&add);
		add.sys = MF_FLAGGED;
		CHECK_INT(f.s->ops->set_flags(f.s, k, 3, &add, NULL, &e), 0);
		struct store_sink sk;
		struct md_sink ms;
		md_sink_init(&ms, &sk);
		CHECK_INT(f.s->ops->fetch(f.s, k, 1, &sk, &e), 0);
		CHECK_INT(ms.ok, 1);
		CHECK_INT(ms.data.len, strlen(MSG));
		CHECK(ms.meta.flags.sys & MF_FLAGGED);
		md_sink_free(&ms);
		struct buf mid, date;
		buf_init(&mid, 1024);
		buf_init(&date, 1024);
		CHECK_INT(f.s->ops->headers(f.s, k[1], &mid, &date, &e), 0);
		CHECK_STR(mid.data, "<known@test>");
		buf_release(&mid);
		buf_release(&date);
		CHECK_INT(f.s->ops->expunge(f.s, k + 2, 1, &e), 0);
		CHECK_INT(f.s->ops->flush(f.s, &e), 0);
		CHECK_INT(maildir_store_list_stats(f.s) - before, 0);
		char *name;
		int in_new;
		CHECK_INT(maildir_scan_locate(f.dfd, k[0], &name, &in_new, &e), 1);
		CHECK(name && strstr(name, ":2,F") != NULL);
		free(name);
		CHECK_INT(maildir_scan_locate(f.dfd, k[2], &name, &in_new, &e), 0);
	}
	CHECK_INT(md_count(f.inbox, "cur") + md_count(f.inbox, "new"), NMSG + 1 - 2);
	fx_close(&f);
}

/* since->unchanged: asked once per message in key order with the flags of
 * its name; the ones it calls unchanged are left out of a listing marked
 * filtered. */
struct asked {
	const struct fx *f;
	size_t n;
	int out_of_order;
	int wrong_flags;
};

static int every_other(void *ctx, const char *key, const struct flagset *flags)
{
	struct asked *a = ctx;
	if (a->n >= a->f->nkeys || strcmp(key, a->f->keys[a->n]) != 0)
		a->out_of_order = 1;
	if (!is_foreign(key) && !(flags->sys & MF_SEEN) != !(flags->sys == MF_SEEN))
		a->wrong_flags = 1;
	return a->n++ % 2 == 0;
}

static void t_unchanged(void)
{
	struct fx f;
	struct store_listing full, l;
	struct err e = { 0 };
	fx_open(&f);
	CHECK_INT(f.s->ops->list_msgs(f.s, NULL, &full, &e), 0);
	struct asked a = { .f = &f };
	struct store_since since = { 0 };
	since.unchanged = every_other;
	since.unchanged_ctx = &a;
	CHECK_INT(f.s->ops->list_msgs(f.s, &since, &l, &e), 0);
	CHECK_INT(a.n, f.nkeys);
	CHECK_INT(a.out_of_order, 0);
	CHECK_INT(a.wrong_flags, 0);
	CHECK(l.full && l.filtered);
	CHECK_INT(l.n, f.nkeys / 2);
	for (size_t i = 0; i < l.n; i++) {
		CHECK_STR(l.msgs[i].key, f.keys[2 * i + 1]);
		const struct store_msg *fm = find_msg(&full, l.msgs[i].key);
		CHECK(fm && flagset_equal(&l.msgs[i].flags, &fm->flags) &&
		      l.msgs[i].size == fm->size && l.msgs[i].idate == fm->idate);
	}
	/* The store keeps only what it listed: a listed key is found without
	 * reading the folder again, one it left out by reading the names once
	 * more (and then the rest without). */
	unsigned long scans = maildir_store_dir_scans(f.s);
	struct flagset add;
	flagset_init(&add);
	add.sys = MF_FLAGGED;
	const char *listed[] = { f.keys[1], f.keys[3] };
	CHECK_INT(f.s->ops->set_flags(f.s, listed, 2, &add, NULL, &e), 0);
	CHECK_INT(maildir_store_dir_scans(f.s) - scans, 0);
	const char *left[] = { f.keys[0], f.keys[2], f.keys[4] };
	CHECK_INT(f.s->ops->set_flags(f.s, left, 3, &add, NULL, &e), 0);
	CHECK_INT(maildir_store_dir_scans(f.s) - scans, 1);
	CHECK_INT(f.s->ops->flush(f.s, &e), 0);
	for (int i = 0; i < 5; i++) {
		char *name;
		int in_new;
		CHECK_INT(maildir_scan_locate(f.dfd, f.keys[i], &name, &in_new, &e), 1);
		CHECK(name && strstr(name, ":2,") && strchr(strstr(name, ":2,"), 'F'));
		free(name);
	}
	store_listing_free(&l);
	store_listing_free(&full);
	fx_close(&f);
}

static const struct test_scenario scenarios[] = {
	{ "unchanged", t_unchanged },
	{ "no-listing", t_no_listing },
	{ "all-known", t_all_known },   { "half-known", t_half_known },
	{ "stale-names", t_stale_names }, { "vanished", t_vanished },
	{ "scan-names", t_scan_names },
};

int main(int argc, char **argv)
{
	return test_run_scenarios(argc, argv, scenarios, sizeof scenarios / sizeof *scenarios);
}
