#!/usr/bin/env bash
# sync_window_expunge.sh — messages expunged on the server while a first
# sync lists and fetches a 5,000-message mailbox a window at a time (2,000
# UIDs each): the run is stopped (SIGSTOP) once about 1,000 messages are
# local, Dovecot expunges some already fetched, some listed in the current
# window and some in windows not listed yet, and the run goes on. It must
# end without error, with no message twice; the next run removes locally
# what was expunged after being fetched, and both sides then agree.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_window_expunge
sync_user $u
server_corpus $u 1000 :5000
[[ $(mf_status $u INBOX messages) == 5000 ]] || mf_fail "corpus not indexed"

local_count() { find "$T/mail" -type f \( -path '*/cur/*' -o -path '*/new/*' \) 2>/dev/null | wc -l; }
MAILFERRY_TEST_BATCH=50 sync_run $u "$T/mail" --jobs 1 -vv 2>"$T/run1.err" &
pid=$!
stopped=0
for i in $(seq 3000); do
    kill -0 $pid 2>/dev/null || break
    if [[ $(local_count) -ge 1000 ]]; then
        kill -STOP $pid && stopped=1
        break
    fi
    sleep 0.01
done
[[ $stopped == 1 ]] || { wait $pid || true; mf_fail "the first sync was never stopped halfway"; }
got=$(local_count)
[[ $got -lt 5000 ]] || mf_fail "all $got messages were local already"
grep -q "window of" "$T/run1.err" || mf_fail "the first sync was not windowed"
# fetched already (UIDs 1..200), in the first window, and in windows not listed yet
mf_doveadm expunge -u $u mailbox INBOX uid 1:200 >/dev/null
mf_doveadm expunge -u $u mailbox INBOX uid 1500:1600 >/dev/null
mf_doveadm expunge -u $u mailbox INBOX uid 2500:2700 >/dev/null
mf_doveadm expunge -u $u mailbox INBOX uid 4900:5000 >/dev/null
kill -CONT $pid
wait $pid || { cat "$T/run1.err" >&2; mf_fail "the first sync failed after the expunges"; }
dups=$(local_state "$T/mail" | cut -f2 | sort | uniq -d | head -3)
[[ -z $dups ]] || mf_fail "duplicates after the first run: $dups"
sync_run $u "$T/mail" -q
both_equal $u "$T/mail"
n=$(local_state "$T/mail" | wc -l)
[[ $n == $((5000 - 200 - 101 - 201 - 101)) ]] || mf_fail "$n messages locally"
echo "ok (stopped with $got of 5000 local)"
