#!/usr/bin/env bash
# sync_diskfull.sh — the local disk fills up in the middle of an initial
# pull: the run reports it and ends partly synced, no half-written message is
# left in cur/ or new/, and once there is room again the next run completes
# with nothing lost and nothing duplicated on either side.
#
# The Maildir lives on a small tmpfs (mounted as root, or inside a user and
# mount namespace otherwise); the journal stays on the ordinary disk.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot

if [[ $(id -u) -ne 0 && -z ${MF_IN_USERNS:-} ]]; then
    exec env MF_IN_USERNS=1 unshare --user --map-root-user --mount bash "$0" "$@"
fi

u=sync_diskfull
sync_user $u
# 60 messages of ~24 KB: 1.4 MB, on a 512 KB file system.
for i in $(seq 1 60); do
    mf_msg "full-$i" "message $i" "$(head -c 18000 /dev/zero | tr '\0' 'x' | fold -w 76)" >"$T/m.eml"
    mf_doveadm save -u $u -m INBOX <"$T/m.eml"
done
mkdir -p "$T/mnt"
mount -t tmpfs -o size=512k tmpfs "$T/mnt" || mf_fail "cannot mount a tmpfs"
trap 'umount "$T/mnt" 2>/dev/null; rm -rf "$T"' EXIT

set +e
sync_run $u "$T/mnt/mail" >"$T/out1" 2>&1
rc=$?
set -e
[[ $rc -eq 1 || $rc -eq 2 ]] || mf_fail "a full disk must not end in success (exit $rc): $(cat "$T/out1")"
grep -qi "no space left\|quota" "$T/out1" || mf_fail "the error does not say the disk is full: $(cat "$T/out1")"

# Nothing half-written is visible: every message in cur/ and new/ is whole.
python3 - "$T/mnt/mail" <<'PY' || mf_fail "a partial message is visible after the full disk"
import os, sys
bad = 0
for d, _, files in os.walk(sys.argv[1]):
    if os.path.basename(d) not in ("cur", "new"):
        continue
    for f in files:
        data = open(os.path.join(d, f), "rb").read()
        if not data.rstrip(b"\n").endswith(b"x") or b"Message-ID:" not in data:
            print("partial:", f); bad += 1
sys.exit(1 if bad else 0)
PY
partial=$(find "$T/mnt/mail" -type f \( -path "$T/mnt/mail/*/cur/*" -o -path "$T/mnt/mail/*/new/*" \) | wc -l)
[[ $partial -lt 60 ]] || mf_fail "all 60 messages fit on a 512 KB disk?"

# The aborted deliveries gave their space back.
[[ -z $(find "$T/mnt/mail" -type f -path "$T/mnt/mail/*/tmp/*") ]] || mf_fail "partial files left in tmp/"

mount -o remount,size=16m "$T/mnt" || mf_fail "cannot grow the tmpfs"
sync_run $u "$T/mnt/mail" >"$T/out2" 2>&1 || mf_fail "second sync failed: $(cat "$T/out2")"
both_equal $u "$T/mnt/mail"
[[ $(mf_status $u INBOX messages) == 60 ]] || mf_fail "the server's INBOX changed"
[[ $(remote_state $u | wc -l) == 60 ]] || mf_fail "not 60 messages on the server"
out=$(sync_run $u "$T/mnt/mail" --json) || mf_fail "third sync failed: $out"
[[ $(json_field "$out" pull.copied) == 0 && $(json_field "$out" push.copied) == 0 ]] ||
    mf_fail "third sync copied again: $out"
echo ok
