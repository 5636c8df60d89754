#!/usr/bin/env bash
# W10's round-robin send in load-independent numbers: per send, instructions and simulated
# cache misses (callgrind's cache simulator), for one type against a round robin over K types
# (probe benches/probes/many_types_probe.rs; K = 256, or 1024 with
# RUSTFLAGS="--cfg tidings_many_types_probe_1024"). Only the sends are counted
# (--toggle-collect); the cache simulation covers the whole run, as the hardware would.
# Prints, per send: Ir (instructions), I1 and D1 misses (first-level instruction and data
# cache), LL misses (last level), and a cycle estimate Ir + 10 * L1 misses + 100 * LL misses
# (callgrind's own weights), simulated twice: with valgrind's default last level (the host's
# L3) and with a 512 KiB last level (the size of this machine's per-core L2, so that "LL
# misses" are what would go to L3). Then the bytes of machine code each event type adds to
# the path a send runs.
# Usage: [PROBE_BIN=path] scripts/many_types_cost.sh [ROUND_ROBIN_BATCHES]   (needs valgrind; a batch is 16
# counted rounds; single runs 64 times as many batches, so both count a similar number of sends)
#
# With --register, W10_register instead: per registration and removal of a fresh type
# (subscribe, then drop), the same counts with no other type live (register_empty) and with L
# types live (register_live; L = 256, or 4096 with RUSTFLAGS="--cfg tidings_many_types_probe_4096",
# which builds 4096 more types: give it its own CARGO_TARGET_DIR). The probe prints L.
#   [PROBE_BIN=path] scripts/many_types_cost.sh --register [BATCHES]   (default 256 batches of 16)
set -euo pipefail
cd "$(dirname "$0")/.."
register=
if [ "${1:-}" = --register ]; then
    register=1
    shift
fi
batches=${1:-$([ -n "$register" ] && echo 256 || echo 64)}
# PROBE_BIN: measure an already built probe (another commit's) instead of building this one.
bin=${PROBE_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/many_types_probe}
[ -n "${PROBE_BIN:-}" ] || cargo build --release --example many_types_probe -q
run() { # mode batches [extra valgrind args]
    local mode=$1 b=$2
    shift 2
    local out
    out=$(valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no \
        '--toggle-collect=*counted_rounds*' --callgrind-out-file=/dev/null "$@" \
        "$bin" "$mode" "$b" 2>&1)
    local sends counts what=sends
    sends=$(sed -n 's/^sends \([0-9]*\)$/\1/p' <<<"$out")
    counts=$(sed -n 's/.*Collected : \([0-9 ]*\).*/\1/p' <<<"$out")
    [ -z "$register" ] || what="registrations and removals, $(sed -n 's/^live //p' <<<"$out") types live"
    # Events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw (missing trailing ones are 0).
    python3 - "$mode" "$sends" "$what" $counts <<'EOF'
import sys
mode, sends, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = [int(x) for x in sys.argv[4:]] + [0] * 9
ir, i1, d1, ll = c[0], c[3], c[4] + c[5], c[6] + c[7] + c[8]
cest = ir + 10 * (i1 + d1) + 100 * ll
print(f"  {mode:14} Ir {ir/sends:7.1f}  I1 miss {i1/sends:6.2f}  D1 miss {d1/sends:6.2f}"
      f"  LL miss {ll/sends:6.2f}  est. cycles {cest/sends:7.1f}   ({sends} {what})")
EOF
}
if [ -n "$register" ]; then
    for ll in default 512k; do
        extra=()
        [ "$ll" = 512k ] && extra=(--LL=524288,8,64)
        echo "last level: $ll"
        run register_empty "$batches" "${extra[@]}"
        run register_live "$batches" "${extra[@]}"
    done
    exit 0
fi
for ll in default 512k; do
    extra=()
    [ "$ll" = 512k ] && extra=(--LL=524288,8,64)
    echo "last level: $ll"
    run single $((batches * 64)) "${extra[@]}"
    run round_robin "$batches" "${extra[@]}"
done
echo "machine code per event type on the send path (nm, bytes: function x copies):"
nm -C --size-sort -S "$bin" | python3 -c '
import sys, collections
# Code is counted by address, not by name: a function the compiler merged (the same machine
# code for several types) is one copy under several names. Names count the types.
names = collections.Counter(); copies = collections.Counter(); size = collections.Counter()
addrs = set()
for line in sys.stdin:
    p = line.split(None, 3)
    if len(p) == 4:
        name = p[3].strip(); names[name] += 1
        if p[0] not in addrs:
            addrs.add(p[0]); copies[name] += 1; size[name] += int(p[1], 16)
hot = ("::send_one", "Shared>::push", "Topic<E>::push")
types = max(v for k, v in names.items() if k.endswith("::send_one"))
total = 0
for k in sorted(size, key=lambda k: -size[k]):
    if names[k] >= types and k.endswith(hot):
        print(f"  {size[k] // copies[k]:6} x {copies[k]} (for {names[k]} types)  {k}")
        total += size[k] // types
print(f"  {total:6} bytes per type on the send path")
print(f"  {sum(size[k] for k in size if names[k] >= types) // types} bytes per type in all (send, subscribe, drop, ...)")
'
