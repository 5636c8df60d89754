#!/usr/bin/env bash
# Runs the stress test (tests/stress.rs) under AddressSanitizer on nightly: use after
# free, double free, out-of-bounds access and leaks.
#
#   scripts/asan.sh            # TIDINGS_STRESS_SCALE=1
#   TIDINGS_STRESS_SCALE=10 scripts/asan.sh
#
# -Zbuild-std rebuilds the standard library instrumented. LeakSanitizer runs too: tidings
# must give back every segment and event; crossbeam-epoch's global collector lives in a static
# that is still reachable at exit, so it is not a leak. crossbeam-epoch is built with
# --cfg crossbeam_sanitize (smaller bags, so reclamation runs much more often).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || {
    echo "scripts/asan.sh: needs the rust-src component of the nightly toolchain" >&2
    exit 1
}
export RUSTFLAGS="-Zsanitizer=address --cfg crossbeam_sanitize ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/asan}"
exec cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --test stress "$@"
