#!/usr/bin/env bash
# sync_oauth.sh — logging in with an OAuth 2.0 access token. A Dovecot of
# this test's own offers XOAUTH2 and OAUTHBEARER through its oauth2 passdb,
# which asks a token introspection endpoint (oauth2_introspect.py) whose
# token it is. The token comes from --pass-cmd, as from an OAuth2 helper:
# the right one syncs by either mechanism; a refused one exits 2 with the
# status of the server's error challenge; the token never shows in -vv.
# Then mailferry-oauth2 against the same provider (oauth2_server.py): a
# device login, a sync whose --pass-cmd is the helper, a cached access
# token, a refresh with rotation, a --jobs run whose every login asks the
# helper (one refresh among them), a revoked refresh token, an http:// URL.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync_lib.sh"
mf_require_dovecot
chmod 755 "$T" # this Dovecot's processes may run as another user (dovecot.sh)
dc=$T/dc
good=tok-good-$$
python3 "$(dirname "$0")/oauth2_server.py" "$T/iport" oauser "$good" 2>"$T/oauth2.log" &
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
# mailferry-oauth2: a device login keeps the refresh token; "token" hands
# sync an access token, from the file while it is fresh (no request), else
# by the refresh grant, keeping the provider's rotated refresh token
helper=$(dirname "$MF_BIN")/mailferry-oauth2
ourl=http://127.0.0.1:$(cat "$T/iport")
common=(--token-url "$ourl/token" --client-id mailferry-test --token-file "$T/tokens")
"$helper" login --device-url "$ourl/device" --scope mail "${common[@]}" 2>"$T/login" ||
    mf_fail "device login: $(cat "$T/login")"
grep -q 'WDJB-MJHT' "$T/login" || mf_fail "the user code was not shown: $(cat "$T/login")"
[[ $(stat -c %a "$T/tokens") == 600 ]] || mf_fail "token file mode $(stat -c %a "$T/tokens")"
rt1=$(sed -n 's/^refresh_token=//p' "$T/tokens")
[[ -n $rt1 ]] || mf_fail "no refresh token kept: $(cat "$T/tokens")"
stats() { python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))[sys.argv[2]])' "$ourl/stats" "$1"; }
before=$(stats token_requests)
mf_msg oauth-helper "by the helper" >"$T/m"
"$MF_DOVECOT" doveadm "$dc" save -u oauser -m INBOX <"$T/m"
"$MF_BIN" sync -q --auth xoauth2 --pass-cmd "$helper token ${common[*]}" \
    --remote "imap://oauser@127.0.0.1:$port" --local "maildir:$T/mail" --state "$T/state" ||
    mf_fail "sync with the helper's token failed"
[[ $(stats token_requests) == "$before" ]] || mf_fail "a fresh access token was not taken from the file"
find "$T/mail/INBOX" -type f | xargs grep -l 'Message-ID: <oauth-helper@test>' >/dev/null ||
    mf_fail "the helper's sync did not pull"
# the kept access token has expired: refreshed, and the refresh token rotated
sed -i 's/^expires=.*/expires=1/' "$T/tokens"
at=$("$helper" token "${common[@]}") || mf_fail "token after expiry failed"
[[ $at == at-* && $(stats refresh_grants) == 1 ]] || mf_fail "no refresh: $at"
rt2=$(sed -n 's/^refresh_token=//p' "$T/tokens")
[[ -n $rt2 && $rt2 != "$rt1" ]] || mf_fail "the rotated refresh token was not kept"
[[ $("$helper" token "${common[@]}") == "$at" ]] || mf_fail "the new access token was not kept"
# every login of a parallel run asks the command for a token (tokens expire
# during long runs), and the helper's lock lets only one of them refresh
for b in Box1 Box2 Box3 Box4; do
    "$MF_DOVECOT" doveadm "$dc" mailbox create -u oauser "$b"
    mf_msg "oauth-$b" "$b" >"$T/m"
    "$MF_DOVECOT" doveadm "$dc" save -u oauser -m "$b" <"$T/m"
done
sed -i 's/^expires=.*/expires=1/' "$T/tokens"
grants=$(stats refresh_grants)
"$MF_BIN" sync -q --jobs 3 --auth xoauth2 \
    --pass-cmd "echo run >>'$T/calls'; $helper token ${common[*]}" \
    --remote "imap://oauser@127.0.0.1:$port" --local "maildir:$T/mail" --state "$T/state" ||
    mf_fail "--jobs 3 with the helper failed"
calls=$(wc -l <"$T/calls")
(( calls >= 4 )) || mf_fail "the token command ran $calls times for a --jobs 3 run"
[[ $(stats refresh_grants) == $((grants + 1)) ]] ||
    mf_fail "$(( $(stats refresh_grants) - grants )) refreshes for one expired token"
for b in Box1 Box2 Box3 Box4; do
    find "$T/mail/$b" -type f | xargs grep -l "Message-ID: <oauth-$b@test>" >/dev/null ||
        mf_fail "$b was not pulled"
done

# a revoked refresh token: exit 1, told to log in again, the file untouched
cp "$T/tokens" "$T/tokens.before"
sed -i "s/^refresh_token=.*/refresh_token=$rt1/; s/^expires=.*/expires=1/" "$T/tokens"
set +e
"$helper" token "${common[@]}" >/dev/null 2>"$T/err"
rc=$?
set -e
(( rc == 1 )) && grep -q 'invalid_grant.*login again' "$T/err" ||
    mf_fail "revoked refresh token: exit $rc: $(cat "$T/err")"
grep -q "^refresh_token=$rt1\$" "$T/tokens" || mf_fail "the token file changed on a refusal"
# plain http to a non-loopback address is refused before any request
set +e
"$helper" token --token-url http://example.test/token --client-id x --token-file "$T/tokens.before" \
    >/dev/null 2>"$T/err"
rc=$?
set -e
(( rc == 2 )) && grep -q 'not an https:// URL' "$T/err" || mf_fail "http URL: exit $rc: $(cat "$T/err")"
echo "ok: OAUTHBEARER and XOAUTH2 logins; mailferry-oauth2 device login, cached and refreshed tokens"
