#!/usr/bin/env bash
# BatchJob benchmark: a 10,000-item fan-out run by capstan-batch (release) against the same
# processes started by xargs -P, step start latency along a 300-step chain, and SIGKILL +
# resume equivalence on a 1,000-step DAG. The ledger is a throwaway PostgreSQL on loopback.
# Knobs: BENCH_ITEMS (10000), BENCH_PARALLELISM (16), BENCH_CHAIN (300).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release -j "${JOBS:-2}" --product capstan-batch >/dev/null
BIN="$(swift build -c release --show-bin-path)/capstan-batch"
WORK="$(mktemp -d /tmp/capstan-batch-bench.XXXXXX)"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
as_pg=()
if [ "$(id -u)" = 0 ]; then chown -R postgres "$WORK" 2>/dev/null || true; as_pg=(runuser -u postgres --); fi
"${as_pg[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U capstan --auth=trust >/dev/null
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1" -w start >/dev/null
trap '"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
chmod 777 "$WORK"
python3 bench/batch.py "$BIN" "postgres://capstan@127.0.0.1:$PORT/postgres" "$WORK/run"
