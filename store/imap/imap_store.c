/*
 * imap_store.c — the IMAP driver of store.h over one imap_client session.
 * Owns the client, the name of the selected mailbox, the appends in flight
 * and the first error of pipelined writes (reported by flush()).
 *
 * RFCs: 3501 (IMAP4rev1), 4315 (UIDPLUS), 7162 (CONDSTORE/QRESYNC),
 * 5819 (LIST-STATUS), 6154 (SPECIAL-USE), 7888 (LITERAL+), 3502 (MULTIAPPEND).
 *
 * Design
 *  - Reads (list_boxes, list_msgs, headers) are synchronous from the
 *    caller's point of view but pipelined inside: every command of a batch
 *    is submitted before the first answer is awaited.
 *  - Writes (append, set_flags, expunge) are submitted and handed to the
 *    client with imap_cmd_on_done(); their completion runs inside later
 *    client calls. A failed write is remembered in `deferred` and returned
 *    by the next flush(), so the executor commits its journal only after
 *    every write has been acknowledged.
 *  - fetch maps sequence numbers to UIDs first (see the comment above
 *    imap_fetch), because the client announces a body literal with its
 *    sequence number only and the sink must know the key in begin().
 */
#include "imap_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imap/imap_uidset.h"
#include "imap/imap_utf7.h"
#include "lib/order.h"
#include "lib/banned.h"

#define UIDSET_MAX_LEN 1000      /* bytes of one UID set in a command */
#define APPEND_MEM_MAX (1u << 20) /* larger appends are spooled to a file */
#define HDR_MAX ((size_t)64 << 10)
#define BATCH_MAX_MSGS 100        /* messages per MULTIAPPEND */
/* Queued messages are held in memory until their command is written (then
 * sent_data frees them): small, so that an upload does not lift the
 * process's peak. */
#define BATCH_MAX_BYTES (512u << 10) /* bytes held for one MULTIAPPEND */
#define INFLIGHT_MAX_BYTES (2u << 20) /* append data awaiting answers */

struct imap_store {
	struct store base;
	struct imap_client *c;
	char *host;
	unsigned nocap;
	char delim;
	int enabled_done;
	int qresync;          /* QRESYNC enabled on the session */
	int condstore;        /* CONDSTORE usable */
	char *box;            /* selected mailbox, server form (UTF-8, server delim) */
	struct err deferred;  /* first failed pipelined write */
	unsigned ndeferred;
	struct store_writer *pending; /* appends queued or submitted, not answered */
	struct store_writer **queue;  /* appends waiting for one MULTIAPPEND */
	size_t nqueue, capqueue;
	uint64_t queue_bytes;
	uint64_t inflight_bytes;      /* append data held for commands in flight */
	/* changes the server reported during SELECT (QRESYNC), waiting for the
	 * list_msgs they answer; NULL when there are none (see open_box_since) */
	struct list_ctx *pre;
	struct store_since pre_since;
	uint32_t pre_shift;           /* expunge counter when SELECT returned */
	/* sequence numbers of the selected mailbox's messages as the last
	 * list_msgs saw them, sorted by seq; valid while the client has seen
	 * no expunge since (`known_shift`). Saves fetch its UID-map pass. */
	struct seqmap *known;
	size_t nknown;
	uint32_t known_shift;
	/* names the last list_boxes left out (imap_store_refused_names) */
	char **refused;
	size_t nrefused;
	/* a SELECT sent and not waited for yet (select_send: by
	 * imap_store_preselect, or by open_box just before it waits): its
	 * handle, the arguments it was sent with, where its QRESYNC changes
	 * go (the handler must live until the command completes) */
	struct imap_cmd *presel;
	char *presel_box;             /* server form */
	int presel_ro;
	int presel_has_since;
	struct store_since presel_since;
	struct list_ctx *presel_pre;
	struct imap_fetch_handler presel_h;
};

struct seqmap {
	uint32_t seq, uid;
};

static int submit_queue(struct imap_store *s, struct err *e);
static void pre_drop(struct imap_store *s);
static void presel_settle(struct imap_store *s);

/* EXPUNGE and VANISHED (not EARLIER ones: those shift nothing, but the
 * count may include them; a spurious change only costs a map pass). */
static uint32_t shift_count(const struct imap_store *s)
{
	const struct imap_mailbox *mb = imap_client_mailbox(s->c);
	return mb->expunged + mb->vanished;
}

static int cmp_seqmap(const void *a, const void *b);

static void known_drop(struct imap_store *s)
{
	free(s->known);
	s->known = NULL;
	s->nknown = 0;
}

struct store_writer {
	struct imap_store *s;
	struct store_writer *next, *prev;
	char *box;
	char *flags;
	int64_t idate;
	uint64_t size, written, rpos;
	struct buf mem;
	int fd;                        /* spool file when size > APPEND_MEM_MAX */
	int submitted;                 /* counted in inflight_bytes */
	struct imap_append_msg msg;
	struct imap_uidmap map;
	store_append_cb *cb;
	void *cb_ctx;
};

static struct imap_store *S(struct store *s)
{
	return (struct imap_store *)s;
}

static int has_cap(struct imap_store *s, const char *cap)
{
	if ((s->nocap & IMAP_STORE_NO_LIST_STATUS) && !strcasecmp(cap, "LIST-STATUS"))
		return 0;
	if ((s->nocap & (IMAP_STORE_NO_QRESYNC | IMAP_STORE_NO_CONDSTORE)) &&
	    !strcasecmp(cap, "QRESYNC"))
		return 0;
	if ((s->nocap & IMAP_STORE_NO_CONDSTORE) && !strcasecmp(cap, "CONDSTORE"))
		return 0;
	if ((s->nocap & IMAP_STORE_NO_UIDPLUS) && !strcasecmp(cap, "UIDPLUS"))
		return 0;
	if ((s->nocap & IMAP_STORE_NO_MULTIAPPEND) && !strcasecmp(cap, "MULTIAPPEND"))
		return 0;
	return imap_client_has_cap(s->c, cap);
}

/* A pipelined write failed: keep the first error for flush(). */
static void defer_error(struct imap_store *s, const struct err *e)
{
	if (s->ndeferred++ == 0)
		s->deferred = *e;
}

static void deferred_done(void *ctx, const struct err *e)
{
	if (e)
		defer_error(ctx, e);
}

/* ------------------------------------------------------------------ */
/* Names and keys                                                       */

int imap_store_name_to_server(const char *name, char delim, struct buf *out, struct err *e)
{
	buf_reset(out);
	if (!*name)
		return err_set(e, ERR_USAGE, "empty mailbox name");
	if (delim != '/' && delim && strchr(name, delim))
		return err_set(e, ERR_USAGE, "mailbox name '%s' holds the server's hierarchy "
			       "delimiter '%c'", name, delim);
	if (!delim && strchr(name, '/'))
		return err_set(e, ERR_USAGE, "mailbox name '%s' has a '/' but the server has no "
			       "hierarchy", name);
	for (const char *p = name; *p; p++)
		if (buf_addch(out, *p == '/' && delim ? delim : *p) < 0)
			return err_set(e, ERR_LIMIT, "mailbox name too long");
	return 0;
}

int imap_store_name_from_server(const char *name, char delim, struct buf *out, struct err *e)
{
	buf_reset(out);
	if (delim != '/' && strchr(name, '/'))
		return err_set(e, ERR_USAGE, "server mailbox '%s' holds a '/', which is not its "
			       "hierarchy delimiter", name);
	for (const char *p = name; *p; p++)
		if (buf_addch(out, delim && *p == delim ? '/' : *p) < 0)
			return err_set(e, ERR_LIMIT, "mailbox name too long");
	return 0;
}

static int to_server(struct imap_store *s, const char *name, struct buf *out, struct err *e)
{
	return imap_store_name_to_server(name, s->delim, out, e);
}

static int parse_key(const char *key, uint32_t *uid_r)
{
	uint64_t v = 0;
	if (!key || !*key || *key == '0')
		return -1;
	for (const char *p = key; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*uid_r = (uint32_t)v;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Keys to a sorted, duplicate-free UID array; bad keys are skipped. */
static uint32_t *keys_to_uids(const char *const *keys, size_t n, size_t *n_r)
{
	uint32_t *v = mf_reallocarray(NULL, n ? n : 1, sizeof *v);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (parse_key(keys[i], &v[m]) == 0)
			m++;
	qsort(v, m, sizeof *v, cmp_u32);
	size_t k = 0;
	for (size_t i = 0; i < m; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	*n_r = k;
	return v;
}

static int require_box(struct imap_store *s, const char *what, struct err *e)
{
	if (!s->box || imap_client_state(s->c) != IMAP_STATE_SELECTED)
		return err_set(e, ERR_USAGE, "%s: no mailbox open", what);
	return 0;
}

/* ------------------------------------------------------------------ */
/* list_boxes                                                           */

static unsigned status_items(struct imap_store *s)
{
	unsigned items = IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT | IMAP_STATUS_UIDVALIDITY;
	if (s->nocap & IMAP_STORE_WANT_UNSEEN)
		items |= IMAP_STATUS_UNSEEN;
	if (has_cap(s, "CONDSTORE"))
		items |= IMAP_STATUS_HIGHESTMODSEQ;
	return items;
}

static void fill_status(struct store_box *b, const struct imap_mbox_status *st, int condstore)
{
	b->has_status = 1;
	b->messages = st->messages;
	b->unseen = st->unseen;
	b->uidnext = st->uidnext;
	b->uidvalidity = st->uidvalidity;
	b->highestmodseq = (st->items & IMAP_STATUS_HIGHESTMODSEQ) ? st->highestmodseq : 0;
	if (b->uidvalidity)
		snprintf(b->ident, sizeof b->ident, "uv:%" PRIu32, b->uidvalidity);
	/* Without CONDSTORE a flag change leaves every counter as it was, so
	 * there is no honest cheap marker. */
	if (condstore && b->highestmodseq)
		snprintf(b->marker, sizeof b->marker, "%" PRIu32 ".%" PRIu32 ".%" PRIu32 ".%" PRIu64,
			 b->uidvalidity, b->uidnext, b->messages, b->highestmodseq);
}

void imap_status_split(const uint64_t *w, size_t n, const uint64_t start[2],
		       unsigned char *side_r)
{
	size_t *o = mf_calloc(n ? n : 1, sizeof *o);
	order_heaviest_first(w, n, o);
	/* +1 a mailbox: a STATUS costs a round of work even when empty */
	uint64_t load[2] = { start ? start[0] : 0, start ? start[1] : 0 };
	for (size_t k = 0; k < n; k++) {
		int side = load[1] < load[0];
		side_r[o[k]] = (unsigned char)side;
		load[side] += w[o[k]] + 1;
	}
	free(o);
}

static int is_inbox(const struct imap_box *b)
{
	return !b->bad_name && !strcasecmp(b->name, "INBOX");
}

/* A selectable mailbox LIST gave no status for. */
static int needs_status(const struct imap_box *b)
{
	return !(b->attrs & (BOX_NOSELECT | BOX_NONEXISTENT)) && !b->has_status;
}

/* The STATUS pass (status_batch). The first connection starts alone, a
 * few commands in flight, heaviest mailboxes first; the aide's connection,
 * whose login was started after the first one's, joins when it is in
 * (aide_fn says so, without waiting): the mailboxes not yet asked are then
 * split between both by imap_status_split and all sent at once. An
 * unchanged account is done before the aide is in, and never waits for it;
 * a changed one, whose STATUS make the server rescan folders, gets both. */
#define STATUS_WINDOW 4 /* in flight on the first connection alone */

struct status_pass {
	struct imap_store *s, *aide;
	imap_aide_fn *aide_fn;
	void *aide_ctx;
	char **utf8;
	unsigned items;
	size_t n;                      /* LIST entries */
	struct imap_mbox_status *st;   /* per entry */
	struct imap_cmd **cmds;        /* per entry, in flight */
	struct imap_store **on;        /* per entry: who was asked (NULL: nobody) */
	size_t *todo, ntodo, next;     /* entries to ask, heaviest first */
	uint64_t *w;                   /* per todo position */
	size_t *fifo, fhead, ftail;    /* entries in flight on s alone, in order */
	uint64_t *fw;                  /* their weights */
};

static int pass_send(struct status_pass *p, size_t i, struct imap_store *via, struct err *e)
{
	p->on[i] = via;
	int r = imap_status(via->c, p->utf8[i], p->items, &p->st[i], &p->cmds[i], e);
	return r < 0 && via == p->s ? -1 : 0; /* the aide's are asked again later */
}

/* The aide is in: split what is left between it and s (s keeps what it has
 * in flight, counted as its start), send it all. */
static int pass_share(struct status_pass *p, struct err *e)
{
	size_t k = p->ntodo - p->next;
	uint64_t start[2] = { 0, 0 };
	for (size_t f = p->fhead; f < p->ftail; f++)
		start[0] += p->fw[f] + 1;
	unsigned char *side = mf_calloc(k ? k : 1, 1);
	imap_status_split(p->w + p->next, k, start, side);
	int rc = 0;
	for (size_t j = 0; j < k && rc == 0; j++)
		rc = pass_send(p, p->todo[p->next + j], side[j] ? p->aide : p->s, e);
	p->next = p->ntodo;
	free(side);
	imap_client_flush(p->s->c); /* a failure shows in the waits */
	imap_client_flush(p->aide->c);
	return rc;
}

static void pass_try_aide(struct status_pass *p)
{
	if (p->aide || !p->aide_fn)
		return;
	struct store *a = p->aide_fn(p->aide_ctx);
	struct err ignored;
	if (a && !strcmp(a->ops->type, "imap") && submit_queue(S(a), &ignored) == 0)
		p->aide = S(a);
	if (a)
		p->aide_fn = NULL; /* asked once with an answer: no more */
}

/* Send and wait on s alone, a window at a time, until the aide is in or
 * every mailbox was asked. The waits leave their answers in cmds[]'s
 * place: a NULL command with on[] set means answered (st[i] filled) or
 * failed (on[i] set to NULL again after a failure on s). */
static int pass_alone(struct status_pass *p, struct err *e)
{
	while (p->next < p->ntodo || p->fhead < p->ftail) {
		pass_try_aide(p);
		if (p->aide && p->next < p->ntodo)
			return pass_share(p, e);
		while (p->next < p->ntodo && p->ftail - p->fhead < STATUS_WINDOW) {
			size_t i = p->todo[p->next];
			if (pass_send(p, i, p->s, e) < 0)
				return -1;
			p->fw[p->ftail] = p->w[p->next++];
			p->fifo[p->ftail++] = i;
		}
		imap_client_flush(p->s->c);
		if (p->fhead == p->ftail)
			break;
		size_t i = p->fifo[p->fhead];
		struct err e2;
		if (imap_cmd_wait(p->s->c, &p->cmds[i], &e2) < 0) {
			if (e2.cls != ERR_NOTFOUND) {
				*e = e2;
				return -1;
			}
			p->on[i] = NULL; /* deleted meanwhile: no status */
		}
		p->fhead++;
	}
	return 0;
}

/* STATUS for every selectable mailbox without LIST-STATUS data (see
 * struct status_pass). A mailbox deleted meanwhile keeps has_status = 0. */
static int status_batch(struct imap_store *s, imap_aide_fn *aide_fn, void *aide_ctx,
			imap_status_weight_fn *weight, void *wctx, const struct imap_boxlist *l,
			struct store_box *v, const size_t *map, char **utf8, struct err *e)
{
	size_t n = l->n, cap = n ? n : 1;
	struct status_pass p = {
		.s = s, .aide_fn = aide_fn, .aide_ctx = aide_ctx, .utf8 = utf8,
		.items = status_items(s), .n = n, .st = mf_calloc(cap, sizeof *p.st),
		.cmds = mf_calloc(cap, sizeof *p.cmds), .on = mf_calloc(cap, sizeof *p.on),
		.todo = mf_calloc(cap, sizeof *p.todo), .fifo = mf_calloc(cap, sizeof *p.fifo),
		.fw = mf_calloc(cap, sizeof *p.fw),
	};
	uint64_t *w = mf_calloc(cap, sizeof *w);
	size_t *at = mf_calloc(cap, sizeof *at), *o = mf_calloc(cap, sizeof *o);
	for (size_t i = 0; i < n; i++)
		if (map[i] != SIZE_MAX && needs_status(&l->v[i])) {
			w[p.ntodo] = weight ? weight(wctx, v[map[i]].name) : 0;
			at[p.ntodo++] = i;
		}
	order_heaviest_first(w, p.ntodo, o);
	p.w = mf_calloc(cap, sizeof *p.w);
	for (size_t j = 0; j < p.ntodo; j++) {
		p.todo[j] = at[o[j]];
		p.w[j] = w[o[j]];
	}
	free(w);
	free(at);
	free(o);
	int rc = pass_alone(&p, e);
	/* what is still in flight, on either connection, in LIST order */
	struct err e2;
	err_clear(&e2);
	for (size_t i = 0; i < n; i++) {
		if (!p.on[i])
			continue;
		int r = p.cmds[i] ? imap_cmd_wait(p.on[i]->c, &p.cmds[i], &e2) : 0;
		if (r < 0 && p.on[i] == p.aide && rc == 0) /* ask again where it matters */
			r = imap_status(s->c, utf8[i], p.items, &p.st[i], NULL, &e2);
		if (r < 0) {
			if (e2.cls == ERR_NOTFOUND || rc < 0)
				continue;
			*e = e2;
			rc = -1;
			continue;
		}
		if (rc == 0)
			fill_status(&v[map[i]], &p.st[i], s->condstore || has_cap(s, "CONDSTORE"));
	}
	free(p.st);
	free(p.cmds);
	free(p.on);
	free(p.todo);
	free(p.fifo);
	free(p.fw);
	free(p.w);
	return rc;
}

static void refused_drop(struct imap_store *s)
{
	for (size_t i = 0; i < s->nrefused; i++)
		free(s->refused[i]);
	free(s->refused);
	s->refused = NULL;
	s->nrefused = 0;
}

/* Keep a left-out name for the caller's warning, as on the wire, with
 * control characters and non-ASCII bytes shown as '?' (it goes to a log). */
static void refused_add(struct imap_store *s, const char *raw)
{
	char *t = mf_strdup(raw);
	for (char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	s->refused = mf_reallocarray(s->refused, s->nrefused + 1, sizeof *s->refused);
	s->refused[s->nrefused++] = t;
}

size_t imap_store_refused_names(struct store *st, const char *const **v_r)
{
	struct imap_store *s = S(st);
	*v_r = (const char *const *)s->refused;
	return s->nrefused;
}

/* INBOX's STATUS asked as the session's first mailbox command. Dovecot
 * answers it then from its mailbox list index (~1 ms for a 21,000-message
 * Maildir INBOX); once LIST or a STATUS of another mailbox has loaded that
 * index in the session, the same STATUS opens INBOX and reads its whole
 * uidlist (~20 ms), every time. So st asks it ahead of its LIST (unless
 * LIST-STATUS answers all at once). Every server has an INBOX (RFC 3501), so the question is never wasted;
 * a NO just leaves it to the STATUS pass. */
struct early_inbox {
	struct imap_cmd *cmd;
	unsigned items;
	struct imap_mbox_status st;
};

static void early_inbox_send(struct imap_store *s, int want, struct early_inbox *ei)
{
	struct err ignored;
	memset(ei, 0, sizeof *ei);
	ei->items = status_items(s);
	if (want && imap_status(s->c, "INBOX", ei->items, &ei->st, &ei->cmd, &ignored) < 0)
		ei->cmd = NULL;
}

/* The answer goes to the LIST entry for INBOX, as if LIST-STATUS had
 * given it. */
static void early_inbox_take(struct imap_store *s, struct early_inbox *ei,
			     struct imap_boxlist *l)
{
	struct err ignored;
	if (!ei->cmd || imap_cmd_wait(s->c, &ei->cmd, &ignored) < 0 ||
	    (ei->st.items & ei->items) != ei->items)
		return;
	for (size_t i = 0; i < l->n; i++) {
		struct imap_box *b = &l->v[i];
		if (!is_inbox(b) || !needs_status(b))
			continue;
		b->status = ei->st;
		b->has_status = 1;
		return;
	}
}

static int list_boxes(struct imap_store *s, imap_aide_fn *aide_fn, void *aide_ctx,
		      imap_status_weight_fn *weight, void *wctx, struct store_box **boxes_r,
		      size_t *n_r, struct err *e)
{
	presel_settle(s);
	if (submit_queue(s, e) < 0)
		return -1;
	struct imap_boxlist l = { 0 };
	/* with an aide coming, plain STATUS: those can be shared */
	unsigned items = has_cap(s, "LIST-STATUS") && !aide_fn ? status_items(s) : 0;
	*boxes_r = NULL;
	*n_r = 0;
	refused_drop(s);
	struct early_inbox ei;
	early_inbox_send(s, !items, &ei);
	int lrc = imap_list(s->c, "", "*", IMAP_LIST_SPECIAL_USE, items, &l, NULL, e);
	early_inbox_take(s, &ei, &l);
	if (lrc < 0)
		return -1;
	struct store_box *v = mf_calloc(l.n ? l.n : 1, sizeof *v);
	size_t *map = mf_calloc(l.n ? l.n : 1, sizeof *map);
	char **utf8 = mf_calloc(l.n ? l.n : 1, sizeof *utf8); /* server form, UTF-8 */
	size_t n = 0;
	struct buf name = BUF_INIT(4096), raw = BUF_INIT(4096);
	struct err ignored;
	int condstore = has_cap(s, "CONDSTORE");
	for (size_t i = 0; i < l.n; i++) {
		const struct imap_box *b = &l.v[i];
		char delim = b->delim ? b->delim : s->delim;
		map[i] = SIZE_MAX;
		if (b->attrs & BOX_NONEXISTENT)
			continue;
		buf_reset(&raw);
		if (!b->bad_name)
			buf_addstr(&raw, b->name);
		else if (imap_utf7_decode(b->raw_name, strlen(b->raw_name), &raw, &ignored) < 0) {
			refused_add(s, b->raw_name); /* not valid modified UTF-7 */
			continue;
		}
		if (imap_store_name_from_server(raw.data, delim, &name, &ignored) < 0) {
			/* cannot be named in the store's form */
			refused_add(s, b->raw_name ? b->raw_name : b->name);
			continue;
		}
		utf8[i] = mf_strdup(raw.data);
		struct store_box *o = &v[n];
		o->name = mf_strdup(name.data);
		o->delim = b->delim;
		o->attrs = b->attrs;
		if (b->has_status)
			fill_status(o, &b->status, condstore);
		map[i] = n++;
	}
	buf_release(&name);
	buf_release(&raw);
	int rc = status_batch(s, aide_fn, aide_ctx, weight, wctx, &l, v, map, utf8, e);
	for (size_t i = 0; i < l.n; i++)
		free(utf8[i]);
	free(utf8);
	free(map);
	imap_boxlist_free(&l);
	if (rc < 0) {
		store_boxes_free(v, n);
		return -1;
	}
	*boxes_r = v;
	*n_r = n;
	return 0;
}

static int imap_list_boxes(struct store *st, struct store_box **boxes_r, size_t *n_r,
			   struct err *e)
{
	return list_boxes(S(st), NULL, NULL, NULL, NULL, boxes_r, n_r, e);
}

int imap_store_list_boxes_shared(struct store *st, imap_aide_fn *aide_fn, void *aide_ctx,
				 imap_status_weight_fn *weight, void *wctx,
				 struct store_box **boxes_r, size_t *n_r, struct err *e)
{
	return list_boxes(S(st), aide_fn, aide_ctx, weight, wctx, boxes_r, n_r, e);
}

/* ------------------------------------------------------------------ */
/* open_box                                                             */

/* Messages and expunged UIDs collected from FETCH / VANISHED responses. */
struct list_ctx {
	struct store_msg *v;
	size_t n, cap;
	uint32_t *gone;
	size_t ngone, capgone;
	uint32_t gone_limit;   /* vanished UIDs at or above it were never known */
	struct seqmap *sm;     /* (seq, uid) of every FETCH response, arrival order */
	size_t nsm, capsm;
};

static void list_ctx_free(struct list_ctx *l)
{
	store_msgs_free(l->v, l->n);
	free(l->gone);
	free(l->sm);
	memset(l, 0, sizeof *l);
}

static void list_ctx_release(struct list_ctx *l)
{
	if (!l)
		return;
	list_ctx_free(l);
	free(l);
}

static void pre_drop(struct imap_store *s)
{
	list_ctx_release(s->pre);
	s->pre = NULL;
}

/* ENABLE QRESYNC (which implies CONDSTORE) or CONDSTORE, once. */
static int enable_once(struct imap_store *s, struct err *e)
{
	if (s->enabled_done)
		return 0;
	s->enabled_done = 1;
	if (!has_cap(s, "CONDSTORE") && !has_cap(s, "QRESYNC"))
		return 0;
	s->condstore = 1;
	if (!imap_client_has_cap(s->c, "ENABLE"))
		return 0; /* SELECT (CONDSTORE) enables it per mailbox */
	const char *what = has_cap(s, "QRESYNC") ? "QRESYNC" : "CONDSTORE";
	if (imap_enable(s->c, what, e) < 0)
		return -1;
	s->qresync = imap_client_enabled(s->c, "QRESYNC");
	return 0;
}

static int list_msg(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		    struct err *e);
static int list_vanished(void *ctx, const struct imap_uidset *uids, int earlier,
			 struct err *e);

/* SELECT options for open_box: QRESYNC with since when usable (RFC 7162
 * 3.2.5), the changes the server reports going to a new *pre_r (NULL
 * without); known holds the known-UIDs set. */
static void select_opts(struct imap_store *s, int read_only, const struct store_since *since,
			struct imap_select_opts *so, struct imap_fetch_handler *h, char known[32],
			struct list_ctx **pre_r)
{
	memset(so, 0, sizeof *so);
	memset(h, 0, sizeof *h);
	*pre_r = NULL;
	so->read_only = read_only;
	so->condstore = s->condstore && !imap_client_enabled(s->c, "CONDSTORE") && !s->qresync;
	if (!since || !s->qresync || !since->uidvalidity || !since->modseq)
		return;
	struct list_ctx *pre = mf_calloc(1, sizeof *pre);
	pre->gone_limit = since->uidnext;
	h->msg = list_msg;
	h->vanished = list_vanished;
	h->ctx = pre;
	so->fetch = h;
	so->qresync_uidvalidity = since->uidvalidity;
	so->qresync_modseq = since->modseq;
	/* known UIDs bound what VANISHED (EARLIER) may report */
	if (since->uidnext > 1) {
		snprintf(known, 32, "1:%" PRIu32, since->uidnext - 1);
		so->qresync_known_uids = known;
	}
	*pre_r = pre;
}

/* The mailbox box (server form, owned now) is selected: keep what QRESYNC
 * reported for the list_msgs that follows, describe the mailbox. */
static void opened(struct imap_store *s, char *box, const struct store_since *since,
		   struct list_ctx *pre, struct store_box_state *st_r)
{
	s->box = box;
	const struct imap_mailbox *mb = imap_client_mailbox(s->c);
	if (pre && mb->uidvalidity == since->uidvalidity && !mb->nomodseq) {
		s->pre = pre;
		s->pre_since = *since;
		s->pre_shift = shift_count(s);
	} else {
		list_ctx_release(pre);
	}
	memset(st_r, 0, sizeof *st_r);
	st_r->uidvalidity = mb->uidvalidity;
	st_r->uidnext = mb->uidnext;
	st_r->messages = mb->exists;
	st_r->highestmodseq = mb->nomodseq ? 0 : mb->highestmodseq;
	st_r->read_only = mb->read_only;
	if (mb->uidvalidity)
		snprintf(st_r->ident, sizeof st_r->ident, "uv:%" PRIu32, mb->uidvalidity);
	if (st_r->highestmodseq)
		snprintf(st_r->marker, sizeof st_r->marker,
			 "%" PRIu32 ".%" PRIu32 ".%" PRIu32 ".%" PRIu64, mb->uidvalidity,
			 mb->uidnext, mb->exists, st_r->highestmodseq);
}

/* Was the SELECT sent ahead sent with since (NULL: none)? */
static int same_since(const struct imap_store *s, const struct store_since *since)
{
	const struct store_since *b = &s->presel_since;
	if (!since || !s->presel_has_since)
		return !since && !s->presel_has_since;
	return since->uidvalidity == b->uidvalidity && since->modseq == b->modseq &&
	       since->uidnext == b->uidnext;
}

/* Wait for a SELECT sent ahead. When it is the one open_box wants (box,
 * read_only, since), it is that open: 1 (or -1 and why it failed). Any
 * other is waited out and forgotten: 0. */
static int presel_take(struct imap_store *s, const char *box, int read_only,
		       const struct store_since *since, struct store_box_state *st_r,
		       struct err *e)
{
	if (!s->presel_box)
		return 0;
	char *pbox = s->presel_box;
	struct list_ctx *pre = s->presel_pre;
	int want = box && !strcmp(pbox, box) && read_only == s->presel_ro &&
		   same_since(s, since);
	s->presel_box = NULL;
	s->presel_pre = NULL;
	struct err ignored;
	int rc = imap_cmd_wait(s->c, &s->presel, want ? e : &ignored);
	if (!want || rc < 0) {
		list_ctx_release(pre);
		free(pbox);
		return want ? -1 : 0;
	}
	opened(s, pbox, since, pre, st_r);
	return 1;
}

static void presel_settle(struct imap_store *s)
{
	presel_take(s, NULL, 0, NULL, NULL, NULL);
}

/* Send SELECT box (server form, owned now) with the options open_box uses,
 * without waiting: the handle and its arguments wait in s->presel for
 * presel_take. From here on no command acts on the previous mailbox. */
static int select_send(struct imap_store *s, char *box, int read_only,
		       const struct store_since *since, struct err *e)
{
	pre_drop(s);
	known_drop(s);
	free(s->box);
	s->box = NULL;
	struct imap_select_opts so;
	char known[32];
	select_opts(s, read_only, since, &so, &s->presel_h, known, &s->presel_pre);
	if (imap_select_start(s->c, box, &so, &s->presel, e) < 0) {
		list_ctx_release(s->presel_pre);
		s->presel_pre = NULL;
		free(box);
		return -1;
	}
	s->presel_box = box;
	s->presel_ro = read_only;
	s->presel_has_since = since != NULL;
	if (since)
		s->presel_since = *since;
	return 0;
}

static int open_box(struct imap_store *s, const char *name, int read_only,
		    const struct store_since *since, struct store_box_state *st_r,
		    struct err *e)
{
	pre_drop(s);
	known_drop(s);
	if (submit_queue(s, e) < 0)
		return -1;
	struct buf srv = BUF_INIT(4096);
	if (to_server(s, name, &srv, e) < 0)
		return -1;
	/* a SELECT sent ahead with these arguments is this open */
	int took = presel_take(s, srv.data, read_only, since, st_r, e);
	if (took == 0 && enable_once(s, e) == 0 &&
	    select_send(s, buf_detach(&srv, NULL), read_only, since, e) == 0)
		took = presel_take(s, s->presel_box, read_only, since, st_r, e);
	buf_release(&srv);
	return took > 0 ? 0 : -1;
}

int imap_store_preselect(struct store *st, const char *name, int read_only,
			 const struct store_since *since)
{
	struct imap_store *s = S(st);
	struct err ignored;
	presel_settle(s);
	if (!since || !s->qresync || s->nqueue || s->pending || s->ndeferred ||
	    imap_client_fatal(s->c))
		return 0;
	struct buf srv = BUF_INIT(4096);
	if (to_server(s, name, &srv, &ignored) < 0) {
		buf_release(&srv);
		return 0;
	}
	return select_send(s, buf_detach(&srv, NULL), read_only, since, &ignored) == 0;
}

static int imap_open_box(struct store *st, const char *name, int read_only,
			 struct store_box_state *st_r, struct err *e)
{
	return open_box(S(st), name, read_only, NULL, st_r, e);
}

int imap_store_open_box_since(struct store *st, const char *name, int read_only,
			      const struct store_since *since, struct store_box_state *st_r,
			      struct err *e)
{
	return open_box(S(st), name, read_only, since, st_r, e);
}

/* ------------------------------------------------------------------ */
/* list_msgs                                                            */

static int list_msg(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		    struct err *e)
{
	struct list_ctx *l = ctx;
	(void)r;
	(void)e;
	if (!(f->present & IMAP_FETCH_UID) || f->uid == 0)
		return 0;
	if (f->seq) {
		if (l->nsm == l->capsm) {
			l->capsm = l->capsm ? l->capsm * 2 : 256;
			l->sm = mf_reallocarray(l->sm, l->capsm, sizeof *l->sm);
		}
		l->sm[l->nsm++] = (struct seqmap){ f->seq, f->uid };
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = mf_reallocarray(l->v, l->cap, sizeof *l->v);
	}
	struct store_msg *m = &l->v[l->n++];
	memset(m, 0, sizeof *m);
	char key[16];
	snprintf(key, sizeof key, "%" PRIu32, f->uid);
	m->key = mf_strdup(key);
	m->uid = f->uid;
	if (f->present & IMAP_FETCH_FLAGS)
		flagset_copy(&m->flags, &f->flags);
	else
		flagset_init(&m->flags);
	m->size = (f->present & IMAP_FETCH_SIZE) ? f->rfc822_size : 0;
	m->idate = (f->present & IMAP_FETCH_IDATE) ? (int64_t)f->internaldate : -1;
	m->modseq = (f->present & IMAP_FETCH_MODSEQ) ? f->modseq : 0;
	/* An unsolicited flag update carries FLAGS only: remember what it
	 * lacks so the merge below can tell it from a full answer. */
	if (!(f->present & IMAP_FETCH_SIZE))
		m->size = UINT64_MAX;
	return 0;
}

static void add_gone(struct list_ctx *l, uint32_t uid)
{
	if (l->ngone == l->capgone) {
		l->capgone = l->capgone ? l->capgone * 2 : 64;
		l->gone = mf_reallocarray(l->gone, l->capgone, sizeof *l->gone);
	}
	l->gone[l->ngone++] = uid;
}

static int list_vanished(void *ctx, const struct imap_uidset *uids, int earlier,
			 struct err *e)
{
	struct list_ctx *l = ctx;
	(void)earlier;
	(void)e;
	/* Walk ranges, not UIDs past the limit: a server may compress a VANISHED
	 * set into ranges far wider than what the caller ever saw. */
	for (size_t i = 0; i < uids->n; i++) {
		uint32_t hi = uids->r[i].hi;
		if (l->gone_limit && hi >= l->gone_limit)
			hi = l->gone_limit - 1;
		for (uint64_t u = uids->r[i].lo; u <= hi; u++)
			add_gone(l, (uint32_t)u);
	}
	return 0;
}

struct order {
	uint32_t uid;
	size_t idx;
};

static int cmp_order(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx; /* arrival order */
}

/* Sort by UID and fold duplicates (a later flag update over an earlier
 * full answer) into one record. */
static void list_finish(struct list_ctx *l)
{
	/* The usual answer (FETCH in sequence order, no flag update in
	 * between) is already in strictly ascending UID order: keep the array,
	 * without its growth slack, rather than hold a sorted copy next to it
	 * (a listing is the largest thing alive while a mailbox syncs). */
	size_t asc = 1;
	while (asc < l->n && l->v[asc - 1].uid < l->v[asc].uid)
		asc++;
	if (asc >= l->n) {
		for (size_t i = 0; i < l->n; i++)
			if (l->v[i].size == UINT64_MAX)
				l->v[i].size = 0;
		if (!l->v || l->n < l->cap)
			l->v = mf_reallocarray(l->v, l->n ? l->n : 1, sizeof *l->v);
		l->cap = l->n;
		return;
	}
	struct order *o = mf_reallocarray(NULL, l->n ? l->n : 1, sizeof *o);
	for (size_t i = 0; i < l->n; i++)
		o[i] = (struct order){ l->v[i].uid, i };
	qsort(o, l->n, sizeof *o, cmp_order);
	struct store_msg *v = mf_reallocarray(NULL, l->n ? l->n : 1, sizeof *v);
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		struct store_msg *src = &l->v[o[i].idx];
		if (k && v[k - 1].uid == src->uid) {
			struct store_msg *dst = &v[k - 1];
			flagset_free(&dst->flags);
			dst->flags = src->flags;
			flagset_init(&src->flags);
			if (src->size != UINT64_MAX)
				dst->size = src->size;
			if (src->idate >= 0)
				dst->idate = src->idate;
			if (src->modseq)
				dst->modseq = src->modseq;
			store_msg_free(src);
			continue;
		}
		v[k++] = *src;
	}
	for (size_t i = 0; i < k; i++)
		if (v[i].size == UINT64_MAX)
			v[i].size = 0;
	free(o);
	free(l->v);
	l->v = v;
	l->n = k;
	l->cap = l->n;
}

/* Under CONDSTORE alone: which UIDs below since->uidnext are gone? The
 * survivors come from UID SEARCH; the gaps between them are expunged (or
 * never existed, which the caller cannot tell apart and need not). Returns
 * 1 when the gaps are too many to list (the caller then lists in full). */
static int condstore_gone(struct imap_store *s, uint32_t uidnext, struct list_ctx *l,
			  struct err *e)
{
	char crit[64];
	uint32_t *uids = NULL;
	size_t n = 0;
	if (uidnext <= 1)
		return 0;
	snprintf(crit, sizeof crit, "UID 1:%" PRIu32, uidnext - 1);
	if (imap_uid_search(s->c, crit, &uids, &n, NULL, e) < 0)
		return -1;
	uint64_t gaps = (uint64_t)(uidnext - 1) - n;
	if (gaps > 4 * (uint64_t)n + 10000) {
		free(uids);
		return 1;
	}
	uint32_t next = 1;
	for (size_t i = 0; i <= n; i++) {
		uint32_t until = i < n ? uids[i] : uidnext;
		for (uint32_t u = next; u < until; u++)
			add_gone(l, u);
		if (i < n)
			next = uids[i] + 1;
	}
	free(uids);
	return 0;
}

static int run_fetch_list(struct imap_store *s, uint64_t changedsince, int vanished,
			  struct list_ctx *l, struct err *e)
{
	struct imap_fetch_handler h = { 0 };
	h.msg = list_msg;
	h.vanished = list_vanished;
	h.ctx = l;
	const char *items = s->condstore ? "UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ"
					 : "UID FLAGS RFC822.SIZE INTERNALDATE";
	return imap_uid_fetch(s->c, "1:*", items, changedsince, vanished, &h, NULL, e);
}

static int cmp_msg_uid(const void *a, const void *b)
{
	const struct store_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/*
 * The QRESYNC delta from SELECT (`pre`, owned; NULL if none) completed into
 * `l`: SELECT reported changed flags and VANISHED (EARLIER) UIDs, but not
 * the size and internal date the planner wants for messages it has not
 * paired, so those (changed messages below the caller's UIDNEXT, and every
 * UID from it on) are fetched by one UID FETCH. Returns 1 when `l` holds the
 * delta, 0 when `pre` does not answer this `since` (the caller then asks
 * with CHANGEDSINCE), -1 on error.
 */
static int pre_take(struct imap_store *s, struct list_ctx *pre, const struct store_since *since,
		    struct list_ctx *l, struct err *e)
{
	const struct imap_mailbox *mb = imap_client_mailbox(s->c);
	if (!pre || since->uidvalidity != s->pre_since.uidvalidity ||
	    since->modseq != s->pre_since.modseq || since->uidnext != s->pre_since.uidnext ||
	    since->uidnext == 0)
		return 0;
	*l = *pre;
	memset(pre, 0, sizeof *pre);
	uint32_t *uids = mf_reallocarray(NULL, l->n + 1, sizeof *uids);
	size_t nu = 0;
	if (l->n)
		qsort(l->v, l->n, sizeof *l->v, cmp_msg_uid);
	for (size_t i = 0; i < l->n && !since->meta_later; i++)
		if (l->v[i].size == UINT64_MAX && l->v[i].uid < since->uidnext &&
		    (!nu || uids[nu - 1] != l->v[i].uid))
			uids[nu++] = l->v[i].uid;
	int news = mb->uidnext > since->uidnext;
	struct buf set = BUF_INIT(UIDSET_MAX_LEN + 64);
	size_t used = 0;
	int rc = 1;
	if (nu && (imap_uidset_format(uids, nu, UIDSET_MAX_LEN, &set, &used, e) < 0 ||
		   used < nu)) {
		list_ctx_free(l); /* too scattered for one command */
		rc = 0;
	} else if (nu || news) {
		if (news)
			buf_addf(&set, "%s%" PRIu32 ":*", nu ? "," : "", since->uidnext);
		struct imap_fetch_handler h = { 0 };
		h.msg = list_msg;
		h.ctx = l;
		if (imap_uid_fetch(s->c, set.data, "UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ", 0,
				   0, &h, NULL, e) < 0)
			rc = -1;
	}
	buf_release(&set);
	free(uids);
	return rc;
}

/* Submit one command per bounded UID set of uids (sorted): fn(set) for
 * each chunk. */
typedef int chunk_fn(struct imap_store *s, const char *set, void *arg, struct err *e);

static int for_uid_chunks(struct imap_store *s, const uint32_t *uids, size_t nu, chunk_fn *fn,
			  void *arg, struct err *e)
{
	struct buf set = BUF_INIT(UIDSET_MAX_LEN + 64);
	int rc = 0;
	for (size_t done = 0; done < nu;) {
		size_t used = 0;
		buf_reset(&set);
		if (imap_uidset_format(uids + done, nu - done, UIDSET_MAX_LEN, &set, &used, e) < 0 ||
		    used == 0 || fn(s, set.data, arg, e) < 0) {
			rc = -1;
			break;
		}
		done += used;
	}
	buf_release(&set);
	return rc;
}

/* imap_store_fill_meta: RFC822.SIZE and INTERNALDATE into the listing's
 * entries, found by UID among `want` (sorted by UID). */
struct meta_ctx {
	struct store_msg **want;
	size_t n;
};

static int cmp_msgp_uid(const void *a, const void *b)
{
	const struct store_msg *x = *(struct store_msg *const *)a;
	const struct store_msg *y = *(struct store_msg *const *)b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int meta_msg(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		    struct err *e)
{
	struct meta_ctx *m = ctx;
	(void)r;
	(void)e;
	if (!(f->present & IMAP_FETCH_UID))
		return 0;
	struct store_msg key = { .uid = f->uid }, *kp = &key;
	struct store_msg **hit = bsearch(&kp, m->want, m->n, sizeof *m->want, cmp_msgp_uid);
	if (!hit)
		return 0; /* not asked for (an unsolicited update) */
	if (f->present & IMAP_FETCH_SIZE)
		(*hit)->size = f->rfc822_size;
	if (f->present & IMAP_FETCH_IDATE)
		(*hit)->idate = (int64_t)f->internaldate;
	return 0;
}

static int meta_chunk(struct imap_store *s, const char *set, void *arg, struct err *e)
{
	struct imap_fetch_handler *h = arg;
	return imap_uid_fetch(s->c, set, "UID RFC822.SIZE INTERNALDATE", 0, 0, h, NULL, e);
}

int imap_store_fill_meta(struct store *st, struct store_msg **want, size_t n, struct err *e)
{
	struct imap_store *s = S(st);
	if (n == 0)
		return 0;
	if (require_box(s, "fetch message sizes", e) < 0)
		return -1;
	qsort(want, n, sizeof *want, cmp_msgp_uid);
	uint32_t *uids = mf_reallocarray(NULL, n, sizeof *uids);
	for (size_t i = 0; i < n; i++)
		uids[i] = want[i]->uid;
	struct meta_ctx m = { want, n };
	struct imap_fetch_handler h = { .msg = meta_msg, .ctx = &m };
	int rc = for_uid_chunks(s, uids, n, meta_chunk, &h, e);
	free(uids);
	return rc;
}

/* The listing's (seq, uid) pairs become the map the next fetch uses, when
 * no expunge came while listing (shift0: the count before): the sequence
 * numbers still hold. l->sm is taken either way. */
static void known_keep(struct imap_store *s, struct list_ctx *l, uint32_t shift0)
{
	if (shift_count(s) == shift0 && l->nsm) {
		qsort(l->sm, l->nsm, sizeof *l->sm, cmp_seqmap);
		s->known = l->sm;
		s->nknown = l->nsm;
		s->known_shift = shift0;
	} else {
		free(l->sm);
	}
	l->sm = NULL;
}

static int imap_list_msgs(struct store *st, const struct store_since *since,
			  struct store_listing *out, struct err *e)
{
	struct imap_store *s = S(st);
	struct list_ctx *pre = s->pre; /* owned here from now on */
	s->pre = NULL;
	known_drop(s);
	memset(out, 0, sizeof *out);
	if (submit_queue(s, e) < 0 || require_box(s, "list messages", e) < 0) {
		list_ctx_release(pre);
		return -1;
	}
	struct list_ctx l = { 0 };
	uint32_t shift0 = shift_count(s);
	const struct imap_mailbox *mb = imap_client_mailbox(s->c);
	int delta = since && since->uidvalidity && since->uidvalidity == mb->uidvalidity &&
		    since->modseq && s->condstore && !mb->nomodseq && mb->highestmodseq &&
		    mb->exists > 0;
	int full = 1;
	l.gone_limit = since && since->uidnext ? since->uidnext : mb->uidnext;
	if (delta && s->qresync) {
		full = 0;
		/* QRESYNC: every change, expunges included, moves HIGHESTMODSEQ;
		 * SELECT may already have reported them */
		int got = pre_take(s, pre, since, &l, e);
		if (got < 0)
			goto fail;
		if (got)
			shift0 = s->pre_shift;
		if (!got && since->modseq < mb->highestmodseq &&
		    run_fetch_list(s, since->modseq, 1, &l, e) < 0)
			goto fail;
	} else if (delta && since->uidnext > 1) {
		/* CONDSTORE alone: changes by CHANGEDSINCE, expunges by a search
		 * below the caller's UIDNEXT (without one, list in full) */
		if (run_fetch_list(s, since->modseq, 0, &l, e) < 0)
			goto fail;
		int r = condstore_gone(s, since->uidnext, &l, e);
		if (r < 0)
			goto fail;
		full = r == 1;
		if (full)
			list_ctx_free(&l);
	}
	if (full && mb->exists > 0 && run_fetch_list(s, 0, 0, &l, e) < 0)
		goto fail;
	list_finish(&l);
	known_keep(s, &l, shift0);
	out->msgs = l.v;
	out->n = l.n;
	out->full = full;
	if (!full && l.ngone) {
		qsort(l.gone, l.ngone, sizeof *l.gone, cmp_u32);
		out->vanished = mf_reallocarray(NULL, l.ngone, sizeof *out->vanished);
		for (size_t i = 0; i < l.ngone; i++) {
			if (out->nvanished && l.gone[i] == l.gone[i - 1])
				continue;
			char key[16];
			snprintf(key, sizeof key, "%" PRIu32, l.gone[i]);
			out->vanished[out->nvanished++] = mf_strdup(key);
		}
	}
	free(l.gone);
	list_ctx_release(pre);
	return 0;
fail:
	list_ctx_free(&l);
	list_ctx_release(pre);
	return -1;
}

/* What one window's FETCH answers: messages in its sequence range only
 * (an unsolicited flag update elsewhere is no part of it). */
struct window_ctx {
	struct list_ctx l;
	uint32_t lo, hi;
};

static int window_msg(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		      struct err *e)
{
	struct window_ctx *w = ctx;
	if (f->seq < w->lo || f->seq > w->hi)
		return 0;
	return list_msg(&w->l, f, r, e);
}

/* Keep the sorted messages of `l` past `after`, at most max of them; the
 * sequence number of the last one kept goes to *seq_r (0: none kept). */
static void window_keep(struct list_ctx *l, uint32_t after, size_t max, uint32_t *seq_r)
{
	size_t from = 0, k = 0;
	while (from < l->n && l->v[from].uid <= after)
		store_msg_free(&l->v[from++]);
	for (size_t i = from; i < l->n; i++) {
		if (k < max)
			l->v[k++] = l->v[i];
		else
			store_msg_free(&l->v[i]);
	}
	l->n = k;
	*seq_r = 0;
	for (size_t i = 0; k && i < l->nsm; i++)
		if (l->sm[i].uid == l->v[k - 1].uid)
			*seq_r = l->sm[i].seq;
}

int imap_store_list_window(struct store *st, struct imap_window *w, size_t max,
			   struct store_listing *out, struct err *e)
{
	struct imap_store *s = S(st);
	pre_drop(s);
	known_drop(s);
	memset(out, 0, sizeof *out);
	out->full = 1;
	if (w->done || max == 0)
		return 0;
	if (submit_queue(s, e) < 0 || require_box(s, "list messages", e) < 0)
		return -1;
	const struct imap_mailbox *mb = imap_client_mailbox(s->c);
	const char *items = s->condstore ? "UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ"
					 : "UID FLAGS RFC822.SIZE INTERNALDATE";
	for (;;) {
		/* each expunge since the last window moved its successor down by
		 * at most one: start that much earlier, ask that much more */
		uint32_t now = shift_count(s), back = w->next_seq ? now - w->shift : 0;
		uint32_t lo = !w->next_seq ? 1 : w->next_seq > back ? w->next_seq - back : 1;
		if (mb->exists == 0 || lo > mb->exists) {
			w->done = 1;
			return 0;
		}
		uint64_t hi = (uint64_t)lo + max + back - 1;
		if (hi > mb->exists)
			hi = mb->exists;
		struct window_ctx wc = { .lo = lo, .hi = (uint32_t)hi };
		struct imap_fetch_handler h = { .msg = window_msg, .ctx = &wc };
		char set[32];
		snprintf(set, sizeof set, "%" PRIu32 ":%" PRIu32, lo, (uint32_t)hi);
		w->shift = now;
		if (imap_seq_fetch(s->c, set, items, &h, NULL, e) < 0) {
			list_ctx_free(&wc.l);
			return -1;
		}
		list_finish(&wc.l);
		uint32_t seq;
		window_keep(&wc.l, w->last_uid, max, &seq);
		if (!wc.l.n) {
			list_ctx_free(&wc.l);
			w->next_seq = (uint32_t)hi + 1;
			continue; /* only what earlier windows listed: on past it */
		}
		w->next_seq = seq + 1;
		w->last_uid = wc.l.v[wc.l.n - 1].uid;
		known_keep(s, &wc.l, now); /* the fetch that follows maps through it */
		free(wc.l.gone);
		out->msgs = wc.l.v;
		out->n = wc.l.n;
		return 0;
	}
}

int imap_store_list_changed(struct store *st, uint64_t modseq, uint32_t uid_limit,
			    struct store_listing *out, uint64_t *highest_r, struct err *e)
{
	struct imap_store *s = S(st);
	memset(out, 0, sizeof *out);
	*highest_r = 0;
	if (submit_queue(s, e) < 0 || require_box(s, "list changes", e) < 0)
		return -1;
	const struct imap_mailbox *mb = imap_client_mailbox(s->c);
	if (!s->qresync || !modseq || mb->nomodseq)
		return err_set(e, ERR_USAGE, "no QRESYNC on this mailbox");
	known_drop(s);
	pre_drop(s);
	/* read before the FETCH is sent: every change up to it is then in the
	 * answer (a value announced during the FETCH might not be) */
	uint64_t highest = mb->highestmodseq;
	struct list_ctx l = { 0 };
	l.gone_limit = uid_limit ? uid_limit : 1;
	if (run_fetch_list(s, modseq, 1, &l, e) < 0) {
		list_ctx_free(&l);
		return -1;
	}
	list_finish(&l);
	free(l.sm);
	out->msgs = l.v;
	out->n = l.n;
	if (l.ngone) {
		out->vanished = mf_reallocarray(NULL, l.ngone, sizeof *out->vanished);
		for (size_t i = 0; i < l.ngone; i++) {
			char key[16];
			snprintf(key, sizeof key, "%" PRIu32, l.gone[i]);
			out->vanished[out->nvanished++] = mf_strdup(key);
		}
	}
	free(l.gone);
	*highest_r = highest;
	return 0;
}

/* ------------------------------------------------------------------ */
/* fetch                                                                */

/*
 * fetch: a FETCH response names its UID as a data item, and the client
 * announces a body literal with the message's sequence number only. So a
 * batch runs in two pipelined passes: UID FETCH <set> (UID) maps sequence
 * numbers to UIDs (and tells which UIDs are gone), then UID FETCH <set>
 * (UID BODY.PEEK[]) streams the bodies, each begun under the UID the map
 * predicts and confirmed by the UID in the finished response. Commands may
 * be answered in any interleaving (Dovecot runs pipelined FETCHes in
 * parallel), which this scheme does not care about. Should the sequence
 * numbers shift under us (an expunge by another client), the message begun
 * under the wrong key ends with ok = 0 (ERR_TEMP: the caller retries it
 * later), and messages that never began are fetched in a second round. So
 * the sink sees begin() at most once per key, and never wrong data ok.
 */
enum { F_PENDING = 0, F_DONE, F_GONE };

struct fetch_ctx {
	struct imap_store *s;
	const struct store_sink *sink;
	uint32_t *uids;        /* sorted, unique */
	unsigned char *state;  /* per uid: F_* */
	size_t nu;
	struct seqmap *map;
	size_t nmap, capmap;
	int cached;            /* map taken from the last listing (map_from_known) */
	/* the message being streamed */
	int active, complete, failed;
	uint32_t cur_uid;      /* 0: swallowing an unwanted literal */
	size_t cur_idx;
	struct err cur_err;
};

static long uid_index(const struct fetch_ctx *f, uint32_t uid)
{
	size_t lo = 0, hi = f->nu;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->uids[mid] == uid)
			return (long)mid;
		if (f->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static uint32_t map_lookup(const struct fetch_ctx *f, uint32_t seq)
{
	size_t lo = 0, hi = f->nmap;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->map[mid].seq == seq)
			return f->map[mid].uid;
		if (f->map[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int cmp_seqmap(const void *a, const void *b)
{
	const struct seqmap *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void sink_begin(struct fetch_ctx *f, const char *key, uint32_t uid, uint64_t size,
		       struct err *serr)
{
	struct store_msg meta;
	memset(&meta, 0, sizeof meta);
	meta.key = (char *)key;
	meta.uid = uid;
	flagset_init(&meta.flags);
	meta.size = size;
	meta.idate = -1;
	err_clear(serr);
	if (f->sink->begin(f->sink->ctx, &meta, serr) != 0)
		f->failed = 1;
}

/* begin + end(0) for a message that never streamed. */
static void report_failed(struct fetch_ctx *f, const char *key, uint32_t uid,
			  const struct err *why)
{
	struct err e = *why, ignored;
	f->failed = 0;
	sink_begin(f, key, uid, 0, &ignored);
	f->sink->end(f->sink->ctx, 0, &e);
}

static void cur_end(struct fetch_ctx *f, int ok, const struct err *why)
{
	struct err e;
	if (!f->active)
		return;
	f->active = 0;
	if (!f->cur_uid)
		return;
	f->state[f->cur_idx] = F_DONE; /* begun once, ended once, whatever the end */
	if (why)
		e = *why;
	else if (f->failed)
		e = f->cur_err;
	else
		err_clear(&e);
	f->sink->end(f->sink->ctx, ok && !f->failed, &e);
}

static int map_msg(void *ctx, const struct imap_fetch *m, const struct imap_response *r,
		   struct err *e)
{
	struct fetch_ctx *f = ctx;
	(void)r;
	(void)e;
	if (!(m->present & IMAP_FETCH_UID) || uid_index(f, m->uid) < 0)
		return 0;
	if (f->nmap == f->capmap) {
		f->capmap = f->capmap ? f->capmap * 2 : 64;
		f->map = mf_reallocarray(f->map, f->capmap, sizeof *f->map);
	}
	f->map[f->nmap++] = (struct seqmap){ m->seq, m->uid };
	return 0;
}

static int body_begin(void *ctx, uint32_t seq, const char *section, uint64_t size,
		      struct err *e)
{
	struct fetch_ctx *f = ctx;
	struct err broken;
	(void)e;
	if (strncasecmp(section, "BODY[]", 6) != 0)
		return 0;
	if (f->active) {
		err_set(&broken, ERR_PROTO, "%s: FETCH response cut short", f->s->host);
		cur_end(f, 0, &broken);
	}
	f->active = 1;
	f->complete = 0;
	f->failed = 0;
	/* an expunge announced since the cached map was made: the sequence
	 * numbers moved, so leave the message to the next round's fresh map */
	if (f->cached && shift_count(f->s) != f->s->known_shift)
		f->cur_uid = 0;
	else
		f->cur_uid = map_lookup(f, seq);
	long i = f->cur_uid ? uid_index(f, f->cur_uid) : -1;
	if (i < 0 || f->state[i] != F_PENDING) {
		f->cur_uid = 0; /* not ours (or already had): swallow it */
		return 1;
	}
	f->cur_idx = (size_t)i;
	char key[16];
	snprintf(key, sizeof key, "%" PRIu32, f->cur_uid);
	sink_begin(f, key, f->cur_uid, size, &f->cur_err);
	return 1;
}

static int body_data(void *ctx, const void *p, size_t n, struct err *e)
{
	struct fetch_ctx *f = ctx;
	(void)e;
	/* After a sink failure the rest of the literal is swallowed, so the
	 * connection and the other messages go on. */
	if (f->active && f->cur_uid && !f->failed &&
	    f->sink->write(f->sink->ctx, p, n, &f->cur_err) != 0)
		f->failed = 1;
	return 0;
}

static int body_end(void *ctx, struct err *e)
{
	struct fetch_ctx *f = ctx;
	(void)e;
	f->complete = 1;
	return 0;
}

/* The whole response is in: confirm the UID the map predicted. */
static int body_msg(void *ctx, const struct imap_fetch *m, const struct imap_response *r,
		    struct err *e)
{
	struct fetch_ctx *f = ctx;
	(void)r;
	(void)e;
	if (!f->active || !(m->present & IMAP_FETCH_BODY))
		return 0; /* e.g. an unsolicited flag update */
	if (!f->cur_uid) {
		f->active = 0;
		return 0;
	}
	if (!(m->present & IMAP_FETCH_UID) || m->uid != f->cur_uid || !f->complete) {
		struct err shifted;
		err_set(&shifted, ERR_TEMP, "%s: message %" PRIu32 " changed its sequence "
			"number during the fetch", f->s->host, f->cur_uid);
		f->state[f->cur_idx] = F_DONE; /* reported: begin() once per message */
		cur_end(f, 0, &shifted);
		return 0;
	}
	f->state[f->cur_idx] = F_DONE;
	cur_end(f, 1, NULL);
	return 0;
}

static void ignore_done(void *ctx, const struct err *e)
{
	(void)ctx;
	(void)e; /* what did not arrive stays pending and is retried or reported */
}

/* Submit `items` over every pending UID (bounded sets), then drain. */
static int fetch_pass(struct fetch_ctx *f, const char *items, const struct imap_fetch_handler *h,
		      struct err *e)
{
	uint32_t *v = mf_reallocarray(NULL, f->nu ? f->nu : 1, sizeof *v);
	size_t n = 0;
	for (size_t i = 0; i < f->nu; i++)
		if (f->state[i] == F_PENDING)
			v[n++] = f->uids[i];
	struct buf set = BUF_INIT(UIDSET_MAX_LEN + 64);
	int rc = 0;
	for (size_t done = 0; done < n;) {
		size_t used;
		struct imap_cmd *cmd;
		buf_reset(&set);
		if (imap_uidset_format(v + done, n - done, UIDSET_MAX_LEN, &set, &used, e) < 0 ||
		    imap_uid_fetch(f->s->c, set.data, items, 0, 0, h, &cmd, e) < 0) {
			rc = -1;
			break;
		}
		imap_cmd_on_done(&cmd, ignore_done, f);
		done += used;
	}
	struct err e2;
	if (imap_client_drain(f->s->c, rc < 0 ? &e2 : e) < 0)
		rc = -1;
	buf_release(&set);
	free(v);
	return rc;
}

/* The UID map of the pending messages from the last listing, when it
 * still holds and covers them all (1), else 0. A stale entry (an expunge
 * the server has not told us yet) is caught by body_msg's UID check. */
static int map_from_known(struct fetch_ctx *f)
{
	struct imap_store *s = f->s;
	if (!s->known || shift_count(s) != s->known_shift)
		return 0;
	size_t pending = 0, found = 0;
	for (size_t i = 0; i < f->nu; i++)
		pending += f->state[i] == F_PENDING;
	unsigned char *seen = mf_calloc(f->nu ? f->nu : 1, 1);
	for (size_t k = 0; k < s->nknown; k++) {
		long i = uid_index(f, s->known[k].uid);
		if (i < 0 || f->state[i] != F_PENDING || seen[i])
			continue;
		if (f->nmap && f->map[f->nmap - 1].seq == s->known[k].seq)
			continue;
		seen[i] = 1;
		found++;
		if (f->nmap == f->capmap) {
			f->capmap = f->capmap ? f->capmap * 2 : 64;
			f->map = mf_reallocarray(f->map, f->capmap, sizeof *f->map);
		}
		f->map[f->nmap++] = s->known[k];
	}
	free(seen);
	return found == pending;
}

static int fetch_round(struct fetch_ctx *f, int last, struct err *e)
{
	struct imap_fetch_handler mh = { .msg = map_msg, .ctx = f };
	struct imap_fetch_handler bh = { .msg = body_msg, .body_begin = body_begin,
					 .body_data = body_data, .body_end = body_end, .ctx = f };
	f->nmap = 0;
	f->cached = !last && map_from_known(f);
	if (!f->cached) {
		f->nmap = 0;
		if (fetch_pass(f, "UID", &mh, e) < 0)
			return -1;
		if (f->nmap) /* else map may be NULL: every UID asked for is gone */
			qsort(f->map, f->nmap, sizeof *f->map, cmp_seqmap);
	}
	struct err gone;
	unsigned char *present = mf_calloc(f->nu ? f->nu : 1, 1);
	for (size_t k = 0; k < f->nmap; k++)
		present[uid_index(f, f->map[k].uid)] = 1; /* map_msg kept only ours */
	for (size_t i = 0; i < f->nu; i++) {
		if (f->state[i] != F_PENDING || present[i])
			continue;
		char key[16];
		snprintf(key, sizeof key, "%" PRIu32, f->uids[i]);
		err_set(&gone, ERR_GONE, "%s: message %s is gone", f->s->host, key);
		report_failed(f, key, f->uids[i], &gone);
		f->state[i] = F_GONE;
	}
	free(present);
	int rc = fetch_pass(f, "UID BODY.PEEK[]", &bh, e);
	if (f->active) {
		struct err cut;
		err_set(&cut, ERR_TEMP, "%s: fetch interrupted", f->s->host);
		cur_end(f, 0, rc < 0 ? e : &cut);
	}
	if (rc < 0 || !last)
		return rc;
	struct err missed;
	for (size_t i = 0; i < f->nu; i++) {
		if (f->state[i] != F_PENDING)
			continue;
		char key[16];
		snprintf(key, sizeof key, "%" PRIu32, f->uids[i]);
		err_set(&missed, ERR_TEMP, "%s: message %s was not delivered", f->s->host, key);
		report_failed(f, key, f->uids[i], &missed);
	}
	return 0;
}

static int imap_fetch(struct store *st, const char *const *keys, size_t n,
		      const struct store_sink *sink, struct err *e)
{
	struct imap_store *s = S(st);
	if (require_box(s, "fetch", e) < 0)
		return -1;
	if (submit_queue(s, e) < 0)
		return -1;
	/* answers to earlier pipelined writes must not mix with ours */
	if (imap_client_drain(s->c, e) < 0)
		return -1;
	struct fetch_ctx f = { .s = s, .sink = sink };
	struct err bad;
	for (size_t i = 0; i < n; i++) {
		uint32_t uid;
		if (parse_key(keys[i], &uid) == 0)
			continue;
		err_set(&bad, ERR_GONE, "'%s' is not an IMAP UID", keys[i]);
		report_failed(&f, keys[i], 0, &bad);
	}
	f.uids = keys_to_uids(keys, n, &f.nu);
	f.state = mf_calloc(f.nu ? f.nu : 1, 1);
	int rc = 0;
	for (int round = 0; round < 2 && rc == 0; round++) {
		size_t pending = 0;
		for (size_t i = 0; i < f.nu; i++)
			pending += f.state[i] == F_PENDING;
		if (!pending)
			break;
		rc = fetch_round(&f, round == 1, e);
	}
	free(f.uids);
	free(f.state);
	free(f.map);
	return rc;
}

/* ------------------------------------------------------------------ */
/* headers                                                              */

void imap_store_parse_headers(const char *hdr, size_t len, struct buf *msgid,
			      struct buf *date)
{
	if (msgid) {
		buf_reset(msgid);
		store_header_field(hdr, len, "Message-ID", msgid);
	}
	if (date) {
		buf_reset(date);
		store_header_field(hdr, len, "Date", date);
	}
}

struct hdr_ctx {
	imap_store_headers_cb *cb;
	void *ctx;
	struct buf id, date;
	struct err err;
	int failed;
};

static int hdr_msg(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		   struct err *e)
{
	struct hdr_ctx *h = ctx;
	(void)r;
	if (h->failed || !(f->present & IMAP_FETCH_UID) || !(f->present & IMAP_FETCH_HEADER))
		return 0;
	char key[16];
	snprintf(key, sizeof key, "%" PRIu32, f->uid);
	imap_store_parse_headers(f->header ? f->header : "", f->header ? f->header_len : 0,
				 &h->id, &h->date);
	if (h->cb(h->ctx, key, h->id.data, h->date.data, e) < 0) {
		h->failed = 1;
		h->err = *e;
		return -1;
	}
	return 0;
}

static void hdr_done(void *ctx, const struct err *e)
{
	struct hdr_ctx *h = ctx;
	if (e && !h->failed) {
		h->failed = 1;
		h->err = *e;
	}
}

int imap_store_headers_many(struct store *st, const char *const *keys, size_t n,
			    imap_store_headers_cb *cb, void *ctx, struct err *e)
{
	struct imap_store *s = S(st);
	if (require_box(s, "headers", e) < 0)
		return -1;
	if (submit_queue(s, e) < 0)
		return -1;
	size_t nu;
	uint32_t *uids = keys_to_uids(keys, n, &nu);
	struct hdr_ctx h = { .cb = cb, .ctx = ctx };
	buf_init(&h.id, HDR_MAX);
	buf_init(&h.date, HDR_MAX);
	struct imap_fetch_handler fh = { .msg = hdr_msg, .ctx = &h };
	struct buf set = BUF_INIT(UIDSET_MAX_LEN + 64);
	int rc = 0;
	for (size_t done = 0; done < nu && !h.failed;) {
		size_t used;
		struct imap_cmd *cmd;
		buf_reset(&set);
		if (imap_uidset_format(uids + done, nu - done, UIDSET_MAX_LEN, &set, &used, e) < 0 ||
		    imap_uid_fetch(s->c, set.data,
				   "UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE)]", 0, 0, &fh,
				   &cmd, e) < 0) {
			rc = -1;
			break;
		}
		imap_cmd_on_done(&cmd, hdr_done, &h);
		done += used;
	}
	struct err e2;
	if (imap_client_drain(s->c, rc < 0 ? &e2 : e) < 0)
		rc = -1;
	if (rc == 0 && h.failed) {
		*e = h.err;
		rc = -1;
	}
	buf_release(&set);
	buf_release(&h.id);
	buf_release(&h.date);
	free(uids);
	return rc;
}

struct hdr_one {
	struct buf *msgid, *date;
	int found;
};

static int hdr_one_cb(void *ctx, const char *key, const char *msgid, const char *date,
		      struct err *e)
{
	struct hdr_one *o = ctx;
	(void)key;
	o->found = 1;
	buf_reset(o->msgid);
	buf_reset(o->date);
	if (buf_addstr(o->msgid, msgid) < 0 || buf_addstr(o->date, date) < 0)
		return err_set(e, ERR_LIMIT, "header field too long");
	return 0;
}

static int imap_headers(struct store *st, const char *key, struct buf *msgid, struct buf *date,
			struct err *e)
{
	struct hdr_one o = { msgid, date, 0 };
	if (imap_store_headers_many(st, &key, 1, hdr_one_cb, &o, e) < 0)
		return -1;
	if (!o.found)
		return err_set(e, ERR_GONE, "message %s is gone", key);
	return 0;
}

/* ------------------------------------------------------------------ */
/* append                                                               */

static void writer_free(struct store_writer *w)
{
	struct imap_store *s = w->s;
	if (w->submitted)
		s->inflight_bytes -= w->size;
	if (w->prev)
		w->prev->next = w->next;
	else if (s->pending == w)
		s->pending = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (w->fd >= 0)
		close(w->fd);
	buf_release(&w->mem);
	imap_uidmap_free(&w->map);
	free(w->box);
	free(w->flags);
	free(w);
}

static int spool_read(void *ctx, void *buf, size_t cap, size_t *got_r, struct err *e)
{
	struct store_writer *w = ctx;
	uint64_t left = w->size - w->rpos;
	size_t want = cap < left ? cap : (size_t)left;
	ssize_t r;
	do
		r = pread(w->fd, buf, want, (off_t)w->rpos);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return err_sys(e, ERR_IO, "reading the append spool file");
	if (r == 0 && want)
		return err_set(e, ERR_IO, "append spool file is short");
	w->rpos += (uint64_t)r;
	*got_r = (size_t)r;
	return 0;
}

static int imap_append_begin(struct store *st, const struct flagset *flags, int64_t idate,
			     uint64_t size, struct store_writer **w_r, struct err *e)
{
	struct imap_store *s = S(st);
	*w_r = NULL;
	if (!s->box)
		return err_set(e, ERR_USAGE, "append: no mailbox open");
	struct store_writer *w = mf_calloc(1, sizeof *w);
	w->s = s;
	w->fd = -1;
	w->size = size;
	w->idate = idate;
	w->box = mf_strdup(s->box);
	buf_init(&w->mem, size <= APPEND_MEM_MAX ? (size_t)size + 1 : 1);
	if (flags) {
		struct flagset f;
		struct buf t = BUF_INIT(65536);
		flagset_copy(&f, flags);
		flagset_format(&f, &t);
		flagset_free(&f);
		w->flags = buf_detach(&t, NULL);
	}
	if (size > APPEND_MEM_MAX) {
		const char *dir = getenv("TMPDIR");
		w->fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (w->fd < 0) {
			err_sys(e, ERR_IO, "cannot create a spool file for a %" PRIu64
				"-byte append", size);
			writer_free(w);
			return -1;
		}
	}
	*w_r = w;
	return 0;
}

static int imap_append_write(struct store_writer *w, const void *data, size_t n,
			     struct err *e)
{
	if (n > w->size - w->written)
		return err_set(e, ERR_USAGE, "append: more than the announced %" PRIu64 " bytes",
			       w->size);
	if (w->fd < 0) {
		if (buf_add(&w->mem, data, n) < 0)
			return err_set(e, ERR_LIMIT, "append: message too large");
	} else {
		const char *p = data;
		size_t left = n;
		while (left) {
			ssize_t r = write(w->fd, p, left);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return err_sys(e, ERR_IO, "append: writing the spool file");
			p += r;
			left -= (size_t)r;
		}
	}
	w->written += n;
	return 0;
}

static void append_done(void *ctx, const struct err *e)
{
	struct store_writer *w = ctx;
	const char *key = NULL;
	char kbuf[16];
	uint32_t uid;
	if (!e && w->map.dst_uids && !(w->s->nocap & IMAP_STORE_NO_UIDPLUS) &&
	    parse_key(w->map.dst_uids, &uid) == 0) {
		snprintf(kbuf, sizeof kbuf, "%" PRIu32, uid);
		key = kbuf;
	}
	if (e)
		defer_error(w->s, e);
	if (w->cb)
		w->cb(w->cb_ctx, e ? NULL : key, e);
	writer_free(w);
}

/* One MULTIAPPEND (RFC 3502) in flight: the server stores all of it or
 * none, in one transaction (Dovecot: one fsync instead of one per message),
 * and APPENDUID names the new UIDs in order. */
struct append_batch {
	struct imap_store *s;
	struct store_writer **w;
	size_t n;
	struct imap_append_msg *msgs;
	struct imap_uidmap map;
};

static void batch_free(struct append_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		writer_free(b->w[i]);
	imap_uidmap_free(&b->map);
	free(b->w);
	free(b->msgs);
	free(b);
}

static void batch_done(void *ctx, const struct err *e)
{
	struct append_batch *b = ctx;
	struct imap_uidset set = { 0 };
	struct imap_uidset_iter it;
	struct err perr;
	int have_keys = 0;
	if (!e && b->map.dst_uids && !(b->s->nocap & IMAP_STORE_NO_UIDPLUS) &&
	    imap_uidset_parse(&set, b->map.dst_uids, 0, 0, &perr) == 0 &&
	    imap_uidset_count(&set) == b->n)
		have_keys = 1;
	if (e)
		defer_error(b->s, e);
	imap_uidset_iter_init(&it, &set);
	for (size_t i = 0; i < b->n; i++) {
		struct store_writer *w = b->w[i];
		uint32_t uid;
		char key[16];
		if (have_keys && imap_uidset_iter_next(&it, &uid))
			snprintf(key, sizeof key, "%" PRIu32, uid);
		else
			key[0] = '\0';
		if (w->cb)
			w->cb(w->cb_ctx, e || !key[0] ? NULL : key, e);
	}
	imap_uidset_free(&set);
	batch_free(b);
}

/* The command took the message's bytes (literals are written out as the
 * command is built, LITERAL+ or not): the memory copy is not needed for
 * the answer, so it does not wait for it. */
static void sent_data(struct store_writer *w)
{
	buf_release(&w->mem);
	w->msg.src.data = NULL;
}

static int submit_one(struct imap_store *s, struct store_writer *w, struct err *e)
{
	struct imap_cmd *cmd;
	w->submitted = 1;
	s->inflight_bytes += w->size;
	if (imap_append(s->c, w->box, &w->msg, &w->map, &cmd, e) < 0) {
		writer_free(w);
		return -1;
	}
	sent_data(w);
	imap_cmd_on_done(&cmd, append_done, w);
	return 0;
}

/* Send the queued appends (one MULTIAPPEND, or a plain APPEND for one). */
static int submit_queue(struct imap_store *s, struct err *e)
{
	size_t n = s->nqueue;
	if (n == 0)
		return 0;
	s->nqueue = 0;
	s->queue_bytes = 0;
	if (n == 1)
		return submit_one(s, s->queue[0], e);
	struct append_batch *b = mf_calloc(1, sizeof *b);
	b->s = s;
	b->n = n;
	b->w = mf_reallocarray(NULL, n, sizeof *b->w);
	b->msgs = mf_reallocarray(NULL, n, sizeof *b->msgs);
	for (size_t i = 0; i < n; i++) {
		b->w[i] = s->queue[i];
		b->msgs[i] = s->queue[i]->msg;
		b->w[i]->submitted = 1;
		s->inflight_bytes += b->w[i]->size;
	}
	struct imap_cmd *cmd;
	if (imap_multiappend(s->c, b->w[0]->box, b->msgs, n, &b->map, &cmd, e) < 0) {
		for (size_t i = 0; i < n; i++)
			if (b->w[i]->cb)
				b->w[i]->cb(b->w[i]->cb_ctx, NULL, e);
		batch_free(b);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		sent_data(b->w[i]);
	imap_cmd_on_done(&cmd, batch_done, b);
	return 0;
}

static int imap_append_end(struct store_writer *w, int ok, store_append_cb *cb, void *cb_ctx,
			   struct err *e)
{
	struct imap_store *s = w->s;
	if (!ok) {
		writer_free(w);
		return 0;
	}
	if (w->written != w->size) {
		err_set(e, ERR_USAGE, "append: %" PRIu64 " bytes written, %" PRIu64 " announced",
			w->written, w->size);
		writer_free(w);
		return -1;
	}
	w->cb = cb;
	w->cb_ctx = cb_ctx;
	w->msg.flags = w->flags && *w->flags ? w->flags : NULL;
	w->msg.idate = w->idate;
	w->msg.src.size = w->size;
	if (w->fd < 0) {
		w->msg.src.data = w->mem.data;
	} else {
		w->msg.src.read = spool_read;
		w->msg.src.ctx = w;
	}
	/* Bound the memory held for unanswered appends: past the limit, wait
	 * for the answers (their callbacks free the data). */
	if (s->inflight_bytes + w->size > INFLIGHT_MAX_BYTES && s->inflight_bytes &&
	    imap_client_drain(s->c, e) < 0) {
		writer_free(w);
		return -1;
	}
	/* linked in before submitting: the answer may arrive inside the call */
	w->next = s->pending;
	if (s->pending)
		s->pending->prev = w;
	s->pending = w;
	if (!has_cap(s, "MULTIAPPEND"))
		return submit_one(s, w, e);
	if (s->nqueue && strcmp(s->queue[0]->box, w->box) != 0 && submit_queue(s, e) < 0) {
		writer_free(w);
		return -1;
	}
	if (s->nqueue == s->capqueue) {
		s->capqueue = s->capqueue ? s->capqueue * 2 : 16;
		s->queue = mf_reallocarray(s->queue, s->capqueue, sizeof *s->queue);
	}
	s->queue[s->nqueue++] = w;
	s->queue_bytes += w->size;
	if (s->nqueue >= BATCH_MAX_MSGS || s->queue_bytes >= BATCH_MAX_BYTES)
		return submit_queue(s, e);
	return 0;
}

/* ------------------------------------------------------------------ */
/* set_flags, expunge                                                   */

/* for_uid_chunks over the UIDs of keys. */
static int for_chunks(struct imap_store *s, const char *const *keys, size_t n, chunk_fn *fn,
		      void *arg, struct err *e)
{
	size_t nu;
	uint32_t *uids = keys_to_uids(keys, n, &nu);
	int rc = for_uid_chunks(s, uids, nu, fn, arg, e);
	free(uids);
	return rc;
}

struct store_arg {
	enum imap_store_op op;
	const char *flags;
};

static int store_chunk(struct imap_store *s, const char *set, void *arg, struct err *e)
{
	const struct store_arg *a = arg;
	struct imap_cmd *cmd;
	if (imap_uid_store(s->c, set, a->op, a->flags, 1, 0, NULL, NULL, &cmd, e) < 0)
		return -1;
	imap_cmd_on_done(&cmd, deferred_done, s);
	return 0;
}

static int store_flags(struct imap_store *s, const char *const *keys, size_t n,
		       const struct flagset *f, enum imap_store_op op, struct err *e)
{
	if (!f || (f->sys == 0 && f->nkw == 0))
		return 0;
	struct buf text = BUF_INIT(65536);
	if (flagset_format(f, &text) < 0) {
		buf_release(&text);
		return err_set(e, ERR_LIMIT, "too many keywords");
	}
	struct store_arg a = { op, text.data };
	int rc = for_chunks(s, keys, n, store_chunk, &a, e);
	buf_release(&text);
	return rc;
}

static int imap_set_flags(struct store *st, const char *const *keys, size_t n,
			  const struct flagset *add, const struct flagset *del, struct err *e)
{
	struct imap_store *s = S(st);
	if (submit_queue(s, e) < 0)
		return -1;
	if (require_box(s, "set flags", e) < 0)
		return -1;
	if (store_flags(s, keys, n, add, IMAP_STORE_ADD, e) < 0)
		return -1;
	return store_flags(s, keys, n, del, IMAP_STORE_REMOVE, e);
}

static int expunge_chunk(struct imap_store *s, const char *set, void *arg, struct err *e)
{
	struct imap_cmd *cmd;
	(void)arg;
	if (imap_uid_store(s->c, set, IMAP_STORE_ADD, "\\Deleted", 1, 0, NULL, NULL, &cmd, e) < 0)
		return -1;
	imap_cmd_on_done(&cmd, deferred_done, s);
	if (imap_uid_expunge(s->c, set, &cmd, e) < 0)
		return -1;
	imap_cmd_on_done(&cmd, deferred_done, s);
	return 0;
}

static int imap_expunge_msgs(struct store *st, const char *const *keys, size_t n,
			     struct err *e)
{
	struct imap_store *s = S(st);
	if (submit_queue(s, e) < 0)
		return -1;
	if (require_box(s, "expunge", e) < 0)
		return -1;
	if (!has_cap(s, "UIDPLUS"))
		return err_set(e, ERR_PERM, "%s: cannot expunge single messages: the server "
			       "lacks UIDPLUS (a plain EXPUNGE would also remove messages other "
			       "clients marked \\Deleted)", s->host);
	return for_chunks(s, keys, n, expunge_chunk, NULL, e);
}

/* ------------------------------------------------------------------ */
/* mailboxes                                                            */

/* Leave the selected mailbox without expunging, when it is `srv`. */
static void leave_box(struct imap_store *s, const char *srv)
{
	struct err ignored;
	if (!s->box || strcmp(s->box, srv) != 0)
		return;
	pre_drop(s);
	known_drop(s);
	if (imap_client_has_cap(s->c, "UNSELECT"))
		imap_unselect(s->c, &ignored);
	free(s->box);
	s->box = NULL;
}

static int imap_create_box(struct store *st, const char *name, struct err *e)
{
	struct imap_store *s = S(st);
	presel_settle(s);
	if (submit_queue(s, e) < 0)
		return -1;
	struct buf srv = BUF_INIT(4096);
	int rc = to_server(s, name, &srv, e);
	if (rc == 0)
		rc = imap_create(s->c, srv.data, NULL, e);
	buf_release(&srv);
	return rc;
}

static int imap_delete_box(struct store *st, const char *name, struct err *e)
{
	struct imap_store *s = S(st);
	presel_settle(s);
	if (submit_queue(s, e) < 0)
		return -1;
	struct buf srv = BUF_INIT(4096);
	int rc = to_server(s, name, &srv, e);
	if (rc == 0) {
		leave_box(s, srv.data);
		rc = imap_delete(s->c, srv.data, NULL, e);
	}
	buf_release(&srv);
	return rc;
}

static int imap_rename_box(struct store *st, const char *from, const char *to, struct err *e)
{
	struct imap_store *s = S(st);
	presel_settle(s);
	if (submit_queue(s, e) < 0)
		return -1;
	struct buf a = BUF_INIT(4096), b = BUF_INIT(4096);
	int rc = to_server(s, from, &a, e);
	if (rc == 0)
		rc = to_server(s, to, &b, e);
	if (rc == 0) {
		leave_box(s, a.data);
		rc = imap_rename(s->c, a.data, b.data, NULL, e);
	}
	buf_release(&a);
	buf_release(&b);
	return rc;
}

/* ------------------------------------------------------------------ */
/* flush, close, open                                                   */

static int imap_flush(struct store *st, struct err *e)
{
	struct imap_store *s = S(st);
	if (submit_queue(s, e) < 0)
		return -1;
	if (imap_client_drain(s->c, e) < 0)
		return -1;
	if (s->ndeferred) {
		*e = s->deferred;
		if (s->ndeferred > 1) {
			size_t l = strlen(e->msg);
			snprintf(e->msg + l, sizeof e->msg - l, " (and %u more failed)",
				 s->ndeferred - 1);
		}
		s->ndeferred = 0;
		err_clear(&s->deferred);
		return -1;
	}
	return 0;
}

static void imap_store_close(struct store *st)
{
	struct imap_store *s = S(st);
	struct err ignored;
	if (!s)
		return;
	if (s->c && !imap_client_fatal(s->c)) {
		submit_queue(s, &ignored);
		imap_client_drain(s->c, &ignored);
		imap_logout(s->c, &ignored);
	}
	imap_client_free(&s->c); /* no response reaches presel_pre after this */
	list_ctx_release(s->presel_pre);
	free(s->presel_box);
	while (s->pending)
		writer_free(s->pending);
	pre_drop(s);
	known_drop(s);
	refused_drop(s);
	free(s->queue);
	free(s->box);
	free(s->host);
	free(s->base.label);
	free(s);
}

/* A forked child's copy: the connection is the parent's (no LOGOUT, no
 * TLS close_notify: SSL_free sends nothing), only the fd is closed. */
void imap_store_abandon(struct store *st)
{
	struct imap_store *s = S(st);
	if (!s)
		return;
	imap_client_free(&s->c);
	imap_store_close(st);
}

static const struct store_ops imap_store_ops = {
	.type = "imap",
	.close = imap_store_close,
	.list_boxes = imap_list_boxes,
	.open_box = imap_open_box,
	.list_msgs = imap_list_msgs,
	.fetch = imap_fetch,
	.headers = imap_headers,
	.append_begin = imap_append_begin,
	.append_write = imap_append_write,
	.append_end = imap_append_end,
	.set_flags = imap_set_flags,
	.expunge = imap_expunge_msgs,
	.create_box = imap_create_box,
	.delete_box = imap_delete_box,
	.rename_box = imap_rename_box,
	.flush = imap_flush,
};

/* The server's delimiter from LIST "" "" ('/' when it does not say). */
static int learn_delim(struct imap_store *s, struct err *e)
{
	struct imap_boxlist l = { 0 };
	s->delim = '/';
	if (imap_list(s->c, "", "", 0, 0, &l, NULL, e) < 0)
		return -1;
	if (l.n > 0)
		s->delim = l.v[0].delim;
	imap_boxlist_free(&l);
	return 0;
}

int imap_store_from_client(struct imap_client *c, const char *label, unsigned nocap,
			   struct store **s_r, struct err *e)
{
	struct imap_store *s = mf_calloc(1, sizeof *s);
	s->base.ops = &imap_store_ops;
	s->base.label = mf_strdup(label);
	s->c = c;
	s->host = mf_strdup(imap_client_host(c));
	s->nocap = nocap;
	*s_r = NULL;
	if (learn_delim(s, e) < 0) {
		s->c = NULL; /* not ours until we succeed */
		imap_store_close(&s->base);
		return -1;
	}
	*s_r = &s->base;
	return 0;
}

struct imap_client *imap_store_client(struct store *s)
{
	return S(s)->c;
}

char imap_store_delim(struct store *s)
{
	return S(s)->delim;
}

void imap_store_step_error(struct err *e, const char *host, const char *step)
{
	char rest[ERR_MSG_MAX];
	size_t hl = strlen(host);
	const char *m = e->msg;
	if (!strncmp(m, host, hl) && m[hl] == ':' && m[hl + 1] == ' ')
		m += hl + 2;
	snprintf(rest, sizeof rest, "%s", m);
	if (snprintf(e->msg, sizeof e->msg, "%s: %s: %s", host, step, rest) >= (int)sizeof e->msg)
		e->msg[sizeof e->msg - 2] = '.'; /* mark the cut */
}

int imap_store_open(const struct imap_store_opts *o, struct store **s_r, struct err *e)
{
	struct imap_client_opts co = { 0 };
	struct imap_client *c = NULL;
	*s_r = NULL;
	co.host = o->host;
	co.port = o->port;
	co.tls = o->tls;
	co.ca_file = o->ca_file;
	co.pipeline_depth = o->pipeline_depth;
	co.connect_timeout_ms = o->connect_timeout_ms;
	co.read_timeout_ms = o->read_timeout_ms;
	co.cancel_fd = o->cancel_fd;
	co.trace = o->trace;
	co.trace_ctx = o->trace_ctx;
	if (imap_client_connect(&co, &c, e) < 0) {
		imap_store_step_error(e, o->host, "connect");
		return -1;
	}
	if (imap_client_state(c) == IMAP_STATE_NOT_AUTHENTICATED &&
	    imap_auth_with(c, o->auth_mech, o->user, o->pass ? o->pass : "", e) < 0) {
		imap_store_step_error(e, o->host, "login");
		imap_client_free(&c);
		return -1;
	}
	char label[512];
	snprintf(label, sizeof label, "imap://%s@%s", o->user, o->host);
	if (imap_store_from_client(c, label, o->nocap, s_r, e) < 0) {
		imap_store_step_error(e, o->host, "list");
		imap_client_free(&c);
		return -1;
	}
	imap_client_uncancel(c);
	return 0;
}
