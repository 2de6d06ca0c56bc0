/*
 * maildir_name.h — Maildir file names, pure functions (no I/O).
 *
 * Names we write, in the Dovecot style:
 *   <sec>.M<usec>P<pid>Q<counter>.<host>,S=<lfsize>,W=<crlfsize>:2,<info>
 * The key of a message is the part before ":2," (the unique part plus its
 * ',' fields): it stays the same when a mail reader changes the flags or
 * moves the file from new/ to cur/.
 *
 * Names written by others are accepted as they come: mutt
 * ("<sec>.<pid>_<n>.<host>:2,S"), mbsync (",U=<uid>" field), Dovecot
 * (",S=,W="), names with no info (new/), and the legacy ":1," info.
 *
 * Info letters: D F P R S T are the standard flags (P, "passed", has no IMAP
 * flag and is kept as an extra letter), other characters (unknown uppercase
 * letters...) are preserved as extras, lowercase a-z are keyword slots
 * mapped through dovecot-keywords (maildir_keywords.h). Letters are always
 * written in ASCII order, without duplicates.
 */
#ifndef MF_MAILDIR_NAME_H
#define MF_MAILDIR_NAME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define MAILDIR_EXTRA_MAX 32

struct maildir_name {
	size_t keylen;  /* key = name[0 .. keylen) */
	int info;       /* 0: no info, 1: ":1,", 2: ":2," */
	unsigned sys;   /* enum mf_flag bits from D F R S T */
	uint32_t kw;    /* bit i set = keyword letter 'a' + i */
	char extra[MAILDIR_EXTRA_MAX]; /* other info characters, ASCII order */
	int has_s, has_w;
	uint64_t s, w;  /* ,S= (size on disk, LF) and ,W= (size in CRLF form) */
};

/* Parse a file name found in cur/ or new/. Returns -1 for names that are
 * not messages (empty, starting with '.', containing '/'), else 0. */
int maildir_name_parse(const char *name, struct maildir_name *p);

/* Append "<sec>.M<usec>P<pid>Q<counter>.<host>" to out; the host name is
 * sanitized: '/' -> "\057", ':' -> "\072", ',' -> "\054" (as Dovecot). */
int maildir_name_base(struct buf *out, int64_t sec, long usec, long pid,
		      unsigned long counter, const char *host);

/* Append ",S=<lf>,W=<crlf>". */
int maildir_name_sizes(struct buf *out, uint64_t lf, uint64_t crlf);

/* Append ":2," and the info letters (sys flags, keyword slots, extras)
 * in ASCII order. */
int maildir_name_info(struct buf *out, unsigned sys, uint32_t kw, const char *extra);

#endif
