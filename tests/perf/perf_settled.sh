#!/usr/bin/env bash
# perf_settled.sh — a run that wrote to local folders leaves them settled:
# the very next run (no pause in between) opens no mailbox and lists no
# folder, after a first sync (settled by its watch too), after pulled flags and new mail, and after
# pulled expunges. The writing run checks each folder it wrote against the
# journal and stores a fresh marker (settle_local in sync/exec.c); a folder
# the run began from the journal's state is checked by its inotify watch
# (nothing but our own changes seen), without listing it. On a file
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

# watched LABEL FOLDER...: the writing run settled these folders from its
# own changes (inotify), without listing them
watched() {
    local l=$1 f
    shift
    for f in "$@"; do
        grep -q "^$f: settled: only our own changes seen" "$T/run-$l" ||
            mf_fail "$l: $f not settled by its watch: $(grep settled "$T/run-$l" | tr '\n' ' ')"
    done
}

# a first sync into empty folders began from the journal's (empty) state
run -vv >"$T/run-first" 2>&1 || mf_fail "first sync failed: $(tail -5 "$T/run-first")"
watched first INBOX Alpha Beta Gamma
idle first
both_equal $u "$T/mail"

mf_doveadm flags add -u $u '\Flagged' mailbox Alpha uid 1:2
mf_msg "$u-Beta-new" "Beta new" >"$T/m"
mf_deliver $u Beta "$T/m"
run -vv >"$T/run-pulled" 2>&1 || mf_fail "sync of flags and new mail failed"
watched pulled Alpha Beta
idle pulled
both_equal $u "$T/mail"

mf_doveadm expunge -u $u mailbox Gamma uid 2
run -vv >"$T/run-expunged" 2>&1 || mf_fail "sync of an expunge failed"
watched expunged Gamma
idle expunged
both_equal $u "$T/mail"
l=$(local_state "$T/mail")
! grep -q "$u-Gamma-2@" <<<"$l" || mf_fail "the expunged message is still local"

# A change the marker cannot show: a flag added by renaming a file in Gamma
# with the directories' mtimes put back, and the stored marker made
# untrusted (":u", as a run leaves it when it wrote after reading it). The
# next run must still find the change by comparing the folder with the
# journal, and push it.
f=$(grep -l "$u-Gamma-3@" "$T"/mail/Gamma/*/* | head -1)
cur=$(stat -c %y "$T/mail/Gamma/cur")
new=$(stat -c %y "$T/mail/Gamma/new")
case $f in
    */new/*) mv "$f" "$T/mail/Gamma/cur/$(basename "$f"):2,F" ;;
    *) mv "$f" "${f%%:2,*}:2,F${f##*:2,}" ;;
esac
touch -d "$cur" "$T/mail/Gamma/cur"
touch -d "$new" "$T/mail/Gamma/new"
python3 - "$T"/state/*.db <<'PY' || mf_fail "cannot edit the journal"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = db.execute("UPDATE box SET lmarker = lmarker || ':u' WHERE lname = 'Gamma'"
               " AND lmarker NOT LIKE '%:u'").rowcount
db.commit()
sys.exit(0 if n == 1 else 1)
PY
run -q || mf_fail "sync of a hidden local change failed"
r=$(remote_state $u)
has_msg "$r" Gamma "$u-Gamma-3" '\Flagged' || mf_fail "the hidden local flag was not pushed"
both_equal $u "$T/mail"

# A mail reader's changes (a flag, a deletion, a new message) make the run
# list the folder; the listing is compared with the journal so the pair
# plans from a delta of the three, and the result is the same.
d=$T/mail/Beta
f=$(grep -l "$u-Beta-1@" "$d"/*/* | head -1)
case $f in
    */new/*) mv "$f" "$d/cur/$(basename "$f"):2,S" ;;
    *) mv "$f" "${f%%:2,*}:2,S${f##*:2,}" ;;
esac
rm -f "$(grep -l "$u-Beta-2@" "$d"/*/* | head -1)"
mf_msg "$u-Beta-local" "from the reader" >"$d/new/1700000000.M1P1.reader"
run -vv >"$T/run-reader" 2>&1 || mf_fail "sync of a reader's changes failed"
grep -q '^Beta: local folder against the journal: 2 of [0-9]* listed changed or new, 1 gone' \
    "$T/run-reader" || mf_fail "Beta was not planned from a delta: $(grep -i 'beta' "$T/run-reader" |
    grep -v '^[<>]' | tr '\n' ' ')"
r=$(remote_state $u)
has_msg "$r" Beta "$u-Beta-1" '\Seen' || mf_fail "the reader's flag was not pushed"
# without --expunge a deletion marks the server's copy \Deleted
has_msg "$r" Beta "$u-Beta-2" '\Deleted' || mf_fail "the reader's deletion was not pushed"
grep -q "<$u-Beta-local@" <<<"$r" || mf_fail "the reader's new message was not pushed"
[[ $(grep -c . <<<"$(local_state "$T/mail")") -eq $(($(grep -c . <<<"$r") - 1)) ]] ||
    mf_fail "local and remote differ by more than the deleted message"

# Flags pushed to the server move its HIGHESTMODSEQ; the run that pushed
# them records the mod-sequence its own changes reached, so the next run
# selects nothing (a flag-only push: no copy to reload the pairs for).
f=$(grep -l "$u-Alpha-3@" "$T"/mail/Alpha/*/* | head -1)
case $f in
    */new/*) mv "$f" "$T/mail/Alpha/cur/$(basename "$f"):2,R" ;;
    *) mv "$f" "${f%%:2,*}:2,R${f##*:2,}" ;;
esac
run -vv >"$T/run-push" 2>&1 || mf_fail "sync of a local flag failed"
grep -q '^Alpha: own changes reached HIGHESTMODSEQ' "$T/run-push" ||
    mf_fail "the pushed flag's mod-sequence was not recorded"
has_msg "$(remote_state $u)" Alpha "$u-Alpha-3" '\Answered' || mf_fail "the flag was not pushed"
pause
run -vv >"$T/idle-push" 2>&1 || mf_fail "idle sync after a push failed"
# (Beta is still opened: its local deletion left the server's copy \Deleted
# without --expunge, and that pair asks for a full listing each run.)
! selected "$T/idle-push" | grep -qx Alpha ||
    mf_fail "the run after a flag push opened Alpha: $(grep -h '^Alpha' "$T/run-push" "$T/idle-push" | tr '\n' ' ')"
echo "ok: folders written by a run are settled by that run"
