/*
 * config.h — the configuration file: named channels, each a set of `sync`
 * options, so that cron runs `mailferry sync --all` instead of a long
 * command line per account.
 *
 *   # ~/.config/mailferry/config
 *   [defaults]                 # applies to every channel, before its own
 *   jobs = 4
 *
 *   [channel work]
 *   remote = imaps://me@imap.work.example
 *   local = maildir:~/Mail/work
 *   pass-cmd = pass show work/imap
 *   expunge = both
 *   exclude = Spam
 *   exclude = Trash            # repeatable options repeat
 *
 * A key is a `sync` long option without its dashes; an option without an
 * argument takes yes/no. A value starting with "~/" (or "maildir:~/") is
 * under $HOME. Passwords themselves are refused (pass-cmd / pass-file
 * only), and so is a file that someone else could write: its pass-cmd
 * would run their command.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

/* A key the caller accepts: name as a long option, and whether it takes a
 * value (else yes/no). */
struct config_key {
	const char *name;
	int has_arg;
};

/* One channel: its name and its settings as long options ("--key=value",
 * "--flag"), [defaults] first, each part in file order. */
struct config_channel {
	char *name;
	char **opt;
	size_t nopt;
};

struct config {
	struct config_channel *v;
	size_t n;
};

/* Read the file. ERR_USAGE names the file and line of a mistake (unknown
 * section or key, a password, a duplicate channel, a bad yes/no), ERR_IO a
 * file that cannot be read, ERR_PERM one others may write. On failure *cfg
 * is empty. */
int config_load(const char *path, const struct config_key *keys, size_t nkeys,
		struct config *cfg, struct err *e);
void config_free(struct config *cfg);

/* The channel called `name`, or NULL. */
const struct config_channel *config_find(const struct config *cfg, const char *name);

/* $XDG_CONFIG_HOME/mailferry/config, else ~/.config/mailferry/config;
 * -1 when neither variable is set. */
int config_default_path(struct buf *out);

#endif
