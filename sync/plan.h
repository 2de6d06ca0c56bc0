/*
 * plan.h — the planner: a pure function from (remote state, local state,
 * journal) to an ordered list of actions. No I/O, no clock (the caller
 * passes `now`), no logging, so it can be tested exhaustively.
 *
 * Two levels:
 *   plan_boxes() decides which mailboxes pair up, and which are created,
 *                deleted or renamed on which side;
 *   plan_msgs()  decides, for one mailbox pair, which messages are copied
 *                each way, which flags change, what is marked deleted or
 *                expunged, and which journal pairs are added or dropped.
 *
 * Ownership: inputs are borrowed for the duration of the call. The plan owns
 * copies of every string and flag set it holds; plan_free() releases them.
 */
#ifndef MF_PLAN_H
#define MF_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum plan_side { SIDE_REMOTE = 0, SIDE_LOCAL = 1 };

enum plan_expunge { EXPUNGE_NONE = 0, EXPUNGE_REMOTE = 1, EXPUNGE_LOCAL = 2, EXPUNGE_BOTH = 3 };

struct plan_opts {
	int push;              /* local -> remote allowed */
	int pull;              /* remote -> local allowed */
	unsigned expunge;      /* enum plan_expunge bits: sides where expunge is allowed */
	int create_remote;     /* may create mailboxes on the remote side */
	int create_local;
	int remove_remote;     /* may delete mailboxes on the remote side */
	int remove_local;
	uint64_t max_size;     /* 0 = no limit; larger messages are skipped (counted) */
	int64_t max_age;       /* seconds, 0 = no limit; older messages are skipped */
	int64_t now;           /* the caller's clock, for max_age */
	const char *const *include; /* mailbox patterns ('*' any, '%' one level); NULL = all */
	size_t ninclude;
	const char *const *exclude;
	size_t nexclude;
};

/* ------------------------------------------------------------ mailboxes */

struct plan_box_side {       /* a mailbox as one side lists it now */
	const char *name;
	const char *ident;       /* store_box.ident */
	unsigned attrs;
};

struct plan_box_known {      /* a mailbox pair from the journal */
	int64_t id;
	const char *rname, *lname;
	const char *rident, *lident;
	int empty_since_sync;    /* filled by the caller when known: no unsynced mail */
};

enum plan_box_op {
	PBOX_SYNC = 1,   /* sync messages of (rname, lname); journal id or 0 if new */
	PBOX_CREATE,     /* create `name` on `side`, then sync */
	PBOX_DELETE,     /* delete `name` on `side` (gone from the other, fully synced) */
	PBOX_RENAME,     /* rename `from` -> `name` on `side` and the journal entry, then sync */
	PBOX_FORGET,     /* drop journal pair id (gone on both sides, or before a re-create) */
	PBOX_SKIP,       /* excluded by a pattern or not allowed: reason says why */
};

struct plan_box_action {
	enum plan_box_op op;
	enum plan_side side;
	int64_t journal_id;      /* 0 if none */
	char *rname, *lname;     /* the pair after the action */
	char *from;              /* PBOX_RENAME: old name on `side` */
	const char *reason;      /* static text, for printing */
};

struct plan_boxes {
	struct plan_box_action *v;
	size_t n;
};

int plan_boxes(const struct plan_box_side *remote, size_t nremote,
	       const struct plan_box_side *local, size_t nlocal,
	       const struct plan_box_known *known, size_t nknown,
	       const struct plan_opts *o, struct plan_boxes *out);
void plan_boxes_free(struct plan_boxes *p);

/* ------------------------------------------------------------- messages */

struct plan_msg {            /* a message as one side lists it now */
	const char *key;
	struct flagset flags;    /* borrowed */
	uint64_t size;
	int64_t idate;
	int has_fp;
	unsigned char fp[32];
};

struct plan_pair {           /* a message pair from the journal */
	int64_t id;
	const char *rkey;        /* may be NULL */
	const char *lkey;        /* may be NULL */
	struct flagset base;     /* borrowed */
	uint64_t size;
	int64_t idate;
	int has_fp;
	unsigned char fp[32];
};

struct plan_msgs_input {
	/* remote listing: full, or a delta (only new/changed messages, plus the
	 * keys that vanished); in a delta a paired message that is absent is
	 * unchanged, i.e. its flags are the pair's base. */
	const struct plan_msg *remote;
	size_t nremote;
	int remote_full;
	const char *const *remote_vanished;
	size_t nremote_vanished;
	const struct plan_msg *local;
	size_t nlocal;
	int local_full;
	const char *const *local_vanished;
	size_t nlocal_vanished;
	const struct plan_pair *pairs;
	size_t npairs;
	/* The remote keys of the journal mean nothing any more (UIDVALIDITY
	 * changed): re-pair by fingerprint, never wipe, never duplicate. The
	 * same for the local side when its identity changed. */
	int remote_keys_invalid;
	int local_keys_invalid;
};

enum plan_op {
	PLAN_COPY = 1,  /* copy `key` (on the side opposite `side`) to `side` with `flags`, then pair */
	PLAN_FLAGS,     /* on `side`, add `add` and remove `del` on `key`; pair base becomes `flags` */
	PLAN_MARK_DELETED, /* set \Deleted on `key` on `side` (the other side lost it) */
	PLAN_EXPUNGE,   /* expunge `key` on `side`; drop the pair */
	PLAN_PAIR,      /* new journal pair (rkey, lkey) with base `flags`: matched by fingerprint */
	PLAN_REKEY,     /* pair_id now has rkey/lkey as given (re-paired after a key change) */
	PLAN_BASE,      /* pair_id's base becomes `flags` (both sides already agree) */
	PLAN_UNPAIR,    /* forget pair_id (gone on both sides, or deletion propagated) */
	PLAN_SKIP,      /* `key` on the side opposite `side` not copied: reason says why */
};

struct plan_action {
	enum plan_op op;
	enum plan_side side;     /* the side written to */
	char *key;               /* the key the action reads or writes (see op) */
	char *rkey, *lkey;       /* PAIR / REKEY */
	int64_t pair_id;         /* 0 if none */
	struct flagset flags;    /* COPY: flags of the copy; FLAGS/PAIR/BASE: new base */
	struct flagset add, del; /* FLAGS */
	uint64_t size;
	int64_t idate;
	int has_fp;
	unsigned char fp[32];
	const char *reason;      /* static text, for printing and SKIP */
	int keep_pair;           /* EXPUNGE: keep the pair (the other side keeps its
				  * copy, or another EXPUNGE of this plan drops it) */
};

struct plan_counts {
	size_t copy[2];          /* indexed by destination side */
	size_t flags[2];
	size_t mark_deleted[2];
	size_t expunge[2];
	size_t paired;           /* matched by fingerprint, nothing transferred */
	size_t skipped;
	uint64_t bytes[2];
	size_t rekeyed;          /* pairs re-keyed by fingerprint (UIDVALIDITY change) */
};

struct plan {
	struct plan_action *v;
	size_t n;
	struct plan_counts counts;
	/* Non-NULL (static text) when the planner refused to plan anything for
	 * this mailbox because the input looks wrong (e.g. UIDVALIDITY changed
	 * and no journal pair matched the server). The plan is then empty and
	 * the caller must NOT adopt the new identity/markers of the mailbox. */
	const char *alert;
	/* After this plan, the next listing of side s must be full (not a
	 * delta): some pair's side s will not equal its base (a one-sided
	 * pair kept as a tombstone, or a direction that is not written). */
	int need_full[2];
};

/* Actions are ordered: pairing and journal-only updates first, then
 * expunges, flag changes, deletion marks, copies (copies in ascending key
 * order per side so the executor can fetch in UID ranges), SKIPs last.
 * Within expunges the local side comes first.
 * Executor contract (details and the rules: top of sync/plan.c):
 *  - every action carries rkey/lkey when known; FLAGS/EXPUNGE with
 *    pair_id 0 refer to the pair a PLAN_PAIR of the same plan created;
 *  - COPY, FLAGS, MARK_DELETED, PAIR, BASE: the pair's base becomes `flags`;
 *    COPY with pair_id completes that pair, without creates a new one;
 *  - EXPUNGE drops the pair unless keep_pair;
 *  - SKIP is informational (repeats each run); the rest is idempotent. */
int plan_msgs(const struct plan_msgs_input *in, const struct plan_opts *o,
	      struct plan *out);
void plan_free(struct plan *p);
/* Free the actions alone (v = NULL, n = 0); counts, alert and need_full
 * stay, for a caller that has carried the plan out. plan_free still ends it. */
void plan_release_actions(struct plan *p);

/* Human-readable plan (for --dry-run); one line per action or a summary. */
int plan_format(const struct plan *p, const char *box, int verbose, struct buf *out);
const char *plan_op_name(enum plan_op op);
const char *plan_box_op_name(enum plan_box_op op);
/* One action as one line, without a newline (appended to out). */
int plan_action_format(const struct plan_action *a, struct buf *out);
/* The mailbox plan, one line per action. */
int plan_boxes_format(const struct plan_boxes *p, struct buf *out);

#endif
