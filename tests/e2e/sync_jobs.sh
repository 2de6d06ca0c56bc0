#!/usr/bin/env bash
# sync_jobs.sh — `--jobs 3` gives the same Maildir as `--jobs 1` on an
# initial sync of several folders (message sets and flags per folder), a
# two-way change round with --jobs 3 converges, and the journal it leaves
# lets an unchanged account be synced without a single SELECT/EXAMINE.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
source "$(dirname "$0")/sync_jobs_lib.sh"
source "$(dirname "$0")/../perf/perf_lib.sh"
mf_require_dovecot
u=sync_jobs
sync_user $u
server_corpus $u 2000 :60 Archive:150 Lists/Big:120 Lists/Small:15 Work:90 Travel:40
P=$MF_IMAP_PORT

jsync $u "$P" "$T/one" "$T/s1" --jobs 1 -q || mf_fail "--jobs 1 initial sync failed"
jsync $u "$P" "$T/par" "$T/s3" --jobs 3 -vv >"$T/tr0" 2>&1 ||
    mf_fail "--jobs 3 initial sync failed: $(grep -v '^[<>] ' "$T/tr0" | tail -5)"
[[ $(workers "$T/tr0") == "2 of 2" ]] || mf_fail "expected 2 extra workers, got '$(workers "$T/tr0")'"
one=$(local_state "$T/one")
par=$(local_state "$T/par")
[[ $(wc -l <<<"$par") == 475 ]] || mf_fail "$(wc -l <<<"$par") messages with --jobs 3, not 475"
same_state "$one" "$par" "--jobs 3 and --jobs 1 differ (< jobs 1, > jobs 3)"
both_equal $u "$T/par"
grep -q '^mailferry: error' "$T/tr0" && mf_fail "errors: $(grep '^mailferry: error' "$T/tr0")"

# a change round on both sides, spread over the folders
for i in 1 2 3; do
    mf_msg "$u-new-arch-$i" "new $i" >"$T/m"
    mf_deliver $u Archive "$T/m"
    mf_msg "$u-new-work-$i" "new $i" >"$T/m"
    mf_deliver $u Work "$T/m"
done
mf_doveadm flags add -u $u '\Flagged' mailbox Lists/Big uid 1:5
mf_doveadm flags remove -u $u '\Seen' mailbox Travel uid 2:4
local_put "$T/par" Lists/Small "$u-local-1" S
local_put "$T/par" INBOX "$u-local-2"
f=$(grep -l "$u-Lists_Big-7@" "$T"/par/Lists/Big/cur/* | head -1)
mv "$f" "${f%%:2,*}:2,DS"
jsync $u "$P" "$T/par" "$T/s3" --jobs 3 -q || mf_fail "--jobs 3 change round failed"
both_equal $u "$T/par"
l=$(local_state "$T/par")
has_msg "$l" Archive "$u-new-arch-2" '' || mf_fail "Archive's new message not pulled"
has_msg "$l" Lists/Big "$u-Lists_Big-7" '\Draft \Seen' || mf_fail "local flag change lost"
has_msg "$(remote_state $u)" INBOX "$u-local-2" '' || mf_fail "local new message not pushed"

# the journal the workers wrote lets an unchanged account go without SELECT
settle
jsync $u "$P" "$T/par" "$T/s3" --jobs 3 -q || mf_fail "settling sync failed"
settle
jsync $u "$P" "$T/par" "$T/s3" --jobs 3 -vv >"$T/tr1" 2>&1 || mf_fail "idle sync failed"
[[ -z $(selected "$T/tr1") ]] || mf_fail "an idle sync opened: $(selected "$T/tr1" | tr '\n' ' ')"
both_equal $u "$T/par"
echo "ok: --jobs 3 == --jobs 1, converges, idle run selects nothing"
