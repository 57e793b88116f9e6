#!/usr/bin/env bash
# Operator benchmark: 1,000 FeatureViews and 200 ModelDeployments applied to the in-process
# Kubernetes API server (capstan-apiserver --deployments-available: Deployments get an
# all-replicas-available status as soon as their spec changes, since no pods run).
#
# Three processes, so the operator's memory is measured on its own:
#   capstan-apiserver       the API server
#   capstan-operator run    the operator, exactly as deployed (no leader election)
#   capstan-operator-bench  applies the CRDs and the objects, waits until every one is Ready
# Figures: seconds from the first apply until all are Ready (for their current generation),
# p99 of the operator's reconcile durations (its --stats-file), the operator's peak RSS (VmHWM).
# Anchors measured in the same run: the time the load tool spends just applying the objects, and
# the idle operator's RSS (caches synced, no objects yet).
set -euo pipefail
cd "$(dirname "$0")/.."
FEATUREVIEWS="${BENCH_FEATUREVIEWS:-1000}"
MODELDEPLOYMENTS="${BENCH_MODELDEPLOYMENTS:-200}"
WORKERS="${BENCH_OPERATOR_WORKERS:-2}"
CONFIG="${BENCH_CONFIG:-release}"

swift build -c "$CONFIG" -j 2 --product capstan-apiserver >/dev/null
swift build -c "$CONFIG" -j 2 --product capstan-operator >/dev/null
swift build --package-path bench -c "$CONFIG" -j 2 --product capstan-operator-bench >/dev/null
BIN="$(swift build -c "$CONFIG" --show-bin-path)"
BENCH_BIN="$(swift build --package-path bench -c "$CONFIG" --show-bin-path)"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN/capstan-apiserver" --port "$PORT" --kubeconfig "$WORK/kubeconfig" --deployments-available --bookmark-seconds 5 >"$WORK/apiserver.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/kubeconfig" ] && break; sleep 0.1; done
[ -s "$WORK/kubeconfig" ] || { echo "capstan-apiserver did not start:"; cat "$WORK/apiserver.log"; exit 1; }

"$BENCH_BIN/capstan-operator-bench" --kubeconfig "$WORK/kubeconfig" --crds-only

METRICS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN/capstan-operator" run --kubeconfig "$WORK/kubeconfig" --no-leader-elect --workers "$WORKERS" \
  --metrics-host 127.0.0.1 --metrics-port "$METRICS_PORT" --log-level warning --stats-file "$WORK/stats.json" >"$WORK/operator.log" 2>&1 &
OPERATOR=$!
PIDS+=($OPERATOR)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

sleep 1
IDLE_RSS_KB="$(awk '/^VmRSS/ {print $2}' /proc/$OPERATOR/status)"
echo "operator benchmark: $FEATUREVIEWS FeatureViews + $MODELDEPLOYMENTS ModelDeployments, $WORKERS reconcile workers per kind ($CONFIG build)"
"$BENCH_BIN/capstan-operator-bench" --kubeconfig "$WORK/kubeconfig" --featureviews "$FEATUREVIEWS" --modeldeployments "$MODELDEPLOYMENTS" | tee "$WORK/load.log"
SECONDS_TO_READY="$(sed -n 's/^seconds_to_ready=//p' "$WORK/load.log")"

RSS_NOW_KB="$(awk '/^VmRSS/ {print $2}' /proc/$OPERATOR/status)"
RSS_PEAK_KB="$(awk '/^VmHWM/ {print $2}' /proc/$OPERATOR/status)"
APISERVER_RSS_KB="$(awk '/^VmHWM/ {print $2}' /proc/${PIDS[0]}/status)"
kill -TERM "$OPERATOR"
for _ in $(seq 1 100); do [ -s "$WORK/stats.json" ] && break; sleep 0.1; done
[ -s "$WORK/stats.json" ] || { echo "operator wrote no statistics:"; tail -20 "$WORK/operator.log"; exit 1; }
STATS="$(cat "$WORK/stats.json")"
P99="$(python3 -c 'import json,sys; print("%.1f" % json.loads(sys.argv[1])["p99_ms"])' "$STATS")"
RSS_MB="$(python3 -c "print('%.1f' % ($RSS_PEAK_KB / 1024))")"
echo "reconciles: $STATS"
echo "operator RSS: peak $RSS_MB MB, at Ready $(python3 -c "print('%.1f' % ($RSS_NOW_KB / 1024))") MB idle before the objects $(python3 -c "print('%.1f' % ($IDLE_RSS_KB / 1024))") MB (API server peak $(python3 -c "print('%.1f' % ($APISERVER_RSS_KB / 1024))") MB, separate process)"
echo "targets: seconds_to_ready <= 10, reconcile_p99_ms <= 50, rss_mb <= 64"
echo "RESULT operator seconds_to_ready=$SECONDS_TO_READY reconcile_p99_ms=$P99 rss_mb=$RSS_MB"
