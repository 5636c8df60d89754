#!/usr/bin/env bash
# Runs the stress test (tests/bus_stress.rs) under a sanitizer on nightly; used by scripts/tsan.sh
# (ThreadSanitizer: data races) and scripts/asan.sh (AddressSanitizer: use after free, double
# free, out-of-bounds access, and leaks through LeakSanitizer).
#
#   scripts/sanitizer.sh thread|address [cargo test args...]
#   TIDINGS_STRESS_SCALE=10 scripts/tsan.sh      # a longer run: 10x the events per round and
#                                                # 10x the time
#
# Each of the stress test's three scenarios (senders/churn/close, scopes on threads, panicking
# Clone/Drop/wakers) keeps starting rounds for TIDINGS_STRESS_SECS seconds: by default 8 times
# TIDINGS_STRESS_SCALE (default 1), so one sanitizer run takes at least 24 s of stress, more
# with the scale variable; with `--test-threads 1` (as CI runs it) they run one after another.
#
# -Zbuild-std rebuilds the standard library instrumented, so that the sanitizer sees std's
# atomics and allocations (no false race reports through uninstrumented code).
# --cfg crossbeam_sanitize makes crossbeam-epoch's bags small, so reclamation runs far more
# often. crossbeam-epoch's global collector is a static still reachable at exit, which
# LeakSanitizer does not count as a leak; anything tidings forgot to free is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:?usage: scripts/sanitizer.sh thread|address [cargo test args...]}"
shift
case "$kind" in
    thread) export TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" ;;
    address) export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}" ;;
    *) echo "scripts/sanitizer.sh: unknown sanitizer '$kind'" >&2; exit 2 ;;
esac
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || {
    echo "scripts/sanitizer.sh: needs the rust-src component of the nightly toolchain" >&2
    exit 1
}
export RUSTFLAGS="-Zsanitizer=$kind --cfg crossbeam_sanitize ${RUSTFLAGS:-}"
export RUSTDOCFLAGS="-Zsanitizer=$kind"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/san-$kind}"
export TIDINGS_STRESS_SECS="${TIDINGS_STRESS_SECS:-$((8 * ${TIDINGS_STRESS_SCALE:-1}))}"
exec cargo +nightly test -Zbuild-std --target x86_64-unknown-linux-gnu --test bus_stress "$@"
