#!/usr/bin/env bash
# Runs every cargo-fuzz target of tidings for SECONDS each (default 60), on nightly, with the
# sanitizer cargo-fuzz uses by default (AddressSanitizer). Installs cargo-fuzz if missing.
# Works from any directory.
#
#   scripts/fuzz.sh [SECONDS]
#
# Each target starts from its committed seeds in fuzz/corpus/<target>/ (files named seed-*);
# what a run adds there stays local (see fuzz/.gitignore). A crash stops the script, leaves
# the input in fuzz/artifacts/<target>/ and prints how to reproduce it.
set -euo pipefail

per_target="${1:-60}"
cd "$(dirname "$0")/../fuzz"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    echo "== fuzz $target for ${per_target}s"
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$per_target"
done
