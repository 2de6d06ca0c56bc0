/*
 * maildir_layout.c — the reversible mapping between mailbox names and
 * paths below the Maildir root (rules in maildir_layout.h). Pure: no I/O,
 * no state. The check that a path really stays below the root on disk
 * (symlinks) is maildir_store.c's job; this module only guarantees that
 * the relative path it returns has no "..", ".", empty or absolute part.
 */
#include "maildir/maildir_layout.h"

#include <string.h>
#include <strings.h>

#include "lib/banned.h"

static const char *const reserved_exact[] = { "cur", "new", "tmp", "maildirfolder" };
static const char *const reserved_prefix[] = { "dovecot-", "dovecot." };

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

static int is_reserved(enum maildir_layout l, const char *c, size_t n, int only)
{
	if (l == MAILDIR_LAYOUT_MAILDIRPP)
		return only && n == 12 && memcmp(c, "mailferry-id", 12) == 0;
	for (size_t i = 0; i < sizeof reserved_exact / sizeof reserved_exact[0]; i++)
		if (strlen(reserved_exact[i]) == n && memcmp(c, reserved_exact[i], n) == 0)
			return 1;
	for (size_t i = 0; i < sizeof reserved_prefix / sizeof reserved_prefix[0]; i++) {
		size_t pl = strlen(reserved_prefix[i]);
		if (n >= pl && memcmp(c, reserved_prefix[i], pl) == 0)
			return 1;
	}
	return 0;
}

/* Escape one component c[0..n) onto out. `only`: the name has one
 * component (MAILDIRPP reserved check). */
static int escape_comp(enum maildir_layout l, const char *c, size_t n, int only,
		       struct buf *out)
{
	int first_esc = is_reserved(l, c, n, only);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)c[i];
		int esc = ch < 0x20 || ch == 0x7f ||
			  (ch == '%' && i + 2 < n && is_hex(c[i + 1]) && is_hex(c[i + 2])) ||
			  (ch == '.' && (l == MAILDIR_LAYOUT_MAILDIRPP || i == 0)) ||
			  (i == 0 && first_esc);
		int r = esc ? buf_addf(out, "%%%02X", ch) : buf_addch(out, ch);
		if (r < 0)
			return -1;
	}
	return 0;
}

int maildir_layout_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

int maildir_layout_name_to_path(enum maildir_layout l, const char *name, struct buf *rel,
				struct err *e)
{
	size_t start = rel->len, depth = 0;
	const char *p = name;
	int only = strchr(name, '/') == NULL;
	if (!*name)
		return err_set(e, ERR_USAGE, "empty mailbox name");
	if (l == MAILDIR_LAYOUT_MAILDIRPP && maildir_layout_is_inbox(name))
		return 0;
	if (l == MAILDIR_LAYOUT_MAILDIRPP && buf_addch(rel, '.') < 0)
		goto nomem;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		size_t before;
		if (n == 0) {
			buf_truncate(rel, start);
			return err_set(e, ERR_USAGE, "mailbox name '%s' has an empty component",
				       name);
		}
		if (++depth > MAILDIR_LAYOUT_DEPTH_MAX) {
			buf_truncate(rel, start);
			return err_set(e, ERR_LIMIT, "mailbox name '%s' is too deep", name);
		}
		if (depth > 1 && buf_addch(rel, l == MAILDIR_LAYOUT_MAILDIRPP ? '.' : '/') < 0)
			goto nomem;
		before = rel->len;
		if (depth == 1 && n == 5 && strncasecmp(p, "INBOX", 5) == 0) {
			if (buf_addstr(rel, "INBOX") < 0)
				goto nomem;
		} else if (escape_comp(l, p, n, only, rel) < 0) {
			goto nomem;
		}
		size_t clen = l == MAILDIR_LAYOUT_MAILDIRPP ? rel->len - start : rel->len - before;
		if (clen > MAILDIR_LAYOUT_COMP_MAX) {
			buf_truncate(rel, start);
			return err_set(e, ERR_LIMIT, "mailbox name '%s' is too long on disk", name);
		}
		if (rel->len - start > MAILDIR_LAYOUT_PATH_MAX) {
			buf_truncate(rel, start);
			return err_set(e, ERR_LIMIT, "mailbox name '%s' is too long", name);
		}
		if (!slash)
			return 0;
		p = slash + 1;
	}
nomem:
	buf_truncate(rel, start);
	return err_sys(e, ERR_LIMIT, "mailbox name '%s'", name);
}

/* Decode "%XX" escapes of rel[0..n) onto out. */
static int unescape(const char *c, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (c[i] == '%' && i + 2 < n && is_hex(c[i + 1]) && is_hex(c[i + 2])) {
			int v = hexval(c[i + 1]) * 16 + hexval(c[i + 2]);
			if (v == 0)
				return -1;
			if (buf_addch(out, v) < 0)
				return -1;
			i += 2;
		} else if (buf_addch(out, c[i]) < 0) {
			return -1;
		}
	}
	return 0;
}

int maildir_layout_path_to_name(enum maildir_layout l, const char *rel, struct buf *name,
				struct err *e)
{
	size_t start = name->len;
	const char *p = rel;
	char sep = l == MAILDIR_LAYOUT_MAILDIRPP ? '.' : '/';
	if (l == MAILDIR_LAYOUT_MAILDIRPP) {
		if (!*rel)
			return buf_addstr(name, "INBOX") < 0 ? err_sys(e, ERR_LIMIT, "name") : 0;
		if (*rel != '.')
			return err_set(e, ERR_NOTFOUND, "'%s' is not a folder", rel);
		p = rel + 1;
	}
	for (;;) {
		const char *s = strchr(p, sep);
		size_t n = s ? (size_t)(s - p) : strlen(p);
		if (p != rel + (l == MAILDIR_LAYOUT_MAILDIRPP) && buf_addch(name, '/') < 0)
			goto bad;
		if (unescape(p, n, name) < 0)
			goto bad;
		if (!s)
			break;
		p = s + 1;
	}
	/* Canonical only if mapping the name back gives the same path. */
	struct buf back;
	buf_init(&back, 0);
	int ok = maildir_layout_name_to_path(l, name->data + start, &back, NULL) == 0 &&
		 strcmp(back.data, rel) == 0;
	buf_release(&back);
	if (ok)
		return 0;
bad:
	buf_truncate(name, start);
	return err_set(e, ERR_NOTFOUND, "'%s' is not the path of a mailbox name", rel);
}
