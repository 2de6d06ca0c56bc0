#!/usr/bin/env bash
# perf_noselect.sh — an unchanged mailbox is not opened: after a change in
# one folder on the server, the -vv protocol trace of the next sync shows a
# SELECT/EXAMINE of that folder only; a run with no change opens nothing.
# One worker syncing several changed folders selects the next one ahead
# while it writes the last one's changes locally: still one SELECT each.
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
# INBOX's STATUS is the second connection's first mailbox command (A3,
# after LIST "" ""), which Dovecot answers from its list index; the first
# connection's A3 is its LIST
grep -q '^> A3 STATUS "INBOX" ' "$T/trace0" ||
    mf_fail "INBOX's STATUS not asked first on the second connection: $(grep -m3 'A3 ' "$T/trace0")"

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

# server changes in four folders, one worker: flags only (a local-only plan)
# and a new message (downloads the last use of the server)
settle
run -q || mf_fail "settling sync failed"
settle
mf_doveadm flags add -u $u '\Flagged' mailbox Alpha uid 3
mf_doveadm flags add -u $u '\Answered' mailbox Gamma uid 2
mf_doveadm flags remove -u $u '\Seen' mailbox Alpha uid 1
mf_msg "$u-INBOX-new" "INBOX new" >"$T/m"
mf_deliver $u INBOX "$T/m"
mf_doveadm flags add -u $u '\Draft' mailbox Lists/Delta uid 1
run -vv --jobs 1 >"$T/trace3" 2>&1 || mf_fail "one-worker sync failed: $(tail -5 "$T/trace3")"
got=$(selected "$T/trace3" | tr '\n' ' ')
[[ $got == "Alpha Gamma INBOX Lists/Delta " ]] ||
    mf_fail "expected one SELECT each of Alpha Gamma INBOX Lists/Delta, got: $got"
ahead=$(grep -c ': selected ahead$' "$T/trace3")
((ahead == 3)) || mf_fail "expected 3 mailboxes selected ahead, got $ahead"
[[ $(commands "$T/trace3" | grep -c '^SELECT .*(QRESYNC') == 4 ]] ||
    mf_fail "a SELECT without QRESYNC: $(commands "$T/trace3" | grep '^SELECT')"
both_equal $u "$T/mail"
l=$(local_state "$T/mail")
has_msg "$l" INBOX "$u-INBOX-new" '' || mf_fail "INBOX's new message missing locally"
has_msg "$l" Alpha "$u-Alpha-3" '\Flagged' || mf_fail "Alpha flag not pulled"
has_msg "$l" Lists/Delta "$u-Lists/Delta-1" '\Draft' || mf_fail "Delta flag not pulled"
echo "ok: unchanged mailboxes are not selected, the next one is selected ahead"
