#!/usr/bin/env bash
# Instructions per event (send + recv) for the bare bus and the scope layer (in the root scope,
# and two levels below it), from callgrind.
# Usage: scripts/scope_overhead.sh [N]   (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --example scope_cost_probe -q
bin=target/release/examples/scope_cost_probe
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for system in bus scope nested; do
    base=$(count "$system" 0)
    full=$(count "$system" "$n")
    echo "$system: $(( (full - base) / n )) instructions per event (send + recv)"
done
