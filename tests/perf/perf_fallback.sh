#!/usr/bin/env bash
# perf_fallback.sh MODE — the same result through the fallback paths. A
# second Dovecot instance serves the SAME mail as the fixture's (the user's
# mail location points at it) with a cut-down capability list:
#   none       no CONDSTORE, QRESYNC, LIST-STATUS: full UID/flag listings,
#              pipelined STATUS, every mailbox opened at every run
#   condstore  CONDSTORE without QRESYNC: CHANGEDSINCE deltas plus an
#              expunge check, no VANISHED
# Flag changes, expunges and new messages between runs must give the same
# Maildir as a sync from scratch (through the fallback server and through
# the full-featured fixture) and as the server.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../e2e/sync_lib.sh"
source "$(dirname "$0")/perf_lib.sh"
mf_require_dovecot
mode=${1:-none}
u=perf_fallback_$mode
caps='IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS LIST-EXTENDED SPECIAL-USE MOVE UNSELECT CHILDREN ESEARCH'
case $mode in
    none) ;;
    condstore) caps="$caps CONDSTORE" ;;
    *) mf_fail "unknown mode '$mode'" ;;
esac
sync_user $u
seed_folders $u 10
mf_doveadm flags add -u $u '\Seen' mailbox INBOX uid 1:5
mf_doveadm flags add -u $u '\Flagged $Work' mailbox Work uid 2:4

# the second instance: same mail, fewer capabilities
d2=$T/dc2-$mode # unique base name: it is the instance name
chmod 755 "$T" # Dovecot's processes run as an unprivileged user
trap 'stop_second_dovecot "$d2"; rm -rf "$T"' EXIT
port2=$(MF_DOVECOT_EXTRA_CONF="imap_capability = $caps" second_dovecot "$d2") ||
    mf_fail "cannot start a second Dovecot"
"$MF_DOVECOT" adduser "$d2" $u $u "maildir:$("$MF_DOVECOT" maildir "$MF_DOVECOT_DIR" $u)"
run() { psync $u "$port2" "$T/mail" "$T/state" "$@"; }

# check_trace FILE WHAT: the client used only what the server offered
check_trace() {
    local tr=$1 cmds
    cmds=$(commands "$tr")
    grep -q 'CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE' "$tr" ||
        mf_fail "$2: the second server does not show the cut-down capabilities"
    grep -q 'QRESYNC\|VANISHED' <<<"$cmds" && mf_fail "$2: QRESYNC used: $cmds"
    grep -q 'RETURN (.*STATUS' <<<"$cmds" && mf_fail "$2: LIST-STATUS used: $cmds"
    grep -q '^STATUS ' <<<"$cmds" || mf_fail "$2: no pipelined STATUS: $cmds"
    if [[ $mode == none ]]; then
        grep -q 'CHANGEDSINCE\|MODSEQ\|CONDSTORE' <<<"$cmds" && mf_fail "$2: CONDSTORE used: $cmds"
        # every mailbox is opened and listed in full (no modseq to skip by)
        [[ $(selected "$tr" | tr '\n' ' ') == "INBOX Lists/Big Work " ]] ||
            mf_fail "$2: expected every mailbox opened, got: $(selected "$tr" | tr '\n' ' ')"
    fi
    return 0
}

run -vv >"$T/trace0" 2>&1 || mf_fail "first sync failed: $(tail -5 "$T/trace0")"
check_trace "$T/trace0" "first run"
both_equal $u "$T/mail"

round() {
    local tr=$T/trace$1
    run -vv >"$tr" 2>&1 || mf_fail "round $1: sync failed: $(tail -5 "$tr")"
    check_trace "$tr" "round $1"
    if [[ $mode == condstore ]]; then
        commands "$tr" | grep -q 'CHANGEDSINCE' || mf_fail "round $1: no CHANGEDSINCE delta"
    fi
    both_equal $u "$T/mail"
}

# round 1: a flag-only change (invisible to STATUS counters), expunges, new mail
mf_doveadm flags add -u $u '\Answered $Later' mailbox INBOX uid 7:8
mf_doveadm flags remove -u $u '\Seen' mailbox INBOX uid 2
mf_doveadm flags remove -u $u '\Flagged' mailbox Work uid 3
mf_doveadm expunge -u $u mailbox INBOX uid 3:4
mf_doveadm expunge -u $u mailbox Lists/Big uid 10
mf_msg "$u-new1" "new one" >"$T/m"
mf_deliver $u Lists/Big "$T/m"
round 1
# round 2: flags only, in one folder
mf_doveadm flags replace -u $u '\Draft' mailbox Work uid 4
mf_doveadm flags add -u $u '\Deleted' mailbox Work uid 6
round 2
# round 3: expunges only (the count shrinks, UIDNEXT does not move)
mf_doveadm expunge -u $u mailbox Work uid 1
mf_doveadm expunge -u $u mailbox Lists/Big uid 11
round 3

# from scratch, through the fallback server and through the fixture
psync $u "$port2" "$T/full2" "$T/state-full2" -q || mf_fail "fallback sync from scratch failed"
psync $u "$MF_IMAP_PORT" "$T/full1" "$T/state-full1" -q || mf_fail "fixture sync from scratch failed"
inc=$(local_state "$T/mail")
same_state "$inc" "$(local_state "$T/full2")" "incremental and from-scratch (fallback) differ"
same_state "$inc" "$(local_state "$T/full1")" "fallback and QRESYNC from-scratch differ"
has_msg "$inc" INBOX "$u-INBOX-2" '' || mf_fail "INBOX-2 \\Seen not cleared"
has_msg "$inc" INBOX "$u-INBOX-8" '$Later \Answered' || mf_fail "INBOX-8 flags wrong"
has_msg "$inc" Work "$u-Work-4" '\Draft' || mf_fail "Work-4 flags wrong"
has_msg "$inc" Work "$u-Work-6" '\Deleted' || mf_fail "Work-6 not \\Deleted"
for gone in INBOX-3 INBOX-4 Work-1 Lists/Big-10 new1; do
    grep -q "<$u-$gone@" <<<"$inc" && mf_fail "$gone still present locally"
done
[[ $(wc -l <<<"$inc") -eq 26 ]] || mf_fail "expected 26 messages locally, got $(wc -l <<<"$inc")"
echo "ok: fallback ($mode) equals a full resync"
