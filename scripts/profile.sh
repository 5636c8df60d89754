#!/usr/bin/env bash
# Where the time of one benchmark goes: runs one criterion benchmark of `benches/` for a fixed
# time under `perf record` (software clock sampling, `-e cpu-clock`, so it works on virtual
# machines without hardware counters) and prints the functions that took the most samples, per
# function, by self time (also with generic arguments folded, so that a generic function's
# copies count as one) and by inclusive time (the function and what it called), as shares of
# all samples. The benches start fresh threads for each batch, so threads are not told apart:
# the inclusive view splits the time between the send and the receive paths.
#
#   scripts/profile.sh BENCH FILTER [SECONDS]
#   scripts/profile.sh fanout 'W1_1to1/tidings_threads$' 10
#   scripts/profile.sh fanout 'W1_1to1/disruptor_poller_threads$'
#
# BENCH is a bench target (fanout, round_trip, ...), FILTER criterion's regex for one
# benchmark id (group/system). The summary goes to stdout and, with the raw report, to
# target/profiles/<BENCH>-<FILTER, cleaned>.txt. Run it on a quiet machine: a profile of a spin
# or a park depends on who else wants the cores. Needs `perf` (Debian's linux-perf); installs it
# when missing and apt can.
#
# These are the profiles behind the README's "Targets missed, and why": each missed target of
# issue 15 names the command that shows its profile.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    echo "usage: scripts/profile.sh BENCH FILTER [SECONDS]" >&2
    exit 2
fi
bench=$1
filter=$2
seconds=${3:-10}

if ! command -v perf >/dev/null; then
    apt-get install -y -qq linux-perf >/dev/null
fi

# Symbols and frame pointers for readable stacks; its own target dir so that the ordinary
# bench build is not rebuilt with other flags.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/profile"
export RUSTFLAGS="-C force-frame-pointers=yes ${RUSTFLAGS:-}"
export CARGO_PROFILE_BENCH_DEBUG=line-tables-only
bin=$(cargo bench --no-run --message-format=json --bench "$bench" 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["executable"])' | tail -n1)

name=$(printf '%s-%s' "$bench" "$filter" | tr -c 'A-Za-z0-9_-' '_')
out=target/profiles
mkdir -p "$out"
data="$out/$name.perf.data"
perf record -q -e cpu-clock -F 2000 -g -o "$data" -- \
    "$bin" --bench --profile-time "$seconds" "$filter" >/dev/null 2>&1

{
    echo "# scripts/profile.sh $bench '$filter' $seconds ($(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD))"
    echo "# self: share of all samples (cpu-clock, 2 kHz) spent in the function itself"
    perf report -i "$data" --stdio --no-children --sort symbol -g none --percent-limit 1.5 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed 's/  */ /g'
    echo "# self, generic arguments folded: one line per generic function whatever its type"
    echo "# arguments (W10's 1024 event types each compile their own copy of the send path)"
    perf report -i "$data" --stdio --no-children --sort symbol -g none 2>/dev/null |
        grep -E '^ +[0-9.]+%' | python3 -c '
import collections, re, sys
folded = collections.Counter()
for line in sys.stdin:
    share, _, name = line.split(None, 2)
    name = re.sub(r"\s+-\s+-\s*$", "", name.strip())
    while (shorter := re.sub(r"<[^<>]*>", "<>", name)) != name:
        name = shorter
    folded[name] += float(share.rstrip("%"))
for name, share in folded.most_common():
    if share < 1.5:
        break
    print(f" {share:.2f}% {name}")
'
    echo "# inclusive: share of all samples spent in the function and what it called (5% and up)"
    perf report -i "$data" --stdio --children --sort symbol -g none --percent-limit 5 2>/dev/null |
        grep -E '^ +[0-9.]+%' | sed 's/  */ /g' | cut -d' ' -f2,4-
} | tee "$out/$name.txt"
