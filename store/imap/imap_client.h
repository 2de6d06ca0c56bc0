/*
 * imap_client.h — one IMAP4rev1 session: connection, greeting, STARTTLS,
 * authentication, capabilities, tags, pipelining, literals, unsolicited
 * responses, and one function per command.
 *
 * RFCs: 3501 / 9051 (IMAP), 2595 + 8314 (TLS), 4959 (SASL-IR), 4616 (PLAIN),
 * 5802 + 7677 (SCRAM), 7628 (OAUTHBEARER),
 * 4978 (COMPRESS),
 * 7888 (LITERAL+/-), 2971 (ID), 5161 (ENABLE), 7162 (CONDSTORE/QRESYNC),
 * 4315 (UIDPLUS), 6851 (MOVE), 3502 (MULTIAPPEND), 4731 (ESEARCH), 5258 and
 * 5819 (LIST-EXTENDED, LIST-STATUS), 6154 (SPECIAL-USE), 2342 (NAMESPACE),
 * 4314 (ACL), 5530 (response codes), 3691 (UNSELECT).
 *
 * Conventions
 *  - Every function returns 0 or -1 and fills `e`. Errors name the host and
 *    the command, with the server's words, e.g.
 *      "imap.example.com: SELECT \"Foo\": NO [NONEXISTENT] Mailbox doesn't exist"
 *    A tagged NO/BAD is classified from its response code: AUTHENTICATIONFAILED
 *    / AUTHORIZATIONFAILED / EXPIRED and any NO to LOGIN/AUTHENTICATE ->
 *    ERR_AUTH; OVERQUOTA -> ERR_QUOTA; TRYCREATE -> ERR_TRYCREATE; NONEXISTENT
 *    -> ERR_NOTFOUND; ALREADYEXISTS -> ERR_EXISTS; INUSE -> ERR_INUSE;
 *    UNAVAILABLE / SERVERBUG -> ERR_TEMP; LIMIT -> ERR_LIMIT; EXPUNGEISSUED
 *    -> ERR_GONE; a NO to STARTTLS -> ERR_TLS; otherwise ERR_PERM (but a NO
 *    without a code whose text says the mailbox "doesn't exist" ->
 *    ERR_NOTFOUND: Dovecot answers SELECT so). BYE, a dropped connection or
 *    a timeout -> ERR_TEMP; unparsable input -> ERR_PROTO; a parser bound
 *    -> ERR_LIMIT; after any of these the client is dead and every later
 *    call fails with the same reason. A command sent in the wrong state or
 *    needing a capability the server lacks is refused before sending with
 *    ERR_USAGE.
 *  - Mailbox names are passed and returned in UTF-8; the client encodes them
 *    to modified UTF-7 (imap_utf7.h) and quotes them or sends a literal.
 *  - Pipelining: a command function with a `struct imap_cmd **cmd_r`
 *    argument runs synchronously when cmd_r is NULL. When cmd_r is not NULL it
 *    only submits (sends) the command and returns a handle at once; results
 *    are written to the caller's `_r` pointers when the command completes, so
 *    those must stay valid until then. Finish a handle with imap_cmd_wait()
 *    (which frees it), or hand it over with imap_cmd_on_done() (callback, the
 *    client frees it). At most `pipeline_depth` commands are in flight;
 *    submitting more first waits for the oldest to complete. Commands that
 *    change the session state (STARTTLS, LOGIN, AUTHENTICATE, SELECT, EXAMINE,
 *    CLOSE, UNSELECT, ENABLE, COMPRESS, LOGOUT) are always synchronous and wait for
 *    everything in flight first. Tagged responses complete their own command
 *    whatever the order.
 *  - Untagged data (LIST, STATUS, FETCH...) goes to the oldest in-flight
 *    command that asked for that kind of data (STATUS matched by mailbox
 *    name); anything else is unsolicited and updates the client's mailbox
 *    state, then goes to the event callback (imap_client_set_event_cb).
 *  - Passwords: never sent in clear to a non-loopback peer (ERR_USAGE before
 *    anything is sent, unless TLS is active); the trace shows LOGIN and
 *    AUTHENTICATE arguments and the AUTHENTICATE continuations as
 *    "<redacted>".
 *
 * Ownership: struct imap_client owns its connection, parser, capability
 * lists, mailbox state and every command handle not yet finished. Strings and
 * pointers handed to callbacks are valid during the callback only. Not
 * thread-safe; one client per thread.
 */
#ifndef MF_IMAP_CLIENT_H
#define MF_IMAP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parser.h"
#include "imap/imap_resp.h"
#include "imap/imap_oauth.h"
#include "imap/imap_scram.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "store.h"

struct imap_client;
struct imap_cmd;

/* ------------------------------------------------------------------ */
/* Session                                                              */

enum imap_state {
	IMAP_STATE_NOT_AUTHENTICATED = 0,
	IMAP_STATE_AUTHENTICATED,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT, /* also: connection gone */
};
const char *imap_state_name(enum imap_state s);

enum imap_tls_mode {
	IMAP_TLS_IMPLICIT = 0, /* imaps: TLS from the first byte (default) */
	IMAP_TLS_STARTTLS,     /* plain connect, STARTTLS before anything; never falls back */
	IMAP_TLS_NONE,         /* plaintext; passwords only to loopback peers */
};

/* Trace: dir is '>' (client to server) or '<' (server to client); `line`
 * is one protocol line as on the wire without CRLF; the bytes of a literal
 * are not shown: the line after a "{N}" header starts with "<N bytes>".
 * LOGIN arguments, the AUTHENTICATE initial response and every line the
 * client sends during AUTHENTICATE appear as "<redacted>". */
typedef void imap_trace_fn(void *ctx, char dir, const char *line, size_t len);
/* Debug log of the client's own decisions (state changes "old -> new"). */
typedef void imap_log_fn(void *ctx, const char *msg);

struct imap_client_opts {
	const char *host;
	const char *port;           /* NULL: 993 for IMPLICIT, else 143 */
	enum imap_tls_mode tls;
	const char *ca_file;        /* NULL: system CA store */
	int connect_timeout_ms;     /* 0: 30 s */
	int read_timeout_ms;        /* 0: 120 s */
	const int *cancel_fd;       /* NULL, or see imap_io_opts */
	unsigned pipeline_depth;    /* commands in flight; 0: 32; 1: no pipelining */
	size_t max_line;            /* parser bounds, 0: parser default */
	size_t max_literal;         /* bound on literals kept in memory; 0: default */
	imap_trace_fn *trace;
	void *trace_ctx;
	imap_log_fn *log;
	void *log_ctx;
};

/* Connect, read the greeting (OK -> NOT_AUTHENTICATED, PREAUTH ->
 * AUTHENTICATED, BYE -> ERR_TEMP with the server's text), learn the
 * capabilities (from the greeting code or a CAPABILITY command) and, with
 * IMAP_TLS_STARTTLS, upgrade (ERR_TLS if STARTTLS is not offered or fails)
 * and ask for capabilities again. *c_r is NULL on failure. */
int imap_client_connect(const struct imap_client_opts *opts, struct imap_client **c_r,
			struct err *e);
/* Close without LOGOUT (call imap_logout() first for a polite end). Commands
 * still in flight are dropped (their on_done callbacks are NOT called). */
void imap_client_free(struct imap_client **c);
/* Stop watching opts->cancel_fd: once logged in, a session is kept. */
void imap_client_uncancel(struct imap_client *c);

enum imap_state imap_client_state(const struct imap_client *c);
const char *imap_client_host(const struct imap_client *c);
int imap_client_is_tls(const struct imap_client *c);
int imap_client_is_loopback(const struct imap_client *c);
int imap_client_is_compressed(const struct imap_client *c);
/* The greeting line after the "* OK" / "* PREAUTH" (response code included). */
const char *imap_client_greeting(const struct imap_client *c);
/* The error that killed the connection (BYE, EOF, protocol), or NULL. */
const struct err *imap_client_fatal(const struct imap_client *c);

/* Capabilities, upper-cased atoms ("IMAP4REV1", "AUTH=PLAIN", "LITERAL+").
 * imap_client_has_cap() is case-insensitive. The "prelogin" list is the
 * last one seen before authentication, kept for reporting. */
int imap_client_has_cap(const struct imap_client *c, const char *cap);
const char *const *imap_client_caps(const struct imap_client *c, size_t *n_r);
const char *const *imap_client_caps_prelogin(const struct imap_client *c, size_t *n_r);
/* A capability ENABLEd on this session (e.g. "QRESYNC", "CONDSTORE"). */
int imap_client_enabled(const struct imap_client *c, const char *cap);

/* Unsolicited events. */
enum imap_event_type {
	IMAP_EV_EXISTS,   /* num = new EXISTS count */
	IMAP_EV_RECENT,   /* num */
	IMAP_EV_EXPUNGE,  /* num = sequence number expunged */
	IMAP_EV_VANISHED, /* uids = UID set, earlier = 1 for VANISHED (EARLIER) */
	IMAP_EV_FETCH,    /* fetch = the FETCH data (flag updates...) */
	IMAP_EV_FLAGS,    /* mailbox FLAGS changed (see imap_client_mailbox) */
	IMAP_EV_ALERT,    /* text = [ALERT] text: must be shown to the user */
	IMAP_EV_BYE,      /* text = server's text; the connection is ending */
	IMAP_EV_CAPS,     /* capabilities changed */
	IMAP_EV_CLOSED,   /* [CLOSED]: the previous mailbox was closed */
};
struct imap_event {
	enum imap_event_type type;
	uint32_t num;
	const struct imap_uidset *uids;
	int earlier;
	const char *text;
	const struct imap_fetch *fetch;
	const struct imap_response *resp; /* the response behind the event */
};
typedef void imap_event_fn(void *ctx, const struct imap_event *ev);
void imap_client_set_event_cb(struct imap_client *c, imap_event_fn *fn, void *ctx);

/* The selected mailbox as the server has described it (valid in SELECTED
 * state; zeroed otherwise). Kept up to date by unsolicited responses. */
struct imap_mailbox {
	char *name;               /* UTF-8 */
	int read_only;            /* [READ-ONLY] or EXAMINE */
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t exists;
	uint32_t recent;
	uint64_t highestmodseq;   /* 0 with NOMODSEQ or no CONDSTORE */
	int nomodseq;
	char *flags;              /* FLAGS list as text: "\Answered \Flagged ..." */
	char *permanentflags;     /* PERMANENTFLAGS as text, NULL if not sent */
	uint32_t expunged;        /* EXPUNGE responses seen since selecting */
	uint32_t vanished;        /* UIDs reported VANISHED since selecting */
};
const struct imap_mailbox *imap_client_mailbox(const struct imap_client *c);

/* ------------------------------------------------------------------ */
/* Command handles (pipelining)                                         */

typedef void imap_done_fn(void *ctx, const struct err *e /* NULL: OK */);

/* Wait for the command to complete; returns its result, frees the handle and
 * NULLs *cmd. */
int imap_cmd_wait(struct imap_client *c, struct imap_cmd **cmd, struct err *e);
/* Give the handle to the client: fn(ctx, err-or-NULL) runs when the command
 * completes (inside some later client call), then the client frees it.
 * Callbacks (on_done, fetch handlers, events) must not call into the
 * client. Submitted commands are queued and go out together at the latest
 * when the client next waits (imap_cmd_wait, imap_client_drain, or any
 * synchronous command). */
void imap_cmd_on_done(struct imap_cmd **cmd, imap_done_fn *fn, void *ctx);
/* Tag of the command ("A12"), for logs. */
const char *imap_cmd_tag(const struct imap_cmd *cmd);
/* Send what was submitted now, without waiting for answers (so that a
 * second connection works while the caller waits on the first). -1 only if
 * the connection failed. */
int imap_client_flush(struct imap_client *c);
/* Wait until nothing is in flight. -1 only if the connection failed. */
int imap_client_drain(struct imap_client *c, struct err *e);
/* Commands submitted and not completed. */
size_t imap_client_in_flight(const struct imap_client *c);

/* ------------------------------------------------------------------ */
/* Literals and FETCH data                                              */

/* A literal source for APPEND: `size` bytes, either `data` in memory or
 * produced by read() in chunks (read returns 0 and sets *got_r > 0 until
 * `size` bytes were produced; fewer bytes in total is an ERR_IO). */
struct imap_literal_src {
	uint64_t size;
	const void *data;
	int (*read)(void *ctx, void *buf, size_t cap, size_t *got_r, struct err *e);
	void *ctx;
};

/* Per-command FETCH handler. msg() gets every FETCH response that arrives
 * for the command (UID FETCH, UID STORE without .SILENT, SELECT with
 * QRESYNC), decoded by imap_resp_fetch() (`f`, valid during the call; a body
 * kept in memory is f->body) with the raw response `r` for other items.
 * Bodies: when body_begin is set, it is called as a BODY[]/
 * BINARY[] literal starts (`seq`, the section text e.g. "BODY[]", the size);
 * returning 1 makes the client stream the literal through body_data() in
 * chunks (never held whole in memory) and body_end() once it is complete,
 * 0 keeps it in memory (then it is in f->body), -1 fails the command.
 * vanished() gets VANISHED (EARLIER) UID sets. Any callback returning -1 fails the command (its error
 * becomes the command's error); the connection stays usable. */
struct imap_fetch_handler {
	int (*msg)(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		   struct err *e);
	int (*body_begin)(void *ctx, uint32_t seq, const char *section, uint64_t size,
			  struct err *e);
	int (*body_data)(void *ctx, const void *p, size_t n, struct err *e);
	int (*body_end)(void *ctx, struct err *e);
	int (*vanished)(void *ctx, const struct imap_uidset *uids, int earlier,
			struct err *e);
	void *ctx;
};

/* ------------------------------------------------------------------ */
/* Any-state commands                                                   */

int imap_capability(struct imap_client *c, struct err *e);
int imap_noop(struct imap_client *c, struct imap_cmd **cmd_r, struct err *e);
/* LOGOUT: state LOGOUT, the server's BYE is expected (not an error). */
int imap_logout(struct imap_client *c, struct err *e);
/* ID (RFC 2971): `kv` NULL or a NULL-terminated list of key, value pairs.
 * *server_r (may be NULL) gets the server's answer (imap_resp.h; n == 0 for
 * NIL; free with imap_id_free). ERR_USAGE if ID is not advertised. */
int imap_id(struct imap_client *c, const char *const *kv, struct imap_id *server_r,
	    struct err *e);

/* COMPRESS DEFLATE (RFC 4978): from the server's OK on, both directions are
 * raw deflate. ERR_USAGE when COMPRESS=DEFLATE is not advertised. */
int imap_compress(struct imap_client *c, struct err *e);

/* ------------------------------------------------------------------ */
/* Not authenticated                                                    */

int imap_starttls(struct imap_client *c, struct err *e);
/* Refuses with ERR_USAGE (before sending) on a plaintext non-loopback
 * connection, and when LOGINDISABLED is advertised. */
int imap_login(struct imap_client *c, const char *user, const char *pass, struct err *e);
/* AUTHENTICATE PLAIN, with the initial response inline when SASL-IR is
 * advertised, else after the "+" continuation. authzid may be NULL. */
int imap_authenticate_plain(struct imap_client *c, const char *authzid, const char *user,
			    const char *pass, struct err *e);
/* One SASL step: `in` is the server's challenge, decoded (NULL for the
 * initial response); the client's answer is appended to `out`, raw (the
 * client encodes it). -1 stops the exchange (the client cancels it with
 * "*" and returns that error). */
typedef int imap_sasl_step_fn(void *ctx, const char *in, size_t n, struct buf *out,
			      struct err *e);
/* AUTHENTICATE mech (RFC 3501 6.2.2), the initial response inline when
 * SASL-IR is advertised (RFC 4959), then one step per "+" challenge. The
 * responses are redacted in the trace. The caller checks afterwards that
 * the mechanism finished (SCRAM: the server's signature). */
int imap_authenticate_sasl(struct imap_client *c, const char *mech, imap_sasl_step_fn *step,
			   void *ctx, struct err *e);

/* AUTHENTICATE SCRAM-SHA-1 / SCRAM-SHA-256 (imap_scram.h). Success needs
 * the server's OK and its proof that it knows the password; without the
 * proof the session is closed and the login fails with ERR_AUTH. `nonce`
 * NULL: a random one (tests pass an RFC example's). */
int imap_authenticate_scram(struct imap_client *c, enum imap_scram_hash h, const char *user,
			    const char *pass, const char *nonce, struct err *e);

/* AUTHENTICATE OAUTHBEARER / XOAUTH2 with an access token (imap_oauth.h).
 * A refused token fails with ERR_AUTH, the message ending in the status
 * the server's error challenge gave. */
int imap_authenticate_oauth(struct imap_client *c, enum imap_oauth_kind k, const char *user,
			    const char *token, struct err *e);

enum imap_auth_mech {
	IMAP_AUTH_AUTO,          /* the best advertised (below) */
	IMAP_AUTH_SCRAM_SHA256,
	IMAP_AUTH_SCRAM_SHA1,
	IMAP_AUTH_PLAIN,
	IMAP_AUTH_LOGIN,
	IMAP_AUTH_OAUTHBEARER,   /* the "password" is an OAuth 2.0 access token; */
	IMAP_AUTH_XOAUTH2,       /* never chosen by AUTO */
};
/* "auto", "scram-sha-256", "scram-sha-1", "plain", "login", "oauthbearer",
 * "xoauth2" (any case). 0, or -1 for an unknown name. */
int imap_auth_mech_parse(const char *name, enum imap_auth_mech *m_r);
/* Log in with `mech`. AUTO takes SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, in that
 * order, the first advertised (AUTH=...), else LOGIN (unless LOGINDISABLED:
 * ERR_USAGE); a named one the server does not advertise is ERR_USAGE
 * before sending. A SCRAM login whose server did not prove it knows the
 * password fails with ERR_AUTH. Capabilities are refreshed after success
 * (from [CAPABILITY] or a CAPABILITY command). After a PREAUTH greeting it
 * does nothing and returns 0. */
int imap_auth_with(struct imap_client *c, enum imap_auth_mech mech, const char *user,
		   const char *pass, struct err *e);
/* imap_auth_with(IMAP_AUTH_AUTO). */
int imap_auth(struct imap_client *c, const char *user, const char *pass, struct err *e);
/* The plaintext-password policy as a pure function: 0 if a password may be
 * sent, else -1 with ERR_USAGE naming the host. */
int imap_client_password_allowed(const char *host, int tls_active, int loopback,
				 struct err *e);

/* ------------------------------------------------------------------ */
/* Authenticated                                                        */

/* ENABLE (RFC 5161), caps space-separated ("QRESYNC", "CONDSTORE"). */
int imap_enable(struct imap_client *c, const char *caps, struct err *e);

struct imap_select_opts {
	int read_only;             /* EXAMINE */
	int condstore;             /* (CONDSTORE) */
	/* QRESYNC (needs ENABLE QRESYNC): used when qresync_uidvalidity != 0 */
	uint32_t qresync_uidvalidity;
	uint64_t qresync_modseq;
	const char *qresync_known_uids; /* optional UID set */
	const struct imap_fetch_handler *fetch; /* FETCH / VANISHED (EARLIER) during select */
};
/* SELECT / EXAMINE; opts may be NULL. On success the state is SELECTED and
 * imap_client_mailbox() describes the mailbox; on NO the state is
 * AUTHENTICATED (RFC 3501: a failed SELECT closes the current mailbox). */
int imap_select(struct imap_client *c, const char *mbox, const struct imap_select_opts *opts,
		struct err *e);
/* The same, sent at once without waiting (the one SELECT that is not a
 * barrier): *cmd_r is its handle for imap_cmd_wait, and opts->fetch and
 * its context must stay valid until then. What the caller submits before
 * waiting goes out after it, so it acts on the new mailbox. */
int imap_select_start(struct imap_client *c, const char *mbox, const struct imap_select_opts *opts,
		      struct imap_cmd **cmd_r, struct err *e);
int imap_examine(struct imap_client *c, const char *mbox, struct err *e);

/* Items: enum imap_status_present (imap_resp.h), IMAP_STATUS_MESSAGES...
 * IMAP_STATUS_HIGHESTMODSEQ (that one only asked when CONDSTORE is
 * advertised). */
#define IMAP_STATUS_ALL 0x3fu
struct imap_mbox_status {
	unsigned items;            /* which fields the server sent */
	uint32_t messages, recent, uidnext, uidvalidity, unseen;
	uint64_t highestmodseq;
};
int imap_status(struct imap_client *c, const char *mbox, unsigned items, struct imap_mbox_status *st_r,
		struct imap_cmd **cmd_r, struct err *e);

/* LIST result. `attrs` uses store.h's enum store_box_attr bits (special-use
 * included); `raw_name` is the name as on the wire (modified UTF-7), `name`
 * UTF-8 (equal to raw_name, and bad_name set, when it does not decode). */
struct imap_box {
	char *name;
	char *raw_name;
	int bad_name;
	char delim;                /* 0 for NIL */
	unsigned attrs;
	char *attrs_text;          /* all attributes as sent, "\HasNoChildren \Sent" */
	int has_status;            /* LIST-STATUS data arrived */
	struct imap_mbox_status status;
};
struct imap_boxlist {
	struct imap_box *v;
	size_t n;
};
void imap_boxlist_free(struct imap_boxlist *l);

enum imap_list_flags {
	IMAP_LIST_SPECIAL_USE = 1u << 0, /* RETURN (SPECIAL-USE) if SPECIAL-USE advertised */
	IMAP_LIST_SUBSCRIBED = 1u << 1,  /* RETURN (SUBSCRIBED) if LIST-EXTENDED */
	IMAP_LIST_CHILDREN = 1u << 2,    /* RETURN (CHILDREN) if LIST-EXTENDED */
};
/* LIST ref pattern [RETURN (...)]; `status_items` != 0 adds RETURN (STATUS
 * (...)) when LIST-STATUS is advertised (else entries have has_status 0 and
 * the caller may STATUS each). ref/pattern are UTF-8 ("" and "*" usual).
 * Run synchronously (cmd_r == NULL), a failure leaves *out empty. */
int imap_list(struct imap_client *c, const char *ref, const char *pattern, unsigned flags,
	      unsigned status_items, struct imap_boxlist *out, struct imap_cmd **cmd_r,
	      struct err *e);
int imap_lsub(struct imap_client *c, const char *ref, const char *pattern, struct imap_boxlist *out,
	      struct imap_cmd **cmd_r, struct err *e);

/* NAMESPACE into imap_resp.h's struct imap_namespace, with every prefix
 * decoded to UTF-8 (free with imap_namespace_free). */
int imap_namespace(struct imap_client *c, struct imap_namespace *ns_r, struct err *e);

int imap_create(struct imap_client *c, const char *mbox, struct imap_cmd **cmd_r, struct err *e);
int imap_delete(struct imap_client *c, const char *mbox, struct imap_cmd **cmd_r, struct err *e);
int imap_rename(struct imap_client *c, const char *from, const char *to,
		struct imap_cmd **cmd_r, struct err *e);
int imap_subscribe(struct imap_client *c, const char *mbox, struct imap_cmd **cmd_r,
		   struct err *e);
int imap_unsubscribe(struct imap_client *c, const char *mbox, struct imap_cmd **cmd_r,
		     struct err *e);

/* APPEND. flags: NULL or "\Seen $Junk" (space-separated, no parentheses);
 * idate: Unix seconds or -1 for none (sent as the server's local zone +0000).
 * Literal: LITERAL+ (or LITERAL- up to 4096 bytes) when advertised, else a
 * synchronizing literal (the client waits for "+"). */
struct imap_append_msg {
	const char *flags;
	int64_t idate;
	struct imap_literal_src src;
};
/* APPENDUID / COPYUID (UIDPLUS). uidvalidity 0: the server sent none.
 * Sets are text ("4:6,9"), owned; free with imap_uidmap_free. */
struct imap_uidmap {
	uint32_t uidvalidity;
	char *src_uids;            /* COPYUID only */
	char *dst_uids;
};
void imap_uidmap_free(struct imap_uidmap *m);
int imap_append(struct imap_client *c, const char *mbox, const struct imap_append_msg *m,
		struct imap_uidmap *uid_r, struct imap_cmd **cmd_r, struct err *e);
/* MULTIAPPEND (RFC 3502): all n messages in one command; ERR_USAGE when not
 * advertised. */
int imap_multiappend(struct imap_client *c, const char *mbox, const struct imap_append_msg *v,
		     size_t n, struct imap_uidmap *uid_r, struct imap_cmd **cmd_r, struct err *e);

/* MYRIGHTS / GETACL (RFC 4314); ERR_USAGE when ACL is not advertised.
 * *rights_r is owned by the caller. */
int imap_myrights(struct imap_client *c, const char *mbox, char **rights_r, struct err *e);
struct imap_acl_entry {
	char *identifier;
	char *rights;
};
struct imap_acl {
	struct imap_acl_entry *v;
	size_t n;
};
void imap_acl_free(struct imap_acl *a);
int imap_getacl(struct imap_client *c, const char *mbox, struct imap_acl *acl_r, struct err *e);

/* ------------------------------------------------------------------ */
/* Selected                                                             */

int imap_close(struct imap_client *c, struct err *e);
/* UNSELECT (RFC 3691); ERR_USAGE when not advertised. */
int imap_unselect(struct imap_client *c, struct err *e);
int imap_check(struct imap_client *c, struct imap_cmd **cmd_r, struct err *e);
int imap_expunge(struct imap_client *c, struct imap_cmd **cmd_r, struct err *e);
/* UID EXPUNGE (UIDPLUS); ERR_USAGE when not advertised. */
int imap_uid_expunge(struct imap_client *c, const char *uids, struct imap_cmd **cmd_r,
		     struct err *e);

/* UID FETCH uids (items) [(CHANGEDSINCE m [VANISHED])]. items is the raw
 * item list without parentheses, e.g. "UID FLAGS RFC822.SIZE INTERNALDATE
 * BODY.PEEK[]". changedsince 0: none; vanished needs QRESYNC enabled. */
int imap_uid_fetch(struct imap_client *c, const char *uids, const char *items,
		   uint64_t changedsince, int vanished, const struct imap_fetch_handler *h,
		   struct imap_cmd **cmd_r, struct err *e);

/* FETCH seqs (items): by sequence number, for a listing that must not
 * grow with the mailbox (imap_store_list_window). */
int imap_seq_fetch(struct imap_client *c, const char *seqs, const char *items,
		   const struct imap_fetch_handler *h, struct imap_cmd **cmd_r, struct err *e);

enum imap_store_op {
	IMAP_STORE_SET = 0, /* FLAGS */
	IMAP_STORE_ADD,     /* +FLAGS */
	IMAP_STORE_REMOVE,  /* -FLAGS */
};
/* UID STORE uids [(UNCHANGEDSINCE m)] op[.SILENT] (flags). flags as text
 * ("\Seen $Junk"). h (may be NULL) gets the FETCH answers when not silent.
 * *modified_r (may be NULL) gets the [MODIFIED set] text or NULL; caller
 * frees. */
int imap_uid_store(struct imap_client *c, const char *uids, enum imap_store_op op,
		   const char *flags, int silent, uint64_t unchangedsince,
		   const struct imap_fetch_handler *h, char **modified_r,
		   struct imap_cmd **cmd_r, struct err *e);

/* UID SEARCH criteria (raw IMAP search syntax, ASCII, e.g. "UNDELETED" or
 * "UID 1:*"). The UIDs arrive sorted ascending in *uids_r (caller frees). When
 * ESEARCH is advertised the client asks RETURN (ALL) and expands the set. */
int imap_uid_search(struct imap_client *c, const char *criteria, uint32_t **uids_r,
		    size_t *n_r, struct imap_cmd **cmd_r, struct err *e);
/* ESEARCH (RFC 4731) with RETURN (MIN MAX COUNT ALL), result in
 * imap_resp.h's struct imap_esearch (free with imap_esearch_free);
 * ERR_USAGE when not advertised. */
int imap_uid_esearch(struct imap_client *c, const char *criteria, struct imap_esearch *r,
		     struct imap_cmd **cmd_r, struct err *e);

/* UID COPY / UID MOVE; *map_r (may be NULL) gets COPYUID. Without the MOVE
 * capability a synchronous UID MOVE is done as UID COPY + UID STORE
 * +FLAGS.SILENT \Deleted + UID EXPUNGE (needs UIDPLUS; ERR_USAGE without
 * it, and for a submitted MOVE). */
int imap_uid_copy(struct imap_client *c, const char *uids, const char *dest,
		  struct imap_uidmap *map_r, struct imap_cmd **cmd_r, struct err *e);
int imap_uid_move(struct imap_client *c, const char *uids, const char *dest,
		  struct imap_uidmap *map_r, struct imap_cmd **cmd_r, struct err *e);

/* ------------------------------------------------------------------ */
/* Escape hatch                                                         */

/* Any command: `args` is the raw text after the tag (e.g. "GETQUOTAROOT
 * INBOX"), ASCII, no literals. Untagged responses while it is in flight go
 * to fn (may be NULL) before the default handling; fn returning -1 fails the
 * command. `need` is the state the command needs (refused otherwise);
 * pass IMAP_STATE_LOGOUT to allow any state. */
typedef int imap_untagged_fn(void *ctx, const struct imap_response *r, struct err *e);
int imap_raw(struct imap_client *c, enum imap_state need, const char *args,
	     imap_untagged_fn *fn, void *ctx, struct imap_cmd **cmd_r, struct err *e);

#endif
