/*
 * store.c — the values that cross the store interface (store.h): flag sets,
 * mailbox and message records, listings, and the content fingerprint. Owns
 * no state; drivers live in store/imap and store/maildir.
 */
#include "store.h"

/* SHA256_Init and friends are deprecated in OpenSSL 3 in favour of EVP,
 * but EVP fetches the digest from the default provider, whose loading
 * touches about 2 MB of libcrypto in every process that fingerprints
 * (measured: resident 2.3 -> 4.3 MB for one hash); the low-level calls
 * compute the same SHA-256 with none of that. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/banned.h"

void flagset_init(struct flagset *f)
{
	f->sys = 0;
	f->kw = NULL;
	f->nkw = 0;
}

void flagset_free(struct flagset *f)
{
	for (size_t i = 0; i < f->nkw; i++)
		free(f->kw[i]);
	free(f->kw);
	flagset_init(f);
}

void flagset_copy(struct flagset *dst, const struct flagset *src)
{
	flagset_init(dst);
	dst->sys = src->sys;
	if (!src->nkw)
		return;
	dst->kw = mf_reallocarray(NULL, src->nkw, sizeof *dst->kw);
	for (size_t i = 0; i < src->nkw; i++)
		dst->kw[i] = mf_strdup(src->kw[i]);
	dst->nkw = src->nkw;
}

/* Index where kw is or would go. */
static size_t kw_pos(const struct flagset *f, const char *kw, int *found)
{
	size_t lo = 0, hi = f->nkw;
	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(f->kw[mid], kw);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void flagset_add_kw(struct flagset *f, const char *kw)
{
	int found;
	size_t i = kw_pos(f, kw, &found);
	if (found)
		return;
	f->kw = mf_reallocarray(f->kw, f->nkw + 1, sizeof *f->kw);
	memmove(f->kw + i + 1, f->kw + i, (f->nkw - i) * sizeof *f->kw);
	f->kw[i] = mf_strdup(kw);
	f->nkw++;
}

void flagset_del_kw(struct flagset *f, const char *kw)
{
	int found;
	size_t i = kw_pos(f, kw, &found);
	if (!found)
		return;
	free(f->kw[i]);
	memmove(f->kw + i, f->kw + i + 1, (f->nkw - i - 1) * sizeof *f->kw);
	f->nkw--;
}

int flagset_has_kw(const struct flagset *f, const char *kw)
{
	int found;
	kw_pos(f, kw, &found);
	return found;
}

int flagset_equal(const struct flagset *a, const struct flagset *b)
{
	if (a->sys != b->sys || a->nkw != b->nkw)
		return 0;
	for (size_t i = 0; i < a->nkw; i++)
		if (strcmp(a->kw[i], b->kw[i]) != 0)
			return 0;
	return 1;
}

static const struct {
	unsigned bit;
	const char *name;
} sysflags[] = {
	{ MF_ANSWERED, "\\Answered" }, { MF_FLAGGED, "\\Flagged" },
	{ MF_DELETED, "\\Deleted" },   { MF_SEEN, "\\Seen" },
	{ MF_DRAFT, "\\Draft" },
};

int flagset_format(const struct flagset *f, struct buf *out)
{
	const char *sep = "";
	for (size_t i = 0; i < sizeof sysflags / sizeof sysflags[0]; i++) {
		if (!(f->sys & sysflags[i].bit))
			continue;
		if (buf_addstr(out, sep) < 0 || buf_addstr(out, sysflags[i].name) < 0)
			return -1;
		sep = " ";
	}
	for (size_t i = 0; i < f->nkw; i++) {
		if (buf_addstr(out, sep) < 0 || buf_addstr(out, f->kw[i]) < 0)
			return -1;
		sep = " ";
	}
	return 0;
}

static void add_word(struct flagset *f, const char *w, size_t n)
{
	char tmp[256];
	if (n == 0 || n >= sizeof tmp)
		return;
	memcpy(tmp, w, n);
	tmp[n] = '\0';
	if (tmp[0] != '\\') {
		flagset_add_kw(f, tmp);
		return;
	}
	for (size_t i = 0; i < sizeof sysflags / sizeof sysflags[0]; i++)
		if (strcasecmp(tmp, sysflags[i].name) == 0)
			f->sys |= sysflags[i].bit;
}

int flagset_parse(struct flagset *f, const char *text)
{
	const char *p = text;
	while (*p) {
		while (*p == ' ' || *p == '(' || *p == ')')
			p++;
		const char *start = p;
		while (*p && *p != ' ' && *p != '(' && *p != ')')
			p++;
		add_word(f, start, (size_t)(p - start));
	}
	return 0;
}

void store_box_free(struct store_box *b)
{
	free(b->name);
	b->name = NULL;
}

void store_boxes_free(struct store_box *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_box_free(&v[i]);
	free(v);
}

void store_msg_free(struct store_msg *m)
{
	free(m->key);
	m->key = NULL;
	flagset_free(&m->flags);
}

void store_msgs_free(struct store_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_msg_free(&v[i]);
	free(v);
}

void store_listing_free(struct store_listing *l)
{
	store_msgs_free(l->msgs, l->n);
	for (size_t i = 0; i < l->nvanished; i++)
		free(l->vanished[i]);
	free(l->vanished);
	memset(l, 0, sizeof *l);
}

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

int store_header_field(const char *hdr, size_t len, const char *name, struct buf *out)
{
	size_t nl = strlen(name);
	size_t i = 0;
	while (i < len) {
		/* i is at the start of a line */
		if (hdr[i] == '\n' || (hdr[i] == '\r' && i + 1 < len && hdr[i + 1] == '\n'))
			return 0; /* end of header */
		int match = !is_wsp(hdr[i]) && i + nl < len && strncasecmp(hdr + i, name, nl) == 0;
		size_t j = i + nl;
		if (match) {
			while (j < len && is_wsp(hdr[j]))
				j++;
			match = j < len && hdr[j] == ':';
		}
		if (!match) {
			const char *e = memchr(hdr + i, '\n', len - i);
			if (!e)
				return 0;
			i = (size_t)(e - hdr) + 1;
			continue;
		}
		size_t start = out->len;
		for (j++; j < len; j++) {
			char c = hdr[j];
			if (c == '\r')
				continue;
			if (c == '\n') {
				if (j + 1 < len && is_wsp(hdr[j + 1]))
					continue;
				break;
			}
			if (buf_addch(out, c) < 0)
				return -1;
		}
		/* trim */
		size_t s = start;
		while (s < out->len && is_wsp(out->data[s]))
			s++;
		size_t e2 = out->len;
		while (e2 > s && is_wsp(out->data[e2 - 1]))
			e2--;
		memmove(out->data + start, out->data + s, e2 - s);
		buf_truncate(out, start + (e2 - s));
		return 1;
	}
	return 0;
}

/* Message-IDs and Dates are compared after trimming folding white space,
 * since servers and mail readers re-fold long header lines. */
static void hash_field(SHA256_CTX *md, const char *tag, const char *v)
{
	SHA256_Update(md, tag, strlen(tag) + 1);
	const char *p = v ? v : "";
	while (*p) {
		size_t run = strcspn(p, " \t\r\n");
		SHA256_Update(md, p, run);
		p += run;
		p += strspn(p, " \t\r\n");
	}
	SHA256_Update(md, "", 1);
}

void store_fingerprint(const char *msgid, const char *date, uint64_t size,
		       int64_t idate, unsigned char fp[32])
{
	SHA256_CTX md;
	char num[64];
	SHA256_Init(&md);
	int has_id = msgid && *msgid;
	hash_field(&md, "message-id", has_id ? msgid : "");
	hash_field(&md, "date", date);
	snprintf(num, sizeof num, "%llu", (unsigned long long)size);
	hash_field(&md, "size", num);
	if (!has_id) {
		snprintf(num, sizeof num, "%lld", (long long)idate);
		hash_field(&md, "idate", num);
	}
	SHA256_Final(fp, &md);
}
