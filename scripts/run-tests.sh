#!/usr/bin/env bash
# Runs the built Swift Testing suite (make test builds it first) and, when it fails, ends with
# a short summary: the failed tests and, if the test process crashed, the crashed thread's
# frames. CI keeps only the tail of the output, and a crash's full report (every thread, the
# registers, the loaded images) would push both out of it.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT="${SWIFT:-swift}"
JOBS="${JOBS:-2}"
mkdir -p .capstan
log=.capstan/test-output.log

# The crashed thread only, no registers or image list; symbolication stays on.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=yes,threads=crashed,registers=none,images=none}"

"$SWIFT" test -j "$JOBS" --skip-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo
  echo "=== test summary (exit $status; full output in $log) ==="
  grep -E '✘|Test .* (failed|recorded an issue)|Expectation failed|Fatal error|Simultaneous accesses|precondition|crashed' "$log" \
    | grep -v -E '^\s*$' | head -40 || true
  if grep -q 'Thread .* crashed' "$log"; then
    echo "--- the crashed thread ---"
    grep -B 3 -A 45 'Thread .* crashed' "$log" | head -60
  fi
fi
exit "$status"
