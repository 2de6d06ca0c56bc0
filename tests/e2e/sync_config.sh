#!/usr/bin/env bash
# sync_config.sh — channels from a config file: two accounts synced by one
# `sync --all` (defaults applied, a "~/" path under $HOME, repeatable
# options repeated), one channel by name with a command-line option that
# overrides the file's, one JSON line per channel, and the worst exit status
# when one channel cannot connect while the other still syncs; the login
# mechanism chosen per channel (auth = plain) or on the command line. A file that
# others may write is refused before anything runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
a=sync_config_a
b=sync_config_b
sync_user $a
sync_user $b
server_corpus $a 400 :20 Work:10 Spam:5
server_corpus $b 400 :15 Travel:8

export HOME=$T/home
mkdir -p "$HOME/.config/mailferry"
printf '%s\n' $a >"$T/pa"
printf '%s\n' $b >"$T/pb"
chmod 600 "$T/pa" "$T/pb"
cfg=$HOME/.config/mailferry/config
cat >"$cfg" <<CFG
# two accounts
[defaults]
state = $T/state
jobs = 2
exclude = Spam

[channel alpha]
remote = imap://$a@127.0.0.1:$MF_IMAP_PORT
local = maildir:~/Mail/alpha
pass-file = $T/pa

[channel beta]
remote = imap://$b@127.0.0.1:$MF_IMAP_PORT
local = maildir:$T/beta
pass-file = $T/pb
exclude = Travel
auth = plain
CFG
chmod 600 "$cfg"

"$MF_BIN" sync --all -q || mf_fail "sync --all failed"
la=$(local_state "$HOME/Mail/alpha")
lb=$(local_state "$T/beta")
[[ $(wc -l <<<"$la") == 30 ]] || mf_fail "alpha: $(wc -l <<<"$la") messages, not 30 (Spam excluded)"
grep -q '^Spam' <<<"$la" && mf_fail "alpha: the defaults' exclude was not applied"
[[ $(wc -l <<<"$lb") == 15 ]] || mf_fail "beta: $(wc -l <<<"$lb") messages, not 15 (Spam, Travel excluded)"

# by name, with a command-line option after the file's: a push-only run
# leaves the server's new message where it is and pushes the local one
mf_msg "$a-late" "late" >"$T/m"
mf_deliver $a INBOX "$T/m"
local_put "$HOME/Mail/alpha" INBOX "$a-local"
out=$("$MF_BIN" sync --push --json alpha) || mf_fail "sync alpha --push failed: $out"
[[ $(wc -l <<<"$out") == 1 ]] || mf_fail "expected one JSON line: $out"
[[ $(json_field "$out" channel) == alpha ]] || mf_fail "no channel in the JSON: $out"
has_msg "$(remote_state $a)" INBOX "$a-local" '' || mf_fail "--push did not push"
has_msg "$(local_state "$HOME/Mail/alpha")" INBOX "$a-late" '' && mf_fail "--push pulled"

# every channel, JSON lines in the file's order; then alpha agrees
out=$("$MF_BIN" sync --all --json --config "$cfg") || mf_fail "second --all failed: $out"
[[ $(sed -n 's/.*"channel":"\([a-z]*\)".*/\1/p' <<<"$out" | tr '\n' ' ') == "alpha beta " ]] ||
    mf_fail "JSON lines: $out"
has_msg "$(local_state "$HOME/Mail/alpha")" INBOX "$a-late" '' || mf_fail "the late message not pulled"

# the login mechanism: the best offered (the fixture's Dovecot offers
# SCRAM-SHA-256) unless a channel or the command line names one
for ch in alpha:SCRAM-SHA-256 beta:PLAIN; do
    "$MF_BIN" sync -vv "${ch%:*}" 2>"$T/tr" >/dev/null || mf_fail "sync ${ch%:*} -vv failed"
    grep -q "> A1 AUTHENTICATE ${ch#*:} <redacted>" "$T/tr" ||
        mf_fail "${ch%:*}: $(grep -m3 '> A1' "$T/tr")"
done
"$MF_BIN" sync -vv --auth login beta 2>"$T/tr" >/dev/null || mf_fail "--auth login failed"
grep -q '> A1 LOGIN <redacted>' "$T/tr" || mf_fail "--auth login: $(grep -m3 '> A1' "$T/tr")"
set +e
"$MF_BIN" sync --auth cram-md5 beta 2>"$T/err"
rc=$?
set -e
(( rc == 2 )) && grep -q "unknown authentication mechanism 'cram-md5'" "$T/err" ||
    mf_fail "--auth cram-md5: exit $rc: $(cat "$T/err")"

# a channel that cannot connect: the other still syncs, the status is 2
cat >>"$cfg" <<CFG

[channel broken]
remote = imap://$a@127.0.0.1:1
local = maildir:$T/broken
pass-file = $T/pa
CFG
mf_msg "$b-late" "late" >"$T/m"
mf_deliver $b INBOX "$T/m"
set +e
"$MF_BIN" sync broken beta -q 2>"$T/err"
rc=$?
set -e
(( rc == 2 )) || mf_fail "exit $rc with one channel failing, not 2"
grep -q 'mailferry \[broken\]' "$T/err" || mf_fail "the error does not name the channel: $(cat "$T/err")"
has_msg "$(local_state "$T/beta")" INBOX "$b-late" '' || mf_fail "beta did not sync after broken failed"

# a file others may write is refused, nothing runs
chmod 666 "$cfg"
set +e
"$MF_BIN" sync --all 2>"$T/err"
rc=$?
set -e
(( rc == 2 )) && grep -q 'writable by group or others' "$T/err" ||
    mf_fail "a world-writable config was not refused (exit $rc): $(cat "$T/err")"
echo "ok: channels from the config file"
