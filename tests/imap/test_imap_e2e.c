/*
 * test_imap_e2e.c — the IMAP client (imap_client.h) against the real Dovecot
 * of the test fixture. One program, one scenario per argument, each a
 * separate meson test with its own users (prefixed "imap-<scenario>").
 * Exits 77 without the fixture.
 */
#include <ifaddrs.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap/imap_client.h"
#include "imap/imap_io.h"
#include "imap/imap_uidset.h"
#include "imap_testutil.h"
#include "lib/banned.h"

static struct fixture fx;

static int append_n(struct imap_client *c, const char *box, int i, const char *flags,
		    struct imap_uidmap *map, struct err *e);

/* ------------------------------------------------------------------ */

static void t_session(void)
{
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct trace_log tl = { BUF_INIT(64 << 20) };
	struct err e;
	size_t n;

	fixture_user(&fx, U("imap-session"));
	opts_init(&o, &fx, IMAP_TLS_NONE, "localhost");
	o.trace = trace_collect;
	o.trace_ctx = &tl;
	CHECK_OK(imap_client_connect(&o, &c, &e));
	if (!c)
		return;
	CHECK(strstr(imap_client_greeting(c), "ready") || strlen(imap_client_greeting(c)) > 0);
	CHECK_INT(imap_client_state(c), IMAP_STATE_NOT_AUTHENTICATED);
	CHECK(imap_client_has_cap(c, "IMAP4rev1"));
	CHECK(imap_client_is_loopback(c));
	CHECK(!imap_client_is_tls(c));
	CHECK_OK(imap_capability(c, &e));
	CHECK_OK(imap_noop(c, NULL, &e));

	/* Wrong state: refused before sending. */
	CHECK_FAIL(imap_select(c, "INBOX", NULL, &e), ERR_USAGE, "not allowed in state");
	CHECK(!strstr(tl.text.data, "SELECT"));
	CHECK_FAIL(imap_create(c, "x", NULL, &e), ERR_USAGE, "CREATE");

	/* Wrong password: ERR_AUTH naming the command. */
	CHECK_FAIL(imap_login(c, U("imap-session"), "wrong", &e), ERR_AUTH, "localhost: LOGIN: NO");
	CHECK_INT(imap_client_state(c), IMAP_STATE_NOT_AUTHENTICATED);

	CHECK_OK(imap_login(c, U("imap-session"), U("imap-session"), &e));
	CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);
	imap_client_caps_prelogin(c, &n);
	CHECK(n > 0);
	CHECK(imap_client_has_cap(c, "UIDPLUS")); /* post-login caps */
	CHECK_FAIL(imap_login(c, U("imap-session"), U("imap-session"), &e), ERR_USAGE, "LOGIN");

	struct imap_id id;
	const char *kv[] = { "name", "mailferry-test", "version", "1", NULL };
	CHECK_OK(imap_id(c, kv, &id, &e));
	CHECK(id.n > 0);
	int found = 0;
	for (size_t i = 0; i < id.n; i++)
		if (strcasecmp(id.keys[i], "name") == 0 && id.vals[i] && strstr(id.vals[i], "Dovecot"))
			found = 1;
	CHECK(found);
	imap_id_free(&id);

	struct imap_namespace ns;
	CHECK_OK(imap_namespace(c, &ns, &e));
	CHECK(ns.npersonal >= 1);
	if (ns.npersonal)
		CHECK_INT(ns.personal[0].delim, '/');
	imap_namespace_free(&ns);

	/* MYRIGHTS/GETACL only where ACL is advertised. */
	char *rights = NULL;
	if (imap_client_has_cap(c, "ACL")) {
		struct imap_acl acl;
		CHECK_OK(imap_myrights(c, "INBOX", &rights, &e));
		CHECK(rights && *rights);
		free(rights);
		CHECK_OK(imap_getacl(c, "INBOX", &acl, &e));
		imap_acl_free(&acl);
	} else {
		CHECK_FAIL(imap_myrights(c, "INBOX", &rights, &e), ERR_USAGE, "ACL");
		CHECK(!strstr(tl.text.data, "MYRIGHTS"));
	}

	CHECK_OK(imap_logout(c, &e));
	CHECK_INT(imap_client_state(c), IMAP_STATE_LOGOUT);
	CHECK(imap_noop(c, NULL, &e) < 0);
	imap_client_free(&c);
	buf_release(&tl.text);
}

/* ------------------------------------------------------------------ */

static void t_tls(void)
{
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct err e;

	fixture_user(&fx, U("imap-tls"));
	/* STARTTLS to localhost: verified. */
	opts_init(&o, &fx, IMAP_TLS_STARTTLS, "localhost");
	CHECK_OK(imap_client_connect(&o, &c, &e));
	if (c) {
		CHECK(imap_client_is_tls(c));
		CHECK(!imap_client_has_cap(c, "STARTTLS")); /* caps re-read after TLS */
		CHECK_OK(imap_authenticate_plain(c, NULL, U("imap-tls"), U("imap-tls"), &e));
		CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);
		CHECK_OK(imap_logout(c, &e));
		imap_client_free(&c);
	}
	/* Implicit TLS to localhost. */
	opts_init(&o, &fx, IMAP_TLS_IMPLICIT, "localhost");
	CHECK_OK(imap_client_connect(&o, &c, &e));
	if (c) {
		CHECK(imap_client_is_tls(c));
		CHECK_OK(imap_login(c, U("imap-tls"), U("imap-tls"), &e));
		CHECK_OK(imap_noop(c, NULL, &e));
		imap_client_free(&c);
	}
	/* Without the test CA the chain does not verify. */
	opts_init(&o, &fx, IMAP_TLS_IMPLICIT, "localhost");
	o.ca_file = NULL;
	CHECK_FAIL(imap_client_connect(&o, &c, &e), ERR_TLS, "certificate verification failed");
	CHECK(c == NULL);
	/* A missing CA file is a usage error. */
	o.ca_file = "/nonexistent/ca.pem";
	CHECK_FAIL(imap_client_connect(&o, &c, &e), ERR_USAGE, "/nonexistent/ca.pem");
}

static void t_tls_hostname(void)
{
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct err e;

	/* The certificate is for localhost only. */
	opts_init(&o, &fx, IMAP_TLS_IMPLICIT, "127.0.0.1");
	CHECK_FAIL(imap_client_connect(&o, &c, &e), ERR_TLS,
		   "127.0.0.1: certificate for 127.0.0.1 does not match: it is for localhost");
	CHECK(c == NULL);
	opts_init(&o, &fx, IMAP_TLS_STARTTLS, "127.0.0.1");
	CHECK_FAIL(imap_client_connect(&o, &c, &e), ERR_TLS, "it is for localhost");
	CHECK(c == NULL);
}

/* ------------------------------------------------------------------ */

static int first_non_loopback(char *out, size_t outlen)
{
	struct ifaddrs *ifa = NULL;
	int found = 0;

	if (getifaddrs(&ifa) < 0)
		return 0;
	for (struct ifaddrs *p = ifa; p && !found; p = p->ifa_next) {
		if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET)
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)p->ifa_addr)->sin_addr, out,
			  (socklen_t)outlen);
		if (!imap_io_ip_is_loopback(out))
			found = 1;
	}
	freeifaddrs(ifa);
	return found;
}

static void t_plaintext_policy(void)
{
	struct err e;
	static const struct {
		const char *ip;
		int loop;
	} ips[] = {
		{ "127.0.0.1", 1 }, { "127.1.2.3", 1 }, { "::1", 1 }, { "::ffff:127.0.0.1", 1 },
		{ "10.0.0.1", 0 },  { "192.168.1.1", 0 }, { "::2", 0 }, { "localhost", 0 },
		{ "", 0 },          { "128.0.0.1", 0 },
	};

	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++)
		CHECK_INT(imap_io_ip_is_loopback(ips[i].ip), ips[i].loop);
	CHECK_FAIL(imap_client_password_allowed("mail.example.com", 0, 0, &e), ERR_USAGE,
		   "mail.example.com: refusing to send a password");
	CHECK_OK(imap_client_password_allowed("mail.example.com", 1, 0, &e));
	CHECK_OK(imap_client_password_allowed("localhost", 0, 1, &e));

	/* End to end: Dovecot listens on 127.0.0.1 only, so a non-loopback
	 * address of this machine may not answer; if it does, LOGIN must be
	 * refused before it is sent. (test-imap-fake covers this against a
	 * listener on such an address.) */
	char ip[64];
	if (!first_non_loopback(ip, sizeof(ip))) {
		printf("no non-loopback address: end-to-end part skipped\n");
		return;
	}
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct trace_log tl = { BUF_INIT(64 << 20) };
	opts_init(&o, &fx, IMAP_TLS_NONE, ip);
	o.connect_timeout_ms = 2000;
	o.trace = trace_collect;
	o.trace_ctx = &tl;
	if (imap_client_connect(&o, &c, &e) < 0) {
		printf("%s: %s (expected: Dovecot listens on 127.0.0.1 only)\n", ip, e.msg);
		CHECK(e.cls == ERR_TEMP);
		CHECK(strstr(e.msg, ip) != NULL);
	} else {
		CHECK_FAIL(imap_login(c, "x", "secret", &e), ERR_USAGE, "refusing");
		CHECK_FAIL(imap_auth(c, "x", "secret", &e), ERR_USAGE, "refusing");
		CHECK(!strstr(tl.text.data, "LOGIN"));
		CHECK(!strstr(tl.text.data, "AUTHENTICATE"));
		imap_client_free(&c);
	}
	buf_release(&tl.text);
}

/* ------------------------------------------------------------------ */

static struct imap_box *find_box(struct imap_boxlist *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

static void t_mailboxes(void)
{
	struct err e;
	struct imap_client *c = login_as(&fx, U("imap-boxes"), IMAP_TLS_NONE, NULL);
	struct imap_boxlist l;
	struct imap_mbox_status st;
	const char *nonascii = "Entwürfe/Grüße & Co";

	CHECK_OK(imap_create(c, "Work", NULL, &e));
	CHECK_OK(imap_create(c, nonascii, NULL, &e));
	CHECK_FAIL(imap_create(c, "Work", NULL, &e), ERR_EXISTS, "CREATE \"Work\": NO [ALREADYEXISTS]");
	CHECK_OK(imap_list(c, "", "*", IMAP_LIST_SPECIAL_USE, IMAP_STATUS_ALL, &l, NULL, &e));
	struct imap_box *b = find_box(&l, nonascii);
	CHECK(b != NULL);
	if (b) {
		CHECK(!b->bad_name);
		CHECK_STR(b->raw_name, "Entw&APw-rfe/Gr&APwA3w-e &- Co");
		CHECK_INT(b->delim, '/');
		CHECK(b->has_status == imap_client_has_cap(c, "LIST-STATUS"));
	}
	CHECK(find_box(&l, "INBOX") != NULL);
	CHECK(find_box(&l, "Work") != NULL);
	imap_boxlist_free(&l);

	/* SPECIAL-USE attributes and LIST-STATUS figures. */
	CHECK_OK(imap_create(c, "Sent", NULL, &e));
	CHECK_OK(append_n(c, "Sent", 1, "\\Seen", NULL, &e));
	CHECK_OK(append_n(c, "Sent", 2, NULL, NULL, &e));
	CHECK_OK(imap_list(c, "", "*", IMAP_LIST_SPECIAL_USE, IMAP_STATUS_ALL, &l, NULL, &e));
	b = find_box(&l, "Sent");
	CHECK(b != NULL);
	if (b) {
		CHECK(b->attrs & BOX_SENT);
		CHECK(b->attrs_text && strstr(b->attrs_text, "\\Sent"));
		if (imap_client_has_cap(c, "LIST-STATUS")) {
			CHECK(b->has_status);
			CHECK_INT(b->status.messages, 2);
			CHECK_INT(b->status.unseen, 1);
			CHECK_INT(b->status.uidnext, 3);
			CHECK(b->status.uidvalidity != 0);
		}
	}
	imap_boxlist_free(&l);

	CHECK_OK(imap_subscribe(c, nonascii, NULL, &e));
	CHECK_OK(imap_lsub(c, "", "*", &l, NULL, &e));
	CHECK(find_box(&l, nonascii) != NULL);
	imap_boxlist_free(&l);
	CHECK_OK(imap_unsubscribe(c, nonascii, NULL, &e));
	CHECK_OK(imap_lsub(c, "", "*", &l, NULL, &e));
	CHECK(find_box(&l, nonascii) == NULL);
	imap_boxlist_free(&l);

	CHECK_OK(imap_status(c, nonascii, IMAP_STATUS_ALL, &st, NULL, &e));
	CHECK(st.items & IMAP_STATUS_UIDVALIDITY);
	CHECK_INT(st.messages, 0);
	CHECK(st.uidvalidity != 0);
	CHECK_INT(st.uidnext, 1);

	CHECK_OK(imap_rename(c, "Work", "Wörk", NULL, &e));
	CHECK_OK(imap_list(c, "", "W*", 0, 0, &l, NULL, &e));
	CHECK(find_box(&l, "Wörk") != NULL);
	CHECK(find_box(&l, "Work") == NULL);
	imap_boxlist_free(&l);
	CHECK_OK(imap_delete(c, "Wörk", NULL, &e));
	CHECK_FAIL(imap_delete(c, "Wörk", NULL, &e), ERR_NOTFOUND, "DELETE \"Wörk\": NO [NONEXISTENT]");
	CHECK_FAIL(imap_select(c, "Nope", NULL, &e), ERR_NOTFOUND, "localhost: SELECT \"Nope\": NO");
	CHECK_FAIL(imap_status(c, "Nope", IMAP_STATUS_ALL, &st, NULL, &e), ERR_NOTFOUND,
		   "STATUS \"Nope\"");
	/* Invalid UTF-8 is refused before sending. */
	CHECK_FAIL(imap_create(c, "bad\xff", NULL, &e), ERR_USAGE, "mailbox name");

	/* Selected-state commands refused in authenticated state. */
	CHECK_FAIL(imap_expunge(c, NULL, &e), ERR_USAGE, "EXPUNGE: not allowed");
	CHECK_OK(imap_logout(c, &e));
	imap_client_free(&c);
}

/* ------------------------------------------------------------------ */

struct fetched {
	uint32_t uids[16];
	struct flagset flags[16];
	uint64_t sizes[16];
	int64_t idates[16];
	char bodies[16][256];
	size_t n;
};

static int on_fetch(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		    struct err *e)
{
	struct fetched *fd = ctx;

	(void)r;
	(void)e;
	if (fd->n >= 16 || !(f->present & (IMAP_FETCH_FLAGS | IMAP_FETCH_BODY)))
		return 0; /* CONDSTORE: UID MODSEQ only, even for .SILENT */
	fd->uids[fd->n] = f->uid;
	flagset_copy(&fd->flags[fd->n], &f->flags);
	fd->sizes[fd->n] = f->rfc822_size;
	fd->idates[fd->n] = (f->present & IMAP_FETCH_IDATE) ? (int64_t)f->internaldate : -1;
	if (f->body)
		snprintf(fd->bodies[fd->n], sizeof(fd->bodies[0]), "%.*s", (int)f->body_len, f->body);
	fd->n++;
	return 0;
}

static void fetched_free(struct fetched *fd)
{
	for (size_t i = 0; i < fd->n; i++)
		flagset_free(&fd->flags[i]);
	memset(fd, 0, sizeof(*fd));
}

static const char *msg_text(int i)
{
	static char m[256];
	snprintf(m, sizeof(m),
		 "From: a@example.com\r\nTo: b@example.com\r\nSubject: test %d\r\n"
		 "Message-ID: <m%d@test>\r\n\r\nbody %d\r\n", i, i, i);
	return m;
}

static int append_n(struct imap_client *c, const char *box, int i, const char *flags,
		    struct imap_uidmap *map, struct err *e)
{
	const char *m = msg_text(i);
	struct imap_append_msg am = { .flags = flags, .idate = 1700000000 + i,
				      .src = { .size = strlen(m), .data = m } };
	return imap_append(c, box, &am, map, NULL, e);
}

static void t_messages(void)
{
	struct err e;
	struct trace_log tl = { BUF_INIT(64 << 20) };
	struct imap_client *c = login_as(&fx, U("imap-msgs"), IMAP_TLS_NONE, &tl);
	struct imap_uidmap map;
	struct fetched fd = { 0 };
	struct imap_fetch_handler h = { .msg = on_fetch, .ctx = &fd };

	CHECK_FAIL(append_n(c, "Missing", 0, NULL, &map, &e), ERR_TRYCREATE, "APPEND \"Missing\"");
	CHECK_OK(imap_create(c, "Archive", NULL, &e));
	CHECK_OK(append_n(c, "INBOX", 1, "\\Seen $Work", &map, &e));
	CHECK(map.uidvalidity != 0);
	CHECK_STR(map.dst_uids, "1");
	imap_uidmap_free(&map);
	CHECK(strstr(tl.text.data, "+}") != NULL); /* LITERAL+ used */

	/* MULTIAPPEND */
	const char *m2 = mf_strdup(msg_text(2)), *m3 = mf_strdup(msg_text(3));
	struct imap_append_msg v[2] = {
		{ .flags = "\\Flagged", .idate = -1, .src = { .size = strlen(m2), .data = m2 } },
		{ .flags = NULL, .idate = 1600000000, .src = { .size = strlen(m3), .data = m3 } },
	};
	if (imap_client_has_cap(c, "MULTIAPPEND")) {
		CHECK_OK(imap_multiappend(c, "INBOX", v, 2, &map, NULL, &e));
		CHECK_STR(map.dst_uids, "2:3");
		imap_uidmap_free(&map);
	} else {
		CHECK_OK(imap_append(c, "INBOX", &v[0], NULL, NULL, &e));
		CHECK_OK(imap_append(c, "INBOX", &v[1], NULL, NULL, &e));
	}
	free((void *)m2);
	free((void *)m3);

	struct imap_select_opts so = { .condstore = imap_client_has_cap(c, "CONDSTORE") };
	CHECK_OK(imap_select(c, "INBOX", &so, &e));
	CHECK_INT(imap_client_state(c), IMAP_STATE_SELECTED);
	const struct imap_mailbox *mb = imap_client_mailbox(c);
	CHECK_INT(mb->exists, 3);
	CHECK_INT(mb->uidnext, 4);
	CHECK(mb->uidvalidity != 0);
	CHECK(!mb->read_only);
	CHECK(mb->permanentflags && strstr(mb->permanentflags, "\\Seen"));
	CHECK(mb->flags && strstr(mb->flags, "\\Flagged"));
	if (so.condstore)
		CHECK(mb->highestmodseq > 0);
	CHECK_STR(mb->name, "INBOX");

	CHECK_OK(imap_uid_fetch(c, "1:*", "UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[]", 0, 0,
				&h, NULL, &e));
	CHECK_INT(fd.n, 3);
	CHECK_INT(fd.uids[0], 1);
	CHECK(fd.flags[0].sys & MF_SEEN);
	CHECK(flagset_has_kw(&fd.flags[0], "$Work"));
	CHECK(fd.flags[1].sys & MF_FLAGGED);
	CHECK_INT(fd.sizes[0], strlen(msg_text(1)));
	CHECK_INT(fd.idates[0], 1700000001);
	CHECK_INT(fd.idates[2], 1600000000);
	CHECK_STR(fd.bodies[2], msg_text(3));
	fetched_free(&fd);

	/* STORE: +FLAGS answers with FETCH, .SILENT does not. */
	CHECK_OK(imap_uid_store(c, "2", IMAP_STORE_ADD, "\\Answered $Junk", 0, 0, &h, NULL, NULL,
				&e));
	CHECK_INT(fd.n, 1);
	CHECK(fd.flags[0].sys & MF_ANSWERED);
	CHECK(flagset_has_kw(&fd.flags[0], "$Junk"));
	fetched_free(&fd);
	CHECK_OK(imap_uid_store(c, "2", IMAP_STORE_REMOVE, "$Junk", 1, 0, &h, NULL, NULL, &e));
	CHECK_INT(fd.n, 0);
	CHECK_OK(imap_uid_store(c, "3", IMAP_STORE_SET, "\\Deleted", 1, 0, NULL, NULL, NULL, &e));
	if (so.condstore) {
		char *modified = NULL;
		/* UNCHANGEDSINCE 1 is older than every message's modseq: MODIFIED. */
		CHECK_OK(imap_uid_store(c, "1", IMAP_STORE_ADD, "\\Draft", 1, 1, NULL, &modified,
					NULL, &e));
		CHECK_STR(modified, "1");
		free(modified);
	}
	CHECK_OK(imap_uid_fetch(c, "1:3", "FLAGS", 0, 0, &h, NULL, &e));
	CHECK_INT(fd.n, 3);
	CHECK(!(fd.flags[1].sys & MF_SEEN) && (fd.flags[1].sys & MF_ANSWERED));
	CHECK(!flagset_has_kw(&fd.flags[1], "$Junk"));
	CHECK_INT(fd.flags[2].sys, MF_DELETED);
	fetched_free(&fd);

	uint32_t *uids = NULL;
	size_t n = 0;
	CHECK_OK(imap_uid_search(c, "UNDELETED", &uids, &n, NULL, &e));
	CHECK_INT(n, 2);
	if (n == 2)
		CHECK(uids[0] == 1 && uids[1] == 2);
	free(uids);
	CHECK_OK(imap_uid_search(c, "KEYWORD nothing", &uids, &n, NULL, &e));
	CHECK_INT(n, 0);
	free(uids);
	if (imap_client_has_cap(c, "ESEARCH")) {
		struct imap_esearch es;
		CHECK_OK(imap_uid_esearch(c, "ALL", &es, NULL, &e));
		CHECK_INT(es.count, 3);
		CHECK_INT(es.min, 1);
		CHECK_INT(es.max, 3);
		imap_esearch_free(&es);
	}

	CHECK_OK(imap_uid_copy(c, "1:2", "Archive", &map, NULL, &e));
	CHECK(map.uidvalidity != 0);
	CHECK_STR(map.src_uids, "1:2");
	CHECK_STR(map.dst_uids, "1:2");
	imap_uidmap_free(&map);
	CHECK_FAIL(imap_uid_copy(c, "1", "Nowhere", &map, NULL, &e), ERR_TRYCREATE, "UID COPY 1");
	CHECK(imap_client_has_cap(c, "MOVE"));
	CHECK_OK(imap_uid_move(c, "1", "Archive", &map, NULL, &e));
	CHECK_STR(map.src_uids, "1");
	CHECK_STR(map.dst_uids, "3");
	imap_uidmap_free(&map);
	CHECK_INT(imap_client_mailbox(c)->exists, 2); /* the moved one expunged */

	CHECK_OK(imap_check(c, NULL, &e));
	CHECK_OK(imap_uid_expunge(c, "3", NULL, &e));
	CHECK_INT(imap_client_mailbox(c)->exists, 1);
	CHECK_OK(imap_uid_store(c, "2", IMAP_STORE_ADD, "\\Deleted", 1, 0, NULL, NULL, NULL, &e));
	CHECK_OK(imap_expunge(c, NULL, &e));
	CHECK_INT(imap_client_mailbox(c)->exists, 0);
	CHECK_OK(imap_close(c, &e));
	CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);
	CHECK_FAIL(imap_uid_fetch(c, "1", "FLAGS", 0, 0, NULL, NULL, &e), ERR_USAGE,
		   "UID FETCH 1: not allowed in state authenticated");

	CHECK_OK(imap_examine(c, "Archive", &e));
	CHECK(imap_client_mailbox(c)->read_only);
	CHECK_INT(imap_client_mailbox(c)->exists, 3);
	CHECK_OK(imap_unselect(c, &e));
	CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);
	/* A failed SELECT leaves the authenticated state. */
	CHECK_OK(imap_select(c, "Archive", NULL, &e));
	CHECK_FAIL(imap_select(c, "Nope", NULL, &e), ERR_NOTFOUND, "SELECT \"Nope\": NO");
	CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);

	CHECK_OK(imap_logout(c, &e));
	imap_client_free(&c);
	buf_release(&tl.text);
}

/* ------------------------------------------------------------------ */

struct vanish {
	uint64_t earlier_count;
	size_t fetches;
};

static int on_vanished(void *ctx, const struct imap_uidset *uids, int earlier, struct err *e)
{
	struct vanish *v = ctx;

	(void)e;
	if (earlier)
		v->earlier_count += imap_uidset_count(uids);
	return 0;
}

static int on_vfetch(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		     struct err *e)
{
	struct vanish *v = ctx;

	(void)f;
	(void)r;
	(void)e;
	v->fetches++;
	return 0;
}

static void t_qresync(void)
{
	struct err e;
	struct imap_client *c = login_as(&fx, U("imap-qresync"), IMAP_TLS_NONE, NULL);

	if (!imap_client_has_cap(c, "QRESYNC")) {
		printf("no QRESYNC: skipped\n");
		imap_client_free(&c);
		return;
	}
	for (int i = 1; i <= 4; i++)
		CHECK_OK(append_n(c, "INBOX", i, NULL, NULL, &e));
	CHECK_FAIL(imap_select(c, "INBOX", &(struct imap_select_opts){ .qresync_uidvalidity = 1 },
			       &e), ERR_USAGE, "QRESYNC is not enabled");
	CHECK_OK(imap_enable(c, "QRESYNC", &e));
	CHECK(imap_client_enabled(c, "QRESYNC"));
	CHECK_OK(imap_select(c, "INBOX", NULL, &e));
	uint32_t uv = imap_client_mailbox(c)->uidvalidity;
	uint64_t ms = imap_client_mailbox(c)->highestmodseq;
	CHECK(ms > 0);
	CHECK_OK(imap_uid_store(c, "2", IMAP_STORE_ADD, "\\Deleted", 1, 0, NULL, NULL, NULL, &e));
	CHECK_OK(imap_uid_store(c, "3", IMAP_STORE_ADD, "\\Seen", 1, 0, NULL, NULL, NULL, &e));
	CHECK_OK(imap_expunge(c, NULL, &e)); /* VANISHED 2 (not EARLIER) */
	CHECK_INT(imap_client_mailbox(c)->exists, 3);
	CHECK_OK(imap_unselect(c, &e));

	struct vanish v = { 0 };
	struct imap_fetch_handler h = { .msg = on_vfetch, .vanished = on_vanished, .ctx = &v };
	struct imap_select_opts so = { .qresync_uidvalidity = uv, .qresync_modseq = ms,
				       .qresync_known_uids = "1:4", .fetch = &h };
	CHECK_OK(imap_select(c, "INBOX", &so, &e));
	CHECK_INT(v.earlier_count, 1); /* UID 2 */
	CHECK_INT(v.fetches, 1);       /* UID 3 changed */
	memset(&v, 0, sizeof(v));
	CHECK_OK(imap_uid_fetch(c, "1:*", "UID FLAGS", ms, 1, &h, NULL, &e));
	CHECK_INT(v.earlier_count, 1);
	CHECK_INT(v.fetches, 1);
	CHECK_OK(imap_logout(c, &e));
	imap_client_free(&c);
}

/* ------------------------------------------------------------------ */

struct order {
	int seen[128];
	int n;
};

struct slot {
	struct order *o;
	int idx;
	int ok;
};

static void on_done(void *ctx, const struct err *e)
{
	struct slot *s = ctx;

	s->ok = e == NULL;
	s->o->seen[s->o->n++] = s->idx;
}

static void t_pipeline(void)
{
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	char name[32];
	struct trace_log tl = { BUF_INIT(64 << 20) };

	fixture_user(&fx, U("imap-pipe"));
	opts_init(&o, &fx, IMAP_TLS_NONE, "localhost");
	o.pipeline_depth = 64;
	o.trace = trace_collect;
	o.trace_ctx = &tl;
	CHECK_OK(imap_client_connect(&o, &c, &e));
	if (!c)
		return;
	CHECK_OK(imap_login(c, U("imap-pipe"), U("imap-pipe"), &e));
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "Box%d", i);
		CHECK_OK(imap_create(c, name, NULL, &e));
		for (int k = 0; k < i; k++)
			CHECK_OK(append_n(c, name, k, NULL, NULL, &e));
	}
	/* 50 commands in flight: STATUS and NOOP alternating, completion order
	 * checked through callbacks. */
	struct order ord = { { 0 }, 0 };
	struct slot slots[50];
	struct imap_mbox_status st[50];
	struct imap_cmd *cmd;
	for (int i = 0; i < 50; i++) {
		slots[i] = (struct slot){ &ord, i, 0 };
		if (i % 2 == 0) {
			snprintf(name, sizeof(name), "Box%d", (i / 2) % 5);
			CHECK_OK(imap_status(c, name, IMAP_STATUS_MESSAGES | IMAP_STATUS_UIDNEXT,
					     &st[i], &cmd, &e));
		} else {
			CHECK_OK(imap_noop(c, &cmd, &e));
		}
		imap_cmd_on_done(&cmd, on_done, &slots[i]);
		CHECK(cmd == NULL);
	}
	CHECK(imap_client_in_flight(c) > 1);
	CHECK_OK(imap_client_drain(c, &e));
	CHECK_INT(imap_client_in_flight(c), 0);
	CHECK_INT(ord.n, 50);
	for (int i = 0; i < ord.n; i++)
		CHECK_INT(ord.seen[i], i);
	for (int i = 0; i < 50; i += 2) {
		CHECK(slots[i].ok);
		CHECK_INT(st[i].messages, (i / 2) % 5);
		CHECK_INT(st[i].uidnext, (i / 2) % 5 + 1);
	}
	/* The 50 commands went out before the first answer came back. */
	const char *p = strstr(tl.text.data, "STATUS \"Box0\"");
	const char *last = NULL;
	for (const char *q = p; q && (q = strstr(q, "> A")); q++)
		last = q;
	const char *first_ok = p ? strstr(p, "< A") : NULL;
	CHECK(p && last && first_ok);
	if (p && first_ok) {
		/* count commands sent before the first tagged reply */
		int before = 0;
		for (const char *q = p; (q = strstr(q, "\n> A")) && q < first_ok; q++)
			before++;
		CHECK(before >= 10);
	}

	/* Handles waited for out of order. */
	struct imap_cmd *h[3];
	struct imap_mbox_status s3[3];
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "Box%d", i + 2);
		CHECK_OK(imap_status(c, name, IMAP_STATUS_MESSAGES, &s3[i], &h[i], &e));
	}
	struct imap_cmd *bad;
	CHECK_OK(imap_status(c, "NoSuchBox", IMAP_STATUS_MESSAGES, &s3[0], &bad, &e));
	CHECK_OK(imap_cmd_wait(c, &h[2], &e));
	CHECK(h[2] == NULL);
	CHECK_INT(s3[2].messages, 4);
	CHECK_OK(imap_cmd_wait(c, &h[1], &e));
	CHECK_INT(s3[1].messages, 3);
	CHECK_OK(imap_cmd_wait(c, &h[0], &e));
	CHECK_FAIL(imap_cmd_wait(c, &bad, &e), ERR_NOTFOUND, "STATUS \"NoSuchBox\"");

	/* LIST, LIST with LIST-STATUS and STATUS in flight together: each gets
	 * its own data. */
	struct imap_boxlist l1, l2;
	struct imap_mbox_status s4;
	struct imap_cmd *hl1, *hl2, *hs;
	CHECK_OK(imap_list(c, "", "Box*", 0, 0, &l1, &hl1, &e));
	CHECK_OK(imap_list(c, "", "Box*", 0, IMAP_STATUS_MESSAGES, &l2, &hl2, &e));
	CHECK_OK(imap_status(c, "Box4", IMAP_STATUS_MESSAGES, &s4, &hs, &e));
	CHECK_OK(imap_cmd_wait(c, &hs, &e));
	CHECK_OK(imap_cmd_wait(c, &hl2, &e));
	CHECK_OK(imap_cmd_wait(c, &hl1, &e));
	CHECK_INT(l1.n, 5);
	CHECK_INT(l2.n, 5);
	CHECK_INT(s4.messages, 4);
	for (size_t i = 0; i < l1.n; i++)
		CHECK(!l1.v[i].has_status);
	if (imap_client_has_cap(c, "LIST-STATUS"))
		for (size_t i = 0; i < l2.n; i++)
			CHECK(l2.v[i].has_status &&
			      l2.v[i].status.messages == (uint32_t)(l2.v[i].name[3] - '0'));
	imap_boxlist_free(&l1);
	imap_boxlist_free(&l2);
	CHECK_OK(imap_logout(c, &e));
	imap_client_free(&c);
	buf_release(&tl.text);
}

/* ------------------------------------------------------------------ */

static void t_trace(void)
{
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct trace_log tl = { BUF_INIT(64 << 20) };
	const char *pw = "Sekr3t-Pa55\"word";

	fixture_user(&fx, U("imap-trace"));
	fixture_user_pass(&fx, U("imap-trace2"), pw);
	opts_init(&o, &fx, IMAP_TLS_STARTTLS, "localhost");
	o.trace = trace_collect;
	o.trace_ctx = &tl;
	CHECK_OK(imap_client_connect(&o, &c, &e));
	if (!c)
		return;
	CHECK_FAIL(imap_login(c, U("imap-trace2"), "wrong-Sekr3t", &e), ERR_AUTH, "LOGIN");
	CHECK_OK(imap_login(c, U("imap-trace2"), pw, &e));
	CHECK_OK(imap_logout(c, &e));
	imap_client_free(&c);

	opts_init(&o, &fx, IMAP_TLS_IMPLICIT, "localhost");
	o.trace = trace_collect;
	o.trace_ctx = &tl;
	CHECK_OK(imap_client_connect(&o, &c, &e));
	if (!c)
		return;
	CHECK(imap_client_has_cap(c, "SASL-IR"));
	CHECK_OK(imap_authenticate_plain(c, NULL, U("imap-trace2"), pw, &e));
	CHECK_OK(imap_noop(c, NULL, &e));
	CHECK_OK(imap_logout(c, &e));
	imap_client_free(&c);

	CHECK(strstr(tl.text.data, "> A") != NULL);
	CHECK(strstr(tl.text.data, "LOGIN <redacted>") != NULL);
	CHECK(strstr(tl.text.data, "AUTHENTICATE PLAIN <redacted>") != NULL);
	CHECK(strstr(tl.text.data, "Sekr3t") == NULL);
	CHECK(strstr(tl.text.data, U("imap-trace2")) == NULL); /* user redacted too */
	/* base64 of "\0imap-trace2\0Sekr3t..." must not show either */
	CHECK(strstr(tl.text.data, "AGltYXAtdHJhY2Uy") == NULL);
	CHECK(strstr(tl.text.data, "< * OK") != NULL);
	buf_release(&tl.text);
}

/* ------------------------------------------------------------------ */

/* A generated message of `size` bytes, produced in chunks. */
struct gen {
	uint64_t size, pos;
	uint32_t sum;
	size_t calls;
};

static char gen_byte(uint64_t i)
{
	static const char hdr[] = "From: big@test\r\nSubject: big\r\n\r\n";
	if (i < sizeof(hdr) - 1)
		return hdr[i];
	return (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : (char)('A' + (i * 7 % 26));
}

static int gen_read(void *ctx, void *buf, size_t cap, size_t *got_r, struct err *e)
{
	struct gen *g = ctx;
	char *p = buf;
	size_t n = cap < 10000 ? cap : 10000; /* odd chunk size on purpose */

	(void)e;
	if (n > g->size - g->pos)
		n = (size_t)(g->size - g->pos);
	for (size_t i = 0; i < n; i++)
		p[i] = gen_byte(g->pos + i);
	g->pos += n;
	g->calls++;
	*got_r = n;
	return 0;
}

struct sink {
	uint64_t got, expect;
	size_t max_chunk;
	int began, ended, mismatch;
	size_t msgs;
	int streamed;
};

static int sk_begin(void *ctx, uint32_t seq, const char *section, uint64_t size, struct err *e)
{
	struct sink *s = ctx;

	(void)seq;
	(void)e;
	s->began++;
	s->expect = size;
	CHECK(strcasecmp(section, "BODY[]") == 0);
	return 1;
}

static int sk_data(void *ctx, const void *p, size_t n, struct err *e)
{
	struct sink *s = ctx;
	const char *c = p;

	(void)e;
	for (size_t i = 0; i < n; i++)
		if (c[i] != gen_byte(s->got + i))
			s->mismatch = 1;
	s->got += n;
	if (n > s->max_chunk)
		s->max_chunk = n;
	return 0;
}

static int sk_end(void *ctx, struct err *e)
{
	struct sink *s = ctx;

	(void)e;
	s->ended++;
	return 0;
}

static int sk_msg(void *ctx, const struct imap_fetch *f, const struct imap_response *r,
		  struct err *e)
{
	struct sink *s = ctx;

	(void)r;
	(void)e;
	s->msgs++;
	s->streamed = f->body_streamed && f->body == NULL;
	return 0;
}

/* Every mechanism against the fixture's Dovecot, which offers PLAIN,
 * LOGIN, SCRAM-SHA-1 and SCRAM-SHA-256: AUTO picks SCRAM-SHA-256, each
 * logs in with the right password (a SCRAM login also checked the
 * server's proof) and fails with ERR_AUTH with a wrong one; the
 * password with "," "=" "\"" and a blank logs in by every mechanism. */
static void t_auth(void)
{
	static const struct {
		enum imap_auth_mech m;
		const char *sent;
	} mechs[] = {
		{ IMAP_AUTH_AUTO, "AUTHENTICATE SCRAM-SHA-256 <redacted>" },
		{ IMAP_AUTH_SCRAM_SHA256, "AUTHENTICATE SCRAM-SHA-256 <redacted>" },
		{ IMAP_AUTH_SCRAM_SHA1, "AUTHENTICATE SCRAM-SHA-1 <redacted>" },
		{ IMAP_AUTH_PLAIN, "AUTHENTICATE PLAIN <redacted>" },
		{ IMAP_AUTH_LOGIN, "> A3 LOGIN <redacted>" },
	};
	const char *pw = "p=w,\"Sekr3t\" =3D";
	fixture_user_pass(&fx, U("imap-auth"), pw);
	for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++) {
		for (int right = 0; right < 2; right++) {
			struct imap_client_opts o;
			struct imap_client *c = NULL;
			struct trace_log tl = { BUF_INIT(1 << 20) };
			struct err e;
			opts_init(&o, &fx, IMAP_TLS_STARTTLS, "localhost");
			o.trace = trace_collect;
			o.trace_ctx = &tl;
			CHECK_OK(imap_client_connect(&o, &c, &e));
			if (!c)
				return;
			CHECK(imap_client_has_cap(c, "AUTH=SCRAM-SHA-256"));
			int rc = imap_auth_with(c, mechs[i].m, U("imap-auth"),
						right ? pw : "p=w,\"Sekr3t\" =3E", &e);
			if (right) {
				CHECK_OK(rc);
				CHECK_INT(imap_client_state(c), IMAP_STATE_AUTHENTICATED);
				CHECK_OK(imap_noop(c, NULL, &e));
			} else {
				CHECK_INT(rc, -1);
				CHECK_INT(e.cls, ERR_AUTH);
			}
			if (!strstr(tl.text.data, mechs[i].sent))
				fprintf(stderr, "mech %zu: no '%s' in\n%s\n", i, mechs[i].sent,
					tl.text.data);
			CHECK(strstr(tl.text.data, mechs[i].sent) != NULL);
			CHECK(strstr(tl.text.data, "Sekr3t") == NULL);
			imap_client_free(&c);
			buf_release(&tl.text);
		}
	}
}

static void t_bigfetch(void)
{
	struct err e;
	struct imap_client_opts o;
	struct imap_client *c = NULL;
	struct trace_log tl = { BUF_INIT(64 << 20) };
	const uint64_t size = 5u << 20;

	fixture_user(&fx, U("imap-big"));
	opts_init(&o, &fx, IMAP_TLS_IMPLICIT, "localhost");
	o.trace = trace_collect;
	o.trace_ctx = &tl;
	o.max_literal = 1 << 20; /* a body kept in memory would hit this */
	CHECK_OK(imap_client_connect(&o, &c, &e));
	if (!c)
		return;
	CHECK_OK(imap_login(c, U("imap-big"), U("imap-big"), &e));
	struct gen g = { .size = size };
	struct imap_append_msg am = { .flags = "\\Seen", .idate = -1,
				      .src = { .size = size, .read = gen_read, .ctx = &g } };
	struct imap_uidmap map;
	CHECK_OK(imap_append(c, "INBOX", &am, &map, NULL, &e));
	CHECK(g.calls > 100);
	CHECK_STR(map.dst_uids, "1");
	imap_uidmap_free(&map);
	CHECK(strstr(tl.text.data, "{5242880+}") != NULL);
	CHECK(strstr(tl.text.data, "<5242880 bytes>") != NULL);

	CHECK_OK(imap_select(c, "INBOX", NULL, &e));
	struct sink s = { 0 };
	struct imap_fetch_handler h = { .msg = sk_msg, .body_begin = sk_begin,
					.body_data = sk_data, .body_end = sk_end, .ctx = &s };
	CHECK_OK(imap_uid_fetch(c, "1", "UID RFC822.SIZE BODY.PEEK[]", 0, 0, &h, NULL, &e));
	CHECK_INT(s.began, 1);
	CHECK_INT(s.ended, 1);
	CHECK_INT(s.msgs, 1);
	CHECK(s.streamed);
	CHECK_INT(s.got, size);
	CHECK_INT(s.expect, size);
	CHECK(!s.mismatch);
	CHECK(s.max_chunk <= (1u << 20));
	/* Kept in memory it is over max_literal: a clean ERR_LIMIT, connection gone. */
	struct fetched fd = { 0 };
	struct imap_fetch_handler hm = { .msg = on_fetch, .ctx = &fd };
	CHECK_FAIL(imap_uid_fetch(c, "1", "BODY.PEEK[]", 0, 0, &hm, NULL, &e), ERR_LIMIT,
		   "UID FETCH 1");
	fetched_free(&fd);
	imap_client_free(&c);
	buf_release(&tl.text);
}

/* A streamed APPEND with a synchronizing literal is covered by
 * test-imap-fake (Dovecot always offers LITERAL+). */

/* COMPRESS=DEFLATE (RFC 4978), when the fixture's Dovecot loads imap_zlib. */
static void t_compress(void)
{
	struct err e;
	struct trace_log tl = { BUF_INIT(64 << 20) };
	struct imap_client *c = login_as(&fx, U("imap-zip"), IMAP_TLS_IMPLICIT, &tl);
	const uint64_t size = 1u << 20;

	if (!imap_client_has_cap(c, "COMPRESS=DEFLATE")) {
		printf("server does not advertise COMPRESS=DEFLATE: checking the refusal only\n");
		CHECK_FAIL(imap_compress(c, &e), ERR_USAGE, "COMPRESS=DEFLATE");
		imap_client_free(&c);
		buf_release(&tl.text);
		return;
	}
	CHECK_OK(imap_compress(c, &e));
	CHECK(imap_client_is_compressed(c));
	CHECK_FAIL(imap_compress(c, &e), ERR_USAGE, "already active");
	CHECK_OK(imap_create(c, "Zipped", NULL, &e));
	struct gen g = { .size = size };
	struct imap_append_msg am = { .idate = -1,
				      .src = { .size = size, .read = gen_read, .ctx = &g } };
	CHECK_OK(imap_append(c, "Zipped", &am, NULL, NULL, &e));
	struct imap_mbox_status st;
	CHECK_OK(imap_status(c, "Zipped", IMAP_STATUS_ALL, &st, NULL, &e));
	CHECK_INT(st.messages, 1);
	CHECK_OK(imap_select(c, "Zipped", NULL, &e));
	struct sink s = { 0 };
	struct imap_fetch_handler h = { .msg = sk_msg, .body_begin = sk_begin,
					.body_data = sk_data, .body_end = sk_end, .ctx = &s };
	CHECK_OK(imap_uid_fetch(c, "1", "UID BODY.PEEK[]", 0, 0, &h, NULL, &e));
	CHECK_INT(s.got, size);
	CHECK(!s.mismatch);
	CHECK_OK(imap_logout(c, &e));
	imap_client_free(&c);
	buf_release(&tl.text);
}

int main(int argc, char **argv)
{
	static const struct test_scenario tests[] = {
		{ "session", t_session },       { "tls", t_tls },               { "auth", t_auth },
		{ "tls-hostname", t_tls_hostname }, { "plaintext-policy", t_plaintext_policy },
		{ "mailboxes", t_mailboxes },   { "messages", t_messages },
		{ "qresync", t_qresync },       { "pipeline", t_pipeline },
		{ "trace", t_trace },           { "bigfetch", t_bigfetch },
		{ "compress", t_compress },
	};

	fixture_get(&fx);
	return test_run_scenarios(argc, argv, tests, sizeof tests / sizeof tests[0]);
}
