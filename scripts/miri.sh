#!/usr/bin/env bash
# Runs tidings' tests under miri (nightly), checking for undefined behaviour: use after free,
# data races, invalid pointers, aliasing violations.
#
#   scripts/miri.sh          # the unit tests and tests/bus_miri_threads.rs (CI)
#   scripts/miri.sh --all    # the unit tests and every integration test file, at reduced
#                            # size (tests shrink their counts under `cfg(miri)`); not yet in
#                            # CI: one file (tests/bus_batches.rs) ran over 3 minutes under miri on
#                            # a loaded 2-core machine, so the whole set needs a time budget first
#   scripts/miri.sh ARGS...  # passed to `cargo miri test`, e.g. `--test bus_closing`
#
# Features `tokio` and `tracing` are on, so the scope tests on tokio and with tracing run too;
# the NATS bridge (feature `nats`) talks to a nats-server process over the network, which miri
# cannot, so it is left out. Doctests are left out: they repeat paths the tests cover, and
# each compiles to its own miri run. Tests miri cannot run are `#[cfg_attr(miri, ignore)]`
# with the reason (reading the fuzz corpus from disk).
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
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup component add miri --toolchain nightly >/dev/null 2>&1 \
    || ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "scripts/miri.sh: miri is not available for the nightly toolchain (rustup component" >&2
    echo "add miri --toolchain nightly failed); nothing was checked." >&2
    exit 1
fi

export MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks ${MIRIFLAGS:-}"
# A separate target dir: miri's artefacts would otherwise evict the normal build's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/miri}"

start=$SECONDS
if [ "${1:-}" = "--all" ]; then
    shift
    cargo +nightly miri test --features tokio,tracing --lib --tests "$@"
    echo "scripts/miri.sh: unit and integration tests passed under miri in $((SECONDS - start)) s"
elif [ $# -gt 0 ]; then
    exec cargo +nightly miri test --features tokio,tracing "$@"
else
    cargo +nightly miri test --features tokio,tracing --lib
    cargo +nightly miri test --features tokio,tracing --test bus_miri_threads
    echo "scripts/miri.sh: unit tests and tests/bus_miri_threads.rs passed under miri in $((SECONDS - start)) s"
fi
