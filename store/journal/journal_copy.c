/*
 * journal_copy.c — a private copy of a channel's journal for a dry run
 * (see journal.h). Owns the temporary directory it makes and the list of
 * the journal's files worth copying: the database and its WAL (the -shm
 * index is rebuilt from the WAL by the first connection to the copy).
 *
 * The copy is not taken under the channel lock: a real sync running at the
 * same time may leave the two files out of step, and the copy then fails
 * journal_open's checks. Only the dry run fails; the real journal's bytes
 * are never touched.
 */
#include "journal/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/banned.h"

/* A missing `from` (no WAL) is no error: nothing to copy. */
static int copy_file(const char *from, const char *to, struct err *e)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT ? 0 : err_sys(e, ERR_IO, "cannot open '%s'", from);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return err_sys(e, ERR_IO, "cannot create '%s'", to);
	}
	char buf[65536];
	ssize_t r;
	int rc = 0;
	while ((r = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)r) != r) {
			rc = err_sys(e, ERR_IO, "cannot write '%s'", to);
			break;
		}
	if (r < 0)
		rc = err_sys(e, ERR_IO, "cannot read '%s'", from);
	close(in);
	close(out);
	return rc;
}

int journal_copy_make(const char *path, struct journal_copy *c, struct err *e)
{
	const char *tmp = getenv("TMPDIR");
	memset(c, 0, sizeof *c);
	snprintf(c->dir, sizeof c->dir, "%s/mailferry-dry.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(c->dir)) {
		c->dir[0] = '\0';
		return err_sys(e, ERR_IO, "cannot create a temporary directory");
	}
	snprintf(c->path, sizeof c->path, "%s/journal.db", c->dir);
	struct buf wal = BUF_INIT(8192), wcopy = BUF_INIT(8192);
	buf_addf(&wal, "%s-wal", path);
	buf_addf(&wcopy, "%s-wal", c->path);
	int rc = 0;
	if (copy_file(path, c->path, e) < 0 || copy_file(wal.data, wcopy.data, e) < 0)
		rc = -1;
	buf_release(&wal);
	buf_release(&wcopy);
	return rc;
}

void journal_copy_remove(struct journal_copy *c)
{
	if (!c->dir[0])
		return;
	DIR *d = opendir(c->dir);
	if (d) {
		struct dirent *de;
		char path[sizeof c->dir + 256 + 2];
		while ((de = readdir(d)) != NULL) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(path, sizeof path, "%s/%s", c->dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(c->dir);
	c->dir[0] = '\0';
}
