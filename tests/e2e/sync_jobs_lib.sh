# shellcheck shell=bash
# tests/e2e/sync_jobs_lib.sh — helpers for the --jobs tests (sourced after
# lib.sh and sync_lib.sh).

# jsync USER PORT DIR STATE [ARGS...]: one sync against 127.0.0.1:PORT.
jsync() {
    local user=$1 port=$2 dir=$3 state=$4
    shift 4
    MAILFERRY_PASSWORD=$user "$MF_BIN" sync --remote "imap://$user@127.0.0.1:$port" \
        --local "maildir:$dir" --state "$state" "$@"
}

# workers TRACE: "STARTED of FORKED" extra workers of a -vv run ("" if none).
workers() { sed -n 's/^\([0-9]* of [0-9]*\) extra workers connected$/\1/p' "$1"; }
