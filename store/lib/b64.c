/*
 * b64.c — standard base64 for SASL exchanges (see b64.h). The decoder is
 * strict because its input comes from a server: a challenge with stray
 * characters or non-zero padding bits is refused rather than guessed at.
 */
#include "lib/b64.h"

#include <string.h>

#include "lib/banned.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_encode(const void *p, size_t n, struct buf *out)
{
	const unsigned char *in = p;
	size_t old = out->len;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		char q[4] = { alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
			      i + 1 < n ? alphabet[(v >> 6) & 63] : '=',
			      i + 2 < n ? alphabet[v & 63] : '=' };
		if (buf_add(out, q, 4) < 0) {
			buf_truncate(out, old);
			return -1;
		}
	}
	return 0;
}

static int value(char ch)
{
	const char *at = ch ? strchr(alphabet, ch) : NULL;
	return at ? (int)(at - alphabet) : -1;
}

int b64_decode(const char *s, size_t n, struct buf *out)
{
	size_t old = out->len;
	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int last = i + 4 == n;
		int pad = (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=');
		int v[4];
		for (int k = 0; k < 4 - pad; k++)
			if ((v[k] = value(s[i + k])) < 0)
				goto bad;
		if (pad && !last)
			goto bad;
		unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
				(pad < 2 ? (unsigned)v[2] << 6 : 0) | (pad < 1 ? (unsigned)v[3] : 0);
		unsigned char b[3] = { bits >> 16, (bits >> 8) & 0xff, bits & 0xff };
		/* the bits a padded quad does not use must be zero (RFC 4648 3.5) */
		if ((pad == 1 && (bits & 0xff)) || (pad == 2 && (bits & 0xffff)))
			goto bad;
		if (buf_add(out, b, 3 - (size_t)pad) < 0)
			goto bad;
	}
	return 0;
bad:
	buf_truncate(out, old);
	return -1;
}
