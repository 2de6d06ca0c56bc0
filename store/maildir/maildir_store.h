/*
 * maildir_store.h — the Maildir driver of the store interface (store.h).
 *
 * Layout, names and escaping: maildir_layout.h. File names: maildir_name.h.
 * Keywords: maildir_keywords.h. Scanning and markers: maildir_scan.h.
 *
 * Behaviour the sync code can rely on:
 *  - Keys are the file name part before ":2," and survive flag renames and
 *    new/ -> cur/ moves. Sizes are in CRLF form (W= or computed); internal
 *    dates are file mtimes (the Date header when the mtime is 0 or absent).
 *  - Delivery: append_begin opens tmp/<unique> (O_EXCL, 0600), the data is
 *    converted CRLF -> LF while written (never held in memory) and the
 *    declared CRLF size is checked at append_end; append_end then sets the
 *    mtime to the internal date and closes the file (checked). The fsync
 *    and the rename are group-committed by flush(): one syncfs() of the
 *    file system (fdatasync of each file where syncfs fails), then the
 *    renames, then one fsync of each touched directory; only then are the
 *    append callbacks called, with the new key. A message with no flags and
 *    no keywords goes to new/ without info (as a fresh delivery, so readers
 *    show it as new); anything else goes to cur/<key>:2,<info>.
 *    append_end returns 0 when the message is accepted: its callback then
 *    fires exactly once, at the latest in flush() (or in open_box/close,
 *    which flush first). On -1 (or ok = 0) the tmp file is removed and the
 *    callback is never called.
 *  - set_flags renames (moving new/ -> cur/); expunge unlinks (a key that
 *    is already gone counts as expunged). Both are durable after flush()
 *    (directory fsync). A key gone for set_flags gives ERR_GONE after the
 *    other keys were done.
 *  - fetch: a message gone for good is reported as sink->begin (meta with
 *    the key, size 0, idate -1) then sink->end(ok = 0, e = ERR_GONE); a
 *    read error as end(ok = 0, ERR_IO). A sink whose begin() refuses a
 *    message gets no end() for it; a failing write() gets end(ok = 0).
 *    fetch itself fails only when no folder is open.
 *  - Lookups by key use the last listing (one names-only scan, no stat, is
 *    made if there was none) and, for a stale name, look the key up on
 *    disk again.
 *  - list_msgs with since->marker equal to the folder's current trusted
 *    marker returns full = 0 and no messages (the folder did not change).
 *  - list_msgs with since->known (store.h) reads the folder by names only:
 *    a known key is listed with its flags, size W= (0 without) and idate
 *    -1, and its file is neither stat'ed nor opened; every other key as
 *    without known. A known key whose file is gone is simply absent.
 *  - delete_box refuses (ERR_INUSE) a folder that still holds messages
 *    unless opts.delete_nonempty; INBOX cannot be deleted or renamed. A
 *    VERBATIM folder with subfolders keeps its directory (only the Maildir
 *    parts go).
 *  - Folder identity: the file ".mailferry-id" in the folder (32 hex digits,
 *    written once, atomically via tmp/ + link()); ident = "md:<hex>".
 *  - Nothing is written outside the root: names are escaped (layout) and
 *    every folder is resolved with realpath() and must lie below the
 *    root's real path (ERR_PERM otherwise), except a configured inbox_path.
 *
 * Keyword overflow (more than 26 keywords in a folder): a keyword that no
 * dovecot-keywords slot is left for cannot be stored in the file name. The
 * driver keeps such keywords in memory per message of the open folder;
 * list_msgs reports them merged into the message's flags, so the sync sees
 * them. The sync persists them in its journal: after list_msgs it reads
 * them with maildir_store_kw_overflow() and, in a new run, hands them back
 * with maildir_store_kw_overflow_set() right after open_box.
 */
#ifndef MF_MAILDIR_STORE_H
#define MF_MAILDIR_STORE_H

#include "store.h"
#include "maildir/maildir_layout.h"

struct maildir_opts {
	enum maildir_layout layout; /* MAILDIR_LAYOUT_VERBATIM by default */
	const char *inbox_path;     /* NULL: ROOT/INBOX (VERBATIM), ROOT (MAILDIRPP) */
	int fsync_off;              /* 1: no fsync at all (throwaway copies) */
	int create;                 /* create the root (and INBOX) if missing */
	int delete_nonempty;        /* delete_box may remove messages */
	const char *hostname;       /* for unique names; NULL: gethostname() */
};

/* Open the Maildir tree at root; o may be NULL (defaults). */
int maildir_store_open(const char *root, const struct maildir_opts *o, struct store **s_r,
		       struct err *e);

/* Keywords of `key` (open folder) that did not fit in the folder's 26
 * slots, copied into out (flagset_init'ed by the caller; sys stays 0).
 * Returns the number of such keywords. */
size_t maildir_store_kw_overflow(struct store *s, const char *key, struct flagset *out);
/* How many messages of the open folder hold such keywords (0: none). */
size_t maildir_store_kw_overflow_count(struct store *s);
/* Seed the overflow keywords of `key` (from the journal) for the open
 * folder, replacing what was known; kws->sys is ignored. */
void maildir_store_kw_overflow_set(struct store *s, const char *key, const struct flagset *kws);
/* The caller's belief (from its journal) that the file of `key` in the open
 * folder is named as if its flags were `flags` (in cur/). A lookup by
 * set_flags, expunge or fetch then tries that name before reading the
 * folder's directories; a wrong guess costs a lookup of that key, and after
 * a few wrong guesses the folder is read once as without hints. Ignored
 * when the folder was listed. Forgotten when the folder is closed. */
void maildir_store_hint(struct store *s, const char *key, const struct flagset *flags);
/* 1 when since `box` was first opened for writing by this store, nothing
 * but this store changed the entries of its cur/ and new/
 * (maildir_watch.h); 0 when that cannot be told. Call it after reading the
 * marker to be recorded. */
int maildir_store_clean(struct store *s, const char *box);
/* The caller will ask maildir_store_clean no more: stop watching now, so
 * that the kernel retires the watches while the run winds down instead of
 * when the store is closed. */
void maildir_store_unwatch(struct store *s);
/* Free the store of a forked child without writing anything: deliveries
 * still pending belong to the parent process (they are not renamed, not
 * fsynced, their memory goes with the child's _exit). */
void maildir_store_abandon(struct store *st);

/* For tests: message files stat'ed or opened to list the open folder since
 * the store was opened, by list_msgs and by the names-only scan a lookup
 * (fetch, set_flags, expunge, headers) makes when there was no listing. A
 * listing with every key known adds 0, and so does such a scan, unless
 * files are renamed or deleted while it reads the directories. */
unsigned long maildir_store_list_stats(struct store *s);
/* For tests: times a lookup read the open folder's directories (a names
 * scan for lack of a listing, or a search for one key) since the store
 * was opened. */
unsigned long maildir_store_dir_scans(struct store *s);

#endif
