#!/usr/bin/env bash
# Runs the built Swift Testing suite (make test builds it first) and, when it fails, ends with
# a short summary: the failed tests and, if the test process crashed, the crashed thread's
# frames. CI keeps only the tail of the output, and a crash's full report (every thread, the
# registers, the loaded images) would push both out of it.
#
# A hung run is stopped after TEST_TIMEOUT seconds (default 1500, well inside CI's limit). The
# summary then names the tests that started and never ended, and, when gdb is installed, the
# test process's threads go to .capstan/test-hang-threads.txt before it is killed.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT="${SWIFT:-swift}"
JOBS="${JOBS:-2}"
TEST_TIMEOUT="${TEST_TIMEOUT:-1500}"
mkdir -p .capstan
log=.capstan/test-output.log
threads=.capstan/test-hang-threads.txt
rm -f "$threads"
# This run's own flags (two runs in one checkout must not read each other's).
flags=$(mktemp -d)
trap 'rm -rf "$flags"' EXIT

# The crashed thread only, no registers or image list; symbolication stays on.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=yes,threads=crashed,registers=none,images=none}"

# Line-buffered: a piped test process otherwise holds its last 4 KB of output back, which is
# exactly the part that says where a hung or killed run was.
run=("$SWIFT" test -j "$JOBS" --skip-build "$@")
if command -v stdbuf >/dev/null; then run=(stdbuf -oL -eL "${run[@]}"); fi

script=$$
{ "${run[@]}" 2>&1; echo $? > "$flags/status"; } | tee "$log" &
runner=$!  # tee: waiting for it waits until the whole output is in the log

watchdog() {
  sleep "$TEST_TIMEOUT" & wait $!
  touch "$flags/timed-out"
  echo
  echo "=== the tests ran longer than ${TEST_TIMEOUT}s: stopping them ==="
  # The test binary among this script's descendants (swift test starts it as a child).
  local pid="" queue=("$script") next
  while [ ${#queue[@]} -gt 0 ]; do
    next=${queue[0]}; queue=("${queue[@]:1}")
    if grep -q 'PackageTests' "/proc/$next/cmdline" 2>/dev/null; then pid=$next; break; fi
    queue+=($(pgrep -P "$next"))
  done
  if [ -n "$pid" ] && command -v gdb >/dev/null; then
    timeout 120 gdb -p "$pid" -batch -ex "thread apply all bt" > "$threads" 2>/dev/null
  fi
  if [ -n "$pid" ]; then
    kill -9 "$pid" 2>/dev/null
  else
    # No test process yet (SwiftPM still waiting or building): stop SwiftPM itself.
    pkill -9 -f -P "$(pgrep -d, -P "$script")" '^(stdbuf|.*swift)' 2>/dev/null
  fi
}
watchdog &
guard=$!

wait "$runner"
status=$(cat "$flags/status" 2>/dev/null || echo 1)
kill "$guard" 2>/dev/null
pkill -P "$guard" sleep 2>/dev/null
wait "$guard" 2>/dev/null

if [ -e "$flags/timed-out" ]; then
  status=124
fi
if [ "$status" -ne 0 ]; then
  echo
  echo "=== test summary (exit $status; full output in $log) ==="
  grep -a -E '^✘|Fatal error|Simultaneous accesses|Precondition failed|Thread .* crashed' "$log" \
    | grep -v -E '^\s*$' | head -40 || true
  if grep -a -q 'Thread .* crashed' "$log"; then
    echo "--- the crashed thread ---"
    grep -a -B 3 -A 45 'Thread .* crashed' "$log" | head -60
  fi
  if [ -s "$threads" ]; then
    echo "--- the hung process's threads ($threads): those in Capstan code ---"
    # Demangled first; a thread is shown when Capstan code other than an idle wait (an
    # executor's empty queue, a Kafka poll, the producer's delivery-report loop) is on its stack.
    { "$SWIFT" demangle --simplified < "$threads" 2>/dev/null || cat "$threads"; } | awk '
      function flush() { if (block != "" && busy) printf "%s", block; block = ""; busy = 0; seen = 0 }
      /^Thread / { flush(); block = $0 "\n"; next }
      /^#/ { line = $0; sub(/ 0x[0-9a-f]+ in /, " ", line); sub(/ \(.*\) (at|from) /, " @ ", line)
             if (!seen && line ~ /Capstan/) {
               seen = 1
               if (line !~ /DedicatedThreadExecutor\.loop|KafkaConsumer\.poll\(|DeliveryPoller/) busy = 1
             }
             block = block "  " substr(line, 1, 160) "\n" }
      END { flush() }' | head -60
  fi
  # Tests that started and never passed or failed: where a hung or killed run was. Printed
  # last, so that CI's tail of the output always has it, whatever the stacks above took.
  unfinished=$(awk '
    /◇ Test .* started\./ && !/◇ Test (run|case) / { name = $0; sub(/.*◇ Test /, "", name); sub(/ started\..*/, "", name); open[name] = 1 }
    /[✔✘] Test .* (passed|failed) after / { name = $0; sub(/.*[✔✘] Test /, "", name); sub(/ (with [0-9]+ test cases? )?(passed|failed) after [0-9.]+ seconds.*$/, "", name); delete open[name] }
    END { for (n in open) print "  " n }' "$log")
  if [ -n "$unfinished" ]; then
    echo "--- tests that started and did not end ---"
    echo "$unfinished"
  fi
fi
exit "$status"
