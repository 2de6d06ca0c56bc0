#!/usr/bin/env bash
# sync_keywords.sh — keywords both ways, and more than a Maildir folder can
# hold in file names (26): the overflow is kept in the journal, so later
# runs neither lose the extra keywords nor strip them from the server.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_keywords
sync_user $u
for i in $(seq 1 30); do
    mf_msg "$u-$i" "kw $i" >"$T/m"; mf_deliver $u INBOX "$T/m"
    mf_doveadm flags add -u $u "kw$i" mailbox INBOX uid $i
done
out=$(sync_run $u "$T/mail" --json) || mf_fail "first sync failed: $out"
[[ $(json_field "$out" pull.copied) == 30 ]] || mf_fail "first sync: $out"
for run in 2 3; do
    out=$(sync_run $u "$T/mail" --json) || mf_fail "sync $run failed: $out"
    [[ $(json_field "$out" push.flags) == 0 && $(json_field "$out" pull.flags) == 0 ]] ||
        mf_fail "sync $run changed flags: $out"
done
r=$(remote_state $u)
for i in 1 26 27 30; do
    has_msg "$r" INBOX $u-$i "kw$i" || mf_fail "kw$i lost on the server: $r"
done
# a keyword set locally (file name letter) travels up
f=$(grep -rl "$u-1@" "$T/mail/INBOX/cur" "$T/mail/INBOX/new" | head -1)
mv "$f" "$T/mail/INBOX/cur/$(basename "${f%%:2,*}"):2,S"
out=$(sync_run $u "$T/mail" --json) || mf_fail "sync failed: $out"
r=$(remote_state $u)
has_msg "$r" INBOX $u-1 '\Seen' || mf_fail "local change (kw1 off, seen) not pushed: $r"
echo ok
