#!/usr/bin/env bash
# dovecot_e2e.sh MD_TOOL LAYOUT — Dovecot reads the Maildir that mailferry's
# driver wrote, and mailferry's driver reads what Dovecot changed in it.
#
# 1. md-tool writes folders and messages (flags, keywords, internal dates)
#    through the Maildir driver, in LAYOUT "fs" (verbatim) or "pp"
#    (Maildir++).
# 2. A Dovecot user's mail location is pointed at that tree; for each
#    message Dovecot's folder, Message-ID, flags (keywords included),
#    virtual (CRLF) size and received date must equal what the driver
#    lists, and the per-folder message counts must match.
# 3. Dovecot changes the tree (flags and new keywords, a delivery, an
#    expunge); the driver must then list exactly what Dovecot sees.
# Needs the fixture of tests/check.sh (exits 77 without it).
set -euo pipefail
tool=$1 layout=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../e2e/lib.sh
source "$here/../e2e/lib.sh"
mf_require_dovecot

root=$T/maildir-$layout
user=maildire2e$layout$$
"$tool" write "$root" "$layout"
if [[ $(id -u) == 0 ]]; then
    chown -R "${MF_DOVECOT_USER:-nobody}" "$root"
    chmod 755 "$T"
fi
if [[ $layout == fs ]]; then
    loc="maildir:$root:LAYOUT=fs:INBOX=$root/INBOX:UTF-8"
else
    loc="maildir:$root:UTF-8"
fi
"$MF_DOVECOT" adduser "$MF_DOVECOT_DIR" "$user" "$user" "$loc"
# Dovecot rereads its passwd file when it changes; when two tests add users
# within the same moment it may briefly answer "no such user".
for _ in $(seq 1 50); do
    mf_doveadm user "$user" >/dev/null 2>&1 && break
    sleep 0.1
done

# folder TAB message-id TAB flags (lowercase, sorted, no \Recent) TAB size TAB date
dovecot_view() {
    mf_doveadm -f tab fetch -u "$user" \
        "mailbox hdr.message-id flags size.virtual date.received.unixtime" ALL |
        tail -n +2 |
        awk -F'\t' -v OFS='\t' '{
            n = split(tolower($3), w, " "); m = 0
            for (i = 1; i <= n; i++) if (w[i] != "\\recent") v[++m] = w[i]
            for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j-1] > v[j]; j--) {
                t = v[j]; v[j] = v[j-1]; v[j-1] = t }
            f = ""; for (i = 1; i <= m; i++) f = f (i > 1 ? " " : "") v[i]
            print $1, $2, f, $4, $5 }' | LC_ALL=C sort
}
ours_view() { "$tool" dump "$root" "$layout" | LC_ALL=C sort; }

compare() {
    local what=$1
    dovecot_view >"$T/theirs"
    ours_view >"$T/ours"
    if ! diff -u "$T/ours" "$T/theirs"; then
        mf_fail "$layout, $what: Dovecot and the driver disagree (- driver, + Dovecot)"
    fi
    # counts per folder from STATUS
    local box n
    cut -f1 "$T/ours" | sort | uniq -c | while read -r n box; do
        got=$(mf_doveadm -f flow mailbox status -u "$user" messages "$box" |
            sed -n 's/.*messages=\([0-9]*\).*/\1/p')
        [[ $got == "$n" ]] || mf_fail "$layout, $what: '$box' has $got messages in Dovecot, $n here"
    done
}

compare "as written"
[[ $(wc -l <"$T/ours") -eq 10 ]] || mf_fail "expected 10 messages, got $(wc -l <"$T/ours")"
grep -q $'^INBOX\t<kw1@test>\t$forwarded $junk \\\\flagged \\\\seen\t' "$T/theirs" ||
    mf_fail "Dovecot does not see the keywords of kw1"

# Dovecot changes things; the driver must follow.
mf_doveadm flags add -u "$user" '\Answered $Junk newkw' mailbox INBOX header message-id kw2@test
mf_doveadm flags remove -u "$user" '$Forwarded' mailbox Archive header message-id arch1@test
mf_doveadm flags add -u "$user" '\Seen' mailbox INBOX header message-id unseen1@test
mf_doveadm expunge -u "$user" mailbox INBOX header message-id del1@test
mf_msg fromdovecot "saved by Dovecot" >"$T/msg.eml"
mf_doveadm save -u "$user" -m Work/Project <"$T/msg.eml"
compare "after Dovecot's changes"
grep -q $'<kw2@test>\t$junk $label1 \\\\answered newkw work\t' "$T/ours" ||
    mf_fail "the driver does not see Dovecot's new keyword"
[[ $(wc -l <"$T/ours") -eq 10 ]] || mf_fail "expected 10 messages after the changes"
echo "ok: $layout"
