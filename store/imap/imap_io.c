/*
 * imap_io.c — the byte stream under the IMAP client: TCP connect with
 * timeouts, TLS (OpenSSL 3) implicit or by STARTTLS, certificate checks,
 * optional DEFLATE (RFC 4978), a read buffer the parser works on in place
 * and a write queue. The only file that includes OpenSSL (see imap_io.h).
 *
 * Design
 *  - The socket is non-blocking from the start; every wait is a poll() with
 *    a timeout, so "blocking" calls never hang past connect_timeout_ms /
 *    read_timeout_ms; while a login may still turn out unneeded (a second
 *    connection), the same poll watches the caller's cancel fd too.
 *  - Read buffer: bytes [rpos, rbuf.len) are unconsumed. It is compacted
 *    before reading, never while the caller may hold a pointer into it.
 *  - Layers, bottom up: socket -> TLS (SSL object on the fd) -> deflate ->
 *    buffers. raw_read()/raw_write() are the transport (socket or TLS);
 *    the deflate layer sits between them and the buffers.
 *  - SIGPIPE: plain writes use send(MSG_NOSIGNAL); TLS writes go through
 *    OpenSSL's write(), so SIGPIPE is blocked around them and a pending one
 *    is consumed (after libcurl's sigpipe handling, without touching the
 *    process-wide disposition).
 *  - Certificate names for the error text are collected by the verify
 *    callback from the leaf certificate (depth 0), because the handshake
 *    aborts before the caller could look at the peer certificate.
 */
#include "imap/imap_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "lib/buf.h"
#include "lib/banned.h"

#define IO_CHUNK 16384
#define IO_WBUF_MAX ((size_t)64 << 20)
#define IO_RBUF_DEFAULT ((size_t)4 << 20)

struct imap_io {
	int fd;
	char host[256];
	char port[32];
	char peer[INET6_ADDRSTRLEN];
	int loopback;
	int connect_timeout_ms;
	int read_timeout_ms;
	int cancel_fd;        /* -1, or: readable ends every wait (imap_io_opts) */
	char *ca_file;

	SSL_CTX *ctx;
	SSL *ssl;
	char tls_info[128];
	char cert_names[512]; /* names in the leaf cert, for mismatch errors */

	struct buf rbuf;      /* [rpos, len) unconsumed */
	size_t rpos;
	struct buf wbuf;      /* queued, not yet sent (uncompressed) */

	int deflate;          /* COMPRESS=DEFLATE active */
	int zin_ended;        /* the server's deflate stream ended */
	z_stream zin, zout;
	struct buf zrbuf;     /* compressed bytes read, not yet inflated */
	size_t zrpos;
	struct buf zwbuf;     /* compressed bytes to send */
	size_t zwpos;
};

/* Transport result: > 0 bytes, 0 EOF, IO_AGAIN wait for `*want`, IO_FAIL. */
#define IO_AGAIN (-1)
#define IO_FAIL (-2)

static int io_errf(struct imap_io *io, struct err *e, enum err_class cls, const char *what)
{
	return err_set(e, cls, "%s: %s", io->host, what);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

int imap_io_ip_is_loopback(const char *ip)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!ip)
		return 0;
	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, ip, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return 0;
}

static int is_ip_literal(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on the fd, or for cancel_fd (-1: none) to become
 * readable or hung up. 1 ready (revents in *rev_r), 0 timeout, -1 error
 * (errno ECANCELED when cancelled). */
static int wait_fd(int fd, int cancel_fd, short events, int timeout_ms, short *rev_r)
{
	struct pollfd p[2] = { { .fd = fd, .events = events },
			       { .fd = cancel_fd, .events = POLLIN } };
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		long left = deadline - now_ms();
		if (left < 0)
			left = 0;
		int n = poll(p, cancel_fd >= 0 ? 2 : 1, (int)left);
		if (n > 0 && cancel_fd >= 0 && p[1].revents) {
			errno = ECANCELED;
			return -1;
		}
		if (n > 0) {
			if (rev_r)
				*rev_r = p[0].revents;
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* OpenSSL's error queue as text (and cleared). */
static void ssl_errstr(char *out, size_t outlen)
{
	unsigned long code = ERR_get_error();
	unsigned long next;

	if (!code) {
		snprintf(out, outlen, "%s", errno ? strerror(errno) : "connection closed");
		return;
	}
	const char *r = ERR_reason_error_string(code);
	if (r)
		snprintf(out, outlen, "%s", r);
	else
		ERR_error_string_n(code, out, outlen);
	while ((next = ERR_get_error()) != 0)
		;
}

/* ------------------------------------------------------------------ */
/* Transport: socket or TLS                                            */

/* Run fn with SIGPIPE blocked; swallow a SIGPIPE it raised. */
static int ssl_write_nosig(SSL *ssl, const void *p, size_t n, size_t *done_r)
{
	sigset_t block, old, pending;
	int had_pending;

	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	sigpending(&pending);
	had_pending = sigismember(&pending, SIGPIPE);
	int r = SSL_write_ex(ssl, p, n, done_r);
	if (!had_pending) {
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE)) {
			struct timespec zero = { 0, 0 };
			int saved = errno;
			sigtimedwait(&block, NULL, &zero);
			errno = saved;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static long tls_result(struct imap_io *io, int ret, short *want, struct err *e,
		       const char *what)
{
	char msg[256];
	int se = SSL_get_error(io->ssl, ret);

	switch (se) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		return IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		return IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
			ERR_clear_error();
			if (errno == 0)
				return 0;
		}
		err_sys(e, ERR_TEMP, "%s: %s failed", io->host, what);
		ERR_clear_error();
		return IO_FAIL;
	default:
		ssl_errstr(msg, sizeof(msg));
		err_set(e, ERR_TLS, "%s: TLS %s failed: %s", io->host, what, msg);
		return IO_FAIL;
	}
}

static long raw_read(struct imap_io *io, void *p, size_t n, short *want, struct err *e)
{
	if (io->ssl) {
		size_t got = 0;
		ERR_clear_error();
		errno = 0;
		int r = SSL_read_ex(io->ssl, p, n, &got);
		if (r == 1)
			return (long)got;
		return tls_result(io, r, want, e, "read");
	}
	for (;;) {
		ssize_t r = recv(io->fd, p, n, 0);
		if (r >= 0)
			return (long)r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*want = POLLIN;
			return IO_AGAIN;
		}
		if (errno == ECONNRESET)
			return 0; /* the protocol layer reports the lost data */
		err_sys(e, ERR_TEMP, "%s: read failed", io->host);
		return IO_FAIL;
	}
}

static long raw_write(struct imap_io *io, const void *p, size_t n, short *want, struct err *e)
{
	if (io->ssl) {
		size_t done = 0;
		ERR_clear_error();
		errno = 0;
		int r = ssl_write_nosig(io->ssl, p, n, &done);
		if (r == 1)
			return (long)done;
		long t = tls_result(io, r, want, e, "write");
		if (t == 0) {
			err_set(e, ERR_TEMP, "%s: connection closed by server", io->host);
			return IO_FAIL;
		}
		return t;
	}
	for (;;) {
		ssize_t r = send(io->fd, p, n, MSG_NOSIGNAL);
		if (r >= 0)
			return (long)r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			*want = POLLOUT;
			return IO_AGAIN;
		}
		if (errno == EPIPE || errno == ECONNRESET) {
			err_set(e, ERR_TEMP, "%s: connection closed by server", io->host);
			return IO_FAIL;
		}
		err_sys(e, ERR_TEMP, "%s: write failed", io->host);
		return IO_FAIL;
	}
}

/* ------------------------------------------------------------------ */
/* Connecting                                                           */

static int connect_one(struct imap_io *io, const struct addrinfo *ai, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	const void *a = ai->ai_family == AF_INET6
		? (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
		: (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr;

	inet_ntop(ai->ai_family, a, addr, sizeof(addr));
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", addr, strerror(errno));
		return -1;
	}
	int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (r < 0 && errno == EINPROGRESS) {
		short rev = 0;
		int w = wait_fd(fd, io->cancel_fd, POLLOUT, io->connect_timeout_ms, &rev);
		if (w == 0) {
			snprintf(why, whylen, "%s: connect timed out after %d ms", addr,
				 io->connect_timeout_ms);
			close(fd);
			return -1;
		}
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			snprintf(why, whylen, "%s: %s", addr, strerror(soerr));
			close(fd);
			return -1;
		}
	} else if (r < 0) {
		snprintf(why, whylen, "%s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	io->fd = fd;
	snprintf(io->peer, sizeof(io->peer), "%s", addr);
	io->loopback = imap_io_ip_is_loopback(addr);
	return 0;
}

static int tcp_connect(struct imap_io *io, struct err *e)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char why[512] = "no address";
	int tried = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int g = getaddrinfo(io->host, io->port, &hints, &res);
	if (g != 0)
		return err_set(e, ERR_TEMP, "%s: cannot resolve host name: %s", io->host,
			       gai_strerror(g));
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		tried++;
		if (connect_one(io, ai, why, sizeof(why)) == 0) {
			freeaddrinfo(res);
			return 0;
		}
	}
	freeaddrinfo(res);
	return err_set(e, ERR_TEMP, "%s: cannot connect to port %s (%d address%s tried): %s",
		       io->host, io->port, tried, tried == 1 ? "" : "es", why);
}

/* ------------------------------------------------------------------ */
/* TLS                                                                  */

static void collect_cert_names(struct imap_io *io, X509 *cert)
{
	struct buf b = BUF_INIT(sizeof(io->cert_names) - 1);
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);

	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		char ip[INET6_ADDRSTRLEN];
		const char *name = NULL;
		if (gn->type == GEN_DNS) {
			name = (const char *)ASN1_STRING_get0_data(gn->d.dNSName);
		} else if (gn->type == GEN_IPADD) {
			int len = ASN1_STRING_length(gn->d.iPAddress);
			const unsigned char *d = ASN1_STRING_get0_data(gn->d.iPAddress);
			if ((len == 4 || len == 16) &&
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip, sizeof(ip)))
				name = ip;
		}
		if (name)
			buf_addf(&b, "%s%s", b.len ? ", " : "", name);
	}
	GENERAL_NAMES_free(sans);
	X509_NAME *subj = X509_get_subject_name(cert);
	int idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	if (idx >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
		unsigned char *u = NULL;
		if (ASN1_STRING_to_UTF8(&u, cn) >= 0 && u) {
			const char *s = (const char *)u;
			if (!strstr(b.data, s))
				buf_addf(&b, "%s%s (CN)", b.len ? ", " : "", s);
			OPENSSL_free(u);
		}
	}
	snprintf(io->cert_names, sizeof(io->cert_names), "%s", b.len ? b.data : "no names");
	buf_release(&b);
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct imap_io *io = ssl ? SSL_get_app_data(ssl) : NULL;

	if (io && X509_STORE_CTX_get_error_depth(xs) == 0 && !io->cert_names[0]) {
		X509 *cert = X509_STORE_CTX_get_current_cert(xs);
		if (cert)
			collect_cert_names(io, cert);
	}
	return ok;
}

static int tls_ctx(struct imap_io *io, struct err *e)
{
	char msg[256];

	io->ctx = SSL_CTX_new(TLS_client_method());
	if (!io->ctx) {
		ssl_errstr(msg, sizeof(msg));
		return err_set(e, ERR_TLS, "%s: cannot set up TLS: %s", io->host, msg);
	}
	SSL_CTX_set_min_proto_version(io->ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(io->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(io->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(io->ctx, SSL_VERIFY_PEER, verify_cb);
	int ok = io->ca_file ? SSL_CTX_load_verify_locations(io->ctx, io->ca_file, NULL)
			     : SSL_CTX_set_default_verify_paths(io->ctx);
	if (ok != 1) {
		ssl_errstr(msg, sizeof(msg));
		if (io->ca_file)
			return err_set(e, ERR_USAGE, "%s: cannot load CA file '%s': %s",
				       io->host, io->ca_file, msg);
		return err_set(e, ERR_TLS, "%s: cannot load the system CA store: %s", io->host,
			       msg);
	}
	return 0;
}

static int tls_fail(struct imap_io *io, struct err *e)
{
	long vr = SSL_get_verify_result(io->ssl);
	char msg[256];

	if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH) {
		ERR_clear_error();
		return err_set(e, ERR_TLS, "%s: certificate for %s does not match: it is for %s",
			       io->host, io->host, io->cert_names[0] ? io->cert_names : "no names");
	}
	if (vr != X509_V_OK) {
		ERR_clear_error();
		return err_set(e, ERR_TLS, "%s: certificate verification failed: %s%s%s",
			       io->host, X509_verify_cert_error_string(vr),
			       io->cert_names[0] ? "; certificate is for " : "", io->cert_names);
	}
	ssl_errstr(msg, sizeof(msg));
	return err_set(e, ERR_TLS, "%s: TLS handshake failed: %s", io->host, msg);
}

static int tls_start(struct imap_io *io, struct err *e)
{
	if (!io->ctx && tls_ctx(io, e) < 0)
		return -1;
	io->ssl = SSL_new(io->ctx);
	if (!io->ssl || SSL_set_fd(io->ssl, io->fd) != 1)
		return io_errf(io, e, ERR_TLS, "cannot set up TLS");
	SSL_set_app_data(io->ssl, io);
	X509_VERIFY_PARAM *vp = SSL_get0_param(io->ssl);
	if (is_ip_literal(io->host)) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, io->host) != 1)
			return io_errf(io, e, ERR_TLS, "cannot set the IP address to verify");
	} else {
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (X509_VERIFY_PARAM_set1_host(vp, io->host, 0) != 1 ||
		    SSL_set_tlsext_host_name(io->ssl, io->host) != 1)
			return io_errf(io, e, ERR_TLS, "cannot set the host name to verify");
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = SSL_connect(io->ssl);
		if (r == 1)
			break;
		int se = SSL_get_error(io->ssl, r);
		short want = se == SSL_ERROR_WANT_READ ? POLLIN
			     : se == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
		if (!want) {
			if (se == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
			    SSL_get_verify_result(io->ssl) == X509_V_OK)
				return err_set(e, ERR_TLS, "%s: TLS handshake failed: %s",
					       io->host, errno ? strerror(errno)
							       : "connection closed by server");
			return tls_fail(io, e);
		}
		int w = wait_fd(io->fd, io->cancel_fd, want, io->read_timeout_ms, NULL);
		if (w == 0)
			return err_set(e, ERR_TEMP, "%s: TLS handshake timed out after %d ms",
				       io->host, io->read_timeout_ms);
		if (w < 0)
			return err_sys(e, ERR_TEMP, "%s: poll", io->host);
	}
	snprintf(io->tls_info, sizeof(io->tls_info), "%s %s", SSL_get_version(io->ssl),
		 SSL_get_cipher_name(io->ssl));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Public: lifetime                                                     */

int imap_io_connect(const struct imap_io_opts *opts, struct imap_io **io_r, struct err *e)
{
	*io_r = NULL;
	if (!opts->host || !*opts->host)
		return err_set(e, ERR_USAGE, "no host name given");
	if (strlen(opts->host) >= sizeof(((struct imap_io *)0)->host))
		return err_set(e, ERR_USAGE, "host name too long");

	struct imap_io *io = mf_calloc(1, sizeof(*io));
	io->fd = -1;
	snprintf(io->host, sizeof(io->host), "%s", opts->host);
	snprintf(io->port, sizeof(io->port), "%s",
		 opts->port ? opts->port : opts->tls == IMAP_IO_TLS ? "993" : "143");
	io->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 30000;
	io->read_timeout_ms = opts->read_timeout_ms > 0 ? opts->read_timeout_ms : 120000;
	io->cancel_fd = opts->cancel_fd ? *opts->cancel_fd : -1;
	io->ca_file = mf_strdup(opts->ca_file);
	buf_init(&io->rbuf, opts->max_rbuf ? opts->max_rbuf : IO_RBUF_DEFAULT);
	buf_init(&io->wbuf, IO_WBUF_MAX);
	buf_init(&io->zrbuf, IO_CHUNK * 4);
	buf_init(&io->zwbuf, IO_WBUF_MAX);

	if (tcp_connect(io, e) < 0 || (opts->tls == IMAP_IO_TLS && tls_start(io, e) < 0)) {
		imap_io_free(&io);
		return -1;
	}
	*io_r = io;
	return 0;
}

void imap_io_free(struct imap_io **iop)
{
	struct imap_io *io = *iop;

	if (!io)
		return;
	if (io->ssl)
		SSL_free(io->ssl);
	if (io->ctx)
		SSL_CTX_free(io->ctx);
	if (io->fd >= 0)
		close(io->fd);
	if (io->deflate) {
		inflateEnd(&io->zin);
		deflateEnd(&io->zout);
	}
	buf_release(&io->rbuf);
	buf_release(&io->wbuf);
	buf_release(&io->zrbuf);
	buf_release(&io->zwbuf);
	free(io->ca_file);
	free(io);
	*iop = NULL;
}

int imap_io_starttls(struct imap_io *io, struct err *e)
{
	if (io->ssl)
		return io_errf(io, e, ERR_USAGE, "TLS is already active");
	if (io->rbuf.len > io->rpos)
		return io_errf(io, e, ERR_PROTO,
			       "server sent data before the TLS handshake (possible injection)");
	return tls_start(io, e);
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */

static void compact(struct imap_io *io)
{
	if (io->rpos == 0)
		return;
	buf_consume(&io->rbuf, io->rpos);
	io->rpos = 0;
}

/* One transport read without waiting, into p: as raw_read, via inflate when
 * compressed (IO_AGAIN then also means "inflated nothing yet"). */
static long layer_read(struct imap_io *io, char *p, size_t n, short *want, struct err *e)
{
	if (!io->deflate)
		return raw_read(io, p, n, want, e);
	if (io->zin_ended)
		return 0;
	for (;;) {
		if (io->zrbuf.len > io->zrpos) {
			io->zin.next_in = (Bytef *)io->zrbuf.data + io->zrpos;
			io->zin.avail_in = (uInt)(io->zrbuf.len - io->zrpos);
			io->zin.next_out = (Bytef *)p;
			io->zin.avail_out = (uInt)n;
			int z = inflate(&io->zin, Z_SYNC_FLUSH);
			io->zrpos = io->zrbuf.len - io->zin.avail_in;
			if (z == Z_STREAM_END) {
				/* The server ended the stream (it is closing). */
				io->zin_ended = 1;
				return (long)(n - io->zin.avail_out);
			}
			if (z != Z_OK && z != Z_BUF_ERROR) {
				err_set(e, ERR_PROTO, "%s: bad compressed data from server: %s",
					io->host, io->zin.msg ? io->zin.msg : "inflate failed");
				return IO_FAIL;
			}
			size_t got = n - io->zin.avail_out;
			if (got > 0)
				return (long)got;
		}
		buf_consume(&io->zrbuf, io->zrpos);
		io->zrpos = 0;
		if (buf_grow(&io->zrbuf, IO_CHUNK) < 0) {
			err_set(e, ERR_LIMIT, "%s: compressed read buffer full", io->host);
			return IO_FAIL;
		}
		long r = raw_read(io, io->zrbuf.data + io->zrbuf.len, IO_CHUNK, want, e);
		if (r <= 0)
			return r;
		io->zrbuf.len += (size_t)r;
	}
}

/* Read what is available now (no waiting). > 0, 0 EOF, IO_AGAIN, IO_FAIL. */
static long read_some(struct imap_io *io, short *want, struct err *e)
{
	compact(io);
	if (buf_grow(&io->rbuf, IO_CHUNK) < 0) {
		if (io->rbuf.len < io->rbuf.max && buf_grow(&io->rbuf, 1) == 0) {
			/* room for a little */
		} else {
			err_set(e, ERR_LIMIT, "%s: read buffer full (%zu bytes unconsumed)",
				io->host, io->rbuf.len);
			return IO_FAIL;
		}
	}
	size_t room = io->rbuf.alloc - io->rbuf.len - 1;
	if (room > io->rbuf.max - io->rbuf.len)
		room = io->rbuf.max - io->rbuf.len;
	long r = layer_read(io, io->rbuf.data + io->rbuf.len, room, want, e);
	if (r > 0) {
		io->rbuf.len += (size_t)r;
		io->rbuf.data[io->rbuf.len] = '\0';
	}
	return r;
}

void imap_io_uncancel(struct imap_io *io)
{
	io->cancel_fd = -1;
}

long imap_io_fill(struct imap_io *io, struct err *e)
{
	for (;;) {
		short want = POLLIN;
		long r = read_some(io, &want, e);
		if (r >= 0)
			return r;
		if (r == IO_FAIL)
			return -1;
		int w = wait_fd(io->fd, io->cancel_fd, want, io->read_timeout_ms, NULL);
		if (w == 0)
			return err_set(e, ERR_TEMP, "%s: no answer from server for %d ms", io->host,
				       io->read_timeout_ms);
		if (w < 0)
			return err_sys(e, ERR_TEMP, "%s: poll", io->host);
	}
}

const char *imap_io_rdata(const struct imap_io *io, size_t *len_r)
{
	*len_r = io->rbuf.len - io->rpos;
	return io->rbuf.data + io->rpos;
}

void imap_io_consume(struct imap_io *io, size_t n)
{
	size_t avail = io->rbuf.len - io->rpos;

	io->rpos += n < avail ? n : avail;
	if (io->rpos == io->rbuf.len) {
		io->rpos = 0;
		buf_reset(&io->rbuf);
	}
}

int imap_io_readable(struct imap_io *io)
{
	if (io->rbuf.len > io->rpos)
		return 1;
	if (io->deflate && io->zrbuf.len > io->zrpos)
		return 1;
	if (io->ssl && SSL_pending(io->ssl) > 0)
		return 1;
	short rev = 0;
	return wait_fd(io->fd, -1, POLLIN, 0, &rev) > 0;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */

int imap_io_write(struct imap_io *io, const void *p, size_t n, struct err *e)
{
	if (buf_add(&io->wbuf, p, n) < 0)
		return err_set(e, ERR_LIMIT, "%s: write queue full", io->host);
	return 0;
}

size_t imap_io_pending(const struct imap_io *io)
{
	return io->wbuf.len + io->zwbuf.len;
}

int imap_io_writestr(struct imap_io *io, const char *s, struct err *e)
{
	return imap_io_write(io, s, strlen(s), e);
}

/* Move wbuf through deflate into zwbuf. */
static int compress_queue(struct imap_io *io, struct err *e)
{
	io->zout.next_in = (Bytef *)io->wbuf.data;
	io->zout.avail_in = (uInt)io->wbuf.len;
	do {
		if (buf_grow(&io->zwbuf, IO_CHUNK) < 0)
			return io_errf(io, e, ERR_LIMIT, "compressed write queue full");
		io->zout.next_out = (Bytef *)io->zwbuf.data + io->zwbuf.len;
		io->zout.avail_out = IO_CHUNK;
		if (deflate(&io->zout, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
			return io_errf(io, e, ERR_IO, "deflate failed");
		io->zwbuf.len += IO_CHUNK - io->zout.avail_out;
	} while (io->zout.avail_out == 0 || io->zout.avail_in > 0);
	buf_reset(&io->wbuf);
	return 0;
}

int imap_io_flush(struct imap_io *io, struct err *e)
{
	struct buf *out = &io->wbuf;
	size_t pos = 0;
	size_t *posp = &pos;
	int peer_eof = 0;

	if (io->deflate) {
		if (io->wbuf.len && compress_queue(io, e) < 0)
			return -1;
		out = &io->zwbuf;
		posp = &io->zwpos;
	}
	while (*posp < out->len) {
		short want = POLLOUT;
		long r = raw_write(io, out->data + *posp, out->len - *posp, &want, e);
		if (r > 0) {
			*posp += (size_t)r;
			continue;
		}
		if (r == IO_FAIL)
			goto fail;
		/* Blocked: wait, taking in what the server sends meanwhile so it
		 * never blocks on us (pipelining), unless our buffer is full. */
		short ev = want;
		if (!peer_eof && io->rbuf.len - io->rpos < io->rbuf.max / 2)
			ev |= POLLIN;
		short rev = 0;
		int w = wait_fd(io->fd, io->cancel_fd, ev, io->read_timeout_ms, &rev);
		if (w == 0) {
			err_set(e, ERR_TEMP, "%s: write timed out after %d ms", io->host,
				io->read_timeout_ms);
			goto fail;
		}
		if (w < 0) {
			err_sys(e, ERR_TEMP, "%s: poll", io->host);
			goto fail;
		}
		if ((rev & POLLIN) && want == POLLOUT) {
			short rw;
			long rr = read_some(io, &rw, e);
			if (rr == IO_FAIL)
				goto fail;
			if (rr == 0)
				peer_eof = 1; /* the write will fail and say so; don't spin */
		}
	}
	if (io->deflate) {
		buf_reset(&io->zwbuf);
		io->zwpos = 0;
	} else {
		buf_reset(&io->wbuf);
	}
	return 0;
fail:
	if (!io->deflate)
		buf_consume(&io->wbuf, pos);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Compression and facts                                                */

int imap_io_start_deflate(struct imap_io *io, struct err *e)
{
	if (io->deflate)
		return io_errf(io, e, ERR_USAGE, "compression is already active");
	if (io->rbuf.len > io->rpos)
		return io_errf(io, e, ERR_PROTO, "server sent data before compression started");
	if (io->wbuf.len && imap_io_flush(io, e) < 0)
		return -1;
	memset(&io->zin, 0, sizeof(io->zin));
	memset(&io->zout, 0, sizeof(io->zout));
	if (inflateInit2(&io->zin, -15) != Z_OK)
		return io_errf(io, e, ERR_IO, "cannot start inflate");
	if (deflateInit2(&io->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		inflateEnd(&io->zin);
		return io_errf(io, e, ERR_IO, "cannot start deflate");
	}
	io->deflate = 1;
	return 0;
}

int imap_io_is_compressed(const struct imap_io *io)
{
	return io->deflate;
}

const char *imap_io_host(const struct imap_io *io)
{
	return io->host;
}

int imap_io_is_tls(const struct imap_io *io)
{
	return io->ssl != NULL;
}

int imap_io_is_loopback(const struct imap_io *io)
{
	return io->loopback;
}

const char *imap_io_peer(const struct imap_io *io)
{
	return io->peer;
}

const char *imap_io_tls_info(const struct imap_io *io)
{
	return io->tls_info;
}
