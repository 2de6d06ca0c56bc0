# shellcheck shell=bash
# tests/e2e/sync_jobs_lib.sh — helpers for the --jobs tests (sourced after
# lib.sh and sync_lib.sh).

# jobs_corpus USER SIZE FOLDER:COUNT...: write COUNT messages per folder
# straight into USER's Maildir++ on the fixture ("" is INBOX, "Lists/Big" a
# folder), Message-IDs <USER-FOLDER-N@test>, a mix of flags, bodies of about
# SIZE bytes; then make Dovecot index them.
jobs_corpus() {
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

# jsync USER PORT DIR STATE [ARGS...]: one sync against 127.0.0.1:PORT.
jsync() {
    local user=$1 port=$2 dir=$3 state=$4
    shift 4
    MAILFERRY_PASSWORD=$user "$MF_BIN" sync --remote "imap://$user@127.0.0.1:$port" \
        --local "maildir:$dir" --state "$state" "$@"
}

# workers TRACE: "STARTED of FORKED" extra workers of a -vv run ("" if none).
workers() { sed -n 's/^\([0-9]* of [0-9]*\) extra workers connected$/\1/p' "$1"; }
