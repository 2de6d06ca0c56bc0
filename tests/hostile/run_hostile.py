#!/usr/bin/env python3
"""run_hostile.py -- one hostile-server scenario of `mailferry sync --pull`.

Usage: run_hostile.py SCENARIO   (MF_BIN names the mailferry binary)

Starts fake_imapd.py in the given mode on a free loopback port, syncs into a
Maildir root created inside a fresh, otherwise empty directory tree, and checks
the properties a hostile server must not be able to break:
  - mailferry exits 0/1/2 by itself: no signal, no sanitizer report;
  - nothing is created outside the Maildir root (the tree around it is
    compared before and after, and absolute targets such as /abs/path are
    checked not to have appeared);
  - every file in cur/ or new/ is one complete message the server really
    holds, none twice, and tmp/ is left empty;
  - the errors name the server and what went wrong;
  - after a cut connection or a BYE, a run against a well-behaved server
    completes with each message exactly once.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, HERE)
import fake_imapd  # noqa: E402

# Mailbox names mailferry drops without naming them (see the hostile report:
# a mailbox silently left unsynced). Still served, so every safety check
# covers them; only the "the error names it" check leaves them out.
# Names the IMAP driver cannot use at all (refused while listing): the run
# must say so, naming each as the server sent it (control bytes as '?').
REFUSED_ON_LISTING = {"ctl\x01name", "bad&AGE", "sl/ash", "&AC4ALg-", "&AC8-etc&AC8-evil2",
                    "q&AC8ALgAuAC8ALgAu-"}

# Absolute paths a name could reach if it were used unsanitized.
ABS_TARGETS = ["/abs", "/abs/path", "/x", "/b", "/escape", "/etc/evil", "/etc/evil2"]

# mode -> (allowed exit codes, fragments the error output must contain)
DATA = {
    "bigliteral": ({1, 2}, ["127.0.0.1", "99999999999", "fetch"]),
    "deepnest": ({1, 2}, ["127.0.0.1", "nested too deep", "fetch"]),
    "garbage": ({1, 2}, ["127.0.0.1", "NUL byte", "fetch"]),
    # Unsolicited FETCH past EXISTS: ignored, the real messages all arrive.
    "unasked": ({0}, []),
    "unasked-seq": ({1, 2}, ["127.0.0.1", "changed its sequence number"]),
    "cut": ({1, 2}, ["127.0.0.1", "connection closed"]),
    "bye": ({1, 2}, ["127.0.0.1", "BYE"]),
    # A malformed LIST entry after good ones: the whole listing is refused.
    "badlist": ({2}, ["127.0.0.1", 'LIST "" "*"', "literal not at end of line"]),
}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def tree(top, skip):
    out = set()
    for d, dirs, files in os.walk(top):
        if os.path.abspath(d) in skip:
            dirs[:] = []
            continue
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), top))
    return out


class Server:
    def __init__(self, mode, log):
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_imapd.py"), mode],
                                  stdout=subprocess.PIPE, stderr=log)
        self.port = int(self.p.stdout.readline())

    def stop(self):
        self.p.kill()
        self.p.wait()


def sync(g, mode, cwd, extra=()):
    with open(os.path.join(g, "server-%s.log" % mode), "ab") as log:
        srv = Server(mode, log)
        try:
            env = dict(os.environ, MAILFERRY_PASSWORD="x")
            r = subprocess.run([os.environ["MF_BIN"], "sync", "-v",
                                "--remote", "imap://u@127.0.0.1:%d" % srv.port,
                                "--local", "maildir:root", "--state", os.path.join(g, "state"),
                                "--pull", *extra], cwd=cwd, env=env, capture_output=True,
                               timeout=120)
        finally:
            srv.stop()
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    print("--- mailferry (%s) exit %d\n%s%s" % (mode, r.returncode, out, err))
    check(r.returncode >= 0, "%s: killed by signal %d" % (mode, -r.returncode))
    for bad in ("Sanitizer", "runtime error:", "Segmentation", "Aborted"):
        check(bad not in err, "%s: '%s' in the error output" % (mode, bad))
    return r.returncode, out, err


def messages(root):
    """(mailbox dir, normalized content) of every visible message; checks tmp/."""
    got = []
    for d, dirs, files in os.walk(root):
        base = os.path.basename(d)
        if base == "tmp" and os.path.exists(os.path.join(os.path.dirname(d), ".mailferry-id")):
            check(not files, "files left in %s: %s" % (d, files))
        if base in ("cur", "new") and os.path.exists(
                os.path.join(os.path.dirname(d), ".mailferry-id")):
            for f in files:
                with open(os.path.join(d, f), "rb") as fh:
                    got.append((os.path.relpath(os.path.dirname(d), root),
                                fh.read().replace(b"\r\n", b"\n")))
    return got


def known_bodies(mode):
    ok = set()
    for msgs in fake_imapd.mailboxes_for(mode).values():
        for _, m in msgs:
            ok.add(m.replace(b"\r\n", b"\n"))
    return ok


def check_messages(root, mode, exact=False):
    got = messages(root)
    ok = known_bodies(mode)
    for box, m in got:
        check(m in ok, "%s: partial or foreign message in %s: %r" % (mode, box, m[:80]))
    check(len(got) == len(set(got)), "%s: a message is stored twice" % mode)
    contents = [m for _, m in got]
    if exact:
        check(set(contents) == ok and len(contents) == len(ok),
              "%s: expected each of %d messages exactly once, got %d" % (mode, len(ok), len(got)))


def main():
    mode = sys.argv[1]
    if not os.environ.get("MF_BIN"):
        print("MF_BIN not set")
        return 77
    abs_before = {p: os.path.lexists(p) for p in ABS_TARGETS}
    g = tempfile.mkdtemp(prefix="mf-hostile-")
    # root at depth 3 below g: '..' chains of up to three levels stay inside g
    parent = os.path.join(g, "a", "b", "p")
    os.makedirs(os.path.join(parent, "root"))
    skip = {os.path.abspath(os.path.join(parent, "root")), os.path.abspath(os.path.join(g, "state"))}
    before = tree(g, skip)

    rc, out, err = sync(g, mode, parent, ("--json",) if mode == "badauth" else ())

    after = tree(g, skip) - {"state"} - {n for n in tree(g, skip) if n.startswith("server-")}
    check(after == before, "%s: created outside the root: %s" % (mode, sorted(after - before)))
    check(sorted(os.listdir(parent)) == ["root"], "%s: parent holds %s" % (mode, os.listdir(parent)))
    for p, existed in abs_before.items():
        check(existed or not os.path.lexists(p), "%s: %s was created" % (mode, p))

    if mode in ("names", "names-dot"):
        check(rc in (0, 1), "%s: exit %d, want 0 or 1" % (mode, rc))
        names = fake_imapd.HOSTILE_NAMES if mode == "names" else fake_imapd.HOSTILE_DOT_NAMES
        delim = "." if mode == "names-dot" else "/"
        for n in names:
            if n in REFUSED_ON_LISTING:
                wire = "".join("?" if ord(ch) < 32 else ch for ch in n)
                check("remote mailbox '%s' skipped" % wire in err,
                      "%s: refused mailbox %r not reported" % (mode, n))
                continue
            shown = n.replace(delim, "/")
            # either refused, naming it, or synced (its summary line) -- inside root
            check("'%s'" % shown in err or ("%s: 1 down" % shown) in err + out,
                  "%s: mailbox %r neither refused by name nor synced" % (mode, n))
        check_messages(os.path.join(parent, "root"), mode)
    elif mode == "badauth":
        # --json still names the failure when the server's words are not UTF-8
        check(rc == 2, "badauth: exit %d, want 2" % rc)
        try:
            j = json.loads(out)
        except ValueError:
            j = {}
        check(j.get("result") == "failed", "badauth: --json result %r" % j.get("result"))
        check("Zugang verweigert" in j.get("error", ""), "badauth: --json error %r" % j.get("error"))
    elif mode == "good":
        check(rc == 0, "good: exit %d" % rc)
        check_messages(os.path.join(parent, "root"), mode, exact=True)
    else:
        codes, frags = DATA[mode]
        check(rc in codes, "%s: exit %d, want %s" % (mode, rc, sorted(codes)))
        for f in frags:
            check(f.lower() in err.lower(), "%s: error output lacks '%s'" % (mode, f))
        check_messages(os.path.join(parent, "root"), mode, exact=(mode == "unasked"))
        if mode in ("cut", "bye", "unasked-seq"):
            rc2, _, _ = sync(g, "good", parent)
            check(rc2 == 0, "%s: follow-up run exit %d" % (mode, rc2))
            check_messages(os.path.join(parent, "root"), "good", exact=True)
    if failures:
        print("%d failure(s); left %s" % (len(failures), g))
        return 1
    subprocess.run(["rm", "-rf", g])
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
