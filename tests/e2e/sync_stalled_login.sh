#!/usr/bin/env bash
# sync_stalled_login.sh — a server that accepts a connection and never
# greets it (a full connection table, a stuck login process), played by
# stall_proxy.py in front of the real Dovecot. With --jobs 3 the run makes
# two logins (the second once the first is in, or after 0.3 s if it is not)
# and forks workers that make their own: whichever of them stalls must cost
# the 2 s grace given to the second of the two first logins (plus those
# 0.3 s), or nothing at all for a worker once the queue is empty, never the
# 120 s read timeout; and the run still syncs everything and exits 0.
# Both orders: the first connection relayed and every later one held
# (the aide or the first connection, and every worker, stall), then the
# first one held and the rest relayed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
source "$(dirname "$0")/sync_jobs_lib.sh"
mf_require_dovecot
u=sync_stalled_login
sync_user $u
server_corpus $u 500 :30 Archive:20 Work:20 Travel:10

proxy_pid=
stop_proxy() { [[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null; wait 2>/dev/null; proxy_pid=; }
trap 'stop_proxy; rm -rf "$T"' EXIT

# start_proxy MODE: sets PP (its port)
start_proxy() {
    coproc PROXY { exec python3 "$(dirname "$0")/stall_proxy.py" "$1" "$MF_IMAP_PORT"; }
    proxy_pid=$PROXY_PID
    read -r -t 10 PP <&"${PROXY[0]}" || mf_fail "stall_proxy.py did not start"
}

n=0
for mode in relay-first stall-first; do
    n=$((n + 1))
    start_proxy $mode
    if (( n == 2 )); then # a change for the second run to carry
        mf_msg "$u-late" "late" >"$T/m"
        mf_deliver $u Work "$T/m"
    fi
    t0=$(date +%s)
    MAILFERRY_PASSWORD=$u timeout 100 "$MF_BIN" sync --remote "imap://$u@127.0.0.1:$PP" \
        --local "maildir:$T/mail" --state "$T/state" --jobs 3 -vv >"$T/tr$n" 2>&1
    rc=$?
    took=$(( $(date +%s) - t0 ))
    stop_proxy
    (( rc == 0 )) || mf_fail "$mode: exit $rc after ${took}s: $(grep -v '^ *[0-9.]* [0-9]* [<>] ' "$T/tr$n" | tail -5)"
    (( took < 30 )) || mf_fail "$mode: a stalled login held the run for ${took}s"
    both_equal $u "$T/mail"
    grep -q 'mailferry: error' "$T/tr$n" && mf_fail "$mode: errors: $(grep 'mailferry: error' "$T/tr$n")"
    echo "$mode: ${took}s, $(workers "$T/tr$n") extra workers connected"
done
[[ $(local_state "$T/mail" | wc -l) == 81 ]] || mf_fail "not every message arrived"
echo "ok: stalled logins cost no timeout, both runs synced everything"
