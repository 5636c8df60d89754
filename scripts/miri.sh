#!/usr/bin/env bash
# Runs tidings' tests under miri (nightly), checking for undefined behaviour: use after free,
# data races, invalid pointers, aliasing violations.
#
#   scripts/miri.sh          # the unit tests and tests/bus_miri_threads.rs (CI)
#   scripts/miri.sh --all    # the unit tests, then every integration test file on its own,
#                            # at reduced size (tests shrink their counts under `cfg(miri)`),
#                            # printing each file's time and result and a summary; not in CI
#                            # (hours on a loaded 2-core machine: see the times below)
#   scripts/miri.sh ARGS...  # passed to `cargo miri test`, e.g. `--test bus_closing`
#
# Features `tokio` and `tracing` are on, so the scope tests on tokio and with tracing run too;
# the NATS bridge (feature `nats`) talks to a nats-server process over the network, which miri
# cannot, so it is left out. Doctests are left out: they repeat paths the tests cover, and
# each compiles to its own miri run. Tests miri cannot run are `#[cfg_attr(miri, ignore)]`
# with the reason (reading the fuzz corpus from disk).
#
# Files `--all` leaves out, with the reason:
# - tests/nats_bridge.rs: talks to a nats-server process over TCP, which miri cannot (and it
#   needs feature `nats`).
#
# Times per file under `--all` (wall clock, `nice`, on the 2-core machine at load 8-10 with
# three other builds running, so each file got about a quarter of a core; compile time of the
# file's test binary included, about 1 s once the library is built): bus_broadcast 442 s
# (with the library's build), bus_churn 353 s, bus_closing 632 s, bus_executors 383 s, all
# passed; bus_tracing stopped on the wall clock (hence -Zmiri-disable-isolation) and then ran
# its 140 000-send test over 25 minutes (now ignored under miri). Every other file: not yet
# run to the end. These are no budget: rerun on a quiet machine.
#
# Flags:
# - -Zmiri-tree-borrows: the aliasing model; tidings hands out `&E` into segments that other
#   threads keep writing neighbouring slots of, which Tree Borrows describes precisely.
# - -Zmiri-permissive-provenance: crossbeam-epoch stores tagged pointers as integers
#   (int-to-ptr casts), which strict provenance rejects. tidings' own code keeps pointers as
#   pointers.
# - -Zmiri-ignore-leaks: crossbeam-epoch's global collector is a static that is never dropped,
#   so whatever its queue still holds at exit (segments retired but not yet collected, and
#   the collector's own bags) is reported as leaked. Leaks of tidings' own are checked by the
#   tests in tests/bus_memory.rs and by the loom models, not here.
# - -Zmiri-disable-isolation: tracing-subscriber's formatter reads the wall clock
#   (CLOCK_REALTIME), which isolation refuses (tests/bus_core_tracing.rs stopped with
#   "unsupported operation"); nothing tidings checks depends on isolation.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup component add miri --toolchain nightly >/dev/null 2>&1 \
    || ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "scripts/miri.sh: miri is not available for the nightly toolchain (rustup component" >&2
    echo "add miri --toolchain nightly failed); nothing was checked." >&2
    exit 1
fi

export MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks -Zmiri-disable-isolation ${MIRIFLAGS:-}"
# A separate target dir: miri's artefacts would otherwise evict the normal build's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/miri}"
# No backtraces for panics in the tests (many tests panic on purpose, in user code the bus must
# contain): with RUST_BACKTRACE=1, capturing one costs miri some 40 s per panic. Undefined
# behaviour is reported by miri with its own backtrace either way.
export RUST_BACKTRACE=0

start=$SECONDS
if [ "${1:-}" = "--all" ]; then
    shift
    cargo +nightly miri test --features tokio,tracing --lib "$@"
    echo "scripts/miri.sh: unit tests: $((SECONDS - start)) s"
    failed=()
    for file in tests/*.rs; do
        name=$(basename "$file" .rs)
        case "$name" in
            nats_bridge) continue ;; # a nats-server over TCP: see above
        esac
        t=$SECONDS
        if cargo +nightly miri test --features tokio,tracing --test "$name" "$@"; then
            echo "scripts/miri.sh: $file: passed in $((SECONDS - t)) s"
        else
            echo "scripts/miri.sh: $file: FAILED after $((SECONDS - t)) s"
            failed+=("$file")
        fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "scripts/miri.sh: failed under miri: ${failed[*]}" >&2
        exit 1
    fi
    echo "scripts/miri.sh: unit and integration tests passed under miri in $((SECONDS - start)) s"
elif [ $# -gt 0 ]; then
    exec cargo +nightly miri test --features tokio,tracing "$@"
else
    cargo +nightly miri test --features tokio,tracing --lib
    cargo +nightly miri test --features tokio,tracing --test bus_miri_threads
    echo "scripts/miri.sh: unit tests and tests/bus_miri_threads.rs passed under miri in $((SECONDS - start)) s"
fi
