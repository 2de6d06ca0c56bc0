#!/usr/bin/env bash
# sync_imap_imap.sh — IMAP<->IMAP between two Dovecot users, both ways.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
a=sync_ii_a b=sync_ii_b
sync_user $a
sync_user $b
seed_remote $a
mf_msg "$b-only" "only b" >"$T/m"; mf_deliver $b INBOX "$T/m"
echo "$b" >"$T/bpass"; chmod 600 "$T/bpass"
run() {
    MAILFERRY_PASSWORD=$a "$MF_BIN" sync --remote "imap://$a@127.0.0.1:$MF_IMAP_PORT" \
        --local "imap://$b@127.0.0.1:$MF_IMAP_PORT" --local-pass-file "$T/bpass" \
        --state "$T/state" "$@"
}
norm() { remote_state "$1" | sed "s/$a-\|$b-/X-/g"; }
out=$(run --json) || mf_fail "first sync failed: $out"
[[ $(json_field "$out" pull.copied) == 6 && $(json_field "$out" push.copied) == 1 ]] ||
    mf_fail "first sync: $out"
[[ "$(remote_state $a)" == "$(remote_state $b)" ]] ||
    { diff <(remote_state $a) <(remote_state $b) >&2; mf_fail "accounts differ"; }
mf_doveadm flags add -u $b '\Flagged' mailbox INBOX all
out=$(run --json) || mf_fail "second sync failed: $out"
[[ "$(remote_state $a)" == "$(remote_state $b)" ]] ||
    { diff <(remote_state $a) <(remote_state $b) >&2; mf_fail "accounts differ after flags"; }
out=$(run --json) || mf_fail "third sync failed: $out"
[[ $(json_field "$out" pull.copied) == 0 && $(json_field "$out" push.flags) == 0 ]] ||
    mf_fail "third sync not idle: $out"
echo ok
