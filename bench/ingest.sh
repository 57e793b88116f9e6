#!/usr/bin/env bash
# Ingest benchmark: sustained end-to-end streaming throughput (Kafka mock cluster → 3 feature
# views → Redis + PostgreSQL) against the raw librdkafka consume rate of the same topic.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path bench -c release --product capstan-bench >/dev/null
exec bench/.build/release/capstan-bench ingest \
  --events "${BENCH_EVENTS:-500000}" --users "${BENCH_USERS:-10000}" --partitions "${BENCH_PARTITIONS:-32}"
