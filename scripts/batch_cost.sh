#!/usr/bin/env bash
# Instructions per event (send + receive) for each way to read, and for send_all, from
# callgrind: the cost of a batch read per event against one event per call.
# Usage: scripts/batch_cost.sh [N]   (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
cargo build --release --example batch_cost_probe -q
bin=target/release/examples/batch_cost_probe
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for mode in send_only recv stream try_recv recv_many try_recv_many recv_many_ref send_all; do
    base=$(count "$mode" 0)
    full=$(count "$mode" "$n")
    echo "$mode: $(( (full - base) / n )) instructions per event (send + receive)"
done
