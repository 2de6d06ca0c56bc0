/*
 * imap_client.c — one IMAP session: greeting, capabilities, STARTTLS,
 * LOGIN / AUTHENTICATE PLAIN, the command engine (tags, pipelining,
 * literals, continuation requests), response dispatch, error
 * classification and the redacting protocol trace. The mailbox and message
 * commands are in imap_cmds.c.
 * RFCs: 3501, 9051, 2595, 8314, 4959, 4616, 7888, 2971, 5161, 5530.
 *
 * Design
 *  - State: c->state changes only through imap_client_set_state(), and only
 *    on a tagged OK to LOGIN/AUTHENTICATE/SELECT/EXAMINE/CLOSE/UNSELECT/
 *    LOGOUT, a NO to SELECT/EXAMINE, a PREAUTH greeting, or a dead
 *    connection (LOGOUT). State-changing commands are barriers (sent only
 *    when nothing is in flight), so the state at submission is exact and
 *    the state check before sending is sound.
 *  - In flight: a FIFO of commands (c->head..c->tail). A tagged response
 *    completes the command with that tag wherever it is in the FIFO. Untagged
 *    data goes to the oldest command collecting that kind (imap_cmds.c),
 *    else it is unsolicited (mailbox state + event callback).
 *  - Sending: the command is queued in the I/O write buffer; queued bytes go
 *    out before every read (so pipelined commands travel together) and when
 *    a synchronizing literal needs the server's "+". c->sending is the
 *    command being written: a "+" belongs to it.
 *  - Death: BYE (unless LOGOUT), EOF, I/O, TLS or parse errors make the
 *    client dead: c->fatal holds "host: reason", every in-flight command
 *    fails with "host: CMD: reason" (ERR_TEMP for BYE/EOF), and every later
 *    call fails the same way before sending anything.
 */
#include "imap/imap_client_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_oauth.h"
#include "imap/imap_scram.h"
#include "imap/imap_utf7.h"
#include "lib/b64.h"
#include "lib/banned.h"

#define TRACE_LINE_MAX 2000
#define LITERAL_MINUS_MAX 4096
#define FLUSH_AT ((size_t)64 << 10)

static int read_response(struct imap_client *c);
static void complete(struct imap_client *c, struct imap_cmd *cmd);

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

const char *imap_state_name(enum imap_state s)
{
	switch (s) {
	case IMAP_STATE_NOT_AUTHENTICATED:
		return "not authenticated";
	case IMAP_STATE_AUTHENTICATED:
		return "authenticated";
	case IMAP_STATE_SELECTED:
		return "selected";
	case IMAP_STATE_LOGOUT:
		return "logout";
	}
	return "?";
}

static void logf_(struct imap_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct imap_client *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->log(c->log_ctx, msg);
}

void imap_client_set_state(struct imap_client *c, enum imap_state s)
{
	if (c->state == s)
		return;
	logf_(c, "state: %s -> %s", imap_state_name(c->state), imap_state_name(s));
	c->state = s;
	if (s != IMAP_STATE_SELECTED)
		imap_client_mailbox_reset(c, NULL, 0);
}

void imap_client_mailbox_reset(struct imap_client *c, const char *name, int read_only)
{
	free(c->mbox.name);
	free(c->mbox.flags);
	free(c->mbox.permanentflags);
	memset(&c->mbox, 0, sizeof(c->mbox));
	c->mbox.name = mf_strdup(name);
	c->mbox.read_only = read_only;
}

/* "host: reason" -> "reason" (io errors carry the host already). */
static const char *strip_host(const struct imap_client *c, const char *msg)
{
	size_t hl = strlen(c->host);

	if (strncmp(msg, c->host, hl) == 0 && msg[hl] == ':' && msg[hl + 1] == ' ')
		return msg + hl + 2;
	return msg;
}

static void emit_event(struct imap_client *c, struct imap_event *ev)
{
	if (c->event)
		c->event(c->event_ctx, ev);
}

/* ------------------------------------------------------------------ */
/* Trace                                                                */

static void trace_flush_line(struct imap_client *c, char dir, struct buf *line)
{
	c->trace(c->trace_ctx, dir, line->data, line->len);
	buf_reset(line);
}

static void trace_add(struct buf *line, const char *p, size_t n)
{
	if (line->len >= TRACE_LINE_MAX)
		return;
	if (n > TRACE_LINE_MAX - line->len)
		n = TRACE_LINE_MAX - line->len;
	buf_add(line, p, n);
	if (line->len >= TRACE_LINE_MAX)
		buf_addstr(line, "...");
}

/* Outgoing text; secret text shows as one "<redacted>". */
static void trace_tx(struct imap_client *c, const char *p, size_t n, int secret)
{
	if (!c->trace)
		return;
	if (secret) {
		if (!c->tx_secret)
			trace_add(&c->tx_line, "<redacted>", 10);
		c->tx_secret = 1;
		return;
	}
	c->tx_secret = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (c->tx_line.len && c->tx_line.data[c->tx_line.len - 1] == '\r')
				buf_truncate(&c->tx_line, c->tx_line.len - 1);
			trace_flush_line(c, '>', &c->tx_line);
		} else {
			trace_add(&c->tx_line, p + i, 1);
		}
	}
}

/* Incoming bytes as the parser consumed them: lines, literals as "<N bytes>". */
/* Keep the last bytes of the current raw line (for the literal header
 * test, which must not depend on the trace line's length cap). */
static void rx_tail_add(struct imap_client *c, const char *p, size_t n)
{
	size_t cap = sizeof(c->rx_tail) - 1;

	if (n >= cap) {
		memcpy(c->rx_tail, p + n - cap, cap);
		c->rx_tail_len = cap;
		return;
	}
	if (c->rx_tail_len + n > cap) {
		size_t drop = c->rx_tail_len + n - cap;
		memmove(c->rx_tail, c->rx_tail + drop, c->rx_tail_len - drop);
		c->rx_tail_len -= drop;
	}
	memcpy(c->rx_tail + c->rx_tail_len, p, n);
	c->rx_tail_len += n;
}

/* The size of a literal announced at the end of the raw line, or -1. */
static long long rx_literal(struct imap_client *c)
{
	size_t n = c->rx_tail_len;

	if (n && c->rx_tail[n - 1] == '\r')
		n--;
	if (n < 3 || c->rx_tail[n - 1] != '}')
		return -1;
	c->rx_tail[n] = '\0';
	char *open = strrchr(c->rx_tail, '{');
	if (!open || open[1] < '0' || open[1] > '9')
		return -1;
	return (long long)strtoull(open + 1, NULL, 10);
}

static void trace_rx(struct imap_client *c, const char *p, size_t n)
{
	char tmp[48];

	if (!c->trace)
		return;
	while (n > 0) {
		if (c->rx_lit_left) {
			size_t k = n < c->rx_lit_left ? n : (size_t)c->rx_lit_left;
			c->rx_lit_left -= k;
			p += k;
			n -= k;
			continue;
		}
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) + 1 : n;
		trace_add(&c->rx_line, p, nl ? k - 1 : k);
		rx_tail_add(c, p, nl ? k - 1 : k);
		p += k;
		n -= k;
		if (!nl)
			break;
		struct buf *l = &c->rx_line;
		if (l->len && l->data[l->len - 1] == '\r')
			buf_truncate(l, l->len - 1);
		long long sz = rx_literal(c);
		c->rx_tail_len = 0;
		trace_flush_line(c, '<', l);
		if (sz >= 0) {
			/* A line ending in {N} announces N bytes of literal. */
			c->rx_lit_left = (uint64_t)sz;
			snprintf(tmp, sizeof(tmp), "<%lld bytes>", sz);
			buf_addstr(l, tmp);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Death                                                                */

static void make_cmd_err(struct imap_client *c, struct imap_cmd *cmd, enum err_class cls,
			 const char *reason)
{
	err_set(&cmd->err, cls, "%s: %s: %s", c->host, cmd->desc, reason);
	cmd->failed = 1;
}

/* The connection is unusable: fail everything in flight. */
static void die(struct imap_client *c, enum err_class cls, const char *reason)
{
	if (c->dead)
		return;
	c->dead = 1;
	err_set(&c->fatal, cls, "%s: %s", c->host, reason);
	logf_(c, "connection lost: %s", reason);
	imap_client_set_state(c, IMAP_STATE_LOGOUT);
	while (c->head) {
		struct imap_cmd *cmd = c->head;
		if (cmd->kind == CK_LOGOUT && c->bye) {
			complete(c, cmd); /* LOGOUT answered by BYE and EOF: fine */
			continue;
		}
		if (!cmd->failed)
			make_cmd_err(c, cmd, cls, reason);
		complete(c, cmd);
	}
}

static void die_err(struct imap_client *c, const struct err *e)
{
	die(c, e->cls, strip_host(c, e->msg));
}

/* ------------------------------------------------------------------ */
/* Commands: lifetime                                                   */

static void cmd_free(struct imap_client *c, struct imap_cmd *cmd)
{
	for (struct imap_cmd **pp = &c->all; *pp; pp = &(*pp)->all_next) {
		if (*pp == cmd) {
			*pp = cmd->all_next;
			break;
		}
	}
	free(cmd->match_name);
	free(cmd);
}

static void unlink_inflight(struct imap_client *c, struct imap_cmd *cmd)
{
	struct imap_cmd *prev = NULL;

	for (struct imap_cmd *p = c->head; p; prev = p, p = p->next) {
		if (p != cmd)
			continue;
		if (prev)
			prev->next = p->next;
		else
			c->head = p->next;
		if (c->tail == p)
			c->tail = prev;
		c->inflight--;
		p->next = NULL;
		return;
	}
}

static void complete(struct imap_client *c, struct imap_cmd *cmd)
{
	unlink_inflight(c, cmd);
	cmd->done = 1;
	if (c->sending == cmd)
		c->sending = NULL;
	if (c->stream_cmd == cmd) {
		c->stream_cmd = NULL;
		c->streaming = 0;
	}
	if (cmd->detached) {
		if (cmd->on_done)
			cmd->on_done(cmd->on_done_ctx, cmd->failed ? &cmd->err : NULL);
		cmd_free(c, cmd);
	}
}

void imap_client_cmd_fail(struct imap_cmd *cmd, const struct err *e)
{
	if (cmd->failed)
		return;
	cmd->failed = 1;
	cmd->err = *e;
	if (cmd->err.cls == ERR_NONE)
		cmd->err.cls = ERR_PERM;
}

struct imap_cmd *imap_client_find_kind(struct imap_client *c, enum cmd_kind kind)
{
	for (struct imap_cmd *p = c->head; p; p = p->next)
		if (p->kind == kind)
			return p;
	return NULL;
}

static struct imap_cmd *find_tag(struct imap_client *c, const char *tag)
{
	for (struct imap_cmd *p = c->head; p; p = p->next)
		if (strcmp(p->tag, tag) == 0)
			return p;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Commands: building and sending                                       */

static int dead_err(struct imap_client *c, const char *desc, struct err *e)
{
	return err_set(e, c->fatal.cls, "%s: %s: %s", c->host, desc,
		       strip_host(c, c->fatal.msg));
}

static int flush(struct imap_client *c)
{
	struct err e;

	if (c->dead)
		return -1;
	if (imap_io_flush(c->io, &e) < 0) {
		die_err(c, &e);
		return -1;
	}
	return 0;
}

int imap_client_flush(struct imap_client *c)
{
	return flush(c);
}

static int wait_for(struct imap_client *c, struct imap_cmd *cmd)
{
	while (!cmd->done && !c->dead)
		if (read_response(c) < 0)
			break;
	return cmd->done ? 0 : -1;
}

/* May a command allowed in `states` be sent now? Else fill e. */
static int cmd_allowed(struct imap_client *c, unsigned states, const char *desc,
		       struct err *e)
{
	if (c->dead) {
		dead_err(c, desc, e);
		return 0;
	}
	if (!(states & ST_BIT(c->state))) {
		err_set(e, ERR_USAGE, "%s: %s: not allowed in state %s", c->host, desc,
			imap_state_name(c->state));
		return 0;
	}
	return 1;
}

struct imap_cmd *imap_client_cmd_begin(struct imap_client *c, enum cmd_kind kind,
				       unsigned states, int barrier, const char *desc,
				       struct err *e)
{
	if (!cmd_allowed(c, states, desc, e))
		return NULL;
	while (c->head && (barrier || c->inflight >= c->depth))
		if (read_response(c) < 0)
			break;
	/* Waiting may have changed the state (e.g. a BYE): check again. */
	if (!cmd_allowed(c, states, desc, e))
		return NULL;
	struct imap_cmd *cmd = mf_calloc(1, sizeof(*cmd));
	cmd->c = c;
	cmd->kind = kind;
	snprintf(cmd->tag, sizeof(cmd->tag), "A%u", ++c->next_tag);
	snprintf(cmd->desc, sizeof(cmd->desc), "%s", desc);
	if (strlen(desc) >= sizeof(cmd->desc))
		memcpy(cmd->desc + sizeof(cmd->desc) - 4, "...", 4);
	cmd->all_next = c->all;
	c->all = cmd;
	if (c->tail)
		c->tail->next = cmd;
	else
		c->head = cmd;
	c->tail = cmd;
	c->inflight++;
	c->sending = cmd;
	imap_client_cmd_add(c, cmd, cmd->tag, 0);
	imap_client_cmd_add(c, cmd, " ", 0);
	return cmd;
}

static int cmd_write(struct imap_client *c, struct imap_cmd *cmd, const void *p, size_t n,
		     int secret)
{
	struct err e;

	if (c->dead || cmd->send_aborted)
		return -1;
	trace_tx(c, p, n, secret);
	if (imap_io_write(c->io, p, n, &e) < 0) {
		die_err(c, &e);
		return -1;
	}
	return 0;
}

int imap_client_cmd_add(struct imap_client *c, struct imap_cmd *cmd, const char *s, int secret)
{
	return cmd_write(c, cmd, s, strlen(s), secret);
}

int imap_client_cmd_addf(struct imap_client *c, struct imap_cmd *cmd, const char *fmt, ...)
{
	struct buf b = BUF_INIT(1 << 20);
	va_list ap;

	va_start(ap, fmt);
	int r = buf_vaddf(&b, fmt, ap);
	va_end(ap);
	if (r == 0)
		r = cmd_write(c, cmd, b.data, b.len, 0);
	buf_release(&b);
	return r;
}

/* Wait for "+" for the command being sent. 0 got it; -1 the command was
 * answered instead (refused) or the connection died. */
static int wait_continuation(struct imap_client *c, struct imap_cmd *cmd)
{
	c->got_cont = 0;
	if (flush(c) < 0)
		return -1;
	while (!c->got_cont && !cmd->done && !c->dead)
		if (read_response(c) < 0)
			break;
	if (c->got_cont)
		return 0;
	cmd->send_aborted = 1;
	return -1;
}

static int literal_header(struct imap_client *c, struct imap_cmd *cmd, uint64_t size,
			  int secret)
{
	char hdr[40];
	int nonsync = imap_client_has_cap(c, "LITERAL+") ||
		      (imap_client_has_cap(c, "LITERAL-") && size <= LITERAL_MINUS_MAX);

	snprintf(hdr, sizeof(hdr), "{%llu%s}\r\n", (unsigned long long)size, nonsync ? "+" : "");
	if (cmd_write(c, cmd, hdr, strlen(hdr), 0) < 0)
		return -1;
	if (!nonsync && wait_continuation(c, cmd) < 0)
		return -1;
	char note[48];
	if (c->trace) {
		snprintf(note, sizeof(note), "<%llu bytes>", (unsigned long long)size);
		trace_tx(c, secret ? "" : note, secret ? 0 : strlen(note), secret);
		c->tx_secret = 0;
	}
	return 0;
}

int imap_client_cmd_literal(struct imap_client *c, struct imap_cmd *cmd,
			    const struct imap_literal_src *src, int secret)
{
	struct err e;
	char chunk[16384];

	if (literal_header(c, cmd, src->size, secret) < 0)
		return -1;
	if (src->data) {
		/* In pieces, flushed as they go: the write queue stays small, also
		 * over the many small literals of one MULTIAPPEND. */
		const char *p = src->data;
		for (uint64_t off = 0; off < src->size; off += FLUSH_AT) {
			size_t k = src->size - off < FLUSH_AT ? (size_t)(src->size - off) : FLUSH_AT;
			if (imap_io_write(c->io, p + off, k, &e) < 0) {
				die_err(c, &e);
				return -1;
			}
			if (imap_io_pending(c->io) >= FLUSH_AT && flush(c) < 0)
				return -1;
		}
		return 0;
	}
	uint64_t left = src->size;
	while (left > 0) {
		size_t got = 0;
		size_t want = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);
		err_clear(&e);
		if (!src->read || src->read(src->ctx, chunk, want, &got, &e) < 0 || got == 0 ||
		    got > want) {
			if (e.cls == ERR_NONE)
				err_set(&e, ERR_IO, "message source ended %llu bytes early",
					(unsigned long long)left);
			/* We promised `size` bytes: the connection cannot go on. */
			imap_client_cmd_fail(cmd, &e);
			die(c, ERR_TEMP, "literal source failed, connection dropped");
			return -1;
		}
		if (imap_io_write(c->io, chunk, got, &e) < 0) {
			die_err(c, &e);
			return -1;
		}
		left -= got;
		if ((src->size - left) % FLUSH_AT < got && flush(c) < 0)
			return -1;
	}
	return 0;
}

int imap_client_cmd_astring(struct imap_client *c, struct imap_cmd *cmd, const char *s,
			    size_t len, int secret)
{
	int quotable = 1;

	/* Always quoted (never an atom: one rule, no list-wildcard surprises),
	 * a literal when quoting cannot carry the bytes. */
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == 0 || ch == '\r' || ch == '\n' || ch >= 0x80)
			quotable = 0;
	}
	if (!quotable) {
		struct imap_literal_src src = { .size = len, .data = s };
		return imap_client_cmd_literal(c, cmd, &src, secret);
	}
	struct buf b = BUF_INIT(len * 2 + 3);
	buf_addch(&b, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_addch(&b, '\\');
		buf_addch(&b, s[i]);
	}
	buf_addch(&b, '"');
	int r = cmd_write(c, cmd, b.data, b.len, secret);
	buf_release(&b);
	return r;
}

int imap_client_cmd_finish(struct imap_client *c, struct imap_cmd *cmd,
			   struct imap_cmd **cmd_r, struct err *e)
{
	if (cmd_r)
		*cmd_r = NULL;
	if (!cmd->send_aborted && !c->dead)
		cmd_write(c, cmd, "\r\n", 2, 0);
	if (c->sending == cmd)
		c->sending = NULL;
	if (cmd_r) {
		*cmd_r = cmd;
		return 0;
	}
	struct imap_cmd *h = cmd;
	return imap_cmd_wait(c, &h, e);
}

int imap_cmd_wait(struct imap_client *c, struct imap_cmd **cmdp, struct err *e)
{
	struct imap_cmd *cmd = *cmdp;

	if (!cmd)
		return 0;
	*cmdp = NULL;
	wait_for(c, cmd);
	int r = 0;
	if (!cmd->done)
		r = dead_err(c, cmd->desc, e);
	else if (cmd->failed) {
		if (e)
			*e = cmd->err;
		r = -1;
	}
	if (cmd->done)
		cmd_free(c, cmd);
	else
		cmd->detached = 1;
	return r;
}

void imap_cmd_on_done(struct imap_cmd **cmdp, imap_done_fn *fn, void *ctx)
{
	struct imap_cmd *cmd = *cmdp;

	if (!cmd)
		return;
	*cmdp = NULL;
	cmd->on_done = fn;
	cmd->on_done_ctx = ctx;
	cmd->detached = 1;
	if (cmd->done) {
		if (fn)
			fn(ctx, cmd->failed ? &cmd->err : NULL);
		cmd_free(cmd->c, cmd);
	}
}

const char *imap_cmd_tag(const struct imap_cmd *cmd)
{
	return cmd->tag;
}

int imap_client_drain(struct imap_client *c, struct err *e)
{
	while (c->head && !c->dead)
		if (read_response(c) < 0)
			break;
	if (c->dead && !c->logged_out)
		return err_set(e, c->fatal.cls, "%s", c->fatal.msg);
	return 0;
}

size_t imap_client_in_flight(const struct imap_client *c)
{
	return c->inflight;
}

int imap_client_need_cap(struct imap_client *c, const char *cap, const char *what,
			 struct err *e)
{
	if (imap_client_has_cap(c, cap))
		return 0;
	return err_set(e, ERR_USAGE, "%s: %s: server does not advertise %s", c->host, what, cap);
}

/* ------------------------------------------------------------------ */
/* Mailbox names                                                        */

int imap_client_mbox_encode(struct imap_client *c, const char *name, struct buf *out,
			    struct err *e)
{
	struct err e2;

	buf_reset(out);
	if (strcasecmp(name, "INBOX") == 0)
		return buf_addstr(out, "INBOX") < 0 ? err_set(e, ERR_LIMIT, "name too long") : 0;
	if (imap_utf7_encode(name, strlen(name), out, &e2) < 0)
		return err_set(e, ERR_USAGE, "%s: mailbox name '%s': %s", c->host, name,
			       e2.msg);
	return 0;
}

char *imap_client_mbox_decode(const char *raw, int *bad_r)
{
	struct buf b = BUF_INIT(1 << 20);
	struct err e;

	if (bad_r)
		*bad_r = 0;
	if (imap_utf7_decode(raw, strlen(raw), &b, &e) < 0) {
		buf_release(&b);
		if (bad_r)
			*bad_r = 1;
		return mf_strdup(raw);
	}
	return buf_detach(&b, NULL);
}

/* ------------------------------------------------------------------ */
/* Capabilities                                                         */

static void set_caps(struct imap_client *c, struct imap_strv *caps)
{
	imap_strv_free(&c->caps);
	c->caps = *caps;
	c->caps_known = 1;
	c->caps_gen++;
	if (c->state == IMAP_STATE_NOT_AUTHENTICATED) {
		imap_strv_free(&c->caps_pre);
		c->caps_pre.v = mf_calloc(caps->n + 1, sizeof(char *));
		for (size_t i = 0; i < caps->n; i++)
			c->caps_pre.v[i] = mf_strdup(caps->v[i]);
		c->caps_pre.n = caps->n;
	}
	struct imap_event ev = { .type = IMAP_EV_CAPS };
	emit_event(c, &ev);
}

static void caps_from_code(struct imap_client *c, const struct imap_code *code)
{
	struct imap_strv sv = { 0 };
	struct err e;

	if (imap_resp_code_capability(code, &sv, &e) == 0)
		set_caps(c, &sv);
	else
		imap_strv_free(&sv);
}

int imap_client_has_cap(const struct imap_client *c, const char *cap)
{
	return imap_strv_has(&c->caps, cap);
}

const char *const *imap_client_caps(const struct imap_client *c, size_t *n_r)
{
	*n_r = c->caps.n;
	return (const char *const *)c->caps.v;
}

const char *const *imap_client_caps_prelogin(const struct imap_client *c, size_t *n_r)
{
	*n_r = c->caps_pre.n;
	return (const char *const *)c->caps_pre.v;
}

int imap_client_enabled(const struct imap_client *c, const char *cap)
{
	return imap_strv_has(&c->enabled, cap);
}

/* ------------------------------------------------------------------ */
/* Responses                                                            */

static enum err_class classify(const struct imap_cmd *cmd, const struct imap_response *r)
{
	switch (r->code.kind) {
	case IMAP_CODE_AUTHENTICATIONFAILED:
	case IMAP_CODE_AUTHORIZATIONFAILED:
	case IMAP_CODE_EXPIRED:
	case IMAP_CODE_PRIVACYREQUIRED:
		return ERR_AUTH;
	case IMAP_CODE_OVERQUOTA:
		return ERR_QUOTA;
	case IMAP_CODE_TRYCREATE:
		return ERR_TRYCREATE;
	case IMAP_CODE_NONEXISTENT:
		return ERR_NOTFOUND;
	case IMAP_CODE_ALREADYEXISTS:
		return ERR_EXISTS;
	case IMAP_CODE_INUSE:
		return ERR_INUSE;
	case IMAP_CODE_UNAVAILABLE:
	case IMAP_CODE_SERVERBUG:
		return ERR_TEMP;
	case IMAP_CODE_LIMIT:
		return ERR_LIMIT;
	case IMAP_CODE_EXPUNGEISSUED:
		return ERR_GONE;
	default:
		break;
	}
	if (cmd->kind == CK_LOGIN || cmd->kind == CK_AUTH)
		return ERR_AUTH;
	/* Servers that predate RFC 5530 (and Dovecot for SELECT/STATUS) say
	 * it in words only. */
	if (r->status == IMAP_STATUS_NO && r->code.kind == IMAP_CODE_NONE &&
	    (strcasestr(r->text, "doesn't exist") || strcasestr(r->text, "does not exist") ||
	     strcasestr(r->text, "no such mailbox")))
		return ERR_NOTFOUND;
	if (cmd->kind == CK_STARTTLS)
		return ERR_TLS;
	return ERR_PERM;
}

static void status_text(const struct imap_response *r, char *out, size_t outlen)
{
	if (r->code.kind != IMAP_CODE_NONE && r->code.name)
		snprintf(out, outlen, "%s [%s%s%s] %s", r->keyword, r->code.name,
			 r->code.raw && *r->code.raw ? " " : "", r->code.raw ? r->code.raw : "",
			 r->text);
	else
		snprintf(out, outlen, "%s %s", r->keyword, r->text);
}

static void handle_tagged(struct imap_client *c, const struct imap_response *r)
{
	struct imap_cmd *cmd = find_tag(c, r->tag);
	char text[ERR_MSG_MAX];

	if (!cmd) {
		snprintf(text, sizeof(text), "server answered unknown tag '%.40s'", r->tag);
		die(c, ERR_PROTO, text);
		return;
	}
	if (r->code.kind == IMAP_CODE_CAPABILITY)
		caps_from_code(c, &r->code);
	if (r->code.kind == IMAP_CODE_ALERT) {
		struct imap_event ev = { .type = IMAP_EV_ALERT, .text = r->text, .resp = r };
		emit_event(c, &ev);
	}
	if (c->sending == cmd)
		cmd->send_aborted = 1;
	if (r->status == IMAP_STATUS_OK) {
		imap_cmds_tagged_ok(c, cmd, r);
		switch (cmd->kind) {
		case CK_LOGIN:
		case CK_AUTH:
			imap_client_set_state(c, IMAP_STATE_AUTHENTICATED);
			break;
		case CK_SELECT:
			imap_client_set_state(c, IMAP_STATE_SELECTED);
			if (r->code.kind == IMAP_CODE_READ_ONLY)
				c->mbox.read_only = 1;
			else if (r->code.kind == IMAP_CODE_READ_WRITE)
				c->mbox.read_only = 0;
			break;
		case CK_CLOSE:
			imap_client_set_state(c, IMAP_STATE_AUTHENTICATED);
			break;
		default:
			break;
		}
	} else {
		status_text(r, text, sizeof(text));
		if (!cmd->failed)
			make_cmd_err(c, cmd, classify(cmd, r), text);
		if (cmd->kind == CK_SELECT)
			imap_client_set_state(c, IMAP_STATE_AUTHENTICATED);
	}
	complete(c, cmd);
}

/* Untagged OK/NO/BAD/BYE/PREAUTH. */
static void handle_untagged_status(struct imap_client *c, const struct imap_response *r)
{
	const struct imap_code *code = &r->code;
	struct imap_mailbox *mb = &c->mbox;
	struct imap_event ev = { .resp = r };

	if (!c->greeting_done) {
		c->greeting_done = 1;
		char text[ERR_MSG_MAX];
		status_text(r, text, sizeof(text));
		free(c->greeting);
		c->greeting = mf_strdup(strchr(text, ' ') ? strchr(text, ' ') + 1 : text);
		if (r->status == IMAP_STATUS_BYE) {
			char why[ERR_MSG_MAX];
			snprintf(why, sizeof(why), "server refused the connection: %.900s", text);
			die(c, ERR_TEMP, why);
			return;
		}
		if (r->status == IMAP_STATUS_PREAUTH) {
			c->preauth = 1;
			imap_client_set_state(c, IMAP_STATE_AUTHENTICATED);
		}
		else if (r->status != IMAP_STATUS_OK) {
			char why[ERR_MSG_MAX];
			snprintf(why, sizeof(why), "unexpected greeting: %.900s", text);
			die(c, ERR_PROTO, why);
			return;
		}
	}
	switch (code->kind) {
	case IMAP_CODE_CAPABILITY:
		caps_from_code(c, code);
		break;
	case IMAP_CODE_ALERT:
		ev.type = IMAP_EV_ALERT;
		ev.text = r->text;
		emit_event(c, &ev);
		break;
	case IMAP_CODE_UIDVALIDITY:
		mb->uidvalidity = (uint32_t)code->num;
		break;
	case IMAP_CODE_UIDNEXT:
		mb->uidnext = (uint32_t)code->num;
		break;
	case IMAP_CODE_HIGHESTMODSEQ:
		mb->highestmodseq = code->num;
		break;
	case IMAP_CODE_NOMODSEQ:
		mb->nomodseq = 1;
		mb->highestmodseq = 0;
		break;
	case IMAP_CODE_READ_ONLY:
		mb->read_only = 1;
		break;
	case IMAP_CODE_READ_WRITE:
		mb->read_only = 0;
		break;
	case IMAP_CODE_PERMANENTFLAGS:
		free(mb->permanentflags);
		mb->permanentflags = mf_strdup(code->raw);
		if (mb->permanentflags && mb->permanentflags[0] == '(') {
			size_t l = strlen(mb->permanentflags);
			memmove(mb->permanentflags, mb->permanentflags + 1, l);
			if (l > 1 && mb->permanentflags[l - 2] == ')')
				mb->permanentflags[l - 2] = '\0';
		}
		break;
	case IMAP_CODE_CLOSED: {
		/* QRESYNC: what follows is about the newly selected mailbox. */
		char *name = mf_strdup(mb->name);
		int ro = mb->read_only;
		imap_client_mailbox_reset(c, name, ro);
		free(name);
		ev.type = IMAP_EV_CLOSED;
		emit_event(c, &ev);
		break;
	}
	case IMAP_CODE_COPYUID: {
		struct imap_cmd *cmd = imap_client_find_kind(c, CK_COPY);
		if (cmd)
			imap_cmds_tagged_ok(c, cmd, r);
		break;
	}
	default:
		break;
	}
	if (r->status == IMAP_STATUS_BYE && c->greeting_done) {
		free(c->bye);
		c->bye = mf_strdup(r->text);
		ev.type = IMAP_EV_BYE;
		ev.text = r->text;
		emit_event(c, &ev);
		if (!imap_client_find_kind(c, CK_LOGOUT)) {
			char why[ERR_MSG_MAX];
			snprintf(why, sizeof(why), "server closed the connection: BYE %.900s", r->text);
			die(c, ERR_TEMP, why);
		}
	}
}

/* Unsolicited (or not claimed) data: mailbox state and events. */
static void handle_unsolicited(struct imap_client *c, const struct imap_response *r)
{
	struct imap_mailbox *mb = &c->mbox;
	struct imap_event ev = { .resp = r, .num = r->number };
	const char *kw = r->keyword;
	struct err e;

	if (strcmp(kw, "EXISTS") == 0) {
		mb->exists = r->number;
		ev.type = IMAP_EV_EXISTS;
	} else if (strcmp(kw, "RECENT") == 0) {
		mb->recent = r->number;
		ev.type = IMAP_EV_RECENT;
	} else if (strcmp(kw, "EXPUNGE") == 0) {
		if (mb->exists)
			mb->exists--;
		mb->expunged++;
		ev.type = IMAP_EV_EXPUNGE;
	} else if (strcmp(kw, "FLAGS") == 0) {
		struct buf b = BUF_INIT(1 << 20);
		imap_args_dump(r->args, r->nargs, &b);
		if (b.len >= 2 && b.data[0] == '(') {
			buf_truncate(&b, b.len - 1);
			buf_consume(&b, 1);
		}
		free(mb->flags);
		mb->flags = buf_detach(&b, NULL);
		ev.type = IMAP_EV_FLAGS;
	} else if (strcmp(kw, "CAPABILITY") == 0) {
		struct imap_strv sv = { 0 };
		if (imap_resp_capability(r, &sv, &e) == 0)
			set_caps(c, &sv);
		else
			imap_strv_free(&sv);
		return;
	} else if (strcmp(kw, "VANISHED") == 0) {
		struct imap_uidset set = { 0 };
		int earlier = 0;
		if (imap_resp_vanished(r, &earlier, &set, &e) == 0) {
			uint64_t n = imap_uidset_count(&set);
			if (!earlier) {
				mb->exists = n > mb->exists ? 0 : mb->exists - (uint32_t)n;
				mb->vanished += (uint32_t)n;
			}
			ev.type = IMAP_EV_VANISHED;
			ev.uids = &set;
			ev.earlier = earlier;
			emit_event(c, &ev);
		}
		imap_uidset_free(&set);
		return;
	} else if (strcmp(kw, "FETCH") == 0) {
		struct imap_fetch f;
		memset(&f, 0, sizeof(f));
		if (imap_resp_fetch(r, &f, &e) == 0) {
			ev.type = IMAP_EV_FETCH;
			ev.fetch = &f;
			emit_event(c, &ev);
		}
		imap_fetch_free(&f);
		return;
	} else if (strcmp(kw, "ENABLED") == 0) {
		struct imap_strv sv = { 0 };
		if (imap_resp_enabled(r, &sv, &e) == 0) {
			for (size_t i = 0; i < sv.n; i++) {
				if (imap_strv_has(&c->enabled, sv.v[i]))
					continue;
				c->enabled.v = mf_reallocarray(c->enabled.v, c->enabled.n + 2,
							       sizeof(char *));
				c->enabled.v[c->enabled.n++] = mf_strdup(sv.v[i]);
				c->enabled.v[c->enabled.n] = NULL;
			}
		}
		imap_strv_free(&sv);
		return;
	} else {
		logf_(c, "ignored untagged %s", kw);
		return;
	}
	emit_event(c, &ev);
}

static void handle_response(struct imap_client *c, const struct imap_response *r)
{
	if (c->streaming) {
		/* The streamed body is complete with its response. */
		struct imap_cmd *cmd = c->stream_cmd;
		struct err e;
		c->streaming = 0;
		err_clear(&e);
		if (cmd && cmd->fh && cmd->fh->body_end && !cmd->failed &&
		    cmd->fh->body_end(cmd->fh->ctx, &e) < 0)
			imap_client_cmd_fail(cmd, &e);
	}
	switch (r->kind) {
	case IMAP_RESP_CONTINUE:
		if (c->auth_cancel && imap_client_find_kind(c, CK_AUTH)) {
			/* A second challenge to PLAIN: cancel (RFC 3501 6.2.2). */
			struct err e;
			imap_io_writestr(c->io, "*\r\n", &e);
			trace_tx(c, "*\r\n", 3, 0);
			flush(c);
			return;
		}
		if (c->sending) {
			c->got_cont = 1;
			if (buf_set(&c->cont_text, r->text, strlen(r->text)) < 0)
				buf_reset(&c->cont_text); /* over 64 KiB: no SASL challenge is */
		} else
			logf_(c, "ignored unexpected continuation request");
		return;
	case IMAP_RESP_TAGGED:
		handle_tagged(c, r);
		return;
	case IMAP_RESP_UNTAGGED:
		if (!c->greeting_done && r->status == IMAP_STATUS_NONE) {
			die(c, ERR_PROTO, "server sent data before its greeting");
			return;
		}
		if (r->status != IMAP_STATUS_NONE) {
			handle_untagged_status(c, r);
			return;
		}
		int used = imap_cmds_untagged(c, r);
		if (used == 0)
			handle_unsolicited(c, r);
		return;
	}
}

/* Read until one response has been handled. 0, or -1 when the connection
 * died (c->fatal says why). */
static int read_response(struct imap_client *c)
{
	struct err e;

	if (c->dead)
		return -1;
	if (flush(c) < 0)
		return -1;
	for (;;) {
		size_t len, used = 0;
		const char *data = imap_io_rdata(c->io, &len);
		if (len > 0) {
			enum imap_parse_result pr = imap_parser_feed(c->parser, data, len, &used);
			trace_rx(c, data, used);
			imap_io_consume(c->io, used);
			if (pr == IMAP_PARSE_DONE) {
				handle_response(c, imap_parser_response(c->parser));
				imap_parser_release(c->parser);
				return c->dead ? -1 : 0;
			}
			if (pr == IMAP_PARSE_ERROR) {
				const struct err *pe = imap_parser_error(c->parser);
				char why[ERR_MSG_MAX];
				snprintf(why, sizeof(why), "bad response from server: %.900s", pe->msg);
				die(c, pe->cls == ERR_NONE ? ERR_PROTO : pe->cls, why);
				return -1;
			}
		}
		long n = imap_io_fill(c->io, &e);
		if (n < 0) {
			die_err(c, &e);
			return -1;
		}
		if (n == 0) {
			if (c->bye && imap_client_find_kind(c, CK_LOGOUT)) {
				die(c, ERR_TEMP, "connection closed after LOGOUT");
				return -1;
			}
			die(c, ERR_TEMP, imap_parser_busy(c->parser)
				? "connection closed by server in the middle of a response"
				: "connection closed by server");
			return -1;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Streaming FETCH bodies                                               */

static int sink_write(void *ctx, const void *data, size_t n)
{
	struct imap_client *c = ctx;
	struct imap_cmd *cmd = c->stream_cmd;
	struct err e;

	/* A failing sink fails the command but the literal is still read off
	 * the wire (and dropped), so the connection stays usable. */
	if (!cmd || cmd->failed || !cmd->fh || !cmd->fh->body_data)
		return 0;
	err_clear(&e);
	if (cmd->fh->body_data(cmd->fh->ctx, data, n, &e) < 0) {
		if (e.cls == ERR_NONE)
			err_set(&e, ERR_IO, "%s: %s: body sink failed", c->host, cmd->desc);
		imap_client_cmd_fail(cmd, &e);
	}
	return 0;
}

static int body_item(const char *item)
{
	if (!item)
		return 0;
	if (strncasecmp(item, "BODY[", 5) == 0 || strncasecmp(item, "BINARY[", 7) == 0)
		return 1;
	return strcasecmp(item, "RFC822") == 0 || strcasecmp(item, "RFC822.TEXT") == 0;
}

static const struct imap_literal_sink *literal_handler(void *ctx,
						       const struct imap_literal_info *info)
{
	struct imap_client *c = ctx;
	struct err e;

	if (c->streaming) {
		struct imap_cmd *prev = c->stream_cmd;
		c->streaming = 0;
		err_clear(&e);
		if (prev && prev->fh && prev->fh->body_end && !prev->failed &&
		    prev->fh->body_end(prev->fh->ctx, &e) < 0)
			imap_client_cmd_fail(prev, &e);
	}
	if (info->kind != IMAP_RESP_UNTAGGED || strcmp(info->keyword, "FETCH") != 0 ||
	    info->depth != 1 || !body_item(info->item))
		return NULL;
	struct imap_cmd *cmd = NULL;
	for (struct imap_cmd *p = c->head; p; p = p->next) {
		if (p->fh && p->fh->body_begin) {
			cmd = p;
			break;
		}
	}
	if (!cmd || cmd->failed)
		return NULL;
	err_clear(&e);
	int r = cmd->fh->body_begin(cmd->fh->ctx, info->number, info->item, info->size, &e);
	if (r < 0) {
		imap_client_cmd_fail(cmd, &e);
		c->stream_cmd = cmd;
		c->streaming = 0;
		return &c->sink; /* drain it without keeping it */
	}
	if (r == 0)
		return NULL;
	c->stream_cmd = cmd;
	c->streaming = 1;
	return &c->sink;
}

/* ------------------------------------------------------------------ */
/* Session                                                              */

static int fetch_caps(struct imap_client *c, struct err *e)
{
	return imap_capability(c, e);
}

int imap_client_connect(const struct imap_client_opts *opts, struct imap_client **c_r,
			struct err *e)
{
	struct imap_io_opts io_opts = {
		.host = opts->host,
		.port = opts->port,
		.tls = opts->tls == IMAP_TLS_IMPLICIT ? IMAP_IO_TLS : IMAP_IO_PLAIN,
		.ca_file = opts->ca_file,
		.connect_timeout_ms = opts->connect_timeout_ms,
		.read_timeout_ms = opts->read_timeout_ms,
		.cancel_fd = opts->cancel_fd,
	};
	struct imap_parser_limits lim;

	*c_r = NULL;
	struct imap_client *c = mf_calloc(1, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "%s", opts->host ? opts->host : "");
	snprintf(c->port, sizeof(c->port), "%s", opts->port ? opts->port :
		 opts->tls == IMAP_TLS_IMPLICIT ? "993" : "143");
	c->tls_mode = opts->tls;
	c->depth = opts->pipeline_depth ? opts->pipeline_depth : 32;
	c->trace = opts->trace;
	c->trace_ctx = opts->trace_ctx;
	c->log = opts->log;
	c->log_ctx = opts->log_ctx;
	buf_init(&c->tx_line, TRACE_LINE_MAX + 16);
	buf_init(&c->cont_text, 1 << 16);
	buf_init(&c->rx_line, TRACE_LINE_MAX + 16);
	imap_parser_limits_default(&lim);
	if (opts->max_line)
		lim.max_line = opts->max_line;
	if (opts->max_literal)
		lim.max_literal = opts->max_literal;
	c->parser = imap_parser_new(&lim);
	imap_parser_set_literal_handler(c->parser, literal_handler, c);
	c->sink.write = sink_write;
	c->sink.ctx = c;

	if (imap_io_connect(&io_opts, &c->io, e) < 0) {
		imap_client_free(&c);
		return -1;
	}
	while (!c->greeting_done && !c->dead)
		read_response(c);
	if (c->dead) {
		err_set(e, c->fatal.cls, "%s", c->fatal.msg);
		imap_client_free(&c);
		return -1;
	}
	if (!c->caps_known && fetch_caps(c, e) < 0) {
		imap_client_free(&c);
		return -1;
	}
	if (opts->tls == IMAP_TLS_STARTTLS) {
		if (c->state != IMAP_STATE_NOT_AUTHENTICATED) {
			err_set(e, ERR_TLS, "%s: STARTTLS: server sent PREAUTH, cannot start TLS",
				c->host);
			imap_client_free(&c);
			return -1;
		}
		if (imap_starttls(c, e) < 0) {
			imap_client_free(&c);
			return -1;
		}
	}
	*c_r = c;
	return 0;
}

void imap_client_uncancel(struct imap_client *c)
{
	if (c && c->io)
		imap_io_uncancel(c->io);
}

void imap_client_free(struct imap_client **cp)
{
	struct imap_client *c = *cp;

	if (!c)
		return;
	while (c->all)
		cmd_free(c, c->all);
	imap_io_free(&c->io);
	imap_parser_free(&c->parser);
	imap_strv_free(&c->caps);
	imap_strv_free(&c->caps_pre);
	imap_strv_free(&c->enabled);
	imap_client_mailbox_reset(c, NULL, 0);
	free(c->greeting);
	free(c->bye);
	buf_release(&c->tx_line);
	buf_release(&c->rx_line);
	buf_release(&c->cont_text);
	free(c);
	*cp = NULL;
}

enum imap_state imap_client_state(const struct imap_client *c)
{
	return c->state;
}

const char *imap_client_host(const struct imap_client *c)
{
	return c->host;
}

int imap_client_is_tls(const struct imap_client *c)
{
	return c->io && imap_io_is_tls(c->io);
}

int imap_client_is_loopback(const struct imap_client *c)
{
	return c->io && imap_io_is_loopback(c->io);
}

const char *imap_client_greeting(const struct imap_client *c)
{
	return c->greeting ? c->greeting : "";
}

const struct err *imap_client_fatal(const struct imap_client *c)
{
	return c->dead ? &c->fatal : NULL;
}

void imap_client_set_event_cb(struct imap_client *c, imap_event_fn *fn, void *ctx)
{
	c->event = fn;
	c->event_ctx = ctx;
}

const struct imap_mailbox *imap_client_mailbox(const struct imap_client *c)
{
	return &c->mbox;
}

/* ------------------------------------------------------------------ */
/* Any state: CAPABILITY, NOOP, LOGOUT, ID                              */

int imap_capability(struct imap_client *c, struct err *e)
{
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_CAPABILITY, ST_ANY, 0, "CAPABILITY", e);

	if (!cmd)
		return -1;
	imap_client_cmd_add(c, cmd, "CAPABILITY", 0);
	return imap_client_cmd_finish(c, cmd, NULL, e);
}

int imap_noop(struct imap_client *c, struct imap_cmd **cmd_r, struct err *e)
{
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_PLAIN, ST_ANY, 0, "NOOP", e);

	if (!cmd)
		return -1;
	imap_client_cmd_add(c, cmd, "NOOP", 0);
	return imap_client_cmd_finish(c, cmd, cmd_r, e);
}

int imap_logout(struct imap_client *c, struct err *e)
{
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_LOGOUT, ST_ANY, 1, "LOGOUT", e);

	if (!cmd)
		return -1;
	imap_client_cmd_add(c, cmd, "LOGOUT", 0);
	int r = imap_client_cmd_finish(c, cmd, NULL, e);
	c->logged_out = 1;
	imap_client_set_state(c, IMAP_STATE_LOGOUT);
	if (!c->dead)
		die(c, ERR_USAGE, "logged out");
	return r;
}

int imap_id(struct imap_client *c, const char *const *kv, struct imap_id *server_r,
	    struct err *e)
{
	if (server_r)
		memset(server_r, 0, sizeof(*server_r));
	if (imap_client_need_cap(c, "ID", "ID", e) < 0)
		return -1;
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_ID, ST_ANY, 0, "ID", e);
	if (!cmd)
		return -1;
	cmd->id = server_r;
	imap_client_cmd_add(c, cmd, "ID ", 0);
	if (!kv || !kv[0]) {
		imap_client_cmd_add(c, cmd, "NIL", 0);
	} else {
		imap_client_cmd_add(c, cmd, "(", 0);
		for (size_t i = 0; kv[i] && kv[i + 1]; i += 2) {
			if (i)
				imap_client_cmd_add(c, cmd, " ", 0);
			imap_client_cmd_astring(c, cmd, kv[i], strlen(kv[i]), 0);
			imap_client_cmd_add(c, cmd, " ", 0);
			imap_client_cmd_astring(c, cmd, kv[i + 1], strlen(kv[i + 1]), 0);
		}
		imap_client_cmd_add(c, cmd, ")", 0);
	}
	return imap_client_cmd_finish(c, cmd, NULL, e);
}

int imap_compress(struct imap_client *c, struct err *e)
{
	struct err e2;

	if (imap_client_need_cap(c, "COMPRESS=DEFLATE", "COMPRESS", e) < 0)
		return -1;
	if (imap_client_is_compressed(c))
		return err_set(e, ERR_USAGE, "%s: COMPRESS: already active", c->host);
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_PLAIN, ST_AUTH, 1, "COMPRESS DEFLATE", e);
	if (!cmd)
		return -1;
	imap_client_cmd_add(c, cmd, "COMPRESS DEFLATE", 0);
	if (imap_client_cmd_finish(c, cmd, NULL, e) < 0)
		return -1;
	if (imap_io_start_deflate(c->io, &e2) < 0) {
		die_err(c, &e2);
		return err_set(e, e2.cls, "%s: COMPRESS: %s", c->host, strip_host(c, e2.msg));
	}
	logf_(c, "compression started");
	return 0;
}

int imap_client_is_compressed(const struct imap_client *c)
{
	return c->io && imap_io_is_compressed(c->io);
}

/* ------------------------------------------------------------------ */
/* STARTTLS and authentication                                          */

int imap_starttls(struct imap_client *c, struct err *e)
{
	struct err e2;

	if (imap_client_is_tls(c))
		return err_set(e, ERR_USAGE, "%s: STARTTLS: TLS is already active", c->host);
	if (!imap_client_has_cap(c, "STARTTLS"))
		return err_set(e, ERR_TLS,
			       "%s: STARTTLS: server does not offer STARTTLS (refusing to go on "
			       "in plaintext)", c->host);
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_STARTTLS, ST_NOAUTH, 1, "STARTTLS", e);
	if (!cmd)
		return -1;
	imap_client_cmd_add(c, cmd, "STARTTLS", 0);
	if (imap_client_cmd_finish(c, cmd, NULL, e) < 0) {
		if (e)
			e->cls = ERR_TLS;
		return -1;
	}
	if (imap_io_starttls(c->io, &e2) < 0) {
		die_err(c, &e2);
		return err_set(e, e2.cls, "%s: STARTTLS: %s", c->host, strip_host(c, e2.msg));
	}
	imap_parser_reset(c->parser);
	/* RFC 3501 6.2.1: forget what was learnt in plaintext. */
	imap_strv_free(&c->caps);
	c->caps_known = 0;
	logf_(c, "TLS started: %s", imap_io_tls_info(c->io));
	return fetch_caps(c, e);
}

int imap_client_password_allowed(const char *host, int tls_active, int loopback,
				 struct err *e)
{
	if (tls_active || loopback)
		return 0;
	return err_set(e, ERR_USAGE,
		       "%s: refusing to send a password over an unencrypted connection to a "
		       "non-loopback host (use imaps or STARTTLS)", host);
}

static int password_policy(struct imap_client *c, const char *what, struct err *e)
{
	struct err e2;

	if (imap_client_password_allowed(c->host, imap_client_is_tls(c),
					 imap_client_is_loopback(c), &e2) < 0)
		return err_set(e, ERR_USAGE, "%s: %s: %s", c->host, what, strip_host(c, e2.msg));
	return 0;
}

/* After LOGIN/AUTHENTICATE: capabilities change (RFC 3501 6.2.3). */
static int after_auth(struct imap_client *c, int had_code, struct err *e)
{
	if (had_code)
		return 0;
	return fetch_caps(c, e);
}

static int auth_precheck(struct imap_client *c, const char *what, struct err *e)
{
	if (c->dead)
		return dead_err(c, what, e);
	if (c->state != IMAP_STATE_NOT_AUTHENTICATED)
		return err_set(e, ERR_USAGE, "%s: %s: not allowed in state %s", c->host, what,
			       imap_state_name(c->state));
	return password_policy(c, what, e);
}

int imap_login(struct imap_client *c, const char *user, const char *pass, struct err *e)
{
	if (auth_precheck(c, "LOGIN", e) < 0)
		return -1;
	if (imap_client_has_cap(c, "LOGINDISABLED"))
		return err_set(e, ERR_USAGE, "%s: LOGIN: server advertises LOGINDISABLED", c->host);
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_LOGIN, ST_NOAUTH, 1, "LOGIN", e);
	if (!cmd)
		return -1;
	imap_client_cmd_add(c, cmd, "LOGIN ", 0);
	imap_client_cmd_astring(c, cmd, user, strlen(user), 1);
	imap_client_cmd_add(c, cmd, " ", 1);
	imap_client_cmd_astring(c, cmd, pass, strlen(pass), 1);
	unsigned gen = c->caps_gen;
	if (imap_client_cmd_finish(c, cmd, NULL, e) < 0)
		return -1;
	return after_auth(c, c->caps_gen != gen, e);
}

int imap_authenticate_plain(struct imap_client *c, const char *authzid, const char *user,
			    const char *pass, struct err *e)
{
	if (auth_precheck(c, "AUTHENTICATE PLAIN", e) < 0)
		return -1;
	struct buf raw = BUF_INIT(1 << 16), b64 = BUF_INIT(1 << 17);
	buf_addstr(&raw, authzid ? authzid : "");
	buf_addch(&raw, 0);
	buf_addstr(&raw, user);
	buf_addch(&raw, 0);
	buf_addstr(&raw, pass);
	b64_encode(raw.data, raw.len, &b64);
	memset(raw.data, 0, raw.len);
	buf_release(&raw);

	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_AUTH, ST_NOAUTH, 1,
						     "AUTHENTICATE PLAIN", e);
	if (!cmd) {
		memset(b64.data, 0, b64.len);
		buf_release(&b64);
		return -1;
	}
	unsigned gen = c->caps_gen;
	imap_client_cmd_add(c, cmd, "AUTHENTICATE PLAIN", 0);
	if (imap_client_has_cap(c, "SASL-IR")) {
		imap_client_cmd_add(c, cmd, " ", 0);
		imap_client_cmd_add(c, cmd, b64.data, 1);
	} else {
		imap_client_cmd_add(c, cmd, "\r\n", 0);
		if (wait_continuation(c, cmd) == 0)
			imap_client_cmd_add(c, cmd, b64.data, 1);
	}
	memset(b64.data, 0, b64.len);
	buf_release(&b64);
	c->auth_cancel = 1;
	int r = imap_client_cmd_finish(c, cmd, NULL, e);
	c->auth_cancel = 0;
	if (r < 0)
		return -1;
	return after_auth(c, c->caps_gen != gen, e);
}

/* A SASL response on the wire: base64, "=" for an empty initial one
 * (RFC 4959), an empty line for an empty later one. */
static void sasl_send(struct imap_client *c, struct imap_cmd *cmd, struct buf *raw, int initial)
{
	struct buf b64 = BUF_INIT(1 << 17);
	if (raw->len == 0 && initial)
		buf_addstr(&b64, "=");
	else
		b64_encode(raw->data, raw->len, &b64);
	memset(raw->data, 0, raw->len);
	buf_reset(raw);
	if (b64.len)
		imap_client_cmd_add(c, cmd, b64.data, 1);
	memset(b64.data, 0, b64.len);
	buf_release(&b64);
}

int imap_authenticate_sasl(struct imap_client *c, const char *mech, imap_sasl_step_fn *step,
			   void *ctx, struct err *e)
{
	char what[64];
	snprintf(what, sizeof what, "AUTHENTICATE %s", mech);
	if (auth_precheck(c, what, e) < 0)
		return -1;
	struct buf out = BUF_INIT(1 << 16), in = BUF_INIT(1 << 16);
	struct err se;
	err_clear(&se);
	if (step(ctx, NULL, 0, &out, e) < 0) {
		buf_release(&out);
		return -1;
	}
	struct imap_cmd *cmd = imap_client_cmd_begin(c, CK_AUTH, ST_NOAUTH, 1, what, e);
	if (!cmd) {
		memset(out.data, 0, out.len);
		buf_release(&out);
		return -1;
	}
	unsigned gen = c->caps_gen;
	int stepped = 0, failed = 0;
	imap_client_cmd_add(c, cmd, what, 0);
	if (imap_client_has_cap(c, "SASL-IR")) {
		imap_client_cmd_add(c, cmd, " ", 0);
		sasl_send(c, cmd, &out, 1);
		stepped = 1;
	}
	/* each pass ends the line sent last and waits: a "+" is the next
	 * challenge (the first, without SASL-IR, asks for the initial
	 * response), the tagged answer ends the exchange */
	while (!failed) {
		imap_client_cmd_add(c, cmd, "\r\n", 0);
		if (wait_continuation(c, cmd) < 0)
			break;
		buf_reset(&in);
		if (!stepped) {
			stepped = 1;
			if (c->cont_text.len == 0) {
				sasl_send(c, cmd, &out, 0);
				continue;
			}
		}
		if (b64_decode(c->cont_text.data, c->cont_text.len, &in) < 0) {
			err_set(&se, ERR_PROTO, "%s: %s: the server's challenge is not base64",
				c->host, what);
			failed = 1;
		} else if (step(ctx, in.data, in.len, &out, &se) < 0) {
			err_prefix(&se, "%s: %s", c->host, what);
			failed = 1;
		} else {
			sasl_send(c, cmd, &out, 0);
		}
	}
	if (failed)
		imap_client_cmd_add(c, cmd, "*", 0); /* cancel (RFC 3501 6.2.2) */
	memset(out.data, 0, out.len);
	buf_release(&out);
	buf_release(&in);
	int r = imap_client_cmd_finish(c, cmd, NULL, e);
	if (failed) {
		*e = se; /* why we cancelled, not the server's "cancelled" */
		return -1;
	}
	if (r < 0)
		return -1;
	return after_auth(c, c->caps_gen != gen, e);
}

int imap_auth_mech_parse(const char *name, enum imap_auth_mech *m_r)
{
	static const struct {
		const char *name;
		enum imap_auth_mech m;
	} tab[] = {
		{ "auto", IMAP_AUTH_AUTO },   { "scram-sha-256", IMAP_AUTH_SCRAM_SHA256 },
		{ "scram-sha-1", IMAP_AUTH_SCRAM_SHA1 }, { "plain", IMAP_AUTH_PLAIN },
		{ "login", IMAP_AUTH_LOGIN },  { "oauthbearer", IMAP_AUTH_OAUTHBEARER },
		{ "xoauth2", IMAP_AUTH_XOAUTH2 },
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (!strcasecmp(name, tab[i].name)) {
			*m_r = tab[i].m;
			return 0;
		}
	return -1;
}

static int scram_step(void *ctx, const char *in, size_t n, struct buf *out, struct err *e)
{
	return imap_scram_step(ctx, in, n, out, e);
}

int imap_authenticate_scram(struct imap_client *c, enum imap_scram_hash h, const char *user,
			    const char *pass, const char *nonce, struct err *e)
{
	struct imap_scram *s;
	if (imap_scram_new(h, user, pass, nonce, &s, e) < 0)
		return -1;
	int r = imap_authenticate_sasl(c, imap_scram_mech(h), scram_step, s, e);
	if (r == 0 && !imap_scram_verified(s)) {
		/* logged in, but by a server that never showed it knows the
		 * password: a server that would accept anyone */
		r = err_set(e, ERR_AUTH, "%s: AUTHENTICATE %s: the server accepted the login "
			    "without proving it knows the password", c->host, imap_scram_mech(h));
		die(c, ERR_AUTH, "the server did not prove it knows the password");
	}
	imap_scram_free(&s);
	return r;
}

int imap_authenticate_oauth(struct imap_client *c, enum imap_oauth_kind k, const char *user,
			    const char *token, struct err *e)
{
	struct imap_oauth o = { .kind = k, .user = user, .token = token, .host = c->host,
				.port = c->port };
	int r = imap_authenticate_sasl(c, imap_oauth_mech(k), imap_oauth_step, &o, e);
	if (r < 0 && o.refused && e && e->cls == ERR_AUTH) {
		size_t l = strlen(e->msg);
		snprintf(e->msg + l, sizeof e->msg - l, " (token refused%s%s)",
			 o.status[0] ? ": status " : "", o.status);
	}
	return r;
}

static const char *const mech_cap[] = {
	[IMAP_AUTH_SCRAM_SHA256] = "AUTH=SCRAM-SHA-256",
	[IMAP_AUTH_SCRAM_SHA1] = "AUTH=SCRAM-SHA-1",
	[IMAP_AUTH_PLAIN] = "AUTH=PLAIN",
	[IMAP_AUTH_LOGIN] = "AUTH=LOGIN",
	[IMAP_AUTH_OAUTHBEARER] = "AUTH=OAUTHBEARER",
	[IMAP_AUTH_XOAUTH2] = "AUTH=XOAUTH2",
};

int imap_auth_with(struct imap_client *c, enum imap_auth_mech mech, const char *user,
		   const char *pass, struct err *e)
{
	if (c->preauth && c->state == IMAP_STATE_AUTHENTICATED && !c->dead)
		return 0; /* PREAUTH greeting: nothing to do */
	if (mech == IMAP_AUTH_AUTO) {
		mech = IMAP_AUTH_LOGIN;
		for (int m = IMAP_AUTH_SCRAM_SHA256; m <= IMAP_AUTH_PLAIN; m++)
			if (imap_client_has_cap(c, mech_cap[m])) {
				mech = (enum imap_auth_mech)m;
				break;
			}
	} else if (mech != IMAP_AUTH_LOGIN && !imap_client_has_cap(c, mech_cap[mech])) {
		return err_set(e, ERR_USAGE, "%s: the server does not offer %s", c->host,
			       mech_cap[mech] + 5);
	}
	switch (mech) {
	case IMAP_AUTH_SCRAM_SHA256:
		return imap_authenticate_scram(c, IMAP_SCRAM_SHA256, user, pass, NULL, e);
	case IMAP_AUTH_SCRAM_SHA1:
		return imap_authenticate_scram(c, IMAP_SCRAM_SHA1, user, pass, NULL, e);
	case IMAP_AUTH_PLAIN:
		return imap_authenticate_plain(c, NULL, user, pass, e);
	case IMAP_AUTH_OAUTHBEARER:
		return imap_authenticate_oauth(c, IMAP_OAUTH_BEARER, user, pass, e);
	case IMAP_AUTH_XOAUTH2:
		return imap_authenticate_oauth(c, IMAP_OAUTH_XOAUTH2, user, pass, e);
	default:
		return imap_login(c, user, pass, e);
	}
}

int imap_auth(struct imap_client *c, const char *user, const char *pass, struct err *e)
{
	return imap_auth_with(c, IMAP_AUTH_AUTO, user, pass, e);
}
