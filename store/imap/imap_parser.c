/*
 * imap_parser.c — streaming parser of IMAP server responses (RFC 3501,
 * RFC 9051, literal8 RFC 3516, response codes RFC 4315/5530/7162). Owns the
 * parser state and the tree of the response being built; see imap_parser.h
 * for the contract.
 *
 * Design. Two layers, so that any split of the input gives the same result:
 *
 *  1. Framing (imap_parser_feed) is a byte-level state machine with three
 *     live states: P_LINE collects the bytes of a "segment" (line text since
 *     the last literal) until LF; P_LITERAL passes N literal bytes to memory
 *     or a sink; P_DONE / P_ERROR are final for the response / connection.
 *     A segment ending in "{N}" or "~{N}" announces a literal, unless the
 *     tokenizer says the segment was human text (status responses and
 *     continuations, where "{5}" is just text).
 *
 *  2. Tokenizing (tok_segment) runs only on complete segments, so it never
 *     sees half a token: a segment boundary always falls between tokens
 *     (right before a literal's data, right after it). Its state between
 *     segments is small and explicit: whether the response header (tag,
 *     number, keyword) is parsed, the stack of open lists, and whether a
 *     separator is due.
 *
 * Invariants: stack[0] is the top-level argument vector; stack[i] (i >= 1)
 * is the content of the i-th open list; depth = number of open lists. Every
 * byte outside literals counts against max_line; every token against
 * max_args; in-memory literal bytes against max_literal (per response).
 */
#include "imap/imap_parser.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "lib/banned.h"

enum pstate {
	P_LINE = 0,
	P_LITERAL,
	P_DONE,
	P_ERROR,
};

struct level {
	struct imap_arg *v;
	size_t n, alloc;
};

struct imap_parser {
	struct imap_parser_limits lim;
	imap_literal_handler *lit_fn;
	void *lit_ctx;

	enum pstate state;
	struct err err;
	int busy;            /* bytes of the current response seen */

	struct buf seg;      /* segment being collected (P_LINE) */
	size_t line_used;    /* bytes outside literals in this response */
	uint64_t lit_mem;    /* in-memory literal bytes in this response */
	size_t nargs;        /* tokens in this response */

	/* literal in progress (P_LITERAL) */
	uint64_t lit_left, lit_size;
	int lit_8, lit_streamed;
	struct imap_literal_sink sink;
	struct buf lit;

	/* response being built */
	struct imap_response *resp;
	int header_done;     /* tag / number / keyword parsed */
	int need_sep;        /* a token just ended: SP or ')' must come next;
			      * 2: a list ended, '(' may come too */
	struct level *stack;
	size_t depth, stack_alloc;
};

/* ---------------------------------------------------------------------- */
/* Tree memory                                                              */

static void args_free(struct imap_arg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].str);
		args_free(v[i].list, v[i].nlist);
	}
	free(v);
}

static void code_free(struct imap_code *c)
{
	free(c->name);
	free(c->raw);
	for (size_t i = 0; i < c->nwords; i++)
		free(c->words[i]);
	free(c->words);
	memset(c, 0, sizeof *c);
}

void imap_response_free(struct imap_response **rp)
{
	struct imap_response *r = rp ? *rp : NULL;
	if (!r)
		return;
	free(r->tag);
	free(r->keyword);
	args_free(r->args, r->nargs);
	code_free(&r->code);
	free(r->text);
	free(r);
	*rp = NULL;
}

/* Free the tree in progress (stack levels) and the response. */
static void tree_free(struct imap_parser *p)
{
	for (size_t i = 0; i <= p->depth && i < p->stack_alloc; i++) {
		args_free(p->stack[i].v, p->stack[i].n);
		memset(&p->stack[i], 0, sizeof p->stack[i]);
	}
	p->depth = 0;
	imap_response_free(&p->resp);
}

/* Forget the current response entirely: ready for the next one. */
static void response_reset(struct imap_parser *p)
{
	tree_free(p);
	buf_reset(&p->seg);
	buf_release(&p->lit);
	p->line_used = 0;
	p->lit_mem = 0;
	p->nargs = 0;
	p->lit_left = p->lit_size = 0;
	p->lit_8 = p->lit_streamed = 0;
	p->header_done = 0;
	p->need_sep = 0;
	p->busy = 0;
	p->state = P_LINE;
}

static void level_push_arg(struct level *l, const struct imap_arg *a)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->v = mf_reallocarray(l->v, l->alloc, sizeof *l->v);
	}
	l->v[l->n++] = *a;
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                   */

/* Printable excerpt of s[from..to) into out (bounded). */
static void excerpt(const char *s, size_t len, size_t pos, char *out, size_t outsz)
{
	size_t from = pos > 24 ? pos - 24 : 0;
	size_t to = len - pos > 24 ? pos + 24 : len;
	size_t o = 0;
	for (size_t i = from; i < to && o + 5 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\'') {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, outsz - o, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
}

static int fail_at(struct imap_parser *p, enum err_class cls, const char *what,
		   const char *s, size_t len, size_t pos)
{
	char ctx[160];
	excerpt(s, len, pos < len ? pos : len, ctx, sizeof ctx);
	err_set(&p->err, cls, "%s at offset %zu in response: '%s'", what, pos, ctx);
	p->state = P_ERROR;
	return -1;
}

static int fail(struct imap_parser *p, enum err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct imap_parser *p, enum err_class cls, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err_set(&p->err, cls, "%s", msg);
	p->state = P_ERROR;
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Tokenizer over one complete segment                                      */

struct cur {
	const char *s;
	size_t len, pos;
};

static int is_atom_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '{' &&
	       c != '"' && c != '[';
}

static int is_text_bad(unsigned char c)
{
	return c == '\0' || c == '\r' || c == '\n';
}

static char *upper_dup(const char *s, size_t n)
{
	char *r = mf_strndup(s, n);
	for (char *q = r; *q; q++)
		*q = (char)toupper((unsigned char)*q);
	return r;
}

static int count_arg(struct imap_parser *p, struct cur *c)
{
	if (p->nargs >= p->lim.max_args)
		return fail_at(p, ERR_LIMIT, "more than the allowed number of arguments",
			       c->s, c->len, c->pos);
	p->nargs++;
	return 0;
}

/* Atom, possibly with [section] parts (spaces and parens allowed inside
 * brackets) — FETCH item names like BODY[HEADER.FIELDS (DATE)]<0>. */
static int tok_atom(struct imap_parser *p, struct cur *c)
{
	size_t start = c->pos;
	while (c->pos < c->len) {
		unsigned char ch = (unsigned char)c->s[c->pos];
		if (ch == '[') {
			const char *end = memchr(c->s + c->pos, ']', c->len - c->pos);
			if (!end)
				return fail_at(p, ERR_PROTO, "unterminated '['",
					       c->s, c->len, c->pos);
			for (const char *q = c->s + c->pos; q < end; q++)
				if (is_text_bad((unsigned char)*q))
					return fail_at(p, ERR_PROTO, "bad byte in section",
						       c->s, c->len, (size_t)(q - c->s));
			c->pos = (size_t)(end - c->s) + 1;
			continue;
		}
		if (!is_atom_char(ch))
			break;
		c->pos++;
	}
	if (c->pos == start)
		return fail_at(p, ERR_PROTO, "unexpected byte", c->s, c->len, c->pos);
	if (count_arg(p, c) < 0)
		return -1;
	struct imap_arg a = { 0 };
	size_t n = c->pos - start;
	if (n == 3 && strncasecmp(c->s + start, "NIL", 3) == 0) {
		a.type = IMAP_ARG_NIL;
	} else {
		a.type = IMAP_ARG_ATOM;
		a.str = mf_strndup(c->s + start, n);
		a.len = n;
	}
	level_push_arg(&p->stack[p->depth], &a);
	return 0;
}

static int tok_quoted(struct imap_parser *p, struct cur *c)
{
	size_t start = c->pos++;
	struct buf b = BUF_INIT(BUF_MAX_DEFAULT);
	for (;;) {
		if (c->pos >= c->len) {
			buf_release(&b);
			return fail_at(p, ERR_PROTO, "unterminated quoted string",
				       c->s, c->len, start);
		}
		unsigned char ch = (unsigned char)c->s[c->pos];
		if (ch == '"')
			break;
		if (ch == '\\') {
			if (c->pos + 1 >= c->len ||
			    (c->s[c->pos + 1] != '\\' && c->s[c->pos + 1] != '"')) {
				buf_release(&b);
				return fail_at(p, ERR_PROTO, "bad escape in quoted string",
					       c->s, c->len, c->pos);
			}
			ch = (unsigned char)c->s[++c->pos];
		} else if (ch == '\0' || ch == '\r') {
			buf_release(&b);
			return fail_at(p, ERR_PROTO, "bad byte in quoted string",
				       c->s, c->len, c->pos);
		}
		/* the segment is bounded by max_line, so is this buffer */
		if (buf_addch(&b, ch) < 0) {
			buf_release(&b);
			return fail(p, ERR_TEMP, "out of memory");
		}
		c->pos++;
	}
	c->pos++;
	if (count_arg(p, c) < 0) {
		buf_release(&b);
		return -1;
	}
	struct imap_arg a = { 0 };
	a.type = IMAP_ARG_STRING;
	a.str = buf_detach(&b, &a.len);
	level_push_arg(&p->stack[p->depth], &a);
	return 0;
}

static int open_list(struct imap_parser *p, struct cur *c)
{
	if (p->depth + 1 > p->lim.max_depth)
		return fail_at(p, ERR_LIMIT, "lists nested too deep", c->s, c->len, c->pos);
	if (count_arg(p, c) < 0)
		return -1;
	if (p->depth + 2 > p->stack_alloc) {
		size_t n = p->stack_alloc * 2 > p->depth + 2 ? p->stack_alloc * 2 : p->depth + 2;
		p->stack = mf_reallocarray(p->stack, n, sizeof *p->stack);
		memset(p->stack + p->stack_alloc, 0, (n - p->stack_alloc) * sizeof *p->stack);
		p->stack_alloc = n;
	}
	p->depth++;
	memset(&p->stack[p->depth], 0, sizeof p->stack[p->depth]);
	c->pos++;
	return 0;
}

static int close_list(struct imap_parser *p, struct cur *c)
{
	if (p->depth == 0)
		return fail_at(p, ERR_PROTO, "unexpected ')'", c->s, c->len, c->pos);
	struct level *l = &p->stack[p->depth];
	struct imap_arg a = { 0 };
	a.type = IMAP_ARG_LIST;
	a.list = l->v;
	a.nlist = l->n;
	memset(l, 0, sizeof *l);
	p->depth--;
	level_push_arg(&p->stack[p->depth], &a);
	c->pos++;
	return 0;
}

/* Arguments of a data response up to the end of the segment. */
static int tok_args(struct imap_parser *p, struct cur *c)
{
	while (c->pos < c->len) {
		unsigned char ch = (unsigned char)c->s[c->pos];
		if (ch == ' ') {
			p->need_sep = 0;
			c->pos++;
			continue;
		}
		if (ch == ')') {
			if (close_list(p, c) < 0)
				return -1;
			p->need_sep = 2;
			continue;
		}
		/* "((a)(b))" (BODYSTRUCTURE) is the one place where no space
		 * separates two tokens */
		if (p->need_sep == 1 || (p->need_sep == 2 && ch != '('))
			return fail_at(p, ERR_PROTO, "missing space", c->s, c->len, c->pos);
		int r;
		if (ch == '(') {
			r = open_list(p, c);
			p->need_sep = 0;
			if (r < 0)
				return -1;
			continue;
		}
		if (ch == '"')
			r = tok_quoted(p, c);
		else if (ch == '{' || (ch == '~' && c->pos + 1 < c->len && c->s[c->pos + 1] == '{'))
			return fail_at(p, ERR_PROTO, "literal not at end of line",
				       c->s, c->len, c->pos);
		else
			r = tok_atom(p, c);
		if (r < 0)
			return -1;
		p->need_sep = 1;
	}
	return 0;
}

struct code_name {
	const char *name;
	enum imap_code_kind kind;
};

static const struct code_name code_names[] = {
	{ "ALERT", IMAP_CODE_ALERT },
	{ "BADCHARSET", IMAP_CODE_BADCHARSET },
	{ "CAPABILITY", IMAP_CODE_CAPABILITY },
	{ "PARSE", IMAP_CODE_PARSE },
	{ "PERMANENTFLAGS", IMAP_CODE_PERMANENTFLAGS },
	{ "READ-ONLY", IMAP_CODE_READ_ONLY },
	{ "READ-WRITE", IMAP_CODE_READ_WRITE },
	{ "TRYCREATE", IMAP_CODE_TRYCREATE },
	{ "UIDNEXT", IMAP_CODE_UIDNEXT },
	{ "UIDVALIDITY", IMAP_CODE_UIDVALIDITY },
	{ "UNSEEN", IMAP_CODE_UNSEEN },
	{ "HIGHESTMODSEQ", IMAP_CODE_HIGHESTMODSEQ },
	{ "NOMODSEQ", IMAP_CODE_NOMODSEQ },
	{ "MODIFIED", IMAP_CODE_MODIFIED },
	{ "APPENDUID", IMAP_CODE_APPENDUID },
	{ "COPYUID", IMAP_CODE_COPYUID },
	{ "UIDNOTSTICKY", IMAP_CODE_UIDNOTSTICKY },
	{ "CLOSED", IMAP_CODE_CLOSED },
	{ "OVERQUOTA", IMAP_CODE_OVERQUOTA },
	{ "LIMIT", IMAP_CODE_LIMIT },
	{ "INUSE", IMAP_CODE_INUSE },
	{ "NOPERM", IMAP_CODE_NOPERM },
	{ "NONEXISTENT", IMAP_CODE_NONEXISTENT },
	{ "ALREADYEXISTS", IMAP_CODE_ALREADYEXISTS },
	{ "AUTHENTICATIONFAILED", IMAP_CODE_AUTHENTICATIONFAILED },
	{ "AUTHORIZATIONFAILED", IMAP_CODE_AUTHORIZATIONFAILED },
	{ "EXPIRED", IMAP_CODE_EXPIRED },
	{ "PRIVACYREQUIRED", IMAP_CODE_PRIVACYREQUIRED },
	{ "CONTACTADMIN", IMAP_CODE_CONTACTADMIN },
	{ "UNAVAILABLE", IMAP_CODE_UNAVAILABLE },
	{ "SERVERBUG", IMAP_CODE_SERVERBUG },
	{ "CLIENTBUG", IMAP_CODE_CLIENTBUG },
	{ "CANNOT", IMAP_CODE_CANNOT },
	{ "EXPUNGEISSUED", IMAP_CODE_EXPUNGEISSUED },
	{ "CORRUPTION", IMAP_CODE_CORRUPTION },
};

int imap_parse_decimal(const char *s, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;
	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

static void code_split_words(struct imap_code *code)
{
	const char *s = code->raw;
	size_t alloc = 0;
	while (*s) {
		while (*s == ' ' || *s == '(' || *s == ')')
			s++;
		size_t n = 0;
		while (s[n] && s[n] != ' ' && s[n] != '(' && s[n] != ')')
			n++;
		if (!n)
			break;
		if (code->nwords == alloc) {
			alloc = alloc ? alloc * 2 : 8;
			code->words = mf_reallocarray(code->words, alloc, sizeof *code->words);
		}
		code->words[code->nwords++] = mf_strndup(s, n);
		s += n;
	}
}

/* Validate the typed codes: a number that sync logic would trust must be a
 * number. */
static int code_check(struct imap_code *code)
{
	const uint64_t u32 = UINT32_MAX, u63 = INT64_MAX;
	switch (code->kind) {
	case IMAP_CODE_UIDNEXT:
	case IMAP_CODE_UNSEEN:
		return code->nwords == 1 && imap_parse_decimal(code->words[0], u32, &code->num) == 0
			       ? 0 : -1;
	case IMAP_CODE_UIDVALIDITY:
		return code->nwords == 1 && imap_parse_decimal(code->words[0], u32, &code->num) == 0 &&
			       code->num != 0 ? 0 : -1;
	case IMAP_CODE_HIGHESTMODSEQ:
		return code->nwords == 1 && imap_parse_decimal(code->words[0], u63, &code->num) == 0
			       ? 0 : -1;
	case IMAP_CODE_APPENDUID:
	case IMAP_CODE_COPYUID:
		if (code->nwords != (code->kind == IMAP_CODE_APPENDUID ? 2u : 3u))
			return -1;
		return imap_parse_decimal(code->words[0], u32, &code->num) == 0 && code->num != 0
			       ? 0 : -1;
	default:
		return 0;
	}
}

/* "[" name [SP raw] "]" starting at c->pos (which is at '['). */
static int tok_code(struct imap_parser *p, struct cur *c)
{
	struct imap_code *code = &p->resp->code;
	size_t start = ++c->pos;
	while (c->pos < c->len && c->s[c->pos] != ' ' && c->s[c->pos] != ']') {
		if (!is_atom_char((unsigned char)c->s[c->pos]))
			return fail_at(p, ERR_PROTO, "bad response code", c->s, c->len, c->pos);
		c->pos++;
	}
	if (c->pos == start || c->pos >= c->len)
		return fail_at(p, ERR_PROTO, "bad response code", c->s, c->len, start);
	code->name = upper_dup(c->s + start, c->pos - start);
	code->kind = IMAP_CODE_UNKNOWN;
	for (size_t i = 0; i < sizeof code_names / sizeof code_names[0]; i++)
		if (strcmp(code->name, code_names[i].name) == 0)
			code->kind = code_names[i].kind;
	size_t raw_start = c->pos, raw_end = c->pos;
	if (c->s[c->pos] == ' ') {
		raw_start = ++c->pos;
		const char *end = memchr(c->s + c->pos, ']', c->len - c->pos);
		if (!end)
			return fail_at(p, ERR_PROTO, "unterminated response code",
				       c->s, c->len, start - 1);
		raw_end = (size_t)(end - c->s);
		for (size_t i = raw_start; i < raw_end; i++)
			if (is_text_bad((unsigned char)c->s[i]))
				return fail_at(p, ERR_PROTO, "bad byte in response code",
					       c->s, c->len, i);
	}
	code->raw = mf_strndup(c->s + raw_start, raw_end - raw_start);
	c->pos = raw_end + 1;
	code_split_words(code);
	if (code_check(code) < 0)
		return fail_at(p, ERR_PROTO, "malformed response code", c->s, c->len, start);
	return 0;
}

/* resp-text: ["[" code "]" SP] text, to the end of the segment (whole
 * segment length `full`, a trailing "{N}" being just text here). */
static int tok_resp_text(struct imap_parser *p, struct cur *c, size_t full, int allow_code)
{
	c->len = full;
	if (allow_code && c->pos < c->len && c->s[c->pos] == '[') {
		if (tok_code(p, c) < 0)
			return -1;
		if (c->pos < c->len && c->s[c->pos] == ' ')
			c->pos++;
	}
	for (size_t i = c->pos; i < c->len; i++)
		if (is_text_bad((unsigned char)c->s[i]))
			return fail_at(p, ERR_PROTO, "bad byte in text", c->s, c->len, i);
	p->resp->text = mf_strndup(c->s + c->pos, c->len - c->pos);
	c->pos = c->len;
	return 0;
}

/* Characters of a tag / keyword: atom chars without '+' or ']' ... */
static size_t word_len(const struct cur *c, int allow_plus)
{
	size_t n = 0;
	while (c->pos + n < c->len) {
		unsigned char ch = (unsigned char)c->s[c->pos + n];
		if (!is_atom_char(ch) || ch == ']' || ch == '%' || ch == '*' || ch == '\\' ||
		    (ch == '+' && !allow_plus))
			break;
		n++;
	}
	return n;
}

static enum imap_status status_of(const char *kw)
{
	static const char *const names[] = { "OK", "NO", "BAD", "PREAUTH", "BYE" };
	for (size_t i = 0; i < 5; i++)
		if (strcmp(kw, names[i]) == 0)
			return (enum imap_status)(IMAP_STATUS_OK + i);
	return IMAP_STATUS_NONE;
}

/* Tag / "*" / "+", number and keyword. Returns 1 when the rest of the line
 * is human text (status response, continuation), 0 for data responses. */
static int tok_header(struct imap_parser *p, struct cur *c, size_t full)
{
	struct imap_response *r = p->resp;
	if (c->len == 0 && full == 0)
		return fail(p, ERR_PROTO, "empty response line");
	if (c->s[0] == '+') {
		r->kind = IMAP_RESP_CONTINUE;
		r->keyword = mf_strdup("");
		c->pos = 1;
		if (full > 1) {
			if (c->s[1] != ' ')
				return fail_at(p, ERR_PROTO, "bad continuation", c->s, full, 1);
			c->pos = 2;
		}
		return tok_resp_text(p, c, full, 1) < 0 ? -1 : 1;
	}
	if (c->s[0] == '*') {
		r->kind = IMAP_RESP_UNTAGGED;
		c->pos = 1;
	} else {
		size_t n = word_len(c, 0);
		if (!n)
			return fail_at(p, ERR_PROTO, "bad tag", c->s, c->len, 0);
		r->kind = IMAP_RESP_TAGGED;
		r->tag = mf_strndup(c->s, n);
		c->pos = n;
	}
	if (c->pos >= c->len || c->s[c->pos] != ' ')
		return fail_at(p, ERR_PROTO, "missing space after tag", c->s, c->len, c->pos);
	c->pos++;
	if (r->kind == IMAP_RESP_UNTAGGED && c->pos < c->len && isdigit((unsigned char)c->s[c->pos])) {
		size_t start = c->pos;
		while (c->pos < c->len && isdigit((unsigned char)c->s[c->pos]))
			c->pos++;
		char num[24];
		uint64_t v;
		size_t n = c->pos - start;
		if (n >= sizeof num)
			return fail_at(p, ERR_PROTO, "bad number", c->s, c->len, start);
		memcpy(num, c->s + start, n);
		num[n] = '\0';
		if (imap_parse_decimal(num, UINT32_MAX, &v) < 0)
			return fail_at(p, ERR_PROTO, "bad number", c->s, c->len, start);
		r->has_number = 1;
		r->number = (uint32_t)v;
		if (c->pos >= c->len || c->s[c->pos] != ' ')
			return fail_at(p, ERR_PROTO, "missing space after number",
				       c->s, c->len, c->pos);
		c->pos++;
	}
	size_t n = word_len(c, 1);
	if (!n || (c->pos + n < c->len && c->s[c->pos + n] != ' '))
		return fail_at(p, ERR_PROTO, "bad response keyword", c->s, c->len, c->pos);
	r->keyword = upper_dup(c->s + c->pos, n);
	c->pos += n;
	p->header_done = 1;
	r->status = r->has_number ? IMAP_STATUS_NONE : status_of(r->keyword);
	if (r->kind == IMAP_RESP_TAGGED && (r->status == IMAP_STATUS_NONE ||
					    r->status == IMAP_STATUS_PREAUTH ||
					    r->status == IMAP_STATUS_BYE))
		return fail_at(p, ERR_PROTO, "tagged response is not OK, NO or BAD",
			       c->s, c->len, c->pos - n);
	if (r->status != IMAP_STATUS_NONE) {
		/* "a1 OK" without text happens in the wild; take it. */
		if (c->pos < full) {
			if (c->s[c->pos] != ' ')
				return fail_at(p, ERR_PROTO, "missing space", c->s, full, c->pos);
			c->pos++;
		}
		return tok_resp_text(p, c, full, 1) < 0 ? -1 : 1;
	}
	/* the space after the keyword; without one only the end may follow */
	p->need_sep = 1;
	if (c->pos < c->len) {
		c->pos++;
		p->need_sep = 0;
	}
	return 0;
}

/* Tokenize one complete segment: s[0..len) is data, s[len..full) a literal
 * header that follows (full == len when the line ended). Returns 1 if the
 * line turned out to be text (response complete, header absorbed), 0 if
 * it was data, -1 on error. */
static int tok_segment(struct imap_parser *p, const char *s, size_t len, size_t full)
{
	struct cur c = { s, len, 0 };
	if (!p->header_done) {
		int r = tok_header(p, &c, full);
		if (r != 0)
			return r;
	}
	if (tok_args(p, &c) < 0)
		return -1;
	if (full > len && p->need_sep)
		return fail_at(p, ERR_PROTO, "literal must start a token", s, full, len);
	return 0;
}

/* If the segment ends in "{N}" or "~{N}", return where that starts and set
 * size / literal8; else return len. */
static size_t literal_header(const char *s, size_t len, uint64_t *size_r, int *l8_r)
{
	if (len < 3 || s[len - 1] != '}')
		return len;
	size_t i = len - 1;
	while (i > 0 && isdigit((unsigned char)s[i - 1]))
		i--;
	if (i == 0 || s[i - 1] != '{' || i == len - 1 || len - 1 - i > 20)
		return len;
	char num[24];
	memcpy(num, s + i, len - 1 - i);
	num[len - 1 - i] = '\0';
	if (imap_parse_decimal(num, UINT64_MAX, size_r) < 0)
		return len;
	i--; /* at '{' */
	*l8_r = i > 0 && s[i - 1] == '~';
	return *l8_r ? i - 1 : i;
}

/* ---------------------------------------------------------------------- */
/* Framing                                                                  */

/* Literal header seen: check limits, ask the handler, enter P_LITERAL. */
static int literal_begin(struct imap_parser *p, uint64_t size, int l8)
{
	struct imap_literal_info info = { 0 };
	const struct level *l = &p->stack[p->depth];
	info.kind = p->resp->kind;
	info.has_number = p->resp->has_number;
	info.number = p->resp->number;
	info.keyword = p->resp->keyword ? p->resp->keyword : "";
	info.item = l->n && l->v[l->n - 1].type == IMAP_ARG_ATOM ? l->v[l->n - 1].str : NULL;
	info.depth = p->depth;
	info.size = size;
	info.literal8 = l8;
	if (p->nargs >= p->lim.max_args)
		return fail(p, ERR_LIMIT, "more than %zu arguments in a response",
			    p->lim.max_args);
	p->nargs++;
	const struct imap_literal_sink *sink = p->lit_fn ? p->lit_fn(p->lit_ctx, &info) : NULL;
	p->lit_streamed = sink != NULL;
	if (sink) {
		if (size > p->lim.max_streamed_literal)
			return fail(p, ERR_LIMIT, "literal of %llu bytes exceeds the limit of %llu",
				    (unsigned long long)size,
				    (unsigned long long)p->lim.max_streamed_literal);
		p->sink = *sink;
	} else {
		if (size > p->lim.max_literal || p->lit_mem > p->lim.max_literal - size)
			return fail(p, ERR_LIMIT,
				    "in-memory literal of %llu bytes exceeds the limit of %llu",
				    (unsigned long long)size,
				    (unsigned long long)p->lim.max_literal);
		p->lit_mem += size;
		buf_init(&p->lit, (size_t)size + 1);
	}
	p->lit_size = p->lit_left = size;
	p->lit_8 = l8;
	p->state = P_LITERAL;
	return 0;
}

static void literal_end(struct imap_parser *p)
{
	struct imap_arg a = { 0 };
	a.literal8 = p->lit_8;
	a.literal_size = p->lit_size;
	if (p->lit_streamed) {
		a.type = IMAP_ARG_LITERAL_STREAMED;
	} else {
		a.type = IMAP_ARG_LITERAL;
		a.str = buf_detach(&p->lit, &a.len);
	}
	level_push_arg(&p->stack[p->depth], &a);
	p->need_sep = 1;
	p->state = P_LINE;
}

/* A whole segment (without CRLF) is in p->seg. Returns 1 when the
 * response is complete, 0 to go on, -1 on error. */
static int segment_done(struct imap_parser *p)
{
	const char *s = p->seg.data;
	size_t full = p->seg.len;
	uint64_t size = 0;
	int l8 = 0;
	size_t len = literal_header(s, full, &size, &l8);
	if (!p->resp)
		p->resp = mf_calloc(1, sizeof *p->resp);
	for (size_t i = 0; i < full; i++)
		if (s[i] == '\0')
			return fail_at(p, ERR_PROTO, "NUL byte", s, full, i);
	int r = tok_segment(p, s, len, full);
	if (r < 0)
		return -1;
	if (r == 1)
		return 1;
	if (len < full) {
		buf_reset(&p->seg);
		return literal_begin(p, size, l8);
	}
	if (p->depth > 0)
		return fail_at(p, ERR_PROTO, "unterminated list", s, full, full);
	struct imap_response *resp = p->resp;
	resp->args = p->stack[0].v;
	resp->nargs = p->stack[0].n;
	memset(&p->stack[0], 0, sizeof p->stack[0]);
	if (!resp->text)
		resp->text = mf_strdup("");
	return 1;
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const void *data,
					size_t len, size_t *used_r)
{
	const char *d = data;
	size_t used = 0;
	if (p->state == P_DONE)
		response_reset(p);
	while (used < len && p->state != P_ERROR) {
		p->busy = 1;
		if (p->state == P_LITERAL) {
			size_t n = len - used;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			if (p->lit_streamed) {
				if (n && p->sink.write(p->sink.ctx, d + used, n) != 0) {
					fail(p, ERR_IO, "literal sink failed");
					break;
				}
			} else if (buf_add(&p->lit, d + used, n) < 0) {
				fail(p, ERR_TEMP, "out of memory for a literal");
				break;
			}
			used += n;
			p->lit_left -= n;
			if (p->lit_left == 0)
				literal_end(p);
			continue;
		}
		const char *lf = memchr(d + used, '\n', len - used);
		size_t n = lf ? (size_t)(lf - (d + used)) + 1 : len - used;
		if (n > p->lim.max_line - p->line_used) {
			fail(p, ERR_LIMIT, "response line longer than %zu bytes", p->lim.max_line);
			break;
		}
		p->line_used += n;
		if (buf_add(&p->seg, d + used, lf ? n - 1 : n) < 0) {
			fail(p, ERR_TEMP, "out of memory for a response line");
			break;
		}
		used += n;
		if (!lf)
			continue;
		if (p->seg.len && p->seg.data[p->seg.len - 1] == '\r')
			buf_truncate(&p->seg, p->seg.len - 1);
		int r = segment_done(p);
		if (r < 0)
			break;
		if (r == 1) {
			p->state = P_DONE;
			*used_r = used;
			return IMAP_PARSE_DONE;
		}
	}
	*used_r = used;
	if (p->state == P_ERROR) {
		tree_free(p);
		return IMAP_PARSE_ERROR;
	}
	return IMAP_PARSE_MORE;
}

/* ---------------------------------------------------------------------- */
/* Life cycle and accessors                                                 */

void imap_parser_limits_default(struct imap_parser_limits *l)
{
	l->max_line = IMAP_PARSER_DEFAULT_MAX_LINE;
	l->max_depth = IMAP_PARSER_DEFAULT_MAX_DEPTH;
	l->max_literal = IMAP_PARSER_DEFAULT_MAX_LITERAL;
	l->max_streamed_literal = IMAP_PARSER_DEFAULT_MAX_STREAMED_LITERAL;
	l->max_args = IMAP_PARSER_DEFAULT_MAX_ARGS;
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits)
{
	struct imap_parser *p = mf_calloc(1, sizeof *p);
	if (limits)
		p->lim = *limits;
	else
		imap_parser_limits_default(&p->lim);
	/* a line must at least hold "* OK\r\n"; a list level must fit */
	if (p->lim.max_line < 8)
		p->lim.max_line = 8;
	buf_init(&p->seg, p->lim.max_line);
	buf_init(&p->lit, 1);
	p->stack_alloc = 4;
	p->stack = mf_calloc(p->stack_alloc, sizeof *p->stack);
	p->state = P_LINE;
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = pp ? *pp : NULL;
	if (!p)
		return;
	tree_free(p);
	buf_release(&p->seg);
	buf_release(&p->lit);
	free(p->stack);
	free(p);
	*pp = NULL;
}

void imap_parser_set_literal_handler(struct imap_parser *p, imap_literal_handler *fn,
				     void *ctx)
{
	p->lit_fn = fn;
	p->lit_ctx = ctx;
}

const struct imap_response *imap_parser_response(const struct imap_parser *p)
{
	return p->state == P_DONE ? p->resp : NULL;
}

struct imap_response *imap_parser_take(struct imap_parser *p)
{
	if (p->state != P_DONE)
		return NULL;
	struct imap_response *r = p->resp;
	p->resp = NULL;
	response_reset(p);
	return r;
}

void imap_parser_release(struct imap_parser *p)
{
	if (p->state == P_DONE)
		response_reset(p);
}

const struct err *imap_parser_error(const struct imap_parser *p)
{
	return &p->err;
}

int imap_parser_busy(const struct imap_parser *p)
{
	return p->state != P_DONE && p->state != P_ERROR && p->busy;
}

void imap_parser_reset(struct imap_parser *p)
{
	response_reset(p);
	err_clear(&p->err);
}

/* ---------------------------------------------------------------------- */
/* Arg helpers                                                              */

const char *imap_arg_atom(const struct imap_arg *a)
{
	return a && a->type == IMAP_ARG_ATOM ? a->str : NULL;
}

const char *imap_arg_astring(const struct imap_arg *a)
{
	if (!a)
		return NULL;
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_STRING:
		return a->str;
	case IMAP_ARG_LITERAL:
		return memchr(a->str, '\0', a->len) ? NULL : a->str;
	default:
		return NULL;
	}
}

const char *imap_arg_nstring(const struct imap_arg *a, int *is_nil_r)
{
	if (is_nil_r)
		*is_nil_r = 0;
	if (!a)
		return NULL;
	if (a->type == IMAP_ARG_NIL) {
		if (is_nil_r)
			*is_nil_r = 1;
		return "";
	}
	if (a->type == IMAP_ARG_ATOM)
		return NULL;
	return imap_arg_astring(a);
}

int imap_arg_atom_eq(const struct imap_arg *a, const char *s)
{
	return a && a->type == IMAP_ARG_ATOM && strcasecmp(a->str, s) == 0;
}

int imap_arg_list(const struct imap_arg *a, const struct imap_arg **items_r, size_t *n_r)
{
	if (!a || a->type != IMAP_ARG_LIST)
		return 0;
	*items_r = a->list;
	*n_r = a->nlist;
	return 1;
}

static int dump_bytes(const char *s, size_t n, struct buf *out)
{
	int r = buf_addch(out, '"');
	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			r = buf_addf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			r = buf_addf(out, "\\x%02x", c);
		else
			r = buf_addch(out, c);
	}
	return r < 0 ? -1 : buf_addch(out, '"');
}

int imap_args_dump(const struct imap_arg *args, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct imap_arg *a = &args[i];
		int r = 0;
		if (i && buf_addch(out, ' ') < 0)
			return -1;
		switch (a->type) {
		case IMAP_ARG_NIL:
			r = buf_addstr(out, "NIL");
			break;
		case IMAP_ARG_ATOM:
			r = buf_addstr(out, a->str);
			break;
		case IMAP_ARG_STRING:
			r = dump_bytes(a->str, a->len, out);
			break;
		case IMAP_ARG_LITERAL:
		case IMAP_ARG_LITERAL_STREAMED:
			r = buf_addf(out, "%s{%llu}", a->literal8 ? "~" : "",
				     (unsigned long long)a->literal_size);
			if (r == 0)
				r = a->type == IMAP_ARG_LITERAL ? dump_bytes(a->str, a->len, out)
								: buf_addstr(out, "<streamed>");
			break;
		case IMAP_ARG_LIST:
			r = buf_addch(out, '(');
			if (r == 0)
				r = imap_args_dump(a->list, a->nlist, out);
			if (r == 0)
				r = buf_addch(out, ')');
			break;
		}
		if (r < 0)
			return -1;
	}
	return 0;
}
