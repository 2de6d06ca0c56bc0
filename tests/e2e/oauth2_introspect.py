#!/usr/bin/env python3
"""oauth2_introspect.py — a token introspection endpoint (RFC 7662) for the
test Dovecot's oauth2 passdb: Dovecot POSTs token=... and learns whether it
is active and whose it is. Not an IMAP server: the IMAP side stays the real
Dovecot.

    oauth2_introspect.py PORTFILE TOKEN=USER...

Listens on 127.0.0.1 (a free port, written to PORTFILE once listening),
answers POST /introspect, and logs one line per request to stderr.
"""
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

TOKENS = dict(a.split("=", 1) for a in sys.argv[2:])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        token = (form.get("token") or [""])[0]
        user = TOKENS.get(token)
        body = {"active": True, "username": user} if user else {"active": False}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("introspect: " + fmt % args + "\n")


def main():
    srv = HTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
