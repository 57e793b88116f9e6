#!/usr/bin/env bash
# Ingest benchmark: end-to-end streaming throughput against the raw librdkafka consume ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product capstan-bench >/dev/null
exec .build/release/capstan-bench ingest \
  --events "${BENCH_EVENTS:-1000000}" --users "${BENCH_USERS:-100000}" --partitions "${BENCH_PARTITIONS:-4}"
