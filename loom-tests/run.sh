#!/usr/bin/env bash
# Runs the loom models of tidings (see tests/models.rs).
#
#   loom-tests/run.sh                 # every model
#   loom-tests/run.sh reclamation     # models whose name contains "reclamation"
#
# --cfg tidings_loom swaps tidings' atomics, cells, Arc, registry cell and waker cell for loom's;
# --cfg crossbeam_loom (with crossbeam-epoch's `loom` feature, enabled by tidings under the cfg)
# does the same inside crossbeam-epoch, so pinning and deferred frees are modelled too.
# Release build: loom explores thousands of interleavings and is ~10x faster optimised
# (debug assertions stay on, see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="--cfg tidings_loom --cfg crossbeam_loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
exec cargo test --release --test models -- --test-threads="${LOOM_TEST_THREADS:-2}" "$@"
