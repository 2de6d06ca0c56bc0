#!/usr/bin/env bash
# sync_kill.sh — a 2,000-message initial sync killed with SIGKILL at random
# moments (MAILFERRY_TEST_KILL_AFTER_BYTES), restarted until it completes:
# every message arrives exactly once, with its flags.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_kill
sync_user $u
server_corpus $u 250 :1200 Archive:500 Lists/Big:300
md=$("$MF_DOVECOT" maildir "$MF_DOVECOT_DIR" $u)
[[ $(mf_status $u INBOX messages) == 1200 ]] || mf_fail "corpus not indexed"
total=$(cat "$md"/cur/* "$md"/.*/cur/* | wc -c)
export MAILFERRY_TEST_BATCH=100
runs=0 kills=0
while :; do
    runs=$((runs + 1))
    [[ $runs -le 40 ]] || mf_fail "never completed"
    # kill at a random byte count within the first third of the corpus;
    # after 10 kills let a run finish
    at=$(( (RANDOM * 32768 + RANDOM) % (total / 3) + 1 ))
    [[ $kills -ge 10 ]] && at=0
    set +e
    MAILFERRY_TEST_KILL_AFTER_BYTES=$at sync_run $u "$T/mail" -q 2>"$T/err"
    rc=$?
    set -e
    [[ $rc == 0 ]] && break
    [[ $rc == 137 ]] || { cat "$T/err" >&2; mf_fail "run exited $rc"; }
    kills=$((kills + 1))
done
[[ $kills -ge 1 ]] || mf_fail "never killed"
both_equal $u "$T/mail"
n=$(local_state "$T/mail" | wc -l)
[[ $n == 2000 ]] || mf_fail "$n messages locally, not 2000"
[[ $(local_state "$T/mail" | cut -f2 | sort -u | wc -l) == 2000 ]] || mf_fail "duplicates"
echo "ok ($kills kills in $runs runs)"
