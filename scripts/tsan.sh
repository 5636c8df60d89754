#!/usr/bin/env bash
# The stress test under ThreadSanitizer; see scripts/sanitizer.sh.
exec "$(dirname "$0")/sanitizer.sh" thread "$@"
