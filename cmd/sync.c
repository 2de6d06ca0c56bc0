/*
 * sync.c — `mailferry sync`: one two-way sync of an IMAP account with a
 * Maildir (or a second IMAP account). Parses the command line, finds the
 * channel's journal under the state directory, obtains the passwords, and
 * hands the executor (sync/exec.h) a store opener it can call again to
 * reconnect. Prints progress on a terminal, errors always, a summary at the
 * end, and maps the outcome to the exit status documented in --help.
 *
 * Hidden test switches (environment, read here and passed down):
 *   MAILFERRY_TEST_STOP_AFTER=N        exit 86 right after journal step N
 *   MAILFERRY_TEST_KILL_AFTER_BYTES=N  SIGKILL self after N message bytes
 *   MAILFERRY_TEST_BATCH=N             copies per group commit (more steps)
 *   MAILFERRY_TEST_CRASH_AFTER_FLUSH=N exit 86 right after the N-th store flush,
 *                                      before the journal records what it made durable
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "exec.h"
#include "imap/imap_store.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "maildir/maildir_store.h"
#include "config.h"
#include "password.h"
#include "url.h"
#include "lib/banned.h"

#define EXIT_PARTIAL 1
#define EXIT_FAILED 2

static const char usage_text[] =
	"usage: mailferry sync --remote imap[s]://USER@HOST[:PORT] --local maildir:PATH\n"
	"                      [options]\n"
	"       mailferry sync [--config FILE] [options] CHANNEL... | --all\n"
	"\n"
	"Synchronizes every mailbox of the IMAP account with the Maildir, both ways:\n"
	"new messages are copied, flag and keyword changes merged, deletions propagated.\n"
	"\n"
	"Channels are named sets of these options in the config file (default\n"
	"$XDG_CONFIG_HOME/mailferry/config or ~/.config/mailferry/config):\n"
	"  [defaults]                      (optional: for every channel)\n"
	"  jobs = 4\n"
	"  [channel work]\n"
	"  remote = imaps://me@imap.example.org\n"
	"  local = maildir:~/Mail/work\n"
	"  pass-cmd = pass show work\n"
	"  exclude = Spam                  (repeatable options repeat; flags: pull = yes)\n"
	"Paths are absolute or under ~/. Options given on the command line apply to\n"
	"every channel named, after the file's. The file must not be writable by\n"
	"others, and holds no passwords.\n"
	"\n"
	"  --config FILE           the config file to read channels from\n"
	"  --all                   every channel in the config file, in its order\n"
	"  --remote URL            the IMAP account (imap:// STARTTLS, imaps:// implicit TLS;\n"
	"                          imap:// to a loopback address is plaintext by default)\n"
	"  --local SPEC            maildir:PATH, or imap[s]://USER@HOST for IMAP<->IMAP\n"
	"  --state DIR             where the journal lives (default\n"
	"                          $XDG_STATE_HOME/mailferry or ~/.local/state/mailferry)\n"
	"  --pass-cmd CMD          run CMD for the remote password (first output line)\n"
	"  --pass-file FILE        read the remote password from FILE\n"
	"                          (default: the MAILFERRY_PASSWORD variable)\n"
	"  --local-pass-cmd CMD    the same for a local IMAP account\n"
	"  --local-pass-file FILE  (default: MAILFERRY_LOCAL_PASSWORD)\n"
	"  --tls MODE              implicit, starttls or none (none: loopback only)\n"
	"  --auth MECH             auto (default: SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, the\n"
	"                          first the server offers, else LOGIN), scram-sha-256,\n"
	"                          scram-sha-1, plain, login, or oauthbearer / xoauth2\n"
	"                          (then the password is an OAuth2 access token, e.g.\n"
	"                          --pass-cmd 'mailferry-oauth2 token ...'; see the man\n"
	"                          page, OAUTH2)\n"
	"  --local-auth MECH       the same for a local IMAP account\n"
	"  --ca-file FILE          trust the CA certificates in FILE\n"
	"  --dry-run               print the plan and change nothing (-v: every action)\n"
	"  --pull                  only remote -> local\n"
	"  --push                  only local -> remote\n"
	"  --expunge SIDES         remote, local, both or none (default none): where\n"
	"                          messages deleted on the other side may be expunged\n"
	"  --remove SIDES          remote, local, both or none (default local): where a\n"
	"                          mailbox deleted on the other side (and fully synced)\n"
	"                          is deleted too; elsewhere it is re-created\n"
	"  --layout LAYOUT         verbatim (default: INBOX and Sub/Folder under PATH)\n"
	"                          or maildir++ (INBOX is PATH, folders are .Sub.Folder)\n"
	"  --fsync=off             no fsync (throwaway copies only)\n"
	"  --include PAT           sync only mailboxes matching PAT ('*' any, '%' one level);\n"
	"  --exclude PAT           skip mailboxes matching PAT; both repeatable\n"
	"  --max-size N            skip messages larger than N bytes (K, M, G suffixes)\n"
	"  --max-age DAYS          skip messages older than DAYS days\n"
	"  --jobs N                sync up to N mailboxes at once, each over its own\n"
	"                          connections (1 to 16, default 2)\n"
	"  -v, --verbose           more output (-vv: protocol trace, -vvv: with times)\n"
	"  -q, --quiet             errors only\n"
	"  --json                  print the summary as JSON on standard output\n"
	"  -h, --help              this text\n"
	"\n"
	"Exit status: 0 everything synced; 1 partly synced (some messages or mailboxes\n"
	"failed, see the errors; run again); 2 could not sync at all (usage, connection,\n"
	"authentication or journal error).\n";

struct side_spec {
	int is_imap;
	/* IMAP */
	struct imap_url url;
	enum imap_tls_mode tls;
	enum imap_auth_mech auth;
	const char *token_cmd; /* OAuth: run for every login (tokens expire) */
	char port[16];
	char *pass;
	/* Maildir */
	char *root;
	char *dry_root;  /* --dry-run on a Maildir that does not exist yet: an empty stand-in */
	struct maildir_opts mo;
	char *label;
};

struct sync_cli {
	struct side_spec side[2]; /* [SIDE_REMOTE], [SIDE_LOCAL] */
	const char *ca_file;
	int verbose;
	int quiet;
	int json;
	int progress; /* stderr is a terminal */
	char tag[160];       /* "mailferry" or "mailferry [CHANNEL]": starts messages */
};

/* ------------------------------------------------------------ output */

/* -vvv: trace lines start with the seconds since the first one and the
 * process (workers are processes), to see where a run's time goes. */
static void trace_stamp(const struct sync_cli *c)
{
	static double t0;
	if (c->verbose < 3)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double t = ts.tv_sec + ts.tv_nsec / 1e9;
	if (t0 == 0)
		t0 = t;
	fprintf(stderr, "%8.4f %d ", t - t0, (int)getpid());
}

static void log_cb(void *ctx, enum exec_level lvl, const char *msg)
{
	const struct sync_cli *c = ctx;
	switch (lvl) {
	case EXEC_LOG_ERROR:
		fprintf(stderr, "%s: error: %s\n", c->tag, msg);
		break;
	case EXEC_LOG_WARN: /* handled by itself: told on a terminal, quiet under cron */
		if (!c->quiet && (c->verbose || c->progress))
			fprintf(stderr, "mailferry: %s\n", msg);
		break;
	case EXEC_LOG_PLAN:
		printf("%s\n", msg);
		break;
	case EXEC_LOG_PROGRESS:
		if (!c->quiet && (c->verbose || c->progress)) {
			trace_stamp(c);
			fprintf(stderr, "%s\n", msg);
		}
		break;
	case EXEC_LOG_ACTION:
		if (c->verbose >= 1)
			fprintf(stderr, "%s\n", msg);
		break;
	case EXEC_LOG_TRACE:
		if (c->verbose >= 2) {
			trace_stamp(c);
			fprintf(stderr, "%s\n", msg);
		}
		break;
	}
}

static void trace_cb(void *ctx, char dir, const char *line, size_t len)
{
	trace_stamp(ctx);
	fprintf(stderr, "%c %.*s\n", dir, (int)len, line);
}

static void print_summary(FILE *f, const struct exec_stats *st, int dry)
{
	static const char *const names[2] = { "local -> remote", "remote -> local" };
	for (int s = SIDE_LOCAL; s >= SIDE_REMOTE; s--) {
		const struct exec_dir_stats *d = &st->dir[s];
		fprintf(f, "%s%s: %" PRIu64 " copied, %" PRIu64 " flags changed, %" PRIu64
			" marked deleted, %" PRIu64 " expunged, %" PRIu64 " skipped, %" PRIu64
			" errors, %" PRIu64 " bytes", dry ? "would sync " : "", names[s],
			d->copied, d->flags, d->marked_deleted, d->expunged, d->skipped, d->errors,
			d->bytes);
		if (d->boxes_created || d->boxes_deleted)
			fprintf(f, ", %" PRIu64 " mailboxes created, %" PRIu64 " deleted",
				d->boxes_created, d->boxes_deleted);
		fputc('\n', f);
	}
	fprintf(f, "%" PRIu64 " mailboxes", st->boxes);
	if (st->boxes_failed)
		fprintf(f, " (%" PRIu64 " failed)", st->boxes_failed);
	if (st->boxes_renamed)
		fprintf(f, ", %" PRIu64 " renamed", st->boxes_renamed);
	if (st->repaired)
		fprintf(f, ", %" PRIu64 " re-paired by content", st->repaired);
	if (st->recovered)
		fprintf(f, ", %" PRIu64 " recovered after a crash", st->recovered);
	if (st->reconnects)
		fprintf(f, ", %" PRIu64 " reconnects", st->reconnects);
	fprintf(f, ", %.2f s\n", st->seconds);
}

/* Named counters into a JSON object, as integers. */
static void json_counts(json_t *o, const char *const *names, const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, names[i], json_integer(v[i] > (uint64_t)LLONG_MAX ?
							   LLONG_MAX : (json_int_t)v[i]));
}

/* An error message as a JSON string. jansson takes UTF-8 only, and a
 * message may quote a server's bytes or end in a multi-byte character cut
 * by its bound: then every byte outside ASCII is shown as '?', rather
 * than "error" left out. */
static json_t *json_message(const char *msg)
{
	json_t *j = json_string(msg);
	if (j)
		return j;
	char ascii[sizeof ((struct err *)0)->msg];
	size_t i = 0;
	for (; msg[i] && i + 1 < sizeof ascii; i++)
		ascii[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
	ascii[i] = '\0';
	return json_string(ascii);
}

/* One JSON object on stdout: the result, the counts per direction and,
 * when the run failed, why (the message stderr also gets). */
static void print_json(const struct exec_stats *st, int result, const struct err *e,
		       const char *channel)
{
	static const char *const dirs[2] = { "push", "pull" };
	static const char *const run[] = { "mailboxes", "mailboxes_failed", "renamed",
					   "repaired", "recovered", "reconnects" };
	static const char *const dir[] = { "copied", "flags", "marked_deleted", "expunged",
					   "skipped", "errors", "bytes", "mailboxes_created",
					   "mailboxes_deleted" };
	json_t *o = json_object();
	if (channel)
		json_object_set_new(o, "channel", json_string(channel));
	json_object_set_new(o, "result", json_string(result == EXEC_OK ? "ok" :
						     result == EXEC_PARTIAL ? "partial" : "failed"));
	json_object_set_new(o, "seconds", json_real(st->seconds));
	const uint64_t rv[] = { st->boxes, st->boxes_failed, st->boxes_renamed,
				st->repaired, st->recovered, st->reconnects };
	json_counts(o, run, rv, sizeof rv / sizeof rv[0]);
	for (int s = 0; s < 2; s++) {
		const struct exec_dir_stats *d = &st->dir[s];
		const uint64_t dv[] = { d->copied, d->flags, d->marked_deleted, d->expunged,
					d->skipped, d->errors, d->bytes, d->boxes_created,
					d->boxes_deleted };
		json_t *x = json_object();
		json_counts(x, dir, dv, sizeof dv / sizeof dv[0]);
		json_object_set_new(o, dirs[s], x);
	}
	if (result == EXEC_FAILED)
		json_object_set_new(o, "error", json_message(e->msg));
	json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
			      JSON_REAL_PRECISION(4));
	fputc('\n', stdout);
	json_decref(o);
}

/* ------------------------------------------------------------ stores */

static int open_side(void *ctx, enum plan_side which, int cancel_fd, struct store **s_r,
		     struct err *e)
{
	struct sync_cli *c = ctx;
	struct side_spec *sp = &c->side[which];
	if (!sp->is_imap) {
		const char *root = sp->dry_root ? sp->dry_root : sp->root;
		if (maildir_store_open(root, &sp->mo, s_r, e) < 0) {
			err_prefix(e, "%s", sp->label);
			return -1;
		}
		return 0;
	}
	struct imap_store_opts o;
	memset(&o, 0, sizeof o);
	o.host = sp->url.host;
	o.port = sp->port;
	o.tls = sp->tls;
	o.ca_file = c->ca_file;
	o.user = sp->url.user;
	o.pass = sp->pass;
	o.auth_mech = sp->auth;
	char *token = NULL;
	if (sp->token_cmd) {
		/* an access token lasts about an hour, a migration longer: every
		 * login (a worker's, a reconnect) asks the command for a current one */
		if (password_get(sp->token_cmd, NULL, NULL, &token, NULL, e) < 0) {
			err_prefix(e, "%s: access token", sp->label);
			return -1;
		}
		o.pass = token;
	}
	o.cancel_fd = cancel_fd >= 0 ? &cancel_fd : NULL;
	if (c->verbose >= 2) {
		o.trace = trace_cb;
		o.trace_ctx = c;
	}
	int rc = imap_store_open(&o, s_r, e);
	password_free(&token);
	if (rc < 0)
		err_prefix(e, "%s", sp->label);
	return rc;
}

static int parse_imap_side(struct side_spec *sp, const char *spec, const char *tls_arg,
			   struct err *e)
{
	enum url_tls asked = URL_TLS_DEFAULT, mode;
	sp->is_imap = 1;
	if (url_parse(spec, &sp->url, e) < 0)
		return -1;
	if (tls_arg && url_tls_parse(tls_arg, &asked) < 0)
		return err_set(e, ERR_USAGE, "unknown TLS mode '%s'", tls_arg);
	if (url_tls_resolve(&sp->url, asked, &mode, e) < 0)
		return -1;
	sp->tls = mode == URL_TLS_IMPLICIT ? IMAP_TLS_IMPLICIT :
		  mode == URL_TLS_STARTTLS ? IMAP_TLS_STARTTLS : IMAP_TLS_NONE;
	snprintf(sp->port, sizeof sp->port, "%u", sp->url.port);
	struct buf l = BUF_INIT(4096);
	buf_addf(&l, "%s://%s@%s:%u", sp->url.imaps ? "imaps" : "imap", sp->url.user,
		 sp->url.host, sp->url.port);
	sp->label = buf_detach(&l, NULL);
	return 0;
}

static int parse_maildir_side(struct side_spec *sp, const char *path, struct err *e)
{
	if (!*path)
		return err_set(e, ERR_USAGE, "empty Maildir path");
	struct buf abs = BUF_INIT(PATH_MAX * 2);
	if (path[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof cwd))
			return err_sys(e, ERR_IO, "cannot get the current directory");
		buf_addf(&abs, "%s/", cwd);
	}
	buf_addstr(&abs, path);
	while (abs.len > 1 && abs.data[abs.len - 1] == '/')
		buf_truncate(&abs, abs.len - 1);
	sp->root = buf_detach(&abs, NULL);
	sp->mo.create = 1;
	sp->mo.delete_nonempty = 1; /* only when the planner found it fully synced */
	struct buf l = BUF_INIT(PATH_MAX * 2);
	buf_addf(&l, "maildir:%s", sp->root);
	sp->label = buf_detach(&l, NULL);
	return 0;
}

static void side_free(struct side_spec *sp)
{
	url_free(&sp->url);
	if (sp->pass)
		password_free(&sp->pass);
	free(sp->root);
	if (sp->dry_root) {
		struct buf cmd = BUF_INIT(8192);
		/* our own mkdtemp directory, holding only an empty Maildir */
		buf_addf(&cmd, "rm -rf -- '%s'", sp->dry_root);
		if (system(cmd.data) != 0)
			fprintf(stderr, "mailferry: cannot remove '%s'\n", sp->dry_root);
		buf_release(&cmd);
		free(sp->dry_root);
	}
	free(sp->label);
}

/* ------------------------------------------------------------ state */

static int mkdirs(const char *path, struct err *e)
{
	struct buf p = BUF_INIT(PATH_MAX * 2);
	buf_addstr(&p, path);
	for (size_t i = 1; i <= p.len; i++) {
		if (p.data[i] != '/' && p.data[i] != '\0')
			continue;
		char c = p.data[i];
		p.data[i] = '\0';
		if (mkdir(p.data, 0700) < 0 && errno != EEXIST) {
			err_sys(e, ERR_IO, "cannot create '%s'", p.data);
			buf_release(&p);
			return -1;
		}
		p.data[i] = c;
	}
	buf_release(&p);
	return 0;
}

/* FNV-1a: names the channel's journal after its two stores. */
static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static int journal_path(const char *state, const struct sync_cli *c, int dry, struct buf *out,
			struct err *e)
{
	struct buf dir = BUF_INIT(PATH_MAX * 2);
	if (state) {
		buf_addstr(&dir, state);
	} else {
		const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
		if (xdg && *xdg == '/')
			buf_addf(&dir, "%s/mailferry", xdg);
		else if (home && *home)
			buf_addf(&dir, "%s/.local/state/mailferry", home);
		else
			return err_set(e, ERR_USAGE, "no --state given and HOME is not set");
	}
	int rc = dry ? 0 : mkdirs(dir.data, e); /* a dry run creates nothing */
	if (rc == 0) {
		uint64_t h = fnv1a(c->side[SIDE_REMOTE].label, 14695981039346656037ULL);
		h = fnv1a("\n", h);
		h = fnv1a(c->side[SIDE_LOCAL].label, h);
		buf_addf(out, "%s/channel-%016" PRIx64 ".db", dir.data, h);
	}
	buf_release(&dir);
	return rc;
}

/* ------------------------------------------------------------ options */

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': n <<= 10; end++; break;
	case 'm': case 'M': n <<= 20; end++; break;
	case 'g': case 'G': n <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*v = n;
	return 0;
}

static unsigned long long env_num(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 10) : 0;
}

enum {
	OPT_REMOTE = 256, OPT_LOCAL, OPT_STATE, OPT_PASS_CMD, OPT_PASS_FILE, OPT_LPASS_CMD,
	OPT_LPASS_FILE, OPT_TLS, OPT_CA, OPT_DRY, OPT_PULL, OPT_PUSH, OPT_EXPUNGE, OPT_LAYOUT,
	OPT_FSYNC, OPT_INCLUDE, OPT_EXCLUDE, OPT_MAX_SIZE, OPT_MAX_AGE, OPT_JSON, OPT_REMOVE,
	OPT_JOBS, OPT_CONFIG, OPT_ALL, OPT_AUTH, OPT_LAUTH,
};

static const struct option longopts[] = {
	{ "remote", required_argument, NULL, OPT_REMOTE },
	{ "local", required_argument, NULL, OPT_LOCAL },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "pass-cmd", required_argument, NULL, OPT_PASS_CMD },
	{ "pass-file", required_argument, NULL, OPT_PASS_FILE },
	{ "local-pass-cmd", required_argument, NULL, OPT_LPASS_CMD },
	{ "local-pass-file", required_argument, NULL, OPT_LPASS_FILE },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "local-auth", required_argument, NULL, OPT_LAUTH },
	{ "ca-file", required_argument, NULL, OPT_CA },
	{ "dry-run", no_argument, NULL, OPT_DRY },
	{ "pull", no_argument, NULL, OPT_PULL },
	{ "push", no_argument, NULL, OPT_PUSH },
	{ "expunge", required_argument, NULL, OPT_EXPUNGE },
	{ "remove", required_argument, NULL, OPT_REMOVE },
	{ "layout", required_argument, NULL, OPT_LAYOUT },
	{ "fsync", required_argument, NULL, OPT_FSYNC },
	{ "include", required_argument, NULL, OPT_INCLUDE },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "max-age", required_argument, NULL, OPT_MAX_AGE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "jobs", required_argument, NULL, OPT_JOBS },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *remote, *local, *state, *tls;
	const char *pass_cmd, *pass_file, *lpass_cmd, *lpass_file, *auth, *lauth;
	int pull, push, fsync_off;
	const char *remove;
	enum maildir_layout layout;
	const char **inc, **exc;
	size_t ninc, nexc;
	const char *config;  /* --config FILE */
	int all;             /* --all: every channel of the config file */
	char **names;        /* channels named on the command line */
	int nnames;
	int nopts;           /* argv[1 .. nopts] are options (getopt moved them first) */
};

/* The channel being run (NULL: none), for usage errors. */
static const char *usage_channel;

static int usage_error(const char *fmt, const char *arg)
{
	fputs("mailferry sync: ", stderr);
	if (usage_channel)
		fprintf(stderr, "channel '%s': ", usage_channel);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'mailferry sync --help'.\n", stderr);
	return EXIT_FAILED;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct args *a, struct exec_opts *o,
		      struct sync_cli *c)
{
	int ch;
	optind = 0; /* glibc: start afresh, argv may be a new one */
	while ((ch = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_REMOTE: a->remote = optarg; break;
		case OPT_LOCAL: a->local = optarg; break;
		case OPT_STATE: a->state = optarg; break;
		case OPT_PASS_CMD: a->pass_cmd = optarg; break;
		case OPT_PASS_FILE: a->pass_file = optarg; break;
		case OPT_LPASS_CMD: a->lpass_cmd = optarg; break;
		case OPT_LPASS_FILE: a->lpass_file = optarg; break;
		case OPT_TLS: a->tls = optarg; break;
		case OPT_AUTH: a->auth = optarg; break;
		case OPT_LAUTH: a->lauth = optarg; break;
		case OPT_CA: c->ca_file = optarg; break;
		case OPT_DRY: o->dry_run = 1; break;
		case OPT_PULL: a->pull = 1; break;
		case OPT_PUSH: a->push = 1; break;
		case OPT_REMOVE:
			if (strcmp(optarg, "none") && strcmp(optarg, "remote") &&
			    strcmp(optarg, "local") && strcmp(optarg, "both"))
				return usage_error("--remove takes remote, local, both or none, not '%s'",
						   optarg);
			a->remove = optarg;
			break;
		case OPT_JSON: c->json = 1; break;
		case OPT_CONFIG: a->config = optarg; break;
		case OPT_ALL: a->all = 1; break;
		case 'v': c->verbose++; break;
		case 'q': c->quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case OPT_EXPUNGE:
			if (!strcmp(optarg, "none"))
				o->plan.expunge = EXPUNGE_NONE;
			else if (!strcmp(optarg, "remote"))
				o->plan.expunge = EXPUNGE_REMOTE;
			else if (!strcmp(optarg, "local"))
				o->plan.expunge = EXPUNGE_LOCAL;
			else if (!strcmp(optarg, "both"))
				o->plan.expunge = EXPUNGE_BOTH;
			else
				return usage_error("--expunge takes remote, local, both or none, not '%s'",
						   optarg);
			break;
		case OPT_LAYOUT:
			if (!strcasecmp(optarg, "maildir++") || !strcasecmp(optarg, "maildirpp"))
				a->layout = MAILDIR_LAYOUT_MAILDIRPP;
			else if (!strcasecmp(optarg, "verbatim"))
				a->layout = MAILDIR_LAYOUT_VERBATIM;
			else
				return usage_error("unknown layout '%s' (verbatim or maildir++)", optarg);
			break;
		case OPT_FSYNC:
			if (!strcmp(optarg, "off"))
				a->fsync_off = 1;
			else if (!strcmp(optarg, "on"))
				a->fsync_off = 0;
			else
				return usage_error("--fsync takes on or off, not '%s'", optarg);
			break;
		case OPT_INCLUDE:
			a->inc = mf_reallocarray(a->inc, a->ninc + 1, sizeof *a->inc);
			a->inc[a->ninc++] = optarg;
			break;
		case OPT_EXCLUDE:
			a->exc = mf_reallocarray(a->exc, a->nexc + 1, sizeof *a->exc);
			a->exc[a->nexc++] = optarg;
			break;
		case OPT_MAX_SIZE:
			if (parse_size(optarg, &o->plan.max_size) < 0)
				return usage_error("bad size '%s'", optarg);
			break;
		case OPT_JOBS: {
			uint64_t n;
			if (parse_size(optarg, &n) < 0 || n < 1 || n > 16 || strspn(optarg, "0123456789")
			    != strlen(optarg))
				return usage_error("--jobs takes a number from 1 to 16, not '%s'", optarg);
			o->jobs = (unsigned)n;
			break;
		}
		case OPT_MAX_AGE: {
			uint64_t days;
			if (parse_size(optarg, &days) < 0 || days > 1000000)
				return usage_error("bad number of days '%s'", optarg);
			o->plan.max_age = (int64_t)days * 86400;
			break;
		}
		default:
			return usage_error("%s", "unknown option");
		}
	}
	a->nopts = optind - 1;
	a->names = argv + optind;
	a->nnames = argc - optind;
	return -1;
}

static int setup_side(struct sync_cli *c, int which, const char *spec, const struct args *a,
		      const char *pcmd, const char *pfile, const char *penv, const char *auth,
		      struct err *e)
{
	struct side_spec *sp = &c->side[which];
	if (!strncmp(spec, "maildir:", 8)) {
		if (which == SIDE_REMOTE)
			return err_set(e, ERR_USAGE, "--remote must be an imap:// or imaps:// URL");
		if (parse_maildir_side(sp, spec + 8, e) < 0)
			return -1;
		sp->mo.layout = a->layout;
		sp->mo.fsync_off = a->fsync_off;
		return 0;
	}
	if (strncmp(spec, "imap://", 7) && strncmp(spec, "imaps://", 8))
		return err_set(e, ERR_USAGE, "'%s' is neither maildir:PATH nor an imap[s]:// URL",
			       spec);
	if (parse_imap_side(sp, spec, a->tls, e) < 0)
		return -1;
	if (auth && imap_auth_mech_parse(auth, &sp->auth) < 0)
		return err_set(e, ERR_USAGE, "unknown authentication mechanism '%s' (auto, "
			       "scram-sha-256, scram-sha-1, plain, login, oauthbearer or xoauth2)",
			       auth);
	if (pcmd && (sp->auth == IMAP_AUTH_OAUTHBEARER || sp->auth == IMAP_AUTH_XOAUTH2))
		sp->token_cmd = pcmd; /* asked once here too: a broken command stops the run now */
	struct buf warn = BUF_INIT(4096);
	int rc = password_get(pcmd, pfile, penv, &sp->pass, &warn, e);
	if (warn.len && !c->quiet)
		fprintf(stderr, "mailferry: %s\n", warn.data);
	buf_release(&warn);
	if (rc < 0)
		err_prefix(e, "password for %s", sp->label);
	return rc;
}

/* One channel: the options in argv (from the command line, or a config
 * file's channel followed by the command line's options). */
static int sync_one(int argc, char **argv, const char *channel)
{
	struct sync_cli c;
	struct args a;
	struct exec_opts o;
	struct exec_stats st;
	struct err e;
	struct buf jpath = BUF_INIT(PATH_MAX * 2);
	int status = EXIT_FAILED;

	memset(&c, 0, sizeof c);
	memset(&a, 0, sizeof a);
	memset(&o, 0, sizeof o);
	memset(&st, 0, sizeof st);
	err_clear(&e);
	usage_channel = channel;
	snprintf(c.tag, sizeof c.tag, channel ? "mailferry [%.100s]" : "mailferry", channel);
	int r = parse_args(argc, argv, &a, &o, &c);
	if (r < 0 && a.nnames > 0)
		r = usage_error("unexpected argument '%s'", a.names[0]);
	else if (r < 0 && (!a.remote || !a.local))
		r = usage_error("%s", channel ? "remote and local are required" :
				"--remote and --local are required (or channel names, or --all)");
	if (r >= 0) {
		status = r;
		goto out;
	}
	c.progress = isatty(STDERR_FILENO);
	if (setup_side(&c, SIDE_REMOTE, a.remote, &a, a.pass_cmd, a.pass_file,
		       "MAILFERRY_PASSWORD", a.auth, &e) < 0 ||
	    setup_side(&c, SIDE_LOCAL, a.local, &a, a.lpass_cmd, a.lpass_file,
		       "MAILFERRY_LOCAL_PASSWORD", a.lauth, &e) < 0 ||
	    journal_path(a.state, &c, o.dry_run, &jpath, &e) < 0) {
		fprintf(stderr, "%s sync: %s\n", c.tag, e.msg);
		goto out;
	}

	if (o.dry_run && !c.side[SIDE_LOCAL].is_imap) {
		/* A dry run creates nothing, not even the Maildir root: a missing
		 * one is planned as an empty one. */
		struct side_spec *sp = &c.side[SIDE_LOCAL];
		struct stat sb;
		sp->mo.create = 0;
		if (stat(sp->root, &sb) < 0 && errno == ENOENT) {
			const char *tmp = getenv("TMPDIR");
			struct buf d = BUF_INIT(PATH_MAX);
			buf_addf(&d, "%s/mailferry-dry.XXXXXX", tmp && *tmp ? tmp : "/tmp");
			if (!mkdtemp(d.data)) {
				fprintf(stderr, "mailferry sync: cannot create a temporary directory\n");
				buf_release(&d);
				goto out;
			}
			sp->dry_root = buf_detach(&d, NULL);
			sp->mo.create = 1;
		}
	}
	o.plan.pull = !a.push || a.pull;
	o.plan.push = !a.pull || a.push;
	o.plan.create_remote = o.plan.push;
	o.plan.create_local = o.plan.pull;
	/* Deleting server mailboxes is opt-in: a Maildir that vanished (an
	 * unmounted disk) must not empty the account. */
	const char *rm = a.remove ? a.remove : "local";
	o.plan.remove_remote = o.plan.push && (!strcmp(rm, "remote") || !strcmp(rm, "both"));
	o.plan.remove_local = o.plan.pull && (!strcmp(rm, "local") || !strcmp(rm, "both"));
	o.plan.now = (int64_t)time(NULL);
	o.plan.include = a.inc;
	o.plan.ninclude = a.ninc;
	o.plan.exclude = a.exc;
	o.plan.nexclude = a.nexc;
	o.verbose = c.verbose;
	o.stop_after = env_num("MAILFERRY_TEST_STOP_AFTER");
	o.kill_after_bytes = env_num("MAILFERRY_TEST_KILL_AFTER_BYTES");
	o.batch_msgs = (unsigned)env_num("MAILFERRY_TEST_BATCH");
	o.crash_after_flush = env_num("MAILFERRY_TEST_CRASH_AFTER_FLUSH");
	if (!o.jobs)
		o.jobs = MF_SYNC_JOBS;
	o.log = log_cb;
	o.log_ctx = &c;

	/* where the summary goes (and a channel's name first) */
	FILE *sf = c.json ? NULL : o.dry_run ? stdout :
		   !c.quiet && (c.verbose || c.progress) ? stderr : NULL;
	if (sf && channel) {
		fprintf(sf, "[%s]\n", channel);
		fflush(sf);
	}
	int res = exec_sync(jpath.data, open_side, &c, &o, &st, &e);
	if (res == EXEC_FAILED)
		fprintf(stderr, "%s: %s\n", c.tag, e.msg);
	if (c.json)
		print_json(&st, res, &e, channel);
	if (sf)
		print_summary(sf, &st, o.dry_run);
	status = res == EXEC_OK ? 0 : res == EXEC_PARTIAL ? EXIT_PARTIAL : EXIT_FAILED;
out:
	side_free(&c.side[0]);
	side_free(&c.side[1]);
	free(a.inc);
	free(a.exc);
	buf_release(&jpath);
	usage_channel = NULL;
	return status;
}

/* ------------------------------------------------------------ channels */

/* What a config file may set: the long options, less those that belong to
 * one invocation (output, a dry run) or select channels. */
static size_t config_keys(struct config_key *k, size_t max)
{
	static const char *const cli_only[] = { "help", "verbose", "quiet", "json", "dry-run",
						"config", "all" };
	size_t n = 0;
	for (const struct option *o = longopts; o->name && n < max; o++) {
		int skip = 0;
		for (size_t i = 0; i < sizeof cli_only / sizeof cli_only[0]; i++)
			skip |= !strcmp(o->name, cli_only[i]);
		if (!skip) {
			k[n].name = o->name;
			k[n].has_arg = o->has_arg == required_argument;
			n++;
		}
	}
	return n;
}

/* Run one channel: its options, then the command line's (which win). */
static int run_channel(const struct config_channel *ch, char **argv, int nopts)
{
	size_t n = 1 + ch->nopt + (size_t)nopts;
	char **v = mf_calloc(n + 1, sizeof *v);
	v[0] = argv[0];
	for (size_t i = 0; i < ch->nopt; i++)
		v[1 + i] = ch->opt[i];
	for (int i = 0; i < nopts; i++)
		v[1 + ch->nopt + (size_t)i] = argv[1 + i];
	int st = sync_one((int)n, v, ch->name);
	free(v);
	return st;
}

/* `sync NAME...` or `sync --all`: each channel in turn, in the order asked
 * (--all: the file's); the exit status is the worst of theirs. */
static int sync_channels(char **argv, const struct args *a)
{
	struct config_key keys[64];
	size_t nkeys = config_keys(keys, sizeof keys / sizeof keys[0]);
	struct buf path = BUF_INIT(PATH_MAX);
	struct config cfg;
	struct err e;
	int worst = EXIT_FAILED;
	if (a->remote || a->local) {
		worst = usage_error("%s", "--remote and --local do not go with channel names or --all");
		goto out;
	}
	if (a->config)
		buf_addstr(&path, a->config);
	else if (config_default_path(&path) < 0) {
		worst = usage_error("%s", "no config file: set HOME or XDG_CONFIG_HOME, or use --config");
		goto out;
	}
	if (config_load(path.data, keys, nkeys, &cfg, &e) < 0) {
		fprintf(stderr, "mailferry sync: config %s\n", e.msg);
		goto out;
	}
	for (int i = 0; i < a->nnames; i++)
		if (!config_find(&cfg, a->names[i])) {
			fprintf(stderr, "mailferry sync: no channel '%s' in %s\n", a->names[i], path.data);
			goto done;
		}
	if (a->all && !cfg.n) {
		fprintf(stderr, "mailferry sync: no channels in %s\n", path.data);
		goto done;
	}
	worst = 0;
	size_t n = a->all ? cfg.n : (size_t)a->nnames;
	for (size_t i = 0; i < n; i++) {
		const struct config_channel *ch = a->all ? &cfg.v[i] : config_find(&cfg, a->names[i]);
		int st = run_channel(ch, argv, a->nopts);
		if (st > worst)
			worst = st;
	}
done:
	config_free(&cfg);
out:
	buf_release(&path);
	return worst;
}

int cmd_sync(int argc, char **argv)
{
	struct sync_cli c;
	struct args a;
	struct exec_opts o;
	memset(&c, 0, sizeof c);
	memset(&a, 0, sizeof a);
	memset(&o, 0, sizeof o);
	/* a first look: --help, a bad option, or channels to run */
	int r = parse_args(argc, argv, &a, &o, &c);
	free(a.inc);
	free(a.exc);
	if (r >= 0)
		return r;
	if (!a.nnames && !a.all) {
		if (a.config)
			return usage_error("%s", "--config needs channel names or --all");
		return sync_one(argc, argv, NULL);
	}
	return sync_channels(argv, &a);
}
