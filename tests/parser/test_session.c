/*
 * test_session.c — a real Dovecot 2.3 session (tests/parser/
 * dovecot-session.imap: greeting, LOGIN, ID, ENABLE, NAMESPACE, LIST,
 * STATUS, SELECT, UID FETCH with header literals and BODY[], SEARCH,
 * ESEARCH, STORE, UID EXPUNGE with VANISHED, MYRIGHTS, COPYUID, errors,
 * LOGOUT) parsed whole, byte by byte and in chunks; every response goes
 * through the decoder its keyword calls for, which must accept it.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_resp.h"
#include "imap/imap_utf7.h"
#include "testlib.h"

struct tally {
	int responses, tagged, fetch, list, names_utf8, status, search, esearch, vanished;
	int caps, copyuid, bye;
};

static void decode(const struct imap_response *r, struct tally *t)
{
	struct err e;
	const char *k = r->keyword;
	t->responses++;
	t->tagged += r->kind == IMAP_RESP_TAGGED;
	t->bye += r->status == IMAP_STATUS_BYE;
	if (r->code.kind == IMAP_CODE_CAPABILITY) {
		struct imap_strv sv;
		CHECK_INT(imap_resp_code_capability(&r->code, &sv, &e), 0);
		CHECK(imap_strv_has(&sv, "IMAP4REV1"));
		imap_strv_free(&sv);
	}
	if (r->code.kind == IMAP_CODE_COPYUID) {
		uint32_t uv;
		struct imap_uidset a, b;
		CHECK_INT(imap_resp_copyuid(&r->code, &uv, &a, &b, &e), 0);
		CHECK_INT(uv, 1795688173u);
		imap_uidset_free(&a);
		imap_uidset_free(&b);
		t->copyuid++;
	}
	if (strcmp(k, "FETCH") == 0) {
		struct imap_fetch f;
		CHECK_INT(imap_resp_fetch(r, &f, &e), 0);
		CHECK(f.present & IMAP_FETCH_UID);
		if (f.present & IMAP_FETCH_HEADER)
			CHECK(f.header_len == 59 && strncmp(f.header, "Message-ID: <1@t>", 17) == 0);
		if (f.present & IMAP_FETCH_BODY)
			CHECK_INT(f.body_size, 94);
		if (f.present & IMAP_FETCH_IDATE)
			CHECK(f.internaldate > 1700000000);
		imap_fetch_free(&f);
		t->fetch++;
	} else if (strcmp(k, "LIST") == 0 || strcmp(k, "LSUB") == 0) {
		struct imap_list l;
		struct buf name = BUF_INIT(1024);
		CHECK_INT(imap_resp_list(r, &l, &e), 0);
		CHECK_INT(l.delim, '/');
		CHECK_INT(imap_utf7_decode(l.name, strlen(l.name), &name, &e), 0);
		if (strcmp(name.data, "Entw\xc3\xbcrfe") == 0)
			t->names_utf8++;
		if (strcmp(l.name, "Sent") == 0)
			CHECK(l.attrs & BOX_SENT);
		if (strcmp(l.name, "a") == 0)
			CHECK_INT(l.attrs, BOX_NONEXISTENT | BOX_HASCHILDREN);
		buf_release(&name);
		imap_list_free(&l);
		t->list++;
	} else if (strcmp(k, "STATUS") == 0) {
		struct imap_status_info st;
		CHECK_INT(imap_resp_status(r, &st, &e), 0);
		CHECK_INT(st.present, 0x3f);
		CHECK_INT(st.messages, 3);
		CHECK_INT(st.uidvalidity, 1795688174u);
		imap_status_info_free(&st);
		t->status++;
	} else if (strcmp(k, "SEARCH") == 0) {
		uint32_t *nums;
		size_t n;
		CHECK_INT(imap_resp_search(r, &nums, &n, NULL, &e), 0);
		CHECK_INT(n, 3);
		free(nums);
		t->search++;
	} else if (strcmp(k, "ESEARCH") == 0) {
		struct imap_esearch es;
		CHECK_INT(imap_resp_esearch(r, &es, &e), 0);
		CHECK_STR(es.tag, "b3");
		CHECK_INT(es.count, 3);
		CHECK_INT(imap_uidset_count(&es.all), 3);
		imap_esearch_free(&es);
		t->esearch++;
	} else if (strcmp(k, "VANISHED") == 0) {
		int earlier;
		struct imap_uidset set;
		CHECK_INT(imap_resp_vanished(r, &earlier, &set, &e), 0);
		CHECK(imap_uidset_contains(&set, 2));
		imap_uidset_free(&set);
		t->vanished++;
	} else if (strcmp(k, "CAPABILITY") == 0 || strcmp(k, "ENABLED") == 0) {
		struct imap_strv sv;
		CHECK_INT(imap_resp_capability(r, &sv, &e), 0);
		imap_strv_free(&sv);
		t->caps++;
	} else if (strcmp(k, "NAMESPACE") == 0) {
		struct imap_namespace ns;
		CHECK_INT(imap_resp_namespace(r, &ns, &e), 0);
		CHECK_INT(ns.npersonal, 1);
		imap_namespace_free(&ns);
	} else if (strcmp(k, "ID") == 0) {
		struct imap_id id;
		CHECK_INT(imap_resp_id(r, &id, &e), 0);
		CHECK_STR(id.vals[0], "Dovecot");
		imap_id_free(&id);
	} else if (strcmp(k, "MYRIGHTS") == 0) {
		char *name, *rights;
		CHECK_INT(imap_resp_myrights(r, &name, &rights, &e), 0);
		free(name);
		free(rights);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-session FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	struct buf in = BUF_INIT(1 << 20);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&in, chunk, n);
	fclose(f);

	static const size_t chunks[] = { 0, 1, 5, 333 };
	for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
		struct tally t = { 0 };
		struct imap_parser *p = imap_parser_new(NULL);
		size_t pos = 0;
		while (pos < in.len) {
			size_t len = chunks[c] && in.len - pos > chunks[c] ? chunks[c] : in.len - pos;
			size_t off = 0;
			while (off < len) {
				size_t used;
				enum imap_parse_result r =
					imap_parser_feed(p, in.data + pos + off, len - off, &used);
				off += used;
				CHECK(r != IMAP_PARSE_ERROR);
				if (r == IMAP_PARSE_ERROR) {
					fprintf(stderr, "%s\n", imap_parser_error(p)->msg);
					return test_done();
				}
				if (r == IMAP_PARSE_DONE)
					decode(imap_parser_response(p), &t);
			}
			pos += len;
		}
		CHECK(!imap_parser_busy(p));
		imap_parser_free(&p);
		CHECK_INT(t.tagged, 22);
		CHECK_INT(t.responses, 62);
		CHECK_INT(t.fetch, 5);
		CHECK_INT(t.list, 5);
		CHECK_INT(t.names_utf8, 1);
		CHECK_INT(t.status, 1);
		CHECK_INT(t.search, 1);
		CHECK_INT(t.esearch, 1);
		CHECK_INT(t.vanished, 1);
		CHECK_INT(t.caps, 3);
		CHECK_INT(t.copyuid, 1);
		CHECK_INT(t.bye, 1);
	}
	buf_release(&in);
	return test_done();
}
