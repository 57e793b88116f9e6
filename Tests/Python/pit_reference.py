"""Point-in-time reference for the training-set tests: DuckDB's ASOF JOIN.

Reads the offline feature rows (features.csv), the label file (labels.csv, with a row_id
column) and Capstan's training set (ours.csv), computes every requested feature with DuckDB
and prints `compared=<n> mismatches=<m>` followed by up to 20 mismatches.

spec.json: [{"view": ..., "version": ..., "ttl_ms": 0, "columns": [{"name": "pa:f1",
"source": "f1", "text": false}]}]

The rule: per label (entity, ts) the latest row of the view's definition version with
event_ms <= ts, ties on event_ms broken by the latest created_us, then the highest offset;
NULL when that row is older than ts - ttl_ms (ttl_ms > 0).
"""
import csv
import json
import math
import sys

import duckdb


def main():
    features, labels, ours, spec_path = sys.argv[1:5]
    spec = json.load(open(spec_path))
    con = duckdb.connect()
    con.execute(f"CREATE TABLE f AS SELECT * FROM read_csv('{features}', header=true, all_varchar=false, "
                "types={'entity':'VARCHAR','view':'VARCHAR','t':'VARCHAR'})")
    con.execute(f"CREATE TABLE l AS SELECT * FROM read_csv('{labels}', header=true, types={{'entity':'VARCHAR','note':'VARCHAR'}})")
    expected = {}
    for view in spec:
        cols = ", ".join(f'd."{c["source"]}" AS "{c["name"]}"' for c in view["columns"])
        con.execute(f"""
            CREATE OR REPLACE TABLE d AS SELECT * FROM f WHERE view = '{view["view"]}' AND version = {view["version"]}
            QUALIFY row_number() OVER (PARTITION BY entity, event_ms ORDER BY created_us DESC, "offset" DESC) = 1""")
        rows = con.execute(f"""
            SELECT l.row_id, l.timestamp, d.event_ms, {cols}
            FROM l ASOF LEFT JOIN d ON l.entity = d.entity AND l.timestamp >= d.event_ms""").fetchall()
        for row in rows:
            row_id, ts, event_ms = row[0], row[1], row[2]
            for k, c in enumerate(view["columns"]):
                value = row[3 + k]
                if event_ms is None or (view["ttl_ms"] > 0 and event_ms < ts - view["ttl_ms"]):
                    value = None
                expected[(str(row_id), c["name"])] = value
    compared = 0
    mismatches = []
    with open(ours, newline="") as handle:
        for out in csv.DictReader(handle):
            for view in spec:
                for c in view["columns"]:
                    key = (out["row_id"], c["name"])
                    if key not in expected:
                        mismatches.append(f"row {key[0]} {c['name']}: not in the reference")
                        continue
                    want = expected.pop(key)
                    got = out[c["name"]]
                    compared += 1
                    if want is None:
                        ok = got == ""
                    elif c["text"]:
                        ok = got == str(want)
                    else:
                        ok = got != "" and math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-12)
                    if not ok:
                        mismatches.append(f"row {key[0]} {c['name']}: ours {got!r}, duckdb {want!r}")
    for key in expected:
        mismatches.append(f"row {key[0]} {key[1]}: missing from ours")
    print(f"compared={compared} mismatches={len(mismatches)}")
    for line in mismatches[:20]:
        print(line)


if __name__ == "__main__":
    main()
