/*
 * err.c — classified error values (see err.h). Owns no state.
 */
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void vset(struct err *e, enum err_class cls, const char *fmt, va_list ap)
{
	e->cls = cls;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

int err_set(struct err *e, enum err_class cls, const char *fmt, ...)
{
	if (!e)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vset(e, cls, fmt, ap);
	va_end(ap);
	return -1;
}

int err_sys(struct err *e, enum err_class cls, const char *fmt, ...)
{
	int saved = errno;
	if (!e)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vset(e, cls, fmt, ap);
	va_end(ap);
	size_t n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(saved));
	if (saved == ENOSPC || saved == EDQUOT)
		e->cls = ERR_QUOTA;
	errno = saved;
	return -1;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
	if (!e)
		return;
	char old[ERR_MSG_MAX];
	memcpy(old, e->msg, sizeof old);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof e->msg - 2)
		return;
	/* Keep the original text as far as it fits: it holds the server's words. */
	size_t used = (size_t)n;
	e->msg[used++] = ':';
	e->msg[used++] = ' ';
	size_t room = sizeof e->msg - used - 1, len = strlen(old);
	if (len > room)
		len = room;
	memcpy(e->msg + used, old, len);
	e->msg[used + len] = '\0';
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->cls = ERR_NONE;
	e->msg[0] = '\0';
}

const char *err_class_name(enum err_class cls)
{
	static const char *const names[] = {
		[ERR_NONE] = "none",       [ERR_TEMP] = "temporary",
		[ERR_PERM] = "permanent",  [ERR_NOTFOUND] = "not found",
		[ERR_EXISTS] = "exists",   [ERR_GONE] = "gone",
		[ERR_INUSE] = "in use",    [ERR_LIMIT] = "over limit",
		[ERR_AUTH] = "auth",       [ERR_QUOTA] = "quota",
		[ERR_TRYCREATE] = "trycreate", [ERR_PROTO] = "protocol",
		[ERR_TLS] = "tls",         [ERR_IO] = "i/o",
		[ERR_USAGE] = "usage",     [ERR_CORRUPT] = "corrupt",
	};
	if ((unsigned)cls < sizeof names / sizeof names[0] && names[cls])
		return names[cls];
	return "unknown";
}

int err_is_temporary(const struct err *e)
{
	return e && (e->cls == ERR_TEMP || e->cls == ERR_INUSE);
}
