#!/usr/bin/env bash
# tests/bench.sh — mailferry's sync benchmark, against the project's Dovecot fixture.
#
# usage: tests/bench.sh [--messages N] [--folders M] [--tools 'mailferry mbsync']
#                       [--workloads 'initial noop ...'] [--repeat R] [--port P]
#                       [--scratch DIR] [--out FILE] [--seed S] [--settle S] [--cap S]
#                       [--regen] [--keep]
#
#   --messages N   corpus size (default 10000)
#   --folders M    folders including INBOX, one of them nested (default 8)
#   --tools LIST   tools to measure, in order (default 'mailferry mbsync'); mbsync
#                  (package isync) is installed when missing and we are root
#   --workloads L  in order, starting with initial (default: all of
#                  initial noop remote-flags remote-new local-changes remote-expunge)
#   --repeat R     repetitions, interleaved across tools; the table shows medians (1)
#   --port P       Dovecot's plain IMAP port on 127.0.0.1; P+1 is taken too (10143)
#   --scratch DIR  corpus cache, server, local copies, logs (/tmp/mailferry-bench)
#   --out FILE     per-run TSV (tool workload rep wall_s cpu_s maxrss_kb ok note);
#                  FILE.meta has the machine and versions, FILE.summary.tsv the
#                  medians and ratios (default SCRATCH/results.tsv)
#   --seed S       corpus seed (default 1)
#   --settle S     untimed pause before every timed sync (default 1.1): mbsync
#                  waits for the clock second to change after a maildir change
#   --cap S        time limit of one sync (default 900); past it the tool is killed
#   --regen        regenerate the corpus even if a cached one exists
#   --keep         keep every server copy and local tree (default: only failed ones)
#
# Environment: MAILFERRY (default build/mailferry), MAILFERRY_ARGS (extra
# arguments for mailferry sync, e.g. '--fsync=off').
#
# The corpus (tests/bench/corpus.py) is written straight into a Maildir++,
# indexed once with doveadm force-resync, and cached per (seed, N, M). For
# every tool and repetition a fresh Dovecot user gets a `cp -a` of it, and
# the workloads run in order. Their changes (tests/bench/workload.py) are not
# timed; each sync is, with /usr/bin/time: wall, user+sys CPU, max RSS. After
# every sync both sides are compared message by message (tests/bench/verify.py):
# a difference prints MISMATCH and sets ok=0. The `floor` row streams every
# message once over one pipelined IMAP connection (tests/bench/floor.py), the
# practical lower bound of `initial`. Not a meson test: timings are no unit test.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BENCH=$TOP/tests/bench
DOVECOT_SH=$TOP/tests/dovecot.sh
MAILFERRY=${MAILFERRY:-$TOP/build/mailferry}
MAILFERRY_ARGS=${MAILFERRY_ARGS:-}
export PYTHONDONTWRITEBYTECODE=1   # keep tests/bench/ free of __pycache__

MESSAGES=10000
FOLDERS=8
TOOLS='mailferry mbsync'
ALL_WORKLOADS='initial noop remote-flags remote-new local-changes remote-expunge'
WORKLOADS=$ALL_WORKLOADS
REPEAT=1
PORT=10143
SCRATCH=/tmp/mailferry-bench
OUT=
SEED=1
SETTLE=1.1
CAP=900
REGEN=0
KEEP=0
PASS=pass

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "bench: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit "$1"; }

while (($#)); do
    case $1 in
        --messages) MESSAGES=${2:?}; shift 2 ;;
        --folders) FOLDERS=${2:?}; shift 2 ;;
        --tools) TOOLS=${2?}; shift 2 ;;
        --workloads) WORKLOADS=${2:?}; shift 2 ;;
        --repeat) REPEAT=${2:?}; shift 2 ;;
        --port) PORT=${2:?}; shift 2 ;;
        --scratch) SCRATCH=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --seed) SEED=${2:?}; shift 2 ;;
        --settle) SETTLE=${2:?}; shift 2 ;;
        --cap) CAP=${2:?}; shift 2 ;;
        --regen) REGEN=1; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "bench.sh: unknown argument '$1'" >&2; usage 2 ;;
    esac
done

for v in MESSAGES FOLDERS REPEAT PORT SEED CAP; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "--${v,,} wants a positive integer, not '${!v}'"
done
[[ $SETTLE =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--settle wants seconds, not '$SETTLE'"
read -r -a WL <<<"$WORKLOADS"
[[ ${WL[0]} == initial ]] || die "--workloads must start with initial"
for w in "${WL[@]}"; do
    [[ " $ALL_WORKLOADS " == *" $w "* ]] || die "unknown workload '$w' ($ALL_WORKLOADS)"
done
read -r -a TOOL_LIST <<<"$TOOLS"
for t in "${TOOL_LIST[@]}"; do
    [[ $t == mailferry || $t == mbsync ]] || die "unknown tool '$t' (mailferry, mbsync)"
done

# --- what the bench needs --------------------------------------------------------------
apt_install() {   # apt_install PACKAGE: as root only; quiet; false if it did not work
    [[ $(id -u) -eq 0 ]] || return 1
    log "installing $1 (apt-get)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
          apt-get install -y -qq --no-install-recommends "$1"; }; } >/dev/null 2>&1
}
[[ -x /usr/bin/time ]] || apt_install time || die "/usr/bin/time missing (apt-get install time)"
for c in /usr/sbin/dovecot doveadm python3 timeout; do
    command -v "$c" >/dev/null || die "'$c' missing (tests/deps.sh installs it)"
done
if [[ " $TOOLS " == *" mbsync "* ]] && ! command -v mbsync >/dev/null; then
    apt_install isync || true
fi

# tool_why TOOL: print why TOOL cannot run, or nothing.
tool_why() {
    case $1 in
        mbsync) command -v mbsync >/dev/null || echo "mbsync not installed (apt-get install isync)" ;;
        mailferry)
            if [[ ! -x $MAILFERRY ]]; then
                echo "$MAILFERRY not built (meson setup build && ninja -C build)"
            elif ! "$MAILFERRY" sync --help >/dev/null 2>&1; then
                echo "'$MAILFERRY sync' does not work yet"
            fi ;;
    esac
}

tool_version() {
    case $1 in
        mbsync) mbsync --version 2>/dev/null | head -n1 ;;
        mailferry) echo "$(git -C "$TOP" describe --always --dirty 2>/dev/null || echo '?')" \
            "[$MAILFERRY]" ;;
    esac
}

# --- layout ------------------------------------------------------------------------
mkdir -p "$SCRATCH"
SCRATCH=$(cd "$SCRATCH" && pwd -P)
OUT=${OUT:-$SCRATCH/results.tsv}
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd -P)/$(basename "$OUT")
CORPUS=$SCRATCH/corpus-s$SEED-n$MESSAGES-f$FOLDERS   # mail/ (pristine, indexed), base_uids.tsv
SERVER=$SCRATCH/server                               # the Dovecot fixture's DIR
WORK=$SCRATCH/work                                   # WORK/USER: local/, state/, mbsyncrc
LOGS=$SCRATCH/logs                                   # LOGS/USER/WORKLOAD.{log,time,verify,prep}
if [[ $(id -u) -eq 0 ]]; then
    OWNER=${MF_DOVECOT_USER:-nobody}                 # who Dovecot's mail processes run as
    OWNER=$OWNER:$(id -gn "$OWNER")
else
    OWNER=
fi

cleanup() { "$DOVECOT_SH" stop "$SERVER" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

start_server() {
    "$DOVECOT_SH" stop "$SERVER" >/dev/null 2>&1 || true
    rm -rf "$SERVER" "$WORK" "$LOGS"
    mkdir -p "$WORK" "$LOGS"
    # the mechanisms of the workplace harness's Dovecot: every tool logs in by PLAIN
    MF_DOVECOT_AUTH_MECHS="plain login" "$DOVECOT_SH" start "$SERVER" "$PORT" >/dev/null ||
        die "Dovecot did not start on port $PORT"
}

# The pristine corpus: generated into a Maildir++, indexed by Dovecot through a
# user whose mail location is that Maildir, with every folder's UIDNEXT noted.
build_corpus() {
    if [[ -f $CORPUS/.complete && $REGEN == 0 ]]; then
        log "corpus: reusing $CORPUS"
        return
    fi
    rm -rf "$CORPUS"
    mkdir -p "$CORPUS"
    log "corpus: generating $MESSAGES messages in $FOLDERS folders (seed $SEED)"
    python3 "$BENCH/corpus.py" --seed "$SEED" --messages "$MESSAGES" --folders "$FOLDERS" \
        --out "$CORPUS/mail"
    [[ -z $OWNER ]] || chown -R "$OWNER" "$CORPUS/mail"
    "$DOVECOT_SH" adduser "$SERVER" corpus "$PASS" "maildir:$CORPUS/mail"
    "$DOVECOT_SH" doveadm "$SERVER" force-resync -u corpus '*'
    "$DOVECOT_SH" doveadm "$SERVER" mailbox status -u corpus \
        'messages uidnext highestmodseq vsize' '*' >/dev/null
    python3 "$BENCH/workload.py" base-uids --dovecot "$SERVER" --user corpus \
        >"$CORPUS/base_uids.tsv"
    touch "$CORPUS/.complete"
}

# fresh_user USER: a Dovecot user whose mail is a copy of the pristine corpus.
fresh_user() {
    local mail=$SERVER/mail/$1
    rm -rf "$mail" "${WORK:?}/$1" "${LOGS:?}/$1"
    cp -a "$CORPUS/mail" "$mail"
    "$DOVECOT_SH" adduser "$SERVER" "$1" "$PASS"
    mkdir -p "$WORK/$1/local" "$LOGS/$1"
    sync   # the copy's writeback must not land in the first timed sync
}

# timed LOGBASE CMD...: run CMD under /usr/bin/time; sets T_WALL T_CPU T_RSS T_RC.
# Wall time comes from the shell's clock in microseconds (time's %e has only
# 10 ms), CPU (user+sys) and the max RSS from /usr/bin/time.
timed() {
    local base=$1 u s t0 t1
    shift
    sync
    sleep "$SETTLE"
    set +e
    t0=$EPOCHREALTIME
    /usr/bin/time -o "$base.time" -f '%e %U %S %M' timeout -k 10 "$CAP" "$@" >"$base.log" 2>&1
    T_RC=$?
    t1=$EPOCHREALTIME
    set -e
    u=0 s=0 T_RSS=-
    [[ -s $base.time ]] && read -r _ u s T_RSS < <(tail -n 1 "$base.time")
    T_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    T_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
}

row() {   # tool workload wall cpu rss ok note
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$REP" "$3" "$4" "$5" "$6" "$7" >>"$OUT"
}

write_mbsyncrc() {   # write_mbsyncrc USER
    local w=$WORK/$1
    mkdir -p "$w/state"
    cat >"$w/mbsyncrc" <<EOF
# written by tests/bench.sh: plain IMAP on loopback, everything both ways
IMAPAccount bench
Host 127.0.0.1
Port $PORT
User $1
Pass $PASS
SSLType None
AuthMechs PLAIN LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path $w/local/
Inbox $w/local/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
Sync All
SyncState $w/state/
EOF
}

sync_cmd() {   # sync_cmd TOOL USER: the command line of one sync, in SYNC[@]
    local w=$WORK/$2
    case $1 in
        mbsync) SYNC=(mbsync -c "$w/mbsyncrc" -q -a) ;;
        mailferry)
            # shellcheck disable=SC2206  # MAILFERRY_ARGS is split on purpose
            SYNC=(env MAILFERRY_PASSWORD="$PASS" "$MAILFERRY" sync
                  --remote "imap://$2@127.0.0.1:$PORT" --local "maildir:$w/local"
                  --state "$w/state" $MAILFERRY_ARGS) ;;
    esac
}

prepare() {   # prepare WORKLOAD USER: the untimed change before the sync
    local args=(--dovecot "$SERVER" --user "$2")
    case $1 in
        initial|noop) return 0 ;;
        remote-flags|remote-expunge) args+=(--base "$CORPUS/base_uids.tsv") ;;
        remote-new) args+=(--seed "$SEED" --count 200) ;;
        local-changes) args+=(--seed "$SEED" --count 100 --local "$WORK/$2/local") ;;
    esac
    python3 "$BENCH/workload.py" "$1" "${args[@]}"
}

run_floor() {
    local user=floor-$REP line ok=1 note
    fresh_user "$user"
    timed "$LOGS/$user/initial" python3 "$BENCH/floor.py" --port "$PORT" --user "$user" \
        --password "$PASS"
    line=$(grep '^floor:' "$LOGS/$user/initial.log" || true)
    if [[ $T_RC -ne 0 || -z $line ]]; then
        ok=0 note="exit status $T_RC"
        tail -n 5 "$LOGS/$user/initial.log" >&2
    else
        note="stream only ${line##* in }"
    fi
    log "floor      initial         wall ${T_WALL}s  ${line:-FAILED}"
    row floor initial "$T_WALL" "$T_CPU" "$T_RSS" "$ok" "$note"
    ((KEEP)) || rm -rf "${SERVER:?}/mail/$user"
}

run_tool() {
    local tool=$1 user=$1-$REP why wl ok note failed=0 skip=
    why=$(tool_why "$tool")
    if [[ -n $why ]]; then
        ((REP > 1)) || { log "skipping $tool: $why"; row "$tool" - - - - - "skipped: $why"; }
        return 0
    fi
    ((REP > 1)) || echo "version_$tool=$(tool_version "$tool")" >>"$OUT.meta"
    log "=== $tool, repetition $REP/$REPEAT (user $user)"
    fresh_user "$user"
    [[ $tool != mbsync ]] || write_mbsyncrc "$user"
    sync_cmd "$tool" "$user"
    for wl in "${WL[@]}"; do
        if [[ -n $skip ]]; then
            row "$tool" "$wl" - - - 0 "skipped: $skip"
            continue
        fi
        if ! prepare "$wl" "$user" >"$LOGS/$user/$wl.prep" 2>&1; then
            log "$tool/$wl: preparing the workload failed:"
            tail -n 3 "$LOGS/$user/$wl.prep" | sed 's/^/    /' >&2
            row "$tool" "$wl" - - - 0 "preparation failed"
            skip="$wl could not be prepared" failed=1
            continue
        fi
        timed "$LOGS/$user/$wl" "${SYNC[@]}"
        ok=1 note=
        if ((T_RC == 124 || T_RC == 137)); then
            ok=0 note="killed at the ${CAP}s cap" skip="$wl hit the cap" T_WALL=">$CAP"
        elif ((T_RC != 0)); then
            ok=0 note="exit status $T_RC"
        fi
        if ((T_RC != 0)); then
            log "$tool/$wl: $note; the end of $LOGS/$user/$wl.log:"
            tail -n 5 "$LOGS/$user/$wl.log" | sed 's/^/    /' >&2
        fi
        if ! python3 "$BENCH/verify.py" --dovecot "$SERVER" --user "$user" \
                --local "$WORK/$user/local" --label "$tool/$wl" >"$LOGS/$user/$wl.verify"; then
            ok=0 note="${note:+$note; }mismatch"
            grep MISMATCH "$LOGS/$user/$wl.verify" >&2
        fi
        ((ok)) || failed=1
        row "$tool" "$wl" "$T_WALL" "$T_CPU" "$T_RSS" "$ok" "$note"
        log "$(printf '%-10s %-15s wall %7ss  cpu %6ss  rss %7s KB  %s' "$tool" "$wl" \
            "$T_WALL" "$T_CPU" "$T_RSS" "$( ((ok)) && echo ok || echo "FAILED: $note")")"
    done
    if ((!KEEP && !failed)); then
        rm -rf "${SERVER:?}/mail/$user" "${WORK:?}/$user"
    fi
}

# --- main ----------------------------------------------------------------------------
log "bench: $MESSAGES messages, $FOLDERS folders, tools '$TOOLS', port $PORT, scratch $SCRATCH"
start_server
build_corpus
CORPUS_BYTES=$(du -sb --exclude='dovecot*' "$CORPUS/mail" | cut -f1)

printf 'tool\tworkload\trep\twall_s\tcpu_s\tmaxrss_kb\tok\tnote\n' >"$OUT"
cat >"$OUT.meta" <<EOF
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
machine=$(nproc) CPUs, $(free -h | awk '/^Mem:/ { print $2 }') RAM, Linux $(uname -r) $(uname -m)
messages=$MESSAGES
folders=$FOLDERS
seed=$SEED
corpus_bytes=$CORPUS_BYTES
workloads=$WORKLOADS
repeat=$REPEAT
settle_s=$SETTLE
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
version_dovecot=$(/usr/sbin/dovecot --version)
EOF

for ((REP = 1; REP <= REPEAT; REP++)); do
    run_floor
    for t in "${TOOL_LIST[@]}"; do
        run_tool "$t"
    done
done

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT.meta"
echo
python3 "$BENCH/report.py" --runs "$OUT" --summary "${OUT%.tsv}.summary.tsv"
echo
echo "runs: $OUT, summary: ${OUT%.tsv}.summary.tsv, facts: $OUT.meta, logs: $LOGS/"
if grep -q $'\t0\t[^\t]*$' <(tail -n +2 "$OUT"); then
    echo "bench: some workload did not verify (ok=0); see the MISMATCH lines above" >&2
    exit 1
fi
