/*
 * imap_parser.h — streaming, incremental parser of IMAP server responses
 * (RFC 3501, RFC 9051; literal8 from RFC 3516). Pure: it never touches a
 * socket. The I/O layer feeds it whatever bytes arrived and it says "need
 * more", "one response done" or "error".
 *
 * Usage
 *
 *	struct imap_parser *p = imap_parser_new(NULL);   // default limits
 *	for (;;) {
 *		size_t used;
 *		switch (imap_parser_feed(p, data, len, &used)) {
 *		case IMAP_PARSE_MORE:  // all `len` bytes consumed; read more
 *		case IMAP_PARSE_DONE:  // r = imap_parser_response(p); handle it;
 *		                       // then feed data + used, len - used again
 *		case IMAP_PARSE_ERROR: // imap_parser_error(p); drop the connection
 *		}
 *	}
 *	imap_parser_free(&p);
 *
 * Guarantees
 *  - Feeding a byte stream in any split (even one byte at a time) yields
 *    exactly the same responses as feeding it at once.
 *  - Memory is bounded by `struct imap_parser_limits`; a limit that is hit
 *    gives IMAP_PARSE_ERROR with an ERR_LIMIT error, never a big allocation.
 *    Malformed input gives IMAP_PARSE_ERROR with ERR_PROTO and a message
 *    that quotes the offending context. After an error the parser stays in
 *    the error state (the connection is unusable).
 *  - The response returned by imap_parser_response() is owned by the parser
 *    and stays valid until the next imap_parser_feed(), imap_parser_reset()
 *    or imap_parser_free(); imap_parser_take() hands it to the caller
 *    instead (then free it with imap_response_free()).
 *
 * Tree shape. A response is split into:
 *  - kind: tagged ("a1 OK ..."), untagged ("* ...") or continuation ("+ ...");
 *  - for status responses (OK, NO, BAD, PREAUTH, BYE, tagged or untagged):
 *    `status`, `keyword` ("OK"...), an optional response `code` ([...]) and
 *    the human `text`; `args` is empty;
 *  - for data responses: optional `number` ("* 23 EXISTS", "* 5 FETCH ..."),
 *    `keyword` uppercased ("EXISTS", "FETCH", "LIST", "CAPABILITY", ...) and
 *    the `args` after the keyword (FETCH: one LIST arg with the items);
 *  - for a continuation: `text` is everything after "+ " (human text or
 *    base64 — the caller knows which it expects), `code` if it began with
 *    "[...]".
 * Tokens: atoms (including flags like \Seen, \* and FETCH item names with a
 * section and partial, e.g. `BODY[HEADER.FIELDS (DATE)]<0>`, which are ONE
 * atom whose text is verbatim), quoted strings (escapes removed), literals
 * {N} and literal8 ~{N} (in memory, or streamed to a sink), NIL, and
 * parenthesised lists.
 */
#ifndef MF_IMAP_PARSER_H
#define MF_IMAP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* ---------------------------------------------------------------------- */
/* The parsed tree                                                          */

enum imap_arg_type {
	IMAP_ARG_NIL = 1,
	IMAP_ARG_ATOM,             /* verbatim, case kept; includes numbers */
	IMAP_ARG_STRING,           /* quoted string, escapes removed */
	IMAP_ARG_LITERAL,          /* {N} / ~{N} kept in memory */
	IMAP_ARG_LITERAL_STREAMED, /* {N} / ~{N} whose bytes went to a sink */
	IMAP_ARG_LIST,             /* ( ... ) */
};

struct imap_arg {
	enum imap_arg_type type;
	int literal8;          /* LITERAL / LITERAL_STREAMED sent as ~{N} */
	/* ATOM, STRING, LITERAL: owned bytes, NUL-terminated; a LITERAL may
	 * contain NULs, so use `len`. NULL for NIL, LIST, LITERAL_STREAMED. */
	char *str;
	size_t len;            /* bytes in str */
	uint64_t literal_size; /* LITERAL and LITERAL_STREAMED: N */
	struct imap_arg *list; /* LIST: the children (owned), NULL when empty */
	size_t nlist;
};

enum imap_resp_kind {
	IMAP_RESP_TAGGED = 1,
	IMAP_RESP_UNTAGGED,
	IMAP_RESP_CONTINUE,
};

enum imap_status {
	IMAP_STATUS_NONE = 0, /* a data response or a continuation */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,
	IMAP_STATUS_BYE,
};

/* Response codes, RFC 3501 / 9051, 4315 (UIDPLUS), 7162 (CONDSTORE),
 * 5530 (error codes), 5464/9208 (quota), 2971. */
enum imap_code_kind {
	IMAP_CODE_NONE = 0,
	IMAP_CODE_UNKNOWN,          /* anything else: see name and raw */
	IMAP_CODE_ALERT,
	IMAP_CODE_BADCHARSET,       /* words: the charsets */
	IMAP_CODE_CAPABILITY,       /* words: the capabilities as sent */
	IMAP_CODE_PARSE,
	IMAP_CODE_PERMANENTFLAGS,   /* words: the flags, "\*" included */
	IMAP_CODE_READ_ONLY,
	IMAP_CODE_READ_WRITE,
	IMAP_CODE_TRYCREATE,
	IMAP_CODE_UIDNEXT,          /* num */
	IMAP_CODE_UIDVALIDITY,      /* num (nz u32) */
	IMAP_CODE_UNSEEN,           /* num */
	IMAP_CODE_HIGHESTMODSEQ,    /* num (u64) */
	IMAP_CODE_NOMODSEQ,
	IMAP_CODE_MODIFIED,         /* words[0]: the uid/seq set */
	IMAP_CODE_APPENDUID,        /* num = uidvalidity, words[1] = uid set */
	IMAP_CODE_COPYUID,          /* num = uidvalidity, words[1] src, words[2] dst */
	IMAP_CODE_UIDNOTSTICKY,
	IMAP_CODE_CLOSED,
	IMAP_CODE_OVERQUOTA,
	IMAP_CODE_LIMIT,
	IMAP_CODE_INUSE,
	IMAP_CODE_NOPERM,
	IMAP_CODE_NONEXISTENT,
	IMAP_CODE_ALREADYEXISTS,
	IMAP_CODE_AUTHENTICATIONFAILED,
	IMAP_CODE_AUTHORIZATIONFAILED,
	IMAP_CODE_EXPIRED,
	IMAP_CODE_PRIVACYREQUIRED,
	IMAP_CODE_CONTACTADMIN,
	IMAP_CODE_UNAVAILABLE,
	IMAP_CODE_SERVERBUG,
	IMAP_CODE_CLIENTBUG,
	IMAP_CODE_CANNOT,
	IMAP_CODE_EXPUNGEISSUED,
	IMAP_CODE_CORRUPTION,
};

struct imap_code {
	enum imap_code_kind kind;
	char *name;   /* uppercased code name ("UIDVALIDITY"); NULL when NONE */
	char *raw;    /* text after the name up to ']', verbatim; "" if none */
	/* raw split at spaces with '(' and ')' removed; e.g. PERMANENTFLAGS
	 * (\Seen \*) -> {"\Seen", "\*"}; APPENDUID 38505 3955 -> {"38505",
	 * "3955"}. Owned. */
	char **words;
	size_t nwords;
	/* UIDNEXT, UIDVALIDITY, UNSEEN, HIGHESTMODSEQ; APPENDUID/COPYUID: the
	 * uidvalidity. Validated strictly: a malformed number in one of these
	 * codes is a parse error. */
	uint64_t num;
};

struct imap_response {
	enum imap_resp_kind kind;
	char *tag;             /* TAGGED: the tag; NULL otherwise */
	enum imap_status status;
	int has_number;        /* "* 23 EXISTS" */
	uint32_t number;
	/* Uppercased: "OK".."BYE" for status responses, else the data keyword
	 * ("EXISTS", "FETCH", "LIST", ...); "" for a continuation. Never NULL. */
	char *keyword;
	struct imap_arg *args; /* data responses: what follows the keyword */
	size_t nargs;
	struct imap_code code; /* status responses and continuations */
	char *text;            /* human text / continuation payload; never NULL */
};

/* Free everything `*r` owns, free *r and set *r = NULL (NULL is fine). */
void imap_response_free(struct imap_response **r);

/* Helpers over args (all NULL-safe; they return NULL / 0 when the arg is not
 * of the asked shape). */
/* Atom text, else NULL. */
const char *imap_arg_atom(const struct imap_arg *a);
/* astring: atom, quoted or in-memory literal without NUL bytes, else NULL. */
const char *imap_arg_astring(const struct imap_arg *a);
/* nstring: like astring but NIL gives "" with *is_nil_r = 1 (may be NULL);
 * quoted or literal only (an atom is not an nstring). NULL if wrong type. */
const char *imap_arg_nstring(const struct imap_arg *a, int *is_nil_r);
/* Case-insensitive compare of an atom with `s`. */
int imap_arg_atom_eq(const struct imap_arg *a, const char *s);
/* A LIST arg: children and count; 0 when `a` is not a list. */
int imap_arg_list(const struct imap_arg *a, const struct imap_arg **items_r,
		  size_t *n_r);

/* Debug / test form of a tree: atoms verbatim, strings quoted with
 * escapes, literals as {N}"bytes" (streamed: {N}<streamed>), NIL, lists in
 * parentheses, single spaces. Appends to `out`; 0 or -1 (buffer cap). */
struct buf;
int imap_args_dump(const struct imap_arg *args, size_t n, struct buf *out);

/* ---------------------------------------------------------------------- */
/* The parser                                                               */

struct imap_parser_limits {
	size_t max_line;    /* bytes per response outside literals, CRLF included */
	size_t max_depth;   /* list nesting ("((x))" is depth 2) */
	uint64_t max_literal;          /* bytes of in-memory literals per response */
	uint64_t max_streamed_literal; /* size of one literal sent to a sink */
	size_t max_args;    /* tokens (atoms, strings, literals, lists) per response */
};

#define IMAP_PARSER_DEFAULT_MAX_LINE ((size_t)16 << 20)
#define IMAP_PARSER_DEFAULT_MAX_DEPTH 64
#define IMAP_PARSER_DEFAULT_MAX_LITERAL ((uint64_t)16 << 20)
#define IMAP_PARSER_DEFAULT_MAX_STREAMED_LITERAL ((uint64_t)4 << 30)
#define IMAP_PARSER_DEFAULT_MAX_ARGS ((size_t)1 << 21)

/* Fill `l` with the defaults above. */
void imap_parser_limits_default(struct imap_parser_limits *l);

/* Where a streamed literal goes. write() gets the bytes as they arrive,
 * never the whole literal at once; nonzero aborts the parse (IMAP_PARSE_ERROR
 * with ERR_IO, "literal sink failed"). Nothing is called at the end: the
 * response being DONE means the literal is complete. */
struct imap_literal_sink {
	int (*write)(void *ctx, const void *data, size_t n);
	void *ctx;
};

/* What the literal handler is told when a literal header {N} is parsed. */
struct imap_literal_info {
	enum imap_resp_kind kind;
	int has_number;
	uint32_t number;     /* "* 12 FETCH": 12 */
	const char *keyword; /* uppercased, "FETCH"; "" if not known yet */
	/* The atom just before the literal in the same list, verbatim (e.g.
	 * "BODY[]", "BODY[HEADER]<0>", "RFC822"), or NULL if the previous item
	 * is not an atom or the literal is the first item. */
	const char *item;
	size_t depth;        /* list nesting of the literal (1 inside FETCH (...)) */
	uint64_t size;
	int literal8;
};

/* Called once per literal header. Return NULL to keep the literal in memory
 * (bounded by max_literal), or a sink (copied by the parser, so it may point
 * at a temporary) to stream it (bounded by max_streamed_literal). */
typedef const struct imap_literal_sink *
imap_literal_handler(void *ctx, const struct imap_literal_info *info);

enum imap_parse_result {
	IMAP_PARSE_MORE = 0, /* every byte given was consumed; feed more */
	IMAP_PARSE_DONE,     /* a whole response is ready; *used_r bytes used */
	IMAP_PARSE_ERROR,    /* see imap_parser_error(); parser is dead */
};

struct imap_parser;

/* limits == NULL: defaults. The limits are copied. Never NULL (aborts on
 * out of memory). */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits);
void imap_parser_free(struct imap_parser **p);

/* Set (or with fn == NULL clear) the literal handler. Takes effect for the
 * next literal header. */
void imap_parser_set_literal_handler(struct imap_parser *p,
				     imap_literal_handler *fn, void *ctx);

/* Consume bytes. Frees the previous response if it was not taken. On MORE,
 * *used_r == len. On DONE, *used_r <= len is what this response used; feed
 * the rest again (a DONE with *used_r == 0 never happens). On ERROR,
 * *used_r is what was consumed before the error. */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const void *data,
					size_t len, size_t *used_r);

/* The finished response after DONE, else NULL. Owned by the parser. */
const struct imap_response *imap_parser_response(const struct imap_parser *p);
/* The finished response after DONE, handed to the caller; NULL otherwise. */
struct imap_response *imap_parser_take(struct imap_parser *p);
/* Free the finished response now (instead of at the next feed). */
void imap_parser_release(struct imap_parser *p);

/* After ERROR: the error (class ERR_PROTO, ERR_LIMIT, ERR_IO for a failed
 * sink, ERR_TEMP for out of memory) with the offending context in the
 * message. Else a cleared error. */
const struct err *imap_parser_error(const struct imap_parser *p);

/* Is the parser in the middle of a response (bytes seen, not DONE)? A
 * connection closed at that point lost data. */
int imap_parser_busy(const struct imap_parser *p);

/* Drop any partial state and the error: ready for a fresh stream (e.g.
 * after STARTTLS, where buffered plaintext must be discarded). */
void imap_parser_reset(struct imap_parser *p);

/* Strict decimal number: digits only, at least one, no sign, no overflow
 * past `max`. 0 or -1. Shared by the parser (literal sizes, response codes)
 * and the typed decoders of imap_resp.h. */
int imap_parse_decimal(const char *s, uint64_t max, uint64_t *v_r);

#endif
