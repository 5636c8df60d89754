#!/usr/bin/env bash
# Runs every tidings bench in a short mode (about 2-3 minutes on 2 cores) and prints one
# markdown table: each system's median result, the CPU it kept busy, and tidings' ratio to it,
# then the issue's targets, met or not; and draws the table as a chart, one panel per workload
# (benches/results.svg, by benches/chart.py).
#
#   benches/compare.sh                 # run everything, then report and chart
#   benches/compare.sh --report-only   # report and chart again from target/criterion
#
# Needs python3 (standard library only) for the report and the chart. Results come from
# criterion's estimates (median) plus the side files the benches write next to them
# (target/criterion/tidings-*.csv). Criterion's own HTML report of the run is
# target/criterion/report/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${CRITERION_HOME:-${CARGO_TARGET_DIR:-target}/criterion}"
SHORT=(--warm-up-time 0.2 --measurement-time 0.8 --sample-size 10)

if [[ "${1:-}" != "--report-only" ]]; then
    rm -f "$OUT"/tidings-*.csv
    rm -rf "$OUT"/W[1-9]_*
    # Named, so that benches/many_types.rs (minutes of build per hundred event types) is built
    # only by its own command (README).
    cargo bench --no-run --quiet --bench fanout --bench no_subscriber --bench round_trip \
        --bench churn --bench memory --bench overload
    for bench in fanout no_subscriber round_trip churn; do
        cargo bench --quiet --bench "$bench" -- "${SHORT[@]}" 2>&1 |
            grep -E '^(W[0-9]|Warning|thread|error)|thrpt:|time:|p50' || true
    done
    cargo bench --quiet --bench memory
    # W9: a stalled plus a fast subscription, bounded (DropOldest) beside tokio broadcast.
    cargo bench --quiet --bench overload -- "${SHORT[@]}" 2>&1 |
        grep -E '^(W[0-9]|Warning|thread|error| +[a-z_]+:)|thrpt:|time:' || true
fi

OUT="$OUT" python3 - <<'PY'
import csv, json, os, platform, subprocess, sys
from datetime import datetime, timezone

out = os.environ["OUT"]
chart = []  # rows for benches/chart.py

def median_ns(group, ident):
    try:
        with open(f"{out}/{group}/{ident}/new/estimates.json") as f:
            est = json.load(f)
        with open(f"{out}/{group}/{ident}/new/benchmark.json") as f:
            bench = json.load(f)
    except FileNotFoundError:
        return None, None
    elems = (bench.get("throughput") or {}).get("Elements")
    return est["median"]["point_estimate"], elems

def side(name, key_len):
    rows = {}
    try:
        with open(f"{out}/{name}") as f:
            for row in csv.reader(f):
                rows[tuple(row[:key_len])] = row[key_len:]
    except FileNotFoundError:
        pass
    return rows

cpu = side("tidings-cpu.csv", 2)
lat = side("tidings-latency.csv", 2)
mem = side("tidings-memory.csv", 3)

def cores(group, ident):
    row = cpu.get((group, ident))
    return f"{float(row[0]):.2f}" if row else ""

def fmt_rate(r):
    return f"{r / 1e6:.1f} M/s" if r is not None else "missing"

targets = []  # (target, measured, met)

print(f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
      f"{os.cpu_count()} cores; rustc {subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.split()[1]}")
print()
print("| workload | system | flavor | median | CPU cores busy | tidings / system |")
print("| --- | --- | --- | --- | --- | --- |")

TASKS = ["tidings_tasks", "tidings_many_tasks", "tokio_broadcast", "async_broadcast",
         "flume_fanout_tasks"]
THREADS = ["tidings_threads", "tidings_many_threads", "crossbeam_fanout_threads", "bus_threads",
           "disruptor_poller_threads", "disruptor_busy_spin_threads"]
rates = {}
for group in ["W1_1to1", "W2_1to4", "W3_1to16", "W4_4to4"]:
    for flavor, systems in [("tasks", TASKS), ("threads", THREADS)]:
        for ident in systems:
            ns, elems = median_ns(group, ident)
            rates[(group, ident)] = elems / (ns * 1e-9) if ns else None
        # Each tidings row against every peer of its flavor; the `_many` row against the one-
        # at-a-time row too.
        ours = rates[(group, systems[0])]
        many = rates[(group, systems[1])]
        for ident in systems:
            r = rates[(group, ident)]
            if ident in systems[:2]:
                ratio = "-" if ident == systems[0] else (f"{r / ours:.2f}x (vs one at a time)" if ours and r else "")
            else:
                ratio = (f"{ours / r:.2f}x, many {many / r:.2f}x" if ours and many and r else "")
            print(f"| {group} | {ident} | {flavor} | {fmt_rate(r)} | {cores(group, ident)} | {ratio} |")
            chart.append({"workload": group, "system": ident, "flavor": flavor,
                          "value": r / 1e6 if r else None, "unit": "M events/s",
                          "better": "higher", "cores": cores(group, ident)})

def ratio_target(desc, a, b, factor=1.0):
    if a is None or b is None:
        targets.append((desc, "missing", False))
        return
    targets.append((desc, f"{a / b:.2f}x", a >= factor * b))

r = lambda g, i: rates.get((g, i))
DIS = "disruptor_poller_threads"  # the fair configuration (issue 15)
ratio_target("W1 tasks: tidings >= flume (async)", r("W1_1to1", "tidings_tasks"), r("W1_1to1", "flume_fanout_tasks"))
ratio_target("W1 threads: tidings >= crossbeam", r("W1_1to1", "tidings_threads"), r("W1_1to1", "crossbeam_fanout_threads"))
ratio_target("W1 threads, recv_many: tidings >= 0.5x disruptor (poller)", r("W1_1to1", "tidings_many_threads"), r("W1_1to1", DIS), 0.5)
ratio_target("W1 tasks, recv_many: tidings >= 0.5x disruptor (poller)", r("W1_1to1", "tidings_many_tasks"), r("W1_1to1", DIS), 0.5)
for g in ["W2_1to4", "W3_1to16", "W4_4to4"]:
    w = g.split("_")[0]
    ratio_target(f"{w} tasks: tidings >= 3x flume fan-out", r(g, "tidings_tasks"), r(g, "flume_fanout_tasks"), 3.0)
    ratio_target(f"{w} tasks: tidings >= 3x tokio broadcast", r(g, "tidings_tasks"), r(g, "tokio_broadcast"), 3.0)
    factor = 1.5 if w == "W4" else 1.0
    for ident, how in [("tidings_tasks", "tasks"), ("tidings_many_tasks", "tasks, recv_many"),
                       ("tidings_threads", "threads"), ("tidings_many_threads", "threads, recv_many")]:
        ratio_target(f"{w} {how}: tidings >= {factor:g}x disruptor (poller)", r(g, ident), r(g, DIS), factor)

per_op = {}
for group, systems in [
    ("W5_no_subscriber", ["tidings", "tokio_broadcast", "async_broadcast", "crossbeam_channel", "flume"]),
    ("W7_churn", ["tidings", "tokio_broadcast", "async_broadcast"]),
]:
    for ident in systems:
        ns, elems = median_ns(group, ident)
        per_op[(group, ident)] = ns / (elems or 1) if ns else None
    ours = per_op[(group, "tidings")]
    for ident in systems:
        v = per_op[(group, ident)]
        ratio = "-" if ident == "tidings" else (f"{v / ours:.2f}x" if v and ours else "")
        shown = f"{v:.1f} ns" if v is not None else "missing"
        print(f"| {group} | {ident} | single thread | {shown} | | {ratio} |")
        chart.append({"workload": group, "system": ident, "flavor": "single thread",
                      "value": v, "unit": "ns per operation", "better": "lower"})

v = per_op.get(("W5_no_subscriber", "tidings"))
targets.append(("W5: <= 5 ns per send, no subscription", f"{v:.2f} ns" if v else "missing", bool(v and v <= 5.0)))
cb = per_op.get(("W5_no_subscriber", "crossbeam_channel"))
targets.append(("W5: within 1.5x of crossbeam-channel's send with no receiver",
                f"{v:.2f} vs {cb:.2f} ns" if v and cb else "missing", bool(v and cb and v <= 1.5 * cb)))
v = per_op.get(("W7_churn", "tidings"))
targets.append(("W7: subscribe + drop < 1 us while sending", f"{v:.0f} ns" if v else "missing", bool(v and v < 1000.0)))
# The last README run before issue 15 (2026-11-27): 460 ns. "Noise" is the +-20% that
# wall-clock numbers move between runs on the 2-core VM.
targets.append(("W7: no regression beyond noise (<= 1.2x the 460 ns of the previous run)",
                f"{v:.0f} ns" if v else "missing", bool(v and v <= 1.2 * 460)))

# W10 (benches/many_types.rs, run on its own: `cargo bench --bench many_types`): reported
# when its results are there.
w10 = {}
for group, ident in [("W10_register", "0"), ("W10_register", "1024"), ("W10_register", "4096"),
                     ("W10_send", "single"), ("W10_send", "round_robin_1024")]:
    ns, elems = median_ns(group, ident)
    w10[(group, ident)] = ns / (elems or 1) if ns else None
    if ns:
        print(f"| {group} | tidings ({ident}) | single thread | {ns / (elems or 1):.1f} ns | | |")
# Not targets: the peers' own round robin over 1024 types, one channel per type, against their
# own single type (benches/many_types.rs), beside tidings' two rows above.
for peer in ["tokio_broadcast", "crossbeam_channel"]:
    one, _ = median_ns("W10_send", f"{peer}_single")
    many, _ = median_ns("W10_send", f"{peer}_round_robin_1024")
    if one and many:
        print(f"| W10_send | {peer} (single) | single thread | {one:.1f} ns | | |")
        print(f"| W10_send | {peer} (round_robin_1024) | single thread | {many:.1f} ns | | "
              f"own round robin / own single {many / one:.2f}x |")
def w10_target(desc, a, b):
    if a is None or b is None:
        targets.append((desc, "missing (cargo bench --bench many_types)", False))
    else:
        targets.append((desc, f"{a:.0f} vs {b:.0f} ns = {a / b:.2f}x", a <= 2 * b))
big = "4096" if w10[("W10_register", "4096")] else "1024"
w10_target(f"W10: registering a type with {big} live within 2x of the first",
           w10[("W10_register", big)], w10[("W10_register", "0")])
w10_target("W10: a send round robin over 1024 types within 2x of one type's",
           w10[("W10_send", "round_robin_1024")], w10[("W10_send", "single")])

p = {}
for group, flavor, systems in [
        ("W6_round_trip", "tasks", ["tidings_tasks", "tokio_broadcast", "flume_tasks"]),
        ("W6_round_trip", "threads", ["tidings_threads", "crossbeam_threads"]),
        ("W6_round_trip_current_thread", "tasks, current-thread runtime",
         ["tidings_tasks", "tokio_broadcast", "flume_tasks"])]:
    for ident in systems:
        row = lat.get((group, ident))
        p[(group, ident)] = (int(row[0]), int(row[1])) if row and int(row[0]) > 0 else None
    ours = p[(group, systems[0])]
    for ident in systems:
        v = p[(group, ident)]
        ratio = "-" if ident == systems[0] else (f"{v[0] / ours[0]:.2f}x (p50)" if v and ours else "")
        shown = f"p50 {v[0]} ns, p99 {v[1]} ns (p99/p50 {v[1] / v[0]:.1f}x)" if v else "missing"
        print(f"| {group} | {ident} | {flavor} | {shown} | | {ratio} |")
        chart.append({"workload": group, "system": ident, "flavor": flavor,
                      "value": v[0] if v else None, "p99": v[1] if v else None,
                      "unit": "ns round trip (p50, p99)", "better": "lower"})

w6 = dict(p)

p = {ident: v for (group, ident), v in p.items() if group == "W6_round_trip"}
ours = p.get("tidings_tasks")
for peer in ["tokio_broadcast", "flume_tasks"]:
    theirs = p.get(peer)
    if ours and theirs:
        targets.append((f"W6: p50 <= {peer}", f"{ours[0]} vs {theirs[0]} ns", ours[0] <= theirs[0]))
    else:
        targets.append((f"W6: p50 <= {peer}", "missing", False))
if ours:
    targets.append(("W6: p99 <= 4x own p50 (tasks)", f"{ours[1] / ours[0]:.1f}x", ours[1] <= 4 * ours[0]))
else:
    targets.append(("W6: p99 <= 4x own p50 (tasks)", "missing", False))
ours, theirs = w6.get(("W6_round_trip", "tidings_threads")), w6.get(("W6_round_trip", "crossbeam_threads"))
targets.append(("W6: threads p50 <= crossbeam's", f"{ours[0]} vs {theirs[0]} ns" if ours and theirs else "missing",
                bool(ours and theirs and ours[0] <= theirs[0])))

SEGMENT = 64 * 32 + 24  # 64 slots of a 24-byte event with its ready flag, plus the header
for case in ["catch_up", "drop"]:
    for ident in ["tidings", "tokio_broadcast", "async_broadcast", "crossbeam_channel", "flume"]:
        row = mem.get(("W8_memory", ident, case))
        shown = (f"empty {int(row[3]) / 1024:.1f} KiB, peak {int(row[0]) / 1024:.0f} KiB, "
                 f"after {case.replace('_', '-')} {int(row[2]) / 1024:.1f} KiB" if row else "missing")
        print(f"| W8_memory ({case}) | {ident} | single thread | {shown} | | |")
        chart.append({"workload": f"W8_memory ({case})", "system": ident, "flavor": "single thread",
                      "value": int(row[2]) / 1024 if row else None,
                      "peak": int(row[0]) / 1024 if row else None,
                      "unit": f"KiB retained after {case.replace('_', '-')} (peak)", "better": "lower"})
    row = mem.get(("W8_memory", "tidings", case))
    if row:
        # Retained beyond what the channel held when just made.
        extra = max(int(row[2]) - int(row[3]), 0)
        segs = extra / SEGMENT
        targets.append((f"W8: retained after {case.replace('_', '-')}, beyond the empty bus, "
                        "within a few segments",
                        f"{extra / 1024:.1f} KiB = {segs:.1f} segments", segs <= 4))
    else:
        targets.append((f"W8: retained after {case}", "missing", False))

print()
print("| target | measured | met |")
print("| --- | --- | --- |")
for desc, measured, met in targets:
    print(f"| {desc} | {measured} | {'yes' if met else '**no**'} |")

with open(f"{out}/tidings-results.json", "w") as f:
    json.dump({"when": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", "rows": chart}, f, indent=1)
PY

python3 benches/chart.py "$OUT/tidings-results.json" benches/results.svg
echo
echo "Chart: benches/results.svg; criterion's HTML report: $OUT/report/index.html"
