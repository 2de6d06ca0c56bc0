#!/usr/bin/env bash
# probe_e2e.sh MODE — `mailferry probe` against the Dovecot fixture.
#   counts  the table and --json show the figures `doveadm mailbox status`
#           reports, for several folders, one of them non-ASCII
#   errors  wrong password (exit 1, host and step named), a password never
#           in the -vv trace, plaintext to a remote host refused (exit 2),
#           a certificate for another host name refused with the names seen
# shellcheck source=../e2e/lib.sh
source "$(dirname "$0")/../e2e/lib.sh"
mf_require_dovecot

mode=${1:?mode}
CA=$MF_TEST_CA
URL_BASE="localhost:$MF_IMAP_PORT"

# doveadm's figures as "name messages unseen uidvalidity uidnext highestmodseq"
doveadm_rows() {
    mf_doveadm -f flow mailbox status -u "$1" "messages unseen uidvalidity uidnext highestmodseq" '*' |
        python3 -c '
import sys, re
for line in sys.stdin:
    m = re.match(r"^(.*?) ((?:\w+=\d+ ?)+)$", line.rstrip("\n"))
    if not m: continue
    kv = dict(p.split("=") for p in m.group(2).split())
    print(m.group(1), *(kv[k] for k in ("messages","unseen","uidvalidity","uidnext","highestmodseq")))
' | sort
}

# the probe table's rows: the last five columns are the figures, the first the name
table_rows() {
    awk 'seen { print $1, $(NF-4), $(NF-3), $(NF-2), $(NF-1), $NF } /^MAILBOX /{ seen = 1 }' | sort
}

json_rows() {
    python3 -c '
import sys, json
d = json.load(sys.stdin)
for b in d["mailboxes"]:
    if b.get("status", 0) is None: continue
    print(b["name"], b["messages"], b["unseen"], b["uidvalidity"], b["uidnext"], b["highestmodseq"] or 0)
' | sort
}

case $mode in
counts)
    U=probe-counts
    mf_user $U
    for i in 1 2 3; do mf_msg "in$i" "inbox $i" >"$T/m"; mf_deliver $U INBOX "$T/m"; done
    mf_msg s1 "sent" >"$T/m"; mf_deliver $U Sent "$T/m"
    for i in 1 2; do mf_msg "d$i" "draft $i" >"$T/m"; mf_deliver $U "Entwürfe" "$T/m"; done
    mf_msg w1 "work" >"$T/m"; mf_deliver $U "Work/Projects" "$T/m"
    mf_doveadm mailbox create -u $U "日本語"
    mf_doveadm flags add -u $U '\Seen' mailbox INBOX uid 2
    mf_doveadm flags add -u $U '\Seen' mailbox "Entwürfe" uid 1

    doveadm_rows $U >"$T/want"
    [[ $(wc -l <"$T/want") -ge 5 ]] || mf_fail "doveadm listed too few mailboxes: $(cat "$T/want")"

    MAILFERRY_PASSWORD=$U "$MF_BIN" probe "imap://$U@$URL_BASE" --ca-file "$CA" >"$T/table" ||
        mf_fail "probe failed: $(cat "$T/table")"
    grep -q '^greeting ' "$T/table" || mf_fail "no greeting line"
    grep -q '^capabilities before login .*AUTH=PLAIN' "$T/table" || mf_fail "no pre-login capabilities"
    grep -q '^capabilities after login .*IMAP4REV1' "$T/table" || mf_fail "no capabilities"
    grep -q '^  personal ' "$T/table" || mf_fail "no namespaces"
    grep -Eq '^Sent +/ +\\Sent ' "$T/table" || mf_fail "Sent without its special-use"
    table_rows <"$T/table" >"$T/got"
    diff -u "$T/want" "$T/got" || mf_fail "table figures differ from doveadm"

    MAILFERRY_PASSWORD=$U "$MF_BIN" probe "imaps://$U@localhost:$MF_IMAPS_PORT" --ca-file "$CA" \
        --json >"$T/json" || mf_fail "probe --json failed"
    json_rows <"$T/json" >"$T/got"
    diff -u "$T/want" "$T/got" || mf_fail "JSON figures differ from doveadm"
    python3 -c '
import sys, json
d = json.load(open(sys.argv[1]))
names = {b["name"]: b for b in d["mailboxes"]}
assert "日本語" in names and "Entwürfe" in names, names.keys()
assert names["Sent"]["special_use"] == "\\Sent", names["Sent"]
assert names["INBOX"]["delimiter"] == "/"
assert d["tls"] == "implicit" and d["namespaces"]["personal"][0]["delimiter"] == "/"
assert "IMAP4REV1" in d["capabilities_after_login"]
' "$T/json" || mf_fail "JSON content"
    ;;
errors)
    U=probe-errors
    PW='Pr0be-S3cret-zq7'
    mf_doveadm mailbox list -u $U >/dev/null 2>&1 || true
    "$MF_DOVECOT" adduser "$MF_DOVECOT_DIR" $U "$PW"

    set +e
    MAILFERRY_PASSWORD=wrong-one "$MF_BIN" probe "imap://$U@$URL_BASE" --ca-file "$CA" \
        >"$T/out" 2>"$T/err"
    rc=$?
    set -e
    [[ $rc -eq 1 ]] || mf_fail "wrong password: exit $rc, want 1"
    grep -q '^mailferry: probe: localhost: login: .*AUTHENTICATIONFAILED' "$T/err" ||
        mf_fail "wrong password message: $(cat "$T/err")"

    # -vv: the trace is there, the password is not (nor its SASL PLAIN form;
    # the fixture offers SCRAM, which never sends it)
    printf '%s\n' "$PW" >"$T/pw"
    chmod 600 "$T/pw"
    "$MF_BIN" probe "imap://$U@$URL_BASE" --ca-file "$CA" --pass-file "$T/pw" -vv \
        >"$T/out" 2>&1 || mf_fail "probe -vv failed: $(tail -5 "$T/out")"
    grep -q '^C: .*AUTHENTICATE [A-Z0-9-]* <redacted>\|^C: .*LOGIN <redacted>' "$T/out" ||
        mf_fail "no redacted login in the trace"
    grep -q '^S: .* OK ' "$T/out" || mf_fail "no server lines in the trace"
    b64=$(printf '\0%s\0%s' "$U" "$PW" | base64 -w0)
    if grep -qF -e "$PW" -e "$b64" "$T/out"; then mf_fail "password in the -vv output"; fi
    "$MF_BIN" probe "imap://$U@$URL_BASE" --ca-file "$CA" --tls none -vv \
        --pass-cmd "printf '%s\n' '$PW'" >"$T/out" 2>&1 || mf_fail "plaintext loopback failed"
    if grep -qF -e "$PW" -e "$b64" "$T/out"; then mf_fail "password in the -vv plaintext output"; fi

    # a password file others can read is refused; a failing command is named
    chmod 644 "$T/pw"
    set +e
    "$MF_BIN" probe "imap://$U@$URL_BASE" --ca-file "$CA" --pass-file "$T/pw" 2>"$T/err"
    rc=$?
    set -e
    [[ $rc -eq 2 ]] && grep -q 'chmod 600' "$T/err" || mf_fail "open password file: $rc $(cat "$T/err")"
    set +e
    "$MF_BIN" probe "imap://$U@$URL_BASE" --ca-file "$CA" --pass-cmd 'exit 3' 2>"$T/err"
    rc=$?
    set -e
    [[ $rc -eq 1 ]] && grep -q "password command 'exit 3' failed with exit status 3" "$T/err" ||
        mf_fail "failing pass-cmd: $rc $(cat "$T/err")"

    # plaintext to a non-loopback host: refused before connecting
    for url in "imap://$U@192.0.2.1" "imap://$U@[2001:db8::1]:143" "imap://$U@mail.example.com"; do
        set +e
        MAILFERRY_PASSWORD=$PW timeout 10 "$MF_BIN" probe "$url" --tls none 2>"$T/err"
        rc=$?
        set -e
        [[ $rc -eq 2 ]] || mf_fail "plaintext to $url: exit $rc, want 2"
        grep -q 'refusing plaintext' "$T/err" || mf_fail "plaintext message: $(cat "$T/err")"
    done

    # a certificate for "localhost" reached as 127.0.0.1
    set +e
    MAILFERRY_PASSWORD=$PW "$MF_BIN" probe "imaps://$U@127.0.0.1:$MF_IMAPS_PORT" --ca-file "$CA" \
        2>"$T/err"
    rc=$?
    set -e
    [[ $rc -eq 1 ]] || mf_fail "host name mismatch: exit $rc, want 1"
    grep -q '^mailferry: probe: 127.0.0.1: connect: .*does not match.*localhost' "$T/err" ||
        mf_fail "mismatch message: $(cat "$T/err")"

    # usage errors
    set +e
    "$MF_BIN" probe >/dev/null 2>&1; rc1=$?
    "$MF_BIN" probe "imap://$U@$URL_BASE" --password x >/dev/null 2>&1; rc2=$?
    "$MF_BIN" probe "pop://x@y" >/dev/null 2>&1; rc3=$?
    set -e
    [[ $rc1 -eq 2 && $rc2 -eq 2 && $rc3 -eq 2 ]] || mf_fail "usage exits $rc1 $rc2 $rc3"
    "$MF_BIN" probe --help | grep -q -- '--pass-cmd' || mf_fail "help"
    ;;
*) mf_fail "unknown mode $mode" ;;
esac
echo "ok $mode"
