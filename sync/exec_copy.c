/*
 * exec_copy.c — the executor's copies and what they depend on: intents
 * left by an interrupted run resolved before anything else (I5), messages
 * copied in batches, each body streamed from one store into the other
 * (never whole in memory) under I1-I4 with one group commit per batch, and
 * the fingerprints (Message-ID, Date, size) that pair unpaired messages
 * and find an upload a crash may have left on the server. Owns the
 * transfer state of one batch.
 */
#include "exec_int.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_store.h"
#include "lib/banned.h"

#define DEF_BATCH_MSGS 500 /* per group commit (MAILFERRY_TEST_BATCH overrides) */
#define DEF_BATCH_BYTES ((uint64_t)64 << 20)
#define HDR_MAX (64 * 1024)

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int exec_header_fields(const char *hdr, size_t n, struct buf *msgid, struct buf *date)
{
	buf_reset(msgid);
	buf_reset(date);
	if (store_header_field(hdr, n, "Message-ID", msgid) < 0 ||
	    store_header_field(hdr, n, "Date", date) < 0)
		return -1;
	return 0;
}

static int msg_fingerprint(struct store *s, const struct store_msg *m, unsigned char fp[32],
			   struct err *e)
{
	struct buf id = BUF_INIT(HDR_MAX), date = BUF_INIT(HDR_MAX);
	int rc = s->ops->headers(s, m->key, &id, &date, e);
	if (rc == 0)
		store_fingerprint(id.data, date.data, m->size, m->idate, fp);
	buf_release(&id);
	buf_release(&date);
	return rc;
}
/* ------------------------------------------------------------ I5: unfinished intents */

struct fpcache {
	int done;
	int ok;
	unsigned char fp[32];
};

static int fp_of(struct exec *x, int side, const struct store_msg *m, struct fpcache *c)
{
	struct err e;
	if (!c->done) {
		c->done = 1;
		c->ok = msg_fingerprint(x->s[side], m, c->fp, &e) == 0;
		if (!c->ok && err_is_temporary(&e))
			return -1;
	}
	return 0;
}

static const struct store_msg *find_msg(const struct store_listing *ls, const char *key)
{
	if (!key)
		return NULL;
	for (size_t i = 0; i < ls->n; i++)
		if (!strcmp(ls->msgs[i].key, key))
			return &ls->msgs[i];
	return NULL;
}

/* Look for the result of one unfinished copy on its destination. */
static int resolve_copy(struct exec *x, struct boxrun *b, const struct journal_intent *in,
			struct fpcache *cache[2], char *used, struct err *e)
{
	int dst = in->side, src = !in->side;
	const struct store_listing *dl = &b->sd[dst].ls;
	const char *skey = src == SIDE_REMOTE ? in->rkey : in->lkey;
	unsigned char sfp[32];
	int have_sfp = 0;

	if (in->has_fp) {
		memcpy(sfp, in->fp, 32);
		have_sfp = 1;
	}
	for (size_t i = 0; i < dl->n; i++) {
		const struct store_msg *m = &dl->msgs[i];
		if (used[i] || keyset_has(&b->paired[dst], m->key))
			continue;
		if (in->size && m->size && m->size != in->size)
			continue;
		if (dst == SIDE_REMOTE && in->uidnext && m->uid && m->uid < in->uidnext)
			continue;
		if (!have_sfp) {
			const struct store_msg *sm = find_msg(&b->sd[src].ls, skey);
			if (!sm)
				return 0; /* the source is gone: nothing to tell it by */
			if (msg_fingerprint(x->s[src], sm, sfp, e) < 0)
				return err_is_temporary(e) ? -1 : 0;
			have_sfp = 1;
		}
		if (fp_of(x, dst, m, &cache[dst][i]) < 0)
			return -1;
		if (!cache[dst][i].ok || memcmp(cache[dst][i].fp, sfp, 32) != 0)
			continue;
		/* Found: the copy arrived before the crash. Pair it. */
		struct journal_pair p;
		memset(&p, 0, sizeof p);
		p.box_id = b->jb.id;
		p.rkey = (char *)(dst == SIDE_REMOTE ? m->key : skey);
		p.lkey = (char *)(dst == SIDE_LOCAL ? m->key : skey);
		flagset_init(&p.base);
		if (in->data)
			flagset_parse(&p.base, in->data);
		p.size = in->size ? in->size : m->size;
		p.idate = in->idate;
		p.has_fp = 1;
		memcpy(p.fp, sfp, 32);
		int rc = journal_pair_put(x->j, &p, e);
		flagset_free(&p.base);
		if (jcheck(x, rc, e) < 0)
			return -1;
		used[i] = 1;
		x->st->recovered++;
		xlog(x, EXEC_LOG_ACTION, "%s: recovered copy of %s %s as %s", box_name(b, dst),
		     side_name(src), skey ? skey : "?", m->key);
		return 0;
	}
	return 0;
}

int resolve_intents(struct exec *x, const struct journal_box *jb, struct err *e)
{
	struct journal_intent *iv = NULL;
	size_t n = 0;
	int need_stores = 0, rc = -1;
	struct boxrun b;
	struct fpcache *cache[2] = { NULL, NULL };
	char *used = NULL;

	memset(&b, 0, sizeof b);
	if (jcheck(x, journal_intents(x->j, jb->id, &iv, &n, e), e) < 0)
		return -1;
	if (n == 0)
		return 0;
	b.jb.id = jb->id;
	b.jb.rname = mf_strdup(jb->rname);
	b.jb.lname = mf_strdup(jb->lname);
	for (size_t i = 0; i < n; i++)
		if (iv[i].op == INTENT_DOWNLOAD || iv[i].op == INTENT_UPLOAD)
			need_stores = 1;
	if (need_stores) {
		if (open_boxes(x, &b, 0, e) < 0) {
			if (err_is_temporary(e))
				goto out;
			/* A mailbox that cannot be opened holds no result to find. */
			xlog(x, EXEC_LOG_TRACE, "%s", e->msg);
			need_stores = 0;
		} else if (list_side(x, &b, SIDE_REMOTE, NULL, e) < 0 ||
			   list_side(x, &b, SIDE_LOCAL, NULL, e) < 0 || load_pairs(x, &b, e) < 0) {
			goto out;
		}
	}
	for (int s = 0; s < 2; s++)
		cache[s] = mf_calloc(b.sd[s].ls.n + 1, sizeof *cache[s]);
	used = mf_calloc(b.sd[SIDE_REMOTE].ls.n + b.sd[SIDE_LOCAL].ls.n + 2, 1);
	if (jbegin(x) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct journal_intent *in = &iv[i];
		if (need_stores && (in->op == INTENT_DOWNLOAD || in->op == INTENT_UPLOAD)) {
			char *u = used + (in->side == SIDE_LOCAL ? b.sd[SIDE_REMOTE].ls.n + 1 : 0);
			if (resolve_copy(x, &b, in, cache, u, e) < 0) {
				jrollback(x);
				goto out;
			}
		}
		if (jcheck(x, journal_intent_clear(x->j, in->id, e), e) < 0) {
			jrollback(x);
			goto out;
		}
	}
	if (jcommit(x) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0 && x->jfail)
		*e = x->jerr;
	free(cache[0]);
	free(cache[1]);
	free(used);
	boxrun_free(&b);
	journal_intents_free(iv, n);
	return rc;
}

/* ------------------------------------------------------------ copies (I1-I4) */

struct xfer_item {
	const struct plan_action *a;
	int64_t intent_id;
	char *newkey;
	int sent;       /* append_end(ok) accepted it */
	int failed;
	int gone;       /* failed because the source no longer has it (ERR_GONE) */
	char *why;      /* the first error, for the report (owned) */
	int has_fp;
	unsigned char fp[32];
};

struct xfer {
	struct exec *x;
	struct boxrun *b;
	int dst;
	struct xfer_item *items;
	size_t n, hint;
	struct xfer_item *cur;
	struct store_writer *w;
	uint64_t size, written;
	struct buf hdr;
	int hdr_done;
};

/* The first error of an item is the one reported. */
static void why_set(struct xfer_item *it, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void why_set(struct xfer_item *it, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;
	if (it->why)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	it->why = mf_strdup(msg);
}

static void xfer_appended(void *ctx, const char *key, const struct err *e)
{
	struct xfer_item *it = ctx;
	if (e && e->cls != ERR_NONE) {
		it->failed = 1;
		why_set(it, "%s", e->msg);
		return;
	}
	if (key) {
		free(it->newkey);
		it->newkey = mf_strdup(key);
	}
}

static struct xfer_item *xfer_find(struct xfer *t, const char *key)
{
	for (size_t k = 0; k < t->n; k++) {
		size_t i = (t->hint + k) % t->n;
		if (!strcmp(t->items[i].a->key, key)) {
			t->hint = i + 1;
			return &t->items[i];
		}
	}
	return NULL;
}

static int sink_begin(void *ctx, const struct store_msg *meta, struct err *e)
{
	struct xfer *t = ctx;
	struct store *d = t->x->s[t->dst];
	struct xfer_item *it = xfer_find(t, meta->key);
	if (!it)
		return err_set(e, ERR_PROTO, "unexpected message '%s' in fetch", meta->key);
	t->cur = it;
	t->size = meta->size ? meta->size : it->a->size;
	t->written = 0;
	buf_reset(&t->hdr);
	t->hdr_done = 0;
	int64_t idate = it->a->idate >= 0 ? it->a->idate : meta->idate;
	if (d->ops->append_begin(d, &it->a->flags, idate, t->size, &t->w, e) < 0) {
		t->w = NULL;
		it->failed = 1;
		why_set(it, "%s", e->msg);
		return -1;
	}
	return 0;
}

static void hdr_feed(struct xfer *t, const char *data, size_t n)
{
	if (t->hdr_done)
		return;
	size_t old = t->hdr.len;
	size_t take = n;
	if (old + take > HDR_MAX)
		take = HDR_MAX - old;
	if (buf_add(&t->hdr, data, take) < 0 || t->hdr.len >= HDR_MAX) {
		t->hdr_done = 1;
		return;
	}
	size_t from = old >= 3 ? old - 3 : 0;
	for (size_t i = from; i + 1 < t->hdr.len; i++) {
		if (t->hdr.data[i] == '\n' &&
		    (t->hdr.data[i + 1] == '\n' ||
		     (t->hdr.data[i + 1] == '\r' && i + 2 < t->hdr.len && t->hdr.data[i + 2] == '\n'))) {
			t->hdr_done = 1;
			return;
		}
	}
}

static int sink_write(void *ctx, const void *data, size_t n, struct err *e)
{
	struct xfer *t = ctx;
	struct exec *x = t->x;
	if (!t->w)
		return err_set(e, ERR_PROTO, "message data without a message");
	if (t->written + n > t->size)
		return err_set(e, ERR_PROTO, "message '%s' longer than its size %llu",
			       t->cur->a->key, (unsigned long long)t->size);
	hdr_feed(t, data, n);
	if (t->x->s[t->dst]->ops->append_write(t->w, data, n, e) < 0)
		return -1;
	t->written += n;
	x->msg_bytes += n;
	x->st->dir[t->dst].bytes += n;
	if (x->o->kill_after_bytes && x->msg_bytes >= x->o->kill_after_bytes)
		raise(SIGKILL); /* test switch: a crash at a random moment */
	return 0;
}

static int sink_end(void *ctx, int ok, struct err *e)
{
	struct xfer *t = ctx;
	struct xfer_item *it = t->cur;
	int rc = 0;
	if (!it)
		return 0;
	if (t->w) {
		if (ok && t->written != t->size) {
			ok = 0;
			why_set(it, "got %llu bytes of %llu", (unsigned long long)t->written,
				(unsigned long long)t->size);
		}
		if (!ok)
			why_set(it, "%s", e && e->msg[0] ? e->msg : "fetch failed");
		rc = t->x->s[t->dst]->ops->append_end(t->w, ok, xfer_appended, it, e);
		if (rc < 0)
			why_set(it, "%s", e->msg);
		t->w = NULL;
		if (rc == 0 && ok) {
			it->sent = 1;
			if (!it->a->has_fp) {
				struct buf id = BUF_INIT(HDR_MAX), date = BUF_INIT(HDR_MAX);
				if (exec_header_fields(t->hdr.data, t->hdr.len, &id, &date) == 0) {
					store_fingerprint(id.data, date.data, t->size, it->a->idate, it->fp);
					it->has_fp = 1;
				}
				buf_release(&id);
				buf_release(&date);
			}
		} else {
			it->failed = 1;
		}
	} else {
		it->failed = 1;
	}
	if (!ok && e && e->cls == ERR_GONE)
		it->gone = 1;
	t->cur = NULL;
	return rc;
}

/* Record the outcome of one delivered copy (inside the I4 transaction). */
static int copy_commit(struct exec *x, struct boxrun *b, int dst, struct xfer_item *it,
		       struct err *e)
{
	const struct plan_action *a = it->a;
	struct journal_pair p, *old = a->pair_id ? pair_by_id(b, a->pair_id) : NULL;
	memset(&p, 0, sizeof p);
	if (old) {
		p = *old;
		if (dst == SIDE_REMOTE)
			p.rkey = it->newkey;
		else
			p.lkey = it->newkey;
	} else {
		p.box_id = b->jb.id;
		p.rkey = dst == SIDE_REMOTE ? it->newkey : a->key;
		p.lkey = dst == SIDE_LOCAL ? it->newkey : a->key;
		p.size = a->size;
		p.idate = a->idate;
	}
	p.base = a->flags;
	if (a->has_fp) {
		p.has_fp = 1;
		memcpy(p.fp, a->fp, 32);
	} else if (it->has_fp) {
		p.has_fp = 1;
		memcpy(p.fp, it->fp, 32);
	}
	/* p borrows everything; journal_pair_put copies what it keeps */
	if (jcheck(x, journal_pair_put(x->j, &p, e), e) < 0)
		return -1;
	return jcheck(x, journal_intent_clear(x->j, it->intent_id, e), e);
}

/* One batch of copies to `dst`: I1 intents, I2 stream, I3 flush, I4 commit;
 * with preopen, the next mailbox is selected ahead once it is fetched. */
static int copy_batch(struct exec *x, struct boxrun *b, int dst, const struct plan_action **av,
		      size_t n, int preopen, struct err *e)
{
	int src = !dst, rc = -1;
	struct xfer t;
	const char **keys = mf_reallocarray(NULL, n, sizeof *keys);
	memset(&t, 0, sizeof t);
	t.x = x;
	t.b = b;
	t.dst = dst;
	t.n = n;
	t.items = mf_calloc(n, sizeof *t.items);
	buf_init(&t.hdr, HDR_MAX);

	/* I1 */
	if (jbegin(x) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct plan_action *a = av[i];
		struct journal_intent in;
		memset(&in, 0, sizeof in);
		in.box_id = b->jb.id;
		in.op = dst == SIDE_LOCAL ? INTENT_DOWNLOAD : INTENT_UPLOAD;
		in.side = dst;
		in.rkey = src == SIDE_REMOTE ? a->key : NULL;
		in.lkey = src == SIDE_LOCAL ? a->key : NULL;
		in.pair_id = a->pair_id;
		in.uidnext = dst == SIDE_REMOTE ? b->sd[SIDE_REMOTE].st.uidnext : 0;
		in.size = a->size;
		in.idate = a->idate;
		in.has_fp = a->has_fp;
		memcpy(in.fp, a->fp, 32);
		in.data = flags_text(&a->flags);
		int r = journal_intent_add(x->j, &in, e);
		free(in.data);
		if (jcheck(x, r, e) < 0) {
			jrollback(x);
			goto out;
		}
		t.items[i].a = a;
		t.items[i].intent_id = in.id;
		keys[i] = a->key;
	}
	if (jcommit(x) < 0)
		goto out;

	/* I2 */
	struct store_sink sink = { sink_begin, sink_write, sink_end, &t };
	if (x->s[src]->ops->fetch(x->s[src], keys, n, &sink, e) < 0) {
		if (t.w) {
			struct err e2;
			x->s[dst]->ops->append_end(t.w, 0, xfer_appended, t.cur, &e2);
			t.w = NULL;
		}
		if (err_is_temporary(e))
			goto out;
		/* a permanent failure of the fetch as a whole: the items not
		 * delivered count as errors below */
		xlog(x, EXEC_LOG_ERROR, "%s: fetching from %s: %s", box_name(b, src),
		     side_name(src), e->msg);
	}
	if (preopen)
		preopen_next(x);
	/* I3 */
	if (x->s[dst]->ops->flush(x->s[dst], e) < 0) {
		err_prefix(e, "%s mailbox '%s'", side_name(dst), box_name(b, dst));
		goto out;
	}
	flushed(x);
	/* I4 */
	if (jbegin(x) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct xfer_item *it = &t.items[i];
		if (it->sent && !it->failed) {
			x->st->dir[dst].copied++;
			/* Without a new key (no UIDPLUS) the intent stays: the
			 * next run finds the message by fingerprint (I5). */
			if (it->newkey && copy_commit(x, b, dst, it, e) < 0) {
				jrollback(x);
				goto out;
			}
		} else if (it->gone) {
			/* expunged (or deleted locally) since it was listed: not an
			 * error, nothing to copy; its intent resolves next run (I5) */
			x->st->dir[dst].skipped++;
			xlog(x, EXEC_LOG_ACTION, "%s: %s message %s is gone, not copied",
			     box_name(b, dst), side_name(src), it->a->key);
		} else {
			x->st->dir[dst].errors++;
			b->errors++;
			xlog(x, EXEC_LOG_ERROR, "%s: cannot copy %s message %s: %s", box_name(b, dst),
			     side_name(src), it->a->key, it->why ? it->why : "not delivered");
		}
	}
	if (jdefer(x) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++) {
		free(t.items[i].newkey);
		free(t.items[i].why);
	}
	free(t.items);
	free(keys);
	buf_release(&t.hdr);
	return rc;
}

/* Copies of p to dst in batches; with preopen, the next mailbox is
 * selected ahead once the last batch is fetched (preopen_next). */
int do_copies(struct exec *x, struct boxrun *b, const struct plan *p, int dst,
	      int preopen, struct err *e)
{
	unsigned maxn = x->o->batch_msgs ? x->o->batch_msgs : DEF_BATCH_MSGS;
	uint64_t maxb = x->o->batch_bytes ? x->o->batch_bytes : DEF_BATCH_BYTES;
	const struct plan_action **av = mf_reallocarray(NULL, p->n ? p->n : 1, sizeof *av);
	size_t n = 0, done = 0, total = p->counts.copy[dst];
	uint64_t bytes = 0;
	int rc = 0;
	for (size_t i = 0; i <= p->n && rc == 0; i++) {
		const struct plan_action *a = i < p->n ? &p->v[i] : NULL;
		if (a && (a->op != PLAN_COPY || (int)a->side != dst))
			continue;
		if (n && (!a || n >= maxn || bytes + a->size > maxb)) {
			rc = copy_batch(x, b, dst, av, n, preopen && !a, e);
			done += n;
			if (total > n) /* a long transfer shows how far it got */
				xlog(x, EXEC_LOG_PROGRESS, "%s: %zu of %zu copied to %s", box_name(b, dst),
				     done, total, side_name(dst));
			n = 0;
			bytes = 0;
		}
		if (a) {
			av[n++] = a;
			bytes += a->size;
		}
	}
	free(av);
	return rc;
}

/* ------------------------------------------------------------ fingerprints */

/* Messages of one side whose fingerprints are wanted: indices into the
 * listing, sorted by key for the batch callback. */
struct fp_want {
	struct plan_msg *pm;
	const struct store_msg *msgs;
	size_t *idx;
	size_t n;
};

static int fp_batch_cb(void *ctx, const char *key, const char *msgid, const char *date,
		       struct err *e)
{
	const struct fp_want *w = ctx;
	(void)e;
	/* keys are decimal UIDs, idx is in listing order (ascending UID) */
	size_t lo = 0, hi = w->n;
	unsigned long k = strtoul(key, NULL, 10);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct store_msg *m = &w->msgs[w->idx[mid]];
		if (m->uid == k) {
			store_fingerprint(msgid, date, m->size, m->idate, w->pm[w->idx[mid]].fp);
			w->pm[w->idx[mid]].has_fp = 1;
			return 0;
		}
		if (m->uid < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < w->n; i++) /* not in UID order after all */
		if (!strcmp(w->msgs[w->idx[i]].key, key)) {
			const struct store_msg *m = &w->msgs[w->idx[i]];
			store_fingerprint(msgid, date, m->size, m->idate, w->pm[w->idx[i]].fp);
			w->pm[w->idx[i]].has_fp = 1;
		}
	return 0;
}

/* Fingerprints of the wanted messages: one pipelined batch on IMAP, one
 * header read per message elsewhere. A message that vanished meanwhile
 * simply gets none (it pairs by key or not at all). */
static int fps_of(struct store *st, struct fp_want *w, struct err *e)
{
	if (!w->n)
		return 0;
	if (!strcmp(st->ops->type, "imap")) {
		const char **keys = mf_reallocarray(NULL, w->n, sizeof *keys);
		for (size_t i = 0; i < w->n; i++)
			keys[i] = w->msgs[w->idx[i]].key;
		int rc = imap_store_headers_many(st, keys, w->n, fp_batch_cb, w, e);
		free(keys);
		return rc;
	}
	for (size_t i = 0; i < w->n; i++) {
		const struct store_msg *m = &w->msgs[w->idx[i]];
		if (msg_fingerprint(st, m, w->pm[w->idx[i]].fp, e) < 0) {
			if (err_is_temporary(e))
				return -1;
			continue;
		}
		w->pm[w->idx[i]].has_fp = 1;
	}
	return 0;
}

/* Fingerprints for messages that keys cannot pair: computed only when both
 * sides hold unpaired messages (or a side's keys are void), and only for
 * sizes that occur on the other side, since the size is part of the print. */
int compute_fps(struct exec *x, struct boxrun *b, struct err *e)
{
	size_t nun[2] = { 0, 0 };
	uint64_t *sizes[2];
	int rc = -1;

	for (int s = 0; s < 2; s++) {
		const struct store_listing *ls = &b->sd[s].ls;
		sizes[s] = mf_reallocarray(NULL, ls->n + b->npairs + 1, sizeof *sizes[s]);
		for (size_t i = 0; i < ls->n; i++)
			if (b->keys_invalid[s] || !keyset_has(&b->paired[s], ls->msgs[i].key))
				sizes[s][nun[s]++] = ls->msgs[i].size;
	}
	if (!(nun[0] && nun[1]) && !b->keys_invalid[0] && !b->keys_invalid[1]) {
		rc = 0;
		goto out;
	}
	/* a side whose keys are void is matched against the journal's prints */
	for (int s = 0; s < 2; s++)
		if (b->keys_invalid[!s])
			for (size_t i = 0; i < b->npairs; i++)
				sizes[s][nun[s]++] = b->pairs[i].size;
	for (int s = 0; s < 2; s++)
		qsort(sizes[s], nun[s], sizeof *sizes[s], cmp_u64);
	for (int s = 0; s < 2; s++) {
		const struct store_listing *ls = &b->sd[s].ls;
		struct fp_want w = { b->sd[s].pm, ls->msgs, NULL, 0 };
		w.idx = mf_reallocarray(NULL, ls->n + 1, sizeof *w.idx);
		for (size_t i = 0; i < ls->n; i++) {
			const struct store_msg *m = &ls->msgs[i];
			if (!b->keys_invalid[s] && keyset_has(&b->paired[s], m->key))
				continue;
			if (!bsearch(&m->size, sizes[!s], nun[!s], sizeof *sizes[!s], cmp_u64))
				continue;
			w.idx[w.n++] = i;
		}
		int r = fps_of(x->s[s], &w, e);
		free(w.idx);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	free(sizes[0]);
	free(sizes[1]);
	return rc;
}
