#!/usr/bin/env bash
# What bounded topics cost the unbounded path (issue 14 point 4): W1–W5 on today's tidings (the
# working tree, "now") and on the commit before bounded topics ("baseline"), interleaved in one
# run, then a table of now/baseline with 95% intervals, the control (now measured again as a
# third arm) beside it, and a verdict per row and for the run.
#
# The method (benches/unbounded_cost/bench.rs says it in full): per row (a workload and a way
# of reading), three arms, now, baseline and now_again, run in 30 interleaved rounds of one
# block each (a block: as many complete runs as fill ~200 ms, the same count for every arm),
# the arms' order cycling through all six orders; every thread pinned to a fixed CPU; 300 ms of
# warm-up per arm first. Each round gives a ratio now/baseline and a control ratio
# now_again/now; a row's estimate is the median of its rounds' ratios with the median's
# distribution-free 95% interval. A row is "same" when that interval lies within the threshold
# (3%) of 1, "faster"/"slower" when it lies beyond, "undecided" otherwise, and undecided as well
# whenever the control's interval is not within the threshold (that run could not resolve it).
# The run's verdict: PASS when every row is same or faster, FAIL when some row is slower,
# UNDECIDED otherwise (then rerun on a quieter machine, or with --rounds 60).
#
# Usage: scripts/unbounded_cost.sh [--quick | --test | --callgrind [N]] [--rounds N]
#            [--block MS] [--no-pin] [--threshold PCT] [--baseline COMMIT] [--now COMMIT] [--null]
#            [--processes N] [-- FILTER]
#   (default)   the measurement: 17 rows of about 19 s each, some 5.5 minutes on a quiet
#               2-core machine after the build (~3 min from a warm target dir, ~6 cold): run
#               it on a quiet machine.
#   --quick     6 rounds of 20 ms blocks: checks the whole path, table included, in about
#               half a minute; its numbers mean nothing.
#   --test      one round of one run per arm: compiles and runs both versions; no verdict.
#   --callgrind [N]   no timing: instructions per event of both versions (valgrind's
#               callgrind, load-independent, so fine on a busy machine) for N events (default
#               1000000) on the single-threaded paths of benches/unbounded_cost/probe.rs.
#   --perf      the measurement under `perf record -a` (cpu-clock, 10 kHz, every CPU), then
#               each row's profile split by arm: the samples that fell inside each arm's timed
#               blocks, per function (the two versions' copies of a function under one name),
#               the functions where now and baseline differ most first. Where the time goes that
#               the ratio counts, the runtime's and the kernel's share included; the tables go
#               to target/unbounded-cost-perf.txt. Needs perf with cpu-clock sampling of every
#               CPU (`perf_event_paranoid` at most 0, or root).
#   --rounds N  rounds per row (default 30; a multiple of 6 keeps the orders balanced).
#   --block MS  the block's length (default 200).
#   --no-pin    leave thread placement to the scheduler.
#   --control   accepted for old command lines: the control is always measured now.
#   --threshold PCT   what "same" allows (default 3).
#   --baseline COMMIT   measure against another commit (it must build with the API the
#               workloads use: Bus::new, subscribe, send, recv, recv_many, recv_blocking,
#               recv_many_blocking, try_recv, try_recv_many, poll_recv, poll_recv_many).
#   --null      the method's own check: "now" is the baseline with one semantically null edit
#               (a `black_box` of three zeros at the top of `Topic::new`, off every measured
#               loop), which moves the code after it; every row should come out "same". On the
#               quiet machine (2026-12-02 13:30 UTC) W1-W4 did, all 16 rows within 1.7% (7
#               "same", 1 "faster" by 0.5%, 8 undecided), and W5 came out 14.7% faster:
#               W5's 2 ns send is sensitive to where its code lands. Since W5's harness counts
#               its rejections instead of black-boxing each result twice (2026-12-03, see
#               `sends` in the bench), W5 under --null reads 0.999 [0.998, 1.002].
#   --baseline-patch FILE   apply FILE (a `git diff` of the baseline) to the baseline's tree
#               before building it: benches/unbounded_cost/baseline-aligned-segments.patch gives
#               9a70ea3 the cache-line-aligned segments of main 0e49dba, so that the allocator's
#               placement of segments, which decides whether 32-byte slots span two lines and
#               differs from process to process, no longer decides the W2 task rows (README).
#   --now COMMIT   measure a commit as "now" instead of the working tree: `--now 0bcc11c` is
#               main with bounded topics and the read trims (its library is main's again since
#               the erased send path of f19441c, issue 12, was reverted);
#               `--now 2768667`, the overload merge, is bounded topics as they landed.
#   --processes N   the whole measurement in N processes, one after another, then a table of
#               every process's ratio per row and a verdict that holds only where every process
#               agrees: the control runs inside one process and cannot see what differs from
#               one process to the next, which on the task rows of W2 moved the ratio by up to
#               0.16 for the same two builds (README, issue 14 point 4); much of it is the
#               link between the two vCPUs, which the host changes (below). Each process's own
#               table: target/unbounded-cost.pK.txt.
# Then W1-W4 pooled over rows and processes (`scripts/pooled_cost.py`): every round of every
# row one paired sample, their geometric mean with a bootstrap 95% interval, and a verdict by
# the same threshold. A row alone resolves 5-10% on the 2-core machine; the pool about 1%.
# Every table ends with the rows split by the link between the two CPUs, a cache line's round
# trip measured before and after every round (near: at most $UNBOUNDED_COST_FAR_NS, default
# 200 ns; far: longer): on the 2-core AMD EPYC KVM machine of 2026-12-03 it switches between
# some 55 and some 455 ns, for tens of seconds at a time, and W2 takes twice as long when far.
#   FILTER      only the rows whose "group/reading" contains it, e.g. `-- W5` or
#               `-- W1_1to1/tidings_tasks`.
# The table goes to stdout and to target/unbounded-cost.txt, every block's time to
# target/unbounded-cost.txt.csv (--callgrind: target/unbounded-cost-callgrind.txt). Needs git
# history containing the baseline (a full clone, as CI's), and the crates.io registry (or its
# cache) for the build.
#
# The baseline: 9a70ea3, main just before bounded topics landed. Bounded topics were written
# on branch `overload` (2864e31, forked from main at bc6970c), which merged main into itself
# several times; main then fast-forwarded from 9a70ea3 to the overload merge 2768667 ("Merge
# branch 'main' into overload"). So 9a70ea3, 2768667's second parent, is the last main without
# bounded topics, and has everything else that had landed by then (batch reads, contained
# faults, scopes' context, the NATS bridge). `git log --first-parent main` walks into the
# overload branch at 2768667 (its first parent is the branch's) and reaches bc6970c, the fork
# point: 73 commits of main that are not bounded topics behind 9a70ea3, whose costs would be
# counted against bounded topics (`--baseline bc6970c` measures against it all the same).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
baseline=9a70ea3bd40fb7d148328ddb48b69d9a1f863b2f
mode=full
threshold=3
now_commit=
null=
baseline_patch=
processes=1
perf=
n=1000000
bench_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) mode=quick; bench_args+=(--quick) ;;
        --test) mode=test; bench_args+=(--test) ;;
        --callgrind)
            mode=callgrind
            if [[ ${2:-} =~ ^[0-9]+$ ]]; then n=$2; shift; fi ;;
        --rounds|--block) bench_args+=("$1" "$2"); shift ;;
        --no-pin) bench_args+=(--no-pin) ;;
        --control) ;;
        --threshold) threshold=$2; shift ;;
        --baseline) baseline=$2; shift ;;
        --now) now_commit=$2; shift ;;
        --null) null=1 ;;
        --baseline-patch) baseline_patch=$2; shift ;;
        --processes) processes=$2; shift ;;
        --perf) perf=1 ;;
        --) shift; bench_args+=("$@"); break ;;
        *) echo "unknown argument $1 (see the usage at the top of $0)" >&2; exit 2 ;;
    esac
    shift
done
n=$(( n / 256 * 256 )) # the probe sends in runs of 256
start=$SECONDS

if ! baseline=$(git rev-parse --verify -q "$baseline^{commit}"); then
    echo "the baseline commit is not in this clone's history (a shallow clone?): git fetch --unshallow" >&2
    exit 1
fi
if [ -n "$null" ]; then
    now_commit=$baseline
fi
now=$(git describe --always --dirty --abbrev=12)" (the working tree)"
now_path=../..
if [ -n "$now_commit" ]; then
    now=$(git rev-parse --verify "$now_commit^{commit}")
    now_path=../unbounded-now
    rm -rf target/unbounded-now
    mkdir -p target/unbounded-now
    git archive "$now" | tar -x -m -C target/unbounded-now
    if [ -n "$null" ]; then
        python3 - target/unbounded-now/src/topic.rs <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
i = s.index("pub(crate) fn new(")
j = s.index("{", s.index(")", i)) + 1
s = s[:j] + "\n        std::hint::black_box([0u64; 3]); // --null: a semantically null edit" + s[j:]
open(p, "w").write(s)
EOF
        grep -q -- '--null: a semantically null edit' target/unbounded-now/src/topic.rs ||
            { echo "--null: could not edit the baseline's Topic::new" >&2; exit 1; }
        now="$now with a null edit (--null)"
    fi
fi

# The baseline's tree, its package renamed so that both can be dependencies of one crate.
# Extracted with `-m` (every file dated now), here and for --now: cargo rebuilds a path
# dependency only for files newer than its last build, and `git archive` dates every file at
# its commit, so an older commit extracted over a newer one's build was not rebuilt (before
# 2026-12-03 14:40 UTC, runs that switched --baseline or --now to an older commit could
# measure the previous build).
base_dir=target/unbounded-baseline
rm -rf "$base_dir"
mkdir -p "$base_dir"
git archive "$baseline" | tar -x -m -C "$base_dir"
baseline_label=$baseline
if [ -n "$baseline_patch" ]; then
    git apply --directory="$base_dir" "$baseline_patch" ||
        { echo "could not apply $baseline_patch to the baseline's tree" >&2; exit 1; }
    baseline_label="$baseline with $baseline_patch applied"
fi
sed -i '0,/^name = "tidings"$/s//name = "tidings_baseline"/' "$base_dir/Cargo.toml"
grep -q '^name = "tidings_baseline"$' "$base_dir/Cargo.toml" ||
    { echo "could not rename the baseline's package in $base_dir/Cargo.toml" >&2; exit 1; }

# The bench crate: its own workspace, depending on both versions, with the dependencies' versions
# of tidings' lock file; it builds into tidings' target dir, so the dependencies that
# `cargo bench` has built already are reused.
crate=target/unbounded-cost
mkdir -p "$crate"
cat >"$crate/Cargo.toml" <<EOF
# Generated by scripts/unbounded_cost.sh; the bench's source is benches/unbounded_cost/bench.rs.
[package]
name = "tidings-unbounded-cost"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

# The bench reads tokio's unstable metrics when built with --cfg tokio_unstable.
[lints.rust]
unexpected_cfgs = { level = "warn", check-cfg = ['cfg(tokio_unstable)'] }

[dependencies]
tidings = { path = "$now_path" }
tidings_baseline = { path = "../unbounded-baseline" }
# criterion: the shared workloads' W5 routine (no_subscriber.rs's) names its Bencher.
criterion = { version = "0.5", default-features = false, features = ["cargo_bench_support", "async_tokio", "html_reports", "plotters"] }
tokio = { version = "1", features = ["rt", "rt-multi-thread", "macros", "sync", "time", "io-util", "io-std", "process"] }
libc = "0.2"
serde_json = "1"

[[bench]]
name = "unbounded_cost"
path = "../../benches/unbounded_cost/bench.rs"
harness = false

[[example]]
name = "unbounded_cost_probe"
path = "../../benches/unbounded_cost/probe.rs"
EOF
cp Cargo.lock "$crate/Cargo.lock"

echo "now: $now; baseline: $baseline_label; mode: $mode"
if [ "$mode" = callgrind ]; then
    CARGO_TARGET_DIR="$root/target" cargo build -q --release --manifest-path "$crate/Cargo.toml" \
        --example unbounded_cost_probe
    bin="$root/target/release/examples/unbounded_cost_probe"
    count() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    row() {
        awk -v p="$1" -v a="$2" -v b="$3" \
            'BEGIN { printf "| %s | %.1f | %.1f | %+.1f | %.3f |\n", p, a, b, a - b, a / b }'
    }
    {
        echo "Instructions per event (callgrind), $n u64 events, single thread: now $now," \
            "baseline $baseline"
        echo "(a read's own cost: its path minus send's; benches/unbounded_cost/probe.rs)"
        echo
        echo "| path | now | baseline | now - baseline | now/baseline |"
        echo "|---|---|---|---|---|"
        declare -A cost
        for path in send try_recv try_recv4 poll_recv recv_blocking try_recv_many \
            poll_recv_many recv_many_blocking no_subscriber; do
            for version in now baseline; do
                base=$(count "$version" "$path" 0)
                full=$(count "$version" "$path" "$n")
                cost[$version.$path]=$(awk -v f="$full" -v b="$base" -v n="$n" \
                    'BEGIN { printf "%.1f", (f - b) / n }')
            done
            row "$path" "${cost[now.$path]}" "${cost[baseline.$path]}"
        done
        for path in try_recv try_recv4 poll_recv recv_blocking try_recv_many poll_recv_many \
            recv_many_blocking; do
            read_of() { awk -v a="${cost[$1.$path]}" -v s="${cost[$1.send]}" \
                'BEGIN { printf "%.1f", a - s }'; }
            row "$path - send" "$(read_of now)" "$(read_of baseline)"
        done
    } | tee target/unbounded-cost-callgrind.txt
    echo "unbounded_cost.sh: $((SECONDS - start)) s in all (build included)"
    exit 0
fi
# One process; its report goes to $1 (target/unbounded-cost.txt, or .pK.txt with --processes).
run_bench() {
    env CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" \
        UNBOUNDED_COST_NOW="$now" \
        UNBOUNDED_COST_BASELINE="$baseline_label" \
        UNBOUNDED_COST_MODE="$mode" \
        UNBOUNDED_COST_THRESHOLD="$threshold" \
        UNBOUNDED_COST_REPORT="$1" \
        cargo bench --manifest-path "$crate/Cargo.toml" --bench unbounded_cost -- "${bench_args[@]}"
}
if [ -n "$perf" ]; then
    spans="$root/target/unbounded-cost.spans"
    data="$root/target/unbounded-cost.perf.data"
    rm -f "$spans"
    # Every CPU, for the whole run (the build too, if any: it falls outside every block).
    perf record -q -k CLOCK_MONOTONIC -e cpu-clock -F 10000 -a -o "$data" &
    perf_pid=$!
    # Stopped however the run ends (`set -e` exits on a failed build or bench).
    trap 'kill -INT "$perf_pid" 2>/dev/null || true' EXIT
    sleep 1
    UNBOUNDED_COST_SPANS="$spans" run_bench "$root/target/unbounded-cost.txt"
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    perf script -i "$data" -F comm,time,ip,sym 2>/dev/null |
        python3 "$root/scripts/split_profile.py" "$spans" | tee target/unbounded-cost-perf.txt
elif [ "$processes" -le 1 ]; then
    run_bench "$root/target/unbounded-cost.txt"
else
    reports=()
    for k in $(seq 1 "$processes"); do
        echo "== process $k of $processes"
        run_bench "$root/target/unbounded-cost.p$k.txt"
        reports+=("$root/target/unbounded-cost.p$k.txt")
    done
    # Per row: every process's ratio and verdict, and the row's verdict across them.
    python3 - "$threshold" "${reports[@]}" <<'EOF2' | tee target/unbounded-cost.txt
import re, statistics, sys
threshold = float(sys.argv[1])
rows = {}
order = []
for path in sys.argv[2:]:
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 7 or not re.match(r"W\d", cells[0]):
            continue
        key = (cells[0], cells[1])
        if key not in rows:
            rows[key] = []
            order.append(key)
        rows[key].append((float(cells[4].split()[0]), cells[6]))
n = len(sys.argv) - 2


def kind(verdict):
    if verdict.startswith("now slower"):
        return "slower"
    if verdict.startswith(("same", "now faster")):
        return "pass"
    return "undecided"


print(f"{n} processes, one run of the bench each;"
      " a row's verdict holds only if every process gave it.")
print("| workload | reading | now/baseline per process | median | verdict |")
print("|---|---|---|---|---|")
slower = undecided = 0
for key in order:
    got = rows[key]
    median = statistics.median(r for r, _ in got)
    kinds = {kind(v) for _, v in got}
    if len(got) < n or kinds != {"pass"} and kinds != {"slower"}:
        if len(got) < n:
            verdict = "missing in some process"
        elif kinds == {"undecided"}:
            verdict = "undecided in every process"
        else:
            verdict = "differs between processes: " + ", ".join(sorted(kinds))
        undecided += 1
    elif kinds == {"slower"}:
        verdict = "slower in every process"
        slower += 1
    else:
        verdict = "same or faster in every process"
    per = ", ".join(f"{r:.3f}" for r, _ in got)
    print(f"| {key[0]} | {key[1]} | {per} | {median:.3f} | {verdict} |")
print()
if slower:
    print(f"Verdict over {n} processes: FAIL ({slower} rows slower in every process,"
          f" {undecided} not the same in every process).")
elif undecided:
    print(f"Verdict over {n} processes: UNDECIDED"
          f" ({undecided} rows not the same in every process).")
else:
    print(f"Verdict over {n} processes: PASS.")
EOF2
fi
# W1-W4 pooled over rows and processes (scripts/pooled_cost.py): resolves about 1% where a
# row alone resolves 5-10% on the 2-core machine.
if [ "$processes" -le 1 ] || [ -n "$perf" ]; then
    csvs=("$root/target/unbounded-cost.txt.csv")
else
    csvs=()
    for k in $(seq 1 "$processes"); do csvs+=("$root/target/unbounded-cost.p$k.txt.csv"); done
fi
python3 "$root/scripts/pooled_cost.py" --threshold "$threshold" "${csvs[@]}" |
    tee -a target/unbounded-cost.txt
echo "unbounded_cost.sh: $((SECONDS - start)) s in all (build included)"
