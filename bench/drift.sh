#!/usr/bin/env bash
# Drift benchmark (issue 17): 50 features (40 numeric, 10 categorical) x BENCH_ROWS reference and
# BENCH_ROWS current rows (1,000,000 each) with a known shift in 10 features, generated once
# (seeded) by bench/drift_data.py into one binary file per column that both sides read.
#   Anchor: Evidently 0.7.23's DataDriftPreset on pandas DataFrames (report.run + as_dict).
#   Capstan: DriftRunner over all 50 features (method auto, no chunks) with the windows in memory,
#   then again reading both windows from the offline store in an embedded PostgreSQL (the rows are
#   written there first by binary COPY, untimed, and kept for the next run).
#   Then the same decisions from mergeable per-chunk profiles (chunks of BENCH_PROFILE_CHUNK_HOURS,
#   default 6, profiled untimed as ingest would store them; timed: decode, merge, score).
# Every per-feature decision and the dataset decision must agree between Evidently and both
# Capstan runs (decisions_equal), and the profile run's too (profile_decisions_equal); the script
# exits 1 after the RESULT line when they do not.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${BENCH_ROWS:-1000000}"
DIR="${BENCH_DIR:-.capstan/drift-bench}"
PYTHON="${CAPSTAN_EVIDENTLY_PYTHON:-$PWD/.venv/evidently/bin/python3}"
swift build --package-path bench -c release -j 2 --product capstan-drift-bench >/dev/null
BIN=bench/.build/release/capstan-drift-bench
"$PYTHON" bench/drift_data.py "$DIR/data" "$ROWS"
"$BIN" --source load --data "$DIR/data" --directory "$DIR"
echo "machine load (1, 5, 15 min) before the timed runs: $(cut -d' ' -f1-3 /proc/loadavg)"

out=$("$PYTHON" bench/drift_evidently.py "$DIR/data" "$DIR/evidently.json")
echo "$out"
theirs=$(grep '^EVIDENTLY ' <<<"$out")
out=$("$BIN" --source memory --data "$DIR/data" --evidently "$DIR/evidently.json" --output "$DIR/capstan-memory.json" --table)
echo "$out"
memory=$(grep '^CAPSTAN ' <<<"$out")
out=$("$BIN" --source postgres --data "$DIR/data" --directory "$DIR" --parallelism "${BENCH_PARALLELISM:-2}" \
  --evidently "$DIR/evidently.json" --compare "$DIR/capstan-memory.json")
echo "$out"
postgres=$(grep '^CAPSTAN ' <<<"$out")
out=$("$BIN" --source profile --data "$DIR/data" --profile-chunk-hours "${BENCH_PROFILE_CHUNK_HOURS:-6}" \
  --evidently "$DIR/evidently.json" --compare "$DIR/capstan-memory.json")
echo "$out"
profile=$(grep '^CAPSTAN ' <<<"$out")

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
features=$(python3 -c "import json; m = json.load(open('$DIR/data/manifest.json')); print(len(m['numeric']) + len(m['categorical']))")
evidently_s=$(field "$theirs" seconds); memory_s=$(field "$memory" seconds); postgres_s=$(field "$postgres" seconds)
equal=false
if [ "$(field "$memory" decisions_equal)" = true ] && [ "$(field "$postgres" decisions_equal)" = true ]; then equal=true; fi
ratio() { python3 -c "print(f'{$1 / $2:.1f}')"; }
echo "RESULT drift rows=$ROWS features=$features capstan_s=$memory_s evidently_s=$evidently_s speedup=$(ratio "$evidently_s" "$memory_s") decisions_equal=$equal capstan_postgres_s=$postgres_s postgres_speedup=$(ratio "$evidently_s" "$postgres_s") postgres_read_s=$(field "$postgres" read_seconds) peak_rss_mb=$(field "$memory" peak_rss_mb) postgres_peak_rss_mb=$(field "$postgres" peak_rss_mb) evidently_peak_rss_mb=$(field "$theirs" peak_rss_mb) capstan_cpu_s=$(field "$memory" cpu_seconds) evidently_cpu_s=$(field "$theirs" cpu_seconds) cpu_speedup=$(ratio "$(field "$theirs" cpu_seconds)" "$(field "$memory" cpu_seconds)") profile_s=$(field "$profile" seconds) profile_build_s=$(field "$profile" build_seconds) profile_decisions_equal=$(field "$profile" decisions_equal) profile_near_threshold=$(field "$profile" near_threshold) profile_inexact=$(field "$profile" inexact) profile_rank_error=$(field "$profile" rank_error) profile_mb=$(field "$profile" profile_mb) profile_chunks=$(field "$profile" chunks)"
[ "$equal" = true ] && [ "$(field "$profile" decisions_equal)" = true ]
