#!/usr/bin/env bash
# sync_oauth.sh — logging in with an OAuth 2.0 access token. A Dovecot of
# this test's own offers XOAUTH2 and OAUTHBEARER through its oauth2 passdb,
# which asks a token introspection endpoint (oauth2_introspect.py) whose
# token it is. The token comes from --pass-cmd, as from an OAuth2 helper:
# the right one syncs by either mechanism; a refused one exits 2 with the
# status of the server's error challenge; the token never shows in -vv.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
chmod 755 "$T" # this Dovecot's processes may run as another user (dovecot.sh)
dc=$T/dc
good=tok-good-$$
python3 "$(dirname "$0")/oauth2_introspect.py" "$T/iport" "$good=oauser" 2>"$T/intro.log" &
ipid=$!
cleanup() {
    "$MF_DOVECOT" stop "$dc" >/dev/null 2>&1 || true
    kill "$ipid" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
for _ in $(seq 50); do [[ -s $T/iport ]] && break; sleep 0.1; done
[[ -s $T/iport ]] || mf_fail "the introspection endpoint did not start"
cat >"$T/oauth2.conf.ext" <<CONF
introspection_mode = post
introspection_url = http://127.0.0.1:$(cat "$T/iport")/introspect
username_attribute = username
active_attribute = active
active_value = true
CONF
chmod 644 "$T/oauth2.conf.ext"
# two free ports in a row (plain, implicit TLS)
port=$(python3 -c '
import socket, random
for _ in range(200):
    p = random.randint(30000, 59000)
    try:
        for q in (p, p + 1):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass')
MF_DOVECOT_AUTH_MECHS="plain login xoauth2 oauthbearer" MF_DOVECOT_EXTRA_CONF="passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $T/oauth2.conf.ext
}" "$MF_DOVECOT" start "$dc" "$port" >/dev/null || mf_fail "Dovecot with oauth2 did not start"
"$MF_DOVECOT" adduser "$dc" oauser "not-the-token" >/dev/null || { tail -20 "$dc"/log/*; mf_fail "adduser"; }
mf_msg oauth-1 "first" >"$T/m"
"$MF_DOVECOT" doveadm "$dc" save -u oauser -m INBOX <"$T/m"

n=0
for mech in xoauth2 oauthbearer; do
    n=$((n + 1))
    mf_msg "oauth-$mech" "by $mech" >"$T/m"
    "$MF_DOVECOT" doveadm "$dc" save -u oauser -m INBOX <"$T/m"
    "$MF_BIN" sync -vv --auth "$mech" --pass-cmd "echo $good" \
        --remote "imap://oauser@127.0.0.1:$port" --local "maildir:$T/mail" \
        --state "$T/state" >/dev/null 2>"$T/tr" || mf_fail "$mech: $(grep -v '^[<>]' "$T/tr")"
    upper=$(tr a-z A-Z <<<"$mech")
    grep -q "> A1 AUTHENTICATE $upper <redacted>" "$T/tr" ||
        mf_fail "$mech: not used: $(grep -m2 '> A1' "$T/tr")"
    grep -q "$good" "$T/tr" && mf_fail "$mech: the token is in the trace"
    got=$(find "$T/mail/INBOX" -type f -path '*/[cn][ue][rw]/*' -exec grep -l "Message-ID: <oauth-$mech@test>" {} + | wc -l)
    [[ $got == 1 ]] || mf_fail "$mech: the new message was not pulled ($got)"
done
[[ $(find "$T/mail/INBOX" -type f -path '*/[cn][ue][rw]/*' | wc -l) == 3 ]] ||
    mf_fail "expected 3 messages: $(ls -R "$T/mail")"

# a token the endpoint does not know: refused, exit 2, the status shown
for mech in xoauth2 oauthbearer; do
    set +e
    "$MF_BIN" sync --auth "$mech" --pass-cmd "echo tok-expired" \
        --remote "imap://oauser@127.0.0.1:$port" --local "maildir:$T/mail" \
        --state "$T/state" >/dev/null 2>"$T/err"
    rc=$?
    set -e
    (( rc == 2 )) && grep -q "AUTHENTICATE $(tr a-z A-Z <<<"$mech"): NO .*(token refused: status [a-z0-9_]*)" "$T/err" ||
        mf_fail "$mech with a bad token: exit $rc: $(cat "$T/err")"
done
# auto never sends a token as a bearer: this server's PLAIN gets it (and refuses)
set +e
"$MF_BIN" sync -vv --pass-cmd "echo $good" --remote "imap://oauser@127.0.0.1:$port" \
    --local "maildir:$T/mail" --state "$T/state" >/dev/null 2>"$T/tr"
rc=$?
set -e
(( rc == 2 )) && grep -q '> A1 AUTHENTICATE PLAIN <redacted>' "$T/tr" ||
    mf_fail "auto with an OAuth server: exit $rc: $(grep -m2 '> A1' "$T/tr")"
echo "ok: OAUTHBEARER and XOAUTH2 logins with a token from --pass-cmd"
