#!/usr/bin/env bash
# perf_memory.sh MAXRSS — peak memory does not grow with message size or
# mailbox size. Three accounts are synced into empty Maildirs, each run under
# MAXRSS (tests/perf/maxrss.c, getrusage(RUSAGE_CHILDREN) ru_maxrss):
#   empty  no messages: the baseline of this very build
#   big    one 50 MB message (bodies are streamed, never held whole)
#   many   20,000 small messages in one mailbox
# Both loaded runs must stay within BOUND_KB (32 MiB) of the baseline, and the
# 20,000 are listed a window of 2,000 at a time (no UID FETCH 1:*; -vv trace).
# The bound is relative because sanitizer builds (tests/check.sh uses ASan) carry
# a large fixed shadow/allocator overhead of their own; ASan's quarantine of
# freed blocks (256 MiB by default) is cut to 1 MiB for the measured runs, or
# it, not mailferry, would dominate the figure. Release build, for reference
# (2026-11-27): empty 5.9 MiB, 50 MB message 6.2 MiB, 20,000 messages 8.8 MiB
# (10.1 MiB while the first sync listed the mailbox whole, 25 MiB before it
# was planned in slices).
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../e2e/sync_lib.sh"
source "$(dirname "$0")/perf_lib.sh"
mf_require_dovecot
maxrss=${1:?usage: perf_memory.sh MAXRSS}
BOUND_KB=$((32 * 1024))
NMANY=${PERF_MANY:-20000}

# measure NAME [ARG...]: sync account perf_mem_NAME into an empty Maildir
# (stderr to $T/err-NAME); prints KiB
measure() {
    local u=perf_mem_$1
    shift
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1" \
        MAILFERRY_PASSWORD=$u "$maxrss" "$T/rss-$u" "$MF_BIN" sync \
        --remote "imap://$u@127.0.0.1:$MF_IMAP_PORT" --local "maildir:$T/mail-${u#perf_mem_}" \
        --state "$T/state-$u" --fsync=off -q "$@" 2>"$T/err-$u" ||
        mf_fail "sync of $u failed: $(grep -v '^[<>] ' "$T/err-$u" | tail -3)"
    cat "$T/rss-$u"
}

# the empty account
sync_user perf_mem_empty
mf_doveadm mailbox create -u perf_mem_empty Many

# one 50 MB message
sync_user perf_mem_big
{
    mf_msg perf-mem-big "fifty megabytes" "start"
    head -c $((38 * 1024 * 1024)) /dev/urandom | base64 -w 76 | sed 's/$/\r/'
    printf 'end\r\n'
} >"$T/big.eml"
size=$(stat -c %s "$T/big.eml")
((size > 50 * 1000 * 1000)) || mf_fail "big message is only $size bytes"
mf_deliver perf_mem_big INBOX "$T/big.eml"

# 20,000 small messages written straight into the server's Maildir++ folder
# (as the mail owner), then one force-resync instead of 20,000 saves
u=perf_mem_many
sync_user $u
mf_doveadm mailbox create -u $u Many
root=$("$MF_DOVECOT" maildir "$MF_DOVECOT_DIR" $u)
[[ -d $root/.Many/cur ]] || mf_fail "no Maildir++ folder $root/.Many"
python3 - "$root/.Many/cur" "$NMANY" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    body = ("From: Alice <alice@test>\nTo: Bob <bob@test>\nSubject: many %d\n"
            "Date: Mon, 2 Jan 2023 10:00:00 +0000\nMessage-ID: <perf-mem-many-%d@test>\n\n"
            "Message %d of many.\n" % (i, i, i))
    name = "1700000000.M%dP1.perfmem:2,%s" % (i, "S" if i % 3 == 0 else "")
    with open(os.path.join(d, name), "w") as f:
        f.write(body)
PY
chown -R --reference="$root" "$root/.Many"
mf_doveadm force-resync -u $u Many
[[ $(mf_status $u Many messages) == "$NMANY" ]] ||
    mf_fail "Dovecot sees $(mf_status $u Many messages) messages in Many, not $NMANY"

base=$(measure empty)
big=$(measure big)
many=$(measure many -vv)
echo "peak RSS: empty ${base} KiB, one 50 MB message ${big} KiB, $NMANY messages ${many} KiB" \
    "(bound: baseline + ${BOUND_KB} KiB)"

# the runs did what they claim
f=$(find "$T/mail-big/INBOX/cur" "$T/mail-big/INBOX/new" -type f | head -1)
[[ -n $f ]] && (($(stat -c %s "$f") > 49 * 1000 * 1000)) || mf_fail "big message not downloaded"
n=$(find "$T/mail-many/Many/cur" "$T/mail-many/Many/new" -type f | wc -l)
[[ $n -eq $NMANY ]] || mf_fail "$n of $NMANY messages downloaded"

w=$(grep -c 'Many: window of 2000 messages' "$T/err-perf_mem_many")
((w == NMANY / 2000)) || mf_fail "$w windows of 2000 messages, not $((NMANY / 2000))"
grep -q 'FETCH 1:\* ' "$T/err-perf_mem_many" && mf_fail "the first sync listed Many in one FETCH 1:*"

((big <= base + BOUND_KB)) || mf_fail "50 MB message: ${big} KiB > ${base} + ${BOUND_KB} KiB"
((many <= base + BOUND_KB)) || mf_fail "$NMANY messages: ${many} KiB > ${base} + ${BOUND_KB} KiB"
echo "ok: peak RSS bounded"
