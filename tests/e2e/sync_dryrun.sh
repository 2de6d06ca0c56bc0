#!/usr/bin/env bash
# sync_dryrun.sh — --dry-run prints the plan and changes nothing: not the
# server, not the Maildir, not the journal (compared byte for byte).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_dryrun
sync_user $u
seed_remote $u
# a dry run of a channel never synced: plans everything, creates nothing
out=$(sync_run $u "$T/fresh" --dry-run --state "$T/fresh-state") || mf_fail "fresh dry run: $out"
grep -q "6 copied" <<<"$out" || mf_fail "fresh dry run plans 6 downloads: $out"
[[ ! -e $T/fresh && ! -e $T/fresh-state ]] || mf_fail "fresh dry run created files"
sync_run $u "$T/mail" -q || mf_fail "first sync failed"
mf_msg "$u-new" "new" >"$T/m"; mf_deliver $u INBOX "$T/m"
mf_doveadm flags add -u $u '\Flagged' mailbox INBOX uid 1
local_put "$T/mail" INBOX "$u-local-new" S
snap() {
    (cd "$T" && find mail state -printf '%p %s %T@\n' | sort && find state -type f ! -name '*.lock' -exec md5sum {} + | sort)
    remote_state $u
    mf_doveadm -f flow mailbox status -u $u 'messages uidnext highestmodseq' '*' | sort
}
before=$(snap)
out=$(sync_run $u "$T/mail" --dry-run -v) || mf_fail "dry run failed: $out"
grep -qi "INBOX" <<<"$out" || mf_fail "no plan printed: $out"
after=$(snap)
[[ "$before" == "$after" ]] || { diff <(echo "$before") <(echo "$after") >&2; mf_fail "dry run changed something"; }
# and the real run then does what the plan said
out=$(sync_run $u "$T/mail" --json) || mf_fail "sync failed: $out"
[[ $(json_field "$out" pull.copied) == 1 && $(json_field "$out" push.copied) == 1 ]] ||
    mf_fail "real run: $out"
both_equal $u "$T/mail"
echo ok
