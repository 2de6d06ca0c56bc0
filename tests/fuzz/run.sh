#!/bin/sh
# tests/fuzz/run.sh BUILD_DIR SECONDS — run the parser fuzzer on a copy of
# the seed corpus for SECONDS; exit nonzero on any crash, leak, timeout or
# sanitizer report. BUILD_DIR must be configured with -Dfuzz=true and clang
# (see tests/fuzz/meson.build); the target is (re)built first.
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
fi
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
ninja -C "$build" tests/fuzz/fuzz-parser >/dev/null || {
	echo "fuzz: cannot build fuzz-parser in $build (configure with CC=clang -Dfuzz=true)" >&2
	exit 1
}
bin=$build/tests/fuzz/fuzz-parser
work=$(mktemp -d "${TMPDIR:-/tmp}/mf-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/corpus" "$work/artifacts"
cp "$here"/corpus/parser/* "$work/corpus/"
log=$work/fuzz.log
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
	-print_final_stats=1 -dict="$here/parser.dict" \
	-artifact_prefix="$work/artifacts/" "$work/corpus" \
	>"$log" 2>&1
rc=$?
tail -n 25 "$log" >&2
if [ $rc -ne 0 ] || grep -qE 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY: ' "$log" ||
   [ -n "$(ls -A "$work/artifacts")" ]; then
	echo "fuzz: FAILED (exit $rc); artifacts:" >&2
	for f in "$work"/artifacts/*; do
		[ -e "$f" ] || continue
		mkdir -p "$build/fuzz-artifacts"
		cp "$f" "$build/fuzz-artifacts/"
		echo "  $build/fuzz-artifacts/$(basename "$f")" >&2
	done
	exit 1
fi
echo "fuzz: ok, $secs s, no crash, leak or sanitizer report" >&2
exit 0
