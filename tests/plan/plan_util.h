/*
 * plan_util.h — helpers for the planner tests: a compact notation for
 * listings, journal pairs and plans, so scenarios read as one table row.
 *
 * Messages:  "KEY=ID:FLAGS[#SIZE][~IDATE]"  e.g. "7=a:FS+$Junk#5000"
 *            ID names the content (fingerprint); ID "-" means no fingerprint.
 *            FLAGS: Maildir letters D F R S T, then "+keyword"...
 * Pairs:     "RKEY/LKEY=ID:BASE"  ("-" for a missing key); ids 1, 2, ...
 * Plans:     one item per action, "; "-separated, e.g.
 *            "copy>L 7 :S", "copy>R L1 :F #2" (pair 2), "flags L L1 +S -F =S",
 *            "mark R 1 =ST", "expunge L L1 keep", "pair 1/L1 =S",
 *            "rekey #1 11/L1", "base #1 =S", "unpair #1", "skip>L 1".
 */
#ifndef MF_PLAN_UTIL_H
#define MF_PLAN_UTIL_H

#include "lib/buf.h"
#include "plan.h"

struct tmsgs {                 /* parsed listing (owns everything) */
	struct plan_msg *v;
	size_t n;
};

struct tpairs {
	struct plan_pair *v;
	size_t n;
};

void tu_fp(const char *id, unsigned char fp[32]);
void tu_flags_parse(struct flagset *f, const char *s);
void tu_flags_str(const struct flagset *f, struct buf *out);
void tu_msgs_parse(struct tmsgs *m, const char *text);
void tu_msgs_free(struct tmsgs *m);
void tu_pairs_parse(struct tpairs *p, const char *text);
void tu_pairs_free(struct tpairs *p);
/* Space-separated words into a NULL-terminated owned array. */
char **tu_words(const char *text, size_t *n_r);
void tu_words_free(char **w, size_t n);
/* The compact form of a plan (see above), into out (reset first). */
void tu_plan_str(const struct plan *p, struct buf *out);

#endif
