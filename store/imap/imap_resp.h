/*
 * imap_resp.h — typed decoding of parsed IMAP responses (imap_parser.h):
 * FETCH, LIST/LSUB, STATUS, SEARCH, ESEARCH, VANISHED, ENABLED,
 * CAPABILITY, NAMESPACE, ID, MYRIGHTS, and the APPENDUID / COPYUID codes.
 * RFCs: 3501, 9051, 4315 (UIDPLUS), 4731 (ESEARCH), 5161 (ENABLE),
 * 2342 (NAMESPACE), 2971 (ID), 4314 (ACL), 6154 (SPECIAL-USE),
 * 5258 (LIST-EXTENDED), 7162 (CONDSTORE/QRESYNC).
 *
 * Every decoder takes a response whose keyword it expects (the caller
 * dispatches on r->keyword), fills an output struct that owns its memory
 * (each has a *_free), and returns 0 or -1 with ERR_PROTO and a message
 * naming the response and the bad part; on -1 the output owns nothing (its
 * *_free is still harmless). Decoders never modify the response.
 * Numbers are parsed strictly (digits only, no sign/space, range-checked).
 */
#ifndef MF_IMAP_RESP_H
#define MF_IMAP_RESP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parser.h"
#include "imap/imap_uidset.h"
#include "lib/err.h"
#include "store.h"

/* ---------------------------------------------------------------------- */
/* Strict numbers: 0 or -1 (no err: the caller words the message).         */

int imap_resp_parse_u32(const char *s, uint32_t *v_r);   /* 0..2^32-1 */
int imap_resp_parse_nz32(const char *s, uint32_t *v_r);  /* 1..2^32-1 */
int imap_resp_parse_u64(const char *s, uint64_t *v_r);   /* 0..2^63-1 (mod-sequence) */
/* The same on an atom arg (a quoted number is refused). */
int imap_resp_arg_u32(const struct imap_arg *a, uint32_t *v_r);
int imap_resp_arg_u64(const struct imap_arg *a, uint64_t *v_r);

/* A string vector (owned strings). */
struct imap_strv {
	char **v;
	size_t n;
};
void imap_strv_free(struct imap_strv *sv);
/* Case-insensitive membership. */
int imap_strv_has(const struct imap_strv *sv, const char *s);

/* ---------------------------------------------------------------------- */
/* FETCH: "* seq FETCH (item value ...)"                                    */

enum imap_fetch_present {
	IMAP_FETCH_UID = 1u << 0,
	IMAP_FETCH_FLAGS = 1u << 1,
	IMAP_FETCH_MODSEQ = 1u << 2,
	IMAP_FETCH_SIZE = 1u << 3,    /* RFC822.SIZE */
	IMAP_FETCH_IDATE = 1u << 4,   /* INTERNALDATE */
	IMAP_FETCH_HEADER = 1u << 5,  /* BODY[HEADER...] / RFC822.HEADER */
	IMAP_FETCH_BODY = 1u << 6,    /* BODY[] / BINARY[] / RFC822 */
};

struct imap_fetch {
	uint32_t seq;           /* the message sequence number */
	unsigned present;       /* enum imap_fetch_present */
	uint32_t uid;
	struct flagset flags;   /* \Recent and unknown \flags dropped */
	int recent;             /* \Recent was in FLAGS */
	uint64_t modseq;
	uint64_t rfc822_size;
	time_t internaldate;
	/* Header text (BODY[HEADER], BODY[HEADER.FIELDS (...)], RFC822.HEADER)
	 * when it came in memory: points INTO the response (valid while the
	 * response lives); NULL when absent, NIL or streamed. */
	const char *header;
	size_t header_len;
	/* BODY[] / BODY[]<0> / BINARY[] / RFC822 value: in memory (points into
	 * the response), or streamed (body == NULL, body_streamed = 1); in both
	 * cases body_size is the literal size. */
	const char *body;
	size_t body_len;
	int body_streamed;
	uint64_t body_size;
};

/* Decode a FETCH response. Unknown items (ENVELOPE, BODYSTRUCTURE, ...) are
 * skipped (their value is still in r->args). */
int imap_resp_fetch(const struct imap_response *r, struct imap_fetch *out,
		    struct err *e);
void imap_fetch_free(struct imap_fetch *f);

/* ---------------------------------------------------------------------- */
/* LIST / LSUB: "* LIST (\HasNoChildren \Sent) "/" "Sent""                  */

struct imap_list {
	unsigned attrs;   /* enum store_box_attr (store.h); \Marked etc. ignored */
	char delim;       /* hierarchy delimiter; 0 for NIL */
	char *name;       /* raw name as sent (modified UTF-7 unless UTF8=ACCEPT) */
	/* "INBOX" in any case is returned as "INBOX". */
};
int imap_resp_list(const struct imap_response *r, struct imap_list *out,
		   struct err *e);
void imap_list_free(struct imap_list *l);
/* One LIST attribute ("\Noselect", case-insensitive) to its BOX_* bit; 0 if
 * unknown. */
unsigned imap_resp_box_attr(const char *flag);

/* ---------------------------------------------------------------------- */
/* STATUS: "* STATUS name (MESSAGES 231 UIDNEXT 44292)"                     */

enum imap_status_present {
	IMAP_STATUS_MESSAGES = 1u << 0,
	IMAP_STATUS_RECENT = 1u << 1,
	IMAP_STATUS_UIDNEXT = 1u << 2,
	IMAP_STATUS_UIDVALIDITY = 1u << 3,
	IMAP_STATUS_UNSEEN = 1u << 4,
	IMAP_STATUS_HIGHESTMODSEQ = 1u << 5,
};

struct imap_status_info {
	char *name;        /* raw name as sent */
	unsigned present;  /* enum imap_status_present */
	uint32_t messages, recent, uidnext, uidvalidity, unseen;
	uint64_t highestmodseq;
};
int imap_resp_status(const struct imap_response *r, struct imap_status_info *out,
		     struct err *e);
void imap_status_info_free(struct imap_status_info *s);

/* ---------------------------------------------------------------------- */
/* SEARCH: "* SEARCH 2 84 882" with optional "(MODSEQ 917162500)" (7162)    */

int imap_resp_search(const struct imap_response *r, uint32_t **nums_r, size_t *n_r,
		     uint64_t *modseq_r, struct err *e);

/* ESEARCH (4731): "* ESEARCH (TAG "a1") UID COUNT 3 ALL 1:3,5 MIN 1 MAX 5" */
enum imap_esearch_present {
	IMAP_ESEARCH_MIN = 1u << 0,
	IMAP_ESEARCH_MAX = 1u << 1,
	IMAP_ESEARCH_COUNT = 1u << 2,
	IMAP_ESEARCH_ALL = 1u << 3,
	IMAP_ESEARCH_MODSEQ = 1u << 4,
};

struct imap_esearch {
	char *tag;             /* the correlator tag, NULL if absent */
	int uid;               /* UID indicator present */
	unsigned present;      /* enum imap_esearch_present */
	uint32_t min, max, count;
	uint64_t modseq;
	struct imap_uidset all;
};
int imap_resp_esearch(const struct imap_response *r, struct imap_esearch *out,
		      struct err *e);
void imap_esearch_free(struct imap_esearch *es);

/* VANISHED (7162): "* VANISHED (EARLIER) 300:310,405,411" */
int imap_resp_vanished(const struct imap_response *r, int *earlier_r,
		       struct imap_uidset *set_r, struct err *e);

/* ---------------------------------------------------------------------- */
/* Atom lists: "* CAPABILITY IMAP4rev1 ...", "* ENABLED CONDSTORE", and the
 * [CAPABILITY ...] response code. Items are uppercased. */
int imap_resp_capability(const struct imap_response *r, struct imap_strv *out,
			 struct err *e);
int imap_resp_enabled(const struct imap_response *r, struct imap_strv *out,
		      struct err *e);
int imap_resp_code_capability(const struct imap_code *c, struct imap_strv *out,
			      struct err *e);

/* ---------------------------------------------------------------------- */
/* NAMESPACE (2342): "* NAMESPACE (("" "/")) NIL (("Shared/" "/"))"        */

struct imap_ns {
	char *prefix;  /* raw, as sent */
	char delim;    /* 0 for NIL */
};
struct imap_namespace {
	struct imap_ns *personal, *other, *shared;
	size_t npersonal, nother, nshared;
};
int imap_resp_namespace(const struct imap_response *r, struct imap_namespace *out,
			struct err *e);
void imap_namespace_free(struct imap_namespace *ns);

/* ID (2971): "* ID ("name" "Dovecot")" or "* ID NIL". vals[i] is NULL for
 * a NIL value. */
struct imap_id {
	char **keys;
	char **vals;
	size_t n;
};
int imap_resp_id(const struct imap_response *r, struct imap_id *out, struct err *e);
void imap_id_free(struct imap_id *id);

/* MYRIGHTS (4314): "* MYRIGHTS INBOX lrswipkxtecda" */
int imap_resp_myrights(const struct imap_response *r, char **name_r, char **rights_r,
		       struct err *e);

/* ---------------------------------------------------------------------- */
/* UIDPLUS (4315) response codes, from r->code.                            */

/* [APPENDUID uidvalidity uid-set] (a set for MULTIAPPEND). */
int imap_resp_appenduid(const struct imap_code *c, uint32_t *uidvalidity_r,
			struct imap_uidset *uids_r, struct err *e);
/* [COPYUID uidvalidity src-set dst-set]; the two sets have equal counts. */
int imap_resp_copyuid(const struct imap_code *c, uint32_t *uidvalidity_r,
		      struct imap_uidset *src_r, struct imap_uidset *dst_r,
		      struct err *e);

#endif
