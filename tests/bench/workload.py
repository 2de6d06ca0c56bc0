#!/usr/bin/env python3
"""workload.py - the untimed changes made before each benchmark workload.

  base-uids      --dovecot D --user U                 "folder<TAB>uidnext" of the pristine corpus
  remote-flags   --dovecot D --user U --base F        toggle \\Seen on 5 % of the server
                                                      messages, \\Flagged on half of those
  remote-new     --dovecot D --user U --count N       deliver N new messages (half to INBOX)
  local-changes  --dovecot D --user U --local ROOT    toggle F on 5 % of the local files by
                                                      renaming, add N (--count) to INBOX/new
  remote-expunge --dovecot D --user U --base F        expunge 1 % of the server messages

Every tool gets the same changes: server messages are chosen by UID among the
pristine corpus's UIDs (every server copy has the same UIDs), local files by
a hash of their Message-ID; new messages are generated from fixed seeds.
"""

import argparse
import os
import random
import zlib

import common
import corpus


def read_base(path):
    with open(path) as f:
        return {k: int(v) for k, v in (ln.rstrip("\n").split("\t") for ln in f if ln.strip())}


def cmd_base_uids(a):
    for folder, (_n, uidnext) in sorted(common.server_status(a.dovecot, a.user).items()):
        print("%s\t%d" % (folder, uidnext))


def cmd_remote_flags(a):
    changed = 0
    for folder, uidnext in sorted(read_base(a.base).items()):
        groups = {}
        for uid, flags in common.server_uid_flags(a.dovecot, a.user, folder):
            if uid >= uidnext or uid % 20 != 3:
                continue
            changed += 1
            groups.setdefault(("remove" if "\\Seen" in flags else "add", "\\Seen"), []).append(uid)
            if uid % 40 == 3:
                op = "remove" if "\\Flagged" in flags else "add"
                groups.setdefault((op, "\\Flagged"), []).append(uid)
        for (op, flag), uids in sorted(groups.items()):
            common.doveadm(a.dovecot, "flags", op, "-u", a.user, flag, "mailbox", folder,
                           "uid", common.uidset(uids))
    print("remote-flags: toggled flags of %d server messages" % changed)


def cmd_remote_new(a):
    folders = sorted(common.server_status(a.dovecot, a.user))
    others = [f for f in folders if f != "INBOX"] or ["INBOX"]
    pool = corpus.TextPool(a.seed)
    for i in range(a.count):
        folder = "INBOX" if i % 2 == 0 else others[i % len(others)]
        rng = random.Random((a.seed << 20) + 500000 + i)
        msgid = "<%x.rnew%05d.%08x@bench.example>" % (a.seed, i, rng.getrandbits(32))
        data = corpus.make_message(rng, pool, msgid, corpus.END_EPOCH + 600 * i)
        common.doveadm(a.dovecot, "save", "-u", a.user, "-m", folder, stdin=data)
    print("remote-new: delivered %d messages with doveadm save" % a.count)


def cmd_local_changes(a):
    renamed = 0
    for folder in sorted(common.server_status(a.dovecot, a.user)):
        d = common.local_folder_dir(a.local, folder)
        for mid, _flags, sub, fn in common.scan_maildir(d):
            if not mid or zlib.crc32(mid.encode()) % 20 != 0:
                continue
            m = common.INFO_RE.search(fn)
            base, letters = (fn[:m.start()], set(m.group(1))) if m else (fn, set())
            letters ^= {"F"}
            # as a MUA does: the file moves to cur/ with its new info
            os.rename(os.path.join(d, sub, fn),
                      os.path.join(d, "cur", base + ":2," + "".join(sorted(letters))))
            renamed += 1
    inbox = common.local_folder_dir(a.local, "INBOX")
    if not os.path.isdir(os.path.join(inbox, "new")):
        raise SystemExit("local-changes: no local INBOX at %s (did the sync fail?)" % inbox)
    pool = corpus.TextPool(a.seed)
    for i in range(a.count):
        rng = random.Random((a.seed << 20) + 700000 + i)
        msgid = "<%x.lnew%05d.%08x@bench.example>" % (a.seed, i, rng.getrandbits(32))
        epoch = corpus.END_EPOCH + 86400 + 600 * i
        name = "%d.M%06dP4243Q%d.benchlocal" % (epoch, i, i)
        tmp = os.path.join(inbox, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(corpus.make_message(rng, pool, msgid, epoch))
        os.utime(tmp, (epoch, epoch))
        common.chown_like(tmp, inbox)
        os.rename(tmp, os.path.join(inbox, "new", name))
    print("local-changes: toggled F on %d local files, added %d to INBOX/new"
          % (renamed, a.count))


def cmd_remote_expunge(a):
    total = 0
    for folder, uidnext in sorted(read_base(a.base).items()):
        uids = [u for u, _ in common.server_uid_flags(a.dovecot, a.user, folder)
                if u < uidnext and u % 100 == 37]
        if uids:
            common.doveadm(a.dovecot, "expunge", "-u", a.user, "mailbox", folder,
                           "uid", common.uidset(uids))
            total += len(uids)
    print("remote-expunge: expunged %d server messages" % total)


def main():
    ap = argparse.ArgumentParser(description="benchmark workload changes")
    sp = ap.add_subparsers(dest="cmd", required=True)
    for name, fn in (("base-uids", cmd_base_uids), ("remote-flags", cmd_remote_flags),
                     ("remote-new", cmd_remote_new), ("local-changes", cmd_local_changes),
                     ("remote-expunge", cmd_remote_expunge)):
        p = sp.add_parser(name)
        p.add_argument("--dovecot", required=True)
        p.add_argument("--user", required=True)
        p.set_defaults(fn=fn)
        if name in ("remote-flags", "remote-expunge"):
            p.add_argument("--base", required=True)
        if name in ("remote-new", "local-changes"):
            p.add_argument("--count", type=int, default=200 if name == "remote-new" else 100)
            p.add_argument("--seed", type=int, default=1)
        if name == "local-changes":
            p.add_argument("--local", required=True, help="the tool's local root")
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
