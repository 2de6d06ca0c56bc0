/*
 * maildir_folder.c — the folders of a Maildir tree: where a mailbox lives
 * on disk, the check that it stays below the root, the folder identity
 * file, and the mailbox-level ops (list, create, delete, rename). Owns no
 * state beyond the arrays it returns.
 *
 * Safety: layout names never contain "..", "." or empty parts (layout.h),
 * and every path is resolved with realpath() and must lie below the real
 * root before anything is created, opened or removed in it; when creating,
 * each parent level is checked after it exists, so a symlinked folder that
 * leads outside stops the walk before anything is written there. Only the
 * configured inbox_path may lie elsewhere.
 */
#include "maildir/maildir_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/banned.h"

int maildir_folder_path(struct md_store *s, const char *name, struct buf *path,
			int *configured_r, struct err *e)
{
	*configured_r = 0;
	if (maildir_layout_is_inbox(name) && s->inbox_path) {
		*configured_r = 1;
		if (buf_addstr(path, s->inbox_path) < 0)
			return err_sys(e, ERR_LIMIT, "path of '%s'", name);
		return 0;
	}
	struct buf rel;
	buf_init(&rel, MAILDIR_LAYOUT_PATH_MAX + 16);
	int rc = maildir_layout_name_to_path(s->layout, name, &rel, e);
	if (rc == 0 && (buf_addstr(path, s->root_real) < 0 ||
			(rel.len && (buf_addch(path, '/') < 0 || buf_addstr(path, rel.data) < 0))))
		rc = err_sys(e, ERR_LIMIT, "path of '%s'", name);
	buf_release(&rel);
	return rc;
}

/* realpath(path) must be the root or below it. */
static int check_inside(struct md_store *s, const char *path, struct err *e)
{
	char *real = realpath(path, NULL);
	if (!real) {
		if (errno == ENOENT || errno == ENOTDIR)
			return err_set(e, ERR_NOTFOUND, "'%s' does not exist", path);
		return err_sys(e, ERR_IO, "cannot resolve '%s'", path);
	}
	size_t n = strlen(s->root_real);
	int ok = strncmp(real, s->root_real, n) == 0 && (real[n] == '\0' || real[n] == '/' ||
							 strcmp(s->root_real, "/") == 0);
	free(real);
	if (!ok)
		return err_set(e, ERR_PERM, "'%s' leads outside the Maildir root '%s'", path,
			       s->root);
	return 0;
}

int maildir_folder_open(struct md_store *s, const char *name, int *fd_r, struct err *e)
{
	struct buf path;
	int configured, rc = -1;
	buf_init(&path, 0);
	*fd_r = -1;
	if (maildir_folder_path(s, name, &path, &configured, e) < 0)
		goto out;
	if (!configured && check_inside(s, path.data, e) < 0) {
		if (e && e->cls == ERR_NOTFOUND)
			err_set(e, ERR_NOTFOUND, "mailbox '%s' does not exist", name);
		goto out;
	}
	int fd = open(path.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			err_set(e, ERR_NOTFOUND, "mailbox '%s' does not exist", name);
		else
			err_sys(e, ERR_IO, "cannot open '%s'", path.data);
		goto out;
	}
	struct stat st;
	if (fstatat(fd, "cur", &st, 0) < 0 || !S_ISDIR(st.st_mode)) {
		close(fd);
		err_set(e, ERR_NOTFOUND, "mailbox '%s' is not a Maildir folder", name);
		goto out;
	}
	*fd_r = fd;
	rc = 0;
out:
	buf_release(&path);
	return rc;
}

static int mkdir_ok(int dirfd, const char *p, int *made)
{
	if (mkdirat(dirfd, p, 0700) == 0) {
		if (made)
			*made = 1;
		return 0;
	}
	return errno == EEXIST ? 0 : -1;
}

/* mkdir -p path; below the root each level is checked after it exists. */
static int make_dirs(struct md_store *s, char *path, int configured, struct err *e)
{
	size_t rootlen = configured ? 0 : strlen(s->root_real);
	for (char *p = path + rootlen + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		int r = mkdir_ok(AT_FDCWD, path, NULL);
		if (r < 0) {
			err_sys(e, ERR_IO, "cannot create '%s'", path);
			*p = c;
			return -1;
		}
		if (!configured && check_inside(s, path, e) < 0) {
			*p = c;
			return -1;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int read_ident(int fd, char out[64])
{
	char b[64];
	int f = openat(fd, MAILDIR_ID_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0)
		return -1;
	ssize_t n = read(f, b, sizeof b - 1);
	close(f);
	if (n < 32)
		return -1;
	for (int i = 0; i < 32; i++)
		if (hexval(b[i]) < 0)
			return -1;
	memcpy(out, "md:", 3);
	memcpy(out + 3, b, 32);
	out[35] = '\0';
	return 0;
}

int maildir_folder_ident(struct md_store *s, int fd, int read_only, char out[64],
			 struct err *e)
{
	out[0] = '\0';
	if (read_ident(fd, out) == 0 || read_only)
		return 0;
	unsigned char rnd[16];
	char hex[40], tmp[96];
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return err_sys(e, ERR_IO, "cannot get random bytes");
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	hex[32] = '\n';
	snprintf(tmp, sizeof tmp, "tmp/mailferry-id.%ld.%.8s", (long)getpid(), hex);
	int f = openat(fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (f < 0)
		return err_sys(e, ERR_IO, "cannot create '%s'", tmp);
	int rc = 0;
	if (write(f, hex, 33) != 33)
		rc = err_sys(e, ERR_IO, "cannot write '%s'", tmp);
	else if (s->do_fsync && fsync(f) < 0)
		rc = err_sys(e, ERR_IO, "cannot fsync '%s'", tmp);
	if (close(f) < 0 && rc == 0)
		rc = err_sys(e, ERR_IO, "cannot close '%s'", tmp);
	/* link() never replaces: whoever links first sets the id for good. */
	if (rc == 0 && linkat(fd, tmp, fd, MAILDIR_ID_FILE, 0) < 0 && errno != EEXIST)
		rc = err_sys(e, ERR_IO, "cannot create '%s'", MAILDIR_ID_FILE);
	unlinkat(fd, tmp, 0);
	if (rc == 0 && s->do_fsync && fsync(fd) < 0)
		rc = err_sys(e, ERR_IO, "cannot fsync folder");
	if (rc == 0 && read_ident(fd, out) < 0)
		rc = err_set(e, ERR_CORRUPT, "'%s' is unreadable", MAILDIR_ID_FILE);
	return rc;
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

int maildir_folder_ensure(struct md_store *s, const char *name, int *created_r,
			  struct err *e)
{
	struct buf path;
	int configured, rc = -1, made = 0, fd = -1;
	char ident[64];
	buf_init(&path, 0);
	if (created_r)
		*created_r = 0;
	if (maildir_folder_path(s, name, &path, &configured, e) < 0)
		goto out;
	if (path.len > strlen(s->root_real) || configured)
		if (make_dirs(s, path.data, configured, e) < 0)
			goto out;
	fd = open(path.data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err_sys(e, ERR_IO, "cannot open '%s'", path.data);
		goto out;
	}
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (int i = 0; i < 3; i++) {
		if (mkdir_ok(fd, subs[i], &made) < 0) {
			err_sys(e, ERR_IO, "cannot create '%s/%s'", path.data, subs[i]);
			goto out;
		}
	}
	if (s->layout == MAILDIR_LAYOUT_MAILDIRPP && !maildir_layout_is_inbox(name)) {
		int f = openat(fd, "maildirfolder", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (f < 0 || close(f) < 0) {
			err_sys(e, ERR_IO, "cannot create '%s/maildirfolder'", path.data);
			goto out;
		}
	}
	if (maildir_folder_ident(s, fd, 0, ident, e) < 0)
		goto out;
	if (made && s->do_fsync) {
		char *slash = strrchr(path.data, '/');
		if (fsync(fd) < 0) {
			err_sys(e, ERR_IO, "cannot fsync '%s'", path.data);
			goto out;
		}
		if (slash && slash != path.data) {
			*slash = '\0';
			fsync_path(path.data);
			*slash = '/';
		}
	}
	if (created_r)
		*created_r = made;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&path);
	return rc;
}

/* ---- listing ---- */

struct boxlist {
	struct store_box *v;
	size_t n, alloc;
};

static void box_add(struct md_store *s, struct boxlist *l, const char *name, int fd)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 16;
		l->v = mf_reallocarray(l->v, l->alloc, sizeof *l->v);
	}
	struct store_box *b = &l->v[l->n++];
	memset(b, 0, sizeof *b);
	b->name = mf_strdup(name);
	b->delim = '/';
	maildir_folder_ident(s, fd, 0, b->ident, NULL);
	maildir_scan_marker(fd, b->marker, NULL);
}

static int is_maildir_at(int dirfd, const char *name, int *fd_r)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	*fd_r = fd;
	if (fd < 0)
		return 0;
	return fstatat(fd, "cur", &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static void walk_verbatim(struct md_store *s, struct boxlist *l, struct buf *rel, int depth)
{
	if (depth > MAILDIR_LAYOUT_DEPTH_MAX)
		return;
	struct buf path, name;
	buf_init(&path, 0);
	buf_init(&name, 0);
	buf_addstr(&path, s->root_real);
	if (rel->len) {
		buf_addch(&path, '/');
		buf_addstr(&path, rel->data);
	}
	DIR *d = opendir(path.data);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_LNK &&
					     de->d_type != DT_UNKNOWN))
			continue;
		size_t keep = rel->len;
		if (rel->len)
			buf_addch(rel, '/');
		buf_addstr(rel, de->d_name);
		buf_reset(&name);
		buf_reset(&path);
		buf_addf(&path, "%s/%s", s->root_real, rel->data);
		int fd = -1;
		if (maildir_layout_path_to_name(s->layout, rel->data, &name, NULL) == 0 &&
		    check_inside(s, path.data, NULL) == 0) {
			int inbox_elsewhere = s->inbox_path && maildir_layout_is_inbox(name.data);
			if (is_maildir_at(AT_FDCWD, path.data, &fd) && !inbox_elsewhere &&
			    !maildir_layout_is_inbox(name.data))
				box_add(s, l, name.data, fd);
			if (fd >= 0)
				close(fd);
			walk_verbatim(s, l, rel, depth + 1);
		}
		buf_truncate(rel, keep);
	}
	if (d)
		closedir(d);
	buf_release(&path);
	buf_release(&name);
}

static void walk_pp(struct md_store *s, struct boxlist *l)
{
	DIR *d = opendir(s->root_real);
	struct dirent *de;
	struct buf name, path;
	buf_init(&name, 0);
	buf_init(&path, 0);
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		buf_reset(&name);
		buf_reset(&path);
		buf_addf(&path, "%s/%s", s->root_real, de->d_name);
		int fd = -1;
		if (maildir_layout_path_to_name(s->layout, de->d_name, &name, NULL) == 0 &&
		    check_inside(s, path.data, NULL) == 0 && is_maildir_at(AT_FDCWD, path.data, &fd))
			box_add(s, l, name.data, fd);
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
	buf_release(&name);
	buf_release(&path);
}

static int box_cmp(const void *a, const void *b)
{
	const struct store_box *x = a, *y = b;
	return strcmp(x->name, y->name);
}

int maildir_folder_list(struct store *st, struct store_box **boxes_r, size_t *n_r,
			struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	struct boxlist l = { 0 };
	int fd;
	/* INBOX always exists in IMAP; make it exist here too. */
	if (maildir_folder_ensure(s, "INBOX", NULL, e) < 0 ||
	    maildir_folder_open(s, "INBOX", &fd, e) < 0)
		return -1;
	box_add(s, &l, "INBOX", fd);
	close(fd);
	if (s->layout == MAILDIR_LAYOUT_MAILDIRPP) {
		walk_pp(s, &l);
	} else {
		struct buf rel;
		buf_init(&rel, MAILDIR_LAYOUT_PATH_MAX * 2);
		walk_verbatim(s, &l, &rel, 0);
		buf_release(&rel);
	}
	qsort(l.v + 1, l.n - 1, sizeof *l.v, box_cmp);
	*boxes_r = l.v;
	*n_r = l.n;
	return 0;
}

/* ---- create / delete / rename ---- */

int maildir_folder_create(struct store *st, const char *name, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	int fd, created;
	if (maildir_folder_open(s, name, &fd, NULL) == 0) {
		close(fd);
		return err_set(e, ERR_EXISTS, "mailbox '%s' already exists", name);
	}
	if (maildir_folder_ensure(s, name, &created, e) < 0)
		return -1;
	return 0;
}

/* Remove the regular files of dirfd/sub (sub may be "."). */
static int remove_files(int dirfd, const char *sub, int rm_dir, struct err *e)
{
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(e, ERR_IO, "cannot open '%s'", sub);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(e, ERR_IO, "cannot read '%s'", sub);
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT)
			rc = err_sys(e, ERR_IO, "cannot remove '%s/%s'", sub, de->d_name);
	}
	closedir(d);
	if (rc == 0 && rm_dir && unlinkat(dirfd, sub, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = err_sys(e, ERR_IO, "cannot remove '%s'", sub);
	return rc;
}

int maildir_folder_delete(struct store *st, const char *name, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	struct maildir_scan sc;
	struct buf path;
	int fd, configured;
	if (maildir_layout_is_inbox(name))
		return err_set(e, ERR_USAGE, "INBOX cannot be deleted");
	maildir_watch_distrust(s->watch); /* its watched directories go */
	if (s->box && strcmp(s->box, name) == 0 && maildir_store_close_box(s, e) < 0)
		return -1;
	if (maildir_folder_open(s, name, &fd, e) < 0)
		return -1;
	if (maildir_scan_list(fd, &sc, e) < 0) {
		close(fd);
		return -1;
	}
	size_t n = sc.n;
	maildir_scan_free(&sc);
	if (n && !s->delete_nonempty) {
		close(fd);
		return err_set(e, ERR_INUSE, "mailbox '%s' still holds %zu messages", name, n);
	}
	int rc = 0;
	static const char *const subs[] = { "new", "cur", "tmp" };
	for (int i = 0; i < 3 && rc == 0; i++)
		rc = remove_files(fd, subs[i], 1, e);
	if (rc == 0)
		rc = remove_files(fd, ".", 0, e);
	if (rc == 0 && s->do_fsync)
		fsync(fd);
	close(fd);
	if (rc < 0)
		return -1;
	buf_init(&path, 0);
	maildir_folder_path(s, name, &path, &configured, NULL);
	/* A VERBATIM folder with subfolders keeps its directory. */
	if (rmdir(path.data) < 0 && errno != ENOTEMPTY && errno != EEXIST)
		rc = err_sys(e, ERR_IO, "cannot remove '%s'", path.data);
	char *slash = strrchr(path.data, '/');
	if (rc == 0 && slash && s->do_fsync) {
		*slash = '\0';
		fsync_path(path.data);
	}
	buf_release(&path);
	return rc;
}

static int rename_pp_children(struct md_store *s, const char *fromdir, const char *todir,
			      int dry, struct err *e)
{
	DIR *d = opendir(s->root_real);
	if (!d)
		return err_sys(e, ERR_IO, "cannot read '%s'", s->root_real);
	size_t fl = strlen(fromdir);
	struct dirent *de;
	int rc = 0;
	char **names = NULL;
	size_t n = 0;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, fromdir, fl) == 0 && de->d_name[fl] == '.') {
			names = mf_reallocarray(names, n + 1, sizeof *names);
			names[n++] = mf_strdup(de->d_name);
		}
	int rootfd = dirfd(d);
	for (size_t i = 0; i < n; i++) {
		char to[1024];
		struct stat st;
		if ((size_t)snprintf(to, sizeof to, "%s%s", todir, names[i] + fl) >= sizeof to ||
		    strlen(to) > MAILDIR_LAYOUT_COMP_MAX) {
			rc = err_set(e, ERR_LIMIT, "name '%s' is too long", to);
		} else if (dry) {
			if (rc == 0 && fstatat(rootfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
				rc = err_set(e, ERR_EXISTS, "'%s' already exists", to);
		} else if (rc == 0 && renameat(rootfd, names[i], rootfd, to) < 0) {
			rc = err_sys(e, ERR_IO, "cannot rename '%s'", names[i]);
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
	return rc;
}

int maildir_folder_rename(struct store *st, const char *from, const char *to, struct err *e)
{
	struct md_store *s = (struct md_store *)st;
	struct buf fp, tp;
	int c1, c2, fd, rc = -1;
	if (maildir_layout_is_inbox(from) || maildir_layout_is_inbox(to))
		return err_set(e, ERR_USAGE, "INBOX cannot be renamed");
	maildir_watch_distrust(s->watch); /* a watch would follow the old name's directories */
	if (s->box && strcmp(s->box, from) == 0 && maildir_store_close_box(s, e) < 0)
		return -1;
	if (maildir_folder_open(s, from, &fd, e) < 0)
		return -1;
	close(fd);
	buf_init(&fp, 0);
	buf_init(&tp, 0);
	if (maildir_folder_path(s, from, &fp, &c1, e) < 0 ||
	    maildir_folder_path(s, to, &tp, &c2, e) < 0)
		goto out;
	if (access(tp.data, F_OK) == 0) {
		err_set(e, ERR_EXISTS, "mailbox '%s' already exists", to);
		goto out;
	}
	char *slash = strrchr(tp.data, '/');
	if (s->layout == MAILDIR_LAYOUT_MAILDIRPP) {
		const char *fb = strrchr(fp.data, '/') + 1, *tb = slash + 1;
		if (rename_pp_children(s, fb, tb, 1, e) < 0)
			goto out;
		if (rename(fp.data, tp.data) < 0) {
			err_sys(e, ERR_IO, "cannot rename '%s'", fp.data);
			goto out;
		}
		if (rename_pp_children(s, fb, tb, 0, e) < 0)
			goto out;
	} else {
		*slash = '\0';
		int r = strlen(tp.data) > strlen(s->root_real) ? make_dirs(s, tp.data, 0, e) : 0;
		*slash = '/';
		if (r < 0)
			goto out;
		/* The new parent is inside the root (make_dirs checked it). */
		if (rename(fp.data, tp.data) < 0) {
			err_sys(e, ERR_IO, "cannot rename '%s'", fp.data);
			goto out;
		}
	}
	if (s->do_fsync) {
		*slash = '\0';
		fsync_path(tp.data);
		*slash = '/';
		char *fs = strrchr(fp.data, '/');
		*fs = '\0';
		fsync_path(fp.data);
	}
	rc = 0;
out:
	buf_release(&fp);
	buf_release(&tp);
	return rc;
}
