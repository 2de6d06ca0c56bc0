#!/usr/bin/env bash
# sync_jobs_limit.sh — a server that allows 2 sessions per user and IP
# (mail_max_userip_connections = 2 in a `protocol imap` block, which
# overrides the fixture's) and `--jobs 4`: a worker refused at login takes
# nothing, the others (at worst the parent alone) sync every mailbox; exit
# 0, both sides equal. A second Dovecot instance serves the fixture's mail.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
source "$(dirname "$0")/sync_jobs_lib.sh"
source "$(dirname "$0")/../perf/perf_lib.sh"
mf_require_dovecot
u=sync_jobs_limit
sync_user $u
server_corpus $u 3000 :40 Archive:60 Lists/Big:50 Lists/Small:10 Work:30 Travel:20

d2=$T/dc2-limit # unique base name: it is the instance name
chmod 755 "$T" # Dovecot's processes run as an unprivileged user
trap 'stop_second_dovecot "$d2"; rm -rf "$T"' EXIT
port2=$(MF_DOVECOT_EXTRA_CONF="protocol imap {
  mail_max_userip_connections = 2
}" second_dovecot "$d2") ||
    mf_fail "cannot start a second Dovecot"
"$MF_DOVECOT" adduser "$d2" $u $u "maildir:$("$MF_DOVECOT" maildir "$MF_DOVECOT_DIR" $u)"
for i in $(seq 1 20); do
    "$MF_DOVECOT" doveadm "$d2" auth test $u $u >/dev/null 2>&1 && break
    sleep 0.3
    touch "$d2/passwd"
done

# one session held open by the test: with ours, the limit is reached, so
# every worker is refused at login and this process syncs everything
exec 5<>"/dev/tcp/127.0.0.1/$port2"
printf 'h1 LOGIN %s %s\r\n' $u $u >&5
while IFS= read -r -t 10 line <&5; do
    [[ $line == h1\ OK* ]] && break
    [[ $line == h1\ * ]] && mf_fail "holding session refused: $line"
done
jsync $u "$port2" "$T/mail" "$T/state" --jobs 4 -vv >"$T/tr" 2>&1 ||
    mf_fail "--jobs 4 with every worker refused failed: $(grep -v '^[<>] ' "$T/tr" | tail -5)"
w=$(workers "$T/tr")
# The second login made at the start (it shares the STATUS work, then
# serves the first worker) races ours past Dovecot's count: it may get in.
[[ $w == "0 of 3" || $w == "1 of 3" ]] ||
    mf_fail "expected at most 1 of 3 extra workers to connect, got '$w'"
grep -q 'other workers take its mailboxes' "$T/tr" || mf_fail "a refused worker was not reported"
both_equal $u "$T/mail"
[[ $(local_state "$T/mail" | wc -l) == 210 ]] || mf_fail "not every message arrived"
printf 'h2 LOGOUT\r\n' >&5
exec 5<&-

# without the held session: some workers get in, the rest are refused
for f in INBOX Archive Lists/Big Work Travel; do
    mf_msg "$u-late-$f" "late" >"$T/m"
    mf_deliver $u "$f" "$T/m"
done
local_put "$T/mail" Lists/Small "$u-local-1" S
jsync $u "$port2" "$T/mail" "$T/state" --jobs 4 -vv >"$T/tr2" 2>&1 ||
    mf_fail "second run failed: $(grep -v '^[<>] ' "$T/tr2" | tail -5)"
both_equal $u "$T/mail"
[[ $(local_state "$T/mail" | wc -l) == 216 ]] || mf_fail "not every message arrived"
echo "ok: --jobs 4 under a 2-connection limit synced everything (then $(workers "$T/tr2"))"
