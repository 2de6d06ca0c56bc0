/*
 * imap_utf7.c — modified UTF-7 (RFC 3501 section 5.1.3) <-> UTF-8 for
 * mailbox names, strict both ways (see imap_utf7.h for what is refused).
 * Owns no state.
 *
 * Modified UTF-7: printable US-ASCII (0x20..0x7e) stands for itself except
 * '&', written "&-"; everything else is UTF-16 in modified base64 (',' for
 * '/', no '=' padding) between '&' and '-'. Canonical form: the shortest,
 * so a shift never holds a printable char and two shifts never touch.
 */
#include "imap/imap_utf7.h"

#include <stdint.h>
#include <string.h>

#include "lib/banned.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static int utf8_put(struct buf *out, uint32_t cp)
{
	char s[4];
	size_t n;
	if (cp < 0x80) {
		s[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		s[0] = (char)(0xc0 | (cp >> 6));
		s[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		s[0] = (char)(0xe0 | (cp >> 12));
		s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		s[0] = (char)(0xf0 | (cp >> 18));
		s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		s[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_add(out, s, n);
}

/* Decode one shift: in[*i] is the first byte after '&'. */
static int decode_shift(const char *in, size_t len, size_t *i, struct buf *out,
			const char **why)
{
	uint32_t bits = 0, hi = 0;
	int nbits = 0, units = 0;
	size_t p = *i;
	for (;; p++) {
		if (p >= len) {
			*why = "unterminated '&' shift";
			return -1;
		}
		unsigned char c = (unsigned char)in[p];
		if (c == '-')
			break;
		int v = b64_val(c);
		if (v < 0) {
			*why = "bad base64 character in shift";
			return -1;
		}
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (hi) {
			if (u < 0xdc00 || u > 0xdfff) {
				*why = "unpaired surrogate";
				return -1;
			}
			u = 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00);
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
			continue;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			*why = "unpaired surrogate";
			return -1;
		}
		if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
			*why = u ? "printable character inside a shift" : "NUL character";
			return -1;
		}
		if (utf8_put(out, u) < 0) {
			*why = "name too long";
			return -1;
		}
	}
	if (hi) {
		*why = "unpaired surrogate";
		return -1;
	}
	if (units == 0 || nbits >= 6 || bits != 0) {
		*why = units ? "bad padding bits in shift" : "empty shift";
		return -1;
	}
	*i = p + 1;
	return 0;
}

int imap_utf7_decode(const char *in, size_t len, struct buf *out, struct err *e)
{
	size_t start = out->len, i = 0;
	const char *why = NULL;
	int after_shift = 0;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c > 0x7e) {
			why = "byte outside printable ASCII";
			break;
		}
		if (c != '&') {
			if (buf_addch(out, c) < 0) {
				why = "name too long";
				break;
			}
			i++;
			after_shift = 0;
			continue;
		}
		if (i + 1 < len && in[i + 1] == '-') {
			if (buf_addch(out, '&') < 0) {
				why = "name too long";
				break;
			}
			i += 2;
			after_shift = 0;
			continue;
		}
		if (after_shift) {
			why = "two adjacent shifts";
			break;
		}
		i++;
		if (decode_shift(in, len, &i, out, &why) < 0)
			break;
		after_shift = 1;
	}
	if (why) {
		buf_truncate(out, start);
		return err_set(e, ERR_PROTO, "bad modified UTF-7 mailbox name '%.*s': %s",
			       (int)(len > 80 ? 80 : len), in, why);
	}
	return 0;
}

/* Next code point of strict UTF-8 at in[*i]; -1 if invalid. */
static int utf8_next(const unsigned char *in, size_t len, size_t *i, uint32_t *cp_r)
{
	unsigned char c = in[*i];
	uint32_t cp, min;
	int n;
	if (c < 0x80) {
		if (!c)
			return -1;
		*cp_r = c;
		(*i)++;
		return 0;
	} else if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f;
		n = 1;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f;
		n = 2;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07;
		n = 3;
		min = 0x10000;
	} else {
		return -1;
	}
	if (len - *i <= (size_t)n)
		return -1;
	for (int k = 1; k <= n; k++) {
		unsigned char cc = in[*i + (size_t)k];
		if ((cc & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += (size_t)n + 1;
	*cp_r = cp;
	return 0;
}

struct enc {
	uint32_t bits;
	int nbits;
	int open;
};

static int enc_unit(struct enc *st, struct buf *out, uint32_t u)
{
	st->bits = (st->bits << 16) | u;
	st->nbits += 16;
	while (st->nbits >= 6) {
		st->nbits -= 6;
		if (buf_addch(out, b64[(st->bits >> st->nbits) & 0x3f]) < 0)
			return -1;
	}
	st->bits &= (1u << st->nbits) - 1;
	return 0;
}

static int enc_close(struct enc *st, struct buf *out)
{
	if (!st->open)
		return 0;
	if (st->nbits && buf_addch(out, b64[(st->bits << (6 - st->nbits)) & 0x3f]) < 0)
		return -1;
	st->bits = 0;
	st->nbits = 0;
	st->open = 0;
	return buf_addch(out, '-');
}

int imap_utf7_encode(const char *in, size_t len, struct buf *out, struct err *e)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t start = out->len, i = 0;
	struct enc st = { 0, 0, 0 };
	const char *why = NULL;
	while (i < len && !why) {
		uint32_t cp;
		if (utf8_next(s, len, &i, &cp) < 0) {
			why = s[i] ? "invalid UTF-8" : "NUL byte";
			break;
		}
		int r;
		if (cp >= 0x20 && cp <= 0x7e) {
			r = enc_close(&st, out);
			if (r == 0)
				r = cp == '&' ? buf_add(out, "&-", 2) : buf_addch(out, (int)cp);
		} else {
			r = 0;
			if (!st.open) {
				r = buf_addch(out, '&');
				st.open = 1;
			}
			if (r == 0 && cp >= 0x10000) {
				r = enc_unit(&st, out, 0xd800 + ((cp - 0x10000) >> 10));
				if (r == 0)
					r = enc_unit(&st, out, 0xdc00 + ((cp - 0x10000) & 0x3ff));
			} else if (r == 0) {
				r = enc_unit(&st, out, cp);
			}
		}
		if (r < 0)
			why = "name too long";
	}
	if (!why && enc_close(&st, out) < 0)
		why = "name too long";
	if (why) {
		buf_truncate(out, start);
		return err_set(e, ERR_USAGE, "cannot encode mailbox name '%.*s': %s",
			       (int)(len > 80 ? 80 : len), in, why);
	}
	return 0;
}

int imap_utf7_needs_encoding(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '&')
			return 1;
	}
	return 0;
}
