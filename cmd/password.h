/*
 * password.h — where a login password comes from, for every command that
 * logs in: a command to run (--pass-cmd), a file (--pass-file) or an
 * environment variable (MAILFERRY_PASSWORD; sync uses a second set such as
 * --local-pass-cmd / --local-pass-file / MAILFERRY_LOCAL_PASSWORD for the
 * other side of an IMAP<->IMAP pair). Never from argv, never logged.
 */
#ifndef MF_PASSWORD_H
#define MF_PASSWORD_H

#include "lib/buf.h"
#include "lib/err.h"

/* Longest password accepted (bytes of the first line). */
#define PASSWORD_MAX 4096

/* Obtain a password from, in this order of precedence:
 *  - cmd (non-NULL): run with /bin/sh -c; the first line of its standard
 *    output (CR/LF stripped) is the password; a non-zero exit status, a
 *    signal or an empty first line is an error naming the command;
 *  - file (non-NULL): the first line of the file; a file readable or
 *    writable by others is refused, one readable by its group is accepted
 *    with a warning appended to `warn` (may be NULL);
 *  - env (a variable name, non-NULL): the variable's value.
 * Giving both cmd and file is a usage error (ERR_USAGE), as is having none
 * of the three. On success *pass_r is a malloc'ed NUL-terminated string the
 * caller frees with password_free(). */
int password_get(const char *cmd, const char *file, const char *env,
		 char **pass_r, struct buf *warn, struct err *e);

/* Wipe and free a password; NULLs the caller's pointer. */
void password_free(char **pass);

#endif
