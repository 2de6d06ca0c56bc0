#!/usr/bin/env python3
"""oauth2_server.py — a small OAuth 2.0 provider for the tests: the device
authorization grant (RFC 8628), the refresh token grant with rotation, and
token introspection (RFC 7662) for the test Dovecot's oauth2 passdb. Not an
IMAP server: the IMAP side stays the real Dovecot.

    oauth2_server.py PORTFILE USER [TOKEN...]

Listens on 127.0.0.1 (a free port, written to PORTFILE once listening).
Every access token it issues, and each TOKEN given, belongs to USER.
  POST /device      client_id, scope -> device_code, user_code, ...
  POST /token       device_code grant: authorization_pending on the first
                    poll, slow_down on the second, tokens on the third;
                    refresh_token grant: a new access token and a new
                    refresh token, the old refresh token no longer valid
  POST /introspect  token -> {"active": ..., "username": USER}
  GET  /stats       {"token_requests": N, "refresh_grants": N}
"""
import itertools
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

USER = sys.argv[2]
ACCESS = set(sys.argv[3:])
REFRESH = set()
DEVICE_POLLS = {}
SERIAL = itertools.count(1)
STATS = {"token_requests": 0, "refresh_grants": 0}
CLIENT_ID = "mailferry-test"


def issue():
    n = next(SERIAL)
    at, rt = "at-%d-%d" % (os.getpid(), n), "rt-%d-%d" % (os.getpid(), n)
    ACCESS.add(at)
    REFRESH.add(rt)
    return {"access_token": at, "refresh_token": rt, "token_type": "Bearer",
            "expires_in": 3600}


class Handler(BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/stats":
            return self.reply(200, STATS)
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        f = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(n).decode()).items()}
        if self.path == "/introspect":
            tok = f.get("token", "")
            return self.reply(200, {"active": True, "username": USER} if tok in ACCESS
                              else {"active": False})
        if f.get("client_id") != CLIENT_ID:
            return self.reply(401, {"error": "invalid_client"})
        if self.path == "/device":
            dc = "dc-%d" % next(SERIAL)
            DEVICE_POLLS[dc] = 0
            return self.reply(200, {"device_code": dc, "user_code": "WDJB-MJHT",
                                    "verification_uri": "https://example.test/device",
                                    "expires_in": 60, "interval": 1})
        if self.path != "/token":
            return self.reply(404, {"error": "not_found"})
        STATS["token_requests"] += 1
        grant = f.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            dc = f.get("device_code")
            if dc not in DEVICE_POLLS:
                return self.reply(400, {"error": "invalid_grant"})
            DEVICE_POLLS[dc] += 1
            if DEVICE_POLLS[dc] == 1:
                return self.reply(400, {"error": "authorization_pending"})
            if DEVICE_POLLS[dc] == 2:
                return self.reply(400, {"error": "slow_down"})
            del DEVICE_POLLS[dc]
            return self.reply(200, issue())
        if grant == "refresh_token":
            rt = f.get("refresh_token")
            if rt not in REFRESH:
                return self.reply(400, {"error": "invalid_grant",
                                        "error_description": "Token has been expired or revoked."})
            REFRESH.discard(rt)
            STATS["refresh_grants"] += 1
            return self.reply(200, issue())
        self.reply(400, {"error": "unsupported_grant_type"})

    def log_message(self, fmt, *args):
        sys.stderr.write("oauth2: " + fmt % args + "\n")


def main():
    srv = HTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as out:
        out.write(str(srv.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
