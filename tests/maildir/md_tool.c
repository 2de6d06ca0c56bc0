/*
 * md_tool.c — helper for the Dovecot end-to-end test (dovecot_e2e.sh):
 *   md-tool write ROOT LAYOUT   write a fixed set of folders and messages
 *                                (flags, keywords, internal dates) through
 *                                the Maildir driver
 *   md-tool dump ROOT LAYOUT    print what the driver reads, one line per
 *                                message: folder TAB message-id TAB flags
 *                                (sorted, lowercase) TAB CRLF size, sorted
 * LAYOUT is "fs" (verbatim) or "pp" (Maildir++).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildir/maildir_store.h"

static const struct {
	const char *folder, *id, *flags;
	int lines;
} scenario[] = {
	{ "INBOX", "unseen1", "", 1 },
	{ "INBOX", "seen1", "\\Seen", 3 },
	{ "INBOX", "kw1", "\\Seen \\Flagged $Forwarded $Junk", 10 },
	{ "INBOX", "kw2", "$label1 work", 2 },
	{ "INBOX", "del1", "\\Deleted \\Seen", 1 },
	{ "Work/Project", "ans1", "\\Answered \\Seen", 5 },
	{ "Work/Project", "draft1", "\\Draft work", 7 },
	{ "Archive", "arch1", "\\Seen $Forwarded", 100 },
	{ "Archive", "arch2", "", 2 },
	{ "Entwürfe", "utf1", "\\Seen", 1 },
};

static int fail(const char *what, const struct err *e)
{
	fprintf(stderr, "md-tool: %s: %s\n", what, e->msg);
	return 1;
}

static int write_msg(struct store *s, const char *id, const char *flags, int lines, int n)
{
	struct buf b;
	struct flagset f;
	struct store_writer *w;
	struct err e;
	buf_init(&b, 0);
	buf_addf(&b, "From: a@test\r\nSubject: %s\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
		     "Message-ID: <%s@test>\r\n\r\n", id, id);
	for (int i = 0; i < lines; i++)
		buf_addf(&b, "body line %d of %s\r\n", i, id);
	flagset_init(&f);
	flagset_parse(&f, flags);
	int rc = s->ops->append_begin(s, &f, 1672653600 + n * 60, b.len, &w, &e);
	if (rc == 0 && s->ops->append_write(w, b.data, b.len, &e) == 0)
		rc = s->ops->append_end(w, 1, NULL, NULL, &e);
	else
		rc = -1;
	flagset_free(&f);
	buf_release(&b);
	return rc < 0 ? fail("append", &e) : 0;
}

static int do_write(struct store *s)
{
	struct err e;
	struct store_box_state st;
	const char *open = NULL;
	for (size_t i = 0; i < sizeof scenario / sizeof scenario[0]; i++) {
		if (!open || strcmp(open, scenario[i].folder) != 0) {
			if (strcmp(scenario[i].folder, "INBOX") != 0 &&
			    s->ops->create_box(s, scenario[i].folder, &e) < 0 && e.cls != ERR_EXISTS)
				return fail("create", &e);
			if (s->ops->open_box(s, scenario[i].folder, 0, &st, &e) < 0)
				return fail("open", &e);
			open = scenario[i].folder;
		}
		if (write_msg(s, scenario[i].id, scenario[i].flags, scenario[i].lines, (int)i))
			return 1;
	}
	return s->ops->flush(s, &e) < 0 ? fail("flush", &e) : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int do_dump(struct store *s)
{
	struct err e;
	struct store_box *boxes;
	size_t nb;
	char **lines = NULL;
	size_t nl = 0;
	if (s->ops->list_boxes(s, &boxes, &nb, &e) < 0)
		return fail("list_boxes", &e);
	for (size_t i = 0; i < nb; i++) {
		struct store_box_state st;
		struct store_listing l;
		if (s->ops->open_box(s, boxes[i].name, 1, &st, &e) < 0 ||
		    s->ops->list_msgs(s, NULL, &l, &e) < 0)
			return fail(boxes[i].name, &e);
		for (size_t j = 0; j < l.n; j++) {
			struct buf id, date, fl, line;
			buf_init(&id, 0);
			buf_init(&date, 0);
			buf_init(&fl, 0);
			buf_init(&line, 0);
			s->ops->headers(s, l.msgs[j].key, &id, &date, &e);
			flagset_format(&l.msgs[j].flags, &fl);
			/* flags sorted, lowercase, like the shell side */
			char *words[64];
			size_t nw = 0;
			for (char *t = fl.data; *t && nw < 64;) {
				words[nw++] = t;
				char *sp = strchr(t, ' ');
				if (!sp)
					break;
				*sp = '\0';
				t = sp + 1;
			}
			for (size_t k = 0; k < nw; k++)
				for (char *c = words[k]; *c; c++)
					if (*c >= 'A' && *c <= 'Z')
						*c = (char)(*c - 'A' + 'a');
			qsort(words, nw, sizeof *words, cmp_str);
			buf_addf(&line, "%s\t%s\t", boxes[i].name, id.data);
			for (size_t k = 0; k < nw; k++)
				buf_addf(&line, "%s%s", k ? " " : "", words[k]);
			buf_addf(&line, "\t%llu\t%lld", (unsigned long long)l.msgs[j].size,
				 (long long)l.msgs[j].idate);
			lines = realloc(lines, (nl + 1) * sizeof *lines);
			lines[nl++] = buf_detach(&line, NULL);
			buf_release(&id);
			buf_release(&date);
			buf_release(&fl);
		}
		store_listing_free(&l);
	}
	store_boxes_free(boxes, nb);
	qsort(lines, nl, sizeof *lines, cmp_str);
	for (size_t i = 0; i < nl; i++) {
		printf("%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: md-tool write|dump ROOT fs|pp\n");
		return 2;
	}
	struct maildir_opts o = { .create = 1 };
	struct store *s;
	struct err e;
	o.layout = strcmp(argv[3], "pp") == 0 ? MAILDIR_LAYOUT_MAILDIRPP : MAILDIR_LAYOUT_VERBATIM;
	if (maildir_store_open(argv[2], &o, &s, &e) < 0)
		return fail(argv[2], &e);
	int rc = strcmp(argv[1], "write") == 0 ? do_write(s) : do_dump(s);
	s->ops->close(s);
	return rc;
}
