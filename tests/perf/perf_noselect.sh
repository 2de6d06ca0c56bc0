#!/usr/bin/env bash
# perf_noselect.sh — an unchanged mailbox is not opened: after a change in
# one folder on the server, the -vv protocol trace of the next sync shows a
# SELECT/EXAMINE of that folder only; a run with no change opens nothing.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../e2e/sync_lib.sh"
source "$(dirname "$0")/perf_lib.sh"
mf_require_dovecot
u=perf_noselect
sync_user $u
for f in INBOX Alpha Beta Gamma Lists/Delta; do
    for i in 1 2 3; do
        mf_msg "$u-$f-$i" "$f $i" >"$T/m"
        mf_deliver $u "$f" "$T/m"
    done
done
mf_doveadm flags add -u $u '\Seen' mailbox Alpha uid 1
run() { psync $u "$MF_IMAP_PORT" "$T/mail" "$T/state" "$@"; }

run -q || mf_fail "first sync failed"
settle
# the first run wrote every folder in its own second: one run to record
# settled markers, then the state the test starts from
run -q || mf_fail "second sync failed"
settle
run -vv >"$T/trace0" 2>&1 || mf_fail "idle sync failed: $(tail -5 "$T/trace0")"
[[ -z $(selected "$T/trace0") ]] ||
    mf_fail "an idle sync opened: $(selected "$T/trace0" | tr '\n' ' ')"
grep -q 'LIST-STATUS\|STATUS' "$T/trace0" || mf_fail "no bulk STATUS in the trace"

# one new message in Beta, a flag change in Lists/Delta (HIGHESTMODSEQ only)
mf_msg "$u-Beta-new" "Beta new" >"$T/m"
mf_deliver $u Beta "$T/m"
mf_doveadm flags add -u $u '\Flagged' mailbox Lists/Delta uid 2
run -vv >"$T/trace1" 2>&1 || mf_fail "sync after changes failed: $(tail -5 "$T/trace1")"
got=$(selected "$T/trace1" | tr '\n' ' ')
[[ $got == "Beta Lists/Delta " ]] || mf_fail "expected SELECT of Beta and Lists/Delta only, got: $got"
both_equal $u "$T/mail"
l=$(local_state "$T/mail")
has_msg "$l" Beta "$u-Beta-new" '' || mf_fail "Beta's new message missing locally"
has_msg "$l" Lists/Delta "$u-Lists/Delta-2" '\Flagged' || mf_fail "Delta flag not pulled"
# Beta's local folder was written in that run: its marker is not trusted yet,
# so one run opens it again and records a settled marker
settle
run -q || mf_fail "settling sync failed"

# and a local change alone opens only that folder (on both sides)
settle
f=$(grep -l "$u-Gamma-1@" "$T"/mail/Gamma/*/* | head -1)
case $f in
    */new/*) mv "$f" "$T/mail/Gamma/cur/$(basename "$f"):2,S" ;;
    *) mv "$f" "${f%%:2,*}:2,S" ;;
esac
run -vv >"$T/trace2" 2>&1 || mf_fail "sync after a local change failed"
got=$(selected "$T/trace2" | tr '\n' ' ')
[[ $got == "Gamma " ]] || mf_fail "expected SELECT of Gamma only, got: $got"
both_equal $u "$T/mail"
echo "ok: unchanged mailboxes are not selected"
