#!/usr/bin/env bash
# tests/check.sh — the one test command: installs what is missing (Debian),
# builds mailferry with ASan+UBSan and warnings as errors, starts a throwaway
# Dovecot on 127.0.0.1, runs the whole suite (unit, end-to-end, a short
# fuzzing run), and ends with one line "N passed, N failed".
#
#   tests/check.sh            everything
#   MF_FUZZ_SECONDS=0 tests/check.sh   skip nothing but fuzz for 0 s
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$top" || exit 1
build=${MF_BUILD_DIR:-$top/build-check}
fuzz_build=${MF_FUZZ_BUILD_DIR:-$top/build-fuzz}
fuzz_seconds=${MF_FUZZ_SECONDS:-60}
port=${MF_TEST_PORT:-19143}

say() { printf '== %s\n' "$*" >&2; }

# --- dependencies -------------------------------------------------------------
"$top/tests/deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

# --- build --------------------------------------------------------------------
say "building (gcc, ASan+UBSan, -Werror) in $build"
if [[ ! -d $build ]]; then
    CC=gcc meson setup "$build" -Dwerror=true -Db_sanitize=address,undefined \
        -Dbuildtype=debug >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C "$build" >"$build.log" 2>&1; then
    cat "$build.log" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

# --- Dovecot ------------------------------------------------------------------
scratch=$(mktemp -d /tmp/mailferry-check.XXXXXX)
chmod 755 "$scratch"
dc="$scratch/dovecot"
cleanup() {
    "$top/tests/dovecot.sh" stop "$dc" >/dev/null 2>&1
    rm -rf "$scratch"
}
trap cleanup EXIT
say "starting Dovecot on 127.0.0.1:$port"
if ! "$top/tests/dovecot.sh" start "$dc" "$port" >/dev/null; then
    echo "0 passed, 1 failed"
    exit 1
fi
export MF_DOVECOT_DIR=$dc MF_IMAP_PORT=$port MF_IMAPS_PORT=$((port + 1))
export MF_TEST_CA=$dc/ssl/ca.pem MF_DOVECOT=$top/tests/dovecot.sh MF_BIN=$build/mailferry
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# --- tests --------------------------------------------------------------------
say "running the test suite"
meson test -C "$build" --print-errorlogs --num-processes 2 --timeout-multiplier 3 >&2
json=$build/meson-logs/testlog.json
passed=0 failed=0
if [[ -s $json ]]; then
    # One JSON object per test; a skipped test is not a pass: inside check.sh
    # the fixture is always there, so a skip means something is broken.
    read -r passed failed < <(python3 -c '
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r == "OK" or r == "EXPECTEDFAIL":
        ok += 1
    else:
        bad += 1
print(ok, bad)' "$json")
else
    failed=1
fi

# --- fuzzing ------------------------------------------------------------------
if [[ $fuzz_seconds -gt 0 && -x $top/tests/fuzz/run.sh ]]; then
    say "fuzzing the response parser for ${fuzz_seconds}s (clang, libFuzzer)"
    if [[ ! -d $fuzz_build ]]; then
        CC=clang meson setup "$fuzz_build" -Dfuzz=true -Db_sanitize=address,undefined \
            -Db_lundef=false -Dbuildtype=debug >/dev/null 2>&1
    fi
    if ninja -C "$fuzz_build" >"$fuzz_build.log" 2>&1 &&
        "$top/tests/fuzz/run.sh" "$fuzz_build" "$fuzz_seconds" >&2; then
        passed=$((passed + 1))
    else
        tail -50 "$fuzz_build.log" >&2
        say "fuzzing FAILED"
        failed=$((failed + 1))
    fi
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
