#!/usr/bin/env bash
# Tree-model inference: a 300-tree, depth-6 binary:logistic XGBoost model trained and saved by
# libxgboost (Debian's libxgboost-dev) through its C API, then predicted by CapstanModels and by
# libxgboost's XGBoosterPredictFromDense on the same model file in the same run: single rows
# (one call per row) and a 10,000-row batch. Checks parity first (max abs diff <= 1e-6).
# The speedups compare with libxgboost on one thread (nthread=1, like the Swift runtime); the
# batch figure against libxgboost on all cores is printed as well.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --package-path bench -c release --product capstan-tree-bench >/dev/null
exec bench/.build/release/capstan-tree-bench \
  --trees "${BENCH_TREES:-300}" --depth "${BENCH_DEPTH:-6}" --batch-rows "${BENCH_BATCH_ROWS:-10000}" \
  --single-calls "${BENCH_SINGLE_CALLS:-20000}" --repeats "${BENCH_REPEATS:-5}" --train-rows "${BENCH_TRAIN_ROWS:-10000}"
