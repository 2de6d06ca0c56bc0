# shellcheck shell=bash
# tests/e2e/sync_lib.sh — helpers for the `mailferry sync` end-to-end tests
# (sourced after lib.sh). Both sides are described the same way, one line
# per message, sorted: "MAILBOX<TAB>MESSAGE-ID<TAB>FLAGS" (flags sorted,
# \Recent dropped), so equal descriptions mean the same messages (as a
# multiset: no loss, no duplicate) with the same flags and keywords.

# sync_user NAME: mf_user, then wait until Dovecot's passdb sees the new
# line (passwd-file is reread by mtime, at one-second granularity).
sync_user() {
    local i
    mf_user "$1"
    for i in 1 2 3 4 5 6 7 8 9 10; do
        mf_doveadm auth test "$1" "$1" >/dev/null 2>&1 && return 0
        sleep 0.3
        touch "$MF_DOVECOT_DIR/passwd"
    done
    mf_fail "user $1 never became valid"
}

# sync_run USER LOCALDIR [ARGS...]: one sync of USER's account with LOCALDIR
# (Maildir, verbatim layout unless ARGS say otherwise); state in $T/state.
sync_run() {
    local user=$1 dir=$2
    shift 2
    MAILFERRY_PASSWORD=$user "$MF_BIN" sync --remote "imap://$user@127.0.0.1:$MF_IMAP_PORT" \
        --local "maildir:$dir" --state "$T/state" "$@"
}

# server_corpus USER SIZE FOLDER:COUNT...: write COUNT messages per folder
# straight into USER's Maildir++ on the fixture ("" is INBOX, "Lists/Big" a
# folder), Message-IDs <USER-FOLDER-N@test>, a mix of flags, bodies of about
# SIZE bytes; then make Dovecot index them.
server_corpus() {
    local u=$1 size=$2 md
    shift 2
    md=$("$MF_DOVECOT" maildir "$MF_DOVECOT_DIR" "$u")
    python3 - "$md" "$u" "$size" "$@" <<'PY'
import os, sys
root, user, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
for spec in sys.argv[4:]:
    folder, n = spec.rsplit(":", 1)
    d = os.path.join(root, "." + folder.replace("/", ".")) if folder else root
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i in range(int(n)):
        mid = "%s-%s-%d" % (user, folder.replace("/", "_") or "INBOX", i)
        line = "line of %s padding the body to its size\n" % mid
        body = line * (1 + (size * (1 + i % 5) // 3) // len(line))
        msg = ("From: a@test\nTo: b@test\nSubject: %s\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n"
               "Message-ID: <%s@test>\n\n%s" % (mid, mid, body))
        flags = ["", "S", "FS", "RS", "S"][i % 5]
        name = "1600000000.M%dP1.gen:2,%s" % (i, flags)
        with open(os.path.join(d, "cur", name), "w") as f:
            f.write(msg)
PY
    if [[ $(id -u) == 0 ]]; then chown -R "${MF_DOVECOT_USER:-nobody}" "$md"; fi
    mf_doveadm force-resync -u "$u" '*'
}

# remote_state USER: the account as Dovecot sees it.
remote_state() {
    mf_doveadm -f tab fetch -u "$1" 'mailbox hdr.message-id flags' all | tail -n +2 |
        python3 -c '
import sys
out = []
for line in sys.stdin:
    box, mid, flags = (line.rstrip("\n").split("\t") + ["", ""])[:3]
    fl = sorted(f for f in flags.split() if f != "\\Recent")
    out.append("%s\t%s\t%s" % (box, mid.strip(), " ".join(fl)))
print("\n".join(sorted(out)))'
}

# local_state DIR [verbatim|maildir++]: the Maildir as files on disk.
local_state() {
    python3 - "$1" "${2:-verbatim}" <<'EOF'
import os, sys
root, layout = sys.argv[1], sys.argv[2]
letters = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
def folders():
    if layout == "maildir++":
        yield "INBOX", root
        for e in sorted(os.listdir(root)):
            p = os.path.join(root, e)
            if e.startswith(".") and e not in (".", "..") and os.path.isdir(os.path.join(p, "cur")):
                yield e[1:].replace(".", "/"), p
        return
    for dp, dns, fns in os.walk(root):
        if os.path.isdir(os.path.join(dp, "cur")) and os.path.isdir(os.path.join(dp, "new")):
            rel = os.path.relpath(dp, root)
            yield rel, dp
def msgid(path):
    val, on = None, False
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                break
            if on and line[:1] in (" ", "\t"):
                val += line.strip()
                continue
            on = False
            if val is None and line.lower().startswith("message-id:"):
                val, on = line[11:].strip(), True
    return val or ""
out = []
for name, path in folders():
    kw = {}
    kf = os.path.join(path, "dovecot-keywords")
    if os.path.exists(kf):
        for line in open(kf):
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                kw[chr(ord("a") + int(parts[0]))] = parts[1]
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        for fn in os.listdir(d):
            if fn.startswith("."):
                continue
            info = fn.split(":2,", 1)[1] if ":2," in fn else ""
            fl = sorted([letters[c] for c in info if c in letters] + [kw.get(c, "?" + c) for c in info if c.islower()])
            out.append("%s\t%s\t%s" % (name, msgid(os.path.join(d, fn)), " ".join(fl)))
print("\n".join(sorted(out)))
EOF
}

# both_equal USER DIR [LAYOUT]: fail with a diff unless both sides agree.
both_equal() {
    local r l
    r=$(remote_state "$1")
    l=$(local_state "$2" "${3:-verbatim}")
    if [[ "$r" != "$l" ]]; then
        diff <(echo "$r") <(echo "$l") >&2 || true
        mf_fail "remote and local differ (< remote, > local)"
    fi
}

# local_put DIR FOLDER ID [INFO]: a message file written as a mail reader
# would (verbatim layout), with flags letters INFO (e.g. "FS").
local_put() {
    local dir=$1/$2 id=$3 info=${4-}
    mkdir -p "$dir/cur" "$dir/new" "$dir/tmp"
    local name="$(date +%s).M${RANDOM}P$$Q${id}.test"
    mf_msg "$id" "Subject $id" | tr -d '\r' >"$dir/tmp/$name"
    if [[ -n $info ]]; then
        mv "$dir/tmp/$name" "$dir/cur/$name:2,$info"
    else
        mv "$dir/tmp/$name" "$dir/new/$name"
    fi
}

# has_msg STATE BOX ID FLAGS: STATE (remote_state/local_state output) holds
# the line for <ID@test> in BOX with exactly FLAGS.
has_msg() { grep -qxF "$(printf '%s\t<%s@test>\t%s' "$2" "$3" "$4")" <<<"$1"; }

# json_field JSON PATH: a number from mailferry's --json summary
# (PATH like pull.copied or repaired).
json_field() {
    python3 -c 'import json,sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}

# seed_remote USER: a small account with flags, keywords and two folders.
seed_remote() {
    local u=$1 i
    for i in 1 2 3 4; do
        mf_msg "$u-in$i" "inbox $i" >"$T/m"
        mf_deliver "$u" INBOX "$T/m"
    done
    for i in 1 2; do
        mf_msg "$u-sub$i" "sub $i" >"$T/m"
        mf_deliver "$u" "Lists/Sub" "$T/m"
    done
    mf_doveadm flags add -u "$u" '\Seen' mailbox INBOX uid 1:2
    mf_doveadm flags add -u "$u" '\Flagged $Forwarded' mailbox INBOX uid 2
    mf_doveadm flags add -u "$u" '\Answered' mailbox Lists/Sub uid 1
}
