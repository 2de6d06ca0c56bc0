/*
 * maildir_keywords.h — the Dovecot `dovecot-keywords` file of a folder.
 *
 * Format (Dovecot's): one line per keyword, "<index> <name>\n", index 0..25
 * standing for the info letters 'a'..'z'. Unknown or broken lines are
 * ignored on reading (Dovecot does the same); the file is rewritten only to
 * add a keyword.
 *
 * Writing follows Dovecot's dotlock so both programs can share a folder:
 * create "dovecot-keywords.lock" with O_EXCL (a lock older than 30 s is
 * stale and broken), re-read the current file, add, write the whole file
 * into the lock file, fsync it, rename it over "dovecot-keywords" and fsync
 * the folder. A 27th keyword does not fit: the caller gets index -1 and
 * keeps that keyword elsewhere (maildir_store.h: overflow keywords).
 */
#ifndef MF_MAILDIR_KEYWORDS_H
#define MF_MAILDIR_KEYWORDS_H

#include "lib/buf.h"
#include "lib/err.h"

#define MAILDIR_KEYWORDS_MAX 26
#define MAILDIR_KEYWORDS_FILE "dovecot-keywords"

struct maildir_keywords;

struct maildir_keywords *maildir_keywords_new(void);
void maildir_keywords_free(struct maildir_keywords **kw);

/* Replace the table by the parsed text (pure). */
void maildir_keywords_parse(struct maildir_keywords *kw, const char *text, size_t len);
/* The file content for the table (pure). */
int maildir_keywords_format(const struct maildir_keywords *kw, struct buf *out);

/* Name of slot idx (0..25), NULL when unused. */
const char *maildir_keywords_name(const struct maildir_keywords *kw, int idx);
/* Slot of name (exact match), -1 when absent. */
int maildir_keywords_find(const struct maildir_keywords *kw, const char *name);
/* Put name in the first free slot in memory only; -1 when all are used. */
int maildir_keywords_put(struct maildir_keywords *kw, const char *name);

/* Read the folder's file (dirfd = the folder); a missing file is empty. */
int maildir_keywords_read(struct maildir_keywords *kw, int dirfd, struct err *e);

/* Slot of name, adding it to the folder's file when new (locked re-read,
 * atomic rewrite; fsync unless do_fsync is 0). *idx_r = -1 when the name
 * does not fit (26 slots used): not an error. */
int maildir_keywords_add(struct maildir_keywords *kw, int dirfd, const char *name,
			 int do_fsync, int *idx_r, struct err *e);

#endif
