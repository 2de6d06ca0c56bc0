/*
 * buf.h — a small owned byte buffer with a size cap (after git's strbuf and
 * curl's dynbuf).
 *
 * Rules:
 *  - After buf_init() `data` is never NULL and always NUL-terminated, yet the
 *    buffer is safe for binary data (len counts bytes, NULs allowed).
 *  - Every buffer has a cap (`max`, bytes of content); an append that would
 *    pass it fails with -1 and errno = EMSGSIZE and leaves the buffer as it
 *    was. Allocation failure gives -1 and errno = ENOMEM.
 *  - buf_release() frees and re-initialises (keeps the cap); buf_reset()
 *    empties and keeps the memory; buf_detach() hands the memory over.
 */
#ifndef MF_BUF_H
#define MF_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;   /* never NULL after init; NUL-terminated */
	size_t len;   /* bytes of content */
	size_t alloc; /* bytes allocated, 0 while data points at the shared "" */
	size_t max;   /* cap on len */
};

#define BUF_MAX_DEFAULT ((size_t)64 << 20)

extern char buf_empty_[1];
#define BUF_INIT(cap) { buf_empty_, 0, 0, (cap) }

void buf_init(struct buf *b, size_t max);
/* Free the memory and return to the state after buf_init (cap kept). */
void buf_release(struct buf *b);
/* Empty the buffer, keep its memory. */
void buf_reset(struct buf *b);
/* Make room for `extra` more bytes; 0 or -1 (EMSGSIZE/ENOMEM). */
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addstr(struct buf *b, const char *s);
int buf_addch(struct buf *b, int c);
int buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Replace the content. */
int buf_set(struct buf *b, const void *p, size_t n);
/* Drop the first n bytes (n > len drops all). */
void buf_consume(struct buf *b, size_t n);
/* Cut to n bytes (n <= len). */
void buf_truncate(struct buf *b, size_t n);
/* Hand the memory to the caller (malloc'ed, NUL-terminated, never NULL
 * unless out of memory); the buffer is re-initialised. */
char *buf_detach(struct buf *b, size_t *len_r);

/* strdup that returns NULL on NULL; the only sanctioned way to copy a C
 * string into owned memory (aborts on ENOMEM: a few bytes). */
char *mf_strdup(const char *s);
char *mf_strndup(const char *s, size_t n);
/* Allocation that never returns NULL (aborts on failure, for small fixed
 * objects; variable-size data goes through struct buf and its cap). */
void *mf_calloc(size_t n, size_t size);
void *mf_reallocarray(void *p, size_t n, size_t size);

#endif
