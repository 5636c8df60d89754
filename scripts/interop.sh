#!/usr/bin/env bash
# The Python interop example against a real nats-server: a Haiway service
# (examples/python/haiway_orders.py, haiway and nats-py from PyPI) sends orders through
# Haiway's bus to the tidings service (examples/nats_orders_service.rs) and waits for every
# confirmation, in core and JetStream modes.
#
# Finds the newest Python >= 3.12 on the machine (~/.pyenv/versions/*, then PATH), makes a venv
# under target/, installs the newest haiway that Python supports (>= 0.49 needs 3.14; 0.48 runs
# on 3.12/3.13) and nats-py. With no such Python it prints why and exits 0, unless
# TIDINGS_REQUIRE_INTEROP=1, which makes it fail.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-200}

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
best="" best_minor=0
candidates=()
for p in "$HOME"/.pyenv/versions/*/bin/python3; do [ -x "$p" ] && candidates+=("$p"); done
for name in python3.15 python3.14 python3.13 python3.12 python3; do
    p=$(command -v "$name" 2>/dev/null) && candidates+=("$p")
done
for p in "${candidates[@]}"; do
    v=$(version_of "$p") || continue
    major=${v%%.*} minor=${v#*.}
    if [ "$major" = 3 ] && [ "$minor" -ge 12 ] && [ "$minor" -gt "$best_minor" ]; then
        best=$p best_minor=$minor
    fi
done
if [ -z "$best" ]; then
    echo "SKIPPED: no Python >= 3.12 found (looked in ~/.pyenv/versions and PATH); haiway needs it"
    [ "${TIDINGS_REQUIRE_INTEROP:-}" = 1 ] && { echo "TIDINGS_REQUIRE_INTEROP=1: failing"; exit 1; }
    exit 0
fi
if [ "$best_minor" -ge 14 ]; then haiway="haiway>=0.49"; else haiway="haiway>=0.48,<0.49"; fi
echo "Python: $best ($(version_of "$best")); installing $haiway nats-py"
venv=target/interop-venv-3.$best_minor
[ -x "$venv/bin/python" ] || "$best" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$haiway" nats-py
"$venv/bin/python" -c 'import importlib.metadata as m; print("haiway", m.version("haiway"), "nats-py", m.version("nats-py"))'

cargo build -q --features nats --example nats_orders_service
service=target/debug/examples/nats_orders_service
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
store=$(mktemp -d)
"$nats" -a 127.0.0.1 -p "$port" -js -sd "$store" >/dev/null 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; rm -rf "$store"; }
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
url=nats://127.0.0.1:$port

for mode in core jetstream; do
    echo "-- $mode: $count orders from Haiway to tidings and back"
    fifo=$(mktemp -u) && mkfifo "$fifo"
    "$service" "$url" "$mode" <"$fifo" >"$fifo.out" &
    pid=$!
    exec 4>"$fifo" # holds the service's stdin open
    for _ in $(seq 300); do grep -q ready "$fifo.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$fifo.out" || { echo "the tidings service did not start"; exit 1; }
    "$venv/bin/python" examples/python/haiway_orders.py "$url" "$mode" "$count"
    exec 4>&- # end of input: the service closes its bridge and exits
    wait "$pid"
    rm -f "$fifo" "$fifo.out"
done
echo "interop: ok"
