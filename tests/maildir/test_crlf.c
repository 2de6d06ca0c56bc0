/*
 * test_crlf.c — CRLF wire form <-> LF on disk: delivery converts, fetch
 * converts back, and the sizes (S= on disk, W= in CRLF form, the listed
 * size, the size given to the sink) are exact, whatever the chunking.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir/maildir_name.h"
#include "mdtest.h"

struct ccase {
	const char *in;     /* what the caller appends */
	const char *disk;   /* what must be on disk */
	const char *out;    /* what fetch gives back */
};

static const struct ccase cases[] = {
	{ "Subject: a\r\n\r\nbody\r\n", "Subject: a\n\nbody\n", "Subject: a\r\n\r\nbody\r\n" },
	{ "Subject: a\n\nbody\n", "Subject: a\n\nbody\n", "Subject: a\r\n\r\nbody\r\n" },
	{ "A: b\r\n\nmixed\r\nlines\n", "A: b\n\nmixed\nlines\n",
	  "A: b\r\n\r\nmixed\r\nlines\r\n" },
	{ "A: b\r\n\r\nno final newline", "A: b\n\nno final newline",
	  "A: b\r\n\r\nno final newline" },
	{ "A: b\r\n\r\nbare\rCR\r\n", "A: b\n\nbare\rCR\n", "A: b\r\n\r\nbare\rCR\r\n" },
	{ "A: b\r\n\r\nends in CR\r", "A: b\n\nends in CR\r", "A: b\r\n\r\nends in CR\r" },
	{ "\r\n", "\n", "\r\n" },
};

static void read_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY);
	char tmp[4096];
	ssize_t n;
	buf_reset(b);
	while (fd >= 0 && (n = read(fd, tmp, sizeof tmp)) > 0)
		buf_add(b, tmp, (size_t)n);
	if (fd >= 0)
		close(fd);
}

static void run(const char *root, size_t chunk)
{
	struct maildir_opts o = { .create = 1 };
	struct store *s;
	struct err e = { 0 };
	struct store_box_state st;
	md_rmrf(root);
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	size_t n = sizeof cases / sizeof cases[0];
	struct md_cb cb[8];
	memset(cb, 0, sizeof cb);
	for (size_t i = 0; i < n; i++)
		CHECK_INT(md_deliver(s, cases[i].in, strlen(cases[i].in), "\\Seen", 1600000000 + i,
				     chunk, &cb[i]), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	struct store_listing l;
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, n);
	struct buf disk;
	buf_init(&disk, 0);
	for (size_t i = 0; i < n; i++) {
		const struct ccase *c = &cases[i];
		CHECK_INT(cb[i].calls, 1);
		struct store_msg *m = NULL;
		for (size_t j = 0; j < l.n; j++)
			if (strcmp(l.msgs[j].key, cb[i].key) == 0)
				m = &l.msgs[j];
		CHECK(m != NULL);
		if (!m)
			continue;
		CHECK_INT(m->size, strlen(c->out));
		CHECK_INT(m->idate, 1600000000 + (int64_t)i);
		CHECK(m->flags.sys == MF_SEEN);
		/* the file on disk */
		char path[1024];
		snprintf(path, sizeof path, "%s/INBOX/cur/%s:2,S", root, m->key);
		read_file(path, &disk);
		CHECK_INT(disk.len, strlen(c->disk));
		CHECK(memcmp(disk.data, c->disk, disk.len) == 0);
		struct maildir_name p;
		maildir_name_parse(m->key, &p);
		CHECK(p.has_s && p.s == strlen(c->disk));
		CHECK(p.has_w && p.w == strlen(c->out));
		/* fetch */
		struct md_sink k;
		struct store_sink sk;
		md_sink_init(&k, &sk);
		const char *keys[1] = { m->key };
		CHECK_INT(s->ops->fetch(s, keys, 1, &sk, &e), 0);
		CHECK_INT(k.begins, 1);
		CHECK_INT(k.ends, 1);
		CHECK_INT(k.ok, 1);
		CHECK_INT(k.meta.size, strlen(c->out));
		CHECK_INT(k.data.len, strlen(c->out));
		CHECK(memcmp(k.data.data, c->out, k.data.len) == 0);
		md_sink_free(&k);
	}
	buf_release(&disk);
	store_listing_free(&l);

	/* a wrong announced size is refused and leaves nothing behind */
	struct flagset f;
	struct store_writer *w;
	flagset_init(&f);
	CHECK_INT(s->ops->append_begin(s, &f, -1, 100, &w, &e), 0);
	CHECK_INT(s->ops->append_write(w, "A: b\r\n\r\nx\r\n", 11, &e), 0);
	CHECK_INT(s->ops->append_end(w, 1, md_cb_fn, &cb[7], &e), -1);
	CHECK_INT(e.cls, ERR_PROTO);
	char tmpd[600];
	snprintf(tmpd, sizeof tmpd, "%s/INBOX", root);
	CHECK_INT(md_count(tmpd, "tmp"), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	CHECK_INT(cb[7].calls, 0);
	s->ops->close(s);
}

/* Files written by others: no W=, CRLF already on disk. */
static void foreign(const char *root)
{
	struct maildir_opts o = { .create = 1 };
	struct store *s;
	struct err e = { 0 };
	struct store_box_state st;
	char path[1024];
	const char *text = "A: b\r\nC: d\n\nx\r\ny\n";
	const char *want = "A: b\r\nC: d\r\n\r\nx\r\ny\r\n";
	md_rmrf(root);
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	snprintf(path, sizeof path, "%s/INBOX/cur/1234.5_6.mutt:2,RS", root);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CHECK_INT(s->ops->open_box(s, "INBOX", 1, &st, &e), 0);
	struct store_listing l;
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, 1);
	if (l.n == 1) {
		CHECK_STR(l.msgs[0].key, "1234.5_6.mutt");
		CHECK_INT(l.msgs[0].size, strlen(want));
		CHECK_INT(l.msgs[0].flags.sys, MF_SEEN | MF_ANSWERED);
	}
	store_listing_free(&l);
	struct md_sink k;
	struct store_sink sk;
	md_sink_init(&k, &sk);
	const char *keys[1] = { "1234.5_6.mutt" };
	CHECK_INT(s->ops->fetch(s, keys, 1, &sk, &e), 0);
	CHECK_INT(k.meta.size, strlen(want));
	CHECK_STR(k.data.data, want);
	md_sink_free(&k);
	s->ops->close(s);
}

int main(void)
{
	char dir[] = "/tmp/mf-crlf-XXXXXX";
	char root[600];
	if (!mkdtemp(dir))
		return 1;
	snprintf(root, sizeof root, "%s/m", dir);
	static const size_t chunks[] = { 1, 2, 3, 7, 65536 };
	for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++)
		run(root, chunks[i]);
	foreign(root);
	md_rmrf(dir);
	return test_done();
}
