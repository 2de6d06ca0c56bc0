#!/usr/bin/env bash
# sync_prefilled.sh — first sync into a Maildir that already holds copies of
# the server's messages (an earlier copy, another tool): paired by content,
# no duplicates on either side; only the rest is copied.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_prefilled
sync_user $u
seed_remote $u
# the same messages, as files, plus one only the Maildir has
for i in 1 2 3; do
    mkdir -p "$T/mail/INBOX/cur" "$T/mail/INBOX/new" "$T/mail/INBOX/tmp"
    mf_msg "$u-in$i" "inbox $i" | tr -d '\r' >"$T/mail/INBOX/cur/100$i.M1P1.old:2,S"
done
local_put "$T/mail" INBOX "$u-only-local"
out=$(sync_run $u "$T/mail" --json) || mf_fail "first sync failed: $out"
[[ $(json_field "$out" pull.copied) == 3 ]] || mf_fail "expected 3 down (in4, sub1, sub2): $out"
[[ $(json_field "$out" push.copied) == 1 ]] || mf_fail "expected 1 up: $out"
[[ $(json_field "$out" repaired) == 3 ]] || mf_fail "expected 3 paired: $out"
both_equal $u "$T/mail"
echo ok
