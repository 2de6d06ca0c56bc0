/*
 * store.h — the one driver interface every store implements.
 *
 * A store holds mailboxes: an IMAP account (store/imap/imap_store.c) or a
 * local Maildir tree (store/maildir/maildir_store.c). The sync code sees a
 * `struct store` and this ops table, nothing else, so every pairing works:
 * IMAP<->Maildir, IMAP<->IMAP, even Maildir<->Maildir.
 *
 * Conventions
 *  - Mailbox names cross this interface in UTF-8 with '/' as the hierarchy
 *    separator, whatever the store's own delimiter and encoding (the IMAP
 *    driver converts modified UTF-7 and the server's delimiter; the Maildir
 *    driver maps to its on-disk layout). INBOX is always "INBOX".
 *  - A message is named on its side by a `key` string: the decimal UID for
 *    IMAP, the unique part of the file name (before ":2,") for Maildir. Keys
 *    are stable while the message exists and the mailbox identity holds.
 *  - Message data crosses the interface in RFC 5322 wire form, CRLF line
 *    ends. `size` is the size in that form (IMAP RFC822.SIZE; Dovecot's W=
 *    for Maildir). The Maildir driver converts to LF on disk and back.
 *  - Every call returns 0 or -1 and fills the `struct err *` it is given with
 *    a classified error (err.h), so the executor can retry, skip or stop.
 *  - Durability: writes (append, flag changes, expunge) may be buffered or
 *    pipelined; they are durable / acknowledged only after store->ops->flush()
 *    has returned 0. The executor commits the journal only after flush().
 */
#ifndef MF_STORE_H
#define MF_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/err.h"

/* System flags as a bit set. Maildir letters: D=draft F=flagged R=replied
 * S=seen T=trashed (P, passed, has no IMAP system flag; kept as-is on disk). */
enum mf_flag {
	MF_SEEN = 1u << 0,     /* \Seen      S */
	MF_ANSWERED = 1u << 1, /* \Answered  R */
	MF_FLAGGED = 1u << 2,  /* \Flagged   F */
	MF_DELETED = 1u << 3,  /* \Deleted   T */
	MF_DRAFT = 1u << 4,    /* \Draft     D */
};
#define MF_FLAGS_ALL 0x1fu

/* Flags and keywords of one message. Keywords are IMAP atoms ("$Forwarded",
 * "$Junk", "work"), owned, sorted by strcmp, without duplicates. */
struct flagset {
	unsigned sys;
	char **kw;
	size_t nkw;
};

void flagset_init(struct flagset *f);
void flagset_free(struct flagset *f);
void flagset_copy(struct flagset *dst, const struct flagset *src);
/* Add keyword (copied); keeps the array sorted and unique. */
void flagset_add_kw(struct flagset *f, const char *kw);
void flagset_del_kw(struct flagset *f, const char *kw);
int flagset_has_kw(const struct flagset *f, const char *kw);
int flagset_equal(const struct flagset *a, const struct flagset *b);
/* "\Seen \Flagged $Junk" (IMAP syntax, space separated) into/out of text;
 * parse ignores \Recent and unknown backslash flags. */
int flagset_format(const struct flagset *f, struct buf *out);
int flagset_parse(struct flagset *f, const char *text);

/* Mailbox attributes from LIST (RFC 3501, 3348, 6154). */
enum store_box_attr {
	BOX_NOSELECT = 1u << 0,
	BOX_NOINFERIORS = 1u << 1,
	BOX_HASCHILDREN = 1u << 2,
	BOX_HASNOCHILDREN = 1u << 3,
	BOX_NONEXISTENT = 1u << 4,
	BOX_SUBSCRIBED = 1u << 5,
	BOX_ALL = 1u << 8, /* special-use, RFC 6154 */
	BOX_ARCHIVE = 1u << 9,
	BOX_DRAFTS = 1u << 10,
	BOX_FLAGGED = 1u << 11,
	BOX_JUNK = 1u << 12,
	BOX_SENT = 1u << 13,
	BOX_TRASH = 1u << 14,
	BOX_IMPORTANT = 1u << 15,
};
#define BOX_SPECIAL_MASK 0xff00u

/* What a store knows about a mailbox without opening it. Fields a store
 * cannot tell are 0 / "" (has_status says whether the counters are real). */
struct store_box {
	char *name;           /* UTF-8, '/'-separated */
	char delim;           /* the store's native delimiter ('/' for Maildir) */
	unsigned attrs;       /* enum store_box_attr */
	int has_status;       /* the counters below came from STATUS/LIST-STATUS */
	uint32_t uidvalidity; /* IMAP; 0 for Maildir */
	uint32_t uidnext;
	uint32_t messages;
	uint32_t unseen;
	uint64_t highestmodseq; /* 0 when the store has no CONDSTORE */
	char ident[64];       /* stable identity: "uv:<uidvalidity>" or the Maildir folder id */
	char marker[64];      /* cheap change marker (Maildir: dir mtimes); "" if none */
};

void store_box_free(struct store_box *b);
void store_boxes_free(struct store_box *v, size_t n);

/* State of an opened (selected) mailbox. */
struct store_box_state {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t messages;
	uint64_t highestmodseq;
	int read_only;
	char ident[64];
	char marker[64];
};

/* One message as listed. */
struct store_msg {
	char *key;            /* owned */
	uint32_t uid;         /* IMAP UID (== atoi(key)), 0 for Maildir */
	struct flagset flags;
	uint64_t size;        /* CRLF size; 0 if unknown */
	int64_t idate;        /* internal date, Unix seconds; -1 if unknown */
	uint64_t modseq;      /* CONDSTORE, else 0 */
};

void store_msg_free(struct store_msg *m);
void store_msgs_free(struct store_msg *v, size_t n);

/* "Only what changed since" for list_msgs. A store that cannot use a field
 * ignores it and lists everything (the result is then marked full).
 * `known` (borrowed for the call, sorted by strcmp, may be NULL) holds keys
 * whose size and internal date the caller already has (the journal's
 * paired keys): a store MAY list those with size = 0 and idate = -1 and
 * skip any per-message work for them (the Maildir driver then stats no
 * file); flags and every other field keep their meaning. A since with only
 * `known` set (uidvalidity 0, modseq 0, marker "") asks for a full listing.
 * `flags_only` says the same of every key: the caller wants keys and flags
 * alone (to compare them with the journal). `meta_later` says it of the
 * keys below `uidnext` in a delta: the caller pairs nearly all of them, and
 * asks for the few it needs afterwards (imap_store_fill_meta).
 * `unchanged` (may be NULL; a store MAY ignore it) is asked about every
 * message of a full listing, once each, in ascending key order (strcmp),
 * with its key and flags; a message it answers 1 for is one the caller
 * knows as it is, and is left out. A listing made so says `filtered`, so
 * that the caller can tell an omitted message from a gone one. */
struct store_since {
	uint32_t uidvalidity;
	uint64_t modseq;      /* CONDSTORE CHANGEDSINCE / QRESYNC */
	uint32_t uidnext;     /* messages with uid >= uidnext are new */
	char marker[64];
	const char *const *known;
	size_t nknown;
	int flags_only;
	int meta_later;
	int (*unchanged)(void *ctx, const char *key, const struct flagset *flags);
	void *unchanged_ctx;
};

/* Result of list_msgs. With full = 1 `msgs` is every message in the
 * mailbox; with full = 0 only messages new or changed since the marker, and
 * `vanished` lists keys expunged since it (QRESYNC). */
struct store_listing {
	struct store_msg *msgs;
	size_t n;
	char **vanished;
	size_t nvanished;
	int full;
	int filtered;         /* full, less what since->unchanged left out */
};

void store_listing_free(struct store_listing *l);

/* Where a streamed message goes (download side). begin() is called once per
 * message with its metadata, then write() any number of times with CRLF
 * wire data, then end(ok). A nonzero return from any callback aborts the
 * stream of that message (the store reports it and goes on with the next). */
struct store_sink {
	int (*begin)(void *ctx, const struct store_msg *meta, struct err *e);
	int (*write)(void *ctx, const void *data, size_t n, struct err *e);
	int (*end)(void *ctx, int ok, struct err *e);
	void *ctx;
};

/* Called when an appended message's fate is known: `key` is its new key
 * (NULL when the store cannot tell, e.g. IMAP without UIDPLUS), or `e` holds
 * why it failed. Called at the latest during the next flush(). */
typedef void store_append_cb(void *ctx, const char *key, const struct err *e);

struct store_writer; /* one message being appended, driver-defined */

struct store;

struct store_ops {
	const char *type; /* "imap", "maildir" */
	void (*close)(struct store *s);

	/* All mailboxes, with whatever status the store can give cheaply in
	 * bulk (LIST-STATUS / pipelined STATUS / dir mtimes). Array owned by
	 * the caller (store_boxes_free). */
	int (*list_boxes)(struct store *s, struct store_box **boxes_r, size_t *n_r,
			  struct err *e);

	/* Open a mailbox for message work (IMAP SELECT, EXAMINE when
	 * read_only); closes the previous one. */
	int (*open_box)(struct store *s, const char *name, int read_only,
			struct store_box_state *st_r, struct err *e);

	/* Messages of the open mailbox: all of them (since == NULL) or only
	 * changes since a marker where the store can tell. */
	int (*list_msgs)(struct store *s, const struct store_since *since,
			 struct store_listing *out, struct err *e);

	/* Stream these messages of the open mailbox into the sink, as fast as
	 * the store can (IMAP: one pipelined UID FETCH per range). A message
	 * that vanished is reported through sink->end(ok = 0) with err class
	 * ERR_GONE and the others go on. */
	int (*fetch)(struct store *s, const char *const *keys, size_t n,
		     const struct store_sink *sink, struct err *e);

	/* Content fingerprint inputs: the header fields Message-ID and Date of
	 * one message (either may come back empty). Used to pair messages whose
	 * keys say nothing (first sync, UIDVALIDITY change, lost APPEND). */
	int (*headers)(struct store *s, const char *key, struct buf *msgid,
		       struct buf *date, struct err *e);

	/* Append one message to the open mailbox: begin, write CRLF data
	 * (exactly `size` bytes in all), end. cb reports the new key. */
	int (*append_begin)(struct store *s, const struct flagset *flags,
			    int64_t idate, uint64_t size, struct store_writer **w_r,
			    struct err *e);
	int (*append_write)(struct store_writer *w, const void *data, size_t n,
			    struct err *e);
	int (*append_end)(struct store_writer *w, int ok, store_append_cb *cb,
			  void *cb_ctx, struct err *e);

	/* Add and remove flags on these messages of the open mailbox. */
	int (*set_flags)(struct store *s, const char *const *keys, size_t n,
			 const struct flagset *add, const struct flagset *del,
			 struct err *e);

	/* Remove these messages for good (IMAP: \Deleted + UID EXPUNGE). */
	int (*expunge)(struct store *s, const char *const *keys, size_t n,
		       struct err *e);

	int (*create_box)(struct store *s, const char *name, struct err *e);
	int (*delete_box)(struct store *s, const char *name, struct err *e);
	int (*rename_box)(struct store *s, const char *from, const char *to,
			  struct err *e);

	/* Wait for everything pipelined to be answered and make every write
	 * so far durable (Maildir: fsync of touched dirs = group commit). */
	int (*flush)(struct store *s, struct err *e);
};

/* Drivers embed this as their first member. */
struct store {
	const struct store_ops *ops;
	char *label; /* for messages: "imap://user@host", "maildir:/path" */
};

/* Value of the first header field `name` (case-insensitive, without the
 * colon) in the header block `hdr`, unfolded (line breaks before white space
 * removed) and trimmed, appended to out. Stops at the end of the header.
 * 1 when found, 0 when not, -1 when out is full. The one header reader of
 * the project: the fingerprint of a message must come out the same whichever
 * store or path read it. */
int store_header_field(const char *hdr, size_t len, const char *name, struct buf *out);

/* Content fingerprint: SHA-256 over (Message-ID, Date, size); without a
 * Message-ID, over (Date, size, internal date). 32 bytes. */
void store_fingerprint(const char *msgid, const char *date, uint64_t size,
		       int64_t idate, unsigned char fp[32]);

#endif
