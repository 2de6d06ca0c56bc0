#!/usr/bin/env python3
"""fake_imapd.py -- a scripted, deliberately hostile IMAP4rev1 server for tests.

Usage: fake_imapd.py MODE [PORT]   (PORT 0 or absent: pick one; the chosen port
is printed as the first line on stdout). Serves 127.0.0.1 only, one thread per
connection, until killed.

It answers just enough of IMAP4rev1 (RFC 3501) plus LITERAL+ (RFC 7888) and
UIDPLUS (RFC 4315) for `mailferry sync --pull` to run, and then misbehaves in
the way MODE asks:

  good          well-behaved: INBOX and Sub, one message each
  names         hostile mailbox names in LIST (delimiter '/')
  names-dot     hostile names with '.' advertised as the delimiter
  bigliteral    a FETCH announces a {99999999999} literal
  deepnest      a FETCH response with 1000 levels of list nesting
  garbage       garbage bytes and a NUL inside a FETCH response line
  unasked       a FETCH for a UID never asked for (sequence number past EXISTS)
  unasked-seq   the same, reusing the sequence number of an asked-for message
  short         BODY[] literal shorter than RFC822.SIZE announced (not a meson
                test: mailferry stores the truncated message, see report)
  cut           the connection is cut in the middle of a BODY[] literal
  bye           an untagged BYE in the middle of a UID FETCH
  badauth       the login is refused with a text that is not UTF-8
  badlist       a LIST reply whose third line carries a client-only {N+} literal
                (not a meson test: mailferry leaks the partial list, see report)
Only 127.0.0.1; never used against a real account.
"""
import re
import socket
import sys
import threading

MSG_TMPL = ("From: a@example.org\r\nTo: b@example.org\r\n"
            "Subject: {subj}\r\nMessage-ID: <{subj}@fake>\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nbody of {subj}\r\n")

HOSTILE_NAMES = [
    "../escape", "../../etc/evil", "/abs/path", "a/../../b", ".", "..",
    "cur", "new", "tmp", "x/cur", "ctl\x01name", "bad&AGE", "L" * 300,
    "INBOX/../../x",
    # modified UTF-7 that decodes to path syntax (invalid: printable ASCII
    # must not be base64-encoded, RFC 3501 5.1.3)
    "&AC4ALg-", "&AC8-etc&AC8-evil2", "q&AC8ALgAuAC8ALgAu-",
]
HOSTILE_DOT_NAMES = [
    "..escape", "...", ".", "..", "a..b", ".hidden", "INBOX...x", "x.cur",
    "sl/ash", "new", "tmp", "cur",
]

DATA_MODES = ("bigliteral", "deepnest", "garbage", "unasked", "unasked-seq", "short", "cut", "bye")


def mailboxes_for(mode):
    if mode == "names":
        names = ["INBOX"] + HOSTILE_NAMES
    elif mode == "names-dot":
        names = ["INBOX"] + HOSTILE_DOT_NAMES
    else:
        names = ["INBOX", "Sub"]
    boxes = {}
    for i, n in enumerate(names):
        subj = "m%d" % i
        boxes[n] = [(1, MSG_TMPL.format(subj=subj).encode())]
        if mode in DATA_MODES or mode == "good":
            boxes[n].append((2, MSG_TMPL.format(subj=subj + "b").encode()))
    return boxes


def quote(name):
    b = name.encode("latin-1", "replace")
    if any(c < 0x20 or c > 0x7e for c in b) or len(b) > 200:
        return b"{%d}\r\n" % len(b) + b
    return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class Conn:
    def __init__(self, sock, mode):
        self.s = sock
        self.mode = mode
        self.f = sock.makefile("rb")
        self.delim = "." if mode == "names-dot" else "/"
        self.boxes = mailboxes_for(mode)
        self.sel = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def readline(self):
        line = self.f.readline()
        if not line:
            return None
        # collect literals (synchronizing or LITERAL+)
        while True:
            m = re.search(rb"\{(\d+)(\+?)\}\r\n$", line)
            if not m:
                break
            if not m.group(2):
                self.send("+ go ahead\r\n")
            data = self.f.read(int(m.group(1)))
            line = line + data + self.f.readline()
        return line

    def run(self):
        self.send("* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS AUTH=PLAIN] fake ready\r\n")
        while True:
            line = self.readline()
            if line is None:
                return
            sys.stderr.write("C: %r\n" % line[:200])
            parts = line.rstrip(b"\r\n").split(b" ", 2)
            if len(parts) < 2:
                self.send("* BAD no tag\r\n")
                continue
            tag = parts[0].decode("latin-1")
            cmd = parts[1].decode("latin-1").upper()
            args = parts[2] if len(parts) > 2 else b""
            if cmd == "UID" and args:
                sub, _, rest = args.partition(b" ")
                cmd = "UID " + sub.decode("latin-1").upper()
                args = rest
            h = getattr(self, "c_" + cmd.replace(" ", "_"), None)
            if h is None:
                self.send("%s NO unknown command\r\n" % tag)
                continue
            if h(tag, args) == "close":
                return

    # --- commands ---------------------------------------------------
    def c_CAPABILITY(self, tag, args):
        self.send("* CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS AUTH=PLAIN\r\n%s OK done\r\n" % tag)

    def logged_in(self, tag):
        if self.mode == "badauth":
            self.send(b"%s NO [AUTHENTICATIONFAILED] Zugang verweigert \xff\xfe\xc3\r\n" %
                      tag.encode())
        else:
            self.send("%s OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS] logged in\r\n" % tag)

    def c_LOGIN(self, tag, args):
        self.logged_in(tag)

    def c_AUTHENTICATE(self, tag, args):
        if b" " not in args.strip():
            self.send("+ \r\n")
            self.f.readline()
        self.logged_in(tag)

    def c_NOOP(self, tag, args):
        self.send("%s OK noop\r\n" % tag)

    c_CHECK = c_NOOP

    def c_ID(self, tag, args):
        self.send('* ID ("name" "fake")\r\n%s OK id\r\n' % tag)

    def c_ENABLE(self, tag, args):
        self.send("* ENABLED\r\n%s OK enabled\r\n" % tag)

    def c_NAMESPACE(self, tag, args):
        self.send('* NAMESPACE (("" "%s")) NIL NIL\r\n%s OK ns\r\n' % (self.delim, tag))

    def c_LOGOUT(self, tag, args):
        self.send("* BYE bye\r\n%s OK logout\r\n" % tag)
        return "close"

    def c_LIST(self, tag, args):
        want_status = b"RETURN" in args.upper() and b"STATUS" in args.upper()
        if args.startswith(b'"" ""') or args.startswith(b'"" ""'):
            self.send('* LIST (\\Noselect) "%s" ""\r\n%s OK list\r\n' % (self.delim, tag))
            return
        out = b""
        if self.mode == "badlist":
            out = (b'* LIST () "/" "INBOX"\r\n* LIST () "/" "Sub"\r\n'
                   b'* LIST () "/" {3+}\r\nabc\r\n')
            self.send(out + b"%s OK list\r\n" % tag.encode())
            return
        for n, msgs in self.boxes.items():
            out += b'* LIST (\\HasNoChildren) "' + self.delim.encode() + b'" ' + quote(n) + b"\r\n"
            if want_status:
                out += (b"* STATUS " + quote(n) + b" (MESSAGES %d UIDNEXT %d UIDVALIDITY 42 UNSEEN 0)\r\n"
                        % (len(msgs), len(msgs) + 1))
        self.send(out + b"%s OK list\r\n" % tag.encode())

    def c_LSUB(self, tag, args):
        self.send("%s OK lsub\r\n" % tag)

    def parse_mbox(self, args):
        args = args.strip()
        m = re.match(rb"\{(\d+)\+?\}\r\n", args)
        if m:
            n = int(m.group(1))
            return args[m.end():m.end() + n].decode("latin-1"), args[m.end() + n:]
        if args.startswith(b'"'):
            i, out = 1, b""
            while i < len(args) and args[i:i + 1] != b'"':
                if args[i:i + 1] == b"\\":
                    i += 1
                out += args[i:i + 1]
                i += 1
            return out.decode("latin-1"), args[i + 1:]
        name, _, rest = args.partition(b" ")
        return name.decode("latin-1"), rest

    def find_box(self, name):
        if name.upper() == "INBOX":
            name = "INBOX"
        return self.boxes.get(name)

    def c_STATUS(self, tag, args):
        name, _ = self.parse_mbox(args)
        msgs = self.find_box(name)
        if msgs is None:
            self.send("%s NO no such mailbox\r\n" % tag)
            return
        self.send(b"* STATUS " + quote(name) + b" (MESSAGES %d UIDNEXT %d UIDVALIDITY 42 UNSEEN 0)\r\n"
                  % (len(msgs), len(msgs) + 1) + b"%s OK status\r\n" % tag.encode())

    def c_SELECT(self, tag, args):
        name, _ = self.parse_mbox(args)
        msgs = self.find_box(name)
        if msgs is None:
            self.send("%s NO no such mailbox\r\n" % tag)
            return
        self.sel = msgs
        self.send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                  "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok\r\n"
                  "* %d EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 42] ok\r\n"
                  "* OK [UIDNEXT %d] ok\r\n%s OK [READ-WRITE] selected\r\n"
                  % (len(msgs), len(msgs) + 1, tag))

    c_EXAMINE = c_SELECT

    def c_CLOSE(self, tag, args):
        self.sel = None
        self.send("%s OK closed\r\n" % tag)

    c_UNSELECT = c_CLOSE

    def uidset(self, s):
        uids = set()
        maxuid = max([u for u, _ in self.sel] or [0])
        for part in s.split(b","):
            a, _, b = part.partition(b":")
            lo = maxuid if a == b"*" else int(a)
            hi = lo if not b else (maxuid if b == b"*" else int(b))
            if lo > hi:
                lo, hi = hi, lo
            uids.update(range(lo, hi + 1))
        return uids

    def c_UID_SEARCH(self, tag, args):
        uids = " ".join(str(u) for u, _ in (self.sel or []))
        self.send("* SEARCH %s\r\n%s OK search\r\n" % (uids, tag) if uids else
                  "* SEARCH\r\n%s OK search\r\n" % tag)

    def c_UID_FETCH(self, tag, args):
        if self.sel is None:
            self.send("%s BAD no mailbox selected\r\n" % tag)
            return
        setspec, _, items = args.partition(b" ")
        want = self.uidset(setspec)
        items = items.upper()
        body = b"BODY" in items and b"HEADER" not in items
        hdr = b"HEADER.FIELDS" in items
        out = b""
        for seq, (uid, msg) in enumerate(self.sel, 1):
            if uid not in want:
                continue
            r = b"* %d FETCH (UID %d FLAGS (\\Seen) RFC822.SIZE %d INTERNALDATE " \
                b'"01-Jan-2026 00:00:00 +0000"' % (seq, uid, len(msg))
            if hdr:
                h = msg.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
                m = re.search(rb"BODY\.PEEK\[HEADER\.FIELDS \(([^)]*)\)\]", items)
                r += b" BODY[HEADER.FIELDS (" + (m.group(1) if m else b"") + b")] {%d}\r\n" % len(h) + h
            if body:
                r += b" BODY[] {%d}\r\n" % len(msg) + msg
            out += r + b")\r\n"
        if body and self.mode in DATA_MODES:
            return self.hostile_fetch(tag, out)
        self.send(out + b"%s OK fetch\r\n" % tag.encode())

    def hostile_fetch(self, tag, good):
        t = tag.encode()
        m = self.mode
        msg = self.sel[0][1]
        pre = b"* 1 FETCH (UID 1 FLAGS (\\Seen) RFC822.SIZE %d BODY[] " % len(msg)
        if m == "bigliteral":
            self.send(b"* 1 FETCH (UID 1 BODY[] {99999999999}\r\n" + msg)
            self.send(b" " * 4096)
            return "close"
        if m == "deepnest":
            self.send(b"* 1 FETCH (UID 1 FLAGS " + b"(" * 1000 + b")" * 1000 + b")\r\n" + good
                      + b"%s OK fetch\r\n" % t)
            return
        if m == "garbage":
            self.send(b"* 1 FETCH (UID 1 \x00\xff\xfe garbage \x01\x02)\r\n" + good
                      + b"%s OK fetch\r\n" % t)
            return
        if m in ("unasked", "unasked-seq"):
            seq = 1 if m == "unasked-seq" else len(self.sel) + 1
            self.send(b"* %d FETCH (UID 777 FLAGS (\\Seen) RFC822.SIZE %d BODY[] {%d}\r\n"
                      % (seq, len(msg), len(msg)) + msg + b")\r\n" + good + b"%s OK fetch\r\n" % t)
            return
        if m == "short":
            short = msg[:20]
            self.send(pre.replace(b"RFC822.SIZE %d" % len(msg), b"RFC822.SIZE %d" % (len(msg) + 500))
                      + b"{%d}\r\n" % len(short) + short + b")\r\n"
                      + b"".join(b"* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\n"
                                 % (i, u, len(b), b) for i, (u, b) in enumerate(self.sel, 1)
                                 if u != 1)
                      + b"%s OK fetch\r\n" % t)
            return
        if m == "cut":
            self.send(pre + b"{%d}\r\n" % len(msg) + msg[:len(msg) // 2])
            self.s.shutdown(socket.SHUT_RDWR)
            return "close"
        if m == "bye":
            self.send(b"* BYE server shutting down in the middle of your fetch\r\n")
            self.s.shutdown(socket.SHUT_RDWR)
            return "close"
        self.send(good + b"%s OK fetch\r\n" % t)

    def c_FETCH(self, tag, args):
        self.send("%s NO use UID FETCH\r\n" % tag)


def serve(conn, mode):
    try:
        Conn(conn, mode).run()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    mode = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    print(ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, mode), daemon=True).start()


if __name__ == "__main__":
    main()
