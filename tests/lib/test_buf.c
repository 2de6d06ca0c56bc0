/*
 * test_buf.c — the owned buffer: caps, binary data, detach.
 */
#include <errno.h>
#include <stdlib.h>

#include "lib/buf.h"
#include "testlib.h"

int main(void)
{
	struct buf b = BUF_INIT(8);
	CHECK(b.data != NULL && b.data[0] == '\0');
	CHECK_INT(buf_addstr(&b, "abcd"), 0);
	CHECK_INT(buf_add(&b, "\0x", 2), 0);
	CHECK_INT(b.len, 6);
	CHECK_INT(buf_addstr(&b, "xyz"), -1);
	CHECK_INT(errno, EMSGSIZE);
	CHECK_INT(b.len, 6);
	buf_consume(&b, 4);
	CHECK_INT(b.len, 2);
	CHECK(b.data[0] == '\0' && b.data[1] == 'x');
	buf_reset(&b);
	CHECK_INT(buf_addf(&b, "%d-%s", 42, "ok"), 0);
	CHECK_STR(b.data, "42-ok");
	size_t n;
	char *p = buf_detach(&b, &n);
	CHECK_STR(p, "42-ok");
	CHECK_INT(n, 5);
	CHECK(b.data != NULL && b.len == 0);
	free(p);
	buf_release(&b);
	return test_done();
}
