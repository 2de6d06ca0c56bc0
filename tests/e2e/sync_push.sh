#!/usr/bin/env bash
# sync_push.sh — initial push of a Maildir into an empty account (folders
# created on the server, flags preserved), then nothing to do.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_push
sync_user $u
local_put "$T/mail" INBOX p1
local_put "$T/mail" INBOX p2 S
local_put "$T/mail" INBOX p3 FS
local_put "$T/mail" Archive/2023 p4 RS
local_put "$T/mail" Drafts p5 D
out=$(sync_run $u "$T/mail" --json) || mf_fail "first sync failed: $out"
[[ $(json_field "$out" push.copied) == 5 ]] || mf_fail "expected 5 uploaded: $out"
[[ $(json_field "$out" pull.copied) == 0 ]] || mf_fail "nothing to download: $out"
both_equal $u "$T/mail"
out=$(sync_run $u "$T/mail" --json) || mf_fail "second sync failed: $out"
[[ $(json_field "$out" push.copied) == 0 && $(json_field "$out" pull.copied) == 0 ]] ||
    mf_fail "second sync copied: $out"
both_equal $u "$T/mail"
echo ok
