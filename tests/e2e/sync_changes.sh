#!/usr/bin/env bash
# sync_changes.sh — changes on both sides between runs: new messages, flags
# and keywords, deletions (local file removed -> \Deleted on the server),
# server expunges (-> local file removed), new and deleted mailboxes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_changes
sync_user $u
seed_remote $u
sync_run $u "$T/mail" -q || mf_fail "first sync failed"
both_equal $u "$T/mail"

# server side: a new message, flags and a keyword, an expunge, a new folder
mf_msg "$u-new-r" "new remote" >"$T/m"; mf_deliver $u INBOX "$T/m"
mf_msg "$u-fold" "in new folder" >"$T/m"; mf_deliver $u "Projects" "$T/m"
mf_doveadm flags add -u $u '\Seen $Label1' mailbox INBOX uid 3
mf_doveadm flags remove -u $u '\Flagged' mailbox INBOX uid 2
mf_doveadm expunge -u $u mailbox Lists/Sub uid 2
# local side: a new message, a new folder, flag change by rename, a removal
local_put "$T/mail" INBOX "$u-new-l" S
local_put "$T/mail" "Local" "$u-loc" F
f=$(grep -l "$u-in4@" "$T"/mail/INBOX/*/* | head -1)
case $f in
    */new/*) mv "$f" "$T/mail/INBOX/cur/$(basename "$f"):2,RS" ;;
    *) mv "$f" "${f%%:2,*}:2,RS" ;;
esac
rm "$(grep -l "$u-in1@" "$T"/mail/INBOX/*/* | head -1)"

out=$(sync_run $u "$T/mail" --json) || mf_fail "second sync failed: $out"
[[ $(json_field "$out" pull.copied) == 2 ]] || mf_fail "expected 2 down: $out"
[[ $(json_field "$out" push.copied) == 2 ]] || mf_fail "expected 2 up: $out"
[[ $(json_field "$out" pull.expunged) == 1 ]] || mf_fail "expected 1 local expunge: $out"
[[ $(json_field "$out" push.marked_deleted) == 1 ]] || mf_fail "expected 1 mark: $out"
r=$(remote_state $u)
has() { grep -qxF "$(printf '%s\t<%s@test>\t%s' "$2" "$3" "$4")" <<<"$1"; }
has "$r" INBOX $u-in1 '\Deleted \Seen' || mf_fail "in1 not marked deleted: $r"
has "$r" INBOX $u-in3 '$Label1 \Seen' || mf_fail "in3 flags: $r"
has "$r" INBOX $u-in4 '\Answered \Seen' || mf_fail "in4 flags: $r"
has "$r" INBOX $u-in2 '$Forwarded \Seen' || mf_fail "in2 flags: $r"
has "$r" Local $u-loc '\Flagged' || mf_fail "Local folder: $r"
# the local copy of the message removed locally stays gone (not re-downloaded)
l=$(local_state "$T/mail")
grep -q "$u-in1@" <<<"$l" && mf_fail "in1 came back locally"
grep -q "$u-sub2@" <<<"$l" && mf_fail "sub2 not expunged locally"
has "$l" Projects $u-fold '' || mf_fail "Projects missing locally"

# a third run converges: nothing more to do
out=$(sync_run $u "$T/mail" --json) || mf_fail "third sync failed: $out"
[[ $(json_field "$out" pull.copied) == 0 && $(json_field "$out" push.copied) == 0 &&
   $(json_field "$out" pull.flags) == 0 && $(json_field "$out" push.flags) == 0 ]] ||
    mf_fail "third sync not idle: $out"

# a mailbox deleted on the server (fully synced) goes away locally
mf_doveadm mailbox delete -u $u -s Projects 2>/dev/null || mf_doveadm mailbox delete -u $u Projects
sync_run $u "$T/mail" -q || mf_fail "fourth sync failed"
[[ -d $T/mail/Projects/cur ]] && mf_fail "Projects not removed locally"

# a folder removed locally: by default the server keeps it and it comes back
rm -rf "$T/mail/Local"
sync_run $u "$T/mail" -q || mf_fail "sync after local removal failed"
r=$(remote_state $u)
has "$r" Local $u-loc '\Flagged' || mf_fail "server lost Local without --remove: $r"
l=$(local_state "$T/mail")
has "$l" Local $u-loc '\Flagged' || mf_fail "Local not re-created: $l"
# with --remove remote the server mailbox goes too
rm -rf "$T/mail/Local"
sync_run $u "$T/mail" -q --remove both || mf_fail "sync with --remove failed"
r=$(remote_state $u)
grep -q "$u-loc@" <<<"$r" && mf_fail "Local still on the server: $r"
# both sides agree but for the server's tombstone of in1 (\Deleted, kept)
[[ "$(grep -v 'in1@' <<<"$r")" == "$(local_state "$T/mail")" ]] || mf_fail "sides differ"
echo ok
