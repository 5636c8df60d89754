#!/usr/bin/env bash
# Runs the stress test (tests/stress.rs) under ThreadSanitizer on nightly.
#
#   scripts/tsan.sh            # TIDINGS_STRESS_SCALE=1
#   TIDINGS_STRESS_SCALE=10 scripts/tsan.sh
#
# -Zbuild-std rebuilds the standard library instrumented, so that TSan sees std's atomics
# and does not report false races through uninstrumented code. crossbeam-epoch is built with
# --cfg crossbeam_sanitize (smaller bags, so reclamation runs much more often).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || {
    echo "scripts/tsan.sh: needs the rust-src component of the nightly toolchain" >&2
    exit 1
}
export RUSTFLAGS="-Zsanitizer=thread --cfg crossbeam_sanitize ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=thread"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/tsan}"
exec cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --test stress "$@"
