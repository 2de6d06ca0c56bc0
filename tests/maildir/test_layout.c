/*
 * test_layout.c — mailbox names to paths in both layouts: a table of
 * hostile names that must be refused or escaped (reversibly), and, through
 * the store, that nothing is ever created outside the root (a symlinked
 * folder leading outside is refused).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir/maildir_layout.h"
#include "maildir/maildir_store.h"
#include "testlib.h"

#define V MAILDIR_LAYOUT_VERBATIM
#define P MAILDIR_LAYOUT_MAILDIRPP

struct lcase {
	enum maildir_layout l;
	const char *name;
	enum err_class cls; /* ERR_NONE: mapped */
	const char *path;
};

static const struct lcase cases[] = {
	{ V, "INBOX", ERR_NONE, "INBOX" },
	{ V, "inbox", ERR_NONE, "INBOX" },
	{ V, "Inbox/Sub", ERR_NONE, "INBOX/Sub" },
	{ V, "Sub/Folder", ERR_NONE, "Sub/Folder" },
	{ V, "Entwürfe", ERR_NONE, "Entwürfe" },
	{ V, "..", ERR_NONE, "%2E." },
	{ V, ".", ERR_NONE, "%2E" },
	{ V, "a/../b", ERR_NONE, "a/%2E./b" },
	{ V, "../../etc", ERR_NONE, "%2E./%2E./etc" },
	{ V, ".hidden", ERR_NONE, "%2Ehidden" },
	{ V, "a.b", ERR_NONE, "a.b" },
	{ V, "/etc/passwd", ERR_USAGE, NULL },
	{ V, "", ERR_USAGE, NULL },
	{ V, "a//b", ERR_USAGE, NULL },
	{ V, "a/", ERR_USAGE, NULL },
	{ V, "tab\there", ERR_NONE, "tab%09here" },
	{ V, "nl\nx\x7f", ERR_NONE, "nl%0Ax%7F" },
	{ V, "cur", ERR_NONE, "%63ur" },
	{ V, "a/new", ERR_NONE, "a/%6Eew" },
	{ V, "tmp/x", ERR_NONE, "%74mp/x" },
	{ V, "curious", ERR_NONE, "curious" },
	{ V, "a/maildirfolder", ERR_NONE, "a/%6Daildirfolder" },
	{ V, "a/dovecot-keywords", ERR_NONE, "a/%64ovecot-keywords" },
	{ V, "dovecot.index", ERR_NONE, "%64ovecot.index" },
	{ V, "50%off", ERR_NONE, "50%off" },
	{ V, "%41", ERR_NONE, "%2541" },
	{ V, "100%", ERR_NONE, "100%" },
	{ P, "INBOX", ERR_NONE, "" },
	{ P, "INBOX/Sub", ERR_NONE, ".INBOX.Sub" },
	{ P, "Sub/Folder", ERR_NONE, ".Sub.Folder" },
	{ P, "a.b", ERR_NONE, ".a%2Eb" },
	{ P, "..", ERR_NONE, ".%2E%2E" },
	{ P, "../x", ERR_NONE, ".%2E%2E.x" },
	{ P, "cur", ERR_NONE, ".cur" },
	{ P, "mailferry-id", ERR_NONE, ".%6Dailferry-id" },
	{ P, "a/mailferry-id", ERR_NONE, ".a.mailferry-id" },
	{ P, "/abs", ERR_USAGE, NULL },
	{ P, "x\x01", ERR_NONE, ".x%01" },
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct lcase *c = &cases[i];
		struct buf rel, back;
		struct err e = { 0 };
		buf_init(&rel, 0);
		buf_init(&back, 0);
		int rc = maildir_layout_name_to_path(c->l, c->name, &rel, &e);
		if (c->cls != ERR_NONE) {
			CHECK_INT(rc, -1);
			CHECK_INT(e.cls, c->cls);
		} else {
			CHECK_INT(rc, 0);
			CHECK_STR(rel.data, c->path);
			/* never leaves the root */
			CHECK(rel.data[0] != '/');
			CHECK(strstr(rel.data, "/../") == NULL && strncmp(rel.data, "../", 3) != 0);
			CHECK(strcmp(rel.data, "..") != 0 && strcmp(rel.data, ".") != 0);
			/* reversible (INBOX spellings come back as "INBOX") */
			CHECK_INT(maildir_layout_path_to_name(c->l, rel.data, &back, &e), 0);
			if (strncasecmp(c->name, "inbox", 5) == 0 &&
			    (c->name[5] == '\0' || c->name[5] == '/'))
				CHECK(strcasecmp(back.data, c->name) == 0 &&
				      strncmp(back.data, "INBOX", 5) == 0);
			else
				CHECK_STR(back.data, c->name);
		}
		buf_release(&rel);
		buf_release(&back);
	}
}

static void test_limits(void)
{
	char longc[300], deep[400];
	struct buf rel;
	struct err e;
	buf_init(&rel, 0);
	memset(longc, 'x', 256);
	longc[256] = '\0';
	CHECK_INT(maildir_layout_name_to_path(V, longc, &rel, &e), -1);
	CHECK_INT(e.cls, ERR_LIMIT);
	longc[255] = '\0';
	CHECK_INT(maildir_layout_name_to_path(V, longc, &rel, &e), 0);
	buf_reset(&rel);
	/* escaping makes it longer: 100 tabs = 300 bytes */
	memset(longc, '\t', 100);
	longc[100] = '\0';
	CHECK_INT(maildir_layout_name_to_path(V, longc, &rel, &e), -1);
	CHECK_INT(e.cls, ERR_LIMIT);
	/* Maildir++: the whole directory name counts */
	memset(longc, 'y', 200);
	longc[100] = '/';
	longc[200] = '\0';
	CHECK_INT(maildir_layout_name_to_path(P, longc, &rel, &e), 0);
	buf_reset(&rel);
	memset(longc, 'y', 280);
	longc[140] = '/';
	longc[280] = '\0';
	CHECK_INT(maildir_layout_name_to_path(P, longc, &rel, &e), -1);
	CHECK_INT(e.cls, ERR_LIMIT);
	size_t n = 0;
	for (int i = 0; i < 70; i++) {
		deep[n++] = 'a';
		deep[n++] = '/';
	}
	deep[n - 1] = '\0';
	CHECK_INT(maildir_layout_name_to_path(V, deep, &rel, &e), -1);
	CHECK_INT(e.cls, ERR_LIMIT);
	buf_release(&rel);
}

static void test_foreign_paths(void)
{
	static const struct {
		enum maildir_layout l;
		const char *path;
	} foreign[] = {
		{ V, "%41" }, { V, "inbox" }, { V, "a/%2e" }, { V, "cur" }, { P, "%41" },
		{ P, ".a.b%2e" }, { P, ".%41" }, { P, ".INBOX" }, { P, "noleadingdot" },
		{ V, "x%00y" },
	};
	for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
		struct buf name;
		struct err e;
		buf_init(&name, 0);
		CHECK_INT(maildir_layout_path_to_name(foreign[i].l, foreign[i].path, &name, &e), -1);
		if (name.len)
			fprintf(stderr, "foreign '%s' gave '%s'\n", foreign[i].path, name.data);
		buf_release(&name);
	}
}

static int count_entries(const char *dir)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "test $(find '%s' | wc -l) -eq 1", dir);
	return system(cmd) == 0;
}

/* Through the store: hostile names create only below the root. */
static void test_store_confined(const char *base)
{
	char root[512], outside[512], link[600];
	snprintf(root, sizeof root, "%s/root", base);
	snprintf(outside, sizeof outside, "%s/outside", base);
	mkdir(outside, 0700);
	for (int layout = 0; layout < 2; layout++) {
		struct maildir_opts o = { .layout = layout, .create = 1, .fsync_off = 1 };
		struct store *s;
		struct err e = { 0 };
		char cmd[700];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
		CHECK_INT(system(cmd), 0);
		CHECK_INT(maildir_store_open(root, &o, &s, &e), 0);
		static const char *const hostile[] = {
			"..", "../outside", "../../x", "/tmp/abs", ".", "a/../../outside",
			"cur", "new/x", "x\x01y", "..%2F..", "a.b/..", "INBOX/..",
		};
		for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++)
			s->ops->create_box(s, hostile[i], &e);
		CHECK(count_entries(outside));
		/* renaming to a hostile name stays inside too */
		CHECK_INT(s->ops->create_box(s, "ok", &e), 0);
		CHECK_INT(s->ops->rename_box(s, "ok", "../../outside/pwn", &e), 0);
		CHECK_INT(s->ops->rename_box(s, "../../outside/pwn", "/abs", &e), -1);
		CHECK_INT(s->ops->delete_box(s, "../../outside/pwn", &e), 0);
		CHECK(count_entries(outside));
		/* a symlinked folder leading outside: refused, nothing written */
		snprintf(link, sizeof link, "%s/%s", root, layout ? ".Evil" : "Evil");
		CHECK_INT(symlink(outside, link), 0);
		e.cls = ERR_NONE;
		CHECK_INT(s->ops->create_box(s, "Evil/Sub", &e), layout ? 0 : -1);
		if (!layout)
			CHECK_INT(e.cls, ERR_PERM);
		CHECK_INT(s->ops->create_box(s, "Evil", &e), -1);
		struct store_box_state st;
		CHECK_INT(s->ops->open_box(s, "Evil", 0, &st, &e), -1);
		CHECK(count_entries(outside));
		/* a listing neither follows it nor fails */
		struct store_box *boxes;
		size_t n;
		CHECK_INT(s->ops->list_boxes(s, &boxes, &n, &e), 0);
		for (size_t i = 0; i < n; i++)
			CHECK(strcmp(boxes[i].name, "Evil") != 0);
		/* every hostile name that was created lists back under its name */
		for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
			int found = 0, ok;
			struct store_box_state st2;
			struct err e2;
			ok = s->ops->open_box(s, hostile[i], 1, &st2, &e2) == 0;
			for (size_t j = 0; j < n; j++)
				if (maildir_layout_is_inbox(hostile[i]) ||
				    strcmp(boxes[j].name, hostile[i]) == 0)
					found = 1;
			if (ok)
				CHECK(found);
		}
		store_boxes_free(boxes, n);
		s->ops->close(s);
	}
}

int main(void)
{
	char dir[] = "/tmp/mf-layout-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	test_table();
	test_limits();
	test_foreign_paths();
	test_store_confined(dir);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	return test_done();
}
