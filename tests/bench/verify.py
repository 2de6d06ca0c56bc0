#!/usr/bin/env python3
"""verify.py - compare the server and a tool's local Maildir after a sync.

usage: verify.py --dovecot D --user U --local ROOT [--label L]

For every selectable server folder: the message count (Dovecot's and the
local files'), the Message-ID multiset (missing, extra, duplicated) and the
DFRST flags of every message; then every local maildir that matches no server
folder but holds messages.  The server side is read from its Maildir files
(read-only, so Dovecot's state is not touched); the count from doveadm.
Each difference prints a MISMATCH line; the exit status is 1 if any.
"""

import argparse
import collections
import os
import sys

import common

MAX_LINES = 20


def compare(folder, n_srv, server, local, say):
    if len(local) != n_srv:
        say("folder=%s count server=%d local=%d" % (folder, n_srv, len(local)))
    if len(server) != n_srv:
        say("folder=%s Dovecot counts %d but has %d files" % (folder, n_srv, len(server)))
    smap, lmap = collections.defaultdict(list), collections.defaultdict(list)
    for mid, fl, _s, _n in server:
        smap[mid].append(fl)
    for mid, fl, _s, _n in local:
        lmap[mid].append(fl)
    missing = sorted(m for m in smap if m not in lmap)
    extra = sorted(m for m in lmap if m not in smap)
    dups = sorted(m for m in lmap if m in smap and len(lmap[m]) > len(smap[m]))
    for what, ids in (("on the server missing locally", missing),
                      ("local, not on the server", extra), ("duplicated locally", dups)):
        if ids:
            say("folder=%s %d messages %s, e.g. %s" % (folder, len(ids), what, " ".join(ids[:3])))
    bad = ["%s server=%s local=%s" % (m, "".join(sorted(fl[0])) or "-",
                                      "".join(sorted(lmap[m][0])) or "-")
           for m, fl in sorted(smap.items())
           if len(fl) == 1 and len(lmap.get(m, ())) == 1 and fl[0] != lmap[m][0]]
    if bad:
        say("folder=%s flags differ on %d messages, e.g. %s" % (folder, len(bad),
                                                               "; ".join(bad[:3])))


def main():
    ap = argparse.ArgumentParser(description="compare server and local side")
    ap.add_argument("--dovecot", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--local", required=True)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    problems = []

    def say(msg):
        problems.append(msg)
        if len(problems) <= MAX_LINES:
            print("MISMATCH %s %s" % (a.label, msg))

    status = common.server_status(a.dovecot, a.user)
    known = set()
    for folder, (n_srv, _uidnext) in sorted(status.items()):
        ldir = common.local_folder_dir(a.local, folder)
        known.add(os.path.realpath(ldir))
        if not os.path.isdir(os.path.join(ldir, "cur")):
            say("folder=%s missing locally (server has %d)" % (folder, n_srv))
            continue
        server = common.scan_maildir(common.server_folder_dir(a.dovecot, a.user, folder))
        compare(folder, n_srv, server, common.scan_maildir(ldir), say)
    for root, dirs, _files in os.walk(a.local):
        if "cur" in dirs and os.path.realpath(root) not in known:
            n = len(common.scan_maildir(root))
            if n:
                say("local maildir %s (%d messages) matches no server folder" % (root, n))
        dirs[:] = [d for d in dirs if d not in ("cur", "new", "tmp")]
    if len(problems) > MAX_LINES:
        print("MISMATCH %s ... and %d more" % (a.label, len(problems) - MAX_LINES))
    total = sum(n for n, _u in status.values())
    print("verify %s: %s (%d folders, %d server messages)"
          % (a.label, "ok" if not problems else "FAILED", len(status), total))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
