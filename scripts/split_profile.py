#!/usr/bin/env python3
"""Splits a profile by the arms of scripts/unbounded_cost.sh (its --perf).

Reads `perf script -F comm,time,ip,sym` on stdin (samples stamped with CLOCK_MONOTONIC) and the
bench's spans file (argv[1]: one line per timed block, "row arm start end" in seconds on the
same clock). Prints, per row, each arm's samples per function, the samples that fell inside
that arm's blocks only. The two versions' copies of a function are named alike (the crate
`tidings_baseline` as `tidings`, the bench's `now`/`baseline` modules as `ARM`), so a row of
the table compares the same function; rows come in order of how much now and baseline differ. A function that moved to another module
between the versions shows as two rows (one per name).
Samples of the idle task count as `[idle]`. The arms run the same number of blocks of the same
number of runs, so their counts compare directly.
"""
import bisect
import collections
import re
import sys

spans = []  # (start, end, row, arm)
for line in open(sys.argv[1]):
    row, arm, start, end = line.split()
    spans.append((float(start), float(end), row, arm))
spans.sort()
starts = [s[0] for s in spans]

counts = collections.defaultdict(collections.Counter)  # (row, arm) -> function -> samples
sample = re.compile(r"^\s*(.*?)\s+(\d+\.\d+):\s+[0-9a-f]+\s*(.*)$")
for line in sys.stdin:
    m = sample.match(line)
    if not m:
        continue
    comm, t, sym = m.group(1), float(m.group(2)), m.group(3).strip()
    i = bisect.bisect_right(starts, t) - 1
    if i < 0 or t > spans[i][1]:
        continue
    _, _, row, arm = spans[i]
    if comm == "swapper":
        sym = "[idle]"
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym) or "[unknown]"
    sym = sym.replace("tidings_baseline", "tidings")
    sym = re.sub(r"unbounded_cost::(now|baseline)::", "unbounded_cost::ARM::", sym)
    counts[(row, arm)][sym] += 1

rows = list(dict.fromkeys(row for _, _, row, _ in spans))
for row in rows:
    now, base, again = (counts[(row, a)] for a in ("now", "baseline", "now_again"))
    total = {a: sum(counts[(row, a)].values()) for a in ("now", "baseline", "now_again")}
    print(f"\n{row}: samples inside each arm's blocks (cpu-clock, 10 kHz, both CPUs)")
    print(f"| function | now | baseline | now again | now - baseline |")
    print("|---|---|---|---|---|")
    print(f"| (all) | {total['now']} | {total['baseline']} | {total['now_again']} |"
          f" {total['now'] - total['baseline']:+d} |")
    names = set(now) | set(base) | set(again)
    shown = sorted(names, key=lambda f: -abs(now[f] - base[f]))[:25]
    for f in shown:
        print(f"| {f[:100]} | {now[f]} | {base[f]} | {again[f]} | {now[f] - base[f]:+d} |")
