/*
 * probe.c — `mailferry probe`: connect to an IMAP server, log in, and
 * describe it: greeting, capabilities before and after login, namespaces,
 * and every mailbox with its delimiter, special-use attribute and STATUS
 * figures, as an aligned table or as JSON (--json).
 *
 * Owns nothing beyond one run. Errors name the host, the step and the
 * server's words: "mailferry: probe: HOST: STEP: TEXT". Exit status: 0 ok,
 * 1 the server refused or failed (connection, TLS, login, a command),
 * 2 usage (bad arguments, no password, plaintext to a remote host).
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "imap/imap_client.h"
#include "imap/imap_store.h"
#include "password.h"
#include "store.h"
#include "url.h"
#include "lib/banned.h"

static const char usage_text[] =
	"usage: mailferry probe imap[s]://USER@HOST[:PORT] [options]\n"
	"\n"
	"Connect to an IMAP server, log in and describe it: the greeting, the\n"
	"capabilities before and after login, the namespaces, and every mailbox\n"
	"with its delimiter, special-use attribute and STATUS figures.\n"
	"\n"
	"  imap://USER@HOST[:PORT]   port 143, STARTTLS (required, never skipped;\n"
	"                            plaintext when HOST is a loopback address)\n"
	"  imaps://USER@HOST[:PORT]  port 993, TLS from the first byte\n"
	"  USER is percent-encoded when needed (me%40example.com); an IPv6\n"
	"  address goes in brackets: imap://me@[::1]:143\n"
	"\n"
	"options:\n"
	"  --json              print JSON instead of the table\n"
	"  --tls MODE          implicit, starttls or none (default: from the URL);\n"
	"                      none (plaintext) only for a loopback host\n"
	"  --ca-file FILE      trust the CAs in FILE (PEM) instead of the system store\n"
	"  --pass-cmd CMD      run CMD with /bin/sh -c; its first output line is the\n"
	"                      password\n"
	"  --pass-file FILE    the first line of FILE is the password (FILE must not\n"
	"                      be readable by others)\n"
	"  -v                  say what is being done (on stderr)\n"
	"  -vv                 also show the IMAP protocol trace, passwords redacted\n"
	"  -h, --help          this text\n"
	"\n"
	"Without --pass-cmd or --pass-file the password is read from the\n"
	"environment variable MAILFERRY_PASSWORD. There is no option to give it\n"
	"on the command line.\n"
	"\n"
	"exit status: 0 ok, 1 the server refused or failed, 2 usage error\n";

struct probe_opts {
	const char *url;
	int json;
	int verbose;
	const char *tls;
	const char *ca_file;
	const char *pass_cmd;
	const char *pass_file;
};

static void trace_line(void *ctx, char dir, const char *line, size_t len)
{
	(void)ctx;
	fprintf(stderr, "%s %.*s\n", dir == '>' ? "C:" : "S:", (int)len, line);
}

static void log_line(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "mailferry: probe: %s\n", msg);
}

static int fail(const char *host, const char *step, struct err *e)
{
	imap_store_step_error(e, host, step);
	fprintf(stderr, "mailferry: probe: %s\n", e->msg);
	return e->cls == ERR_USAGE ? 2 : 1;
}

static int parse_args(int argc, char **argv, struct probe_opts *o)
{
	enum { O_JSON = 256, O_TLS, O_CA, O_PCMD, O_PFILE };
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, O_JSON },
		{ "tls", required_argument, NULL, O_TLS },
		{ "ca-file", required_argument, NULL, O_CA },
		{ "pass-cmd", required_argument, NULL, O_PCMD },
		{ "pass-file", required_argument, NULL, O_PFILE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case O_JSON: o->json = 1; break;
		case O_TLS: o->tls = optarg; break;
		case O_CA: o->ca_file = optarg; break;
		case O_PCMD: o->pass_cmd = optarg; break;
		case O_PFILE: o->pass_file = optarg; break;
		case 'v': o->verbose++; break;
		case 'h': fputs(usage_text, stdout); return 1;
		default:
			if (optopt && optopt < 256)
				fprintf(stderr, "mailferry: probe: bad option '-%c'\n", optopt);
			else
				fprintf(stderr, "mailferry: probe: bad option '%s'\n",
					argv[optind - 1]);
			fputs("Run 'mailferry probe --help' for the options.\n", stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(optind >= argc ? "mailferry: probe: no URL given\n"
				     : "mailferry: probe: one URL expected\n", stderr);
		fputs("usage: mailferry probe imap[s]://USER@HOST[:PORT] [options]\n", stderr);
		return 2;
	}
	o->url = argv[optind];
	return 0;
}

/* ------------------------------------------------------------------ */
/* Presentation                                                         */

static const struct {
	unsigned bit;
	const char *name;
} attr_names[] = {
	{ BOX_NOSELECT, "\\Noselect" },       { BOX_NOINFERIORS, "\\Noinferiors" },
	{ BOX_HASCHILDREN, "\\HasChildren" }, { BOX_HASNOCHILDREN, "\\HasNoChildren" },
	{ BOX_NONEXISTENT, "\\NonExistent" }, { BOX_SUBSCRIBED, "\\Subscribed" },
	{ BOX_ALL, "\\All" },                 { BOX_ARCHIVE, "\\Archive" },
	{ BOX_DRAFTS, "\\Drafts" },           { BOX_FLAGGED, "\\Flagged" },
	{ BOX_JUNK, "\\Junk" },               { BOX_SENT, "\\Sent" },
	{ BOX_TRASH, "\\Trash" },             { BOX_IMPORTANT, "\\Important" },
};
#define NATTR (sizeof attr_names / sizeof attr_names[0])

static void special_use(unsigned attrs, char *out, size_t cap)
{
	out[0] = '\0';
	for (size_t i = 0; i < NATTR; i++) {
		if (!(attr_names[i].bit & BOX_SPECIAL_MASK) || !(attrs & attr_names[i].bit))
			continue;
		size_t l = strlen(out);
		snprintf(out + l, cap - l, "%s%s", l ? " " : "", attr_names[i].name);
	}
}

/* Terminal columns of a UTF-8 string: one per code point, two for the
 * wide East Asian blocks (enough for aligning mailbox names). */
static size_t display_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		uint32_t cp = *p;
		int len = 1;
		if (cp >= 0xf0) {
			cp &= 0x07;
			len = 4;
		} else if (cp >= 0xe0) {
			cp &= 0x0f;
			len = 3;
		} else if (cp >= 0xc0) {
			cp &= 0x1f;
			len = 2;
		}
		for (int i = 1; i < len && (p[i] & 0xc0) == 0x80; i++)
			cp = (cp << 6) | (p[i] & 0x3f);
		for (int i = 0; i < len && *p; i++)
			p++;
		int wide = (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
			   (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
			   (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
			   (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x20000 && cp <= 0x3fffd);
		w += wide ? 2 : 1;
	}
	return w;
}

static void print_padded(const char *s, size_t width)
{
	size_t w = display_width(s);
	fputs(s, stdout);
	for (; w < width; w++)
		putchar(' ');
}

static void print_caps(const char *label, const char *const *caps, size_t n)
{
	printf("%-26s", label);
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? " " : "", caps[i]);
	putchar('\n');
}

static void print_ns_group(const char *label, const struct imap_ns *v, size_t n)
{
	printf("  %-9s", label);
	if (n == 0)
		fputs(" (none)", stdout);
	for (size_t i = 0; i < n; i++) {
		if (v[i].delim)
			printf(" \"%s\" '%c'", v[i].prefix, v[i].delim);
		else
			printf(" \"%s\" NIL", v[i].prefix);
	}
	putchar('\n');
}

static void fmt_u64(char *out, size_t cap, int has, uint64_t v)
{
	if (has)
		snprintf(out, cap, "%" PRIu64, v);
	else
		snprintf(out, cap, "-");
}

static void print_table(const struct store_box *v, size_t n)
{
	static const char *const head[] = { "MAILBOX", "DELIM", "SPECIAL-USE", "MESSAGES",
					     "UNSEEN", "UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ" };
	enum { NCOL = 8 };
	size_t width[NCOL];
	char cell[NCOL][128];
	for (int c = 0; c < NCOL; c++)
		width[c] = strlen(head[c]);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			for (int c = 0; c < NCOL; c++) {
				if (c < 3)
					print_padded(head[c], width[c] + 2);
				else
					printf("%*s%s", (int)width[c], head[c], c < NCOL - 1 ? "  " : "");
			}
			putchar('\n');
		}
		for (size_t i = 0; i < n; i++) {
			const struct store_box *b = &v[i];
			int st = b->has_status;
			snprintf(cell[1], sizeof cell[1], b->delim ? "%c" : "NIL", b->delim);
			special_use(b->attrs, cell[2], sizeof cell[2]);
			fmt_u64(cell[3], sizeof cell[3], st, b->messages);
			fmt_u64(cell[4], sizeof cell[4], st, b->unseen);
			fmt_u64(cell[5], sizeof cell[5], st, b->uidvalidity);
			fmt_u64(cell[6], sizeof cell[6], st, b->uidnext);
			fmt_u64(cell[7], sizeof cell[7], st && b->highestmodseq, b->highestmodseq);
			if (pass == 0) {
				size_t w = display_width(b->name);
				width[0] = w > width[0] ? w : width[0];
				for (int c = 1; c < NCOL; c++)
					if (strlen(cell[c]) > width[c])
						width[c] = strlen(cell[c]);
				continue;
			}
			print_padded(b->name, width[0] + 2);
			print_padded(cell[1], width[1] + 2);
			print_padded(cell[2], width[2] + 2);
			for (int c = 3; c < NCOL; c++)
				printf("%*s%s", (int)width[c], cell[c], c < NCOL - 1 ? "  " : "");
			putchar('\n');
		}
	}
}

static json_t *json_caps(const char *const *caps, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(caps[i]));
	return a;
}

static json_t *json_ns(const struct imap_ns *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char d[2] = { v[i].delim, 0 };
		json_array_append_new(a, json_pack("{s:s, s:o}", "prefix", v[i].prefix,
						   "delimiter", v[i].delim ? json_string(d)
									   : json_null()));
	}
	return a;
}

static json_t *json_box(const struct store_box *b)
{
	char d[2] = { b->delim, 0 };
	json_t *o = json_object();
	json_t *attrs = json_array();
	json_t *su = json_null();
	for (size_t i = 0; i < NATTR; i++) {
		if (!(b->attrs & attr_names[i].bit))
			continue;
		json_array_append_new(attrs, json_string(attr_names[i].name));
		if ((attr_names[i].bit & BOX_SPECIAL_MASK) && json_is_null(su)) {
			json_decref(su);
			su = json_string(attr_names[i].name);
		}
	}
	json_object_set_new(o, "name", json_string(b->name));
	json_object_set_new(o, "delimiter", b->delim ? json_string(d) : json_null());
	json_object_set_new(o, "attributes", attrs);
	json_object_set_new(o, "special_use", su);
	if (b->has_status) {
		json_object_set_new(o, "messages", json_integer(b->messages));
		json_object_set_new(o, "unseen", json_integer(b->unseen));
		json_object_set_new(o, "uidvalidity", json_integer(b->uidvalidity));
		json_object_set_new(o, "uidnext", json_integer(b->uidnext));
		json_object_set_new(o, "highestmodseq", b->highestmodseq
				    ? json_integer((json_int_t)b->highestmodseq) : json_null());
	} else {
		json_object_set_new(o, "status", json_null());
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* The run                                                              */

struct probe_run {
	const struct probe_opts *o;
	struct imap_url url;
	enum url_tls tls;
	char port[8];
	char *pass;
	struct imap_client *c;
	struct store *s;
	char **caps_pre;          /* capabilities seen before login */
	size_t ncaps_pre;
	struct imap_namespace ns;
	int have_ns;
	struct store_box *boxes;
	size_t nboxes;
};

static int connect_and_login(struct probe_run *r, struct err *e)
{
	static const enum imap_tls_mode modes[] = {
		[URL_TLS_IMPLICIT] = IMAP_TLS_IMPLICIT,
		[URL_TLS_STARTTLS] = IMAP_TLS_STARTTLS,
		[URL_TLS_NONE] = IMAP_TLS_NONE,
	};
	struct imap_client_opts co = { 0 };
	co.host = r->url.host;
	co.port = r->port;
	co.tls = modes[r->tls];
	co.ca_file = r->o->ca_file;
	if (r->o->verbose >= 2) {
		co.trace = trace_line;
		co.log = log_line;
	}
	if (r->o->verbose)
		fprintf(stderr, "mailferry: probe: connecting to %s port %s (%s)\n", r->url.host,
			r->port, url_tls_name(r->tls));
	if (imap_client_connect(&co, &r->c, e) < 0)
		return fail(r->url.host, "connect", e);
	size_t n;
	const char *const *caps = imap_client_caps(r->c, &n);
	r->caps_pre = mf_calloc(n + 1, sizeof *r->caps_pre);
	for (size_t i = 0; i < n; i++)
		r->caps_pre[i] = mf_strdup(caps[i]);
	r->ncaps_pre = n;
	if (imap_client_state(r->c) != IMAP_STATE_NOT_AUTHENTICATED)
		return 0; /* PREAUTH */
	if (r->o->verbose)
		fprintf(stderr, "mailferry: probe: logging in as %s\n", r->url.user);
	if (imap_auth(r->c, r->url.user, r->pass, e) < 0)
		return fail(r->url.host, "login", e);
	return 0;
}

/* INBOX first, then by name (bytewise, so "Work" precedes "Work/x"). */
static int cmp_box(const void *a, const void *b)
{
	const struct store_box *x = a, *y = b;
	int xi = !strcmp(x->name, "INBOX"), yi = !strcmp(y->name, "INBOX");
	if (xi != yi)
		return yi - xi;
	return strcmp(x->name, y->name);
}

static int gather(struct probe_run *r, struct err *e)
{
	if (imap_client_has_cap(r->c, "NAMESPACE")) {
		if (imap_namespace(r->c, &r->ns, e) < 0)
			return fail(r->url.host, "namespace", e);
		r->have_ns = 1;
	}
	char label[600];
	snprintf(label, sizeof label, "imap://%s@%s", r->url.user, r->url.host);
	if (imap_store_from_client(r->c, label, IMAP_STORE_WANT_UNSEEN, &r->s, e) < 0)
		return fail(r->url.host, "list", e);
	r->c = NULL; /* the store owns it now */
	if (r->o->verbose)
		fprintf(stderr, "mailferry: probe: listing mailboxes\n");
	if (r->s->ops->list_boxes(r->s, &r->boxes, &r->nboxes, e) < 0)
		return fail(r->url.host, "list", e);
	qsort(r->boxes, r->nboxes, sizeof *r->boxes, cmp_box);
	return 0;
}

static void report_text(struct probe_run *r)
{
	struct imap_client *c = imap_store_client(r->s);
	size_t n;
	const char *const *caps;
	printf("%-26s%s:%s (%s)\n", "server", r->url.host, r->port, url_tls_name(r->tls));
	if (imap_client_is_tls(c))
		printf("%-26s%s\n", "tls", "yes");
	printf("%-26s%s\n", "greeting", imap_client_greeting(c));
	print_caps("capabilities before login", (const char *const *)r->caps_pre, r->ncaps_pre);
	caps = imap_client_caps(c, &n);
	print_caps("capabilities after login", caps, n);
	if (r->have_ns) {
		puts("namespaces");
		print_ns_group("personal", r->ns.personal, r->ns.npersonal);
		print_ns_group("other", r->ns.other, r->ns.nother);
		print_ns_group("shared", r->ns.shared, r->ns.nshared);
	} else {
		printf("%-26s%s\n", "namespaces", "(NAMESPACE not offered)");
	}
	putchar('\n');
	print_table(r->boxes, r->nboxes);
}

static void report_json(struct probe_run *r)
{
	struct imap_client *c = imap_store_client(r->s);
	size_t n;
	const char *const *caps;
	json_t *root = json_object();
	json_object_set_new(root, "host", json_string(r->url.host));
	json_object_set_new(root, "port", json_integer(url_port(&r->url, r->tls)));
	json_object_set_new(root, "user", json_string(r->url.user));
	json_object_set_new(root, "tls", json_string(url_tls_name(r->tls)));
	json_object_set_new(root, "greeting", json_string(imap_client_greeting(c)));
	json_object_set_new(root, "capabilities_before_login",
			    json_caps((const char *const *)r->caps_pre, r->ncaps_pre));
	caps = imap_client_caps(c, &n);
	json_object_set_new(root, "capabilities_after_login", json_caps(caps, n));
	if (r->have_ns) {
		json_object_set_new(root, "namespaces",
				    json_pack("{s:o, s:o, s:o}",
					      "personal", json_ns(r->ns.personal, r->ns.npersonal),
					      "other", json_ns(r->ns.other, r->ns.nother),
					      "shared", json_ns(r->ns.shared, r->ns.nshared)));
	} else {
		json_object_set_new(root, "namespaces", json_null());
	}
	json_t *boxes = json_array();
	for (size_t i = 0; i < r->nboxes; i++)
		json_array_append_new(boxes, json_box(&r->boxes[i]));
	json_object_set_new(root, "mailboxes", boxes);
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text)
		puts(text);
	free(text);
	json_decref(root);
}

static void run_free(struct probe_run *r)
{
	store_boxes_free(r->boxes, r->nboxes);
	if (r->have_ns)
		imap_namespace_free(&r->ns);
	if (r->s)
		r->s->ops->close(r->s);
	if (r->c) {
		struct err ignored;
		if (imap_client_state(r->c) != IMAP_STATE_LOGOUT)
			imap_logout(r->c, &ignored);
		imap_client_free(&r->c);
	}
	for (size_t i = 0; i < r->ncaps_pre; i++)
		free(r->caps_pre[i]);
	free(r->caps_pre);
	password_free(&r->pass);
	url_free(&r->url);
}

int cmd_probe(int argc, char **argv)
{
	struct probe_opts o = { 0 };
	struct probe_run r;
	struct err e = { 0 };
	memset(&r, 0, sizeof r);
	r.o = &o;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc == 1 ? 0 : rc;
	enum url_tls asked = URL_TLS_DEFAULT;
	if (o.tls && url_tls_parse(o.tls, &asked) < 0) {
		fprintf(stderr, "mailferry: probe: bad --tls '%s' (implicit, starttls or none)\n",
			o.tls);
		return 2;
	}
	if (url_parse(o.url, &r.url, &e) < 0 || url_tls_resolve(&r.url, asked, &r.tls, &e) < 0) {
		fprintf(stderr, "mailferry: probe: %s\n", e.msg);
		url_free(&r.url);
		return 2;
	}
	snprintf(r.port, sizeof r.port, "%u", url_port(&r.url, r.tls));
	struct buf warn = BUF_INIT(4096);
	if (password_get(o.pass_cmd, o.pass_file, "MAILFERRY_PASSWORD", &r.pass, &warn, &e) < 0) {
		fprintf(stderr, "mailferry: probe: %s\n", e.msg);
		buf_release(&warn);
		url_free(&r.url);
		return e.cls == ERR_USAGE ? 2 : 1;
	}
	if (warn.len)
		fprintf(stderr, "mailferry: probe: warning: %s\n", warn.data);
	buf_release(&warn);
	rc = connect_and_login(&r, &e);
	password_free(&r.pass); /* not needed past login */
	if (rc == 0)
		rc = gather(&r, &e);
	if (rc == 0) {
		if (o.json)
			report_json(&r);
		else
			report_text(&r);
		if (fflush(stdout) != 0) {
			perror("mailferry: probe: writing the report");
			rc = 1;
		}
	}
	run_free(&r);
	return rc;
}
