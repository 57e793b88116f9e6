#!/usr/bin/env bash
# predict_e2e: end-to-end latency of the serving gateway under fixed-rate (open-loop) load.
# Per request: 20 features from three Redis hashes (one pipelined round trip to a real
# redis-server), a version from a 90/10 sticky split, gRPC ModelInfer on a real model server
# (100 trees, depth 6), and the prediction logged to Kafka (librdkafka's mock cluster).
# The anchor is GET /healthz at the top rate: the HTTP + load-generator floor on this machine.
# Ends with: RESULT predict_e2e rps=<n> p50_ms=<x> p95_ms=<x> p99_ms=<x>
# Options: RATES=500,1000,2000 SECONDS=10 (environment).
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 bench/predict_e2e_model.py "$work/model.json"
swift build --package-path bench -c release -j 2 --product capstan-gateway-bench >&2
"$(swift build --package-path bench -c release --show-bin-path)/capstan-gateway-bench" \
  --model "$work/model.json" --rates "${RATES:-500,1000,2000}" --seconds "${SECONDS_PER_RATE:-10}"
