/*
 * test_scram.c — the SCRAM client as a pure state machine: the example
 * exchanges of RFC 5802 (SHA-1) and RFC 7677 (SHA-256) byte for byte, a
 * table of server challenges it must refuse, and randomly damaged ones.
 */
#include <string.h>

#include "imap/imap_scram.h"
#include "testlib.h"

struct vector {
	enum imap_scram_hash h;
	const char *nonce, *client_first, *server_first, *client_final, *server_final;
};

static const struct vector vectors[] = {
	{ IMAP_SCRAM_SHA1, "fyko+d2lbbFgONRv9qkxdawL", "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	  "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	  "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=" },
	{ IMAP_SCRAM_SHA256, "rOprNGfwEbeRWgbNEkqO", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
	  "i=4096",
	  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" },
};

static void run_vector(const struct vector *v)
{
	struct imap_scram *s;
	struct err e;
	struct buf out = BUF_INIT(4096);
	CHECK_INT(imap_scram_new(v->h, "user", "pencil", v->nonce, &s, &e), 0);
	CHECK_INT(imap_scram_step(s, NULL, 0, &out, &e), 0);
	CHECK_STR(out.data, v->client_first);
	buf_reset(&out);
	CHECK_INT(imap_scram_step(s, v->server_first, strlen(v->server_first), &out, &e), 0);
	CHECK_STR(out.data, v->client_final);
	CHECK(!imap_scram_verified(s));
	buf_reset(&out);
	CHECK_INT(imap_scram_step(s, v->server_final, strlen(v->server_final), &out, &e), 0);
	CHECK_INT(out.len, 0);
	CHECK(imap_scram_verified(s));
	/* nothing may follow */
	CHECK_INT(imap_scram_step(s, "x", 1, &out, &e), -1);
	imap_scram_free(&s);
	CHECK(s == NULL);
	buf_release(&out);
}

/* Server challenges refused, by the step they come at (1: server-first,
 * 2: server-final after a correct server-first of the SHA-256 vector). */
static const struct {
	int at;
	const char *challenge, *says;
} hostile[] = {
	{ 1, "r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce" }, /* not extended */
	{ 1, "r=rOprNGfwEbeRWgbNEkqOx y,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "forbids" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqOxy,i=4096", "salt" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqOxy,s=W22ZaJ0SNY7soEsUEjb6gQ==", "iteration" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqOxy,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "iteration" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqOxy,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001", "iteration" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqOxy,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4294967296", "iteration" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqOxy,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1", "iteration" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqOxy,s=not base64!,i=4096", "salt" },
	{ 1, "r=rOprNGfwEbeRWgbNEkqOxy,s=,i=4096", "salt" },
	{ 1, "m=must-understand,r=rOprNGfwEbeRWgbNEkqOxy,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	  "extension" },
	{ 1, "e=other-error", "refused" },
	{ 1, "garbage", "nonce" },
	{ 2, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "signature" },
	{ 2, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "signature" }, /* unpadded */
	{ 2, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5n", "signature" },            /* short */
	{ 2, "garbage", "signature" },
	{ 2, "e=invalid-proof", "invalid-proof" },
	{ 2, "e=\x01\x7f\xff", "reports: ???" }, /* printable in the message */
};

static void run_hostile(void)
{
	const struct vector *v = &vectors[1];
	for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		struct imap_scram *s;
		struct err e;
		struct buf out = BUF_INIT(4096);
		CHECK_INT(imap_scram_new(v->h, "user", "pencil", v->nonce, &s, &e), 0);
		CHECK_INT(imap_scram_step(s, NULL, 0, &out, &e), 0);
		if (hostile[i].at == 2)
			CHECK_INT(imap_scram_step(s, v->server_first, strlen(v->server_first), &out,
						  &e), 0);
		err_clear(&e);
		const char *c = hostile[i].challenge;
		int rc = imap_scram_step(s, c, strlen(c), &out, &e);
		CHECK_INT(rc, -1);
		CHECK_INT(e.cls, ERR_AUTH);
		CHECK(strstr(e.msg, "SCRAM-SHA-256") != NULL);
		if (!strstr(e.msg, hostile[i].says))
			fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, e.msg, hostile[i].says);
		CHECK(strstr(e.msg, hostile[i].says) != NULL);
		CHECK(!imap_scram_verified(s));
		/* a failed exchange stays failed */
		CHECK_INT(imap_scram_step(s, v->server_final, strlen(v->server_final), &out, &e), -1);
		imap_scram_free(&s);
		buf_release(&out);
	}
}

static void run_names(void)
{
	struct imap_scram *s;
	struct err e;
	struct buf out = BUF_INIT(4096);
	/* ',' and '=' in a user name are escaped (RFC 5802 5.1) */
	CHECK_INT(imap_scram_new(IMAP_SCRAM_SHA256, "a,b=c", "p", "N", &s, &e), 0);
	CHECK_INT(imap_scram_step(s, NULL, 0, &out, &e), 0);
	CHECK_STR(out.data, "n,,n=a=2Cb=3Dc,r=N");
	imap_scram_free(&s);
	/* a random nonce: printable, no ',' and different each time */
	struct buf one = BUF_INIT(4096);
	CHECK_INT(imap_scram_new(IMAP_SCRAM_SHA1, "u", "p", NULL, &s, &e), 0);
	CHECK_INT(imap_scram_step(s, NULL, 0, &one, &e), 0);
	imap_scram_free(&s);
	buf_reset(&out);
	CHECK_INT(imap_scram_new(IMAP_SCRAM_SHA1, "u", "p", NULL, &s, &e), 0);
	CHECK_INT(imap_scram_step(s, NULL, 0, &out, &e), 0);
	imap_scram_free(&s);
	CHECK(strncmp(one.data, "n,,n=u,r=", 9) == 0 && one.len == 9 + 32);
	CHECK(strchr(one.data + 9, ',') == NULL);
	CHECK(strcmp(one.data, out.data) != 0);
	CHECK_STR(imap_scram_mech(IMAP_SCRAM_SHA1), "SCRAM-SHA-1");
	CHECK_STR(imap_scram_mech(IMAP_SCRAM_SHA256), "SCRAM-SHA-256");
	buf_release(&one);
	buf_release(&out);
}

/* Random damage to the example's challenges (bytes flipped, cut, doubled):
 * under ASan and UBSan every step must fail cleanly or, when the damage
 * left the challenge valid, succeed; never read out of bounds. A challenge
 * of the iteration count's digits could ask for a million rounds: the
 * count is kept small by leaving the "i=4096" bytes alone. */
static void run_mutations(void)
{
	const struct vector *v = &vectors[1];
	unsigned long long x = 88172645463325252ULL; /* xorshift64, fixed seed */
	char m[512];
	for (int round = 0; round < 1000; round++) {
		int at = round % 2 + 1;
		const char *base = at == 1 ? v->server_first : v->server_final;
		size_t n = strlen(base), keep = at == 1 ? n - 6 : n;
		memcpy(m, base, n);
		for (int k = 0; k < 1 + round % 4; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			size_t pos = (size_t)(x % keep);
			switch ((x >> 20) % 3) {
			case 0: m[pos] = (char)(x >> 32); break;
			case 1: n = pos; break;
			default:
				if (n * 2 < sizeof m) {
					memcpy(m + n, m, n);
					n *= 2;
				}
			}
			if (keep > n)
				keep = n ? n : 1;
		}
		struct imap_scram *s;
		struct err e;
		struct buf out = BUF_INIT(4096);
		CHECK_INT(imap_scram_new(v->h, "user", "pencil", v->nonce, &s, &e), 0);
		CHECK_INT(imap_scram_step(s, NULL, 0, &out, &e), 0);
		int rc = 0;
		if (at == 2)
			rc = imap_scram_step(s, v->server_first, strlen(v->server_first), &out, &e);
		CHECK_INT(rc, 0);
		rc = imap_scram_step(s, m, n, &out, &e);
		if (rc < 0)
			CHECK(!imap_scram_verified(s) && e.msg[0]);
		imap_scram_free(&s);
		buf_release(&out);
	}
}

int main(void)
{
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
		run_vector(&vectors[i]);
	run_hostile();
	run_names();
	run_mutations();
	return test_done();
}
