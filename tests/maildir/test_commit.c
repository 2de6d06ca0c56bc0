/*
 * test_commit.c — group commit: many deliveries, nothing visible in cur/
 * or new/ and no callback before flush(); after it, all present, each
 * callback called once with its key; unseen mail without flags in new/.
 * Also with fsync off, and open_box committing the previous folder.
 */
#include "mdtest.h"

#define N 200

static void run(const char *root, int fsync_off)
{
	struct maildir_opts o = { .create = 1, .fsync_off = fsync_off };
	struct store *s;
	struct err e = { 0 };
	struct store_box_state st;
	char inbox[700], msg[256];
	static struct md_cb cb[N];
	memset(cb, 0, sizeof cb);
	md_rmrf(root);
	snprintf(inbox, sizeof inbox, "%s/INBOX", root);
	CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
	CHECK_INT(s->ops->open_box(s, "INBOX", 0, &st, &e), 0);
	for (int i = 0; i < N; i++) {
		int len = snprintf(msg, sizeof msg, "Message-ID: <%d@t>\r\n\r\nbody %d\r\n", i, i);
		CHECK_INT(md_deliver(s, msg, (size_t)len, i % 2 ? "\\Seen" : "", 1600000000, 4096,
				     &cb[i]), 0);
	}
	int calls = 0;
	for (int i = 0; i < N; i++)
		calls += cb[i].calls;
	CHECK_INT(calls, 0);
	CHECK_INT(md_count(inbox, "cur"), 0);
	CHECK_INT(md_count(inbox, "new"), 0);
	CHECK_INT(md_count(inbox, "tmp"), N);
	CHECK_INT(s->ops->flush(s, &e), 0);
	for (int i = 0; i < N; i++) {
		CHECK_INT(cb[i].calls, 1);
		CHECK_INT(cb[i].errors, 0);
		CHECK(cb[i].key[0] != '\0');
	}
	CHECK_INT(md_count(inbox, "tmp"), 0);
	CHECK_INT(md_count(inbox, "new"), N / 2);
	CHECK_INT(md_count(inbox, "cur"), N / 2);
	struct store_listing l;
	CHECK_INT(s->ops->list_msgs(s, NULL, &l, &e), 0);
	CHECK_INT(l.n, N);
	store_listing_free(&l);
	/* a second flush has nothing to do */
	CHECK_INT(s->ops->flush(s, &e), 0);
	for (int i = 0; i < N; i++)
		CHECK_INT(cb[i].calls, 1);

	/* pending deliveries are committed when another folder is opened */
	CHECK_INT(s->ops->create_box(s, "Other", &e), 0);
	struct md_cb one = { 0 };
	CHECK_INT(md_deliver(s, "A: b\r\n\r\n", 8, "\\Flagged", -1, 64, &one), 0);
	CHECK_INT(one.calls, 0);
	CHECK_INT(s->ops->open_box(s, "Other", 0, &st, &e), 0);
	CHECK_INT(one.calls, 1);
	CHECK_INT(md_count(inbox, "cur"), N / 2 + 1);
	/* an aborted delivery leaves nothing and calls nothing */
	struct flagset f;
	struct store_writer *w;
	flagset_init(&f);
	CHECK_INT(s->ops->append_begin(s, &f, -1, 0, &w, &e), 0);
	CHECK_INT(s->ops->append_write(w, "partial", 7, &e), 0);
	CHECK_INT(s->ops->append_end(w, 0, md_cb_fn, &one, &e), 0);
	CHECK_INT(s->ops->flush(s, &e), 0);
	CHECK_INT(one.calls, 1);
	char other[700];
	snprintf(other, sizeof other, "%s/Other", root);
	CHECK_INT(md_count(other, "tmp"), 0);
	/* close commits too */
	CHECK_INT(md_deliver(s, "A: b\r\n\r\n", 8, "", -1, 64, &one), 0);
	s->ops->close(s);
	CHECK_INT(one.calls, 2);
	CHECK_INT(md_count(other, "new"), 1);
}

int main(void)
{
	char dir[] = "/tmp/mf-commit-XXXXXX";
	char root[600];
	if (!mkdtemp(dir))
		return 1;
	snprintf(root, sizeof root, "%s/m", dir);
	run(root, 0);
	run(root, 1);
	md_rmrf(dir);
	return test_done();
}
