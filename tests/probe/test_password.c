/*
 * test_password.c — password sources: command, file (with its mode
 * checks) and environment; precedence and errors.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "password.h"
#include "testlib.h"

static void write_file(const char *path, const char *data, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		abort();
	fchmod(fd, mode);
	close(fd);
}

int main(void)
{
	struct err e = { 0 };
	char *p = NULL;
	char dir[] = "/tmp/mf-test-password-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char path[256];
	snprintf(path, sizeof path, "%s/pw", dir);

	/* command: first line, CR stripped */
	CHECK_INT(password_get("printf 'se cret\\r\\nsecond\\n'", NULL, NULL, &p, NULL, &e), 0);
	CHECK_STR(p, "se cret");
	password_free(&p);
	CHECK(p == NULL);
	/* command without newline; large output is drained */
	CHECK_INT(password_get("printf abc; head -c 200000 /dev/zero | tr '\\0' x", NULL, NULL,
			       &p, NULL, &e), 0);
	CHECK(p && strncmp(p, "abc", 3) == 0);
	password_free(&p);
	CHECK_INT(password_get("echo abc; exit 3", NULL, NULL, &p, NULL, &e), -1);
	CHECK(strstr(e.msg, "exit 3") != NULL);
	CHECK(strstr(e.msg, "exit status 3") != NULL);
	CHECK(strstr(e.msg, "abc") == NULL || strstr(e.msg, "'echo abc") != NULL);
	CHECK(p == NULL);
	CHECK_INT(password_get("true", NULL, NULL, &p, NULL, &e), -1);
	CHECK(strstr(e.msg, "empty password") != NULL);
	CHECK_INT(password_get("kill -9 $$", NULL, NULL, &p, NULL, &e), -1);
	CHECK(strstr(e.msg, "signal") != NULL);

	/* file */
	write_file(path, "filepw\nignored\n", 0600);
	struct buf warn = BUF_INIT(1024);
	CHECK_INT(password_get(NULL, path, NULL, &p, &warn, &e), 0);
	CHECK_STR(p, "filepw");
	CHECK_INT(warn.len, 0);
	password_free(&p);
	chmod(path, 0640);
	CHECK_INT(password_get(NULL, path, NULL, &p, &warn, &e), 0);
	CHECK_STR(p, "filepw");
	CHECK(strstr(warn.data, "group") != NULL);
	password_free(&p);
	chmod(path, 0644);
	CHECK_INT(password_get(NULL, path, NULL, &p, &warn, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
	CHECK(strstr(e.msg, "chmod 600") != NULL);
	CHECK(strstr(e.msg, "filepw") == NULL);
	write_file(path, "\nx\n", 0600);
	CHECK_INT(password_get(NULL, path, NULL, &p, NULL, &e), -1);
	CHECK(strstr(e.msg, "empty") != NULL);
	CHECK_INT(password_get(NULL, "/nonexistent/pw", NULL, &p, NULL, &e), -1);
	CHECK_INT(e.cls, ERR_NOTFOUND);

	/* environment, precedence, usage */
	setenv("MF_TEST_PW", "envpw", 1);
	CHECK_INT(password_get(NULL, NULL, "MF_TEST_PW", &p, NULL, &e), 0);
	CHECK_STR(p, "envpw");
	password_free(&p);
	CHECK_INT(password_get("echo cmdpw", NULL, "MF_TEST_PW", &p, NULL, &e), 0);
	CHECK_STR(p, "cmdpw");
	password_free(&p);
	CHECK_INT(password_get("echo x", path, NULL, &p, NULL, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
	unsetenv("MF_TEST_PW");
	CHECK_INT(password_get(NULL, NULL, "MF_TEST_PW", &p, NULL, &e), -1);
	CHECK_INT(e.cls, ERR_USAGE);
	CHECK(strstr(e.msg, "MF_TEST_PW") != NULL);

	buf_release(&warn);
	unlink(path);
	rmdir(dir);
	return test_done();
}
