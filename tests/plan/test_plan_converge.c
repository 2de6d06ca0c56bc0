/*
 * test_plan_converge.c — randomized convergence test of plan_msgs().
 *
 * An in-memory model of two stores (remote: numeric UIDs; local: "L<n>"
 * keys) and a journal. Each round applies a random history of user changes
 * on both sides (new messages, the same new message on both sides, flag and
 * keyword toggles including \Deleted, deletions/expunges, now and then a
 * lost journal or a renumbered side), lists both sides (full, or a delta
 * of what changed when the last plan allows it), runs plan_msgs and applies
 * the plan the way an executor would, checking every action refers to
 * something that exists. Then it asserts:
 *  - idempotence: planning again at once (full and delta listings) yields
 *    no action but SKIP, and no alert;
 *  - the invariants listed at check_state(): pairs join equal content
 *    with equal flags; with expunge on both sides every message is paired
 *    and nothing carries \Deleted (convergence), otherwise a message
 *    that is not paired carries \Deleted (the weaker invariant: tombstones
 *    and deleted messages not copied); no content the user never deleted
 *    is missing on a side (no loss); no side holds more copies of a
 *    content than the user made (no duplicate, also with true duplicates
 *    delivered twice to one side, which pair one-to-one).
 *
 * Usage: test-plan-converge MODE [ROUNDS] [SEED]   (DBG_ROUND=n dumps the
 *        model before round n's plan)
 *   MODE: none | remote | local | both (expunge setting, both directions)
 *         | pull | push (one direction, expunge none) | pull-X | push-X
 *         (one direction, expunge X)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "plan_util.h"
#include "testlib.h"

#include "lib/banned.h"

static const char *const kwpool[] = { "$Junk", "$Forwarded", "work" };
#define NKW 3
#define MAXMSG 60

struct mmsg {
	char *key;
	int ident;
	struct flagset fl;
	uint64_t size;
	int64_t idate;
	int changed;            /* since the last sync: in the next delta */
};

struct mside {
	struct mmsg *v;
	size_t n;
	unsigned next;          /* next key number */
	char **van;             /* keys gone since the last sync */
	size_t nvan;
	int invalid;            /* keys renumbered since the last sync */
	int need_full;
};

struct mpair {
	int64_t id;
	char *key[2];
	struct flagset base;
	unsigned char fp[32];
	uint64_t size;
	int64_t idate;
};

struct tog {                    /* a user flag toggle of this round */
	int ident, side;
	unsigned bit;           /* system flag, or 0 */
	int kw;                 /* keyword index, or -1 */
	int expect;             /* the value at the end of the user's changes */
	int ok;                 /* checkable: paired before, one copy per side */
};

struct model {
	struct tog *tog;
	size_t ntog;
	int unstable;           /* journal lost this round: first-pairing rules */
	struct mside s[2];
	struct mpair *p;
	size_t np;
	int64_t next_pair;
	unsigned char *deleted; /* per identity: the user deleted it */
	unsigned char *copies[2]; /* per identity: copies the user made per side */
	int nident;
	unsigned long long rng;
	struct plan_opts o;
	int round;
};

static unsigned rnd(struct model *m, unsigned n)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return (unsigned)(m->rng % n);
}

static void ident_fp(int ident, unsigned char fp[32])
{
	char id[32];
	snprintf(id, sizeof id, "id%d", ident);
	tu_fp(id, fp);
}

static char *new_key(struct model *m, int s)
{
	char k[32];
	unsigned n = ++m->s[s].next;
	if (s == SIDE_REMOTE)
		snprintf(k, sizeof k, "%u", n);
	else
		snprintf(k, sizeof k, "L%u", n);
	return mf_strdup(k);
}

static struct mmsg *add_msg(struct model *m, int s, int ident, const struct flagset *fl,
			    uint64_t size, int64_t idate)
{
	struct mside *sd = &m->s[s];
	sd->v = mf_reallocarray(sd->v, sd->n + 1, sizeof *sd->v);
	struct mmsg *x = &sd->v[sd->n++];
	x->key = new_key(m, s);
	x->ident = ident;
	flagset_copy(&x->fl, fl);
	x->size = size;
	x->idate = idate;
	x->changed = 1;
	return x;
}

static long find_msg(const struct model *m, int s, const char *key)
{
	for (size_t i = 0; key && i < m->s[s].n; i++)
		if (strcmp(m->s[s].v[i].key, key) == 0)
			return (long)i;
	return -1;
}

static void del_msg(struct model *m, int s, size_t i)
{
	struct mside *sd = &m->s[s];
	sd->van = mf_reallocarray(sd->van, sd->nvan + 1, sizeof *sd->van);
	sd->van[sd->nvan++] = sd->v[i].key;
	flagset_free(&sd->v[i].fl);
	sd->v[i] = sd->v[--sd->n];
}

static long find_pair(const struct model *m, int64_t id)
{
	for (size_t i = 0; i < m->np; i++)
		if (m->p[i].id == id)
			return (long)i;
	return -1;
}

static long find_pair_keys(const struct model *m, const char *rk, const char *lk)
{
	for (size_t i = 0; i < m->np; i++)
		if (rk && lk && m->p[i].key[0] && m->p[i].key[1] &&
		    !strcmp(m->p[i].key[0], rk) && !strcmp(m->p[i].key[1], lk))
			return (long)i;
	return -1;
}

static void pair_free(struct mpair *p)
{
	free(p->key[0]);
	free(p->key[1]);
	flagset_free(&p->base);
}

static void drop_pair(struct model *m, size_t i)
{
	pair_free(&m->p[i]);
	m->p[i] = m->p[--m->np];
}

static struct mpair *add_pair(struct model *m, const char *rk, const char *lk,
			      const struct flagset *base, const unsigned char fp[32],
			      uint64_t size, int64_t idate)
{
	m->p = mf_reallocarray(m->p, m->np + 1, sizeof *m->p);
	struct mpair *p = &m->p[m->np++];
	p->id = ++m->next_pair;
	p->key[0] = mf_strdup(rk);
	p->key[1] = mf_strdup(lk);
	flagset_copy(&p->base, base);
	memcpy(p->fp, fp, 32);
	p->size = size;
	p->idate = idate;
	return p;
}

static void set_base(struct mpair *p, const struct flagset *fl)
{
	flagset_free(&p->base);
	flagset_copy(&p->base, fl);
}

static int count_ident(const struct model *m, int s, int ident, const struct mmsg **x_r)
{
	int c = 0;
	for (size_t i = 0; i < m->s[s].n; i++)
		if (m->s[s].v[i].ident == ident) {
			c++;
			if (x_r)
				*x_r = &m->s[s].v[i];
		}
	return c;
}

static int in_complete_pair(const struct model *m, int s, const char *key)
{
	for (size_t i = 0; i < m->np; i++)
		if (m->p[i].key[s] && !strcmp(m->p[i].key[s], key))
			return find_msg(m, !s, m->p[i].key[!s]) >= 0;
	return 0;
}

/* ------------------------------------------------------------ user */

static int new_ident(struct model *m)
{
	m->deleted = mf_reallocarray(m->deleted, (size_t)m->nident + 1, 1);
	m->deleted[m->nident] = 0;
	for (int s = 0; s < 2; s++) {
		m->copies[s] = mf_reallocarray(m->copies[s], (size_t)m->nident + 1, 1);
		m->copies[s][m->nident] = 0;
	}
	return m->nident++;
}

static void random_flags(struct model *m, struct flagset *f, int ident)
{
	flagset_init(f);
	f->sys = rnd(m, 32) & (MF_SEEN | MF_FLAGGED | MF_ANSWERED | MF_DRAFT);
	if (rnd(m, 10) == 0) {
		f->sys |= MF_DELETED;
		m->deleted[ident] = 1;
	}
	if (rnd(m, 3) == 0)
		flagset_add_kw(f, kwpool[rnd(m, NKW)]);
}

static void renumber(struct model *m, int s)
{
	struct mside *sd = &m->s[s];
	/* a new UIDVALIDITY starts again at 1, so old UIDs alias new ones;
	 * Maildir unique names never repeat */
	if (s == SIDE_REMOTE)
		sd->next = 0;
	for (size_t i = 0; i < sd->n; i++) {
		free(sd->v[i].key);
		sd->v[i].key = new_key(m, s);
		sd->v[i].changed = 1;
	}
	sd->invalid = 1;
}

/* A side may be renumbered when at least one of its messages is paired, so
 * that the planner's safety valve (nothing matched) does not apply. */
static int renumber_ok(const struct model *m, int s)
{
	for (size_t i = 0; i < m->np; i++)
		if (find_msg(m, s, m->p[i].key[s]) >= 0)
			return 1;
	return 0;
}

static void user_round(struct model *m)
{
	int nops = (int)rnd(m, 5);
	m->ntog = 0;
	m->unstable = 0;
	for (int k = 0; k < nops; k++) {
		unsigned r = rnd(m, 100);
		size_t total = m->s[0].n + m->s[1].n;
		if (total > MAXMSG && r < 40)
			r += 40; /* keep the mailbox small: fewer new, more deletes */
		if (r < 18 || r < 36) {
			int s = r < 18 ? SIDE_REMOTE : SIDE_LOCAL;
			int id = new_ident(m);
			uint64_t size = 100 + rnd(m, 1000);
			int64_t idate = 1000 + rnd(m, 1000);
			struct flagset f;
			/* now and then the same content twice on one side (a
			 * message delivered twice): a true duplicate */
			int n = rnd(m, 8) == 0 ? 2 : 1;
			for (int c = 0; c < n; c++) {
				random_flags(m, &f, id);
				add_msg(m, s, id, &f, size, idate);
				m->copies[s][id]++;
				flagset_free(&f);
			}
		} else if (r < 42) {
			/* the same message arrives on both sides (first sync into
			 * existing mail, or delivered twice) */
			int id = new_ident(m);
			struct flagset f, g;
			random_flags(m, &f, id);
			random_flags(m, &g, id);
			add_msg(m, SIDE_REMOTE, id, &f, 500, 1500);
			add_msg(m, SIDE_LOCAL, id, &g, 500, 1500);
			m->copies[0][id]++;
			m->copies[1][id]++;
			flagset_free(&f);
			flagset_free(&g);
		} else if (r < 75) {
			int s = (int)rnd(m, 2);
			if (!m->s[s].n)
				continue;
			struct mmsg *x = &m->s[s].v[rnd(m, (unsigned)m->s[s].n)];
			unsigned w = rnd(m, 5 + NKW);
			m->tog = mf_reallocarray(m->tog, m->ntog + 1, sizeof *m->tog);
			m->tog[m->ntog++] = (struct tog){ x->ident, s, w < 5 ? 1u << w : 0,
							  w < 5 ? -1 : (int)w - 5, 0,
							  in_complete_pair(m, s, x->key) };
			if (w < 5) {
				unsigned bit = 1u << w;
				x->fl.sys ^= bit;
				if (bit == MF_DELETED && (x->fl.sys & bit))
					m->deleted[x->ident] = 1;
			} else if (flagset_has_kw(&x->fl, kwpool[w - 5])) {
				flagset_del_kw(&x->fl, kwpool[w - 5]);
			} else {
				flagset_add_kw(&x->fl, kwpool[w - 5]);
			}
			x->changed = 1;
		} else if (r < 95) {
			int s = (int)rnd(m, 2);
			if (m->s[!s].n > MAXMSG / 2) /* one-way syncs pile up */
				s = !s;
			if (!m->s[s].n)
				continue;
			size_t i = rnd(m, (unsigned)m->s[s].n);
			m->deleted[m->s[s].v[i].ident] = 1;
			del_msg(m, s, i);
		} else if (r < 97) {
			while (m->np)
				drop_pair(m, m->np - 1); /* the journal is lost */
			m->unstable = 1;
			m->s[0].need_full = m->s[1].need_full = 1; /* no markers */
		}
	}
	for (size_t i = 0; i < m->ntog; i++) {
		struct tog *t = &m->tog[i];
		const struct mmsg *x = NULL, *y = NULL;
		if (count_ident(m, t->side, t->ident, &x) != 1 ||
		    count_ident(m, !t->side, t->ident, &y) != 1)
			t->ok = 0;
		for (size_t j = 0; j < m->ntog && t->ok; j++)
			if (m->tog[j].ident == t->ident && m->tog[j].side != t->side &&
			    m->tog[j].bit == t->bit && m->tog[j].kw == t->kw)
				t->ok = 0; /* both sides changed it: either may win */
		if (t->ok)
			t->expect = t->bit ? !!(x->fl.sys & t->bit)
					   : flagset_has_kw(&x->fl, kwpool[t->kw]);
	}
	/* renumbering last, so that the pairs it needs are still there */
	unsigned r = rnd(m, 100);
	if (r < 3 && renumber_ok(m, SIDE_REMOTE))
		renumber(m, SIDE_REMOTE);
	else if (r < 5 && renumber_ok(m, SIDE_LOCAL))
		renumber(m, SIDE_LOCAL);
}

/* ------------------------------------------------------------ planning */

struct listing {
	struct plan_msg *v[2];
	size_t n[2];
	struct plan_pair *pairs;
	struct plan_msgs_input in;
};

static void make_input(struct model *m, struct listing *L, int allow_delta)
{
	memset(L, 0, sizeof *L);
	for (int s = 0; s < 2; s++) {
		struct mside *sd = &m->s[s];
		int delta = allow_delta && !sd->need_full && !sd->invalid && rnd(m, 2);
		L->v[s] = mf_calloc(sd->n + 1, sizeof *L->v[s]);
		for (size_t i = 0; i < sd->n; i++) {
			if (delta && !sd->v[i].changed)
				continue;
			struct plan_msg *x = &L->v[s][L->n[s]++];
			x->key = sd->v[i].key;
			x->flags = sd->v[i].fl;
			x->size = sd->v[i].size;
			x->idate = sd->v[i].idate;
			x->has_fp = 1;
			ident_fp(sd->v[i].ident, x->fp);
		}
		if (s == SIDE_REMOTE) {
			L->in.remote = L->v[s];
			L->in.nremote = L->n[s];
			L->in.remote_full = !delta;
			L->in.remote_vanished = (const char *const *)sd->van;
			L->in.nremote_vanished = delta ? sd->nvan : 0;
			L->in.remote_keys_invalid = sd->invalid;
		} else {
			L->in.local = L->v[s];
			L->in.nlocal = L->n[s];
			L->in.local_full = !delta;
			L->in.local_vanished = (const char *const *)sd->van;
			L->in.nlocal_vanished = delta ? sd->nvan : 0;
			L->in.local_keys_invalid = sd->invalid;
		}
	}
	L->pairs = mf_calloc(m->np + 1, sizeof *L->pairs);
	for (size_t i = 0; i < m->np; i++) {
		struct plan_pair *p = &L->pairs[i];
		p->id = m->p[i].id;
		p->rkey = m->p[i].key[0];
		p->lkey = m->p[i].key[1];
		p->base = m->p[i].base;
		p->size = m->p[i].size;
		p->idate = m->p[i].idate;
		p->has_fp = 1;
		memcpy(p->fp, m->p[i].fp, 32);
	}
	L->in.pairs = L->pairs;
	L->in.npairs = m->np;
}

static void listing_free(struct listing *L)
{
	free(L->v[0]);
	free(L->v[1]);
	free(L->pairs);
}

static void fail(struct model *m, const char *what, const struct plan *p)
{
	test_failures_++;
	fprintf(stderr, "round %d: %s\n", m->round, what);
	if (p) {
		struct buf b = BUF_INIT(BUF_MAX_DEFAULT);
		plan_format(p, "box", 1, &b);
		fprintf(stderr, "%s", b.data);
		buf_release(&b);
	}
}

static void apply_flags(struct flagset *f, const struct flagset *add,
			const struct flagset *del)
{
	f->sys = (f->sys | add->sys) & ~del->sys;
	for (size_t i = 0; i < add->nkw; i++)
		flagset_add_kw(f, add->kw[i]);
	for (size_t i = 0; i < del->nkw; i++)
		flagset_del_kw(f, del->kw[i]);
}

/* Apply like an executor; 0 or -1 when an action refers to nothing. */
static int apply(struct model *m, const struct plan *pl)
{
	for (size_t i = 0; i < pl->n; i++) {
		const struct plan_action *a = &pl->v[i];
		int s = (int)a->side;
		long pi = a->pair_id ? find_pair(m, a->pair_id) : -1;
		long mi;
		switch (a->op) {
		case PLAN_PAIR:
			add_pair(m, a->rkey, a->lkey, &a->flags, a->fp, a->size, a->idate);
			break;
		case PLAN_REKEY:
			if (pi < 0)
				return -1;
			free(m->p[pi].key[0]);
			free(m->p[pi].key[1]);
			m->p[pi].key[0] = mf_strdup(a->rkey);
			m->p[pi].key[1] = mf_strdup(a->lkey);
			break;
		case PLAN_BASE:
			if (pi < 0)
				return -1;
			set_base(&m->p[pi], &a->flags);
			break;
		case PLAN_UNPAIR:
			if (pi < 0)
				return -1;
			drop_pair(m, (size_t)pi);
			break;
		case PLAN_EXPUNGE:
			if ((mi = find_msg(m, s, a->key)) < 0)
				return -1;
			del_msg(m, s, (size_t)mi);
			if (pi >= 0 && !a->keep_pair)
				drop_pair(m, (size_t)pi);
			break;
		case PLAN_FLAGS:
		case PLAN_MARK_DELETED:
			if ((mi = find_msg(m, s, a->key)) < 0)
				return -1;
			if (pi < 0)
				pi = find_pair_keys(m, a->rkey, a->lkey);
			if (pi < 0)
				return -1;
			apply_flags(&m->s[s].v[mi].fl, &a->add, &a->del);
			m->s[s].v[mi].changed = 1;
			set_base(&m->p[pi], &a->flags);
			break;
		case PLAN_COPY: {
			if ((mi = find_msg(m, !s, a->key)) < 0)
				return -1;
			const struct mmsg *src = &m->s[!s].v[mi];
			int ident = src->ident;
			uint64_t size = src->size;
			int64_t idate = src->idate;
			struct mmsg *x = add_msg(m, s, ident, &a->flags, size, idate);
			if (a->pair_id) {
				if (pi < 0)
					return -1;
				free(m->p[pi].key[s]);
				m->p[pi].key[s] = mf_strdup(x->key);
				set_base(&m->p[pi], &a->flags);
			} else {
				unsigned char fp[32];
				ident_fp(ident, fp);
				add_pair(m, s == SIDE_REMOTE ? x->key : a->key,
					 s == SIDE_LOCAL ? x->key : a->key, &a->flags, fp, size,
					 idate);
			}
			break;
		}
		case PLAN_SKIP:
			break;
		}
	}
	return 0;
}

static void end_sync(struct model *m, const struct plan *pl)
{
	for (int s = 0; s < 2; s++) {
		struct mside *sd = &m->s[s];
		for (size_t i = 0; i < sd->n; i++)
			sd->v[i].changed = 0;
		for (size_t i = 0; i < sd->nvan; i++)
			free(sd->van[i]);
		sd->nvan = 0;
		sd->invalid = 0;
		sd->need_full = pl->need_full[s];
	}
}

/* ------------------------------------------------------------ checks */

static int complete_pair(const struct model *m, const struct mpair *p, long mi[2])
{
	mi[0] = find_msg(m, 0, p->key[0]);
	mi[1] = find_msg(m, 1, p->key[1]);
	return mi[0] >= 0 && mi[1] >= 0;
}

/* The invariants, stated over the journal so that duplicates (the same
 * content more than once on a side) are handled exactly:
 *  (a) a pair joins two messages of the same content, and (two-way) with
 *      equal flags;
 *  (b) two-way: a message in no complete pair carries \Deleted (a
 *      tombstone or a skipped deleted message); with expunge on both
 *      sides there is none, and nothing carries \Deleted;
 *  (c) no loss: content the user never deleted is on both sides (on the
 *      written side for one-way syncs);
 *  (d) no duplicate: no side holds more copies of a content than the user
 *      made on one side;
 *  (e) a key is in at most one pair; a pair holds at least one message. */
static void check_state(struct model *m, int mode_both, int oneway)
{
	char what[160];
	unsigned char *inpair[2];
	for (int s = 0; s < 2; s++)
		inpair[s] = mf_calloc(m->s[s].n + 1, 1);
	for (size_t i = 0; i < m->np; i++) {
		const struct mpair *p = &m->p[i];
		long mi[2];
		int complete = complete_pair(m, p, mi);
		if (mi[0] < 0 && mi[1] < 0)
			fail(m, "a pair with no message left", NULL);
		for (int s = 0; s < 2; s++)
			if (mi[s] >= 0)
				inpair[s][mi[s]] = (unsigned char)(1 + complete);
		if (!complete)
			continue;
		const struct mmsg *x = &m->s[0].v[mi[0]], *y = &m->s[1].v[mi[1]];
		if (x->ident != y->ident) {
			snprintf(what, sizeof what, "pair %lld joins identities %d and %d",
				 (long long)p->id, x->ident, y->ident);
			fail(m, what, NULL);
		}
		if (!oneway && !flagset_equal(&x->fl, &y->fl)) {
			snprintf(what, sizeof what, "pair %lld: flags differ", (long long)p->id);
			fail(m, what, NULL);
		}
		for (size_t j = i + 1; j < m->np; j++)
			for (int s = 0; s < 2; s++)
				if (p->key[s] && m->p[j].key[s] && !strcmp(p->key[s], m->p[j].key[s])) {
					snprintf(what, sizeof what, "key %s in pairs %lld and %lld",
						 p->key[s], (long long)p->id, (long long)m->p[j].id);
					fail(m, what, NULL);
				}
	}
	for (int s = 0; s < 2 && !oneway; s++)
		for (size_t i = 0; i < m->s[s].n; i++) {
			const struct mmsg *x = &m->s[s].v[i];
			if ((inpair[s][i] != 2 && !(x->fl.sys & MF_DELETED)) ||
			    (mode_both && (inpair[s][i] != 2 || (x->fl.sys & MF_DELETED)))) {
				snprintf(what, sizeof what, "%s %s (identity %d) %s",
					 s ? "local" : "remote", x->key, x->ident,
					 inpair[s][i] == 2 ? "still marked deleted"
							   : "not paired and not deleted");
				fail(m, what, NULL);
			}
		}
	for (int id = 0; id < m->nident; id++) {
		int c[2] = { count_ident(m, 0, id, NULL), count_ident(m, 1, id, NULL) };
		int made = m->copies[0][id] > m->copies[1][id] ? m->copies[0][id]
							      : m->copies[1][id];
		if (c[0] > made || c[1] > made) {
			snprintf(what, sizeof what, "identity %d duplicated (%d, %d; made %d)",
				 id, c[0], c[1], made);
			fail(m, what, NULL);
		}
		if (m->deleted[id])
			continue;
		int lost = oneway == 1 ? c[0] && !c[1] : oneway == 2 ? c[1] && !c[0]
								  : !c[0] || !c[1];
		if (lost) {
			snprintf(what, sizeof what, "identity %d lost (%d, %d)", id, c[0], c[1]);
			fail(m, what, NULL);
		}
	}
	/* (f) a change made on one side since the last sync is not undone by
	 * the other, stale, side: both copies hold the changed value (unless
	 * the message went away, e.g. expunged because of \Deleted) */
	for (size_t i = 0; i < m->ntog && !oneway && !m->unstable; i++) {
		const struct tog *t = &m->tog[i];
		const struct mmsg *x = NULL, *y = NULL;
		if (!t->ok || count_ident(m, 0, t->ident, &x) != 1 ||
		    count_ident(m, 1, t->ident, &y) != 1)
			continue;
		for (int s = 0; s < 2; s++) {
			const struct mmsg *z = s ? y : x;
			int v = t->bit ? !!(z->fl.sys & t->bit)
				       : flagset_has_kw(&z->fl, kwpool[t->kw]);
			if (v != t->expect) {
				snprintf(what, sizeof what, "identity %d: a %s change of %s "
					 "was lost", t->ident, t->side ? "local" : "remote",
					 t->bit ? "a flag" : kwpool[t->kw]);
				fail(m, what, NULL);
			}
		}
	}
	free(inpair[0]);
	free(inpair[1]);
	test_checks_++;
}

static int plan_is_empty(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].op != PLAN_SKIP)
			return 0;
	return 1;
}

static void model_free(struct model *m)
{
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < m->s[s].n; i++) {
			free(m->s[s].v[i].key);
			flagset_free(&m->s[s].v[i].fl);
		}
		free(m->s[s].v);
		for (size_t i = 0; i < m->s[s].nvan; i++)
			free(m->s[s].van[i]);
		free(m->s[s].van);
	}
	while (m->np)
		drop_pair(m, m->np - 1);
	free(m->p);
	free(m->deleted);
	free(m->tog);
	free(m->copies[0]);
	free(m->copies[1]);
}

static void run(const char *mode, int rounds, unsigned long long seed)
{
	struct model m;
	memset(&m, 0, sizeof m);
	m.rng = seed ? seed : 88172645463325252ull;
	/* "pull" / "push" / "pull-EXPUNGE" / "push-EXPUNGE" / "EXPUNGE" */
	int oneway = !strncmp(mode, "pull", 4) ? 1 : !strncmp(mode, "push", 4) ? 2 : 0;
	const char *ex = oneway ? (mode[4] == '-' ? mode + 5 : "none") : mode;
	m.o.push = oneway != 1;
	m.o.pull = oneway != 2;
	m.o.expunge = !strcmp(ex, "remote") ? EXPUNGE_REMOTE
		: !strcmp(ex, "local") ? EXPUNGE_LOCAL
		: !strcmp(ex, "both") ? EXPUNGE_BOTH : EXPUNGE_NONE;
	m.o.now = 100000;
	size_t actions = 0, rekeys = 0, pairs = 0;

	for (m.round = 0; m.round < rounds; m.round++) {
		user_round(&m);
		struct listing L;
		struct plan p;
		make_input(&m, &L, 1);
		if (getenv("DBG_ROUND") && m.round == atoi(getenv("DBG_ROUND"))) {
			for (size_t i = 0; i < m.np; i++)
				fprintf(stderr, "pair %lld %s/%s fp %s\n", (long long)m.p[i].id,
					m.p[i].key[0] ? m.p[i].key[0] : "-",
					m.p[i].key[1] ? m.p[i].key[1] : "-", (const char *)m.p[i].fp);
			for (int s = 0; s < 2; s++)
				for (size_t i = 0; i < m.s[s].n; i++)
					fprintf(stderr, "side %d %s id%d\n", s, m.s[s].v[i].key,
						m.s[s].v[i].ident);
			fprintf(stderr, "full %d %d invalid %d %d\n", L.in.remote_full,
				L.in.local_full, L.in.remote_keys_invalid, L.in.local_keys_invalid);
		}
		plan_msgs(&L.in, &m.o, &p);
		listing_free(&L);
		actions += p.n;
		rekeys += p.counts.rekeyed;
		pairs += p.counts.paired;
		if (p.alert)
			fail(&m, p.alert, NULL);
		if (apply(&m, &p) < 0)
			fail(&m, "an action refers to nothing", &p);
		end_sync(&m, &p);
		struct plan first = p;

		/* idempotence, with full listings and with deltas */
		for (int delta = 0; delta < 2; delta++) {
			make_input(&m, &L, delta);
			plan_msgs(&L.in, &m.o, &p);
			listing_free(&L);
			if (p.alert || !plan_is_empty(&p)) {
				fail(&m, "first plan", &first);
				fail(&m, delta ? "second plan (delta) not empty"
					       : "second plan not empty", &p);
				apply(&m, &p);
			}
			plan_free(&p);
		}
		plan_free(&first);
		check_state(&m, m.o.expunge == EXPUNGE_BOTH && !oneway, oneway);
		if (test_failures_ > 20)
			break;
	}
	printf("%s: %d rounds, %zu actions, %zu paired by fingerprint, %zu re-keyed, "
	       "%zu/%zu messages at the end\n", mode, m.round, actions, pairs, rekeys,
	       m.s[0].n, m.s[1].n);
	/* the randomized test must actually exercise the interesting paths */
	CHECK(actions > (size_t)rounds);
	CHECK(!oneway ? pairs > 0 : 1);
	model_free(&m);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "both";
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	unsigned long long seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
	for (unsigned long long k = 0; k < 3 && !test_failures_; k++)
		run(mode, rounds, seed ? seed : 0x9e3779b97f4a7c15ull * (k + 1));
	return test_done();
}
