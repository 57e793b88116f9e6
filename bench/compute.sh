#!/usr/bin/env bash
# Compute benchmark: the worker's per-event CPU cost without stores (decode, 3 views, row
# encoding), against the JSON decode alone.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path bench -c release --product capstan-bench >/dev/null
exec bench/.build/release/capstan-bench compute --events "${BENCH_EVENTS:-500000}" --users "${BENCH_USERS:-10000}"
