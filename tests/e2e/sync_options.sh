#!/usr/bin/env bash
# sync_options.sh — the command line: --help and exit statuses (0 synced,
# 1 partly, 2 not at all; --json names the failure), --pull / --push limit the direction, --exclude,
# --max-size (skipped messages are counted), --layout maildir++; a run with
# other options than the last finds what that one left out.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_options
sync_user $u
seed_remote $u

"$MF_BIN" sync --help | grep -q "Exit status" || mf_fail "--help lacks the exit statuses"
set +e
"$MF_BIN" sync --remote "imap://$u@127.0.0.1:$MF_IMAP_PORT" >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || mf_fail "usage error exited $rc, not 2"
MAILFERRY_PASSWORD=wrong "$MF_BIN" sync --remote "imap://$u@127.0.0.1:$MF_IMAP_PORT" \
    --local "maildir:$T/bad" --state "$T/state" 2>"$T/err"; rc=$?
[[ $rc == 2 ]] || mf_fail "bad password exited $rc, not 2"
grep -qi "auth\|login" "$T/err" || mf_fail "no authentication error shown: $(cat "$T/err")"
# --json says the same on stdout, for a script (one object, the reason in "error")
out=$(MAILFERRY_PASSWORD=wrong "$MF_BIN" sync --remote "imap://$u@127.0.0.1:$MF_IMAP_PORT" \
    --local "maildir:$T/bad" --state "$T/state" --json 2>/dev/null); rc=$?
[[ $rc == 2 && $(json_field "$out" result) == failed ]] || mf_fail "--json failure: $rc $out"
json_field "$out" error | grep -qi "auth\|login" || mf_fail "--json error lacks the reason: $out"
MAILFERRY_PASSWORD=$u "$MF_BIN" sync --remote "imap://$u@example.invalid:143" \
    --tls none --local "maildir:$T/bad" --state "$T/state" 2>/dev/null; rc=$?
[[ $rc == 2 ]] || mf_fail "plaintext to a non-loopback host exited $rc, not 2"
set -e

# --pull only: a local message stays local
local_put "$T/mail" INBOX "$u-local"
out=$(sync_run $u "$T/mail" --pull --json) || mf_fail "pull failed: $out"
[[ $(json_field "$out" pull.copied) == 6 && $(json_field "$out" push.copied) == 0 ]] ||
    mf_fail "--pull: $out"
r=$(remote_state $u)
grep -q "$u-local" <<<"$r" && mf_fail "--pull uploaded"
# --push then uploads it
out=$(sync_run $u "$T/mail" --push --json) || mf_fail "push failed: $out"
[[ $(json_field "$out" push.copied) == 1 && $(json_field "$out" pull.copied) == 0 ]] ||
    mf_fail "--push: $out"
both_equal $u "$T/mail"

# --exclude and --max-size, into a Maildir++ tree
mf_msg "$u-big" "big" "$(head -c 20000 /dev/zero | tr '\0' x)" >"$T/m"
mf_deliver $u INBOX "$T/m"
out=$(sync_run $u "$T/pp" --layout maildir++ --exclude 'Lists/*' --max-size 10k --json \
      --state "$T/state2") || mf_fail "maildir++ sync failed: $out"
[[ $(json_field "$out" pull.copied) == 5 ]] || mf_fail "expected 5 (INBOX minus big): $out"
[[ $(json_field "$out" pull.skipped) -ge 1 ]] || mf_fail "big message not counted as skipped: $out"
[[ -d $T/pp/cur && ! -e $T/pp/.Lists.Sub ]] || mf_fail "Maildir++ layout or --exclude wrong"
l=$(local_state "$T/pp" maildir++)
grep -q "$u-big" <<<"$l" && mf_fail "--max-size did not skip"
grep -q "$u-in1" <<<"$l" || mf_fail "INBOX not in the Maildir++ root: $l"

# a run with other options finds what earlier ones left out, though the
# journal's markers are past it: a server message that arrived before a
# --push run, once the run is two-way again; the big message, once
# --max-size is dropped
mf_msg "$u-during-push" "x" >"$T/m"
mf_deliver $u INBOX "$T/m"
out=$(sync_run $u "$T/mail" --push --json) || mf_fail "push failed: $out"
[[ $(json_field "$out" pull.copied) == 0 ]] || mf_fail "--push pulled: $out"
sync_run $u "$T/mail" -q || mf_fail "two-way sync after --push failed"
grep -q "$u-during-push" <<<"$(local_state "$T/mail")" ||
    mf_fail "a message that arrived before a --push run was never pulled"
both_equal $u "$T/mail"
sync_run $u "$T/pp" --layout maildir++ --exclude 'Lists/*' --state "$T/state2" -q ||
    mf_fail "maildir++ sync without --max-size failed"
grep -q "$u-big" <<<"$(local_state "$T/pp" maildir++)" ||
    mf_fail "the big message was not pulled once --max-size was dropped"

# TLS: implicit TLS and STARTTLS verified against the test CA; the same
# account under another URL is a new channel, paired by content (no copy)
if [[ -n ${MF_IMAPS_PORT:-} && -n ${MF_TEST_CA:-} ]]; then
    out=$(MAILFERRY_PASSWORD=$u "$MF_BIN" sync --remote "imaps://$u@localhost:$MF_IMAPS_PORT" \
          --ca-file "$MF_TEST_CA" --local "maildir:$T/tls" --state "$T/tls-state" --json) ||
        mf_fail "imaps sync failed: $out"
    [[ $(json_field "$out" pull.copied) -ge 6 ]] || mf_fail "imaps: $out"
    out=$(MAILFERRY_PASSWORD=$u "$MF_BIN" sync --remote "imap://$u@localhost:$MF_IMAP_PORT" \
          --tls starttls --ca-file "$MF_TEST_CA" --local "maildir:$T/tls" \
          --state "$T/tls-state" --json) || mf_fail "starttls sync failed: $out"
    [[ $(json_field "$out" pull.copied) == 0 && $(json_field "$out" push.copied) == 0 ]] ||
        mf_fail "starttls: copied again: $out"
    set +e
    MAILFERRY_PASSWORD=$u "$MF_BIN" sync --remote "imaps://$u@127.0.0.1:$MF_IMAPS_PORT" \
        --ca-file "$MF_TEST_CA" --local "maildir:$T/tls2" --state "$T/tls-state" 2>/dev/null
    rc=$?
    set -e
    [[ $rc == 2 ]] || mf_fail "a certificate for another name was accepted (exit $rc)"
fi
echo ok
