/*
 * config.c — reads the configuration file (see config.h) with libinih and
 * turns each channel into the long options `sync` already understands, so
 * that a setting means exactly what its option means and is checked by
 * the same code. Owns the parsed channels.
 *
 * Design
 *  - inih calls back once per key; the callback records the first mistake
 *    and inih returns the line it was on, so every error names FILE:LINE.
 *  - [defaults] may come anywhere in the file; its options go first in
 *    every channel, so a channel's own repeatable options add to them and
 *    its single-valued ones win (the last occurrence of an option wins in
 *    `sync` as on a command line). A flag set to no drops that flag where
 *    it stood before (a command line has no way to unset one).
 *  - The file may hold pass-cmd, which is run: a file that a group or
 *    other users can write, or that someone else owns, is refused, as ssh
 *    does with its config.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "lib/banned.h"

struct loader {
	const struct config_key *keys;
	size_t nkeys;
	struct config *cfg;
	struct config_channel defaults;
	char *prev_section;       /* to tell a channel defined twice */
	char why[512];            /* the first mistake; empty: none */
};

static void opt_add(struct config_channel *ch, const char *opt)
{
	ch->opt = mf_reallocarray(ch->opt, ch->nopt + 1, sizeof *ch->opt);
	ch->opt[ch->nopt++] = mf_strdup(opt);
}

static void channel_free(struct config_channel *ch)
{
	for (size_t i = 0; i < ch->nopt; i++)
		free(ch->opt[i]);
	free(ch->opt);
	free(ch->name);
	memset(ch, 0, sizeof *ch);
}

static int name_ok(const char *s)
{
	return *s && !s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789._@+-")];
}

/* "[ channel  work ]" -> "channel work" in out; 0 if too long. */
static int squeeze(const char *in, char *out, size_t outlen)
{
	size_t n = 0;
	int space = 0;
	for (; *in; in++) {
		if (*in == ' ' || *in == '\t') {
			space = n > 0;
			continue;
		}
		if (space && n + 1 < outlen)
			out[n++] = ' ';
		space = 0;
		if (n + 1 >= outlen)
			return 0;
		out[n++] = *in;
	}
	out[n] = 0;
	return 1;
}

/* The channel a key of `section` goes to (NULL and why set: a mistake). */
static struct config_channel *section_of(struct loader *l, const char *section)
{
	char sec[256];
	if (!squeeze(section, sec, sizeof sec)) {
		snprintf(l->why, sizeof l->why, "section name too long");
		return NULL;
	}
	int changed = !l->prev_section || strcmp(l->prev_section, sec) != 0;
	if (changed) {
		free(l->prev_section);
		l->prev_section = mf_strdup(sec);
	}
	if (!strcmp(sec, "defaults"))
		return &l->defaults;
	if (strncmp(sec, "channel ", 8) != 0) {
		snprintf(l->why, sizeof l->why, !*sec ? "a setting outside any section "
			 "([defaults] or [channel NAME])" : "unknown section [%.200s] "
			 "(expected [defaults] or [channel NAME])", sec);
		return NULL;
	}
	const char *name = sec + 8;
	if (!name_ok(name)) {
		snprintf(l->why, sizeof l->why, "bad channel name '%.200s' (letters, digits "
			 "and . _ @ + - only)", name);
		return NULL;
	}
	struct config_channel *hit = (struct config_channel *)config_find(l->cfg, name);
	if (hit && changed) {
		snprintf(l->why, sizeof l->why, "channel '%.200s' defined twice", name);
		return NULL;
	}
	if (hit)
		return hit;
	struct config *c = l->cfg;
	c->v = mf_reallocarray(c->v, c->n + 1, sizeof *c->v);
	memset(&c->v[c->n], 0, sizeof c->v[c->n]);
	c->v[c->n].name = mf_strdup(name);
	return &c->v[c->n++];
}

static const struct config_key *key_of(const struct loader *l, const char *name)
{
	for (size_t i = 0; i < l->nkeys; i++)
		if (!strcmp(l->keys[i].name, name))
			return &l->keys[i];
	return NULL;
}

/* yes/no: 1, 0, or -1 for anything else. */
static int yes_no(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -1;
}

/* A path a setting names must not depend on the directory mailferry is
 * started from (cron's is not the user's): absolute, or under ~/. */
static int path_ok(const char *key, const char *v)
{
	static const char *const paths[] = { "state", "pass-file", "local-pass-file", "ca-file" };
	int is_path = !strncmp(v, "maildir:", 8);
	if (is_path)
		v += 8;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		is_path |= !strcmp(key, paths[i]);
	return !is_path || v[0] == '/' || !strncmp(v, "~/", 2);
}

/* "--key=value" with a leading "~/" (also after "maildir:") under $HOME. */
static void value_opt(struct buf *o, const char *key, const char *v)
{
	buf_addf(o, "--%s=", key);
	const char *home = getenv("HOME");
	size_t pre = !strncmp(v, "maildir:", 8) ? 8 : 0;
	if (home && *home && !strncmp(v + pre, "~/", 2)) {
		buf_add(o, v, pre);
		buf_addf(o, "%s%s", home, v + pre + 1);
	} else {
		buf_addstr(o, v);
	}
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct loader *l = user;
	if (l->why[0])
		return 0; /* only the first mistake is told */
	struct config_channel *ch = section_of(l, section);
	if (!ch)
		return 0;
	if (!strcasecmp(name, "pass") || !strcasecmp(name, "password") ||
	    !strcasecmp(name, "local-pass")) {
		snprintf(l->why, sizeof l->why, "passwords are not kept in the config file: "
			 "use pass-cmd or pass-file");
		return 0;
	}
	const struct config_key *k = key_of(l, name);
	if (!k) {
		snprintf(l->why, sizeof l->why, "unknown setting '%.200s'", name);
		return 0;
	}
	struct buf o = BUF_INIT(8192);
	if (k->has_arg) {
		if (!*value)
			snprintf(l->why, sizeof l->why, "'%s' needs a value", k->name);
		else if (!path_ok(k->name, value))
			snprintf(l->why, sizeof l->why, "'%s' needs an absolute path or one "
				 "under ~/ (cron starts elsewhere)", k->name);
		else
			value_opt(&o, k->name, value);
	} else {
		int yn = yes_no(value);
		if (yn < 0)
			snprintf(l->why, sizeof l->why, "'%s' takes yes or no, not '%.200s'",
				 k->name, value);
		else /* "!--flag": undoes a yes before it (say from [defaults]) */
			buf_addf(&o, "%s--%s", yn ? "" : "!", k->name);
	}
	if (o.len)
		opt_add(ch, o.data);
	buf_release(&o);
	return !l->why[0];
}

/* Refuse a file someone else could have put a pass-cmd in. */
static int check_owner(FILE *f, const char *path, struct err *e)
{
	struct stat sb;
	if (fstat(fileno(f), &sb) < 0)
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return err_set(e, ERR_USAGE, "%s: not a regular file", path);
	if (sb.st_mode & (S_IWGRP | S_IWOTH))
		return err_set(e, ERR_PERM, "%s: writable by group or others; its pass-cmd "
			       "would run their command (chmod go-w)", path);
	if (sb.st_uid != geteuid() && sb.st_uid != 0)
		return err_set(e, ERR_PERM, "%s: owned by another user", path);
	return 0;
}

/* A pass-cmd line holding ';' after a blank: inih takes the rest for a
 * comment, and the shorter command would run without a word. */
static int cuts_command(const char *line)
{
	line += strspn(line, " \t");
	if (strncmp(line, "pass-cmd", 8) && strncmp(line, "local-pass-cmd", 14))
		return 0;
	return strstr(line, " ;") || strstr(line, "\t;");
}

/* inih reads a line into a fixed buffer (INI_MAX_LINE bytes) and would
 * take the rest of a longer line for a line of its own: refuse such a file
 * with the right line number instead. */
static int check_lines(FILE *f, const char *path, struct err *e)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int no = 0, rc = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		no++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n > INI_MAX_LINE - 2) {
			rc = err_set(e, ERR_USAGE, "%s:%d: line longer than %d characters (put a "
				     "long pass-cmd in a script)", path, no, INI_MAX_LINE - 2);
			break;
		}
		line[n] = 0;
		if (cuts_command(line)) {
			rc = err_set(e, ERR_USAGE, "%s:%d: ' ;' would start a comment and cut the "
				     "command short (put it in a script)", path, no);
			break;
		}
	}
	free(line);
	rewind(f);
	return rc;
}

/* Each "!--flag" removes the "--flag" entries before it, then itself. */
static void apply_noes(struct config_channel *ch)
{
	size_t n = 0;
	for (size_t i = 0; i < ch->nopt; i++) {
		char *o = ch->opt[i];
		if (o[0] != '!') {
			ch->opt[n++] = o;
			continue;
		}
		size_t m = 0;
		for (size_t k = 0; k < n; k++) {
			if (!strcmp(ch->opt[k], o + 1))
				free(ch->opt[k]);
			else
				ch->opt[m++] = ch->opt[k];
		}
		n = m;
		free(o);
	}
	ch->nopt = n;
}

/* Put the defaults in front of every channel's own options. */
static void apply_defaults(struct loader *l)
{
	for (size_t i = 0; i < l->cfg->n; i++) {
		struct config_channel *ch = &l->cfg->v[i];
		size_t n = l->defaults.nopt + ch->nopt;
		char **v = mf_calloc(n + 1, sizeof *v);
		for (size_t k = 0; k < l->defaults.nopt; k++)
			v[k] = mf_strdup(l->defaults.opt[k]);
		for (size_t k = 0; k < ch->nopt; k++)
			v[l->defaults.nopt + k] = ch->opt[k];
		free(ch->opt);
		ch->opt = v;
		ch->nopt = n;
		apply_noes(ch);
	}
}

int config_load(const char *path, const struct config_key *keys, size_t nkeys,
		struct config *cfg, struct err *e)
{
	memset(cfg, 0, sizeof *cfg);
	FILE *f = fopen(path, "re");
	if (!f)
		return err_set(e, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "%s: %s", path,
			       strerror(errno));
	if (check_owner(f, path, e) < 0 || check_lines(f, path, e) < 0) {
		fclose(f);
		return -1;
	}
	struct loader l = { .keys = keys, .nkeys = nkeys, .cfg = cfg };
	int line = ini_parse_file(f, on_key, &l);
	fclose(f);
	int rc = 0;
	if (line != 0) {
		rc = err_set(e, ERR_USAGE, "%s:%d: %s", path, line,
			     l.why[0] ? l.why : "not a setting (expected name = value)");
	} else {
		apply_defaults(&l);
	}
	channel_free(&l.defaults);
	free(l.prev_section);
	if (rc < 0)
		config_free(cfg);
	return rc;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n; i++)
		channel_free(&cfg->v[i]);
	free(cfg->v);
	memset(cfg, 0, sizeof *cfg);
}

const struct config_channel *config_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (!strcmp(cfg->v[i].name, name))
			return &cfg->v[i];
	return NULL;
}

int config_default_path(struct buf *out)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	buf_reset(out);
	if (xdg && *xdg == '/')
		return buf_addf(out, "%s/mailferry/config", xdg);
	if (home && *home)
		return buf_addf(out, "%s/.config/mailferry/config", home);
	return -1;
}
