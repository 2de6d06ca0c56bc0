/*
 * imap_client_int.h — internals shared by imap_client.c (session, command
 * engine, response dispatch, authentication) and imap_cmds.c (the mailbox
 * and message commands). Not part of the public API: include only from
 * those two files.
 */
#ifndef MF_IMAP_CLIENT_INT_H
#define MF_IMAP_CLIENT_INT_H

#include "imap/imap_client.h"
#include "imap/imap_io.h"
#include "imap/imap_parser.h"
#include "imap/imap_resp.h"

/* What untagged data a command collects (routing key). */
enum cmd_kind {
	CK_PLAIN = 0,   /* nothing special */
	CK_CAPABILITY,
	CK_LOGIN,
	CK_AUTH,
	CK_STARTTLS,
	CK_LOGOUT,
	CK_SELECT,
	CK_CLOSE,       /* CLOSE / UNSELECT */
	CK_ENABLE,
	CK_ID,
	CK_LIST,
	CK_LSUB,
	CK_STATUS,
	CK_NAMESPACE,
	CK_FETCH,       /* UID FETCH, UID STORE with a handler */
	CK_SEARCH,
	CK_APPEND,
	CK_COPY,        /* UID COPY / UID MOVE */
	CK_STORE,
	CK_MYRIGHTS,
	CK_GETACL,
	CK_RAW,
};

/* Session states as bits for "allowed in" masks. */
#define ST_BIT(s) (1u << (s))
#define ST_NOAUTH ST_BIT(IMAP_STATE_NOT_AUTHENTICATED)
#define ST_AUTH (ST_BIT(IMAP_STATE_AUTHENTICATED) | ST_BIT(IMAP_STATE_SELECTED))
#define ST_SEL ST_BIT(IMAP_STATE_SELECTED)
#define ST_ANY (ST_NOAUTH | ST_AUTH)

struct imap_cmd {
	struct imap_client *c;
	struct imap_cmd *next;      /* in-flight FIFO */
	struct imap_cmd *all_next;  /* every allocated command */
	char tag[16];
	char desc[96];              /* "SELECT \"Foo\"" for error texts */
	enum cmd_kind kind;
	int done;
	int failed;                 /* err holds the result */
	int send_aborted;           /* a tagged reply came while sending it */
	int detached;
	imap_done_fn *on_done;
	void *on_done_ctx;
	struct err err;

	/* Where results go (by kind). */
	const struct imap_fetch_handler *fh;
	imap_untagged_fn *raw_fn;
	void *raw_ctx;
	char *match_name;           /* STATUS/MYRIGHTS/GETACL: raw (UTF-7) name */
	struct imap_mbox_status *st;
	struct imap_boxlist *list;
	int list_status;            /* LIST ... RETURN (STATUS ...) */
	struct imap_namespace *ns;
	struct imap_id *id;
	uint32_t **search_uids;
	size_t *search_n;
	size_t search_alloc;
	struct imap_esearch *esearch;
	int esearch_expand;         /* UID SEARCH via ESEARCH: expand into search_uids */
	struct imap_uidmap *uidmap;
	char **modified;
	char **rights;
	struct imap_acl *acl;
	int select_read_only;
};

struct imap_client {
	struct imap_io *io;
	struct imap_parser *parser;
	char host[256];
	char port[16];                /* as connected to (OAUTHBEARER names it) */
	enum imap_state state;
	enum imap_tls_mode tls_mode;
	unsigned depth;
	imap_trace_fn *trace;
	void *trace_ctx;
	imap_log_fn *log;
	void *log_ctx;
	imap_event_fn *event;
	void *event_ctx;

	char *greeting;
	int greeting_done;
	int preauth;                  /* greeted with PREAUTH */
	struct imap_strv caps;
	struct imap_strv caps_pre;
	int caps_known;
	unsigned caps_gen;            /* bumped by every capability update */
	struct imap_strv enabled;
	struct imap_mailbox mbox;

	unsigned next_tag;
	struct imap_cmd *head, *tail; /* in flight, oldest first */
	size_t inflight;
	struct imap_cmd *all;         /* all allocated */
	struct imap_cmd *sending;     /* command being written (continuations) */
	int got_cont;
	struct buf cont_text;         /* the last "+" text (SASL challenges) */
	int auth_cancel;              /* AUTHENTICATE: a further "+" gets "*" */

	int dead;
	int logged_out;               /* dead because we said LOGOUT */
	struct err fatal;             /* "host: reason" */
	char *bye;                    /* text of an untagged BYE */

	/* body streaming state */
	struct imap_cmd *stream_cmd;
	int streaming;
	struct imap_literal_sink sink;

	/* trace state */
	struct buf tx_line;
	int tx_secret;                /* last thing added was "<redacted>" */
	struct buf rx_line;
	uint64_t rx_lit_left;
	char rx_tail[32];             /* last raw bytes of the line */
	size_t rx_tail_len;
};

/* Engine (imap_client.c). */
/* Start a command: checks the client is alive, the state is one of
 * `states`, waits for a pipeline slot (or for everything in flight when
 * `barrier`), allocates the tag and queues "TAG ". */
struct imap_cmd *imap_client_cmd_begin(struct imap_client *c, enum cmd_kind kind,
				       unsigned states, int barrier, const char *desc,
				       struct err *e);
/* Append raw text / an astring (quoted or literal) / a literal. */
int imap_client_cmd_add(struct imap_client *c, struct imap_cmd *cmd, const char *s, int secret);
int imap_client_cmd_addf(struct imap_client *c, struct imap_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int imap_client_cmd_astring(struct imap_client *c, struct imap_cmd *cmd, const char *s,
			    size_t len, int secret);
int imap_client_cmd_literal(struct imap_client *c, struct imap_cmd *cmd,
			    const struct imap_literal_src *src, int secret);
/* End the line; sync (cmd_r NULL): wait, free, return the result; else hand
 * out the handle. */
int imap_client_cmd_finish(struct imap_client *c, struct imap_cmd *cmd,
			   struct imap_cmd **cmd_r, struct err *e);
int imap_client_need_cap(struct imap_client *c, const char *cap, const char *what,
			 struct err *e);
/* UTF-8 mailbox name to the wire form (modified UTF-7). */
int imap_client_mbox_encode(struct imap_client *c, const char *name, struct buf *out,
			    struct err *e);
/* Wire name to UTF-8 (owned); *bad_r = 1 and a copy when it does not decode. */
char *imap_client_mbox_decode(const char *raw, int *bad_r);
/* Untagged data dispatch of imap_cmds.c; 1 if consumed, 0 if not, -1 fatal. */
int imap_cmds_untagged(struct imap_client *c, const struct imap_response *r);
/* The oldest in-flight command of `kind` (NULL if none). */
struct imap_cmd *imap_client_find_kind(struct imap_client *c, enum cmd_kind kind);
/* Record a callback failure on the command (first error wins). */
void imap_client_cmd_fail(struct imap_cmd *cmd, const struct err *e);
/* Completion hooks of imap_cmds.c for the tagged OK's response code. */
void imap_cmds_tagged_ok(struct imap_client *c, struct imap_cmd *cmd,
			 const struct imap_response *r);
void imap_client_set_state(struct imap_client *c, enum imap_state s);
void imap_client_mailbox_reset(struct imap_client *c, const char *name, int read_only);

#endif
