#!/usr/bin/env bash
# sync_rename.sh — a mailbox renamed on one side is renamed on the other
# (recognised by its identity and its messages), nothing is transferred.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_rename
sync_user $u
seed_remote $u
sync_run $u "$T/mail" -q || mf_fail "first sync failed"
# renamed on the server
mf_doveadm mailbox rename -u $u Lists/Sub Lists/Renamed
out=$(sync_run $u "$T/mail" --json) || mf_fail "sync after server rename failed: $out"
[[ $(json_field "$out" renamed) == 1 ]] || mf_fail "no rename: $out"
[[ $(json_field "$out" pull.copied) == 0 && $(json_field "$out" push.copied) == 0 ]] ||
    mf_fail "a rename transferred messages: $out"
[[ -d $T/mail/Lists/Renamed/cur && ! -e $T/mail/Lists/Sub/cur ]] || mf_fail "local folder not renamed"
both_equal $u "$T/mail"
# renamed locally
mv "$T/mail/Lists/Renamed" "$T/mail/Moved"
out=$(sync_run $u "$T/mail" --json) || mf_fail "sync after local rename failed: $out"
[[ $(json_field "$out" renamed) == 1 ]] || mf_fail "no rename: $out"
[[ $(json_field "$out" pull.copied) == 0 && $(json_field "$out" push.copied) == 0 ]] ||
    mf_fail "a rename transferred messages: $out"
both_equal $u "$T/mail"
r=$(remote_state $u)
grep -q $'^Moved\t' <<<"$r" || mf_fail "server folder not renamed"
echo ok
