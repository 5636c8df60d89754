#!/usr/bin/env python3
"""Pools the rounds of `scripts/unbounded_cost.sh` runs over rows and processes.

A single row's verdict needs its 95% interval within 3% of 1, which the 2-core bench machine
rarely gives: its controls (the same build measured twice) reach +-5-10% in one row's 30 rounds.
A cost spread thinly over many rows can stay undecided in every row and still be there. This
pools: each round of each row is one paired sample (now against baseline, and now against now
again, the control, measured in the same round), and the estimate is the geometric mean of
all of them, every row weighted alike, with a 95% interval from a bootstrap that resamples
rounds within each row (stratified, 4000 resamples, fixed seed: the output is reproducible).
The control's pooled interval shows what the method resolves in that very run.

The verdict uses unbounded_cost.sh's threshold (3%, or `--threshold PCT`): SAME when the
pooled interval lies within the threshold of 1 and the control's does too; SLOWER when the
interval's lower end lies above 1 + threshold; FASTER when its upper end lies below
1 - threshold; else UNDECIDED. On the 2-core machine it resolves about 1% where a row alone
resolves 5-10%: the baseline against itself with a null edit (`--null`) came out 0.999
[0.989, 1.007] over two processes (benches/README.md has the runs).

W5 (a send with no subscriber, 2-3 ns) is left out of the pool and shown on its own: where its
few instructions land moves it by up to 25% on its own (`--null` in unbounded_cost.sh).

    python3 scripts/pooled_cost.py target/unbounded-cost.p1.txt.csv target/unbounded-cost.p2.txt.csv
    python3 scripts/pooled_cost.py --rows FILE...   # also each row pooled over the files
    python3 scripts/pooled_cost.py --threshold 2 FILE...
"""

import csv
import math
import random
import statistics
import sys
from collections import defaultdict


def load(files):
    """{row: ([log now/baseline], [log now/now_again])}, a row's rounds from every file."""
    rows = defaultdict(lambda: ([], []))
    for name in files:
        rounds = defaultdict(dict)
        with open(name) as f:
            for r in csv.DictReader(f):
                key = (r["group"], r["reading"], r["round"])
                rounds[key][r["arm"]] = float(r["ns_per_unit"])
        for (group, reading, _), arms in rounds.items():
            if not {"now", "baseline", "now_again"} <= arms.keys():
                continue  # a round cut short
            pair = rows[(group, reading)]
            pair[0].append(math.log(arms["now"] / arms["baseline"]))
            pair[1].append(math.log(arms["now"] / arms["now_again"]))
    return rows


def estimate(strata, rng, resamples=4000):
    """Geometric mean ratio over every sample of every stratum, each stratum weighted by its
    size, with a stratified bootstrap 95% interval."""
    every = [x for s in strata for x in s]
    n = len(every)
    means = []
    for _ in range(resamples):
        total = 0.0
        for s in strata:
            total += sum(rng.choices(s, k=len(s)))
        means.append(total / n)
    means.sort()
    lo, hi = means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]
    return math.exp(statistics.fmean(every)), math.exp(lo), math.exp(hi)


def show(label, est):
    return "%s %.4f [%.4f, %.4f]" % (label, *est)


def verdict(now, ctl, threshold):
    lo, hi = 1 - threshold, 1 + threshold
    if now[1] > hi:
        return "SLOWER"
    if now[2] < lo:
        return "FASTER"
    if lo <= now[1] and now[2] <= hi and lo <= ctl[1] and ctl[2] <= hi:
        return "SAME"
    return "UNDECIDED"


def main(argv):
    threshold = 0.03
    files = []
    args = iter(argv)
    for a in args:
        if a == "--threshold":
            threshold = float(next(args)) / 100
        elif not a.startswith("--"):
            files.append(a)
    if not files:
        sys.exit(__doc__)
    rows = load(files)
    pooled = {k: v for k, v in rows.items() if not k[0].startswith("W5")}
    rng = random.Random(20261203)
    if pooled:
        now = estimate([v[0] for v in pooled.values()], rng)
        ctl = estimate([v[1] for v in pooled.values()], rng)
        n = sum(len(v[0]) for v in pooled.values())
        print("pooled W1-W4, %d rows, %d rounds from %d file(s): %s, %s"
              % (len(pooled), n, len(files), show("now/baseline", now), show("control", ctl)))
        print("Pooled verdict (within %g%%): %s" % (threshold * 100, verdict(now, ctl, threshold)))
    for k, v in rows.items():
        if k[0].startswith("W5") or "--rows" in argv:
            print("  %-34s %3d rounds: %s, %s" % (" ".join(k), len(v[0]),
                  show("now/baseline", estimate([v[0]], rng)),
                  show("control", estimate([v[1]], rng))))


if __name__ == "__main__":
    main(sys.argv[1:])
