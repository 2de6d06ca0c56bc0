/*
 * test_parser.c — the streaming response parser over a table of real and
 * tricky server responses (RFC 3501 / 9051 examples, Dovecot, Gmail-style
 * quirks), each fed all at once, byte by byte and in odd chunks, with the
 * expected tree; garbage rejected; limits hit cleanly; literal streaming.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parser.h"
#include "lib/buf.h"
#include "testlib.h"

/* One line per response:  prefix [number] keyword [code] "text" / args. */
static void dump_resp(const struct imap_response *r, struct buf *out)
{
	if (r->kind == IMAP_RESP_TAGGED)
		buf_addstr(out, r->tag);
	else
		buf_addstr(out, r->kind == IMAP_RESP_UNTAGGED ? "*" : "+");
	if (r->has_number)
		buf_addf(out, " %u", r->number);
	if (r->keyword[0])
		buf_addf(out, " %s", r->keyword);
	if (r->status != IMAP_STATUS_NONE || r->kind == IMAP_RESP_CONTINUE) {
		if (r->code.kind != IMAP_CODE_NONE)
			buf_addf(out, r->code.raw[0] ? " [%s %s]" : " [%s%s]", r->code.name,
				 r->code.raw);
		buf_addf(out, " \"%s\"", r->text);
	}
	if (r->nargs) {
		buf_addch(out, ' ');
		imap_args_dump(r->args, r->nargs, out);
	}
}

/* Feed `in` in chunks of `chunk` bytes (0: all at once); dump every
 * response, one per line; on error append "ERR <class>". */
static void run(const char *in, size_t len, size_t chunk,
		const struct imap_parser_limits *lim, struct buf *out)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t pos = 0;
	while (pos < len) {
		size_t n = chunk && len - pos > chunk ? chunk : len - pos;
		size_t off = 0;
		while (off < n) {
			size_t used;
			enum imap_parse_result r = imap_parser_feed(p, in + pos + off, n - off, &used);
			off += used;
			if (r == IMAP_PARSE_ERROR) {
				enum err_class cls = imap_parser_error(p)->cls;
				buf_addstr(out, cls == ERR_PROTO ? "ERR PROTO" :
					   cls == ERR_LIMIT ? "ERR limit" : "ERR other");
				imap_parser_free(&p);
				return;
			}
			if (r == IMAP_PARSE_DONE) {
				dump_resp(imap_parser_response(p), out);
				buf_addch(out, '\n');
			} else {
				CHECK(used == n - (off - used));
			}
		}
		pos += n;
	}
	if (imap_parser_busy(p))
		buf_addstr(out, "INCOMPLETE");
	imap_parser_free(&p);
}

static void runs(const char *in, size_t chunk, const struct imap_parser_limits *lim,
		 struct buf *out)
{
	run(in, strlen(in), chunk, lim, out);
}

struct tcase {
	const char *in;
	const char *want;
};

#define L(s) s "\r\n"

static const struct tcase cases[] = {
	/* greetings and status responses */
	{ L("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
	    "STARTTLS AUTH=PLAIN] Dovecot ready."),
	  "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
	  "STARTTLS AUTH=PLAIN] \"Dovecot ready.\"\n" },
	{ L("* PREAUTH IMAP4rev1 server logged in as Smith"),
	  "* PREAUTH \"IMAP4rev1 server logged in as Smith\"\n" },
	{ L("* BYE Autologout; idle for too long"), "* BYE \"Autologout; idle for too long\"\n" },
	{ L("* BYE"), "* BYE \"\"\n" },
	{ L("* OK [UIDVALIDITY 3857529045] UIDs valid"),
	  "* OK [UIDVALIDITY 3857529045] \"UIDs valid\"\n" },
	{ L("* OK [UNSEEN 17] Message 17 is the first unseen message"),
	  "* OK [UNSEEN 17] \"Message 17 is the first unseen message\"\n" },
	{ L("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited"),
	  "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] \"Limited\"\n" },
	{ L("* OK [HIGHESTMODSEQ 715194045007] Highest"),
	  "* OK [HIGHESTMODSEQ 715194045007] \"Highest\"\n" },
	{ L("* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences"),
	  "* OK [NOMODSEQ] \"Sorry, this mailbox format doesn't support modsequences\"\n" },
	{ L("* OK [CLOSED] Previous mailbox closed."), "* OK [CLOSED] \"Previous mailbox closed.\"\n" },
	{ L("* NO [ALERT] System shutdown in 10 minutes"),
	  "* NO [ALERT] \"System shutdown in 10 minutes\"\n" },
	{ L("A142 OK [READ-WRITE] SELECT completed"), "A142 OK [READ-WRITE] \"SELECT completed\"\n" },
	{ L("A932 OK [READ-ONLY] EXAMINE completed"), "A932 OK [READ-ONLY] \"EXAMINE completed\"\n" },
	{ L("A003 OK [APPENDUID 38505 3955] APPEND completed"),
	  "A003 OK [APPENDUID 38505 3955] \"APPEND completed\"\n" },
	{ L("A004 OK [COPYUID 38505 304,319:320 3956:3958] Done"),
	  "A004 OK [COPYUID 38505 304,319:320 3956:3958] \"Done\"\n" },
	{ L("A003 NO [TRYCREATE] No such mailbox"), "A003 NO [TRYCREATE] \"No such mailbox\"\n" },
	{ L("A3 NO [OVERQUOTA] Quota exceeded"), "A3 NO [OVERQUOTA] \"Quota exceeded\"\n" },
	{ L("A4 OK [UIDNOTSTICKY] Non-persistent UIDs"),
	  "A4 OK [UIDNOTSTICKY] \"Non-persistent UIDs\"\n" },
	{ L("a1 NO [X-WEIRD-CODE some thing (x y)] text"),
	  "a1 NO [X-WEIRD-CODE some thing (x y)] \"text\"\n" },
	{ L("a1 BAD Error in IMAP command: Unknown command."),
	  "a1 BAD \"Error in IMAP command: Unknown command.\"\n" },
	{ L("a1 OK"), "a1 OK \"\"\n" },
	{ L("a1 ok lowercase status"), "a1 OK \"lowercase status\"\n" },
	{ L("* OK text ending like a literal {5}"), "* OK \"text ending like a literal {5}\"\n" },
	{ "a1 OK LF only\n", "a1 OK \"LF only\"\n" },
	/* continuations */
	{ L("+ idling"), "+ \"idling\"\n" },
	{ L("+ Ready for additional command text"), "+ \"Ready for additional command text\"\n" },
	{ L("+ YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ+iSzBJoAMCAQGiQgRA"),
	  "+ \"YGgGCSqGSIb3EgECAgIAb1kwV6ADAgEFoQMCAQ+iSzBJoAMCAQGiQgRA\"\n" },
	{ L("+ "), "+ \"\"\n" },
	{ L("+"), "+ \"\"\n" },
	{ L("+ [ALERT] hello {3}"), "+ [ALERT] \"hello {3}\"\n" },
	/* data responses */
	{ L("* 23 EXISTS"), "* 23 EXISTS\n" },
	{ L("* 0 EXISTS"), "* 0 EXISTS\n" },
	{ L("* 5 RECENT"), "* 5 RECENT\n" },
	{ L("* 44 EXPUNGE"), "* 44 EXPUNGE\n" },
	{ L("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"),
	  "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\n" },
	{ L("* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED"),
	  "* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\n" },
	{ L("* LIST (\\Noselect) \"/\" ~/Mail/foo"), "* LIST (\\Noselect) \"/\" ~/Mail/foo\n" },
	{ L("* LIST () \".\" #news.comp.mail.misc"), "* LIST () \".\" #news.comp.mail.misc\n" },
	{ L("* LIST (\\Noselect) NIL \"\""), "* LIST (\\Noselect) NIL \"\"\n" },
	{ L("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\""),
	  "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\n" },
	{ L("* LIST () \"\\\\\" \"a\\\\b\\\"c\""), "* LIST () \"\\\\\" \"a\\\\b\\\"c\"\n" },
	{ L("* LSUB () \".\" #news.comp.mail.misc"), "* LSUB () \".\" #news.comp.mail.misc\n" },
	{ L("* LIST () \"/\" {11}") "Hello World" "\r\n",
	  "* LIST () \"/\" {11}\"Hello World\"\n" },
	{ L("* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)"),
	  "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\n" },
	{ L("* SEARCH 2 3 6"), "* SEARCH 2 3 6\n" },
	{ L("* SEARCH"), "* SEARCH\n" },
	{ L("* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)"),
	  "* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)\n" },
	{ L("* ESEARCH (TAG \"A282\") MIN 2 COUNT 3"), "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\n" },
	{ L("* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800"),
	  "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800\n" },
	{ L("* ESEARCH (TAG \"A284\")"), "* ESEARCH (TAG \"A284\")\n" },
	{ L("* ESEARCH (TAG \"a\") UID ALL 1:3,5,7:9"), "* ESEARCH (TAG \"a\") UID ALL 1:3,5,7:9\n" },
	{ L("* VANISHED (EARLIER) 300:310,405,411"), "* VANISHED (EARLIER) 300:310,405,411\n" },
	{ L("* VANISHED 405,407,410,425"), "* VANISHED 405,407,410,425\n" },
	{ L("* ENABLED CONDSTORE QRESYNC"), "* ENABLED CONDSTORE QRESYNC\n" },
	{ L("* ENABLED"), "* ENABLED\n" },
	{ L("* ID (\"name\" \"Dovecot\" \"version\" NIL)"),
	  "* ID (\"name\" \"Dovecot\" \"version\" NIL)\n" },
	{ L("* ID NIL"), "* ID NIL\n" },
	{ L("* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) ((\"#shared/\" \"/\")(\"#public/\" \"/\"))"),
	  "* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) ((\"#shared/\" \"/\") (\"#public/\" \"/\"))\n" },
	{ L("* NAMESPACE ((\"\" \".\")) NIL NIL"), "* NAMESPACE ((\"\" \".\")) NIL NIL\n" },
	{ L("* MYRIGHTS INBOX rwiptsldaex"), "* MYRIGHTS INBOX rwiptsldaex\n" },
	{ L("* ACL INBOX Fred rwipslxetad"), "* ACL INBOX Fred rwipslxetad\n" },
	/* FETCH */
	{ L("* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
	    "RFC822.SIZE 4286 UID 1234 MODSEQ (12121231000))"),
	  "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
	  "RFC822.SIZE 4286 UID 1234 MODSEQ (12121231000))\n" },
	{ L("* 12 FETCH (BODY[HEADER] {8}") "Subj: x\n" L(")"),
	  "* 12 FETCH (BODY[HEADER] {8}\"Subj: x\\x0a\")\n" },
	{ L("* 2 FETCH (UID 7 BODY[HEADER.FIELDS (MESSAGE-ID DATE)] {24}")
	  "Message-ID: <a@b>\r\n\r\n" "abc" L(")"),
	  "* 2 FETCH (UID 7 BODY[HEADER.FIELDS (MESSAGE-ID DATE)] {24}"
	  "\"Message-ID: <a@b>\\x0d\\x0a\\x0d\\x0aabc\")\n" },
	{ L("* 2 FETCH (UID 7 BODY[HEADER.FIELDS (MESSAGE-ID DATE)] {21}")
	  "Message-ID: <a@b>\r\n\r\n" L(")"),
	  "* 2 FETCH (UID 7 BODY[HEADER.FIELDS (MESSAGE-ID DATE)] {21}"
	  "\"Message-ID: <a@b>\\x0d\\x0a\\x0d\\x0a\")\n" },
	{ L("* 1 FETCH (BODY[]<0> {5}") "hello" L(" UID 3)"),
	  "* 1 FETCH (BODY[]<0> {5}\"hello\" UID 3)\n" },
	{ L("* 1 FETCH (BODY[] {0}") L(")"), "* 1 FETCH (BODY[] {0}\"\")\n" },
	{ L("* 1 FETCH (BODY[1] {2}") "ab" L(" BODY[2] {2}") "cd" L(")"),
	  "* 1 FETCH (BODY[1] {2}\"ab\" BODY[2] {2}\"cd\")\n" },
	{ L("* 1 FETCH (ENVELOPE (NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL))"),
	  "* 1 FETCH (ENVELOPE (NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL))\n" },
	{ L("* 12 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	    "\"7BIT\" 1152 23)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
	    "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) "
	    "\"MIXED\"))"),
	  "* 12 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	  "\"7BIT\" 1152 23) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
	  "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) "
	  "\"MIXED\"))\n" },
	{ L("* 3 FETCH (FLAGS (\\Seen $Forwarded Junk \\Recent))"),
	  "* 3 FETCH (FLAGS (\\Seen $Forwarded Junk \\Recent))\n" },
	{ L("* 3 FETCH (FLAGS ())"), "* 3 FETCH (FLAGS ())\n" },
	{ L("* 3 FETCH (ENVELOPE (\"d\" {3}") "a\"b" L(" NIL))"),
	  "* 3 FETCH (ENVELOPE (\"d\" {3}\"a\\\"b\" NIL))\n" },
	{ L("* 3 FETCH (X {2}") "ab" L("(Y))"), "ERR PROTO" },
	{ L("* 3 FETCH (BODY[] {3}") "abc" L("{2}") "de" L(")"), "ERR PROTO" },
	{ L("* 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (90060115194045001))"),
	  "* 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (90060115194045001))\n" },
	{ L("* 3 FETCH (UID 3 BODY[TEXT] NIL RFC822.HEADER \"\")"),
	  "* 3 FETCH (UID 3 BODY[TEXT] NIL RFC822.HEADER \"\")\n" },
	{ L("* LIST (\\Subscribed) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"),
	  "* LIST (\\Subscribed) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\n" },
	{ L("* LIST (\\HasNoChildren) \"/\" [Gmail]/Sent"),
	  "* LIST (\\HasNoChildren) \"/\" [Gmail]/Sent\n" },
	{ L("* LIST (\\Marked \\NoInferiors) \"/\" \"inbox\""),
	  "* LIST (\\Marked \\NoInferiors) \"/\" \"inbox\"\n" },
	{ L("a2 OK [MODIFIED 7,9] Conditional STORE failed"),
	  "a2 OK [MODIFIED 7,9] \"Conditional STORE failed\"\n" },
	{ L("a3 NO [AUTHENTICATIONFAILED] Authentication failed."),
	  "a3 NO [AUTHENTICATIONFAILED] \"Authentication failed.\"\n" },
	{ L("* NO [ALERT]"), "* NO [ALERT] \"\"\n" },
	{ L("* SEARCH  1   2 "), "* SEARCH 1 2\n" },
	/* several responses in one buffer */
	{ L("* 1 EXISTS") L("* 0 RECENT") L("a2 OK done"),
	  "* 1 EXISTS\n* 0 RECENT\na2 OK \"done\"\n" },
	/* garbage */
	{ L(""), "ERR PROTO" },
	{ L(" OK"), "ERR PROTO" },
	{ L("*"), "ERR PROTO" },
	{ L("*OK"), "ERR PROTO" },
	{ L("a1 FETCH x"), "ERR PROTO" },
	{ L("a1 PREAUTH x"), "ERR PROTO" },
	{ L("* 99999999999 EXISTS"), "ERR PROTO" },
	{ L("* 1 FETCH (UID 1"), "ERR PROTO" },
	{ L("* 1 FETCH UID 1)"), "ERR PROTO" },
	{ L("* LIST () \"/\" \"unterminated"), "ERR PROTO" },
	{ L("* LIST () \"/\" \"bad\\escape\""), "ERR PROTO" },
	{ L("* LIST () \"/\" \"a\"\"b\""), "ERR PROTO" },
	{ L("* SEARCH {3} 1"), "ERR PROTO" },
	{ L("* SEARCH{3}") "abc" L(""), "ERR PROTO" },
	{ L("* 1 FETCH (BODY[HEADER {3}") "abc" L("])"), "ERR PROTO" },
	{ L("* OK [UIDVALIDITY abc] x"), "ERR PROTO" },
	{ L("* OK [UIDVALIDITY 0] x"), "ERR PROTO" },
	{ L("* OK [UIDNEXT 4294967296] x"), "ERR PROTO" },
	{ L("* OK [APPENDUID 1] x"), "ERR PROTO" },
	{ L("* OK [ALERT no end"), "ERR PROTO" },
	{ L("* OK []"), "ERR PROTO" },
	{ L("* FLAGS(\\Seen)"), "ERR PROTO" },
	{ L("* 1 FETCH (UID 1))"), "ERR PROTO" },
	/* incomplete input is not an error */
	{ "* 1 FETCH (BODY[] {10}\r\nabc", "INCOMPLETE" },
	{ "* OK partial", "INCOMPLETE" },
};

static void test_table(void)
{
	static const size_t chunks[] = { 0, 1, 2, 3, 7, 64 };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct tcase *t = &cases[i];
		size_t len = strlen(t->in);
		for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
			struct buf out = BUF_INIT(BUF_MAX_DEFAULT);
			run(t->in, len, chunks[c], NULL, &out);
			if (strcmp(out.data, t->want) != 0)
				fprintf(stderr, "case %zu chunk %zu:\n got  %s\n want %s\n", i,
					chunks[c], out.data, t->want);
			CHECK_STR(out.data, t->want);
			buf_release(&out);
		}
	}
}

/* Limits: each is hit cleanly with ERR_LIMIT, and a value just inside works. */
static void test_limits(void)
{
	struct imap_parser_limits lim;
	struct buf out = BUF_INIT(BUF_MAX_DEFAULT);
	const char *line = L("* SEARCH 1 2 3 4 5 6 7 8 9");

	imap_parser_limits_default(&lim);
	lim.max_line = strlen(line);
	run(line, strlen(line), 1, &lim, &out);
	CHECK_STR(out.data, "* SEARCH 1 2 3 4 5 6 7 8 9\n");
	buf_reset(&out);
	lim.max_line = strlen(line) - 1;
	run(line, strlen(line), 0, &lim, &out);
	CHECK_STR(out.data, "ERR limit");
	buf_reset(&out);
	/* a line that never ends is cut at the limit, not buffered forever */
	{
		struct imap_parser *p = imap_parser_new(&lim);
		size_t used, total = 0;
		enum imap_parse_result r = IMAP_PARSE_MORE;
		for (int i = 0; i < 1000 && r == IMAP_PARSE_MORE; i++) {
			r = imap_parser_feed(p, "xxxxxxxxxx", 10, &used);
			total += used;
		}
		CHECK_INT(r, IMAP_PARSE_ERROR);
		CHECK_INT(imap_parser_error(p)->cls, ERR_LIMIT);
		CHECK(total <= lim.max_line);
		/* dead afterwards */
		CHECK_INT(imap_parser_feed(p, L("* OK"), 6, &used), IMAP_PARSE_ERROR);
		imap_parser_free(&p);
	}

	imap_parser_limits_default(&lim);
	lim.max_depth = 3;
	runs(L("* X (((a)))"), 1, &lim, &out);
	CHECK_STR(out.data, "* X (((a)))\n");
	buf_reset(&out);
	runs(L("* X ((((a))))"), 1, &lim, &out);
	CHECK_STR(out.data, "ERR limit");
	buf_reset(&out);

	imap_parser_limits_default(&lim);
	lim.max_args = 4;
	runs(L("* SEARCH 1 2 3 4"), 1, &lim, &out);
	CHECK_STR(out.data, "* SEARCH 1 2 3 4\n");
	buf_reset(&out);
	runs(L("* SEARCH 1 2 3 4 5"), 1, &lim, &out);
	CHECK_STR(out.data, "ERR limit");
	buf_reset(&out);
	runs(L("* X (1 2 3) 4"), 0, &lim, &out);
	CHECK_STR(out.data, "ERR limit");
	buf_reset(&out);

	imap_parser_limits_default(&lim);
	lim.max_literal = 10;
	runs(L("* 1 FETCH (A {5}") "12345" L(" B {5}") "12345" L(")"), 1, &lim, &out);
	CHECK_STR(out.data, "* 1 FETCH (A {5}\"12345\" B {5}\"12345\")\n");
	buf_reset(&out);
	runs(L("* 1 FETCH (A {5}") "12345" L(" B {6}") "123456" L(")"), 1, &lim, &out);
	CHECK_STR(out.data, "ERR limit");
	buf_reset(&out);
	/* a huge announced literal is refused at its header, before any data */
	runs(L("* 1 FETCH (BODY[] {9999999999999999999}"), 0, NULL, &out);
	CHECK_STR(out.data, "ERR limit");
	buf_reset(&out);
	runs(L("* 1 FETCH (BODY[] {999999999999999999999}"), 0, NULL, &out);
	CHECK_STR(out.data, "ERR PROTO");
	buf_release(&out);
}

/* Literal streaming into a sink. */
struct sinkctx {
	struct buf got;
	size_t writes, max_write;
	int fail_after;
	char item[64], keyword[16];
	uint32_t number;
	uint64_t size;
	int calls;
	struct imap_literal_sink sink;
};

static int sink_write(void *ctx, const void *data, size_t n)
{
	struct sinkctx *s = ctx;
	s->writes++;
	if (n > s->max_write)
		s->max_write = n;
	if (s->fail_after && (int)s->writes > s->fail_after)
		return -1;
	return buf_add(&s->got, data, n);
}

static const struct imap_literal_sink *handler(void *ctx, const struct imap_literal_info *info)
{
	struct sinkctx *s = ctx;
	s->calls++;
	if (!info->item || strncmp(info->item, "BODY[]", 6) != 0)
		return NULL;
	snprintf(s->item, sizeof s->item, "%s", info->item);
	snprintf(s->keyword, sizeof s->keyword, "%s", info->keyword);
	s->number = info->number;
	s->size = info->size;
	s->sink.write = sink_write;
	s->sink.ctx = s;
	return &s->sink;
}

static void test_streaming(void)
{
	static const char in[] = L("* 7 FETCH (UID 9 BODY[HEADER] {3}") "H: " L(" BODY[] {26}")
		"abcdefghijklmnopqrstuvwxyz" L(")") L("a1 OK done");
	for (size_t chunk = 0; chunk < 12; chunk++) {
		struct sinkctx s = { 0 };
		buf_init(&s.got, 0);
		struct buf out = BUF_INIT(BUF_MAX_DEFAULT);
		struct imap_parser *p = imap_parser_new(NULL);
		imap_parser_set_literal_handler(p, handler, &s);
		size_t pos = 0, len = sizeof in - 1;
		int done = 0;
		while (pos < len) {
			size_t n = chunk && len - pos > chunk ? chunk : len - pos, used;
			enum imap_parse_result r = imap_parser_feed(p, in + pos, n, &used);
			CHECK(r != IMAP_PARSE_ERROR);
			if (r == IMAP_PARSE_ERROR)
				break;
			if (r == IMAP_PARSE_DONE) {
				if (done++ == 0) {
					dump_resp(imap_parser_response(p), &out);
				} else {
					struct imap_response *resp = imap_parser_take(p);
					CHECK(resp && resp->status == IMAP_STATUS_OK);
					CHECK(imap_parser_response(p) == NULL);
					imap_response_free(&resp);
					CHECK(resp == NULL);
				}
			}
			pos += used;
		}
		CHECK_INT(done, 2);
		CHECK_STR(out.data, "* 7 FETCH (UID 9 BODY[HEADER] {3}\"H: \" BODY[] {26}<streamed>)");
		CHECK_STR(s.got.data, "abcdefghijklmnopqrstuvwxyz");
		CHECK_STR(s.item, "BODY[]");
		CHECK_STR(s.keyword, "FETCH");
		CHECK_INT(s.number, 7);
		CHECK_INT(s.size, 26);
		CHECK_INT(s.calls, 2);
		if (chunk)
			CHECK(s.max_write <= chunk);
		buf_release(&s.got);
		buf_release(&out);
		imap_parser_free(&p);
	}

	/* the sink failing aborts the parse */
	struct sinkctx s = { 0 };
	buf_init(&s.got, 0);
	s.fail_after = 2;
	struct imap_parser *p = imap_parser_new(NULL);
	imap_parser_set_literal_handler(p, handler, &s);
	size_t used = 0, pos = 0;
	enum imap_parse_result r = IMAP_PARSE_MORE;
	while (r == IMAP_PARSE_MORE && pos < sizeof in - 1) {
		r = imap_parser_feed(p, in + pos, 4, &used);
		pos += used;
	}
	CHECK_INT(r, IMAP_PARSE_ERROR);
	CHECK_INT(imap_parser_error(p)->cls, ERR_IO);
	buf_release(&s.got);
	imap_parser_free(&p);

	/* a streamed literal has its own, larger limit */
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	lim.max_literal = 4;
	lim.max_streamed_literal = 26;
	memset(&s, 0, sizeof s);
	buf_init(&s.got, 0);
	p = imap_parser_new(&lim);
	imap_parser_set_literal_handler(p, handler, &s);
	static const char in2[] = L("* 7 FETCH (BODY[] {26}") "abcdefghijklmnopqrstuvwxyz" L(")");
	CHECK_INT(imap_parser_feed(p, in2, sizeof in2 - 1, &used), IMAP_PARSE_DONE);
	CHECK_INT(used, sizeof in2 - 1);
	imap_parser_reset(p);
	static const char in3[] = L("* 7 FETCH (BODY[] {27}");
	CHECK_INT(imap_parser_feed(p, in3, sizeof in3 - 1, &used), IMAP_PARSE_ERROR);
	CHECK_INT(imap_parser_error(p)->cls, ERR_LIMIT);
	buf_release(&s.got);
	imap_parser_free(&p);
}

/* Typed bits of the tree that the dump does not show. */
static void test_fields(void)
{
	struct imap_parser *p = imap_parser_new(NULL);
	size_t used;
	static const char in[] = L("* OK [COPYUID 38505 304,319:320 3956:3958] Done");
	CHECK_INT(imap_parser_feed(p, in, sizeof in - 1, &used), IMAP_PARSE_DONE);
	const struct imap_response *r = imap_parser_response(p);
	CHECK_INT(r->kind, IMAP_RESP_UNTAGGED);
	CHECK_INT(r->status, IMAP_STATUS_OK);
	CHECK_INT(r->code.kind, IMAP_CODE_COPYUID);
	CHECK_INT(r->code.num, 38505);
	CHECK_INT(r->code.nwords, 3);
	CHECK_STR(r->code.words[1], "304,319:320");
	CHECK_STR(r->code.words[2], "3956:3958");

	static const char in2[] = L("a7 NO [ALREADYEXISTS] Mailbox exists");
	CHECK_INT(imap_parser_feed(p, in2, sizeof in2 - 1, &used), IMAP_PARSE_DONE);
	r = imap_parser_response(p);
	CHECK_INT(r->kind, IMAP_RESP_TAGGED);
	CHECK_STR(r->tag, "a7");
	CHECK_INT(r->status, IMAP_STATUS_NO);
	CHECK_INT(r->code.kind, IMAP_CODE_ALREADYEXISTS);
	CHECK_STR(r->text, "Mailbox exists");

	static const char in3[] = L("* 4 FETCH (FLAGS (\\Seen) BODY[] {2}") "\0x" L(")");
	CHECK_INT(imap_parser_feed(p, in3, sizeof in3 - 1, &used), IMAP_PARSE_DONE);
	r = imap_parser_response(p);
	CHECK_INT(r->nargs, 1);
	const struct imap_arg *items;
	size_t n;
	CHECK(imap_arg_list(&r->args[0], &items, &n));
	CHECK_INT(n, 4);
	CHECK(imap_arg_atom_eq(&items[0], "flags"));
	CHECK(imap_arg_astring(&items[3]) == NULL); /* has a NUL */
	CHECK_INT(items[3].len, 2);
	CHECK_INT(items[3].type, IMAP_ARG_LITERAL);
	int nil;
	CHECK(imap_arg_nstring(&items[0], &nil) == NULL);

	/* literal8 with a NUL; a NUL in the line is refused */
	static const char in5[] = L("* 1 FETCH (BINARY[] ~{3}") "a\0b" L(")");
	struct buf out = BUF_INIT(BUF_MAX_DEFAULT);
	run(in5, sizeof in5 - 1, 1, NULL, &out);
	CHECK_STR(out.data, "* 1 FETCH (BINARY[] ~{3}\"a\\x00b\")\n");
	buf_reset(&out);
	static const char in6[] = "* OK a\0b\r\n";
	run(in6, sizeof in6 - 1, 1, NULL, &out);
	CHECK_STR(out.data, "ERR PROTO");
	buf_release(&out);

	/* bytes after a response stay with the caller */
	static const char in4[] = L("* 1 EXISTS") "* 2 EXI";
	CHECK_INT(imap_parser_feed(p, in4, sizeof in4 - 1, &used), IMAP_PARSE_DONE);
	CHECK_INT(used, 12);
	CHECK_INT(imap_parser_feed(p, in4 + used, sizeof in4 - 1 - used, &used),
		  IMAP_PARSE_MORE);
	CHECK(imap_parser_busy(p));
	imap_parser_release(p);
	CHECK(imap_parser_busy(p));
	imap_parser_reset(p);
	CHECK(!imap_parser_busy(p));

	/* the error names the offending context */
	static const char bad[] = L("* LIST () \"/\" \"a\\qb\"");
	CHECK_INT(imap_parser_feed(p, bad, sizeof bad - 1, &used), IMAP_PARSE_ERROR);
	CHECK(strstr(imap_parser_error(p)->msg, "escape") != NULL);
	CHECK(strstr(imap_parser_error(p)->msg, "a\\qb") != NULL);
	imap_parser_free(&p);
	CHECK(p == NULL);
}

int main(void)
{
	test_table();
	test_limits();
	test_streaming();
	test_fields();
	return test_done();
}
