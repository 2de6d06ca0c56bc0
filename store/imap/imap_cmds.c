/*
 * imap_cmds.c — the IMAP commands of the authenticated and selected states
 * (ENABLE, SELECT/EXAMINE, CLOSE, UNSELECT, LIST, LSUB, NAMESPACE, STATUS,
 * CREATE, DELETE, RENAME, (UN)SUBSCRIBE, APPEND, MULTIAPPEND, UID FETCH,
 * UID STORE, UID SEARCH / ESEARCH, UID COPY, UID MOVE, EXPUNGE, UID EXPUNGE,
 * CHECK, MYRIGHTS, GETACL, raw) and the routing of the untagged data they
 * collect. The engine (tags, pipelining, literals, errors) is imap_client.c.
 * RFCs: 3501, 9051, 4315, 6851, 3502, 4731, 5258, 5819, 6154, 2342, 4314,
 * 7162, 3691, 5161.
 *
 * Every caller-supplied text that goes on the wire verbatim (UID sets, FETCH
 * items, search criteria, flags) is checked for CR, LF and NUL first, so a
 * caller cannot inject a second command.
 */
#include "imap/imap_client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_date.h"
#include "imap/imap_uidset.h"
#include "lib/banned.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static int check_text(struct imap_client *c, const char *what, const char *s, struct err *e)
{
	if (!s || !*s)
		return err_set(e, ERR_USAGE, "%s: %s: empty argument", c->host, what);
	for (const char *p = s; *p; p++)
		if (*p == '\r' || *p == '\n')
			return err_set(e, ERR_USAGE, "%s: %s: line break in argument", c->host,
				       what);
	return 0;
}

static int check_set(struct imap_client *c, const char *what, const char *s, struct err *e)
{
	if (!s || !*s)
		return err_set(e, ERR_USAGE, "%s: %s: empty UID set", c->host, what);
	if (strspn(s, "0123456789:,*") != strlen(s))
		return err_set(e, ERR_USAGE, "%s: %s: bad UID set '%.40s'", c->host, what, s);
	return 0;
}

/* Flags: atoms (with \ for system flags) separated by spaces. */
static int check_flags(struct imap_client *c, const char *what, const char *s, struct err *e)
{
	for (const char *p = s ? s : ""; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 && ch != ' ')
			return err_set(e, ERR_USAGE, "%s: %s: bad flag list", c->host, what);
		if (ch >= 0x7f || strchr("(){%\"]", ch))
			return err_set(e, ERR_USAGE, "%s: %s: bad character in flags '%.40s'",
				       c->host, what, s);
	}
	return 0;
}

static void desc_mbox(char *out, size_t n, const char *verb, const char *name)
{
	snprintf(out, n, "%s \"%s\"", verb, name);
}

static int add_name(struct imap_client *c, struct imap_cmd *cmd, const struct buf *enc)
{
	return imap_client_cmd_astring(c, cmd, enc->data, enc->len, 0);
}

/* One-mailbox command "VERB name". */
static int simple_mbox_cmd(struct imap_client *c, const char *verb, const char *name,
			   enum cmd_kind kind, unsigned states, struct imap_cmd **cmd_r,
			   struct err *e)
{
	struct buf enc = BUF_INIT(4096);
	char desc[128];

	if (cmd_r)
		*cmd_r = NULL;
	desc_mbox(desc, sizeof(desc), verb, name);
	if (imap_client_mbox_encode(c, name, &enc, e) < 0) {
		buf_release(&enc);
		return -1;
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, kind, states, 0, desc, e);
	if (!cmd) {
		buf_release(&enc);
		return -1;
	}
	imap_client_cmd_addf(c, cmd, "%s ", verb);
	add_name(c, cmd, &enc);
	buf_release(&enc);
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

static void cmd_proto_err(struct imap_client *c, struct imap_cmd *cmd, const struct err *e2)
{
	struct err e;

	err_set(&e, ERR_PROTO, "%s: %s: %s", c->host, cmd->desc, e2->msg);
	imap_client_cmd_fail(cmd, &e);
}

static int names_equal(const char *a, const char *b)
{
	if (strcasecmp(a, "INBOX") == 0)
		return strcasecmp(b, "INBOX") == 0;
	return strcmp(a, b) == 0;
}

static void copy_status(struct imap_mbox_status *st, const struct imap_status_info *si)
{
	st->items |= si->present;
	if (si->present & IMAP_STATUS_MESSAGES)
		st->messages = si->messages;
	if (si->present & IMAP_STATUS_RECENT)
		st->recent = si->recent;
	if (si->present & IMAP_STATUS_UIDNEXT)
		st->uidnext = si->uidnext;
	if (si->present & IMAP_STATUS_UIDVALIDITY)
		st->uidvalidity = si->uidvalidity;
	if (si->present & IMAP_STATUS_UNSEEN)
		st->unseen = si->unseen;
	if (si->present & IMAP_STATUS_HIGHESTMODSEQ)
		st->highestmodseq = si->highestmodseq;
}

static void fmt_status_items(struct imap_client *c, unsigned items, struct buf *b)
{
	static const struct {
		unsigned bit;
		const char *name;
	} tab[] = {
		{ IMAP_STATUS_MESSAGES, "MESSAGES" },     { IMAP_STATUS_RECENT, "RECENT" },
		{ IMAP_STATUS_UIDNEXT, "UIDNEXT" },       { IMAP_STATUS_UIDVALIDITY, "UIDVALIDITY" },
		{ IMAP_STATUS_UNSEEN, "UNSEEN" },         { IMAP_STATUS_HIGHESTMODSEQ, "HIGHESTMODSEQ" },
	};

	if (!imap_client_has_cap(c, "CONDSTORE") && !imap_client_has_cap(c, "QRESYNC"))
		items &= ~(unsigned)IMAP_STATUS_HIGHESTMODSEQ;
	if (!items)
		items = IMAP_STATUS_MESSAGES;
	buf_addch(b, '(');
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (!(items & tab[i].bit))
			continue;
		if (b->len > 1)
			buf_addch(b, ' ');
		buf_addstr(b, tab[i].name);
	}
	buf_addch(b, ')');
}

/* ------------------------------------------------------------------ */
/* Untagged data routing                                                */

static void add_search_uid(struct imap_cmd *cmd, uint32_t uid)
{
	if (!cmd->search_uids)
		return;
	if (*cmd->search_n == cmd->search_alloc) {
		cmd->search_alloc = cmd->search_alloc ? cmd->search_alloc * 2 : 64;
		*cmd->search_uids = mf_reallocarray(*cmd->search_uids, cmd->search_alloc,
						    sizeof(uint32_t));
	}
	(*cmd->search_uids)[(*cmd->search_n)++] = uid;
}

static int route_list(struct imap_client *c, const struct imap_response *r, int lsub)
{
	struct imap_cmd *cmd = imap_client_find_kind(c, lsub ? CK_LSUB : CK_LIST);
	struct imap_list li = { 0 };
	struct err e;

	if (!cmd)
		return 0;
	if (imap_resp_list(r, &li, &e) < 0) {
		cmd_proto_err(c, cmd, &e);
		imap_list_free(&li);
		return 1;
	}
	struct imap_boxlist *out = cmd->list;
	out->v = mf_reallocarray(out->v, out->n + 1, sizeof(*out->v));
	struct imap_box *b = &out->v[out->n++];
	memset(b, 0, sizeof(*b));
	b->raw_name = mf_strdup(li.name);
	b->name = imap_client_mbox_decode(li.name, &b->bad_name);
	b->delim = li.delim;
	b->attrs = li.attrs;
	struct buf t = BUF_INIT(1 << 20);
	const struct imap_arg *items;
	size_t n;
	if (r->nargs > 0 && imap_arg_list(&r->args[0], &items, &n)) {
		for (size_t i = 0; i < n; i++) {
			const char *a = imap_arg_atom(&items[i]);
			if (a)
				buf_addf(&t, "%s%s", t.len ? " " : "", a);
		}
	}
	b->attrs_text = buf_detach(&t, NULL);
	imap_list_free(&li);
	return 1;
}

static int route_status(struct imap_client *c, const struct imap_response *r)
{
	struct imap_status_info si;
	struct err e;
	int used = 0;

	memset(&si, 0, sizeof(si));
	if (imap_resp_status(r, &si, &e) < 0) {
		struct imap_cmd *cmd = imap_client_find_kind(c, CK_STATUS);
		if (!cmd)
			cmd = imap_client_find_kind(c, CK_LIST);
		if (cmd) {
			cmd_proto_err(c, cmd, &e);
			used = 1;
		}
		imap_status_info_free(&si);
		return used;
	}
	/* LIST-STATUS first: the STATUS follows its LIST entry. */
	struct imap_cmd *lc = imap_client_find_kind(c, CK_LIST);
	if (lc && lc->list && lc->list_status) {
		for (size_t i = lc->list->n; i-- > 0;) {
			struct imap_box *b = &lc->list->v[i];
			if (names_equal(b->raw_name, si.name)) {
				b->has_status = 1;
				copy_status(&b->status, &si);
				used = 1;
				break;
			}
		}
	}
	if (!used) {
		struct imap_cmd *first = NULL;
		for (struct imap_cmd *p = c->head; p; p = p->next) {
			if (p->kind != CK_STATUS)
				continue;
			if (!first)
				first = p;
			if (p->match_name && names_equal(p->match_name, si.name) &&
			    !p->st->items) {
				first = p;
				break;
			}
		}
		if (first) {
			copy_status(first->st, &si);
			used = 1;
		}
	}
	imap_status_info_free(&si);
	return used;
}

static struct imap_cmd *fetch_target(struct imap_client *c)
{
	for (struct imap_cmd *p = c->head; p; p = p->next)
		if (p->fh)
			return p;
	return NULL;
}

static int route_fetch(struct imap_client *c, const struct imap_response *r)
{
	struct imap_cmd *cmd = fetch_target(c);
	struct imap_fetch f;
	struct err e;

	if (!cmd || !cmd->fh->msg)
		return 0;
	memset(&f, 0, sizeof(f));
	if (imap_resp_fetch(r, &f, &e) < 0) {
		cmd_proto_err(c, cmd, &e);
	} else if (!cmd->failed) {
		err_clear(&e);
		if (cmd->fh->msg(cmd->fh->ctx, &f, r, &e) < 0) {
			if (e.cls == ERR_NONE)
				err_set(&e, ERR_PERM, "%s: %s: FETCH handler failed", c->host,
					cmd->desc);
			imap_client_cmd_fail(cmd, &e);
		}
	}
	imap_fetch_free(&f);
	return 1;
}

static int route_vanished(struct imap_client *c, const struct imap_response *r)
{
	struct imap_cmd *cmd = fetch_target(c);
	struct imap_uidset set = { 0 };
	int earlier = 0;
	struct err e;

	if (!cmd || !cmd->fh->vanished)
		return 0;
	if (imap_resp_vanished(r, &earlier, &set, &e) < 0) {
		imap_uidset_free(&set);
		return 0;
	}
	if (!earlier) {
		imap_uidset_free(&set);
		return 0; /* a real expunge: mailbox state + event */
	}
	err_clear(&e);
	if (!cmd->failed && cmd->fh->vanished(cmd->fh->ctx, &set, earlier, &e) < 0) {
		if (e.cls == ERR_NONE)
			err_set(&e, ERR_PERM, "%s: %s: VANISHED handler failed", c->host, cmd->desc);
		imap_client_cmd_fail(cmd, &e);
	}
	imap_uidset_free(&set);
	return 1;
}

static int route_search(struct imap_client *c, const struct imap_response *r)
{
	struct imap_cmd *cmd = imap_client_find_kind(c, CK_SEARCH);
	uint32_t *nums = NULL;
	size_t n = 0;
	uint64_t modseq = 0;
	struct err e;

	if (!cmd)
		return 0;
	if (imap_resp_search(r, &nums, &n, &modseq, &e) < 0)
		cmd_proto_err(c, cmd, &e);
	else
		for (size_t i = 0; i < n; i++)
			add_search_uid(cmd, nums[i]);
	free(nums);
	return 1;
}

static int route_esearch(struct imap_client *c, const struct imap_response *r)
{
	struct imap_esearch es;
	struct err e;
	struct imap_cmd *cmd = NULL;

	memset(&es, 0, sizeof(es));
	if (imap_resp_esearch(r, &es, &e) < 0) {
		cmd = imap_client_find_kind(c, CK_SEARCH);
		if (cmd)
			cmd_proto_err(c, cmd, &e);
		imap_esearch_free(&es);
		return cmd != NULL;
	}
	for (struct imap_cmd *p = c->head; p; p = p->next)
		if (p->kind == CK_SEARCH && (!es.tag || strcmp(es.tag, p->tag) == 0)) {
			cmd = p;
			break;
		}
	if (!cmd) {
		imap_esearch_free(&es);
		return 0;
	}
	if (cmd->esearch_expand) {
		struct imap_uidset_iter it;
		uint32_t uid;
		imap_uidset_iter_init(&it, &es.all);
		while (imap_uidset_iter_next(&it, &uid))
			add_search_uid(cmd, uid);
		imap_esearch_free(&es);
	} else if (cmd->esearch) {
		imap_esearch_free(cmd->esearch);
		*cmd->esearch = es;
	} else {
		imap_esearch_free(&es);
	}
	return 1;
}

static int route_namespace(struct imap_client *c, const struct imap_response *r)
{
	struct imap_cmd *cmd = imap_client_find_kind(c, CK_NAMESPACE);
	struct err e;

	if (!cmd || !cmd->ns)
		return 0;
	imap_namespace_free(cmd->ns);
	if (imap_resp_namespace(r, cmd->ns, &e) < 0) {
		cmd_proto_err(c, cmd, &e);
		return 1;
	}
	struct imap_ns *groups[3] = { cmd->ns->personal, cmd->ns->other, cmd->ns->shared };
	size_t counts[3] = { cmd->ns->npersonal, cmd->ns->nother, cmd->ns->nshared };
	for (int g = 0; g < 3; g++) {
		for (size_t i = 0; i < counts[g]; i++) {
			char *d = imap_client_mbox_decode(groups[g][i].prefix, NULL);
			free(groups[g][i].prefix);
			groups[g][i].prefix = d;
		}
	}
	return 1;
}

static int route_acl(struct imap_client *c, const struct imap_response *r)
{
	struct imap_cmd *cmd = imap_client_find_kind(c, CK_GETACL);

	if (!cmd || !cmd->acl)
		return 0;
	/* "* ACL mailbox (identifier rights)*" */
	for (size_t i = 1; i + 1 < r->nargs; i += 2) {
		const char *id = imap_arg_astring(&r->args[i]);
		const char *rights = imap_arg_astring(&r->args[i + 1]);
		if (!id || !rights) {
			struct err e;
			err_set(&e, ERR_PROTO, "bad ACL response");
			cmd_proto_err(c, cmd, &e);
			return 1;
		}
		cmd->acl->v = mf_reallocarray(cmd->acl->v, cmd->acl->n + 1, sizeof(*cmd->acl->v));
		cmd->acl->v[cmd->acl->n].identifier = mf_strdup(id);
		cmd->acl->v[cmd->acl->n].rights = mf_strdup(rights);
		cmd->acl->n++;
	}
	return 1;
}

int imap_cmds_untagged(struct imap_client *c, const struct imap_response *r)
{
	const char *kw = r->keyword;
	struct err e;

	struct imap_cmd *raw = imap_client_find_kind(c, CK_RAW);
	if (raw && raw->raw_fn && !raw->failed) {
		err_clear(&e);
		if (raw->raw_fn(raw->raw_ctx, r, &e) < 0) {
			if (e.cls == ERR_NONE)
				err_set(&e, ERR_PERM, "%s: %s: handler failed", c->host, raw->desc);
			imap_client_cmd_fail(raw, &e);
		}
	}
	if (strcmp(kw, "LIST") == 0)
		return route_list(c, r, 0);
	if (strcmp(kw, "LSUB") == 0)
		return route_list(c, r, 1);
	if (strcmp(kw, "STATUS") == 0)
		return route_status(c, r);
	if (strcmp(kw, "FETCH") == 0)
		return route_fetch(c, r);
	if (strcmp(kw, "VANISHED") == 0)
		return route_vanished(c, r);
	if (strcmp(kw, "SEARCH") == 0)
		return route_search(c, r);
	if (strcmp(kw, "ESEARCH") == 0)
		return route_esearch(c, r);
	if (strcmp(kw, "NAMESPACE") == 0)
		return route_namespace(c, r);
	if (strcmp(kw, "ACL") == 0)
		return route_acl(c, r);
	if (strcmp(kw, "ID") == 0) {
		struct imap_cmd *cmd = imap_client_find_kind(c, CK_ID);
		if (!cmd)
			return 0;
		if (cmd->id) {
			imap_id_free(cmd->id);
			if (imap_resp_id(r, cmd->id, &e) < 0)
				cmd_proto_err(c, cmd, &e);
		}
		return 1;
	}
	if (strcmp(kw, "MYRIGHTS") == 0) {
		struct imap_cmd *cmd = imap_client_find_kind(c, CK_MYRIGHTS);
		char *name = NULL, *rights = NULL;
		if (!cmd)
			return 0;
		if (imap_resp_myrights(r, &name, &rights, &e) < 0) {
			cmd_proto_err(c, cmd, &e);
		} else if (cmd->rights) {
			free(*cmd->rights);
			*cmd->rights = rights;
			rights = NULL;
		}
		free(name);
		free(rights);
		return 1;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void imap_cmds_tagged_ok(struct imap_client *c, struct imap_cmd *cmd,
			 const struct imap_response *r)
{
	const struct imap_code *code = &r->code;

	(void)c;
	if (code->kind == IMAP_CODE_APPENDUID && cmd->kind == CK_APPEND && cmd->uidmap &&
	    code->nwords >= 2) {
		cmd->uidmap->uidvalidity = (uint32_t)code->num;
		free(cmd->uidmap->dst_uids);
		cmd->uidmap->dst_uids = mf_strdup(code->words[1]);
	}
	if (code->kind == IMAP_CODE_COPYUID && cmd->kind == CK_COPY && cmd->uidmap &&
	    code->nwords >= 3) {
		cmd->uidmap->uidvalidity = (uint32_t)code->num;
		free(cmd->uidmap->src_uids);
		free(cmd->uidmap->dst_uids);
		cmd->uidmap->src_uids = mf_strdup(code->words[1]);
		cmd->uidmap->dst_uids = mf_strdup(code->words[2]);
	}
	if (code->kind == IMAP_CODE_MODIFIED && cmd->modified && code->nwords >= 1) {
		free(*cmd->modified);
		*cmd->modified = mf_strdup(code->words[0]);
	}
	if (cmd->kind == CK_SEARCH && cmd->search_uids && *cmd->search_n > 1)
		qsort(*cmd->search_uids, *cmd->search_n, sizeof(uint32_t), cmp_u32);
}

/* ------------------------------------------------------------------ */
/* Authenticated state                                                  */

int imap_enable(struct imap_client *c, const char *caps, struct err *e)
{
	if (imap_client_need_cap(c, "ENABLE", "ENABLE", e) < 0 ||
	    check_text(c, "ENABLE", caps, e) < 0)
		return -1;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_ENABLE, ST_AUTH, 1, "ENABLE", e);
	if (!cmd)
		return -1;
	imap_client_cmd_addf(c, cmd, "ENABLE %s", caps);
	return imap_client_cmd_finish(c, cmd, NULL, e);
}

static int select_cmd(struct imap_client *c, const char *mbox, const struct imap_select_opts *opts,
		      struct imap_cmd **cmd_r, struct err *e)
{
	struct imap_select_opts none = { 0 };
	struct buf enc = BUF_INIT(4096);
	char desc[128];

	if (!opts)
		opts = &none;
	const char *verb = opts->read_only ? "EXAMINE" : "SELECT";
	desc_mbox(desc, sizeof(desc), verb, mbox);
	if (opts->qresync_uidvalidity && !imap_client_enabled(c, "QRESYNC"))
		return err_set(e, ERR_USAGE, "%s: %s: QRESYNC is not enabled", c->host, desc);
	if (opts->condstore && !imap_client_has_cap(c, "CONDSTORE"))
		return err_set(e, ERR_USAGE, "%s: %s: server does not advertise CONDSTORE",
			       c->host, desc);
	if (opts->qresync_known_uids && check_set(c, desc, opts->qresync_known_uids, e) < 0)
		return -1;
	if (imap_client_mbox_encode(c, mbox, &enc, e) < 0) {
		buf_release(&enc);
		return -1;
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_SELECT, ST_AUTH, 1, desc, e);
	if (!cmd) {
		buf_release(&enc);
		return -1;
	}
	cmd->fh = opts->fetch;
	imap_client_mailbox_reset(c, mbox, opts->read_only);
	imap_client_cmd_addf(c, cmd, "%s ", verb);
	add_name(c, cmd, &enc);
	buf_release(&enc);
	if (opts->qresync_uidvalidity) {
		imap_client_cmd_addf(c, cmd, " (QRESYNC (%u %llu%s%s))", opts->qresync_uidvalidity,
				     (unsigned long long)opts->qresync_modseq,
				     opts->qresync_known_uids ? " " : "",
				     opts->qresync_known_uids ? opts->qresync_known_uids : "");
	} else if (opts->condstore) {
		imap_client_cmd_add(c, cmd, " (CONDSTORE)", 0);
	}
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

int imap_select(struct imap_client *c, const char *mbox, const struct imap_select_opts *opts,
		struct err *e)
{
	return select_cmd(c, mbox, opts, NULL, e);
}

int imap_select_start(struct imap_client *c, const char *mbox, const struct imap_select_opts *opts,
		      struct imap_cmd **cmd_r, struct err *e)
{
	*cmd_r = NULL;
	if (select_cmd(c, mbox, opts, cmd_r, e) < 0)
		return -1;
	return imap_client_flush(c) < 0 ? imap_cmd_wait(c, cmd_r, e) : 0;
}

int imap_examine(struct imap_client *c, const char *mbox, struct err *e)
{
	struct imap_select_opts o = { .read_only = 1 };

	return imap_select(c, mbox, &o, e);
}

int imap_status(struct imap_client *c, const char *mbox, unsigned items, struct imap_mbox_status *st_r,
		struct imap_cmd **cmd_r, struct err *e)
{
	struct buf enc = BUF_INIT(4096), it = BUF_INIT(256);
	char desc[128];

	if (cmd_r)
		*cmd_r = NULL;
	memset(st_r, 0, sizeof(*st_r));
	desc_mbox(desc, sizeof(desc), "STATUS", mbox);
	if (imap_client_mbox_encode(c, mbox, &enc, e) < 0) {
		buf_release(&enc);
		return -1;
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_STATUS, ST_AUTH, 0, desc, e);
	if (!cmd) {
		buf_release(&enc);
		return -1;
	}
	cmd->st = st_r;
	cmd->match_name = mf_strdup(enc.data);
	fmt_status_items(c, items, &it);
	imap_client_cmd_add(c, cmd, "STATUS ", 0);
	add_name(c, cmd, &enc);
	imap_client_cmd_addf(c, cmd, " %s", it.data);
	buf_release(&enc);
	buf_release(&it);
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

void imap_boxlist_free(struct imap_boxlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].raw_name);
		free(l->v[i].attrs_text);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int list_cmd(struct imap_client *c, int lsub, const char *ref, const char *pattern,
		    unsigned flags, unsigned status_items, struct imap_boxlist *out,
		    struct imap_cmd **cmd_r, struct err *e)
{
	struct buf eref = BUF_INIT(4096), epat = BUF_INIT(4096), opts = BUF_INIT(512);
	const char *verb = lsub ? "LSUB" : "LIST";
	char desc[128];
	int r = -1;

	if (cmd_r)
		*cmd_r = NULL;
	memset(out, 0, sizeof(*out));
	snprintf(desc, sizeof(desc), "%s \"%s\" \"%s\"", verb, ref ? ref : "", pattern);
	if ((ref && *ref && imap_client_mbox_encode(c, ref, &eref, e) < 0) ||
	    imap_client_mbox_encode(c, pattern, &epat, e) < 0)
		goto out;
	if (!lsub && imap_client_has_cap(c, "LIST-EXTENDED")) {
		if ((flags & IMAP_LIST_SPECIAL_USE) && imap_client_has_cap(c, "SPECIAL-USE"))
			buf_addstr(&opts, "SPECIAL-USE");
		if (flags & IMAP_LIST_SUBSCRIBED)
			buf_addf(&opts, "%sSUBSCRIBED", opts.len ? " " : "");
		if (flags & IMAP_LIST_CHILDREN)
			buf_addf(&opts, "%sCHILDREN", opts.len ? " " : "");
	}
	int list_status = !lsub && status_items && imap_client_has_cap(c, "LIST-STATUS");
	if (list_status) {
		struct buf it = BUF_INIT(256);
		fmt_status_items(c, status_items, &it);
		buf_addf(&opts, "%sSTATUS %s", opts.len ? " " : "", it.data);
		buf_release(&it);
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, lsub ? CK_LSUB : CK_LIST, ST_AUTH, 0,
						     desc, e);
	if (!cmd)
		goto out;
	cmd->list = out;
	cmd->list_status = list_status;
	imap_client_cmd_addf(c, cmd, "%s ", verb);
	imap_client_cmd_astring(c, cmd, eref.data, eref.len, 0);
	imap_client_cmd_add(c, cmd, " ", 0);
	imap_client_cmd_astring(c, cmd, epat.data, epat.len, 0);
	if (opts.len)
		imap_client_cmd_addf(c, cmd, " RETURN (%s)", opts.data);
	r = imap_client_cmd_finish(c, cmd, cmd_r, e);
	/* A synchronous LIST that failed half-way (a NO, a malformed entry, a
	 * dropped connection) leaves nothing behind for the caller to free. */
	if (r < 0 && !cmd_r)
		imap_boxlist_free(out);
out:
	buf_release(&eref);
	buf_release(&epat);
	buf_release(&opts);
	return r;
}

int imap_list(struct imap_client *c, const char *ref, const char *pattern, unsigned flags,
	      unsigned status_items, struct imap_boxlist *out, struct imap_cmd **cmd_r,
	      struct err *e)
{
	return list_cmd(c, 0, ref, pattern, flags, status_items, out, cmd_r, e);
}

int imap_lsub(struct imap_client *c, const char *ref, const char *pattern,
	      struct imap_boxlist *out, struct imap_cmd **cmd_r, struct err *e)
{
	return list_cmd(c, 1, ref, pattern, 0, 0, out, cmd_r, e);
}

int imap_namespace(struct imap_client *c, struct imap_namespace *ns_r, struct err *e)
{
	memset(ns_r, 0, sizeof(*ns_r));
	if (imap_client_need_cap(c, "NAMESPACE", "NAMESPACE", e) < 0)
		return -1;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_NAMESPACE, ST_AUTH, 0, "NAMESPACE", e);
	if (!cmd)
		return -1;
	cmd->ns = ns_r;
	imap_client_cmd_add(c, cmd, "NAMESPACE", 0);
	return imap_client_cmd_finish(c, cmd, NULL, e);
}

int imap_create(struct imap_client *c, const char *mbox, struct imap_cmd **cmd_r, struct err *e)
{
	return simple_mbox_cmd(c, "CREATE", mbox, CK_PLAIN, ST_AUTH, cmd_r, e);
}

int imap_delete(struct imap_client *c, const char *mbox, struct imap_cmd **cmd_r, struct err *e)
{
	return simple_mbox_cmd(c, "DELETE", mbox, CK_PLAIN, ST_AUTH, cmd_r, e);
}

int imap_subscribe(struct imap_client *c, const char *mbox, struct imap_cmd **cmd_r,
		   struct err *e)
{
	return simple_mbox_cmd(c, "SUBSCRIBE", mbox, CK_PLAIN, ST_AUTH, cmd_r, e);
}

int imap_unsubscribe(struct imap_client *c, const char *mbox, struct imap_cmd **cmd_r,
		     struct err *e)
{
	return simple_mbox_cmd(c, "UNSUBSCRIBE", mbox, CK_PLAIN, ST_AUTH, cmd_r, e);
}

int imap_rename(struct imap_client *c, const char *from, const char *to,
		struct imap_cmd **cmd_r, struct err *e)
{
	struct buf ef = BUF_INIT(4096), et = BUF_INIT(4096);
	char desc[160];
	int r = -1;

	if (cmd_r)
		*cmd_r = NULL;
	snprintf(desc, sizeof(desc), "RENAME \"%s\" \"%s\"", from, to);
	if (imap_client_mbox_encode(c, from, &ef, e) < 0 ||
	    imap_client_mbox_encode(c, to, &et, e) < 0)
		goto out;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_PLAIN, ST_AUTH, 0, desc, e);
	if (!cmd)
		goto out;
	imap_client_cmd_add(c, cmd, "RENAME ", 0);
	add_name(c, cmd, &ef);
	imap_client_cmd_add(c, cmd, " ", 0);
	add_name(c, cmd, &et);
	r = imap_client_cmd_finish(c, cmd, cmd_r, e);
out:
	buf_release(&ef);
	buf_release(&et);
	return r;
}

/* ------------------------------------------------------------------ */
/* APPEND                                                               */

void imap_uidmap_free(struct imap_uidmap *m)
{
	free(m->src_uids);
	free(m->dst_uids);
	memset(m, 0, sizeof(*m));
}

static int append_msg_args(struct imap_client *c, struct imap_cmd *cmd,
			   const struct imap_append_msg *m)
{
	char date[IMAP_DATE_TIME_LEN + 1];

	if (m->flags && *m->flags)
		imap_client_cmd_addf(c, cmd, " (%s)", m->flags);
	if (m->idate >= 0 && imap_date_time_format((time_t)m->idate, 0, date) == 0)
		imap_client_cmd_addf(c, cmd, " \"%s\"", date);
	imap_client_cmd_add(c, cmd, " ", 0);
	return imap_client_cmd_literal(c, cmd, &m->src, 0);
}

static int append_cmd(struct imap_client *c, const char *mbox, const struct imap_append_msg *v,
		      size_t n, struct imap_uidmap *uid_r, struct imap_cmd **cmd_r, struct err *e)
{
	struct buf enc = BUF_INIT(4096);
	char desc[128];

	if (cmd_r)
		*cmd_r = NULL;
	if (uid_r)
		memset(uid_r, 0, sizeof(*uid_r));
	desc_mbox(desc, sizeof(desc), "APPEND", mbox);
	if (n == 0)
		return err_set(e, ERR_USAGE, "%s: %s: no message", c->host, desc);
	for (size_t i = 0; i < n; i++) {
		if (check_flags(c, desc, v[i].flags, e) < 0)
			return -1;
		if (!v[i].src.data && !v[i].src.read)
			return err_set(e, ERR_USAGE, "%s: %s: message without data", c->host, desc);
	}
	if (imap_client_mbox_encode(c, mbox, &enc, e) < 0) {
		buf_release(&enc);
		return -1;
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_APPEND, ST_AUTH, 0, desc, e);
	if (!cmd) {
		buf_release(&enc);
		return -1;
	}
	cmd->uidmap = uid_r;
	imap_client_cmd_add(c, cmd, "APPEND ", 0);
	add_name(c, cmd, &enc);
	buf_release(&enc);
	for (size_t i = 0; i < n; i++)
		if (append_msg_args(c, cmd, &v[i]) < 0)
			break;
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

int imap_append(struct imap_client *c, const char *mbox, const struct imap_append_msg *m,
		struct imap_uidmap *uid_r, struct imap_cmd **cmd_r, struct err *e)
{
	return append_cmd(c, mbox, m, 1, uid_r, cmd_r, e);
}

int imap_multiappend(struct imap_client *c, const char *mbox, const struct imap_append_msg *v,
		     size_t n, struct imap_uidmap *uid_r, struct imap_cmd **cmd_r, struct err *e)
{
	if (cmd_r)
		*cmd_r = NULL;
	if (n > 1 && imap_client_need_cap(c, "MULTIAPPEND", "APPEND", e) < 0)
		return -1;
	return append_cmd(c, mbox, v, n, uid_r, cmd_r, e);
}

/* ------------------------------------------------------------------ */
/* ACL                                                                  */

int imap_myrights(struct imap_client *c, const char *mbox, char **rights_r, struct err *e)
{
	struct buf enc = BUF_INIT(4096);
	char desc[128];

	*rights_r = NULL;
	desc_mbox(desc, sizeof(desc), "MYRIGHTS", mbox);
	if (imap_client_need_cap(c, "ACL", desc, e) < 0)
		return -1;
	if (imap_client_mbox_encode(c, mbox, &enc, e) < 0) {
		buf_release(&enc);
		return -1;
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_MYRIGHTS, ST_AUTH, 0, desc, e);
	if (!cmd) {
		buf_release(&enc);
		return -1;
	}
	cmd->rights = rights_r;
	imap_client_cmd_add(c, cmd, "MYRIGHTS ", 0);
	add_name(c, cmd, &enc);
	buf_release(&enc);
	int r = imap_client_cmd_finish(c, cmd, NULL, e);
	if (r < 0) {
		free(*rights_r);
		*rights_r = NULL;
	}
	return r;
}

void imap_acl_free(struct imap_acl *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].identifier);
		free(a->v[i].rights);
	}
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

int imap_getacl(struct imap_client *c, const char *mbox, struct imap_acl *acl_r, struct err *e)
{
	struct buf enc = BUF_INIT(4096);
	char desc[128];

	memset(acl_r, 0, sizeof(*acl_r));
	desc_mbox(desc, sizeof(desc), "GETACL", mbox);
	if (imap_client_need_cap(c, "ACL", desc, e) < 0)
		return -1;
	if (imap_client_mbox_encode(c, mbox, &enc, e) < 0) {
		buf_release(&enc);
		return -1;
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_GETACL, ST_AUTH, 0, desc, e);
	if (!cmd) {
		buf_release(&enc);
		return -1;
	}
	cmd->acl = acl_r;
	imap_client_cmd_add(c, cmd, "GETACL ", 0);
	add_name(c, cmd, &enc);
	buf_release(&enc);
	int r = imap_client_cmd_finish(c, cmd, NULL, e);
	if (r < 0)
		imap_acl_free(acl_r);
	return r;
}

/* ------------------------------------------------------------------ */
/* Selected state                                                       */

static int plain_cmd(struct imap_client *c, enum cmd_kind kind, unsigned states, int barrier,
		     const char *text, struct imap_cmd **cmd_r, struct err *e)
{
	if (cmd_r)
		*cmd_r = NULL;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, kind, states, barrier, text, e);
	if (!cmd)
		return -1;
	imap_client_cmd_add(c, cmd, text, 0);
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

int imap_close(struct imap_client *c, struct err *e)
{
	return plain_cmd(c, CK_CLOSE, ST_SEL, 1, "CLOSE", NULL, e);
}

int imap_unselect(struct imap_client *c, struct err *e)
{
	if (imap_client_need_cap(c, "UNSELECT", "UNSELECT", e) < 0)
		return -1;
	return plain_cmd(c, CK_CLOSE, ST_SEL, 1, "UNSELECT", NULL, e);
}

int imap_check(struct imap_client *c, struct imap_cmd **cmd_r, struct err *e)
{
	return plain_cmd(c, CK_PLAIN, ST_SEL, 0, "CHECK", cmd_r, e);
}

int imap_expunge(struct imap_client *c, struct imap_cmd **cmd_r, struct err *e)
{
	return plain_cmd(c, CK_PLAIN, ST_SEL, 0, "EXPUNGE", cmd_r, e);
}

int imap_uid_expunge(struct imap_client *c, const char *uids, struct imap_cmd **cmd_r,
		     struct err *e)
{
	char desc[96];

	if (cmd_r)
		*cmd_r = NULL;
	snprintf(desc, sizeof(desc), "UID EXPUNGE %s", uids ? uids : "");
	if (imap_client_need_cap(c, "UIDPLUS", desc, e) < 0 || check_set(c, desc, uids, e) < 0)
		return -1;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_PLAIN, ST_SEL, 0, desc, e);
	if (!cmd)
		return -1;
	imap_client_cmd_addf(c, cmd, "UID EXPUNGE %s", uids);
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

/* FETCH or UID FETCH (verb) of set (items) [(CHANGEDSINCE m [VANISHED])]. */
static int fetch_cmd(struct imap_client *c, const char *verb, const char *set,
		     const char *items, uint64_t changedsince, int vanished,
		     const struct imap_fetch_handler *h, struct imap_cmd **cmd_r, struct err *e)
{
	static const struct imap_fetch_handler nothing = { 0 };
	char desc[96];

	if (cmd_r)
		*cmd_r = NULL;
	snprintf(desc, sizeof(desc), "%s %s", verb, set ? set : "");
	if (check_set(c, desc, set, e) < 0 || check_text(c, desc, items, e) < 0)
		return -1;
	if (vanished && !imap_client_enabled(c, "QRESYNC"))
		return err_set(e, ERR_USAGE, "%s: %s: VANISHED needs QRESYNC enabled", c->host,
			       desc);
	if (vanished && !changedsince)
		return err_set(e, ERR_USAGE, "%s: %s: VANISHED needs CHANGEDSINCE", c->host, desc);
	if (changedsince && !imap_client_has_cap(c, "CONDSTORE"))
		return err_set(e, ERR_USAGE, "%s: %s: server does not advertise CONDSTORE",
			       c->host, desc);
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_FETCH, ST_SEL, 0, desc, e);
	if (!cmd)
		return -1;
	cmd->fh = h ? h : &nothing;
	imap_client_cmd_addf(c, cmd, "%s %s (%s)", verb, set, items);
	if (changedsince)
		imap_client_cmd_addf(c, cmd, " (CHANGEDSINCE %llu%s)",
				     (unsigned long long)changedsince, vanished ? " VANISHED" : "");
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

int imap_uid_fetch(struct imap_client *c, const char *uids, const char *items,
		   uint64_t changedsince, int vanished, const struct imap_fetch_handler *h,
		   struct imap_cmd **cmd_r, struct err *e)
{
	return fetch_cmd(c, "UID FETCH", uids, items, changedsince, vanished, h, cmd_r, e);
}

int imap_seq_fetch(struct imap_client *c, const char *seqs, const char *items,
		   const struct imap_fetch_handler *h, struct imap_cmd **cmd_r, struct err *e)
{
	return fetch_cmd(c, "FETCH", seqs, items, 0, 0, h, cmd_r, e);
}

int imap_uid_store(struct imap_client *c, const char *uids, enum imap_store_op op,
		   const char *flags, int silent, uint64_t unchangedsince,
		   const struct imap_fetch_handler *h, char **modified_r,
		   struct imap_cmd **cmd_r, struct err *e)
{
	static const char *ops[] = { "FLAGS", "+FLAGS", "-FLAGS" };
	char desc[96];

	if (cmd_r)
		*cmd_r = NULL;
	if (modified_r)
		*modified_r = NULL;
	snprintf(desc, sizeof(desc), "UID STORE %s", uids ? uids : "");
	if (check_set(c, desc, uids, e) < 0 || check_flags(c, desc, flags, e) < 0)
		return -1;
	if ((unsigned)op > IMAP_STORE_REMOVE)
		return err_set(e, ERR_USAGE, "%s: %s: bad operation", c->host, desc);
	if (unchangedsince && !imap_client_has_cap(c, "CONDSTORE"))
		return err_set(e, ERR_USAGE, "%s: %s: server does not advertise CONDSTORE",
			       c->host, desc);
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_STORE, ST_SEL, 0, desc, e);
	if (!cmd)
		return -1;
	cmd->fh = h;
	cmd->modified = modified_r;
	imap_client_cmd_addf(c, cmd, "UID STORE %s ", uids);
	if (unchangedsince)
		imap_client_cmd_addf(c, cmd, "(UNCHANGEDSINCE %llu) ",
				     (unsigned long long)unchangedsince);
	imap_client_cmd_addf(c, cmd, "%s%s (%s)", ops[op], silent ? ".SILENT" : "",
			     flags ? flags : "");
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

int imap_uid_search(struct imap_client *c, const char *criteria, uint32_t **uids_r,
		    size_t *n_r, struct imap_cmd **cmd_r, struct err *e)
{
	char desc[96];

	if (cmd_r)
		*cmd_r = NULL;
	*uids_r = NULL;
	*n_r = 0;
	snprintf(desc, sizeof(desc), "UID SEARCH %s", criteria ? criteria : "");
	if (check_text(c, desc, criteria, e) < 0)
		return -1;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_SEARCH, ST_SEL, 0, desc, e);
	if (!cmd)
		return -1;
	cmd->search_uids = uids_r;
	cmd->search_n = n_r;
	if (imap_client_has_cap(c, "ESEARCH")) {
		cmd->esearch_expand = 1;
		imap_client_cmd_addf(c, cmd, "UID SEARCH RETURN (ALL) %s", criteria);
	} else {
		imap_client_cmd_addf(c, cmd, "UID SEARCH %s", criteria);
	}
	int r = imap_client_cmd_finish(c, cmd, cmd_r, e);
	if (r < 0) {
		free(*uids_r);
		*uids_r = NULL;
		*n_r = 0;
	}
	return r;
}

int imap_uid_esearch(struct imap_client *c, const char *criteria, struct imap_esearch *r_out,
		     struct imap_cmd **cmd_r, struct err *e)
{
	char desc[96];

	if (cmd_r)
		*cmd_r = NULL;
	memset(r_out, 0, sizeof(*r_out));
	snprintf(desc, sizeof(desc), "UID SEARCH %s", criteria ? criteria : "");
	if (imap_client_need_cap(c, "ESEARCH", desc, e) < 0 ||
	    check_text(c, desc, criteria, e) < 0)
		return -1;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_SEARCH, ST_SEL, 0, desc, e);
	if (!cmd)
		return -1;
	cmd->esearch = r_out;
	imap_client_cmd_addf(c, cmd, "UID SEARCH RETURN (MIN MAX COUNT ALL) %s", criteria);
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

static int copy_move(struct imap_client *c, const char *verb, const char *uids,
		     const char *dest, struct imap_uidmap *map_r, struct imap_cmd **cmd_r,
		     struct err *e)
{
	struct buf enc = BUF_INIT(4096);
	char desc[160];

	if (cmd_r)
		*cmd_r = NULL;
	if (map_r)
		memset(map_r, 0, sizeof(*map_r));
	snprintf(desc, sizeof(desc), "UID %s %.40s \"%s\"", verb, uids ? uids : "", dest);
	if (check_set(c, desc, uids, e) < 0)
		return -1;
	if (strcmp(verb, "MOVE") == 0 && imap_client_need_cap(c, "MOVE", desc, e) < 0)
		return -1;
	if (imap_client_mbox_encode(c, dest, &enc, e) < 0) {
		buf_release(&enc);
		return -1;
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_COPY, ST_SEL, 0, desc, e);
	if (!cmd) {
		buf_release(&enc);
		return -1;
	}
	cmd->uidmap = map_r;
	imap_client_cmd_addf(c, cmd, "UID %s %s ", verb, uids);
	add_name(c, cmd, &enc);
	buf_release(&enc);
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

int imap_uid_copy(struct imap_client *c, const char *uids, const char *dest,
		  struct imap_uidmap *map_r, struct imap_cmd **cmd_r, struct err *e)
{
	return copy_move(c, "COPY", uids, dest, map_r, cmd_r, e);
}

/* Without MOVE (RFC 6851 section 3.3): UID COPY, UID STORE +FLAGS.SILENT
 * \Deleted, UID EXPUNGE of exactly those UIDs (needs UIDPLUS, so no other
 * \Deleted message is expunged by accident). Synchronous only. */
static int move_fallback(struct imap_client *c, const char *uids, const char *dest,
			 struct imap_uidmap *map_r, struct err *e)
{
	char desc[160];

	snprintf(desc, sizeof(desc), "UID MOVE %.40s \"%s\"", uids ? uids : "", dest);
	if (!imap_client_has_cap(c, "UIDPLUS"))
		return err_set(e, ERR_USAGE,
			       "%s: %s: server has neither MOVE nor UIDPLUS (cannot move safely)",
			       c->host, desc);
	if (copy_move(c, "COPY", uids, dest, map_r, NULL, e) < 0)
		return -1;
	if (imap_uid_store(c, uids, IMAP_STORE_ADD, "\\Deleted", 1, 0, NULL, NULL, NULL, e) < 0 ||
	    imap_uid_expunge(c, uids, NULL, e) < 0) {
		if (map_r)
			imap_uidmap_free(map_r);
		return -1;
	}
	return 0;
}

int imap_uid_move(struct imap_client *c, const char *uids, const char *dest,
		  struct imap_uidmap *map_r, struct imap_cmd **cmd_r, struct err *e)
{
	if (!cmd_r && !imap_client_has_cap(c, "MOVE"))
		return move_fallback(c, uids, dest, map_r, e);
	return copy_move(c, "MOVE", uids, dest, map_r, cmd_r, e);
}

/* ------------------------------------------------------------------ */
/* Raw                                                                  */

int imap_raw(struct imap_client *c, enum imap_state need, const char *args,
	     imap_untagged_fn *fn, void *ctx, struct imap_cmd **cmd_r, struct err *e)
{
	char desc[64];
	unsigned states = need == IMAP_STATE_LOGOUT ? ST_ANY
			  : need == IMAP_STATE_AUTHENTICATED ? ST_AUTH
							     : ST_BIT(need);

	if (cmd_r)
		*cmd_r = NULL;
	snprintf(desc, sizeof(desc), "%.*s", (int)strcspn(args ? args : "", " "),
		 args ? args : "");
	if (check_text(c, desc, args, e) < 0)
		return -1;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_RAW, states, 0, desc, e);
	if (!cmd)
		return -1;
	cmd->raw_fn = fn;
	cmd->raw_ctx = ctx;
	imap_client_cmd_add(c, cmd, args, 0);
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}
