#!/usr/bin/env bash
# Runs the loom models of tidings, from any directory: the whole-bus models
# (loom-tests/tests/models.rs) and the unit models of the wait list and segment release
# (loom-tests/tests/units.rs).
#
#   scripts/loom.sh                 # every model, then reclamation on real crossbeam-epoch
#   scripts/loom.sh reclamation     # only the models whose name contains "reclamation"
#
# --cfg tidings_loom swaps tidings' atomics, cells, Arc, registry cell and waker cell for loom's
# (src/sync/); --cfg crossbeam_loom does the same inside crossbeam-epoch and crossbeam-utils
# (tidings turns on crossbeam-epoch's `loom` feature under the cfg).
#
# By default reclamation goes through a loom-visible epoch stand-in (src/sync/loom.rs, `epoch`)
# that frees as early as the epoch contract allows, so the models can check that nothing is
# used after it was freed and that everything is freed by the end. With no argument, this
# script then runs the reclamation model once more on crossbeam-epoch's own loom build
# (--cfg tidings_loom_epoch), at preemption bound 2: at 3 it takes many minutes.
#
# Release build: loom explores thousands of interleavings and is far faster optimised (debug
# assertions stay on, see Cargo.toml). LOOM_MAX_PREEMPTIONS=3 by default.
set -euo pipefail
cd "$(dirname "$0")/../loom-tests"
base="--cfg tidings_loom --cfg crossbeam_loom ${RUSTFLAGS:-}"
threads="${LOOM_TEST_THREADS:-2}"

RUSTFLAGS="$base" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
    cargo test --release --test models --test units -- --test-threads="$threads" "$@"

if [ $# -eq 0 ]; then
    echo "== reclamation on crossbeam-epoch's loom build (LOOM_MAX_PREEMPTIONS=2)"
    # Its own target dir: other RUSTFLAGS would otherwise rebuild the default one each time.
    RUSTFLAGS="$base --cfg tidings_loom_epoch" LOOM_MAX_PREEMPTIONS=2 \
        CARGO_TARGET_DIR=target/real-epoch \
        cargo test --release --test models -- --exact reclamation
fi
