#!/usr/bin/env bash
# sync_crash.sh — the crash test. Traffic in both directions (downloads,
# uploads, flag changes); the channel is synced by runs that stop right
# after journal step N (MAILFERRY_TEST_STOP_AFTER=N, exit 86) for
# N = 1, 2, 3, ... each resuming where the previous one stopped, until a run
# completes. The result must equal an uninterrupted run on an identical
# account: same messages (Message-ID multiset) with the same flags on both
# sides, no loss, no duplicate.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot

setup() { # USER DIR
    local u=$1 d=$2 i
    sync_user $u
    for i in 1 2 3 4 5 6 7; do
        mf_msg "crash-in$i" "inbox $i" >"$T/m"; mf_deliver $u INBOX "$T/m"
    done
    for i in 1 2 3; do
        mf_msg "crash-sub$i" "sub $i" >"$T/m"; mf_deliver $u "Lists/Sub" "$T/m"
    done
    mf_doveadm flags add -u $u '\Seen' mailbox INBOX uid 1:3
    mf_doveadm flags add -u $u '\Flagged $Forwarded' mailbox INBOX uid 2
    for i in 1 2 3 4 5; do local_put "$d" INBOX "crash-local$i" S; done
    local_put "$d" Notes crash-note1 F
    local_put "$d" Notes crash-note2
}
# the second round: changes on both sides after a first full sync
change() { # USER DIR
    local u=$1 d=$2
    mf_msg "crash-late" "late" >"$T/m"; mf_deliver $u INBOX "$T/m"
    mf_doveadm flags add -u $u '\Answered' mailbox INBOX uid 4:6
    mf_doveadm expunge -u $u mailbox Lists/Sub uid 1
    local_put "$d" Notes crash-note3 S
    rm "$(grep -l "crash-in7@" "$d"/INBOX/*/* | head -1)"
}
state() { echo "R:"; remote_state "$1"; echo "L:"; local_state "$2"; }

export MAILFERRY_TEST_BATCH=2
ref=sync_crash_ref u=sync_crash
setup $ref "$T/ref"
sync_run $ref "$T/ref" -q --state "$T/ref-state" || mf_fail "reference sync failed"
change $ref "$T/ref"
sync_run $ref "$T/ref" -q --state "$T/ref-state" || mf_fail "reference sync 2 failed"
want=$(state $ref "$T/ref")

# interrupted() USER DIR STATE SWITCH: the two rounds, every run stopped by
# SWITCH=N (N = 1, 2, ...) until one completes; prints the final state.
interrupted() {
    local u=$1 d=$2 st=$3 sw=$4 round n rc
    setup $u "$d"
    for round in 1 2; do
        [[ $round == 2 ]] && change $u "$d"
        n=1
        while :; do
            set +e
            env "$sw=$n" MAILFERRY_PASSWORD=$u "$MF_BIN" sync \
                --remote "imap://$u@127.0.0.1:$MF_IMAP_PORT" --local "maildir:$d" \
                --state "$st" -q 2>"$T/err"
            rc=$?
            set -e
            [[ $rc == 0 ]] && break
            [[ $rc == 86 ]] || { cat "$T/err" >&2; mf_fail "$sw=$n exited $rc"; }
            n=$((n + 1)); total=$((total + 1))
            [[ $n -lt 200 ]] || mf_fail "never completes"
        done
        [[ $n -gt 2 ]] || mf_fail "round $round: too few points to interrupt ($sw, $n)"
    done
}
total=0
# 1. stop right after every journal step in turn
interrupted $u "$T/mail" "$T/st" MAILFERRY_TEST_STOP_AFTER
got=$(state $u "$T/mail")
if [[ "$got" != "$want" ]]; then
    diff <(echo "$want") <(echo "$got") >&2 || true
    mf_fail "runs stopped after journal steps differ from the uninterrupted one (< want, > got)"
fi
# 2. die right after every store flush, before the journal records it: the
#    copies that did land are found again by content, never sent twice
u2=sync_crash_flush
interrupted $u2 "$T/mail2" "$T/st2" MAILFERRY_TEST_CRASH_AFTER_FLUSH
got=$(state $u2 "$T/mail2")
if [[ "$got" != "$want" ]]; then
    diff <(echo "$want") <(echo "$got") >&2 || true
    mf_fail "runs killed after flushes differ from the uninterrupted one (< want, > got)"
fi
# (the sides differ by design only in the tombstone: in7 keeps \Deleted on the server)
echo "ok ($total interruptions)"
