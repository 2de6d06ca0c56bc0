/*
 * imap_store.h — the IMAP driver of the store interface (store.h) over one
 * imap_client session (imap_client.h).
 *
 * Mapping (see store.h for the conventions):
 *  - keys are decimal UIDs; names cross in UTF-8 with '/' and are converted
 *    to the server's hierarchy delimiter (learned with LIST "" "") and, by
 *    the client, to modified UTF-7. A name whose component holds the server
 *    delimiter (or, listed from the server, a '/') cannot be mapped: refused
 *    with ERR_USAGE / left out of list_boxes (imap_store_refused_names
 *    tells which).
 *  - list_boxes: LIST "" "*" RETURN (SPECIAL-USE [STATUS (...)]) with
 *    LIST-STATUS (RFC 5819), else one pipelined batch of STATUS for every
 *    selectable mailbox. No SELECT. ident = "uv:<uidvalidity>".
 *  - open_box: ENABLE QRESYNC (or CONDSTORE) once per session where
 *    offered, then SELECT / EXAMINE (with QRESYNC parameters through
 *    imap_store_open_box_since).
 *  - list_msgs: UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE [MODSEQ]);
 *    with `since` matching the mailbox's UIDVALIDITY and a modseq, a delta:
 *    (CHANGEDSINCE m VANISHED) under QRESYNC, or CHANGEDSINCE plus a UID
 *    SEARCH expunge check under CONDSTORE alone (full = 0).
 *  - fetch: pipelined UID FETCH <set> (UID) to map sequence numbers to UIDs
 *    (skipped when the last list_msgs of this selection saw every wanted
 *    message and no expunge was announced since: its FETCH responses carried
 *    the sequence numbers), then pipelined UID FETCH <set> (UID BODY.PEEK[])
 *    over bounded UID sets,
 *    bodies streamed from the literal straight into the sink (never whole in
 *    memory), each begun under the key the map predicts and confirmed by the
 *    response's UID. Messages missing from the answer: end(ok = 0, ERR_GONE);
 *    sinks see messages in the server's order, not the keys' order.
 *  - append: APPEND with flags and internal date, pipelined (LITERAL+ where
 *    offered); with MULTIAPPEND, up to 100 messages / 8 MiB are queued and
 *    sent as one MULTIAPPEND (one server transaction) when the queue is full,
 *    at flush() or before any other operation. The key comes from APPENDUID
 *    (UIDPLUS), else NULL. The data is
 *    held in memory up to 4 MiB, beyond that in an unlinked temporary file.
 *  - set_flags / expunge: UID STORE +FLAGS.SILENT / -FLAGS.SILENT over
 *    compressed UID sets of bounded length; expunge adds \Deleted then UID
 *    EXPUNGE the same set, and is refused (ERR_PERM) without UIDPLUS rather
 *    than expunge messages other clients marked \Deleted.
 *  - Writes are pipelined: their errors are reported by flush() at the
 *    latest (the first one; the others are counted in its text).
 */
#ifndef MF_IMAP_STORE_H
#define MF_IMAP_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "imap/imap_client.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "store.h"

/* Server features the driver may be told to ignore (tests of the fallback
 * paths, or a server that advertises more than it does right). */
enum imap_store_nocap {
	IMAP_STORE_NO_LIST_STATUS = 1u << 0,
	IMAP_STORE_NO_QRESYNC = 1u << 1,
	IMAP_STORE_NO_CONDSTORE = 1u << 2, /* implies NO_QRESYNC */
	IMAP_STORE_NO_UIDPLUS = 1u << 3,
	IMAP_STORE_NO_MULTIAPPEND = 1u << 4,
	/* Not a feature switch: also ask STATUS for UNSEEN (the probe shows
	 * it). Sync never needs it, and it makes Dovecot's first STATUS of a
	 * changed mailbox about a quarter dearer. */
	IMAP_STORE_WANT_UNSEEN = 1u << 5,
};

struct imap_store_opts {
	const char *host;
	const char *port;          /* NULL: the TLS mode's default */
	enum imap_tls_mode tls;
	const char *ca_file;       /* NULL: system CA store */
	const char *user;
	const char *pass;          /* not kept after open */
	enum imap_auth_mech auth_mech; /* IMAP_AUTH_AUTO: the best offered */
	unsigned pipeline_depth;   /* 0: the client's default */
	int connect_timeout_ms;    /* 0: the client's default */
	int read_timeout_ms;
	const int *cancel_fd;      /* NULL, or: readable gives up the open (imap_io_opts) */
	imap_trace_fn *trace;      /* protocol trace (secrets redacted), may be NULL */
	void *trace_ctx;
	unsigned nocap;            /* enum imap_store_nocap */
};

/* Connect, authenticate and return the store. Errors say the step:
 * "connect: ...", "login: ...". */
int imap_store_open(const struct imap_store_opts *o, struct store **s_r, struct err *e);

/* Wrap an authenticated client: on success the store owns it and frees it
 * on close; on failure the caller still owns it. `label` is for messages
 * ("imap://user@host"). */
int imap_store_from_client(struct imap_client *c, const char *label, unsigned nocap,
			   struct store **s_r, struct err *e);

/* Rewrite a client error "host: text" (or "text") as "host: step: text", so
 * that it names the step that failed ("connect", "login", "list"). */
void imap_store_step_error(struct err *e, const char *host, const char *step);

/* The session under the store (for reports such as capabilities). Owned by
 * the store. */
struct imap_client *imap_store_client(struct store *s);

/* The server's hierarchy delimiter ('/' by default; 0 for a flat server). */
char imap_store_delim(struct store *s);

/* open_box for a caller that already knows the `since` it will pass to the
 * next list_msgs (the journal's UIDVALIDITY, HIGHESTMODSEQ and UIDNEXT of
 * the mailbox). Under QRESYNC this is SELECT box (QRESYNC (uidvalidity
 * modseq 1:uidnext-1)) (RFC 7162 3.2.5): the server reports changed flags
 * and VANISHED (EARLIER) UIDs while selecting, and a list_msgs with an
 * equal `since` right after uses them instead of a UID FETCH (CHANGEDSINCE
 * VANISHED); it then fetches size and date only of the messages that need
 * them (changed ones below UIDNEXT, and UIDNEXT:*). Otherwise, or with since
 * NULL, exactly open_box. The result of open + list is the same either way.
 * Any other open, delete or rename of the mailbox forgets the reported
 * changes. */
int imap_store_open_box_since(struct store *s, const char *name, int read_only,
			      const struct store_since *since, struct store_box_state *st_r,
			      struct err *e);

/* Send the SELECT of imap_store_open_box_since(name, read_only, since) now
 * and return without waiting, for a caller done with the selected
 * mailbox that will open that one next: the server selects it (and works
 * out the QRESYNC changes) while the caller does local work. The open with
 * the same arguments takes its answer, its errors included; any other
 * open, list_boxes, create, delete or rename first waits it out and
 * forgets it. From this call on no command acts on the previously
 * selected mailbox. Sends nothing (the open then selects as usual) without
 * QRESYNC or a since, or while appends are queued or unanswered. 1 when
 * the SELECT went out. */
int imap_store_preselect(struct store *s, const char *name, int read_only,
			 const struct store_since *since);

/* The mailboxes the last list_boxes left out because their names cannot
 * be named in the store's form (control characters, invalid modified UTF-7,
 * a component '..' or holding '/'...): their wire names, with control and
 * non-ASCII bytes shown as '?', for a warning. Owned by the store, valid
 * until its next list_boxes or close. Returns how many. */
size_t imap_store_refused_names(struct store *st, const char *const **v_r);
/* list_boxes with the STATUS of the mailboxes shared with a second store
 * of the same account whose login may still be going: `aide_fn` returns it
 * once it is logged in, NULL until then, without waiting. The first
 * connection asks INBOX's STATUS ahead of its LIST (Dovecot answers it from
 * its list index then), then the others, heaviest first (what `weight`,
 * may be NULL, says of each, by its name in the store's form), a few at a
 * time; when the aide is in, what is left is split between both by
 * imap_status_split and sent at once. The names come from st's LIST; a
 * STATUS the aide cannot answer is asked on st. */
typedef uint64_t imap_status_weight_fn(void *ctx, const char *name);
typedef struct store *imap_aide_fn(void *ctx);
int imap_store_list_boxes_shared(struct store *st, imap_aide_fn *aide_fn, void *aide_ctx,
				 imap_status_weight_fn *weight, void *wctx,
				 struct store_box **boxes_r, size_t *n_r, struct err *e);
/* How the STATUS pass is shared: the mailboxes go, heaviest first, to the
 * connection with less work so far (a STATUS costs a server that must
 * rescan a changed folder time in proportion to its messages; the caller's
 * `weight` says how many a mailbox held last time, 0 unknown). side_r[i]
 * is 0 (st) or 1 (the aide); equal weights alternate, first on st.
 * start (may be NULL): the work each was given before (INBOX's STATUS,
 * asked ahead). */
void imap_status_split(const uint64_t *w, size_t n, const uint64_t start[2],
		       unsigned char *side_r);
/* A first sync of a big mailbox lists it a window at a time, so that
 * nothing the listing holds grows with the mailbox: each call lists (in
 * full, with size and internal date) up to `max` messages of the open
 * mailbox whose UIDs follow the previous window's, by sequence number, and
 * an empty listing means the mailbox is done. Expunges announced between
 * windows are allowed for (the next window starts early enough and drops
 * what it listed before). Start with a zeroed window after open_box. */
struct imap_window {
	uint32_t next_seq; /* first sequence number of the next window, 0: none yet */
	uint32_t last_uid; /* the highest UID listed so far */
	uint32_t shift;    /* the store's expunge count when that window was asked */
	int done;
};
int imap_store_list_window(struct store *st, struct imap_window *w, size_t max,
			   struct store_listing *out, struct err *e);
/* Size and internal date of listed messages of the open mailbox that a
 * delta listed without them (store_since.meta_later: size 0, idate -1).
 * Reorders `want` (pointers into the caller's listing). */
int imap_store_fill_meta(struct store *st, struct store_msg **want, size_t n, struct err *e);
/* Free the store of a forked child without a word to the server (no LOGOUT,
 * no TLS close_notify): the connection belongs to the parent process. */
void imap_store_abandon(struct store *st);

/* Every change to the open mailbox since `modseq`, under QRESYNC only
 * (ERR_USAGE otherwise): UID FETCH 1:* (UID FLAGS ... MODSEQ) (CHANGEDSINCE
 * modseq VANISHED). out->msgs are the messages changed or added since (with
 * their MODSEQ), out->vanished every UID below uid_limit expunged since
 * (full = 0).
 * *highest_r is the HIGHESTMODSEQ the client had heard of when the FETCH
 * was sent (at least the SELECT's), so every change up to it is in `out`. Lets the executor learn the mod-sequence its own writes led
 * to, after checking that nothing else changed. */
int imap_store_list_changed(struct store *st, uint64_t modseq, uint32_t uid_limit,
			    struct store_listing *out, uint64_t *highest_r, struct err *e);

/* Batch form of store_ops.headers for the open mailbox: Message-ID and Date
 * of many messages with pipelined UID FETCH <set> (UID BODY.PEEK[HEADER.
 * FIELDS (MESSAGE-ID DATE)]) commands. cb runs once per message found (key,
 * unfolded values, "" when absent); keys not in the mailbox are skipped.
 * cb returning -1 stops the batch with its error. */
typedef int imap_store_headers_cb(void *ctx, const char *key, const char *msgid,
				  const char *date, struct err *e);
int imap_store_headers_many(struct store *s, const char *const *keys, size_t n,
			    imap_store_headers_cb *cb, void *ctx, struct err *e);

/* Pull the Message-ID and Date values out of a header block (unfolded,
 * trimmed; "" when absent). Exposed for tests. */
void imap_store_parse_headers(const char *hdr, size_t len, struct buf *msgid,
			      struct buf *date);

/* Store name (UTF-8, '/') to the server's form (UTF-8, server delimiter), and
 * back. 0 or -1 (ERR_USAGE) when the name cannot be mapped. Exposed for
 * tests. */
int imap_store_name_to_server(const char *name, char delim, struct buf *out, struct err *e);
int imap_store_name_from_server(const char *name, char delim, struct buf *out, struct err *e);

#endif
