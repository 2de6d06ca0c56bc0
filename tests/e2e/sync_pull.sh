#!/usr/bin/env bash
# sync_pull.sh — initial pull of an account into an empty Maildir, then a
# second run that finds nothing to do.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_pull
sync_user $u
seed_remote $u
out=$(sync_run $u "$T/mail" --json) || mf_fail "first sync failed: $out"
[[ $(json_field "$out" pull.copied) == 6 ]] || mf_fail "expected 6 copied: $out"
both_equal $u "$T/mail"
[[ -f $T/mail/INBOX/dovecot-keywords ]] || mf_fail "keyword file missing"
out=$(sync_run $u "$T/mail" --json) || mf_fail "second sync failed: $out"
[[ $(json_field "$out" pull.copied) == 0 && $(json_field "$out" push.copied) == 0 ]] ||
    mf_fail "second sync copied: $out"
[[ $(json_field "$out" pull.flags) == 0 && $(json_field "$out" push.flags) == 0 ]] ||
    mf_fail "second sync changed flags: $out"
both_equal $u "$T/mail"
echo ok
