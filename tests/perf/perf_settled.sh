#!/usr/bin/env bash
# perf_settled.sh — a run that wrote to local folders leaves them settled:
# the very next run (no pause in between) opens no mailbox and lists no
# folder, after a first sync, after pulled flags and new mail, and after
# pulled expunges. The writing run checks each folder it wrote against the
# journal and stores a fresh marker (settle_local in sync/exec.c). On a file
# system without fine timestamps the marker needs 2 s (maildir_scan.h): the
# test then pauses that long, and still checks that nothing is opened.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../e2e/sync_lib.sh"
source "$(dirname "$0")/perf_lib.sh"
mf_require_dovecot
u=perf_settled
sync_user $u
for f in INBOX Alpha Beta Gamma; do
    for i in 1 2 3 4; do
        mf_msg "$u-$f-$i" "$f $i" >"$T/m"
        mf_deliver $u "$f" "$T/m"
    done
done
run() { psync $u "$MF_IMAP_PORT" "$T/mail" "$T/state" "$@"; }
mkdir -p "$T/mail"
case $(stat -f -c %T "$T/mail") in
    ext2/ext3 | xfs | btrfs | tmpfs) pause() { :; } ;;
    *) pause() { settle; } ;;
esac

# idle LABEL: the run right after must open nothing and list no folder
idle() {
    pause
    run -vv >"$T/idle-$1" 2>&1 || mf_fail "$1: idle sync failed: $(tail -5 "$T/idle-$1")"
    [[ -z $(selected "$T/idle-$1") ]] ||
        mf_fail "$1: the next run opened: $(selected "$T/idle-$1" | tr '\n' ' ')"
    ! grep -q 'local folder listed' "$T/idle-$1" ||
        mf_fail "$1: the next run listed: $(grep 'local folder listed' "$T/idle-$1" | tr '\n' ' ')"
    [[ $(grep -c 'unchanged since the last sync' "$T/idle-$1") -eq 4 ]] ||
        mf_fail "$1: not every pair was skipped: $(grep -v '^[<>]' "$T/idle-$1" | tail -8)"
}

run -q || mf_fail "first sync failed"
idle first
both_equal $u "$T/mail"

mf_doveadm flags add -u $u '\Flagged' mailbox Alpha uid 1:2
mf_msg "$u-Beta-new" "Beta new" >"$T/m"
mf_deliver $u Beta "$T/m"
run -q || mf_fail "sync of flags and new mail failed"
idle pulled
both_equal $u "$T/mail"

mf_doveadm expunge -u $u mailbox Gamma uid 2
run -q || mf_fail "sync of an expunge failed"
idle expunged
both_equal $u "$T/mail"
l=$(local_state "$T/mail")
! grep -q "$u-Gamma-2@" <<<"$l" || mf_fail "the expunged message is still local"
echo "ok: folders written by a run are settled by that run"
