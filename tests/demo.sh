#!/usr/bin/env bash
# tests/demo.sh — mailferry on a built-in default: installs what is missing,
# builds build/mailferry, starts a throwaway Dovecot seeded with a few folders
# of mail, and runs mailferry against it: probe, then a two-way sync into
# ./mailferry-demo-mail (under the current directory), a change on each
# side, a second sync, and both sides shown to agree. Everything it starts is stopped at
# exit; the server's files live in a temporary folder.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd -P)
start_dir=$PWD
cd "$top"
port=${MF_DEMO_PORT:-18143}

"$top/tests/deps.sh"
[[ -d build ]] || meson setup build >/dev/null
ninja -C build >/dev/null

scratch=$(mktemp -d /tmp/mailferry-demo.XXXXXX)
chmod 755 "$scratch"
dc=$scratch/dovecot
trap '"$top/tests/dovecot.sh" stop "$dc"; rm -rf "$scratch"' EXIT
"$top/tests/dovecot.sh" start "$dc" "$port" >/dev/null
"$top/tests/dovecot.sh" adduser "$dc" demo demo

msg() {
    printf 'From: Demo <demo@example.org>\r\nTo: you@example.org\r\nSubject: %s\r\nDate: Mon, 2 Jan 2023 10:%02d:00 +0000\r\nMessage-ID: <%s@demo.example.org>\r\n\r\nHello from the mailferry demo, message %s.\r\n' \
        "$2" "$(( $(printf %s "$1" | cksum | cut -d" " -f1) % 60 ))" "$1" "$1"
}
seed() { # FOLDER COUNT
    local i
    [[ $1 == INBOX ]] || "$top/tests/dovecot.sh" doveadm "$dc" mailbox create -u demo "$1"
    for ((i = 1; i <= $2; i++)); do
        msg "$1-$i" "$1 message $i" | "$top/tests/dovecot.sh" doveadm "$dc" save -u demo -m "$1"
    done
}
echo "== seeding a throwaway Dovecot (user demo) on 127.0.0.1:$port"
seed INBOX 5
seed Archive 3
seed Work/Projects 2
seed "Entwürfe" 1

echo "== mailferry probe --tls starttls --ca-file DIR/ssl/ca.pem imap://demo@localhost:$port   (verified TLS)"
MAILFERRY_PASSWORD=demo ./build/mailferry probe --tls starttls --ca-file "$dc/ssl/ca.pem" "imap://demo@localhost:$port"

# Two-way sync into a Maildir under the current directory.
local_dir=$start_dir/mailferry-demo-mail
if [[ -e $local_dir && ! -e $local_dir/.mailferry-demo ]]; then
    echo "demo: $local_dir exists and was not made by the demo; move it away first" >&2
    exit 1
fi
rm -rf "$local_dir"
mkdir -p "$local_dir"
touch "$local_dir/.mailferry-demo"
sync() {
    MAILFERRY_PASSWORD=demo ./build/mailferry sync --remote "imap://demo@127.0.0.1:$port" \
        --local "maildir:$local_dir" --state "$scratch/state" -v
}
server_view() {
    "$top/tests/dovecot.sh" doveadm "$dc" -f tab fetch -u demo 'mailbox hdr.message-id flags' all |
        tail -n +2 | sed 's/ *\\Recent//; s/\t$//' | sort
}
local_view() { # the same three columns, read from the Maildir files
    local f box id info flags
    (cd "$local_dir" && find . -path '*/cur/*' -o -path '*/new/*') | sort | while read -r f; do
        box=${f#./}; box=${box%/*/*}
        id=$(grep -m1 -i '^message-id:' "$local_dir/$f" | sed 's/^[^:]*: *//' | tr -d '\r')
        info=${f##*:2,}; [[ $f == *:2,* ]] || info=
        flags=
        [[ $info == *R* ]] && flags+=" \\Answered"
        [[ $info == *F* ]] && flags+=" \\Flagged"
        [[ $info == *T* ]] && flags+=" \\Deleted"
        [[ $info == *S* ]] && flags+=" \\Seen"
        [[ $info == *D* ]] && flags+=" \\Draft"
        printf '%s\t%s\t%s\n' "$box" "$id" "${flags# }"
    done | sed 's/\t$//' | sort
}

echo
echo "== mailferry sync --local maildir:$local_dir   (first run: everything comes down)"
sync
echo
echo "== a change on each side"
echo "   server: \\Flagged on INBOX message 1, a new message in Archive"
"$top/tests/dovecot.sh" doveadm "$dc" flags add -u demo '\Flagged' mailbox INBOX uid 1
msg "Archive-new" "filed on the server" | "$top/tests/dovecot.sh" doveadm "$dc" save -u demo -m Archive
echo "   local:  INBOX message 2 read (file renamed :2,S), a new file in Work/Projects"
f=$(grep -rl 'INBOX-2@' "$local_dir/INBOX/new" "$local_dir/INBOX/cur" | head -1)
mv "$f" "$local_dir/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
msg "Projects-local" "written locally" | tr -d '\r' >"$local_dir/Work/Projects/new/$(date +%s).demo.local"
echo
echo "== mailferry sync   (second run: both changes travel)"
sync
echo
echo "== both sides, message by message (folder, Message-ID, flags)"
if diff <(server_view) <(local_view) >/dev/null; then
    server_view | sed 's/^/   /'
    echo "   -> the server and $local_dir agree"
else
    diff <(server_view) <(local_view) || true
    echo "demo: the two sides differ" >&2
    exit 1
fi
