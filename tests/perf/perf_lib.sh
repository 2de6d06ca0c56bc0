# shellcheck shell=bash
# tests/perf/perf_lib.sh — helpers for the fast-path tests (sourced after
# tests/e2e/lib.sh and tests/e2e/sync_lib.sh).

# psync USER PORT LOCALDIR STATEDIR [ARGS...]: one sync of USER's account on
# the Dovecot at 127.0.0.1:PORT with LOCALDIR, journal in STATEDIR.
psync() {
    local user=$1 port=$2 dir=$3 state=$4
    shift 4
    MAILFERRY_PASSWORD=$user "$MF_BIN" sync --remote "imap://$user@127.0.0.1:$port" \
        --local "maildir:$dir" --state "$state" "$@"
}

# seed_folders USER COUNT: COUNT messages in each of INBOX, Work and
# Lists/Big, with Message-IDs <USER-FOLDER-N@test>, delivered through doveadm.
seed_folders() {
    local user=$1 count=$2 f i
    for f in INBOX Work Lists/Big; do
        for i in $(seq 1 "$count"); do
            mf_msg "$user-$f-$i" "$f $i" >"$T/m"
            mf_deliver "$user" "$f" "$T/m"
        done
    done
}

# commands TRACE: the client's command lines of a -vv trace, tags dropped
# ("SELECT \"A\"", "UID FETCH 1:* (...)").
commands() { sed -n 's/^> [A-Za-z0-9]* //p' "$1"; }

# selected TRACE: the mailboxes SELECTed or EXAMINEd, one per line, sorted.
selected() {
    commands "$1" | sed -n 's/^\(SELECT\|EXAMINE\) "\{0,1\}\([^" ]*\)"\{0,1\}.*/\2/p' | sort
}

# settle: a Maildir marker (directory mtimes) is trusted only when the
# folder was last written more than one whole second before the marker was
# read (maildir_scan_marker), so a folder a run wrote is opened once more by
# the next run. Wait so that the next run records trusted markers.
settle() { sleep 2.1; }

# same_state A B WHAT: fail with a diff unless the two state texts agree.
same_state() {
    if [[ "$1" != "$2" ]]; then
        diff <(echo "$1") <(echo "$2") >&2 || true
        mf_fail "$3"
    fi
}

# second_dovecot DIR: start a second Dovecot instance in DIR on a port
# derived from the fixture's ($MF_IMAP_PORT + 10, else the next free pair),
# with $MF_DOVECOT_EXTRA_CONF appended; prints the port. Stopped by
# stop_second_dovecot (call it from the EXIT trap).
second_dovecot() {
    local dir=$1 port=$((MF_IMAP_PORT + 10)) i
    for i in $(seq 0 40); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
            ! (exec 3<>"/dev/tcp/127.0.0.1/$((port + 1))") 2>/dev/null; then
            if "$MF_DOVECOT" start "$dir" "$port" >/dev/null 2>&1; then
                echo "$port"
                return 0
            fi
        fi
        port=$((port + 2 + RANDOM % 50))
    done
    return 1
}
stop_second_dovecot() { "$MF_DOVECOT" stop "$1" >/dev/null 2>&1 || true; }
