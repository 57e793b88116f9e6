#!/usr/bin/env bash
# Training-set benchmark: BENCH_LABELS label rows (1,000,000) against BENCH_ROWS offline rows
# (10,000,000, one view with 5 features) in PostgreSQL, built by CapstanOffline (binary COPY TO,
# merge join in Swift, CSV out), against DuckDB's ASOF JOIN on the same data in memory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${BENCH_ROWS:-10000000}"
LABELS="${BENCH_LABELS:-1000000}"
ENTITIES="${BENCH_ENTITIES:-100000}"
DIR="${BENCH_DIR:-.capstan/pit-bench}"
swift build --package-path bench -c release --product capstan-pit-bench >/dev/null
out=$(bench/.build/release/capstan-pit-bench --rows "$ROWS" --labels "$LABELS" --entities "$ENTITIES" \
  --parallelism "${BENCH_PARALLELISM:-2}" --directory "$DIR")
echo "$out"
ours=$(grep '^OURS ' <<<"$out")
out=$(python3 bench/pit_duckdb.py "$ROWS" "$ENTITIES" 1790000000000 "$DIR/labels.csv" "$DIR/duckdb.csv")
echo "$out"
theirs=$(grep '^DUCKDB ' <<<"$out")
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }
ours_s=$(field "$ours" seconds); duck_s=$(field "$theirs" seconds)
if ! python3 -c "import math,sys; sys.exit(0 if math.isclose($(field "$ours" checksum), $(field "$theirs" checksum), rel_tol=1e-9) and $(field "$ours" nulls) == $(field "$theirs" nulls) else 1)"; then
  echo "MISMATCH: ours $(field "$ours" checksum)/$(field "$ours" nulls) vs duckdb $(field "$theirs" checksum)/$(field "$theirs" nulls)" >&2
  exit 1
fi
echo "outputs agree (sum of f1 and null count); ratio $(python3 -c "print(f'{$ours_s / $duck_s:.2f}')")x DuckDB; reading from PostgreSQL: $(python3 -c "print(f'{100 * $(field "$ours" read_seconds) / $ours_s:.0f}')")% of our time"
echo "RESULT pit rows=$(field "$ours" rows) seconds=$ours_s duckdb_seconds=$duck_s"
