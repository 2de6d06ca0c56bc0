/*
 * maildir_scan.h — listing the messages of one Maildir folder.
 *
 * A scan reads the directory entries of new/ and cur/ and stats each file
 * (fstatat, never open); it tolerates a mail reader working at the same
 * time:
 *  - new/ is read before cur/, so a file moved new/ -> cur/ meanwhile is
 *    seen at least once; a key seen twice keeps its cur/ entry;
 *  - when a directory changed during the pass (mtime before != after),
 *    the pass is repeated (at most 4 times) and the passes are merged by
 *    key, since readdir may miss an entry renamed under it;
 *  - a file that is gone when stat'ed was renamed or deleted: its key is
 *    looked up again (maildir_scan_locate); only if that fails too is the
 *    message taken as deleted. None of this is an error.
 * A names-only scan (maildir_scan_names) makes the same passes but stats
 * no file: mtime is -1 and fsize 0, and a name may be stale by the time it
 * is used, which every user of a name handles anyway (ENOENT -> locate).
 * Only a key missing from the last pass (a file deleted or renamed while
 * listing) is stat'ed, so that a message deleted during the scan is not
 * reported; a key seen by the last pass existed during the scan.
 * Files whose names are not message names (dot files...) are ignored, and
 * so are non-regular files.
 *
 * Change marker: "v1:<cur mtime s.ns>:<new mtime s.ns>", with ":u" appended
 * when it cannot be trusted, i.e. when a later change of the folder might
 * leave both mtimes as they are. Only a trusted marker that still matches
 * lets a caller skip the folder. A change of a directory's entries sets its
 * mtime to the kernel's current time, taken after the entries changed.
 * Two rules decide (maildir_scan_marker_trusted):
 *  - Fine rule, on a local file system with nanosecond timestamps (statfs
 *    type ext2/3/4, xfs, btrfs, tmpfs, f2fs, bcachefs, zfs; cur/ and new/ on
 *    the folder's own file system): such timestamps come from the kernel's
 *    coarse clock, CLOCK_REALTIME_COARSE (with multigrain timestamps, Linux
 *    6.13+, they are >= it). The marker reads that clock BEFORE it stats
 *    cur/ and new/. When both mtimes are older than that reading minus a
 *    1 ms margin, a change that takes its time after the reading gets an
 *    mtime >= the reading (truncated to the file system's granularity,
 *    which the margin covers down to 1 ms), hence one different from the
 *    mtime seen: the marker changes. A change that took its time before
 *    the reading had changed the entries before it, so a listing made
 *    AFTER the marker sees it (callers take the marker first, as open_box
 *    does, then list). Reading the clock after the stat would not do: a
 *    change made in the same clock tick just after the stat gets the mtime
 *    already seen (without multigrain timestamps) while the tick may have
 *    moved on by the reading. Both mtimes must also have a tv_nsec that
 *    is not a whole number of milliseconds (zero included): that suggests
 *    a file system storing whole seconds (ext4 with 128-byte inodes), a
 *    copy that dropped the nanoseconds, or a granularity coarser than the
 *    margin (bcachefs with a coarse time_precision); a true nanosecond
 *    timestamp falls there once in a million times, harmlessly. Under
 *    this rule a marker is trusted a few milliseconds (a clock tick plus
 *    the margin) after the last write.
 *  - Otherwise (other file systems, network ones included; whole ms)
 *    the 2 s rule: untrusted until the current second (CLOCK_REALTIME) is
 *    2 past each mtime's second, enough for file systems with 1 s
 *    timestamps.
 * Both assume the wall clock is not stepped backwards between two markers.
 * The text format is the same under both rules, so stored journals stay
 * valid.
 */
#ifndef MF_MAILDIR_SCAN_H
#define MF_MAILDIR_SCAN_H

#include <stdint.h>
#include <time.h>

#include "lib/err.h"
#include "maildir/maildir_name.h"

/* One message file. Kept small: an open folder holds one per message for
 * as long as it is open. The key is the name's first keylen bytes (a
 * rename keeps them); parse the name (maildir_name_parse) for the rest. */
struct maildir_scan_ent {
	char *name;           /* the file name in new/ or cur/: the scan's names
			       * pool's, or owned (set by maildir_scan_ent_rename) */
	int64_t mtime;        /* file mtime, seconds; -1 when not stat'ed */
	uint64_t fsize;       /* file size on disk (LF form); 0 when not stat'ed */
	uint32_t keylen;      /* key = name[0 .. keylen) */
	uint8_t in_new;       /* 1: new/, 0: cur/ */
	uint8_t pooled;       /* name is in the scan's pool, not owned */
	uint16_t seen_pass;   /* internal: the last directory pass that saw the key */
};

/* A scan's names, packed in big blocks: a folder of 20,000 messages holds
 * 20,000 names while it is open, and one malloc each cost a third more. */
struct maildir_name_pool;

struct maildir_scan {
	struct maildir_scan_ent *v; /* sorted by key (strcmp), one per key */
	size_t n;
	struct maildir_name_pool *pool; /* the names the scan read */
	int passes;           /* for tests: directory passes made */
	unsigned long nstat;  /* for tests: message files stat'ed by the scan
			       * and by maildir_scan_stat on it */
};

#define MAILDIR_SCAN_TMP_AGE (36 * 3600)
#define MAILDIR_MARKER_MAX 64

/* List the folder whose directory is dirfd (holding cur/ and new/). */
int maildir_scan_list(int dirfd, struct maildir_scan *out, struct err *e);
/* The same without stat'ing the files (see above): mtime -1, fsize 0. */
int maildir_scan_names(int dirfd, struct maildir_scan *out, struct err *e);
/* Stat one entry of s later (mtime, fsize), as maildir_scan_list does: on
 * ENOENT its key is looked up again and en's name and in_new follow the
 * file (the key, hence the order of s, stays). Returns 1 (ok), 0 (gone, or
 * not a regular file: the caller drops it), -1 (error). */
int maildir_scan_stat(int dirfd, struct maildir_scan *s, struct maildir_scan_ent *en,
		      struct err *e);
void maildir_scan_free(struct maildir_scan *s);
/* Entry for key or NULL (binary search). */
struct maildir_scan_ent *maildir_scan_find(const struct maildir_scan *s, const char *key);
/* Entries by key (strcmp order of the keys), for qsort: the scan's order. */
int maildir_scan_ent_order(const void *a, const void *b);
/* strcmp of the entry's key with key. */
int maildir_scan_ent_keycmp(const struct maildir_scan_ent *en, const char *key);
/* The entry's key as an owned string. */
char *maildir_scan_ent_key(const struct maildir_scan_ent *en);
/* Keep only the entries that still have a name (maildir_scan_ent_drop
 * took the others'), their names in a pool of their own: what a filtered
 * listing holds on to is then what it listed. */
void maildir_scan_compact(struct maildir_scan *s);
/* The file took a new name (owned from now on by the entry). */
void maildir_scan_ent_rename(struct maildir_scan_ent *en, char *name);
/* Drop the entry's name (freed unless the pool holds it). */
void maildir_scan_ent_drop(struct maildir_scan_ent *en);

/* Find the current file of key in new/ or cur/ (retrying a rename race).
 * Returns 1 (found: *name_r owned by the caller, *in_new_r), 0 (gone: a
 * miss while the directories stood still), -1 (an error, or the folder
 * kept changing: never "gone" on a guess). */
int maildir_scan_locate(int dirfd, const char *key, char **name_r, int *in_new_r,
			struct err *e);

/* Remove files in tmp/ whose mtime and ctime are both older than 36 hours
 * before `now`. *removed_r (may be NULL) counts them. */
int maildir_scan_clean_tmp(int dirfd, time_t now, unsigned *removed_r, struct err *e);

/* The folder's change marker as described above. */
int maildir_scan_marker(int dirfd, char out[MAILDIR_MARKER_MAX], struct err *e);
/* The trust rule above, pure (for tests): mt are the mtimes of cur/ and
 * new/, coarse the CLOCK_REALTIME_COARSE reading taken before they were
 * read, now CLOCK_REALTIME after; fine_fs as maildir_scan_fine_fs. */
int maildir_scan_marker_trusted(const struct timespec mt[2], const struct timespec *coarse,
				const struct timespec *now, int fine_fs);
/* 1 when the folder's cur/ and new/ lie on a file system the fine rule
 * trusts (statfs type in the list above, same st_dev as the folder). */
int maildir_scan_fine_fs(int dirfd);
/* 1 when `marker` is trusted and the folder still has the same mtimes. */
int maildir_scan_unchanged(int dirfd, const char *marker);

#endif
