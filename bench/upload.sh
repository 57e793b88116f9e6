#!/usr/bin/env bash
# Upload benchmark: a generated CSV of at least 1 GB through the ingestion gateway (REST, the
# user_activity example view, offline + online) against a plain PostgreSQL COPY of the same file
# into a table of the CSV's shape (the ceiling), on the same embedded PostgreSQL in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path bench -c release -j 2 --product capstan-upload-bench >/dev/null
exec bench/.build/release/capstan-upload-bench --gigabytes "${BENCH_UPLOAD_GB:-1.0}" --users "${BENCH_USERS:-100000}" ${BENCH_UPLOAD_CSV:+--csv "$BENCH_UPLOAD_CSV"}
