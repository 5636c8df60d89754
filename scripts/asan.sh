#!/usr/bin/env bash
# The stress test under AddressSanitizer and LeakSanitizer; see scripts/sanitizer.sh.
exec "$(dirname "$0")/sanitizer.sh" address "$@"
