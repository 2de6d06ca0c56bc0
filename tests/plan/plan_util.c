/*
 * plan_util.c — the compact scenario notation of the planner tests (see
 * plan_util.h). Test code only.
 */
#include "plan_util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/banned.h"

void tu_fp(const char *id, unsigned char fp[32])
{
	memset(fp, 0, 32);
	memcpy(fp, id, strlen(id) < 32 ? strlen(id) : 32);
}

static const struct {
	char c;
	unsigned bit;
} letters[] = {
	{ 'D', MF_DRAFT }, { 'F', MF_FLAGGED }, { 'R', MF_ANSWERED },
	{ 'S', MF_SEEN },  { 'T', MF_DELETED },
};

void tu_flags_parse(struct flagset *f, const char *s)
{
	flagset_init(f);
	while (*s && *s != '+') {
		for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
			if (letters[i].c == *s)
				f->sys |= letters[i].bit;
		s++;
	}
	while (*s == '+') {
		const char *e = strchr(s + 1, '+');
		size_t n = e ? (size_t)(e - s - 1) : strlen(s + 1);
		char *kw = mf_strndup(s + 1, n);
		flagset_add_kw(f, kw);
		free(kw);
		s += n + 1;
	}
}

void tu_flags_str(const struct flagset *f, struct buf *out)
{
	for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
		if (f->sys & letters[i].bit)
			buf_addch(out, letters[i].c);
	for (size_t i = 0; i < f->nkw; i++)
		buf_addf(out, "+%s", f->kw[i]);
}

char **tu_words(const char *text, size_t *n_r)
{
	char **w = NULL;
	size_t n = 0;
	const char *p = text ? text : "";
	for (;;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != ' ')
			p++;
		w = mf_reallocarray(w, n + 2, sizeof *w);
		w[n++] = mf_strndup(s, (size_t)(p - s));
		w[n] = NULL;
	}
	*n_r = n;
	return w;
}

void tu_words_free(char **w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

/* "ID:FLAGS[#SIZE][~IDATE]" after the '=' */
static void parse_tail(const char *t, struct flagset *f, int *has_fp,
		       unsigned char fp[32], uint64_t *size, int64_t *idate)
{
	const char *colon = strchr(t, ':');
	char *id = mf_strndup(t, colon ? (size_t)(colon - t) : strlen(t));
	*has_fp = strcmp(id, "-") != 0;
	tu_fp(id, fp);
	free(id);
	*size = 100;
	*idate = 1000;
	char *fl = mf_strdup(colon ? colon + 1 : "");
	char *h = strchr(fl, '#'), *d = strchr(fl, '~');
	if (h)
		*size = strtoull(h + 1, NULL, 10);
	if (d)
		*idate = strtoll(d + 1, NULL, 10);
	if (h)
		*h = '\0';
	if (d)
		*d = '\0';
	tu_flags_parse(f, fl);
	free(fl);
}

void tu_msgs_parse(struct tmsgs *m, const char *text)
{
	size_t n;
	char **w = tu_words(text, &n);
	m->v = mf_calloc(n + 1, sizeof *m->v);
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		struct plan_msg *x = &m->v[i];
		char *eq = strchr(w[i], '=');
		x->key = mf_strndup(w[i], eq ? (size_t)(eq - w[i]) : strlen(w[i]));
		parse_tail(eq ? eq + 1 : "-:", &x->flags, &x->has_fp, x->fp, &x->size,
			   &x->idate);
	}
	tu_words_free(w, n);
}

void tu_msgs_free(struct tmsgs *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free((char *)m->v[i].key);
		flagset_free(&m->v[i].flags);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

void tu_pairs_parse(struct tpairs *p, const char *text)
{
	size_t n;
	char **w = tu_words(text, &n);
	p->v = mf_calloc(n + 1, sizeof *p->v);
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		struct plan_pair *x = &p->v[i];
		char *slash = strchr(w[i], '/'), *eq = strchr(w[i], '=');
		char *rk = mf_strndup(w[i], (size_t)(slash - w[i]));
		char *lk = mf_strndup(slash + 1, (size_t)(eq - slash - 1));
		x->id = (int64_t)i + 1;
		x->rkey = strcmp(rk, "-") ? rk : NULL;
		x->lkey = strcmp(lk, "-") ? lk : NULL;
		if (!x->rkey)
			free(rk);
		if (!x->lkey)
			free(lk);
		parse_tail(eq + 1, &x->base, &x->has_fp, x->fp, &x->size, &x->idate);
	}
	tu_words_free(w, n);
}

void tu_pairs_free(struct tpairs *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free((char *)p->v[i].rkey);
		free((char *)p->v[i].lkey);
		flagset_free(&p->v[i].base);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

static char sidec(enum plan_side s)
{
	return s == SIDE_REMOTE ? 'R' : 'L';
}

void tu_plan_str(const struct plan *p, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		if (i)
			buf_addstr(out, "; ");
		switch (a->op) {
		case PLAN_COPY:
			buf_addf(out, "copy>%c %s :", sidec(a->side), a->key);
			tu_flags_str(&a->flags, out);
			if (a->pair_id)
				buf_addf(out, " #%" PRId64, a->pair_id);
			break;
		case PLAN_SKIP:
			buf_addf(out, "skip>%c %s", sidec(a->side), a->key);
			break;
		case PLAN_FLAGS:
			buf_addf(out, "flags %c %s", sidec(a->side), a->key);
			if (a->add.sys || a->add.nkw) {
				buf_addstr(out, " +");
				tu_flags_str(&a->add, out);
			}
			if (a->del.sys || a->del.nkw) {
				buf_addstr(out, " -");
				tu_flags_str(&a->del, out);
			}
			buf_addstr(out, " =");
			tu_flags_str(&a->flags, out);
			break;
		case PLAN_MARK_DELETED:
			buf_addf(out, "mark %c %s =", sidec(a->side), a->key);
			tu_flags_str(&a->flags, out);
			break;
		case PLAN_EXPUNGE:
			buf_addf(out, "expunge %c %s%s", sidec(a->side), a->key,
				 a->keep_pair ? " keep" : "");
			break;
		case PLAN_PAIR:
			buf_addf(out, "pair %s/%s =", a->rkey, a->lkey);
			tu_flags_str(&a->flags, out);
			break;
		case PLAN_REKEY:
			buf_addf(out, "rekey #%" PRId64 " %s/%s", a->pair_id,
				 a->rkey ? a->rkey : "-", a->lkey ? a->lkey : "-");
			break;
		case PLAN_BASE:
			buf_addf(out, "base #%" PRId64 " =", a->pair_id);
			tu_flags_str(&a->flags, out);
			break;
		case PLAN_UNPAIR:
			buf_addf(out, "unpair #%" PRId64, a->pair_id);
			break;
		}
	}
}
