/*
 * oauth2.c — mailferry-oauth2, the OAuth 2.0 helper: gets a refresh token
 * once by the device authorization grant (RFC 8628) and then prints a
 * fresh access token each time it is run, for
 *   mailferry sync --auth xoauth2 --pass-cmd 'mailferry-oauth2 token ...'
 *
 * It owns the token file: the refresh token, the last access token and its
 * expiry, mode 0600, replaced whole (tmp, fsync, rename) so that a server
 * that rotates refresh tokens never leaves the only valid one unwritten.
 * A separate program so that mailferry itself does not load libcurl and its
 * dependencies on every run (start-up time counts at cron frequency).
 *
 * HTTPS with certificate and host name verification; plain http only to a
 * loopback address (a local test server), as for IMAP.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/banned.h"

#define RESPONSE_MAX (256 << 10)
#define REFRESH_MARGIN 300 /* an access token with less left is refreshed */

struct opts {
	const char *device_url, *token_url, *client_id, *secret_file, *scope, *token_file;
	const char *ca_file;
	int quiet;
};

struct tokens {
	char *refresh, *access;
	long long expires; /* epoch seconds; 0 unknown */
};

static const char usage_text[] =
	"usage: mailferry-oauth2 login --device-url URL --token-url URL --client-id ID\n"
	"                              [--client-secret-file FILE] [--scope SCOPE]\n"
	"                              --token-file FILE [--ca-file FILE]\n"
	"       mailferry-oauth2 token --token-url URL --client-id ID\n"
	"                              [--client-secret-file FILE] --token-file FILE\n"
	"                              [--ca-file FILE]\n"
	"\n"
	"login asks the provider for a device code, prints where to enter it, waits\n"
	"until it is approved and keeps the refresh token in FILE (mode 0600).\n"
	"token prints an access token: the one kept in FILE while it has more than\n"
	"5 minutes left, else a fresh one got with the refresh token (and FILE is\n"
	"rewritten, with the provider's new refresh token if it sent one). Use it as\n"
	"  mailferry sync --auth xoauth2 --pass-cmd 'mailferry-oauth2 token ...'\n"
	"URLs must be https:// (http:// only to a loopback address).\n"
	"Exit status: 0 done; 1 the provider refused (run login again); 2 any other\n"
	"error.\n";

static void tokens_free(struct tokens *t)
{
	if (t->refresh)
		memset(t->refresh, 0, strlen(t->refresh));
	if (t->access)
		memset(t->access, 0, strlen(t->access));
	free(t->refresh);
	free(t->access);
	memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------ HTTP */

static int url_ok(const char *url)
{
	static const char *const loopback[] = { "http://127.0.0.1", "http://localhost",
						"http://[::1]" };
	if (!strncmp(url, "https://", 8))
		return 1;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(loopback[i]);
		if (!strncmp(url, loopback[i], n) && strchr(":/", url[n]) && url[n])
			return 1;
	}
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	return buf_add(ctx, p, size * n) < 0 ? 0 : size * n;
}

/* POST form to url; the response body (JSON) and HTTP status. */
static int post(const struct opts *o, const char *url, const char *form, json_t **json_r,
		long *status_r, struct err *e)
{
	*json_r = NULL;
	if (!url_ok(url))
		return err_set(e, ERR_USAGE, "%s: not an https:// URL (http:// only to loopback)",
			       url);
	CURL *h = curl_easy_init();
	if (!h)
		return err_set(e, ERR_TEMP, "cannot start libcurl");
	struct buf body = BUF_INIT(RESPONSE_MAX);
	char cerr[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 20L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (o->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/json");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status_r);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		buf_release(&body);
		return err_set(e, rc == CURLE_PEER_FAILED_VERIFICATION ? ERR_TLS : ERR_TEMP,
			       "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
	}
	json_error_t je;
	*json_r = json_loadb(body.data, body.len, 0, &je);
	buf_release(&body);
	if (!*json_r || !json_is_object(*json_r)) {
		json_decref(*json_r);
		*json_r = NULL;
		return err_set(e, ERR_PROTO, "%s: HTTP %ld, the answer is not a JSON object", url,
			       *status_r);
	}
	return 0;
}

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

/* The provider's "error" (and description), printable, for messages. */
static void describe_error(json_t *j, char *out, size_t cap)
{
	const char *err = jstr(j, "error"), *d = jstr(j, "error_description");
	snprintf(out, cap, "%s%s%s", err ? err : "no error code", d ? ": " : "", d ? d : "");
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

/* "k=v&k=v" with each value escaped; NULL values are left out. */
static char *form(const char *const *kv)
{
	struct buf b = BUF_INIT(64 << 10);
	for (size_t i = 0; kv[i]; i += 2) {
		if (!kv[i + 1])
			continue;
		char *v = curl_easy_escape(NULL, kv[i + 1], 0);
		buf_addf(&b, "%s%s=%s", b.len ? "&" : "", kv[i], v ? v : "");
		curl_free(v);
	}
	return buf_detach(&b, NULL);
}

/* ------------------------------------------------------------ files */

/* A file only its owner may read (it holds a secret); NULL with e set. */
static FILE *open_private(const char *path, const char *what, struct err *e)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		err_sys(e, ERR_IO, "%s %s", what, path);
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		fclose(f);
		err_set(e, ERR_USAGE, "%s %s: readable by others (mode %03o): chmod 600 it", what,
			path, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	return f;
}

static int read_secret_file(const char *path, char **out, struct err *e)
{
	FILE *f = open_private(path, "client secret file", e);
	if (!f)
		return -1;
	char line[8192];
	int got = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	if (!got)
		return err_set(e, ERR_USAGE, "client secret file %s: empty", path);
	line[strcspn(line, "\r\n")] = 0;
	*out = mf_strdup(line);
	memset(line, 0, sizeof line);
	return 0;
}

static int tokens_load(const char *path, struct tokens *t, struct err *e)
{
	memset(t, 0, sizeof *t);
	FILE *f = open_private(path, "token file", e);
	if (!f) {
		if (e->cls == ERR_IO)
			err_prefix(e, "run mailferry-oauth2 login first");
		return -1;
	}
	char line[16384];
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!strncmp(line, "refresh_token=", 14))
			t->refresh = mf_strdup(line + 14);
		else if (!strncmp(line, "access_token=", 13))
			t->access = mf_strdup(line + 13);
		else if (!strncmp(line, "expires=", 8))
			t->expires = strtoll(line + 8, NULL, 10);
	}
	memset(line, 0, sizeof line);
	fclose(f);
	if (!t->refresh || !*t->refresh) {
		tokens_free(t);
		return err_set(e, ERR_USAGE, "token file %s holds no refresh token", path);
	}
	return 0;
}

/* The whole file anew: tmp in the same directory, fsync, rename, fsync dir. */
static int tokens_save(const char *path, const struct tokens *t, struct err *e)
{
	struct buf tmp = BUF_INIT(8192), dir = BUF_INIT(8192);
	buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	const char *slash = strrchr(path, '/');
	buf_add(&dir, slash ? path : ".", slash ? (size_t)(slash - path) + (slash == path) : 1);
	int rc = -1;
	int fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_sys(e, ERR_IO, "%s", tmp.data);
		goto out;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		err_sys(e, ERR_IO, "%s", tmp.data);
		goto out;
	}
	fprintf(f, "# mailferry-oauth2 token file: keep it private\n"
		   "refresh_token=%s\naccess_token=%s\nexpires=%lld\n",
		t->refresh, t->access ? t->access : "", t->expires);
	int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
	bad = (fclose(f) != 0) || bad;
	if (bad || rename(tmp.data, path) != 0) {
		err_sys(e, ERR_IO, "writing %s", path);
		unlink(tmp.data);
		goto out;
	}
	int dfd = open(dir.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	buf_release(&tmp);
	buf_release(&dir);
	return rc;
}

/* ------------------------------------------------------------ grants */

/* Take access (and maybe new refresh) token from a token response. */
static int take_tokens(json_t *j, struct tokens *t, const char *url, struct err *e)
{
	const char *at = jstr(j, "access_token"), *rt = jstr(j, "refresh_token");
	if (!at || !*at || strchr(at, '\n'))
		return err_set(e, ERR_PROTO, "%s: no access_token in the answer", url);
	free(t->access);
	t->access = mf_strdup(at);
	if (rt && *rt && !strchr(rt, '\n')) {
		free(t->refresh);
		t->refresh = mf_strdup(rt);
	}
	json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
	t->expires = exp > 0 ? (long long)time(NULL) + exp : 0;
	return 0;
}

static int client_secret(const struct opts *o, char **secret, struct err *e)
{
	*secret = NULL;
	return o->secret_file ? read_secret_file(o->secret_file, secret, e) : 0;
}

/* One token command at a time per token file: two that refresh at once
 * would both spend the same refresh token, and with rotation the second
 * is refused (mailferry's parallel logins each run the command). Held
 * until the process exits. */
static int lock_tokens(const char *path, struct err *e)
{
	struct buf l = BUF_INIT(8192);
	buf_addf(&l, "%s.lock", path);
	int fd = open(l.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int rc = fd < 0 || flock(fd, LOCK_EX) < 0 ? err_sys(e, ERR_IO, "%s", l.data) : 0;
	buf_release(&l);
	return rc; /* the descriptor stays open: the lock lasts the run */
}

static int cmd_token(const struct opts *o, struct err *e)
{
	struct tokens t;
	if (lock_tokens(o->token_file, e) < 0 || tokens_load(o->token_file, &t, e) < 0)
		return 2;
	if (t.access && *t.access && t.expires > (long long)time(NULL) + REFRESH_MARGIN) {
		printf("%s\n", t.access);
		tokens_free(&t);
		return 0;
	}
	char *secret;
	if (client_secret(o, &secret, e) < 0) {
		tokens_free(&t);
		return 2;
	}
	const char *kv[] = { "grant_type", "refresh_token", "refresh_token", t.refresh,
			     "client_id", o->client_id, "client_secret", secret, NULL };
	char *body = form(kv);
	json_t *j;
	long status = 0;
	int rc = 2;
	if (post(o, o->token_url, body, &j, &status, e) == 0) {
		if (status != 200) {
			char why[512];
			describe_error(j, why, sizeof why);
			err_set(e, ERR_AUTH, "%s: the refresh token was refused (HTTP %ld, %s): "
				"run mailferry-oauth2 login again", o->token_url, status, why);
			rc = 1;
		} else if (take_tokens(j, &t, o->token_url, e) == 0 &&
			   tokens_save(o->token_file, &t, e) == 0) {
			printf("%s\n", t.access);
			rc = 0;
		}
		json_decref(j);
	}
	memset(body, 0, strlen(body));
	free(body);
	if (secret)
		memset(secret, 0, strlen(secret));
	free(secret);
	tokens_free(&t);
	return rc;
}

/* Poll the token endpoint until the user approved (RFC 8628 3.4, 3.5). */
static int device_poll(const struct opts *o, const char *device_code, long interval,
		       long expires_in, const char *secret, struct tokens *t, struct err *e)
{
	const char *kv[] = { "grant_type", "urn:ietf:params:oauth:grant-type:device_code",
			     "device_code", device_code, "client_id", o->client_id,
			     "client_secret", secret, NULL };
	char *body = form(kv);
	time_t until = time(NULL) + (expires_in > 0 ? expires_in : 900);
	int rc = -1;
	while (time(NULL) < until) {
		sleep((unsigned)interval);
		json_t *j;
		long status = 0;
		if (post(o, o->token_url, body, &j, &status, e) < 0)
			break;
		const char *err = jstr(j, "error");
		if (status == 200) {
			rc = take_tokens(j, t, o->token_url, e);
			if (rc == 0 && (!t->refresh || !*t->refresh))
				rc = err_set(e, ERR_PROTO, "%s: no refresh_token in the answer "
					     "(does the scope ask for offline access?)", o->token_url);
		} else if (err && !strcmp(err, "authorization_pending")) {
			json_decref(j);
			continue;
		} else if (err && !strcmp(err, "slow_down")) {
			interval += 5;
			json_decref(j);
			continue;
		} else {
			char why[512];
			describe_error(j, why, sizeof why);
			err_set(e, ERR_AUTH, "%s: not authorized (HTTP %ld, %s)", o->token_url,
				status, why);
		}
		json_decref(j);
		break;
	}
	if (rc < 0 && time(NULL) >= until)
		err_set(e, ERR_AUTH, "the code expired before it was approved: run login again");
	free(body);
	return rc;
}

static int cmd_login(const struct opts *o, struct err *e)
{
	char *secret;
	if (client_secret(o, &secret, e) < 0)
		return 2;
	const char *kv[] = { "client_id", o->client_id, "client_secret", secret, "scope", o->scope,
			     NULL };
	char *body = form(kv);
	json_t *j = NULL;
	long status = 0;
	int rc = 2;
	struct tokens t = { 0 };
	if (post(o, o->device_url, body, &j, &status, e) < 0)
		goto out;
	const char *dc = jstr(j, "device_code"), *uc = jstr(j, "user_code");
	const char *uri = jstr(j, "verification_uri_complete");
	if (!uri)
		uri = jstr(j, "verification_uri");
	if (!uri)
		uri = jstr(j, "verification_url"); /* Google's spelling */
	if (status != 200 || !dc || !uc || !uri) {
		char why[512];
		describe_error(j, why, sizeof why);
		err_set(e, ERR_AUTH, "%s: no device code (HTTP %ld, %s)", o->device_url, status,
			why);
		rc = 1;
		goto out;
	}
	long interval = (long)json_integer_value(json_object_get(j, "interval"));
	long expires_in = (long)json_integer_value(json_object_get(j, "expires_in"));
	fprintf(stderr, "To let mailferry read your mail, open\n  %s\nand enter the code\n  %s\n"
		"Waiting for the approval...\n", uri, uc);
	if (device_poll(o, dc, interval > 0 ? interval : 5, expires_in, secret, &t, e) < 0) {
		rc = e->cls == ERR_AUTH ? 1 : 2;
		goto out;
	}
	if (tokens_save(o->token_file, &t, e) < 0)
		goto out;
	if (!o->quiet)
		fprintf(stderr, "Approved. The refresh token is in %s\n", o->token_file);
	rc = 0;
out:
	json_decref(j);
	free(body);
	if (secret)
		memset(secret, 0, strlen(secret));
	free(secret);
	tokens_free(&t);
	return rc;
}

/* ------------------------------------------------------------ main */

static int parse(int argc, char **argv, struct opts *o)
{
	enum { O_DEVICE = 256, O_TOKEN, O_ID, O_SECRET, O_SCOPE, O_FILE, O_CA };
	static const struct option lo[] = {
		{ "device-url", required_argument, NULL, O_DEVICE },
		{ "token-url", required_argument, NULL, O_TOKEN },
		{ "client-id", required_argument, NULL, O_ID },
		{ "client-secret-file", required_argument, NULL, O_SECRET },
		{ "scope", required_argument, NULL, O_SCOPE },
		{ "token-file", required_argument, NULL, O_FILE },
		{ "ca-file", required_argument, NULL, O_CA },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (ch) {
		case O_DEVICE: o->device_url = optarg; break;
		case O_TOKEN: o->token_url = optarg; break;
		case O_ID: o->client_id = optarg; break;
		case O_SECRET: o->secret_file = optarg; break;
		case O_SCOPE: o->scope = optarg; break;
		case O_FILE: o->token_file = optarg; break;
		case O_CA: o->ca_file = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mailferry-oauth2: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct err e;
	err_clear(&e);
	if (argc < 2 || (strcmp(argv[1], "login") && strcmp(argv[1], "token"))) {
		int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
		fputs(usage_text, help ? stdout : stderr);
		return help ? 0 : 2;
	}
	int login = !strcmp(argv[1], "login");
	int r = parse(argc - 1, argv + 1, &o);
	if (r >= 0)
		return r;
	if (!o.token_url || !o.client_id || !o.token_file || (login && !o.device_url)) {
		fprintf(stderr, "mailferry-oauth2 %s: --token-url, --client-id and --token-file "
			"are required%s\n", argv[1], login ? ", and --device-url" : "");
		return 2;
	}
	const char *bad = !url_ok(o.token_url) ? o.token_url
			  : login && !url_ok(o.device_url) ? o.device_url : NULL;
	if (bad) {
		fprintf(stderr, "mailferry-oauth2 %s: %s: not an https:// URL (http:// only to "
			"loopback)\n", argv[1], bad);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "mailferry-oauth2: cannot start libcurl\n");
		return 2;
	}
	int rc = login ? cmd_login(&o, &e) : cmd_token(&o, &e);
	if (rc != 0)
		fprintf(stderr, "mailferry-oauth2 %s: %s\n", argv[1], e.msg);
	curl_global_cleanup();
	return rc;
}
