/*
 * maildir_layout.h — mailbox name <-> path inside the Maildir root, pure
 * (no I/O). Names are UTF-8 with '/' as the hierarchy separator (store.h).
 *
 * Layouts:
 *  - VERBATIM: "Sub/Folder" is ROOT/Sub/Folder; INBOX is ROOT/INBOX (the
 *    store may put it elsewhere: maildir_opts.inbox_path).
 *  - MAILDIRPP (Maildir++, Dovecot/Courier): "Sub/Folder" is ROOT/.Sub.Folder;
 *    INBOX is ROOT itself (path "").
 *
 * Every component is escaped so that the result is always a plain relative
 * path below the root, and the escape is reversible:
 *   - a byte < 0x20 or 0x7f, and '%' when followed by two hex digits, become
 *     "%XX" (uppercase hex); a '%' not followed by two hex digits stays as it
 *     is, so folders made by other programs ("50%off") keep their names;
 *   - VERBATIM: a leading '.' becomes "%2E" ("." -> "%2E", ".." -> "%2E.",
 *     ".hidden" -> "%2Ehidden"); a component clashing with a name a Maildir
 *     folder holds itself (cur, new, tmp, maildirfolder, dovecot-*, dovecot.*)
 *     gets its first character escaped ("cur" -> "%63ur");
 *   - MAILDIRPP: every '.' becomes "%2E" ('.' is the separator on disk), and
 *     the one-component name "mailferry-id" is escaped like a clash.
 * Refused (ERR_USAGE): an empty name or component (so no absolute path,
 * no "a//b", no trailing '/'). Refused (ERR_LIMIT): a component longer than
 * 255 bytes once escaped (MAILDIRPP: the whole directory name), more than
 * 64 levels, a path over 4000 bytes.
 *
 * A directory whose name is not the escape of some name (e.g. "%41", which
 * would be "A") is foreign: path_to_name refuses it and listings skip it.
 */
#ifndef MF_MAILDIR_LAYOUT_H
#define MF_MAILDIR_LAYOUT_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

enum maildir_layout {
	MAILDIR_LAYOUT_VERBATIM = 0,
	MAILDIR_LAYOUT_MAILDIRPP = 1,
};

#define MAILDIR_LAYOUT_COMP_MAX 255
#define MAILDIR_LAYOUT_DEPTH_MAX 64
#define MAILDIR_LAYOUT_PATH_MAX 4000

/* Is this name INBOX (case-insensitive, whole name)? */
int maildir_layout_is_inbox(const char *name);

/* Relative path of mailbox `name` (appended to rel). VERBATIM INBOX gives
 * "INBOX", MAILDIRPP INBOX gives "" (the root), MAILDIRPP "A/B" gives
 * ".A.B". A first component spelled "inbox" in any case is INBOX. */
int maildir_layout_name_to_path(enum maildir_layout l, const char *name, struct buf *rel,
				struct err *e);

/* Mailbox name of a relative path (VERBATIM: "A/B"; MAILDIRPP: the root
 * entry ".A.B", or "" for INBOX). -1 (ERR_NOTFOUND) when the path is not
 * the canonical path of any name: a foreign directory. */
int maildir_layout_path_to_name(enum maildir_layout l, const char *rel, struct buf *name,
				struct err *e);

#endif
