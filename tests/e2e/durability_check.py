#!/usr/bin/env python3
"""durability_check.py — read an `strace -f -y` log of a mailferry run and
check the order in which it made the Maildir and the journal durable, the
part of "nothing lost" that a kill -9 cannot test (the page cache survives
a killed process, not a power cut):

  R1  a message file is durable before it is given its final name: every
      rename out of a Maildir tmp/ comes after an fsync of that file (or a
      syncfs) that followed the file's last write;
  R2  a rename is durable before the journal records it: after a rename
      into a Maildir directory (cur/ or new/: a delivery or a flag change),
      that directory is fsynced before the same thread next writes the
      journal's WAL (SQLite runs synchronous=NORMAL: a commit is a WAL
      write, made durable at checkpoints; see store/journal/journal.c).

Usage: durability_check.py TRACE MAILDIR_ROOT
Prints what it checked; exits 1 (each violation on stderr) on a breach, 2
when the trace shows nothing to check (a test that asserts nothing must not
pass). `--selftest` runs the table of synthetic traces below instead.
"""
import re
import sys

LINE = re.compile(r'^(\d+)\s+(.*)$')
CALL = re.compile(r'^(\w+)\((.*)\)\s+=\s+(-?\d+)')
FD = re.compile(r'^-?\d+<([^>]*)>$')


def split_args(s):
    """Top-level comma split of a syscall's argument text (strings quoted)."""
    out, cur, depth, q = [], [], 0, False
    i = 0
    while i < len(s):
        c = s[i]
        if q:
            cur.append(c)
            if c == '\\' and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True
            cur.append(c)
        elif c in '([{<':
            depth += 1
            cur.append(c)
        elif c in ')]}>':
            depth -= 1
            cur.append(c)
        elif c == ',' and depth == 0:
            out.append(''.join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    if cur:
        out.append(''.join(cur).strip())
    return out


def fd_path(arg):
    m = FD.match(arg)
    return m.group(1) if m else None


def unquote(arg):
    if arg.startswith('"'):
        return arg[1:arg.rfind('"')]
    return arg


def events(lines):
    """(tid, name, args, ret) in order, with strace's split calls joined."""
    pending = {}
    for raw in lines:
        m = LINE.match(raw.rstrip('\n'))
        if not m:
            continue
        tid, rest = m.group(1), m.group(2)
        if rest.endswith('<unfinished ...>'):
            pending[tid] = rest[:-len('<unfinished ...>')].rstrip()
            continue
        r = re.match(r'^<\.\.\. (\w+) resumed>(.*)$', rest)
        if r:
            head = pending.pop(tid, None)
            if head is None:
                continue
            rest = head + r.group(2)
        c = CALL.match(rest)
        if c:
            yield tid, c.group(1), split_args(c.group(2)), int(c.group(3))


def check(lines, root):
    root = root.rstrip('/') + '/'
    last_write = {}      # path -> event index of its last write
    synced = {}          # path (file or directory) -> index of its last fsync
    last_syncfs = -1
    pending = {}         # tid -> {dir: index of the first unsynced rename into it}
    stats = {'tmp_renames': 0, 'renames': 0, 'dir_fsyncs': 0, 'wal_writes': 0,
             'wal_checks': 0}
    bad = []
    for i, (tid, name, args, ret) in enumerate(events(lines)):
        if ret < 0:
            continue
        if name in ('write', 'pwrite64', 'writev', 'pwritev', 'pwritev2') and args:
            p = fd_path(args[0])
            if not p:
                continue
            last_write[p] = i
            if p.endswith('-wal'):
                stats['wal_writes'] += 1
                for d, r in pending.pop(tid, {}).items():
                    stats['wal_checks'] += 1
                    if synced.get(d, -1) <= r:
                        bad.append('R2: journal written (event %d, thread %s) after a rename '
                                   'into %s (event %d) before that directory was fsynced'
                                   % (i, tid, d, r))
        elif name in ('fsync', 'fdatasync') and args:
            p = fd_path(args[0])
            if p:
                synced[p] = i
                if p.startswith(root) and p.rsplit('/', 1)[-1] in ('cur', 'new'):
                    stats['dir_fsyncs'] += 1
        elif name == 'syncfs':
            last_syncfs = i
        elif name in ('renameat', 'renameat2') and len(args) >= 4:
            d1, d2 = fd_path(args[0]), fd_path(args[2])
            src = (d1 + '/' if d1 else '') + unquote(args[1])
            dst = (d2 + '/' if d2 else '') + unquote(args[3])
            if not dst.startswith(root):
                continue
            stats['renames'] += 1
            ddir = dst.rsplit('/', 1)[0]
            if ddir.rsplit('/', 1)[-1] in ('cur', 'new'):
                pending.setdefault(tid, {}).setdefault(ddir, i)
            if src.startswith(root) and src.rsplit('/', 2)[-2:-1] == ['tmp']:
                stats['tmp_renames'] += 1
                w = last_write.get(src, -1)
                durable = max(synced.get(src, -1), last_syncfs)
                if durable < 0 or durable <= w:
                    bad.append('R1: %s renamed (event %d) without an fsync after its last '
                               'write (event %d)' % (src, i, w))
    return stats, bad


# Synthetic traces: (name, trace, root, want violations, want R1/R2 in them)
SELFTEST = [
    ('durable', [
        '10 openat(3</m/INBOX>, "tmp/a", O_WRONLY|O_CREAT, 0600) = 5</m/INBOX/tmp/a>',
        '10 write(5</m/INBOX/tmp/a>, "x", 1) = 1',
        '10 fsync(5</m/INBOX/tmp/a>) = 0',
        '10 renameat(3</m/INBOX>, "tmp/a", 3</m/INBOX>, "new/a") = 0',
        '10 fsync(6</m/INBOX/new>) = 0',
        '10 pwrite64(7</s/j.db-wal>, "...", 4096, 0) = 4096',
    ], '/m', 0, ''),
    ('syncfs counts for every file', [
        '10 write(5</m/INBOX/tmp/a>, "x", 1) = 1',
        '10 syncfs(5</m/INBOX/tmp/a>) = 0',
        '10 renameat(3</m/INBOX>, "tmp/a", 3</m/INBOX>, "cur/a:2,S") = 0',
        '10 fsync(6</m/INBOX/cur>) = 0',
        '10 pwrite64(7</s/j.db-wal>, "...", 4096, 0) = 4096',
    ], '/m', 0, ''),
    ('renamed before fsync', [
        '10 write(5</m/INBOX/tmp/a>, "x", 1) = 1',
        '10 renameat(3</m/INBOX>, "tmp/a", 3</m/INBOX>, "new/a") = 0',
        '10 fsync(5</m/INBOX/new/a>) = 0',
        '10 fsync(6</m/INBOX/new>) = 0',
    ], '/m', 1, 'R1'),
    ('journal before the directory', [
        '10 write(5</m/INBOX/tmp/a>, "x", 1) = 1',
        '10 fsync(5</m/INBOX/tmp/a>) = 0',
        '10 renameat(3</m/INBOX>, "tmp/a", 3</m/INBOX>, "new/a") = 0',
        '10 pwrite64(7</s/j.db-wal>, "...", 4096, 0) = 4096',
        '10 fsync(6</m/INBOX/new>) = 0',
    ], '/m', 1, 'R2'),
    ('split call joined; other thread\'s journal write not held against it', [
        '10 renameat(3</m/INBOX>, "cur/a:2,", 3</m/INBOX>, "cur/a:2,S" <unfinished ...>',
        '11 pwrite64(7</s/j.db-wal>, "...", 4096, 0) = 4096',
        '10 <... renameat resumed>) = 0',
        '10 fsync(6</m/INBOX/cur>) = 0',
        '10 pwrite64(7</s/j.db-wal>, "...", 4096, 0) = 4096',
    ], '/m', 0, ''),
    ('a root under /tmp: a flag rename is no delivery', [
        '10 renameat(3</tmp/m/INBOX>, "cur/a:2,", 3</tmp/m/INBOX>, "cur/a:2,S") = 0',
        '10 fsync(6</tmp/m/INBOX/cur>) = 0',
        '10 pwrite64(7</s/j.db-wal>, "...", 4096, 0) = 4096',
    ], '/tmp/m', 0, ''),
    ('flag rename, journal first', [
        '10 renameat(3</m/INBOX>, "cur/a:2,", 3</m/INBOX>, "cur/a:2,S") = 0',
        '10 pwrite64(7</s/j.db-wal>, "...", 4096, 0) = 4096',
    ], '/m', 1, 'R2'),
]


def selftest():
    fails = 0
    for name, trace, root, nbad, kind in SELFTEST:
        _, bad = check(trace, root)
        ok = len(bad) == nbad and all(b.startswith(kind) for b in bad)
        print('%s: %s' % ('ok' if ok else 'FAIL', name))
        if not ok:
            fails += 1
            for b in bad:
                print('   ', b)
    return 1 if fails else 0


def main():
    if sys.argv[1:] == ['--selftest']:
        return selftest()
    trace, root = sys.argv[1], sys.argv[2]
    with open(trace, errors='replace') as f:
        stats, bad = check(f, root)
    print(' '.join('%s=%d' % kv for kv in sorted(stats.items())))
    for b in bad[:20]:
        print(b, file=sys.stderr)
    if bad:
        print('%d violations' % len(bad), file=sys.stderr)
        return 1
    if not stats['tmp_renames'] or not stats['wal_checks'] or not stats['dir_fsyncs']:
        print('nothing to check in the trace', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
