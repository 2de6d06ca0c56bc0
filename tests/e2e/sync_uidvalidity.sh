#!/usr/bin/env bash
# sync_uidvalidity.sh — the server renumbers a mailbox (new UIDVALIDITY):
# no loss, no duplicate, the messages are re-paired by content and only the
# really new one is downloaded.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_uidvalidity
sync_user $u
seed_remote $u
sync_run $u "$T/mail" -q || mf_fail "first sync failed"
both_equal $u "$T/mail"
mf_doveadm mailbox update --uid-validity 777 -u $u INBOX
mf_msg "$u-after" "after renumbering" >"$T/m"; mf_deliver $u INBOX "$T/m"
uv=$(mf_status $u INBOX uidvalidity)
[[ $uv == 777 ]] || mf_fail "uidvalidity not changed: $uv"
out=$(sync_run $u "$T/mail" --json) || mf_fail "sync after renumbering failed: $out"
[[ $(json_field "$out" pull.copied) == 1 ]] || mf_fail "expected 1 download: $out"
[[ $(json_field "$out" push.copied) == 0 ]] || mf_fail "nothing to upload: $out"
[[ $(json_field "$out" repaired) -ge 4 ]] || mf_fail "expected 4 re-paired: $out"
both_equal $u "$T/mail"
out=$(sync_run $u "$T/mail" --json) || mf_fail "third sync failed: $out"
[[ $(json_field "$out" pull.copied) == 0 && $(json_field "$out" push.copied) == 0 ]] ||
    mf_fail "third sync copied: $out"
both_equal $u "$T/mail"
echo ok
