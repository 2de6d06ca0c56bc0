/*
 * imap_io.h — buffered, blocking-with-timeouts byte stream to an IMAP server:
 * TCP (IPv4/IPv6, every resolved address tried in turn) with optional TLS
 * (OpenSSL 3), implicit or upgraded in place (STARTTLS).
 *
 * This is the only module that includes OpenSSL headers (after OpenSMTPD's
 * ioev): protocol code sees bytes, a read buffer it may parse in place, and
 * classified errors.
 *
 * TLS policy (not configurable downwards): TLS >= 1.2, SNI with the host name
 * (not for IP literals), certificate chain verified against the system CA
 * store (or `ca_file` when given) and the host name (or IP literal) checked
 * against the certificate. A failure is ERR_TLS with the reason; a name
 * mismatch lists the names the certificate holds:
 *   "127.0.0.1: certificate for 127.0.0.1 does not match: it is for localhost"
 * Every error text starts with the host name.
 *
 * Reading: imap_io_fill() appends at least one byte to the read buffer
 * (waiting up to read_timeout_ms); imap_io_rdata() shows the unconsumed
 * bytes; imap_io_consume() drops bytes the caller has used. The buffer stays
 * put between calls, so a parser can work on it in place.
 *
 * Writing: imap_io_write() queues, imap_io_flush() sends everything queued.
 * While a flush waits for the socket to accept data it keeps reading what
 * the server sends into the read buffer, so a client that pipelines many
 * commands cannot deadlock against a server that is answering them.
 *
 * Ownership: the struct imap_io owns the socket, the TLS objects and both
 * buffers; imap_io_free() closes everything. Not thread-safe.
 */
#ifndef MF_IMAP_IO_H
#define MF_IMAP_IO_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct imap_io;

enum imap_io_tls {
	IMAP_IO_PLAIN = 0, /* plain TCP (STARTTLS may upgrade later) */
	IMAP_IO_TLS,       /* implicit TLS from the first byte (imaps, 993) */
};

struct imap_io_opts {
	const char *host;        /* name or IP literal (IPv6 without brackets) */
	const char *port;        /* service name or number; NULL: 143 / 993 */
	enum imap_io_tls tls;
	const char *ca_file;     /* PEM CA bundle instead of the system store */
	int connect_timeout_ms;  /* per address tried; 0: 30 s */
	int read_timeout_ms;     /* per wait for data / writability; 0: 120 s */
	size_t max_rbuf;         /* cap on unconsumed read bytes; 0: 4 MiB */
	/* NULL, or an fd that, once readable (or hung up), ends every wait
	 * with ERR_TEMP (errno ECANCELED): a login nobody needs any more is
	 * given up at once rather than at a timeout. Until imap_io_uncancel(). */
	const int *cancel_fd;
};

/* Resolve, connect (trying every address), handshake when opts->tls says so.
 * On failure *io_r is NULL and `e` says why (ERR_TEMP for resolution /
 * connection / timeout trouble, ERR_TLS for TLS, ERR_USAGE for bad options). */
int imap_io_connect(const struct imap_io_opts *opts, struct imap_io **io_r,
		    struct err *e);
void imap_io_free(struct imap_io **io);
/* Stop watching opts->cancel_fd (the caller may close it now). */
void imap_io_uncancel(struct imap_io *io);

/* Upgrade a plain connection to TLS in place (after the server's OK to
 * STARTTLS). The read buffer must be empty (bytes the server sent before the
 * handshake would be a plaintext injection): ERR_PROTO if it is not. */
int imap_io_starttls(struct imap_io *io, struct err *e);

/* Read: append at least one byte to the read buffer. Returns the number of
 * bytes added (> 0), 0 at end of stream (the peer closed cleanly or not), or
 * -1 with `e` filled (ERR_TEMP for a timeout or reset, ERR_TLS, ERR_LIMIT
 * when the buffer cap is hit). */
long imap_io_fill(struct imap_io *io, struct err *e);
/* The unconsumed bytes (valid until the next fill/consume/flush). */
const char *imap_io_rdata(const struct imap_io *io, size_t *len_r);
void imap_io_consume(struct imap_io *io, size_t n);
/* Bytes may be read without blocking (buffered, or inside TLS, or on the
 * socket right now). */
int imap_io_readable(struct imap_io *io);

/* Write: queue bytes (never blocks; the queue is unbounded up to 64 MiB). */
int imap_io_write(struct imap_io *io, const void *p, size_t n, struct err *e);
int imap_io_writestr(struct imap_io *io, const char *s, struct err *e);
/* Bytes queued for writing and not yet handed to the kernel. */
size_t imap_io_pending(const struct imap_io *io);
/* Send everything queued; reads incoming bytes meanwhile (see above). */
int imap_io_flush(struct imap_io *io, struct err *e);

/* Facts about the connection. */
const char *imap_io_host(const struct imap_io *io);
int imap_io_is_tls(const struct imap_io *io);
/* The connected peer address is a loopback address (127/8, ::1,
 * ::ffff:127.0.0.0/104): the plaintext-password policy asks this. */
int imap_io_is_loopback(const struct imap_io *io);
/* The same test on a numeric address string; 0 for names and garbage. */
int imap_io_ip_is_loopback(const char *ip);
/* Numeric peer address ("127.0.0.1", "::1"), "" before connecting. */
const char *imap_io_peer(const struct imap_io *io);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" when not TLS. */
const char *imap_io_tls_info(const struct imap_io *io);

/*
 * Compression hook (COMPRESS=DEFLATE, RFC 4978): once the server has said OK
 * to COMPRESS DEFLATE, imap_io_start_deflate() puts raw deflate (zlib, window
 * -15) between the buffers and the transport. The read buffer must be empty.
 */
int imap_io_start_deflate(struct imap_io *io, struct err *e);
int imap_io_is_compressed(const struct imap_io *io);

#endif
