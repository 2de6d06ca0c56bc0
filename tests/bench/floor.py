#!/usr/bin/env python3
"""floor.py - how fast can this server hand out the whole account?

usage: floor.py --port P --user U --password W

One plain IMAP connection to 127.0.0.1 (RFC 9051/3501): LOGIN and LIST, then
`EXAMINE f` + `UID FETCH 1:* (FLAGS BODY.PEEK[])` for every selectable folder,
all pipelined at once, and LOGOUT.  Literals are skipped unparsed and nothing
is written anywhere, so this is the practical lower bound of an initial sync
(a sync also has to write and fsync every message).  Prints one line:
"floor: F folders, N messages, B bytes in Ts".
"""

import argparse
import re
import socket
import sys
import time

LITERAL_RE = re.compile(rb"\{(\d+)\+?\}$")
LIST_RE = re.compile(rb'\* LIST \(([^)]*)\) (?:"[^"]*"|NIL) (.*)$')


class Reader:
    """Line reader over a socket that can skip literals without keeping them."""

    def __init__(self, sock):
        self.s = sock
        self.buf = bytearray()
        self.nbytes = 0
        self.chunk = bytearray(1 << 20)

    def _recv(self, limit):
        n = self.s.recv_into(self.chunk, min(limit, len(self.chunk)))
        if n == 0:
            raise EOFError("server closed the connection")
        self.nbytes += n
        return n

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            n = self._recv(len(self.chunk))
            self.buf += memoryview(self.chunk)[:n]

    def skip(self, n):
        k = min(n, len(self.buf))
        del self.buf[:k]
        n -= k
        while n > 0:
            n -= self._recv(n)


def quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def main():
    ap = argparse.ArgumentParser(description="raw streaming floor")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    a = ap.parse_args()
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", a.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    r = Reader(s)
    if not r.line().startswith(b"* OK"):
        raise SystemExit("floor: no greeting")
    s.sendall(('L LOGIN %s %s\r\nM LIST "" "*"\r\n' % (quote(a.user), quote(a.password))).encode())
    folders = []
    while True:
        ln = r.line()
        if ln.startswith(b"L ") and not ln.startswith(b"L OK"):
            raise SystemExit("floor: login failed: %r" % ln)
        m = LIST_RE.match(ln)
        if m and not re.search(rb"(?i)\\noselect|\\nonexistent", m.group(1)):
            name = m.group(2)
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
            folders.append(name.decode())
        if ln.startswith(b"M "):
            break
    s.sendall("".join("E%d EXAMINE %s\r\nF%d UID FETCH 1:* (FLAGS BODY.PEEK[])\r\n"
                      % (i, quote(f), i) for i, f in enumerate(folders)).encode()
              + b"Z LOGOUT\r\n")
    messages = 0
    while True:
        ln = r.line()
        if ln.startswith(b"* ") and b" FETCH " in ln[:40]:
            messages += 1
        m = LITERAL_RE.search(ln)
        while m:
            r.skip(int(m.group(1)))
            ln = r.line()
            m = LITERAL_RE.search(ln)
        tag, _, rest = ln.partition(b" ")
        if tag[:1] in (b"E", b"F") and tag[1:].isdigit() and not rest.startswith(b"OK"):
            raise SystemExit("floor: command failed: %r" % ln)
        if tag == b"Z":
            break
    s.close()
    print("floor: %d folders, %d messages, %d bytes in %.3fs"
          % (len(folders), messages, r.nbytes, time.time() - t0))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
