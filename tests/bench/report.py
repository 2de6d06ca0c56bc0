#!/usr/bin/env python3
"""report.py - the benchmark table: medians over repetitions and ratios.

usage: report.py --runs FILE [--summary OUT]

FILE is the per-run TSV that bench.sh writes (tool workload rep wall_s cpu_s
maxrss_kb ok note) with FILE.meta beside it (key=value facts).  Prints per
tool and workload the median wall time, CPU (user+sys) and max RSS, ok (1
only if every repetition verified), and ratios of medians: wall and CPU
against mbsync's row, and wall against the floor for `initial`, each only
where both rows verified (ok=1).  With
--summary, writes the same numbers as TSV (one row per tool and workload,
'-' where there is nothing to compare against).
"""

import argparse
import os
import statistics


def num(x):
    try:
        return float(x)
    except ValueError:
        return None


def load(path):
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(head, ln.rstrip("\n").split("\t"))) for ln in f if ln.strip()]
    meta = {}
    if os.path.exists(path + ".meta"):
        with open(path + ".meta") as f:
            meta = dict(ln.rstrip("\n").split("=", 1) for ln in f if "=" in ln)
    return rows, meta


def aggregate(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["tool"], r["workload"]), []).append(r)
    agg = {}
    for key, g in groups.items():
        def med(field):
            vals = [num(r[field]) for r in g]
            return statistics.median(vals) if vals and None not in vals else None
        oks = sum(r["ok"] == "1" for r in g)
        ok = "1" if oks == len(g) else "0" if oks == 0 else "%d/%d" % (oks, len(g))
        if all(r["ok"] == "-" for r in g):
            ok = "-"    # skipped: not run, so not failed either
        walls = [num(r["wall_s"]) for r in g]
        known = None not in walls
        notes = sorted({r["note"] for r in g if r["note"]})
        if key[0] == "floor" and known:     # its note is a timing: the median run's
            m = statistics.median(walls)
            notes = [min(g, key=lambda r: abs(num(r["wall_s"]) - m))["note"]]
        agg[key] = {"wall": med("wall_s"), "cpu": med("cpu_s"), "rss": med("maxrss_kb"),
                    "n": len(g), "ok": ok, "note": "; ".join(notes),
                    "range": "%.3f-%.3f" % (min(walls), max(walls)) if known else "-"}
    return agg


def ratio(a, b):
    return "%.2fx" % (a / b) if a is not None and b else "-"


def main():
    ap = argparse.ArgumentParser(description="benchmark report")
    ap.add_argument("--runs", required=True)
    ap.add_argument("--summary")
    a = ap.parse_args()
    rows, meta = load(a.runs)
    agg = aggregate(rows)
    if meta:
        print("corpus:  %s messages in %s folders, %s MB, seed %s; %s repetition(s)"
              % (meta.get("messages"), meta.get("folders"),
                 "%.0f" % (int(meta.get("corpus_bytes", 0)) / 1e6), meta.get("seed"),
                 meta.get("repeat")))
        print("machine: %s; load average %s before, %s after"
              % (meta.get("machine", "?"), meta.get("load_before", "?"),
                 meta.get("load_after", "?")))
        for k in sorted(meta):
            if k.startswith("version_"):
                print("         %-10s %s" % (k[8:], meta[k]))
        print()
    reps = max((v["n"] for v in agg.values()), default=1)
    if reps > 1:
        print("medians of %d repetitions" % reps)
    table, summary = [], []
    for (tool, wl), v in agg.items():
        fl = agg.get(("floor", "initial"), {}).get("wall")
        # a ratio only between rows that synced and verified: a failed run is no speed
        mb = agg.get(("mbsync", wl)) if tool not in ("mbsync", "floor") else None
        if v["ok"] != "1" or (mb and mb["ok"] != "1"):
            mb, fl = None, None
        vs_wall = ratio(v["wall"], mb["wall"]) if mb else "-"
        vs_cpu = ratio(v["cpu"], mb["cpu"]) if mb else "-"
        vs_rss = ratio(v["rss"], mb["rss"]) if mb else "-"
        vs_floor = ratio(v["wall"], fl) if wl == "initial" and tool != "floor" else "-"
        f2 = lambda x: "%.2f" % x if x is not None else "-"  # noqa: E731
        rss_mb = "%.1f" % (v["rss"] / 1024) if v["rss"] is not None else "-"
        f3 = lambda x: "%.3f" % x if x is not None else "-"  # noqa: E731
        table.append([tool, wl, f3(v["wall"])] + ([v["range"]] if reps > 1 else [])
                     + [f2(v["cpu"]), rss_mb, v["ok"], vs_wall, vs_cpu, vs_rss, vs_floor,
                        v["note"]])
        summary.append([tool, wl, str(v["n"]), f3(v["wall"]), f2(v["cpu"]), rss_mb, v["ok"],
                        vs_wall.rstrip("x"), vs_cpu.rstrip("x"), vs_rss.rstrip("x"),
                        vs_floor.rstrip("x")])
    cols = ["tool", "workload", "wall_s"] + (["wall_min-max"] if reps > 1 else []) + ["cpu_s", "rss_MB", "ok",
            "wall/mbsync", "cpu/mbsync", "rss/mbsync", "wall/floor", "note"]
    widths = [max(len(x) for x in [c] + [t[i] for t in table]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    prev = None
    for t in table:
        if prev and t[0] != prev:
            print()
        prev = t[0]
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
    if a.summary:
        with open(a.summary, "w") as f:
            f.write("tool\tworkload\treps\twall_s\tcpu_s\tmaxrss_mb\tok\t"
                    "wall_vs_mbsync\tcpu_vs_mbsync\trss_vs_mbsync\twall_vs_floor\n")
            for s in summary:
                f.write("\t".join(s) + "\n")


if __name__ == "__main__":
    main()
