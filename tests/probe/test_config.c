/*
 * test_config.c — the config file: channels turned into long options, and
 * every mistake named by file and line, table-driven. The file's owner and
 * mode are checked too (a file others may write runs their pass-cmd).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "testlib.h"

static const struct config_key keys[] = {
	{ "remote", 1 }, { "local", 1 }, { "pass-cmd", 1 }, { "exclude", 1 },
	{ "jobs", 1 }, { "pull", 0 }, { "state", 1 }, { "pass-file", 1 }, { "ca-file", 1 },
};

/* "local = maildir:/" and 181 more: a line of 198 characters, the most the
 * config reader takes */
#define X10 "xxxxxxxxxx"
#define LONG198 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 "x"

#define NKEYS (sizeof keys / sizeof keys[0])

/* A case: the file's text; then either the channels it gives, or the
 * start of the error text after the file's path. */
static const struct {
	const char *text;
	const char *want;   /* channels as "name:opt|opt;name:..." */
	const char *error;  /* NULL: must load */
} cases[] = {
	{ "[channel a]\nremote = imaps://u@h\nlocal = maildir:/m\n",
	  "a:--remote=imaps://u@h|--local=maildir:/m", NULL },
	/* defaults first, wherever they stand; repeats kept in order */
	{ "[channel a]\nexclude = X\n[defaults]\njobs = 4\nexclude = D\n[channel b]\npull = yes\n",
	  "a:--jobs=4|--exclude=D|--exclude=X;b:--jobs=4|--exclude=D|--pull", NULL },
	{ "# comment\n; comment\n\n[ channel   a ]\npull = no\nlocal = maildir:~/Mail\n",
	  "a:--local=maildir:/home/t/Mail", NULL },
	{ "[channel a]\npass-cmd = pass show x\n", "a:--pass-cmd=pass show x", NULL },
	/* no undoes a yes before it, from [defaults] too */
	{ "[defaults]\npull = yes\njobs = 2\n[channel a]\npull = no\n[channel b]\njobs = 3\n",
	  "a:--jobs=2;b:--pull|--jobs=2|--jobs=3", NULL },
	{ "[channel a]\npull = yes\npull = no\npull = yes\n", "a:--pull", NULL },
	/* paths that would depend on the directory mailferry starts in */
	{ "[channel a]\nstate = /s\npass-file = ~/p\nca-file = /c\nlocal = maildir:/m\n",
	  "a:--state=/s|--pass-file=/home/t/p|--ca-file=/c|--local=maildir:/m", NULL },
	{ "[channel a]\nlocal = maildir:Mail\n", NULL, ":2: 'local' needs an absolute path" },
	{ "[channel a]\npass-file = pw\n", NULL, ":2: 'pass-file' needs an absolute path" },
	{ "[defaults]\nstate = ./s\n", NULL, ":2: 'state' needs an absolute path" },
	/* inih would cut the command at " ;" (a comment) */
	{ "[channel a]\npass-cmd = gpg -d f; echo\njobs = 2 ; two\n",
	  "a:--pass-cmd=gpg -d f; echo|--jobs=2", NULL },
	{ "[channel a]\n  pass-cmd = gpg -d f ; echo\n", NULL, ":2: ' ;' would start a comment" },
	{ "[channel a.b-c@d]\npull = TRUE\n", "a.b-c@d:--pull", NULL },
	{ "", "", NULL },
	{ "remote = x\n", NULL, ":1: a setting outside any section" },
	{ "[channel a]\nremote = x\npassword = s\n", NULL, ":3: passwords are not kept" },
	{ "[channel a]\npass = s\n", NULL, ":2: passwords are not kept" },
	{ "[channel a]\nbogus = 1\n", NULL, ":2: unknown setting 'bogus'" },
	{ "[account a]\nremote = x\n", NULL, ":2: unknown section [account a]" },
	{ "[channel a/b]\nremote = x\n", NULL, ":2: bad channel name 'a/b'" },
	{ "[channel a]\nremote = x\n[channel b]\nremote = y\n[channel a]\nlocal = z\n",
	  NULL, ":6: channel 'a' defined twice" },
	{ "[channel a]\npull = maybe\n", NULL, ":2: 'pull' takes yes or no" },
	{ "[channel a]\nremote =\n", NULL, ":2: 'remote' needs a value" },
	{ "[channel a]\njust words\n", NULL, ":2: not a setting" },
	{ "[channel a]\nlocal = maildir:/" LONG198 "\n", "a:--local=maildir:/" LONG198, NULL },
	{ "[channel a]\n\nlocal = maildir:/" LONG198 "x\n", NULL, ":3: line longer than 198" },
};

/* The loaded channels in the `want` notation. */
static void render(const struct config *cfg, struct buf *out)
{
	for (size_t i = 0; i < cfg->n; i++) {
		buf_addf(out, "%s%s:", i ? ";" : "", cfg->v[i].name);
		for (size_t k = 0; k < cfg->v[i].nopt; k++)
			buf_addf(out, "%s%s", k ? "|" : "", cfg->v[i].opt[k]);
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	CHECK_INT(chmod(path, mode), 0);
}

int main(void)
{
	char dir[] = "/tmp/mf-test-config.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof path, "%s/config", dir);
	setenv("HOME", "/home/t", 1);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config cfg;
		struct err e = { 0 };
		write_file(path, cases[i].text, 0600);
		int rc = config_load(path, keys, sizeof keys / sizeof keys[0], &cfg, &e);
		if (cases[i].error) {
			CHECK_INT(rc, -1);
			CHECK_INT(e.cls, ERR_USAGE);
			const char *after = strstr(e.msg, path);
			CHECK(after != NULL);
			if (after && strncmp(after + strlen(path), cases[i].error,
					     strlen(cases[i].error)) != 0) {
				fprintf(stderr, "case %zu: got '%s', want '...%s'\n", i, e.msg,
					cases[i].error);
				CHECK(0);
			}
			CHECK_INT(cfg.n, 0);
			continue;
		}
		CHECK_INT(rc, 0);
		if (rc < 0) {
			fprintf(stderr, "case %zu: %s\n", i, e.msg);
			continue;
		}
		struct buf got = BUF_INIT(1 << 16);
		render(&cfg, &got);
		CHECK_STR(got.data, cases[i].want);
		buf_release(&got);
		if (cfg.n)
			CHECK(config_find(&cfg, cfg.v[0].name) == &cfg.v[0]);
		CHECK(config_find(&cfg, "nope") == NULL);
		config_free(&cfg);
	}

	/* who may have written it */
	struct config cfg;
	struct err e = { 0 };
	write_file(path, "[channel a]\npull = yes\n", 0620);
	CHECK_INT(config_load(path, keys, NKEYS, &cfg, &e), -1);
	CHECK_INT(e.cls, ERR_PERM);
	CHECK(strstr(e.msg, "writable by group or others") != NULL);
	write_file(path, "[channel a]\npull = yes\n", 0602);
	CHECK_INT(config_load(path, keys, NKEYS, &cfg, &e), -1);
	CHECK_INT(e.cls, ERR_PERM);
	write_file(path, "[channel a]\npull = yes\n", 0644); /* readable is fine */
	CHECK_INT(config_load(path, keys, NKEYS, &cfg, &e), 0);
	config_free(&cfg);
	unlink(path);
	CHECK_INT(config_load(path, keys, NKEYS, &cfg, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);
	CHECK_INT(config_load(dir, keys, 6, &cfg, &e), -1);

	/* the default place */
	struct buf p = BUF_INIT(4096);
	setenv("XDG_CONFIG_HOME", "/x/cfg", 1);
	CHECK_INT(config_default_path(&p), 0);
	CHECK_STR(p.data, "/x/cfg/mailferry/config");
	unsetenv("XDG_CONFIG_HOME");
	CHECK_INT(config_default_path(&p), 0);
	CHECK_STR(p.data, "/home/t/.config/mailferry/config");
	buf_release(&p);
	rmdir(dir);
	return test_done();
}
