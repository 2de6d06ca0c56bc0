/*
 * err.h — classified errors, returned up the stack (never printed deep in
 * the code; the CLI decides how to show them).
 *
 * Convention, project-wide: a function that can fail returns 0 on success
 * and -1 on failure, having filled the `struct err *` it was given (or the
 * one kept on its context object). Resumable calls (the parser, the I/O
 * layer) return an enum that says "done", "need more" or "error" instead;
 * their header says so.
 */
#ifndef MF_ERR_H
#define MF_ERR_H

#include <stdarg.h>

enum err_class {
	ERR_NONE = 0,
	ERR_TEMP,      /* try again later: timeout, dropped connection, server busy */
	ERR_PERM,      /* will fail again the same way */
	ERR_NOTFOUND,  /* mailbox / message / file does not exist */
	ERR_EXISTS,    /* already exists */
	ERR_GONE,      /* expunged or removed while we worked */
	ERR_INUSE,     /* locked by someone else */
	ERR_LIMIT,     /* a configured bound was hit (size, depth, length) */
	ERR_AUTH,      /* authentication refused */
	ERR_QUOTA,     /* over quota / disk full */
	ERR_TRYCREATE, /* target mailbox missing, creating it may help */
	ERR_PROTO,     /* the peer broke the protocol */
	ERR_TLS,       /* TLS handshake or certificate failure */
	ERR_IO,        /* local I/O failure (errno in the text) */
	ERR_USAGE,     /* the caller / user asked for something invalid */
	ERR_CORRUPT,   /* stored state is damaged */
};

#define ERR_MSG_MAX 1024

struct err {
	enum err_class cls;
	char msg[ERR_MSG_MAX];
};

/* Fill `e` (may be NULL) and return -1, so callers can `return err_set(...)`. */
int err_set(struct err *e, enum err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* As err_set, appending ": strerror(errno)" (errno read on entry). */
int err_sys(struct err *e, enum err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepend context ("opening INBOX: " + old text); keeps the class. */
void err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);
const char *err_class_name(enum err_class cls);
/* Is it worth retrying the same thing later? */
int err_is_temporary(const struct err *e);

#endif
