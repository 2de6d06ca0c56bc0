"""common.py - what the benchmark helpers share: doveadm, Maildir reading, layouts.

The server is the project's Dovecot fixture (tests/dovecot.sh); a user's mail
is Maildir++ in DIR/mail/USER.  The helpers read those files directly and
only ever read them: changes to the server go through doveadm.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOVECOT_SH = os.path.join(HERE, "..", "dovecot.sh")

# Maildir letters of IMAP system flags; keywords (lowercase) are not compared.
FLAG_LETTERS = set("DFRST")
INFO_RE = re.compile(r":2,([A-Za-z]*)$")
MSGID_RE = re.compile(rb"(?im)^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^>\r\n]*>)")


def doveadm(ddir, *args, stdin=None):
    r = subprocess.run([DOVECOT_SH, "doveadm", ddir] + list(args), input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode("utf-8", "replace"))
        raise SystemExit("doveadm %s failed (rc=%d)" % (" ".join(args[:4]), r.returncode))
    return r.stdout.decode("utf-8", "replace")


def doveadm_tab(ddir, *args):
    """`doveadm -f tab ARGS` as a list of dicts keyed by the header line."""
    lines = [ln for ln in doveadm(ddir, "-f", "tab", *args).split("\n") if ln]
    if not lines:
        return []
    head = lines[0].split("\t")
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]


def server_status(ddir, user):
    """{folder: (messages, uidnext)} for every selectable server folder."""
    rows = doveadm_tab(ddir, "mailbox", "status", "-u", user, "messages uidnext", "*")
    return {r["mailbox"]: (int(r["messages"]), int(r["uidnext"])) for r in rows}


def server_uid_flags(ddir, user, folder):
    rows = doveadm_tab(ddir, "fetch", "-u", user, "uid flags", "mailbox", folder, "all")
    return [(int(r["uid"]), set(r["flags"].split())) for r in rows]


def server_folder_dir(ddir, user, folder):
    d = "" if folder == "INBOX" else "." + folder.replace("/", ".")
    return os.path.join(ddir, "mail", user, d)


def local_folder_dir(root, folder):
    """Where a tool keeps FOLDER under ROOT: verbatim (INBOX at ROOT/INBOX,
    "a/b" at ROOT/a/b), or Maildir++ when ROOT itself is a maildir."""
    if os.path.isdir(os.path.join(root, "cur")):
        return root if folder == "INBOX" else os.path.join(root, "." + folder.replace("/", "."))
    return os.path.join(root, folder)


def maildir_flags(fname):
    m = INFO_RE.search(fname)
    return frozenset(m.group(1)) & FLAG_LETTERS if m else frozenset()


def read_msgid(path):
    """The Message-ID of a message file, '' if it has none, None if it vanished."""
    try:
        with open(path, "rb") as f:
            head = f.read(16384)
    except FileNotFoundError:
        return None
    end = head.find(b"\n\n")
    m = MSGID_RE.search(head if end < 0 else head[:end])
    return m.group(1).decode("utf-8", "replace") if m else ""


def scan_maildir(d):
    """[(msgid, flags, subdir, name)] of every message in d/cur and d/new.
    Flags come from the name in new/ too (mbsync may write new/X:2,R)."""
    res = []
    for sub in ("cur", "new"):
        try:
            names = os.listdir(os.path.join(d, sub))
        except FileNotFoundError:
            continue
        for fn in names:
            if fn.startswith("."):
                continue
            mid = read_msgid(os.path.join(d, sub, fn))
            if mid is not None:
                res.append((mid, maildir_flags(fn), sub, fn))
    return res


def chown_like(path, ref):
    """As root, give a new file the owner of REF (Dovecot runs as nobody)."""
    if os.geteuid() == 0:
        st = os.stat(ref)
        os.chown(path, st.st_uid, st.st_gid)


def uidset(uids):
    """Compressed IMAP/doveadm UID set: 1:3,7,9:10."""
    out, run = [], None
    for u in sorted(uids):
        if run and u == run[1] + 1:
            run[1] = u
        else:
            if run:
                out.append(run)
            run = [u, u]
    if run:
        out.append(run)
    return ",".join(str(a) if a == b else "%d:%d" % (a, b) for a, b in out)
