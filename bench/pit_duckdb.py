"""The anchor of bench/pit.sh: DuckDB's ASOF JOIN on the same data, held in memory.

Generates the offline rows with the formula capstan-pit-bench uses inside PostgreSQL (untimed),
reads the same label file into memory (untimed), then times the ASOF JOIN written out as CSV, as
ours is. Prints `DUCKDB seconds=<x> rows=<n> checksum=<sum of f1> nulls=<n>`.
"""
import sys
import time

import duckdb

rows, entities, t0, labels_path, out_path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
con = duckdb.connect()
con.execute(f"""
    CREATE TABLE f AS SELECT 'e' || (i % {entities}) AS entity,
        {t0} + (i // {entities}) * 60000 + (i * 7919) % 60000 AS event_ms,
        ((i * 2654435761) % 100000) / 100.0 AS f1, ((i * 40503) % 100000) / 100.0 AS f2, ((i * 69069) % 100000) / 100.0 AS f3,
        ((i * 1103515245) % 100000) / 100.0 AS f4, ((i * 22695477) % 100000) / 100.0 AS f5
    FROM range(0, {rows}) t(i)""")
con.execute(f"CREATE TABLE l AS SELECT * FROM read_csv('{labels_path}', header=true, types={{'entity': 'VARCHAR', 'timestamp': 'BIGINT', 'label': 'INTEGER'}})")
start = time.perf_counter()
con.execute(f"""
    COPY (SELECT l.entity, l.timestamp, l.label, f.f1, f.f2, f.f3, f.f4, f.f5
          FROM l ASOF LEFT JOIN f ON l.entity = f.entity AND l.timestamp >= f.event_ms) TO '{out_path}' (HEADER, DELIMITER ',')""")
seconds = time.perf_counter() - start
n, checksum, nulls = con.execute(f"SELECT count(*), sum(f1), count(*) - count(f1) FROM read_csv('{out_path}', header=true)").fetchone()
print(f"duckdb: ASOF JOIN of {n} label rows against {rows} rows in memory, written as CSV: {seconds:.2f} s")
print(f"DUCKDB seconds={seconds:.3f} rows={n} checksum={checksum or 0:.2f} nulls={nulls}")
