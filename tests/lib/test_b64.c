/*
 * test_b64.c — base64 for SASL: RFC 4648's test vectors both ways, and the
 * inputs the strict decoder must refuse.
 */
#include <string.h>

#include "lib/b64.h"
#include "testlib.h"

static const struct {
	const char *raw, *enc;
} vectors[] = { /* RFC 4648 section 10 */
	{ "", "" },         { "f", "Zg==" },        { "fo", "Zm8=" },
	{ "foo", "Zm9v" },  { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static const char *const refused[] = {
	"Zg=",      /* not whole quads */
	"Zg",       /* unpadded */
	"Z===",     /* three pads */
	"Zh==",     /* padding bits not zero */
	"Zm9=",     /* the same, one pad */
	"Zg==Zg==", /* padding before the end */
	"Zm9v\r\n", /* stray characters */
	"Zm 9",
	"Zm-_",     /* the URL alphabet */
	"====",
};

int main(void)
{
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		struct buf b = BUF_INIT(64);
		CHECK_INT(b64_encode(vectors[i].raw, strlen(vectors[i].raw), &b), 0);
		CHECK_STR(b.data, vectors[i].enc);
		buf_reset(&b);
		CHECK_INT(b64_decode(vectors[i].enc, strlen(vectors[i].enc), &b), 0);
		CHECK_STR(b.data, vectors[i].raw);
		buf_release(&b);
	}
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		struct buf b = BUF_INIT(64);
		buf_addstr(&b, "keep");
		CHECK_INT(b64_decode(refused[i], strlen(refused[i]), &b), -1);
		CHECK_STR(b.data, "keep"); /* nothing appended */
		buf_release(&b);
	}
	/* binary, and the cap */
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	struct buf e = BUF_INIT(1024), d = BUF_INIT(1024), small = BUF_INIT(8);
	CHECK_INT(b64_encode(all, sizeof all, &e), 0);
	CHECK_INT(e.len, 344);
	CHECK_INT(b64_decode(e.data, e.len, &d), 0);
	CHECK(d.len == 256 && memcmp(d.data, all, 256) == 0);
	CHECK_INT(b64_encode(all, 9, &small), -1);
	CHECK_INT(small.len, 0);
	buf_release(&e);
	buf_release(&d);
	buf_release(&small);
	return test_done();
}
