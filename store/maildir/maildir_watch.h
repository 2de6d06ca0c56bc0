/*
 * maildir_watch.h — did anyone but this store change a folder while it
 * was open for writing?
 *
 * After writing to a folder, a sync wants to record the folder's new
 * change marker (maildir_scan.h) so that the next run skips it. That is
 * only right if the folder now holds exactly what the journal says: the
 * state it had when the sync found it unchanged, plus this store's own
 * renames, deliveries and unlinks. Proving it by listing the folder costs
 * O(folder); this module proves it in O(changes) with inotify (Linux): a
 * folder is watched (cur/ and new/, entry events only) from the moment it
 * is opened for writing, the store counts the events each of its own
 * successful operations causes, and the folder is "clean" when the events
 * seen equal the events counted. A change by anyone else adds events
 * (inotify merges only identical consecutive events, and a foreign event
 * can never repeat ours exactly: renames carry unique cookies, and a name
 * must be created between two deletions of it).
 *
 * Anything doubtful makes the folder unclean for the rest of the run and
 * the caller falls back to listing: inotify unavailable or out of watches,
 * a queue overflow, a watched directory removed or moved, a folder renamed
 * or deleted through the store. The watch set belongs to one store (a
 * forked worker makes its own) and survives closing the folder, so the
 * check can be made at the end of the run.
 */
#ifndef MF_MAILDIR_WATCH_H
#define MF_MAILDIR_WATCH_H

struct maildir_watch;

struct maildir_watch *maildir_watch_new(void);
/* Close the inotify descriptor without reading it (also in a forked child). */
void maildir_watch_free(struct maildir_watch **w);
/* Done asking: drop every watch now (cheap), so that freeing the set later
 * does not wait for the kernel; every folder is unclean from here on. Not
 * in a forked child: the descriptor and its watches are the parent's. */
void maildir_watch_stop(struct maildir_watch *w);

/* Start watching folder `box` (its directory open as dirfd) unless it is
 * watched already. Returns the folder's slot for maildir_watch_own, or -1
 * (not watched: the folder will never be clean). */
int maildir_watch_add(struct maildir_watch *w, const char *box, int dirfd);
/* This store's own operation changed the entries of the folder in slot:
 * n events (a rename inside or between cur/ and new/: 2, a delivery
 * renamed in from tmp/: 1, an unlink: 1). */
void maildir_watch_own(struct maildir_watch *w, int slot, unsigned n);
/* A folder was renamed or deleted through the store: trust no watch. */
void maildir_watch_distrust(struct maildir_watch *w);
/* 1 when every entry change of box's cur/ and new/ since it was first
 * watched was counted as our own; 0 otherwise (or not watched). Call it
 * AFTER reading the marker to be recorded: a change made before that
 * reading is then among the events read here. */
int maildir_watch_clean(struct maildir_watch *w, const char *box);

#endif
