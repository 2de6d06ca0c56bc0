#!/usr/bin/env bash
# dovecot.sh — a throwaway Dovecot IMAP server for mailferry's tests and demo.
#
#   dovecot.sh start   DIR PORT       write DIR/dovecot.conf, a test CA and a server
#                                     certificate, start Dovecot, wait until it answers
#   dovecot.sh stop    DIR            stop the instance whose pid is in DIR/run/master.pid
#   dovecot.sh adduser DIR USER PASS [MAIL_LOCATION]
#                                     add a user (default mail: Maildir++ in DIR/mail/USER)
#   dovecot.sh doveadm DIR ARGS...    doveadm against this instance
#   dovecot.sh maildir DIR USER       print the Maildir++ root of USER (default location)
#
# Everything lives under DIR: config, passwd file, run and state dirs, logs,
# certificates (DIR/ssl/ca.pem is the CA to trust) and mail. It listens on
# 127.0.0.1 only: PORT is plain IMAP with STARTTLS, PORT+1 implicit TLS. The
# server certificate names only the host "localhost", so connecting by the
# address 127.0.0.1 must fail host name verification.
#
# MF_DOVECOT_EXTRA_CONF (start): text appended to the config, e.g.
# "imap_capability = IMAP4rev1 LITERAL+ UIDPLUS" to hide CONDSTORE/QRESYNC.
# MF_DOVECOT_AUTH_MECHS (start): the login mechanisms offered (default
# "plain login scram-sha-1 scram-sha-256", so that tests log in by SCRAM).
#
# As root, Dovecot's processes and the mail belong to $MF_DOVECOT_USER
# (default nobody); otherwise to the invoking user. A system Dovecot is never
# touched: own base_dir, state_dir, pid file and ports.
set -euo pipefail

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }
trap 'echo "$prog: command failed at line $LINENO" >&2' ERR

DOVECOT=${DOVECOT_BIN:-/usr/sbin/dovecot}
DOVEADM=${DOVEADM_BIN:-/usr/bin/doveadm}

if [[ $(id -u) -eq 0 ]]; then
    run_user=${MF_DOVECOT_USER:-nobody}
else
    run_user=$(id -un)
fi
run_uid=$(id -u "$run_user")
run_gid=$(id -g "$run_user")
run_group=$(id -gn "$run_user")

as_user() {
    if [[ $(id -u) -eq 0 && $run_uid -ne 0 ]]; then
        setpriv --reuid="$run_uid" --regid="$run_gid" --clear-groups -- "$@"
    else
        "$@"
    fi
}

absdir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

make_certs() {
    local ssl=$1
    [[ -s $ssl/server.pem ]] && return 0
    mkdir -p "$ssl"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mailferry test CA" \
        -keyout "$ssl/ca.key" -out "$ssl/ca.pem" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$ssl/server.key" -out "$ssl/server.csr" >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
        >"$ssl/server.ext"
    openssl x509 -req -in "$ssl/server.csr" -CA "$ssl/ca.pem" -CAkey "$ssl/ca.key" \
        -CAcreateserial -days 30 -extfile "$ssl/server.ext" -out "$ssl/server.pem" >/dev/null 2>&1
    chmod 600 "$ssl/server.key" "$ssl/ca.key"
    chown "$run_uid:$run_gid" "$ssl/server.key" 2>/dev/null || true
}

write_config() {
    local dir=$1 port=$2
    mkdir -p "$dir"/{run,state,log,home,mail}
    touch "$dir/passwd"
    make_certs "$dir/ssl"
    cat >"$dir/dovecot.conf" <<EOF
# Written by mailferry tests/dovecot.sh; rewritten at every start.
instance_name = mailferry-test-$(basename "$dir")
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/log/dovecot.log
info_log_path = $dir/log/dovecot.log
default_internal_user = $run_user
default_internal_group = $run_group
default_login_user = $run_user
first_valid_uid = 1
first_valid_gid = 1
protocols = imap
listen = 127.0.0.1
shutdown_clients = yes

ssl = yes
ssl_cert = <$dir/ssl/server.pem
ssl_key = <$dir/ssl/server.key
ssl_min_protocol = TLSv1.2

auth_mechanisms = ${MF_DOVECOT_AUTH_MECHS:-plain login scram-sha-1 scram-sha-256}
disable_plaintext_auth = no
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/passwd
}

mail_location = maildir:$dir/mail/%u
mail_plugins = acl
plugin {
  acl = vfile
}
namespace inbox {
  inbox = yes
  separator = /
  prefix =
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Archive {
    special_use = \\Archive
  }
}
protocol imap {
  mail_plugins = \$mail_plugins imap_acl
  mail_max_userip_connections = 100
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $((port + 1))
    ssl = yes
  }
}
service anvil {
  chroot =
}
service stats {
  inet_listener http {
    port = 0
  }
}
${MF_DOVECOT_EXTRA_CONF:-}
EOF
    chown -R "$run_uid:$run_gid" "$dir"/{run,state,log,home,mail}
}

pid_of() {
    local dir=$1 pid
    [[ -s $dir/run/master.pid ]] || return 1
    pid=$(<"$dir/run/master.pid")
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$dir/dovecot.conf" || return 1
    echo "$pid"
}

wait_port() {
    local port=$1 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

cmd_start() {
    local dir port
    dir=$(absdir "$1"); port=$2
    [[ $port =~ ^[0-9]+$ ]] || die "bad port '$port'"
    if pid_of "$dir" >/dev/null; then
        die "an instance is already running in $dir"
    fi
    [[ -x $DOVECOT ]] || die "$DOVECOT not found (apt-get install dovecot-imapd)"
    write_config "$dir" "$port"
    "$DOVECOT" -c "$dir/dovecot.conf" || die "dovecot did not start; see $dir/log/dovecot.log"
    wait_port "$port" || { tail -20 "$dir/log/dovecot.log" >&2; die "dovecot does not answer on port $port"; }
    wait_port $((port + 1)) || die "dovecot does not answer on port $((port + 1))"
    local i
    for i in $(seq 1 50); do
        pid_of "$dir" && return 0
        sleep 0.1
    done
    die "dovecot answers on port $port but wrote no pid file in $dir/run"
}

cmd_stop() {
    local dir pid i
    dir=$(absdir "$1")
    pid=$(pid_of "$dir") || return 0
    kill "$pid"
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

cmd_adduser() {
    local dir user pass mail extra=""
    dir=$(absdir "$1"); user=$2; pass=$3; mail=${4:-}
    [[ $user =~ ^[A-Za-z0-9._-]+$ ]] || die "bad user name '$user'"
    [[ $pass != *:* && $pass != *$'\n'* ]] || die "password must not contain ':' or newline"
    [[ -n $mail ]] && extra="userdb_mail=$mail"
    mkdir -p "$dir/home/$user"
    chown "$run_uid:$run_gid" "$dir/home/$user"
    # Parallel tests add users at once: append under a lock.
    (
        flock 9
        if ! grep -q "^$user:" "$dir/passwd"; then
            printf '%s:{PLAIN}%s:%s:%s::%s::%s\n' "$user" "$pass" "$run_uid" "$run_gid" \
                "$dir/home/$user" "$extra" >>"$dir/passwd"
        fi
    ) 9>>"$dir/passwd.lock"
    # Dovecot rereads the passwd file when its stamp changes; two users added
    # in one moment can be missed for a while. Wait until the user resolves,
    # nudging the file's mtime forward if it takes long.
    local i
    for i in $(seq 1 50); do
        as_user "$DOVEADM" -c "$dir/dovecot.conf" user "$user" >/dev/null 2>&1 && return 0
        (( i % 10 == 0 )) && touch -d "@$(( $(date +%s) + i / 10 ))" "$dir/passwd"
        sleep 0.1
    done
    die "user '$user' does not resolve in Dovecot"
}

cmd_doveadm() {
    local dir
    dir=$(absdir "$1"); shift
    as_user "$DOVEADM" -c "$dir/dovecot.conf" "$@"
}

case ${1:-} in
    start) [[ $# -eq 3 ]] || die "usage: start DIR PORT"; cmd_start "$2" "$3" ;;
    stop) [[ $# -ge 2 ]] || die "usage: stop DIR"; cmd_stop "$2" ;;
    adduser) [[ $# -ge 4 ]] || die "usage: adduser DIR USER PASS [MAIL]"; shift; cmd_adduser "$@" ;;
    doveadm) [[ $# -ge 2 ]] || die "usage: doveadm DIR ARGS..."; shift; cmd_doveadm "$@" ;;
    maildir) [[ $# -eq 3 ]] || die "usage: maildir DIR USER"; echo "$(absdir "$2")/mail/$3" ;;
    *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
