"""The anchor of bench/drift.sh: Evidently 0.7.23's DataDriftPreset on the same columns.

Usage: drift_evidently.py DIRECTORY OUT.json

Reads the files bench/drift_data.py wrote into two pandas DataFrames (untimed: numeric features
float64 with NaN for missing, categorical features object columns of str with None for missing,
as pandas reads them from CSV), then times the legacy Report API end to end, `report.run` with
an explicit ColumnMapping (numerical and categorical features, no target or prediction) and
`report.as_dict()`. Writes per column the method, score, threshold and decision and the dataset
decision to OUT.json (the format of Tests/Python/drift_evidently.py) and prints
`EVIDENTLY seconds=<x> run_seconds=<x> cpu_seconds=<x> dataset_drift=<bool> drifted=<n> peak_rss_mb=<x>`.
"""
import json
import os
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report

warnings.filterwarnings("ignore")


def frame(directory, side, manifest):
    columns = {}
    for name in manifest["numeric"]:
        columns[name] = np.fromfile(os.path.join(directory, f"{side}.{name}.f64"), dtype="<f8")
    for name in manifest["categorical"]:
        with open(os.path.join(directory, f"{name}.codes")) as f:
            labels = np.array(f.read().splitlines() + [None], dtype=object)
        codes = np.fromfile(os.path.join(directory, f"{side}.{name}.i32"), dtype="<i4")
        columns[name] = labels[codes]  # code -1 picks the trailing None
    return pd.DataFrame(columns)


def main():
    directory, out_path = sys.argv[1:3]
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    reference = frame(directory, "reference", manifest)
    current = frame(directory, "current", manifest)
    mapping = ColumnMapping(
        numerical_features=manifest["numeric"], categorical_features=manifest["categorical"], target=None, prediction=None)

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    ran = time.perf_counter()
    result = report.as_dict()
    seconds = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime

    table = next(m for m in result["metrics"] if m["metric"] == "DataDriftTable")["result"]
    columns = {
        name: {"method": c["stattest_name"], "score": repr(float(c["drift_score"])), "threshold": c["stattest_threshold"],
               "drifted": bool(c["drift_detected"])}
        for name, c in table["drift_by_columns"].items()
    }
    with open(out_path, "w") as f:
        json.dump({"columns": columns, "dataset_drift": bool(table["dataset_drift"]),
                   "drifted_columns": table["number_of_drifted_columns"]}, f, indent=1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"evidently: DataDriftPreset over {len(reference)} + {len(current)} rows x {len(columns)} columns: "
          f"{seconds:.2f} s (report.run {ran - start:.2f} s, as_dict {seconds - (ran - start):.2f} s; {cpu_seconds:.1f} s of CPU), "
          f"{table['number_of_drifted_columns']} drifted, peak RSS {rss:.0f} MB")
    print(f"EVIDENTLY seconds={seconds:.3f} run_seconds={ran - start:.3f} cpu_seconds={cpu_seconds:.3f} dataset_drift={str(bool(table['dataset_drift'])).lower()} "
          f"drifted={table['number_of_drifted_columns']} peak_rss_mb={rss:.0f}")


main()
