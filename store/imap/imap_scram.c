/*
 * imap_scram.c — SCRAM-SHA-1 / SCRAM-SHA-256 client (RFC 5802, RFC 7677).
 * Owns one exchange: the nonce, the messages that make up the AuthMessage,
 * and the keys derived from the password, which are wiped on free.
 *
 * The exchange, as the SASL steps see it:
 *   initial   -> client-first  "n,,n=USER,r=CNONCE"
 *   challenge server-first     "r=CNONCE+SNONCE,s=SALT,i=ITER"
 *             -> client-final  "c=biws,r=CNONCE+SNONCE,p=PROOF"
 *   challenge server-final     "v=SERVER-SIGNATURE" (or "e=ERROR")
 *             -> ""            (the empty response IMAP asks for)
 * Everything in a challenge is the server's word and is checked: the nonce
 * must extend ours, the salt be base64, the iteration count be bounded, an
 * unknown mandatory extension ("m=") refuses the exchange.
 */
#include "imap/imap_scram.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "lib/b64.h"
#include "lib/banned.h"

enum scram_state {
	SCRAM_START,      /* nothing sent */
	SCRAM_FIRST_SENT, /* client-first sent, server-first awaited */
	SCRAM_FINAL_SENT, /* client-final sent, server-final awaited */
	SCRAM_VERIFIED,   /* the server's signature matched */
	SCRAM_FAILED,
};

#define SCRAM_MAX_MD 32 /* SHA-256 */

struct imap_scram {
	enum scram_state state;
	enum imap_scram_hash hash;
	struct buf user;          /* saslname: ',' and '=' escaped */
	struct buf pass;
	struct buf nonce;         /* ours */
	struct buf auth_msg;      /* client-first-bare "," server-first "," final-without-proof */
	unsigned char server_sig[SCRAM_MAX_MD];
};

const char *imap_scram_mech(enum imap_scram_hash h)
{
	return h == IMAP_SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

static const EVP_MD *md_of(const struct imap_scram *s)
{
	return s->hash == IMAP_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

static size_t md_len(const struct imap_scram *s)
{
	return s->hash == IMAP_SCRAM_SHA1 ? 20 : 32;
}

int imap_scram_new(enum imap_scram_hash h, const char *user, const char *pass,
		   const char *nonce, struct imap_scram **s_r, struct err *e)
{
	struct imap_scram *s = mf_calloc(1, sizeof *s);
	s->hash = h;
	buf_init(&s->user, 4096);
	buf_init(&s->pass, 4096);
	buf_init(&s->nonce, 256);
	buf_init(&s->auth_msg, 1 << 16);
	*s_r = NULL;
	int bad = 0;
	for (const char *p = user; *p && !bad; p++)
		bad = buf_addstr(&s->user, *p == ',' ? "=2C" : *p == '=' ? "=3D" : (char[]){ *p, 0 });
	bad = bad || buf_addstr(&s->pass, pass) < 0;
	if (nonce) {
		bad = bad || buf_addstr(&s->nonce, nonce) < 0;
	} else {
		unsigned char r[24];
		if (RAND_bytes(r, sizeof r) != 1) {
			imap_scram_free(&s);
			return err_set(e, ERR_TLS, "SCRAM: no random bytes for the nonce");
		}
		bad = bad || b64_encode(r, sizeof r, &s->nonce) < 0;
	}
	if (bad) {
		imap_scram_free(&s);
		return err_set(e, ERR_USAGE, "SCRAM: user name or password too long");
	}
	*s_r = s;
	return 0;
}

void imap_scram_free(struct imap_scram **sp)
{
	struct imap_scram *s = *sp;
	if (!s)
		return;
	OPENSSL_cleanse(s->pass.data, s->pass.len);
	OPENSSL_cleanse(s->server_sig, sizeof s->server_sig);
	buf_release(&s->user);
	buf_release(&s->pass);
	buf_release(&s->nonce);
	buf_release(&s->auth_msg);
	free(s);
	*sp = NULL;
}

int imap_scram_verified(const struct imap_scram *s)
{
	return s && s->state == SCRAM_VERIFIED;
}

static int fail(struct imap_scram *s, struct err *e, const char *why)
{
	s->state = SCRAM_FAILED;
	return err_set(e, ERR_AUTH, "%s: %s", imap_scram_mech(s->hash), why);
}

/* The value of attribute `key` in a challenge "k=v,k=v,...", the first one
 * counted from attribute index `at`; NULL if absent. */
static const char *attr(const char *in, size_t n, size_t at, char key, size_t *len_r)
{
	size_t i = 0, idx = 0;
	while (i < n) {
		size_t end = i;
		while (end < n && in[end] != ',')
			end++;
		if (idx >= at && end - i >= 2 && in[i] == key && in[i + 1] == '=') {
			*len_r = end - i - 2;
			return in + i + 2;
		}
		i = end + 1;
		idx++;
	}
	return NULL;
}

static int client_first(struct imap_scram *s, struct buf *out, struct err *e)
{
	size_t start = out->len;
	if (buf_addstr(out, "n,,") < 0 || buf_addf(out, "n=%s,r=%s", s->user.data,
						     s->nonce.data) < 0 ||
	    buf_add(&s->auth_msg, out->data + start + 3, out->len - start - 3) < 0)
		return fail(s, e, "user name too long");
	s->state = SCRAM_FIRST_SENT;
	return 0;
}

static int hmac(const struct imap_scram *s, const void *key, size_t klen, const void *msg,
		size_t mlen, unsigned char *md)
{
	unsigned len = 0;
	return HMAC(md_of(s), key, (int)klen, msg, mlen, md, &len) && len == md_len(s) ? 0 : -1;
}

/* ClientProof and ServerSignature for AuthMessage (RFC 5802 3). */
static int keys(struct imap_scram *s, const struct buf *salt, unsigned long iter,
		unsigned char proof[SCRAM_MAX_MD])
{
	unsigned char salted[SCRAM_MAX_MD], ckey[SCRAM_MAX_MD], stored[SCRAM_MAX_MD],
		csig[SCRAM_MAX_MD], skey[SCRAM_MAX_MD];
	size_t ml = md_len(s);
	unsigned dl = 0;
	int rc = -1;
	if (PKCS5_PBKDF2_HMAC(s->pass.data, (int)s->pass.len, (const unsigned char *)salt->data,
			      (int)salt->len, (int)iter, md_of(s), (int)ml, salted) == 1 &&
	    hmac(s, salted, ml, "Client Key", 10, ckey) == 0 &&
	    EVP_Digest(ckey, ml, stored, &dl, md_of(s), NULL) == 1 && dl == ml &&
	    hmac(s, stored, ml, s->auth_msg.data, s->auth_msg.len, csig) == 0 &&
	    hmac(s, salted, ml, "Server Key", 10, skey) == 0 &&
	    hmac(s, skey, ml, s->auth_msg.data, s->auth_msg.len, s->server_sig) == 0) {
		for (size_t i = 0; i < ml; i++)
			proof[i] = ckey[i] ^ csig[i];
		rc = 0;
	}
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(ckey, sizeof ckey);
	OPENSSL_cleanse(stored, sizeof stored);
	OPENSSL_cleanse(csig, sizeof csig);
	OPENSSL_cleanse(skey, sizeof skey);
	return rc;
}

static int parse_iter(const char *v, size_t n, unsigned long *iter_r)
{
	unsigned long it = 0;
	if (n == 0 || n > 9 || v[0] == '0')
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		it = it * 10 + (unsigned long)(v[i] - '0');
	}
	*iter_r = it;
	return 0;
}

static int client_final(struct imap_scram *s, const char *in, size_t n, struct buf *out,
			struct err *e)
{
	size_t rl, sl, il;
	if (n >= 2 && in[0] == 'm' && in[1] == '=')
		return fail(s, e, "the server requires an extension this client lacks");
	if (n >= 2 && in[0] == 'e' && in[1] == '=')
		return fail(s, e, "the server refused the exchange");
	const char *r = n >= 2 && in[0] == 'r' && in[1] == '=' ? in + 2 : NULL;
	rl = 0;
	if (r) {
		rl = 0;
		while (2 + rl < n && r[rl] != ',')
			rl++;
	}
	const char *salt64 = attr(in, n, 1, 's', &sl);
	const char *it = attr(in, n, 1, 'i', &il);
	unsigned long iter = 0;
	if (!r || rl <= s->nonce.len || memcmp(r, s->nonce.data, s->nonce.len) != 0)
		return fail(s, e, "the server's nonce does not extend the client's");
	for (size_t i = 0; i < rl; i++)
		if (r[i] < 0x21 || r[i] > 0x7e)
			return fail(s, e, "the server's nonce holds characters RFC 5802 forbids");
	if (!salt64 || !it)
		return fail(s, e, "the server's first challenge lacks the salt or iteration count");
	if (parse_iter(it, il, &iter) < 0 || iter > IMAP_SCRAM_MAX_ITER)
		return fail(s, e, "the server's iteration count is not a number from 1 to 1000000");
	struct buf salt = BUF_INIT(1024);
	if (b64_decode(salt64, sl, &salt) < 0 || salt.len == 0) {
		buf_release(&salt);
		return fail(s, e, "the server's salt is not base64");
	}
	size_t start = out->len;
	unsigned char proof[SCRAM_MAX_MD];
	/* c=biws: base64 of the gs2 header "n,," */
	int bad = buf_add(&s->auth_msg, ",", 1) < 0 || buf_add(&s->auth_msg, in, n) < 0 ||
		  buf_addstr(&s->auth_msg, ",c=biws,r=") < 0 || buf_add(&s->auth_msg, r, rl) < 0;
	bad = bad || keys(s, &salt, iter, proof) < 0;
	buf_release(&salt);
	if (bad)
		return fail(s, e, "cannot derive the keys (challenge too long or crypto failure)");
	bad = buf_addstr(out, "c=biws,r=") < 0 || buf_add(out, r, rl) < 0 ||
	      buf_addstr(out, ",p=") < 0 || b64_encode(proof, md_len(s), out) < 0;
	OPENSSL_cleanse(proof, sizeof proof);
	if (bad) {
		buf_truncate(out, start);
		return fail(s, e, "response too long");
	}
	s->state = SCRAM_FINAL_SENT;
	return 0;
}

static int check_server(struct imap_scram *s, const char *in, size_t n, struct err *e)
{
	if (n >= 2 && in[0] == 'e' && in[1] == '=') {
		size_t l = 0;
		while (2 + l < n && in[2 + l] != ',' && l < 64)
			l++;
		s->state = SCRAM_FAILED;
		char why[80];
		size_t k = 0;
		for (size_t i = 0; i < l; i++) /* the server's word goes to a log: printable only */
			why[k++] = in[2 + i] >= 0x20 && in[2 + i] < 0x7f ? in[2 + i] : '?';
		why[k] = 0;
		return err_set(e, ERR_AUTH, "%s: the server reports: %s", imap_scram_mech(s->hash),
			       why);
	}
	size_t vl;
	const char *v = n >= 2 && in[0] == 'v' && in[1] == '=' ? attr(in, n, 0, 'v', &vl) : NULL;
	struct buf sig = BUF_INIT(SCRAM_MAX_MD);
	int ok = v && b64_decode(v, vl, &sig) == 0 && sig.len == md_len(s) &&
		 CRYPTO_memcmp(sig.data, s->server_sig, md_len(s)) == 0;
	buf_release(&sig);
	if (!ok)
		return fail(s, e, "the server's signature is wrong: it does not know the password");
	s->state = SCRAM_VERIFIED;
	return 0;
}

int imap_scram_step(struct imap_scram *s, const char *in, size_t n, struct buf *out,
		    struct err *e)
{
	switch (s->state) {
	case SCRAM_START:
		if (in && n)
			return fail(s, e, "the server spoke first");
		return client_first(s, out, e);
	case SCRAM_FIRST_SENT:
		if (!in || !n)
			return fail(s, e, "empty challenge");
		return client_final(s, in, n, out, e);
	case SCRAM_FINAL_SENT:
		if (!in || !n)
			return fail(s, e, "empty challenge");
		return check_server(s, in, n, e);
	case SCRAM_VERIFIED:
		return fail(s, e, "a challenge after the exchange ended");
	case SCRAM_FAILED:
		break;
	}
	return fail(s, e, "the exchange already failed");
}
