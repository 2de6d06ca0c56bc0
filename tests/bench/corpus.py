#!/usr/bin/env python3
"""corpus.py - the benchmark's deterministic mail corpus.

Writes RFC 5322 messages straight into a Dovecot Maildir++ tree
(INBOX at the root, folder "Lists/dev" in ROOT/.Lists.dev), so that no
delivery path is timed or even involved.  The same --seed, --messages and
--folders give byte-identical files with identical names.

Shape, drawn independently per message:
  - size lognormal with a median of ~6 KB (sigma 1, clamped to 0.9-400 KB);
  - 2 % are 0.2-2 MB messages carrying one base64 attachment;
  - 10 % are multipart/alternative, 10 % have a UTF-8 (RFC 2047) subject;
  - unique Message-IDs; dates spread over 2019-2023 (also the file mtime,
    which Dovecot takes as INTERNALDATE);
  - flags in the file name: S 70 %, R 10 %, F 3 %.
Folder sizes fall off like Zipf: INBOX and Archive are big, the tail small.

Also imported by workload.py for the extra messages of remote-new and
local-changes (make_message).
"""

import argparse
import base64
import email.header
import math
import os
import random
import sys
import time

START_EPOCH = 1546300800  # 2019-01-01T00:00:00Z
END_EPOCH = 1704067200    # 2024-01-01T00:00:00Z

# IMAP names, separator '/'; the first M are used.  One is nested.
FOLDER_NAMES = ["INBOX", "Archive", "Lists/dev", "Sent", "Work", "Receipts",
                "Travel", "Family"]

WORDS = (
    "the of and to in is for that on with as it was be by this are or from at "
    "an have not but we you all they which can has more will one were there "
    "about if when would also into only other new some what time could these "
    "two may first then any like now over such our even most made after well "
    "where many before must through back years much your way down should each "
    "meeting patch release server mailbox folder message sync build review "
    "branch commit kernel driver memory latency invoice receipt flight hotel "
    "schedule agenda deadline proposal budget quarter report feedback thanks "
    "regards please attached draft version update issue bug fix test deploy"
).split()
UTF8_WORDS = ["Grüße", "Café", "naïve", "Zürich", "Привет", "日本語", "Ελληνικά",
              "Déjà", "señor", "Kraków"]
NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi",
         "Ivan", "Judy", "Mallory", "Olivia", "Peggy", "Rupert", "Trent", "Victor"]
DOMAINS = ["example.org", "example.com", "example.net", "lists.example.org"]


def folder_list(m):
    """The first M folder names (INBOX first), padded with FolderNN."""
    if m < 1:
        raise SystemExit("corpus: need at least one folder")
    names = FOLDER_NAMES[:m]
    names += ["Folder%02d" % i for i in range(len(names), m)]
    return names


def folder_dirname(name):
    """IMAP name -> Maildir++ directory relative to the root ('' = INBOX)."""
    return "" if name == "INBOX" else "." + name.replace("/", ".")


class TextPool:
    """About a megabyte of pseudo-prose; message bodies are slices of it."""

    def __init__(self, seed, size=1 << 20):
        rng = random.Random(seed * 7919 + 1)
        lines, total = [], 0
        while total < size:
            line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 13)))
            if rng.random() < 0.06:
                line = "> " + line
            elif rng.random() < 0.03:
                line = ""
            lines.append(line)
            total += len(line) + 1
        self.text = "\n".join(lines) + "\n"

    def slice(self, rng, n):
        t = self.text
        if n >= len(t):
            return (t * (n // len(t) + 1))[:n]
        start = rng.randrange(0, len(t) - n)
        return t[start:start + n]


def date_header(epoch, rng):
    tz = rng.choice([0, 60, 120, -300, 330, 540])
    t = time.gmtime(epoch + tz * 60)
    return (time.strftime("%a, %d %b %Y %H:%M:%S ", t)
            + "%s%02d%02d" % ("+" if tz >= 0 else "-", abs(tz) // 60, abs(tz) % 60))


def address(rng):
    name = rng.choice(NAMES)
    return "%s <%s@%s>" % (name, name.lower(), rng.choice(DOMAINS))


def draw_size(rng):
    """(total size in bytes, carries an attachment)"""
    if rng.random() < 0.02:
        return int(math.exp(rng.uniform(math.log(200e3), math.log(2e6)))), True
    return max(900, min(int(rng.lognormvariate(math.log(6000), 1.0)), 400 << 10)), False


def draw_flags(rng):
    f = ""
    if rng.random() < 0.03:
        f += "F"
    if rng.random() < 0.10:
        f += "R"
    if rng.random() < 0.70:
        f += "S"
    return f  # already in Maildir order (ASCII)


def make_message(rng, pool, msgid, epoch):
    """One RFC 5322 message as bytes with LF line ends, as Maildir stores it."""
    size, attach = draw_size(rng)
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))).capitalize()
    if rng.random() < 0.10:
        subject = email.header.Header(subject + " " + rng.choice(UTF8_WORDS),
                                      "utf-8", maxlinelen=76).encode()
    h = [
        "Return-Path: <bounce@%s>" % rng.choice(DOMAINS),
        "Received: from mx.%s (mx.%s [192.0.2.%d])\n\tby mail.example.org with ESMTPS"
        " id %08X\n\tfor <user@example.org>; %s"
        % (rng.choice(DOMAINS), rng.choice(DOMAINS), rng.randint(1, 254),
           rng.getrandbits(32), date_header(epoch + 3, rng)),
        "Date: " + date_header(epoch, rng),
        "From: " + address(rng),
        "To: " + address(rng),
        "Subject: " + subject,
        "Message-ID: " + msgid,
        "MIME-Version: 1.0",
    ]
    head = "\n".join(h) + "\n"
    budget = max(200, size - len(head) - 150)
    if attach:
        b = "=_mix_%016x" % rng.getrandbits(64)
        text = pool.slice(rng, rng.randint(300, 3000))
        payload = base64.encodebytes(rng.randbytes(max(1024, (budget - len(text)) * 3 // 4)))
        body = ("Content-Type: multipart/mixed; boundary=\"%s\"\n\n--%s\n"
                "Content-Type: text/plain; charset=us-ascii\n\n%s\n--%s\n"
                "Content-Type: application/pdf; name=\"file.pdf\"\n"
                "Content-Disposition: attachment; filename=\"file.pdf\"\n"
                "Content-Transfer-Encoding: base64\n\n%s\n--%s--\n"
                % (b, b, text, b, payload.decode("ascii"), b))
    elif rng.random() < 0.10:
        b = "=_alt_%016x" % rng.getrandbits(64)
        text = pool.slice(rng, max(100, budget // 2))
        body = ("Content-Type: multipart/alternative; boundary=\"%s\"\n\n--%s\n"
                "Content-Type: text/plain; charset=us-ascii\n\n%s\n--%s\n"
                "Content-Type: text/html; charset=us-ascii\n\n<html><body><pre>%s</pre>"
                "</body></html>\n--%s--\n"
                % (b, b, text, b, text.replace("<", "&lt;").replace(">", "&gt;"), b))
    else:
        body = "Content-Type: text/plain; charset=us-ascii\n\n" + pool.slice(rng, budget)
    return (head + body).encode("utf-8")


def write_message(folder_dir, data, epoch, seq, flags):
    """Write through tmp/ into cur/ with a Dovecot-style name (S= and W= sizes)."""
    base = "%d.M%06dP4242Q%d.bench,S=%d,W=%d" % (epoch, seq % 1000000, seq, len(data),
                                                  len(data) + data.count(b"\n"))
    tmp = os.path.join(folder_dir, "tmp", base)
    with open(tmp, "wb") as f:
        f.write(data)
    os.utime(tmp, (epoch, epoch))
    os.rename(tmp, os.path.join(folder_dir, "cur", base + ":2," + flags))


def generate(seed, n, m, root):
    rng = random.Random(seed)
    pool = TextPool(seed)
    names = folder_list(m)
    weights = [1.0 / (k + 1) ** 0.8 for k in range(len(names))]
    for name in names:
        d = os.path.join(root, folder_dirname(name))
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        if name != "INBOX":
            open(os.path.join(d, "maildirfolder"), "a").close()
    # Folders and dates first, then write in date order like a delivery history.
    plan = sorted((rng.randrange(START_EPOCH, END_EPOCH), i, rng.choices(names, weights)[0])
                  for i in range(n))
    total, count = 0, {nm: 0 for nm in names}
    for epoch, i, folder in plan:
        mrng = random.Random((seed << 32) ^ i)    # per message: independent of order
        msgid = "<%x.%07d.%08x@bench.example>" % (seed, i, mrng.getrandbits(32))
        data = make_message(mrng, pool, msgid, epoch)
        write_message(os.path.join(root, folder_dirname(folder)), data, epoch, i,
                      draw_flags(mrng))
        total += len(data)
        count[folder] += 1
    return count, total


def main():
    ap = argparse.ArgumentParser(description="deterministic Maildir++ corpus")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--folders", type=int, default=8)
    ap.add_argument("--out", required=True, help="Maildir++ root to create")
    a = ap.parse_args()
    t0 = time.time()
    count, total = generate(a.seed, a.messages, a.folders, a.out)
    print("corpus: %d messages, %.1f MB in %d folders (%s) in %.1fs"
          % (a.messages, total / 1e6, len(count),
             ", ".join("%s=%d" % kv for kv in count.items()), time.time() - t0),
          file=sys.stderr)


if __name__ == "__main__":
    main()
