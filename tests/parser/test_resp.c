/*
 * test_resp.c — typed decoders over parsed responses: FETCH, LIST, STATUS,
 * SEARCH, ESEARCH, VANISHED, CAPABILITY/ENABLED, NAMESPACE, ID, MYRIGHTS,
 * APPENDUID/COPYUID, strict numbers; malformed shapes refused.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_resp.h"
#include "testlib.h"

static struct imap_response *parse(const char *line)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	struct imap_response *r = NULL;
	if (imap_parser_feed(p, line, strlen(line), &used) == IMAP_PARSE_DONE)
		r = imap_parser_take(p);
	imap_parser_free(&p);
	if (!r)
		fprintf(stderr, "did not parse: %s\n", line);
	return r;
}

static void test_numbers(void)
{
	uint32_t v;
	uint64_t w;
	CHECK_INT(imap_resp_parse_u32("0", &v), 0);
	CHECK_INT(imap_resp_parse_u32("4294967295", &v), 0);
	CHECK_INT(v, 4294967295u);
	CHECK_INT(imap_resp_parse_u32("4294967296", &v), -1);
	CHECK_INT(imap_resp_parse_u32("", &v), -1);
	CHECK_INT(imap_resp_parse_u32("-1", &v), -1);
	CHECK_INT(imap_resp_parse_u32("+1", &v), -1);
	CHECK_INT(imap_resp_parse_u32(" 1", &v), -1);
	CHECK_INT(imap_resp_parse_u32("1x", &v), -1);
	CHECK_INT(imap_resp_parse_u32(NULL, &v), -1);
	CHECK_INT(imap_resp_parse_nz32("0", &v), -1);
	CHECK_INT(imap_resp_parse_nz32("7", &v), 0);
	CHECK_INT(v, 7);
	CHECK_INT(imap_resp_parse_u64("9223372036854775807", &w), 0);
	CHECK_INT(imap_resp_parse_u64("9223372036854775808", &w), -1);
	CHECK_INT(imap_resp_parse_u64("123456789012345678901", &w), -1);
}

static void test_fetch(void)
{
	struct err e;
	struct imap_fetch f;
	struct imap_response *r = parse(
		"* 12 FETCH (UID 1234 FLAGS (\\Seen \\Recent $Forwarded \\Answered \\Unknown) "
		"INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 MODSEQ (99) "
		"BODY[HEADER.FIELDS (MESSAGE-ID DATE)] {19}\r\nMessage-ID: <x@y>\r\n "
		"ENVELOPE (NIL NIL) BODY[]<0> {3}\r\nabc)\r\n");
	CHECK(r != NULL);
	CHECK_INT(imap_resp_fetch(r, &f, &e), 0);
	CHECK_INT(f.seq, 12);
	CHECK_INT(f.present, IMAP_FETCH_UID | IMAP_FETCH_FLAGS | IMAP_FETCH_MODSEQ |
				     IMAP_FETCH_SIZE | IMAP_FETCH_IDATE | IMAP_FETCH_HEADER |
				     IMAP_FETCH_BODY);
	CHECK_INT(f.uid, 1234);
	CHECK_INT(f.flags.sys, MF_SEEN | MF_ANSWERED);
	CHECK_INT(f.flags.nkw, 1);
	CHECK_STR(f.flags.kw[0], "$Forwarded");
	CHECK_INT(f.recent, 1);
	CHECK_INT(f.modseq, 99);
	CHECK_INT(f.rfc822_size, 4286);
	CHECK_INT(f.internaldate, 837596665);
	CHECK_INT(f.header_len, 19);
	CHECK(f.header && memcmp(f.header, "Message-ID: <x@y>\r\n", 19) == 0);
	CHECK_INT(f.body_size, 3);
	CHECK(f.body && memcmp(f.body, "abc", 3) == 0);
	CHECK_INT(f.body_streamed, 0);
	imap_fetch_free(&f);
	imap_response_free(&r);

	static const char *const badv[] = {
		"* 1 FETCH (UID 0)\r\n",
		"* 1 FETCH (UID x)\r\n",
		"* 1 FETCH (UID \"5\")\r\n",
		"* 1 FETCH (UID)\r\n",
		"* 1 FETCH (FLAGS \\Seen)\r\n",
		"* 1 FETCH (FLAGS (\"x\"))\r\n",
		"* 1 FETCH (MODSEQ 5)\r\n",
		"* 1 FETCH (RFC822.SIZE -1)\r\n",
		"* 1 FETCH (INTERNALDATE \"32-Jul-1996 02:44:25 -0700\")\r\n",
		"* 1 FETCH (FLAGS ($a) \"UID\" 5)\r\n",
		"* 1 FETCH UID 5\r\n",
		"* FETCH (UID 5)\r\n",
	};
	for (size_t i = 0; i < sizeof badv / sizeof badv[0]; i++) {
		r = parse(badv[i]);
		CHECK(r != NULL);
		CHECK_INT(imap_resp_fetch(r, &f, &e), -1);
		CHECK_INT(e.cls, ERR_PROTO);
		imap_response_free(&r);
	}
}

static void test_list_status(void)
{
	struct err e;
	struct imap_list l;
	struct imap_response *r = parse("* LIST (\\HasNoChildren \\Sent \\Marked) \"/\" \"Sent Items\"\r\n");
	CHECK_INT(imap_resp_list(r, &l, &e), 0);
	CHECK_INT(l.attrs, BOX_HASNOCHILDREN | BOX_SENT);
	CHECK_INT(l.delim, '/');
	CHECK_STR(l.name, "Sent Items");
	imap_list_free(&l);
	imap_response_free(&r);

	r = parse("* LIST (\\Noselect \\HasChildren \\NonExistent) NIL inbox\r\n");
	CHECK_INT(imap_resp_list(r, &l, &e), 0);
	CHECK_INT(l.attrs, BOX_NOSELECT | BOX_HASCHILDREN | BOX_NONEXISTENT);
	CHECK_INT(l.delim, 0);
	CHECK_STR(l.name, "INBOX");
	imap_list_free(&l);
	imap_response_free(&r);

	r = parse("* LSUB () \"\\\\\" {5}\r\nA&-B \r\n");
	CHECK(r != NULL);
	CHECK_INT(imap_resp_list(r, &l, &e), 0);
	CHECK_INT(l.delim, '\\');
	CHECK_STR(l.name, "A&-B ");
	imap_list_free(&l);
	imap_response_free(&r);

	r = parse("* LIST (\\Subscribed \\Trash) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
	CHECK_INT(imap_resp_list(r, &l, &e), 0);
	CHECK_INT(l.attrs, BOX_SUBSCRIBED | BOX_TRASH);
	CHECK_STR(l.name, "Fruit");
	imap_list_free(&l);
	imap_response_free(&r);

	CHECK_INT(imap_resp_box_attr("\\junk"), BOX_JUNK);
	CHECK_INT(imap_resp_box_attr("\\All"), BOX_ALL);
	CHECK_INT(imap_resp_box_attr("\\Whatever"), 0);

	static const char *const badl[] = {
		"* LIST () \"//\" x\r\n", "* LIST () \"/\"\r\n", "* LIST (x) \"/\" a\r\n",
		"* LIST \\Noselect \"/\" a\r\n", "* LIST () / a\r\n",
	};
	for (size_t i = 0; i < sizeof badl / sizeof badl[0]; i++) {
		r = parse(badl[i]);
		CHECK_INT(imap_resp_list(r, &l, &e), -1);
		imap_response_free(&r);
	}

	struct imap_status_info st;
	r = parse("* STATUS \"blurdy bloop\" (MESSAGES 231 UIDNEXT 44292 UIDVALIDITY 1 "
		  "UNSEEN 0 RECENT 2 HIGHESTMODSEQ 7011231777 X-FOO 3)\r\n");
	CHECK_INT(imap_resp_status(r, &st, &e), 0);
	CHECK_STR(st.name, "blurdy bloop");
	CHECK_INT(st.present, 0x3f);
	CHECK_INT(st.messages, 231);
	CHECK_INT(st.uidnext, 44292);
	CHECK_INT(st.uidvalidity, 1);
	CHECK_INT(st.unseen, 0);
	CHECK_INT(st.recent, 2);
	CHECK_INT(st.highestmodseq, 7011231777LL);
	imap_status_info_free(&st);
	imap_response_free(&r);
	r = parse("* STATUS x (MESSAGES)\r\n");
	CHECK_INT(imap_resp_status(r, &st, &e), -1);
	imap_response_free(&r);
	r = parse("* STATUS x (UIDVALIDITY 0)\r\n");
	CHECK_INT(imap_resp_status(r, &st, &e), -1);
	imap_response_free(&r);
}

static void test_search(void)
{
	struct err e;
	uint32_t *nums;
	size_t n;
	uint64_t modseq;
	struct imap_response *r = parse("* SEARCH 2 84 882 (MODSEQ 917162500)\r\n");
	CHECK_INT(imap_resp_search(r, &nums, &n, &modseq, &e), 0);
	CHECK_INT(n, 3);
	CHECK_INT(nums[2], 882);
	CHECK_INT(modseq, 917162500);
	free(nums);
	imap_response_free(&r);
	r = parse("* SEARCH\r\n");
	CHECK_INT(imap_resp_search(r, &nums, &n, NULL, &e), 0);
	CHECK_INT(n, 0);
	imap_response_free(&r);
	r = parse("* SEARCH 1 x\r\n");
	CHECK_INT(imap_resp_search(r, &nums, &n, NULL, &e), -1);
	imap_response_free(&r);

	struct imap_esearch es;
	r = parse("* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800 COUNT 4 ALL 7,10:11,3800\r\n");
	CHECK_INT(imap_resp_esearch(r, &es, &e), 0);
	CHECK_STR(es.tag, "A285");
	CHECK_INT(es.uid, 1);
	CHECK_INT(es.present, IMAP_ESEARCH_MIN | IMAP_ESEARCH_MAX | IMAP_ESEARCH_COUNT |
				      IMAP_ESEARCH_ALL);
	CHECK_INT(es.min, 7);
	CHECK_INT(es.max, 3800);
	CHECK_INT(es.count, 4);
	CHECK_INT(imap_uidset_count(&es.all), 4);
	imap_esearch_free(&es);
	imap_response_free(&r);
	r = parse("* ESEARCH (TAG \"A284\")\r\n");
	CHECK_INT(imap_resp_esearch(r, &es, &e), 0);
	CHECK_INT(es.present, 0);
	imap_esearch_free(&es);
	imap_response_free(&r);
	r = parse("* ESEARCH (TAG \"A\") ALL 1:*\r\n");
	CHECK_INT(imap_resp_esearch(r, &es, &e), -1);
	imap_response_free(&r);
	r = parse("* ESEARCH (TAG \"A\") COUNT\r\n");
	CHECK_INT(imap_resp_esearch(r, &es, &e), -1);
	imap_response_free(&r);

	int earlier;
	struct imap_uidset set;
	r = parse("* VANISHED (EARLIER) 300:310,405,411\r\n");
	CHECK_INT(imap_resp_vanished(r, &earlier, &set, &e), 0);
	CHECK_INT(earlier, 1);
	CHECK_INT(imap_uidset_count(&set), 13);
	imap_uidset_free(&set);
	imap_response_free(&r);
	r = parse("* VANISHED 405\r\n");
	CHECK_INT(imap_resp_vanished(r, &earlier, &set, &e), 0);
	CHECK_INT(earlier, 0);
	CHECK(imap_uidset_contains(&set, 405));
	imap_uidset_free(&set);
	imap_response_free(&r);
	r = parse("* VANISHED (LATER) 405\r\n");
	CHECK_INT(imap_resp_vanished(r, &earlier, &set, &e), -1);
	imap_response_free(&r);
	r = parse("* VANISHED 4x5\r\n");
	CHECK_INT(imap_resp_vanished(r, &earlier, &set, &e), -1);
	imap_response_free(&r);
}

static void test_misc(void)
{
	struct err e;
	struct imap_strv sv;
	struct imap_response *r = parse("* CAPABILITY IMAP4rev1 literal+ AUTH=PLAIN\r\n");
	CHECK_INT(imap_resp_capability(r, &sv, &e), 0);
	CHECK_INT(sv.n, 3);
	CHECK_STR(sv.v[1], "LITERAL+");
	CHECK(imap_strv_has(&sv, "auth=plain"));
	CHECK(!imap_strv_has(&sv, "IDLE"));
	imap_strv_free(&sv);
	imap_response_free(&r);
	r = parse("* ENABLED CONDSTORE\r\n");
	CHECK_INT(imap_resp_enabled(r, &sv, &e), 0);
	CHECK_INT(sv.n, 1);
	imap_strv_free(&sv);
	imap_response_free(&r);
	r = parse("* CAPABILITY \"IMAP4rev1\"\r\n");
	CHECK_INT(imap_resp_capability(r, &sv, &e), -1);
	imap_response_free(&r);
	r = parse("* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n");
	CHECK_INT(imap_resp_code_capability(&r->code, &sv, &e), 0);
	CHECK_INT(sv.n, 2);
	CHECK(imap_strv_has(&sv, "IDLE"));
	imap_strv_free(&sv);
	imap_response_free(&r);

	struct imap_namespace ns;
	r = parse("* NAMESPACE ((\"\" \"/\")) NIL ((\"#shared/\" \"/\")(\"#public/\" NIL))\r\n");
	CHECK_INT(imap_resp_namespace(r, &ns, &e), 0);
	CHECK_INT(ns.npersonal, 1);
	CHECK_STR(ns.personal[0].prefix, "");
	CHECK_INT(ns.personal[0].delim, '/');
	CHECK_INT(ns.nother, 0);
	CHECK_INT(ns.nshared, 2);
	CHECK_STR(ns.shared[1].prefix, "#public/");
	CHECK_INT(ns.shared[1].delim, 0);
	imap_namespace_free(&ns);
	imap_response_free(&r);
	r = parse("* NAMESPACE ((\"\" \"/\")) NIL ((\"a\"))\r\n");
	CHECK_INT(imap_resp_namespace(r, &ns, &e), -1);
	imap_response_free(&r);

	struct imap_id id;
	r = parse("* ID (\"name\" \"Dovecot\" \"os\" NIL)\r\n");
	CHECK_INT(imap_resp_id(r, &id, &e), 0);
	CHECK_INT(id.n, 2);
	CHECK_STR(id.keys[0], "name");
	CHECK_STR(id.vals[0], "Dovecot");
	CHECK(id.vals[1] == NULL);
	imap_id_free(&id);
	imap_response_free(&r);
	r = parse("* ID NIL\r\n");
	CHECK_INT(imap_resp_id(r, &id, &e), 0);
	CHECK_INT(id.n, 0);
	imap_id_free(&id);
	imap_response_free(&r);
	r = parse("* ID (\"name\")\r\n");
	CHECK_INT(imap_resp_id(r, &id, &e), -1);
	imap_response_free(&r);

	char *name, *rights;
	r = parse("* MYRIGHTS INBOX lrswipkxtecda\r\n");
	CHECK_INT(imap_resp_myrights(r, &name, &rights, &e), 0);
	CHECK_STR(name, "INBOX");
	CHECK_STR(rights, "lrswipkxtecda");
	free(name);
	free(rights);
	imap_response_free(&r);

	uint32_t uv;
	struct imap_uidset a, b;
	r = parse("a1 OK [APPENDUID 38505 3955] done\r\n");
	CHECK_INT(imap_resp_appenduid(&r->code, &uv, &a, &e), 0);
	CHECK_INT(uv, 38505);
	CHECK(imap_uidset_contains(&a, 3955));
	imap_uidset_free(&a);
	imap_response_free(&r);
	r = parse("a1 OK [COPYUID 38505 304,319:320 3956:3958] done\r\n");
	CHECK_INT(imap_resp_copyuid(&r->code, &uv, &a, &b, &e), 0);
	CHECK_INT(imap_uidset_count(&a), 3);
	CHECK_INT(b.r[0].lo, 3956);
	imap_uidset_free(&a);
	imap_uidset_free(&b);
	imap_response_free(&r);
	r = parse("a1 OK [COPYUID 38505 304,319:320 3956:3959] done\r\n");
	CHECK_INT(imap_resp_copyuid(&r->code, &uv, &a, &b, &e), -1);
	imap_response_free(&r);
	r = parse("a1 OK [APPENDUID 38505 x] done\r\n");
	CHECK_INT(imap_resp_appenduid(&r->code, &uv, &a, &e), -1);
	imap_response_free(&r);
}

int main(void)
{
	test_numbers();
	test_fetch();
	test_list_status();
	test_search();
	test_misc();
	return test_done();
}
