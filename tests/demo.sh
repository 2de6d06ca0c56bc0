#!/usr/bin/env bash
# tests/demo.sh — mailferry on a built-in default: installs what is missing,
# builds build/mailferry, starts a throwaway Dovecot seeded with a few folders
# of mail, and runs mailferry against it. Everything it starts is stopped at
# exit; the server's files live in a temporary folder.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd -P)
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
        "$2" "$(( $1 % 60 ))" "$1" "$1"
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

echo "== mailferry probe imap://demo@127.0.0.1:$port"
MAILFERRY_PASSWORD=demo ./build/mailferry probe "imap://demo@127.0.0.1:$port"
