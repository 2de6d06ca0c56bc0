/*
 * fuzz_parser.c — libFuzzer target for the IMAP response parser and the
 * typed decoders behind it (imap_resp), plus the modified UTF-7 codec on
 * every mailbox name and the date parser on every INTERNALDATE.
 *
 * Input layout: byte 0 picks the limits (small ones reach the limit paths)
 * and whether BODY[] literals are streamed; byte 1 seeds the chunk sizes;
 * the rest is the server byte stream. The stream is parsed twice, once in a
 * single feed and once in chunks, and the two runs must agree response by
 * response (the parser's "any split gives the same result" promise); any
 * difference aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_date.h"
#include "imap/imap_parser.h"
#include "imap/imap_resp.h"
#include "imap/imap_uidset.h"
#include "imap/imap_utf7.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	struct imap_literal_sink s;
	uint64_t written, fail_at;
};

static int sink_write(void *ctx, const void *d, size_t n)
{
	struct sink *k = ctx;
	(void)d;
	k->written += n;
	return k->fail_at && k->written >= k->fail_at ? -1 : 0;
}

static const struct imap_literal_sink *handler(void *ctx, const struct imap_literal_info *info)
{
	struct sink *k = ctx;
	if (!info->item || strncmp(info->item, "BODY[]", 6) != 0)
		return NULL;
	k->s.write = sink_write;
	k->s.ctx = k;
	return &k->s;
}

static void check_utf7(const char *name)
{
	struct buf a = BUF_INIT(4096), b = BUF_INIT(8192);
	struct err e;
	if (imap_utf7_decode(name, strlen(name), &a, &e) == 0) {
		/* canonical input must survive the round trip */
		if (imap_utf7_encode(a.data, a.len, &b, &e) != 0 || strcmp(b.data, name) != 0)
			abort();
	}
	buf_release(&a);
	buf_release(&b);
}

static void check_set(const struct imap_uidset *s)
{
	struct imap_uidset_iter it;
	uint32_t uid;
	size_t n = 0;
	imap_uidset_iter_init(&it, s);
	while (n < 1000 && imap_uidset_iter_next(&it, &uid))
		n++;
}

/* Every decoder on every response, whatever its keyword: they must refuse
 * wrong shapes cleanly. */
static void decode_all(const struct imap_response *r)
{
	struct err e;
	struct imap_fetch f;
	if (imap_resp_fetch(r, &f, &e) == 0) {
		if (f.present & IMAP_FETCH_IDATE) {
			char out[IMAP_DATE_TIME_LEN + 1];
			time_t t2;
			if (imap_date_time_format(f.internaldate, 0, out) == 0 &&
			    (imap_date_time_parse(out, &t2) != 0 || t2 != f.internaldate))
				abort();
		}
		imap_fetch_free(&f);
	}
	struct imap_list l;
	if (imap_resp_list(r, &l, &e) == 0) {
		check_utf7(l.name);
		imap_list_free(&l);
	}
	struct imap_status_info st;
	if (imap_resp_status(r, &st, &e) == 0) {
		check_utf7(st.name);
		imap_status_info_free(&st);
	}
	uint32_t *nums;
	size_t n;
	uint64_t modseq;
	if (imap_resp_search(r, &nums, &n, &modseq, &e) == 0)
		free(nums);
	struct imap_esearch es;
	if (imap_resp_esearch(r, &es, &e) == 0) {
		check_set(&es.all);
		imap_esearch_free(&es);
	}
	int earlier;
	struct imap_uidset set, set2;
	if (imap_resp_vanished(r, &earlier, &set, &e) == 0) {
		check_set(&set);
		imap_uidset_free(&set);
	}
	struct imap_strv sv;
	if (imap_resp_capability(r, &sv, &e) == 0)
		imap_strv_free(&sv);
	if (imap_resp_enabled(r, &sv, &e) == 0)
		imap_strv_free(&sv);
	if (imap_resp_code_capability(&r->code, &sv, &e) == 0)
		imap_strv_free(&sv);
	struct imap_namespace ns;
	if (imap_resp_namespace(r, &ns, &e) == 0)
		imap_namespace_free(&ns);
	struct imap_id id;
	if (imap_resp_id(r, &id, &e) == 0)
		imap_id_free(&id);
	char *name, *rights;
	if (imap_resp_myrights(r, &name, &rights, &e) == 0) {
		free(name);
		free(rights);
	}
	uint32_t uv;
	if (imap_resp_appenduid(&r->code, &uv, &set, &e) == 0) {
		check_set(&set);
		imap_uidset_free(&set);
	}
	if (imap_resp_copyuid(&r->code, &uv, &set, &set2, &e) == 0) {
		imap_uidset_free(&set);
		imap_uidset_free(&set2);
	}
}

static void dump(const struct imap_response *r, struct buf *out)
{
	buf_addf(out, "%d|%s|%d|%u|%s|%d|%s|%s|%s|", r->kind, r->tag ? r->tag : "-",
		 r->has_number, r->number, r->keyword, r->code.kind,
		 r->code.name ? r->code.name : "-", r->code.raw ? r->code.raw : "-", r->text);
	imap_args_dump(r->args, r->nargs, out);
	buf_addch(out, '\n');
}

/* Parse `in` in chunks (chunk_seed 0: at once); dump into out. */
static void run(const uint8_t *in, size_t len, unsigned mode, unsigned chunk_seed,
		struct buf *out)
{
	struct imap_parser_limits lim;
	imap_parser_limits_default(&lim);
	if (mode & 1) {
		lim.max_line = 256;
		lim.max_depth = 4;
		lim.max_literal = 64;
		lim.max_streamed_literal = 128;
		lim.max_args = 32;
	}
	struct sink k = { { 0 }, 0, (mode & 4) ? 50 : 0 };
	struct imap_parser *p = imap_parser_new(&lim);
	if (mode & 2)
		imap_parser_set_literal_handler(p, handler, &k);
	uint32_t rng = chunk_seed * 2654435761u + 1;
	size_t pos = 0;
	int dead = 0;
	while (pos < len && !dead) {
		size_t n = len - pos;
		if (chunk_seed) {
			rng = rng * 1103515245u + 12345u;
			size_t c = 1 + ((rng >> 16) % 17);
			if (c < n)
				n = c;
		}
		size_t off = 0;
		while (off < n) {
			size_t used;
			enum imap_parse_result r = imap_parser_feed(p, in + pos + off, n - off, &used);
			if (used > n - off)
				abort();
			off += used;
			if (r == IMAP_PARSE_ERROR) {
				buf_addf(out, "ERROR %d\n", imap_parser_error(p)->cls);
				dead = 1;
				break;
			}
			if (r == IMAP_PARSE_DONE) {
				const struct imap_response *resp = imap_parser_response(p);
				if (!resp || used == 0)
					abort();
				dump(resp, out);
				if (chunk_seed)
					decode_all(resp);
			} else if (off != n) {
				abort();
			}
		}
		pos += n;
	}
	imap_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned mode = data[0];
	unsigned seed = data[1] ? data[1] : 1;
	if (mode & 8) {
		/* the codec alone: strict UTF-7 must round-trip, and anything the
		 * encoder accepts must decode back to the same UTF-8 */
		struct buf u = BUF_INIT(1 << 16), v = BUF_INIT(1 << 16);
		struct err e;
		const char *s = (const char *)data + 2;
		size_t n = size - 2;
		if (imap_utf7_decode(s, n, &u, &e) == 0 &&
		    (imap_utf7_encode(u.data, u.len, &v, &e) != 0 || v.len != n ||
		     memcmp(v.data, s, n) != 0))
			abort();
		buf_reset(&u);
		buf_reset(&v);
		if (imap_utf7_encode(s, n, &u, &e) == 0 &&
		    (imap_utf7_decode(u.data, u.len, &v, &e) != 0 || v.len != n ||
		     memcmp(v.data, s, n) != 0))
			abort();
		buf_release(&u);
		buf_release(&v);
	}
	struct buf a = BUF_INIT(BUF_MAX_DEFAULT), b = BUF_INIT(BUF_MAX_DEFAULT);
	run(data + 2, size - 2, mode, 0, &a);
	run(data + 2, size - 2, mode, seed, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
		fprintf(stderr, "whole:\n%s\nchunked:\n%s\n", a.data, b.data);
		abort();
	}
	buf_release(&a);
	buf_release(&b);
	return 0;
}
