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
 * when it cannot be trusted: when it is taken less than 2 seconds after
 * one of the mtimes, a later change may carry the same timestamp (file
 * systems with coarse timestamps, the kernel's coarse clock). Only a
 * trusted marker that still matches lets a caller skip the folder.
 */
#ifndef MF_MAILDIR_SCAN_H
#define MF_MAILDIR_SCAN_H

#include <stdint.h>
#include <time.h>

#include "lib/err.h"
#include "maildir/maildir_name.h"

struct maildir_scan_ent {
	char *key;            /* owned: the name's key */
	char *name;           /* owned: the file name in new/ or cur/ */
	int in_new;           /* 1: new/, 0: cur/ */
	struct maildir_name p; /* parsed name */
	int64_t mtime;        /* file mtime, seconds; -1 when not stat'ed */
	uint64_t fsize;       /* file size on disk (LF form); 0 when not stat'ed */
	int seen_pass;        /* internal: the last directory pass that saw the key */
};

struct maildir_scan {
	struct maildir_scan_ent *v; /* sorted by key (strcmp), one per key */
	size_t n;
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
 * ENOENT its key is looked up again and en's name, in_new and p follow the
 * file (the key, hence the order of s, stays). Returns 1 (ok), 0 (gone, or
 * not a regular file: the caller drops it), -1 (error). */
int maildir_scan_stat(int dirfd, struct maildir_scan *s, struct maildir_scan_ent *en,
		      struct err *e);
void maildir_scan_free(struct maildir_scan *s);
/* Entry for key or NULL (binary search). */
struct maildir_scan_ent *maildir_scan_find(const struct maildir_scan *s, const char *key);

/* Find the current file of key in new/ or cur/ (retrying a rename race).
 * Returns 1 (found: *name_r owned by the caller, *in_new_r), 0 (gone), -1. */
int maildir_scan_locate(int dirfd, const char *key, char **name_r, int *in_new_r,
			struct err *e);

/* Remove files in tmp/ whose mtime and ctime are both older than 36 hours
 * before `now`. *removed_r (may be NULL) counts them. */
int maildir_scan_clean_tmp(int dirfd, time_t now, unsigned *removed_r, struct err *e);

/* The folder's change marker as described above. */
int maildir_scan_marker(int dirfd, char out[MAILDIR_MARKER_MAX], struct err *e);
/* 1 when `marker` is trusted and the folder still has the same mtimes. */
int maildir_scan_unchanged(int dirfd, const char *marker);

#endif
