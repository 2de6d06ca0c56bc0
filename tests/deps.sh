#!/usr/bin/env bash
# tests/deps.sh — install the Debian packages mailferry builds and tests with,
# only those missing (apt-get; through sudo when not root).
set -euo pipefail

pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev libc6-dev
      libssl-dev libsqlite3-dev zlib1g-dev libcurl4-openssl-dev libjansson-dev
      libinih-dev dovecot-imapd dovecot-core openssl sqlite3 python3 util-linux
      procps strace)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
# The package starts a system Dovecot on 143/993; the tests use their own.
"${sudo[@]}" systemctl disable --now dovecot >/dev/null 2>&1 || true
