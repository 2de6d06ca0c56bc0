# shellcheck shell=bash
# tests/e2e/lib.sh — helpers for end-to-end shell tests (sourced, not run).
#
# The fixture comes from tests/check.sh through the environment:
#   MF_DOVECOT_DIR MF_IMAP_PORT MF_IMAPS_PORT MF_TEST_CA MF_DOVECOT MF_BIN
# Each test makes its own users (mf_user) and its own scratch dir ($T).
set -euo pipefail

mf_fail() { echo "FAIL: $*" >&2; exit 1; }

# Exit 77 (meson: skipped) when run outside tests/check.sh.
mf_require_dovecot() {
    if [[ -z ${MF_DOVECOT_DIR:-} || -z ${MF_IMAP_PORT:-} || -z ${MF_BIN:-} ]]; then
        echo "no Dovecot fixture (run tests/check.sh)" >&2
        exit 77
    fi
    T=$(mktemp -d "${TMPDIR:-/tmp}/mf-e2e.XXXXXX")
    export T
    trap 'rm -rf "$T"' EXIT
}

mf_doveadm() { "$MF_DOVECOT" doveadm "$MF_DOVECOT_DIR" "$@"; }

# mf_user NAME: a fresh user NAME with password NAME (its mail is wiped).
mf_user() {
    local maildir
    maildir=$("$MF_DOVECOT" maildir "$MF_DOVECOT_DIR" "$1")
    rm -rf "$maildir"
    "$MF_DOVECOT" adduser "$MF_DOVECOT_DIR" "$1" "$1"
}

# mf_msg ID SUBJECT [BODY]: an RFC 5322 message (CRLF) with Message-ID <ID@test>.
mf_msg() {
    local id=$1 subject=$2 body=${3:-"Body of $1."}
    printf 'From: Alice <alice@test>\r\nTo: Bob <bob@test>\r\nSubject: %s\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\nMessage-ID: <%s@test>\r\n\r\n%s\r\n' \
        "$subject" "$id" "$body"
}

# mf_deliver USER FOLDER FILE: store FILE into USER's FOLDER (created if needed).
mf_deliver() {
    mf_doveadm mailbox create -u "$1" "$2" 2>/dev/null || true
    mf_doveadm save -u "$1" -m "$2" <"$3"
}

# mf_status USER FOLDER FIELD: one STATUS figure as doveadm reports it.
mf_status() {
    mf_doveadm -f flow mailbox status -u "$1" "$3" "$2" | sed -n "s/.*$3=\([0-9]*\).*/\1/p"
}

# mf_imap_url USER: the plain loopback URL of USER.
mf_imap_url() { echo "imap://$1@127.0.0.1:$MF_IMAP_PORT"; }
