#!/usr/bin/env bash
# sync_kill_push.sh — an initial upload of 600 local messages killed with
# SIGKILL at random moments (MAILFERRY_TEST_KILL_AFTER_BYTES), restarted
# until it completes: APPENDs that reached the server before a kill are
# found again by content, so no message is uploaded twice.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
u=sync_kill_push
sync_user $u
python3 - "$T/mail" <<'PY'
import os, sys
root = sys.argv[1]
for folder, n in (("INBOX", 400), ("Sent", 200)):
    d = os.path.join(root, folder)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i in range(n):
        mid = "kp-%s-%d" % (folder, i)
        body = ("line %d of %s\n" % (i, mid)) * (1 + i % 23)
        msg = ("From: a@test\nTo: b@test\nSubject: %s\nDate: Mon, 2 Jan 2023 10:00:00 +0000\n"
               "Message-ID: <%s@test>\n\n%s" % (mid, mid, body))
        with open(os.path.join(d, "cur", "1600000000.M%dP2.gen:2,%s" % (i, "S" if i % 4 else "")), "w") as f:
            f.write(msg)
PY
total=$(cat "$T"/mail/*/cur/* | wc -c)
export MAILFERRY_TEST_BATCH=50
runs=0 kills=0
while :; do
    runs=$((runs + 1))
    [[ $runs -le 40 ]] || mf_fail "never completed"
    at=$(( (RANDOM * 32768 + RANDOM) % (total / 3) + 1 ))
    [[ $kills -ge 10 ]] && at=0
    set +e
    MAILFERRY_TEST_KILL_AFTER_BYTES=$at sync_run $u "$T/mail" -q --json >"$T/out" 2>"$T/err"
    rc=$?
    set -e
    [[ $rc == 0 ]] && { recovered=$(json_field "$(cat "$T/out")" recovered); break; }
    [[ $rc == 137 ]] || { cat "$T/err" >&2; mf_fail "run exited $rc"; }
    kills=$((kills + 1))
done
[[ $kills -ge 1 ]] || mf_fail "never killed"
both_equal $u "$T/mail"
r=$(remote_state $u)
[[ $(wc -l <<<"$r") == 600 ]] || mf_fail "$(wc -l <<<"$r") messages on the server, not 600"
[[ $(cut -f2 <<<"$r" | sort -u | wc -l) == 600 ]] || mf_fail "duplicates on the server"
echo "ok ($kills kills in $runs runs; the last run recovered $recovered uploads)"
