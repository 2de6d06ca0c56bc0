/*
 * password.c — obtain a login password from a command, a file or the
 * environment (see password.h). Owns nothing beyond the returned string,
 * which it wipes on free. Nothing here ever prints or logs the secret; error
 * messages name where the password was looked for, never its value.
 */
#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/banned.h"

/* Keep the first line of `data` (up to CR or LF) as a fresh string. */
static int first_line(const char *data, size_t len, const char *what, char **pass_r,
		      struct err *e)
{
	size_t n = 0;
	while (n < len && data[n] != '\n' && data[n] != '\r')
		n++;
	if (n == 0)
		return err_set(e, ERR_AUTH, "empty password from %s", what);
	if (memchr(data, '\0', n))
		return err_set(e, ERR_AUTH, "password from %s contains a NUL byte", what);
	if (n > PASSWORD_MAX)
		return err_set(e, ERR_LIMIT, "password from %s is longer than %d bytes", what,
			       PASSWORD_MAX);
	*pass_r = mf_strndup(data, n);
	return 0;
}

/* Read everything from fd into b (capped), wiping on failure. */
static int read_all(int fd, struct buf *b)
{
	char chunk[1024];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		/* Past the cap keep draining so the writer does not get SIGPIPE,
		 * but keep only what fits: the first line is all we use. */
		if (b->len + (size_t)r <= b->max)
			buf_add(b, chunk, (size_t)r);
	}
	explicit_bzero(chunk, sizeof chunk);
	return 0;
}

static void buf_wipe(struct buf *b)
{
	if (b->alloc)
		explicit_bzero(b->data, b->alloc);
	buf_release(b);
}

static int from_cmd(const char *cmd, char **pass_r, struct err *e)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_sys(e, ERR_IO, "cannot run password command '%s'", cmd);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return err_sys(e, ERR_IO, "cannot run password command '%s'", cmd);
	}
	if (pid == 0) {
		/* stdin from /dev/null would stop an interactive prompt (pass,
		 * gpg-agent pinentry use the tty, not stdin), so keep it. */
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	struct buf out = BUF_INIT(PASSWORD_MAX + 2);
	int rr = read_all(fds[0], &out);
	int saved = errno;
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			buf_wipe(&out);
			return err_sys(e, ERR_IO, "password command '%s'", cmd);
		}
	}
	int rc;
	if (rr < 0) {
		errno = saved;
		rc = err_sys(e, ERR_IO, "reading from password command '%s'", cmd);
	} else if (WIFSIGNALED(status)) {
		rc = err_set(e, ERR_AUTH, "password command '%s' killed by signal %d", cmd,
			     WTERMSIG(status));
	} else if (WEXITSTATUS(status) != 0) {
		rc = err_set(e, ERR_AUTH, "password command '%s' failed with exit status %d",
			     cmd, WEXITSTATUS(status));
	} else {
		char what[300];
		snprintf(what, sizeof what, "command '%s'", cmd);
		rc = first_line(out.data, out.len, what, pass_r, e);
	}
	buf_wipe(&out);
	return rc;
}

static int from_file(const char *path, char **pass_r, struct buf *warn, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_sys(e, errno == ENOENT ? ERR_NOTFOUND : ERR_IO,
			       "cannot open password file '%s'", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return err_sys(e, ERR_IO, "cannot stat password file '%s'", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, ERR_USAGE, "password file '%s' is not a regular file", path);
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		close(fd);
		return err_set(e, ERR_USAGE,
			       "password file '%s' is accessible by others (mode %03o); "
			       "run 'chmod 600 %s'", path, (unsigned)(st.st_mode & 0777), path);
	}
	if ((st.st_mode & (S_IRGRP | S_IWGRP)) && warn)
		buf_addf(warn, "password file '%s' is accessible by its group (mode %03o)",
			 path, (unsigned)(st.st_mode & 0777));
	struct buf data = BUF_INIT(PASSWORD_MAX + 2);
	int rr = read_all(fd, &data);
	close(fd);
	int rc;
	if (rr < 0) {
		rc = err_sys(e, ERR_IO, "cannot read password file '%s'", path);
	} else {
		char what[300];
		snprintf(what, sizeof what, "file '%s'", path);
		rc = first_line(data.data, data.len, what, pass_r, e);
	}
	buf_wipe(&data);
	return rc;
}

int password_get(const char *cmd, const char *file, const char *env,
		 char **pass_r, struct buf *warn, struct err *e)
{
	*pass_r = NULL;
	if (cmd && file)
		return err_set(e, ERR_USAGE, "give either a password command or a password file, "
			       "not both");
	if (cmd)
		return from_cmd(cmd, pass_r, e);
	if (file)
		return from_file(file, pass_r, warn, e);
	const char *v = env ? getenv(env) : NULL;
	if (v && *v) {
		if (strlen(v) > PASSWORD_MAX)
			return err_set(e, ERR_LIMIT, "password in $%s is longer than %d bytes",
				       env, PASSWORD_MAX);
		*pass_r = mf_strdup(v);
		return 0;
	}
	if (env)
		return err_set(e, ERR_USAGE, "no password: give a password command or file, "
			       "or set $%s", env);
	return err_set(e, ERR_USAGE, "no password: give a password command or file");
}

void password_free(char **pass)
{
	if (!*pass)
		return;
	explicit_bzero(*pass, strlen(*pass));
	free(*pass);
	*pass = NULL;
}
