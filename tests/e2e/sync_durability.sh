#!/usr/bin/env bash
# sync_durability.sh — the order in which a sync makes mail durable, read
# from a system call trace (strace -f -y) and checked by durability_check.py:
# a message file is fsynced before its rename out of tmp/, and a Maildir
# directory that received renames (deliveries, flag changes) is fsynced
# before the journal is next written. A kill -9 cannot show this (the page
# cache outlives the process); a power cut can. Scenarios: a first pull
# over two workers, then flag changes, new mail and an expunge on the
# server, then local changes pushed up (checked for breaches only: such a
# run need not write the Maildir; what a push makes durable first is the
# server's answer, which a system call trace cannot order). Control:
# the same checker on a --fsync=off run must find breaches, so a checker
# that sees nothing cannot pass.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
command -v strace >/dev/null || mf_fail "strace is not installed (tests/deps.sh installs it)"
if ! strace -f -qq -o /dev/null true 2>"$T/ptrace"; then
    echo "SKIP: this machine forbids ptrace: $(head -1 "$T/ptrace")" >&2
    exit 77
fi
check=$(dirname "$0")/durability_check.py
python3 "$check" --selftest >"$T/selftest" || mf_fail "checker self-test: $(cat "$T/selftest")"

# LeakSanitizer cannot run under ptrace; the other tests look for leaks
asan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
u=sync_durability
sync_user $u
server_corpus $u 2000 :40 Archive:30 Lists/Big:25
strace_sync() { # strace_sync NAME ARGS...: one sync, traced into $T/NAME.st
    local name=$1
    shift
    MAILFERRY_PASSWORD=$u ASAN_OPTIONS=$asan strace -f -qq -y -o "$T/$name.st" \
        -e trace=write,pwrite64,writev,pwritev,fsync,fdatasync,syncfs,renameat,renameat2 \
        "$MF_BIN" sync --remote "imap://$u@127.0.0.1:$MF_IMAP_PORT" --local "maildir:$T/mail" \
        --state "$T/state" "$@" >"$T/$name.out" 2>&1 ||
        mf_fail "$name: sync failed: $(tail -5 "$T/$name.out")"
}
traced() { # traced NAME MIN ARGS...: strace_sync, checked; MIN "some"
    # when the run must have written the Maildir, "any" when not
    local name=$1 min=$2 rc=0
    shift 2
    strace_sync "$name" "$@"
    python3 "$check" "$T/$name.st" "$T/mail" >"$T/$name.chk" 2>&1 || rc=$?
    [[ $rc == 0 || ($rc == 2 && $min == any) ]] || mf_fail "$name: $(cat "$T/$name.chk")"
    echo "$name: $(head -1 "$T/$name.chk")"
}

traced pull some --jobs 2
both_equal $u "$T/mail"

mf_doveadm flags add -u $u '\Flagged' mailbox INBOX uid 1:10
mf_doveadm flags remove -u $u '\Seen' mailbox Archive uid 1:30
for i in 1 2 3; do
    mf_msg "$u-new$i" "new $i" >"$T/m"
    mf_deliver $u Lists/Big "$T/m"
done
mf_doveadm expunge -u $u mailbox Archive uid 1:3
traced remote-changes some --jobs 1
both_equal $u "$T/mail"

f=$(find "$T/mail/INBOX/cur" -name '*:2,*' | sort | head -1) # \Deleted on one message
[[ -n $f ]] || mf_fail "no message with an info suffix in the local INBOX"
mv "$f" "${f}T"
local_put "$T/mail" Archive "$u-local-1" S
traced local-changes any --jobs 1
both_equal $u "$T/mail"

# control: without fsync the checker must object
rm -rf "$T/mail" "$T/state"
strace_sync nofsync --fsync=off
rc=0
python3 "$check" "$T/nofsync.st" "$T/mail" >"$T/nofsync.chk" 2>&1 || rc=$?
[[ $rc == 1 ]] || mf_fail "the checker did not object to a --fsync=off run (rc $rc): $(cat "$T/nofsync.chk")"
echo "ok: durability order held in every run; --fsync=off was caught ($(grep -c '^R' "$T/nofsync.chk") breaches shown)"
