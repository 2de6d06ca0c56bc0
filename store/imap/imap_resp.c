/*
 * imap_resp.c — typed decoders over parsed IMAP responses (see imap_resp.h
 * for the list and the RFCs). Each decoder checks the shape of the tree it
 * is given and refuses anything else with ERR_PROTO; it owns nothing beyond
 * the output struct it fills (freed by the matching *_free).
 */
#include "imap/imap_resp.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_date.h"
#include "lib/banned.h"

/* ---------------------------------------------------------------------- */
/* Numbers                                                                  */

int imap_resp_parse_u32(const char *s, uint32_t *v_r)
{
	uint64_t v;
	if (imap_parse_decimal(s, UINT32_MAX, &v) < 0)
		return -1;
	*v_r = (uint32_t)v;
	return 0;
}

int imap_resp_parse_nz32(const char *s, uint32_t *v_r)
{
	uint32_t v;
	if (imap_resp_parse_u32(s, &v) < 0 || v == 0)
		return -1;
	*v_r = v;
	return 0;
}

int imap_resp_parse_u64(const char *s, uint64_t *v_r)
{
	return imap_parse_decimal(s, INT64_MAX, v_r);
}

int imap_resp_arg_u32(const struct imap_arg *a, uint32_t *v_r)
{
	return imap_resp_parse_u32(imap_arg_atom(a), v_r);
}

int imap_resp_arg_u64(const struct imap_arg *a, uint64_t *v_r)
{
	return imap_resp_parse_u64(imap_arg_atom(a), v_r);
}

static int arg_nz32(const struct imap_arg *a, uint32_t *v_r)
{
	return imap_resp_parse_nz32(imap_arg_atom(a), v_r);
}

/* ---------------------------------------------------------------------- */
/* Common                                                                   */

void imap_strv_free(struct imap_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int imap_strv_has(const struct imap_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcasecmp(sv->v[i], s) == 0)
			return 1;
	return 0;
}

static void strv_add_upper(struct imap_strv *sv, const char *s)
{
	char *d = mf_strdup(s);
	for (char *q = d; *q; q++)
		*q = (char)toupper((unsigned char)*q);
	sv->v = mf_reallocarray(sv->v, sv->n + 1, sizeof *sv->v);
	sv->v[sv->n++] = d;
}

static int bad(struct err *e, const struct imap_response *r, const char *what)
{
	return err_set(e, ERR_PROTO, "malformed %s response: %s",
		       r->keyword && r->keyword[0] ? r->keyword : "server", what);
}

/* Delimiter: a one-char string, or NIL (0). */
static int get_delim(const struct imap_arg *a, char *d_r)
{
	if (a->type == IMAP_ARG_NIL) {
		*d_r = 0;
		return 0;
	}
	if (a->type != IMAP_ARG_STRING || a->len != 1)
		return -1;
	*d_r = a->str[0];
	return 0;
}

/* ---------------------------------------------------------------------- */
/* FETCH                                                                    */

static const struct {
	const char *name;
	unsigned bit;
} sysflags[] = {
	{ "\\Seen", MF_SEEN },       { "\\Answered", MF_ANSWERED },
	{ "\\Flagged", MF_FLAGGED }, { "\\Deleted", MF_DELETED },
	{ "\\Draft", MF_DRAFT },
};

static int fetch_flags(const struct imap_arg *a, struct imap_fetch *f)
{
	const struct imap_arg *v;
	size_t n;
	if (!imap_arg_list(a, &v, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *s = imap_arg_atom(&v[i]);
		if (!s)
			return -1;
		if (s[0] != '\\') {
			flagset_add_kw(&f->flags, s);
			continue;
		}
		if (strcasecmp(s, "\\Recent") == 0)
			f->recent = 1;
		for (size_t k = 0; k < sizeof sysflags / sizeof sysflags[0]; k++)
			if (strcasecmp(s, sysflags[k].name) == 0)
				f->flags.sys |= sysflags[k].bit;
	}
	return 0;
}

/* Item names: BODY[HEADER], BODY[HEADER.FIELDS (...)], RFC822.HEADER are
 * headers; BODY[], BODY[]<n>, BINARY[], BINARY[]<n>, RFC822 the message. */
static int is_header_item(const char *s)
{
	return strcasecmp(s, "RFC822.HEADER") == 0 || strncasecmp(s, "BODY[HEADER", 11) == 0;
}

static int is_body_item(const char *s)
{
	if (strcasecmp(s, "RFC822") == 0)
		return 1;
	if (strncasecmp(s, "BODY[]", 6) == 0)
		return s[6] == '\0' || s[6] == '<';
	if (strncasecmp(s, "BINARY[]", 8) == 0)
		return s[8] == '\0' || s[8] == '<';
	return 0;
}

static int fetch_item(const char *name, const struct imap_arg *val, struct imap_fetch *f)
{
	if (strcasecmp(name, "UID") == 0) {
		f->present |= IMAP_FETCH_UID;
		return arg_nz32(val, &f->uid);
	}
	if (strcasecmp(name, "FLAGS") == 0) {
		f->present |= IMAP_FETCH_FLAGS;
		return fetch_flags(val, f);
	}
	if (strcasecmp(name, "MODSEQ") == 0) {
		const struct imap_arg *v;
		size_t n;
		f->present |= IMAP_FETCH_MODSEQ;
		return imap_arg_list(val, &v, &n) && n == 1
			       ? imap_resp_arg_u64(&v[0], &f->modseq) : -1;
	}
	if (strcasecmp(name, "RFC822.SIZE") == 0) {
		f->present |= IMAP_FETCH_SIZE;
		return imap_resp_arg_u64(val, &f->rfc822_size);
	}
	if (strcasecmp(name, "INTERNALDATE") == 0) {
		f->present |= IMAP_FETCH_IDATE;
		return val->type == IMAP_ARG_STRING
			       ? imap_date_time_parse(val->str, &f->internaldate) : -1;
	}
	int header = is_header_item(name), body = !header && is_body_item(name);
	if (!header && !body)
		return 0;
	const char *data = NULL;
	size_t len = 0;
	int streamed = 0;
	uint64_t size = 0;
	switch (val->type) {
	case IMAP_ARG_NIL:
		break;
	case IMAP_ARG_STRING:
		data = val->str;
		len = size = val->len;
		break;
	case IMAP_ARG_LITERAL:
		data = val->str;
		len = val->len;
		size = val->literal_size;
		break;
	case IMAP_ARG_LITERAL_STREAMED:
		streamed = 1;
		size = val->literal_size;
		break;
	default:
		return -1;
	}
	if (header) {
		f->present |= IMAP_FETCH_HEADER;
		f->header = data;
		f->header_len = len;
	} else {
		f->present |= IMAP_FETCH_BODY;
		f->body = data;
		f->body_len = len;
		f->body_streamed = streamed;
		f->body_size = size;
	}
	return 0;
}

int imap_resp_fetch(const struct imap_response *r, struct imap_fetch *out, struct err *e)
{
	const struct imap_arg *v;
	size_t n;
	memset(out, 0, sizeof *out);
	flagset_init(&out->flags);
	if (!r->has_number || r->nargs != 1 || !imap_arg_list(&r->args[0], &v, &n))
		return bad(e, r, "expected a number and one list");
	if (n % 2)
		return bad(e, r, "odd number of items");
	out->seq = r->number;
	for (size_t i = 0; i < n; i += 2) {
		const char *name = imap_arg_atom(&v[i]);
		if (!name) {
			imap_fetch_free(out);
			return bad(e, r, "item name is not an atom");
		}
		if (fetch_item(name, &v[i + 1], out) < 0) {
			imap_fetch_free(out);
			return err_set(e, ERR_PROTO, "malformed FETCH response: bad %.64s value",
				       name);
		}
	}
	return 0;
}

void imap_fetch_free(struct imap_fetch *f)
{
	flagset_free(&f->flags);
	memset(f, 0, sizeof *f);
}

/* ---------------------------------------------------------------------- */
/* LIST / LSUB                                                              */

static const struct {
	const char *name;
	unsigned bit;
} box_attrs[] = {
	{ "\\Noselect", BOX_NOSELECT },       { "\\NoInferiors", BOX_NOINFERIORS },
	{ "\\HasChildren", BOX_HASCHILDREN }, { "\\HasNoChildren", BOX_HASNOCHILDREN },
	{ "\\NonExistent", BOX_NONEXISTENT }, { "\\Subscribed", BOX_SUBSCRIBED },
	{ "\\All", BOX_ALL },                 { "\\Archive", BOX_ARCHIVE },
	{ "\\Drafts", BOX_DRAFTS },           { "\\Flagged", BOX_FLAGGED },
	{ "\\Junk", BOX_JUNK },               { "\\Sent", BOX_SENT },
	{ "\\Trash", BOX_TRASH },             { "\\Important", BOX_IMPORTANT },
};

unsigned imap_resp_box_attr(const char *flag)
{
	for (size_t i = 0; i < sizeof box_attrs / sizeof box_attrs[0]; i++)
		if (strcasecmp(flag, box_attrs[i].name) == 0)
			return box_attrs[i].bit;
	return 0;
}

int imap_resp_list(const struct imap_response *r, struct imap_list *out, struct err *e)
{
	const struct imap_arg *v;
	size_t n;
	memset(out, 0, sizeof *out);
	if (r->nargs < 3 || !imap_arg_list(&r->args[0], &v, &n))
		return bad(e, r, "expected (attributes) delimiter name");
	for (size_t i = 0; i < n; i++) {
		const char *a = imap_arg_atom(&v[i]);
		if (!a || a[0] != '\\')
			return bad(e, r, "attribute is not a flag");
		out->attrs |= imap_resp_box_attr(a);
	}
	if (get_delim(&r->args[1], &out->delim) < 0)
		return bad(e, r, "bad hierarchy delimiter");
	const char *name = imap_arg_astring(&r->args[2]);
	if (!name)
		return bad(e, r, "bad mailbox name");
	out->name = mf_strdup(strcasecmp(name, "INBOX") == 0 ? "INBOX" : name);
	return 0;
}

void imap_list_free(struct imap_list *l)
{
	free(l->name);
	memset(l, 0, sizeof *l);
}

/* ---------------------------------------------------------------------- */
/* STATUS                                                                   */

int imap_resp_status(const struct imap_response *r, struct imap_status_info *out,
		     struct err *e)
{
	const struct imap_arg *v;
	size_t n;
	memset(out, 0, sizeof *out);
	const char *name = r->nargs == 2 ? imap_arg_astring(&r->args[0]) : NULL;
	if (!name || !imap_arg_list(&r->args[1], &v, &n) || n % 2)
		return bad(e, r, "expected name (attribute value ...)");
	for (size_t i = 0; i < n; i += 2) {
		const char *a = imap_arg_atom(&v[i]);
		int rc = 0;
		if (!a)
			return bad(e, r, "attribute is not an atom");
		if (strcasecmp(a, "MESSAGES") == 0) {
			out->present |= IMAP_STATUS_MESSAGES;
			rc = imap_resp_arg_u32(&v[i + 1], &out->messages);
		} else if (strcasecmp(a, "RECENT") == 0) {
			out->present |= IMAP_STATUS_RECENT;
			rc = imap_resp_arg_u32(&v[i + 1], &out->recent);
		} else if (strcasecmp(a, "UIDNEXT") == 0) {
			out->present |= IMAP_STATUS_UIDNEXT;
			rc = arg_nz32(&v[i + 1], &out->uidnext);
		} else if (strcasecmp(a, "UIDVALIDITY") == 0) {
			out->present |= IMAP_STATUS_UIDVALIDITY;
			rc = arg_nz32(&v[i + 1], &out->uidvalidity);
		} else if (strcasecmp(a, "UNSEEN") == 0) {
			out->present |= IMAP_STATUS_UNSEEN;
			rc = imap_resp_arg_u32(&v[i + 1], &out->unseen);
		} else if (strcasecmp(a, "HIGHESTMODSEQ") == 0) {
			out->present |= IMAP_STATUS_HIGHESTMODSEQ;
			rc = imap_resp_arg_u64(&v[i + 1], &out->highestmodseq);
		}
		if (rc < 0)
			return err_set(e, ERR_PROTO, "malformed STATUS response: bad %.32s value",
				       a);
	}
	out->name = mf_strdup(strcasecmp(name, "INBOX") == 0 ? "INBOX" : name);
	return 0;
}

void imap_status_info_free(struct imap_status_info *s)
{
	free(s->name);
	memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------------- */
/* SEARCH, ESEARCH, VANISHED                                                */

int imap_resp_search(const struct imap_response *r, uint32_t **nums_r, size_t *n_r,
		     uint64_t *modseq_r, struct err *e)
{
	size_t n = r->nargs;
	*nums_r = NULL;
	*n_r = 0;
	if (modseq_r)
		*modseq_r = 0;
	if (n && r->args[n - 1].type == IMAP_ARG_LIST) {
		const struct imap_arg *v;
		size_t k;
		imap_arg_list(&r->args[n - 1], &v, &k);
		uint64_t m;
		if (k != 2 || !imap_arg_atom_eq(&v[0], "MODSEQ") ||
		    imap_resp_arg_u64(&v[1], &m) < 0)
			return bad(e, r, "bad (MODSEQ n)");
		if (modseq_r)
			*modseq_r = m;
		n--;
	}
	uint32_t *nums = n ? mf_reallocarray(NULL, n, sizeof *nums) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (arg_nz32(&r->args[i], &nums[i]) < 0) {
			free(nums);
			return bad(e, r, "not a number");
		}
	}
	*nums_r = nums;
	*n_r = n;
	return 0;
}

int imap_resp_esearch(const struct imap_response *r, struct imap_esearch *out,
		      struct err *e)
{
	size_t i = 0;
	memset(out, 0, sizeof *out);
	if (i < r->nargs && r->args[i].type == IMAP_ARG_LIST) {
		const struct imap_arg *v;
		size_t k;
		imap_arg_list(&r->args[i], &v, &k);
		const char *tag = k == 2 && imap_arg_atom_eq(&v[0], "TAG")
					  ? imap_arg_astring(&v[1]) : NULL;
		if (!tag)
			return bad(e, r, "bad (TAG \"...\")");
		out->tag = mf_strdup(tag);
		i++;
	}
	if (i < r->nargs && imap_arg_atom_eq(&r->args[i], "UID")) {
		out->uid = 1;
		i++;
	}
	for (; i < r->nargs; i += 2) {
		const char *name = imap_arg_atom(&r->args[i]);
		if (!name || i + 1 >= r->nargs) {
			imap_esearch_free(out);
			return bad(e, r, "expected name value pairs");
		}
		const struct imap_arg *val = &r->args[i + 1];
		int rc = 0;
		if (strcasecmp(name, "MIN") == 0) {
			out->present |= IMAP_ESEARCH_MIN;
			rc = arg_nz32(val, &out->min);
		} else if (strcasecmp(name, "MAX") == 0) {
			out->present |= IMAP_ESEARCH_MAX;
			rc = arg_nz32(val, &out->max);
		} else if (strcasecmp(name, "COUNT") == 0) {
			out->present |= IMAP_ESEARCH_COUNT;
			rc = imap_resp_arg_u32(val, &out->count);
		} else if (strcasecmp(name, "MODSEQ") == 0) {
			out->present |= IMAP_ESEARCH_MODSEQ;
			rc = imap_resp_arg_u64(val, &out->modseq);
		} else if (strcasecmp(name, "ALL") == 0 && !(out->present & IMAP_ESEARCH_ALL)) {
			out->present |= IMAP_ESEARCH_ALL;
			const char *set = imap_arg_atom(val);
			rc = set ? imap_uidset_parse(&out->all, set, 0, 0, e) : -1;
		}
		if (rc < 0) {
			imap_esearch_free(out);
			return err_set(e, ERR_PROTO, "malformed ESEARCH response: bad %.32s value",
				       name);
		}
	}
	return 0;
}

void imap_esearch_free(struct imap_esearch *es)
{
	free(es->tag);
	imap_uidset_free(&es->all);
	memset(es, 0, sizeof *es);
}

int imap_resp_vanished(const struct imap_response *r, int *earlier_r,
		       struct imap_uidset *set_r, struct err *e)
{
	size_t i = 0;
	set_r->r = NULL;
	set_r->n = 0;
	*earlier_r = 0;
	if (r->nargs == 2) {
		const struct imap_arg *v;
		size_t k;
		if (!imap_arg_list(&r->args[0], &v, &k) || k != 1 ||
		    !imap_arg_atom_eq(&v[0], "EARLIER"))
			return bad(e, r, "expected (EARLIER)");
		*earlier_r = 1;
		i = 1;
	}
	const char *set = r->nargs == i + 1 ? imap_arg_atom(&r->args[i]) : NULL;
	if (!set)
		return bad(e, r, "expected a uid set");
	if (imap_uidset_parse(set_r, set, 0, 0, e) < 0) {
		imap_uidset_free(set_r);
		err_prefix(e, "VANISHED: ");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Atom lists                                                               */

static int atoms(const struct imap_response *r, struct imap_strv *out, struct err *e)
{
	out->v = NULL;
	out->n = 0;
	for (size_t i = 0; i < r->nargs; i++) {
		const char *a = imap_arg_atom(&r->args[i]);
		if (!a) {
			imap_strv_free(out);
			return bad(e, r, "expected atoms");
		}
		strv_add_upper(out, a);
	}
	return 0;
}

int imap_resp_capability(const struct imap_response *r, struct imap_strv *out,
			 struct err *e)
{
	return atoms(r, out, e);
}

int imap_resp_enabled(const struct imap_response *r, struct imap_strv *out, struct err *e)
{
	return atoms(r, out, e);
}

int imap_resp_code_capability(const struct imap_code *c, struct imap_strv *out,
			      struct err *e)
{
	out->v = NULL;
	out->n = 0;
	if (c->kind != IMAP_CODE_CAPABILITY)
		return err_set(e, ERR_PROTO, "not a CAPABILITY response code");
	for (size_t i = 0; i < c->nwords; i++)
		strv_add_upper(out, c->words[i]);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* NAMESPACE, ID, MYRIGHTS                                                  */

static int ns_one(const struct imap_arg *a, struct imap_ns **v_r, size_t *n_r)
{
	const struct imap_arg *v;
	size_t n;
	*v_r = NULL;
	*n_r = 0;
	if (a->type == IMAP_ARG_NIL)
		return 0;
	if (!imap_arg_list(a, &v, &n) || n == 0)
		return -1;
	*v_r = mf_calloc(n, sizeof **v_r);
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *d;
		size_t k;
		const char *prefix;
		/* (prefix delim [extensions]) */
		if (!imap_arg_list(&v[i], &d, &k) || k < 2 ||
		    !(prefix = imap_arg_astring(&d[0])) || d[0].type == IMAP_ARG_ATOM ||
		    get_delim(&d[1], &(*v_r)[i].delim) < 0)
			return -1;
		(*v_r)[i].prefix = mf_strdup(prefix);
		(*n_r)++;
	}
	return 0;
}

int imap_resp_namespace(const struct imap_response *r, struct imap_namespace *out,
			struct err *e)
{
	memset(out, 0, sizeof *out);
	if (r->nargs != 3)
		return bad(e, r, "expected three namespace lists");
	if (ns_one(&r->args[0], &out->personal, &out->npersonal) < 0 ||
	    ns_one(&r->args[1], &out->other, &out->nother) < 0 ||
	    ns_one(&r->args[2], &out->shared, &out->nshared) < 0) {
		imap_namespace_free(out);
		return bad(e, r, "bad namespace");
	}
	return 0;
}

static void ns_free(struct imap_ns *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].prefix);
	free(v);
}

void imap_namespace_free(struct imap_namespace *ns)
{
	ns_free(ns->personal, ns->npersonal);
	ns_free(ns->other, ns->nother);
	ns_free(ns->shared, ns->nshared);
	memset(ns, 0, sizeof *ns);
}

int imap_resp_id(const struct imap_response *r, struct imap_id *out, struct err *e)
{
	const struct imap_arg *v;
	size_t n;
	memset(out, 0, sizeof *out);
	if (r->nargs != 1)
		return bad(e, r, "expected one argument");
	if (r->args[0].type == IMAP_ARG_NIL)
		return 0;
	if (!imap_arg_list(&r->args[0], &v, &n) || n % 2)
		return bad(e, r, "expected (key value ...)");
	out->keys = mf_calloc(n / 2 + 1, sizeof *out->keys);
	out->vals = mf_calloc(n / 2 + 1, sizeof *out->vals);
	for (size_t i = 0; i < n; i += 2) {
		int nil;
		const char *k = imap_arg_nstring(&v[i], &nil);
		const char *val = imap_arg_nstring(&v[i + 1], &nil);
		if (!k || v[i].type == IMAP_ARG_NIL || !val) {
			imap_id_free(out);
			return bad(e, r, "bad key or value");
		}
		out->keys[out->n] = mf_strdup(k);
		out->vals[out->n] = nil ? NULL : mf_strdup(val);
		out->n++;
	}
	return 0;
}

void imap_id_free(struct imap_id *id)
{
	for (size_t i = 0; i < id->n; i++) {
		free(id->keys[i]);
		free(id->vals[i]);
	}
	free(id->keys);
	free(id->vals);
	memset(id, 0, sizeof *id);
}

int imap_resp_myrights(const struct imap_response *r, char **name_r, char **rights_r,
		       struct err *e)
{
	*name_r = *rights_r = NULL;
	const char *name = r->nargs == 2 ? imap_arg_astring(&r->args[0]) : NULL;
	const char *rights = name ? imap_arg_astring(&r->args[1]) : NULL;
	if (!rights)
		return bad(e, r, "expected mailbox rights");
	*name_r = mf_strdup(strcasecmp(name, "INBOX") == 0 ? "INBOX" : name);
	*rights_r = mf_strdup(rights);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* UIDPLUS codes                                                            */

int imap_resp_appenduid(const struct imap_code *c, uint32_t *uidvalidity_r,
			struct imap_uidset *uids_r, struct err *e)
{
	uids_r->r = NULL;
	uids_r->n = 0;
	if (c->kind != IMAP_CODE_APPENDUID || c->nwords != 2)
		return err_set(e, ERR_PROTO, "not an APPENDUID response code");
	*uidvalidity_r = (uint32_t)c->num;
	if (imap_uidset_parse(uids_r, c->words[1], 0, 0, e) < 0) {
		imap_uidset_free(uids_r);
		err_prefix(e, "APPENDUID: ");
		return -1;
	}
	return 0;
}

int imap_resp_copyuid(const struct imap_code *c, uint32_t *uidvalidity_r,
		      struct imap_uidset *src_r, struct imap_uidset *dst_r, struct err *e)
{
	src_r->r = dst_r->r = NULL;
	src_r->n = dst_r->n = 0;
	if (c->kind != IMAP_CODE_COPYUID || c->nwords != 3)
		return err_set(e, ERR_PROTO, "not a COPYUID response code");
	*uidvalidity_r = (uint32_t)c->num;
	if (imap_uidset_parse(src_r, c->words[1], 0, 0, e) < 0 ||
	    imap_uidset_parse(dst_r, c->words[2], 0, 0, e) < 0) {
		imap_uidset_free(src_r);
		imap_uidset_free(dst_r);
		err_prefix(e, "COPYUID: ");
		return -1;
	}
	if (imap_uidset_count(src_r) != imap_uidset_count(dst_r)) {
		imap_uidset_free(src_r);
		imap_uidset_free(dst_r);
		return err_set(e, ERR_PROTO, "COPYUID: source and destination sets differ in size");
	}
	return 0;
}
