#!/usr/bin/env bash
# What bounded topics cost the unbounded path (issue 14 point 4): W1–W5 on today's tidings (the
# working tree, "now") and on the commit before bounded topics ("baseline"), side by side in one
# criterion run, then a table of now/baseline with criterion's confidence intervals and a
# verdict per row (benches/unbounded_cost/bench.rs says how the verdict is reached).
#
# Usage: scripts/unbounded_cost.sh [--quick | --test | --callgrind [N]] [--control] [--plots]
#                                  [--threshold PCT] [--baseline COMMIT] [-- CRITERION_ARGS...]
#   (default)   criterion's defaults (3 s warm-up, 5 s measurement, 100 samples per benchmark):
#               the measurement. 34 benchmarks of about 9 s each: some 5 minutes on a quiet
#               2-core machine, after the build; run it on a quiet machine.
#   --quick     0.3 s warm-up, 1 s measurement, 10 samples: checks the whole path, table
#               included, in about a minute; its numbers mean nothing.
#   --test      each benchmark once (criterion's --test): compiles and runs both versions, no
#               table.
#   --callgrind [N]   no criterion: instructions per event of both versions (valgrind's
#               callgrind, load-independent, so fine on a busy machine) for N events (default
#               1000000) on the single-threaded paths of benches/unbounded_cost/probe.rs.
#   --control   also measures `now` a second time in every row (now_again, 50% more time) and
#               prints now_again/now beside: the noise of the same code in the same run,
#               against which to judge the threshold.
#   --plots     let criterion draw its HTML report's charts (target/unbounded-cost/criterion/
#               report/); off by default: they cost seconds per benchmark and the table does
#               not need them.
#   --threshold PCT   a ratio within PCT% of 1 is "within noise" even where the confidence
#               intervals do not overlap (default 3).
#   --baseline COMMIT   measure against another commit (it must build with the API the
#               workloads use: Bus::new, subscribe, send, recv, recv_many, recv_blocking,
#               recv_many_blocking, try_recv, try_recv_many).
#   --now COMMIT   measure a commit as "now" instead of the working tree (e.g. `--now 2768667`,
#               the overload merge, for what bounded topics alone cost).
#   CRITERION_ARGS    e.g. a filter: `-- W5` runs only W5.
# The table goes to stdout and to target/unbounded-cost.txt (--callgrind: target/unbounded-cost-
# callgrind.txt). Needs git history containing the
# baseline (a full clone, as CI's), and the crates.io registry (or its cache) for the build.
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
control=
plots=
now_commit=
n=1000000
criterion_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) mode=quick ;;
        --test) mode=test ;;
        --callgrind)
            mode=callgrind
            if [[ ${2:-} =~ ^[0-9]+$ ]]; then n=$2; shift; fi ;;
        --control) control=1 ;;
        --plots) plots=1 ;;
        --threshold) threshold=$2; shift ;;
        --baseline) baseline=$2; shift ;;
        --now) now_commit=$2; shift ;;
        --) shift; criterion_args+=("$@"); break ;;
        *) echo "unknown argument $1 (see the usage at the top of $0)" >&2; exit 2 ;;
    esac
    shift
done
case "$mode" in
    quick) criterion_args=(--warm-up-time 0.3 --measurement-time 1 --sample-size 10 "${criterion_args[@]}") ;;
    test) criterion_args=(--test "${criterion_args[@]}") ;;
esac
[ -z "$plots" ] && criterion_args=(--noplot "${criterion_args[@]}")
[ -n "$control" ] && [ "$mode" = test ] && control=
n=$(( n / 256 * 256 )) # the probe sends in runs of 256
start=$SECONDS

if ! baseline=$(git rev-parse --verify -q "$baseline^{commit}"); then
    echo "the baseline commit is not in this clone's history (a shallow clone?): git fetch --unshallow" >&2
    exit 1
fi
now=$(git describe --always --dirty --abbrev=12)" (the working tree)"
now_path=../..
if [ -n "$now_commit" ]; then
    now=$(git rev-parse --verify "$now_commit^{commit}")
    now_path=../unbounded-now
    rm -rf target/unbounded-now
    mkdir -p target/unbounded-now
    git archive "$now" | tar -x -C target/unbounded-now
fi

# The baseline's tree, its package renamed so that both can be dependencies of one crate.
base_dir=target/unbounded-baseline
rm -rf "$base_dir"
mkdir -p "$base_dir"
git archive "$baseline" | tar -x -C "$base_dir"
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

[dependencies]
tidings = { path = "$now_path" }
tidings_baseline = { path = "../unbounded-baseline" }
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
rm -rf "$crate/criterion"

echo "now: $now; baseline: $baseline; mode: $mode"
if [ "$mode" = callgrind ]; then
    CARGO_TARGET_DIR="$root/target" cargo build -q --release --manifest-path "$crate/Cargo.toml" \
        --example unbounded_cost_probe
    bin="$root/target/release/examples/unbounded_cost_probe"
    count() {
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    }
    {
        echo "Instructions per event (callgrind), $n u64 events, single thread: now $now," \
            "baseline $baseline"
        echo
        echo "| path | now | baseline | now - baseline | now/baseline |"
        echo "|---|---|---|---|---|"
        for path in send_recv send_recv4 recv_many no_subscriber; do
            per=()
            for version in now baseline; do
                base=$(count "$version" "$path" 0)
                full=$(count "$version" "$path" "$n")
                per+=("$(awk -v f="$full" -v b="$base" -v n="$n" 'BEGIN { printf "%.1f", (f - b) / n }')")
            done
            awk -v p="$path" -v a="${per[0]}" -v b="${per[1]}" \
                'BEGIN { printf "| %s | %.1f | %.1f | %+.1f | %.3f |\n", p, a, b, a - b, a / b }'
        done
    } | tee target/unbounded-cost-callgrind.txt
    echo "unbounded_cost.sh: $((SECONDS - start)) s in all (build included)"
    exit 0
fi
env CARGO_TARGET_DIR="$root/target" \
    CRITERION_HOME="$root/$crate/criterion" \
    UNBOUNDED_COST_NOW="$now" \
    UNBOUNDED_COST_BASELINE="$baseline" \
    UNBOUNDED_COST_MODE="$mode$([ -n "$control" ] && echo ', with control')" \
    UNBOUNDED_COST_THRESHOLD="$threshold" \
    UNBOUNDED_COST_REPORT="$root/target/unbounded-cost.txt" \
    ${control:+UNBOUNDED_COST_CONTROL=1} \
    cargo bench --manifest-path "$crate/Cargo.toml" --bench unbounded_cost -- "${criterion_args[@]}"
echo "unbounded_cost.sh: $((SECONDS - start)) s in all (build included)"
