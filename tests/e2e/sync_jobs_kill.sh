#!/usr/bin/env bash
# sync_jobs_kill.sh — SIGKILL of the parent during a --jobs 3 initial pull:
# its workers die with it (no process is left running), and the next runs
# complete with every message exactly once, with its flags. Twice, at two
# different moments, then a run to completion.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
source "$(dirname "$0")/sync_jobs_lib.sh"
mf_require_dovecot
u=sync_jobs_kill
sync_user $u
server_corpus $u 20000 :300 Archive:400 Lists/Big:300 Work:250 Travel:150
total=1400
P=$MF_IMAP_PORT
export MAILFERRY_TEST_BATCH=20 # more group commits: a longer run to kill in

# alive PID: the process exists and is not a zombie
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

files() { { find "$T/mail" -path '*/cur/*' -o -path '*/new/*' 2>/dev/null || true; } | wc -l; }

for round in 1 2; do
    before=$(files)
    # the binary itself in the background (not a function: $! is its pid)
    MAILFERRY_PASSWORD=$u "$MF_BIN" sync --remote "imap://$u@127.0.0.1:$P" \
        --local "maildir:$T/mail" --state "$T/state" --jobs 3 -q 2>"$T/err$round" &
    pid=$!
    kids=""
    # wait until the workers run and some messages have arrived in this run
    for i in $(seq 1 400); do
        kids=$(pgrep -P $pid | tr '\n' ' ' || true)
        [[ -n $kids && $(files) -gt $before ]] && break
        alive $pid || break
        sleep 0.01
    done
    alive $pid || mf_fail "round $round: the sync ended before it could be killed"
    [[ -n $kids ]] || mf_fail "round $round: no worker processes"
    kill -9 $pid
    wait $pid 2>/dev/null || true
    for i in $(seq 1 100); do
        left=""
        for k in $kids; do alive "$k" && left="$left $k"; done
        [[ -z $left ]] && break
        sleep 0.05
    done
    [[ -z $left ]] || mf_fail "round $round: workers left running:$left"
    n=$(files)
    [[ $n -lt $total ]] || mf_fail "round $round: killed too late ($n messages)"
    echo "round $round: killed with $n of $total messages, workers $kids gone"
done

jsync $u "$P" "$T/mail" "$T/state" --jobs 3 -q || mf_fail "the run after the kills failed"
both_equal $u "$T/mail"
l=$(local_state "$T/mail")
[[ $(wc -l <<<"$l") == "$total" ]] || mf_fail "$(wc -l <<<"$l") messages locally, not $total"
[[ $(cut -f2 <<<"$l" | sort -u | wc -l) == "$total" ]] || mf_fail "duplicates"
jsync $u "$P" "$T/mail" "$T/state" --jobs 3 --json >"$T/json" || mf_fail "a further run failed"
[[ $(json_field "$(cat "$T/json")" pull.copied) == 0 ]] || mf_fail "a further run copied again"
echo "ok: killed twice, converged"
