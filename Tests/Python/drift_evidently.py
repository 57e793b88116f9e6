"""Evidently's own drift decisions for two CSV files: the anchor for Capstan's decisions.

Usage: drift_evidently.py REFERENCE.csv CURRENT.csv NUMERIC,COLUMNS CATEGORICAL,COLUMNS

Runs Evidently 0.7.23's DataDriftPreset (the legacy Report API, whose defaults Capstan's `auto`
follows) with the column kinds given explicitly, and prints one JSON object: per column the
method, score, threshold and decision, and the dataset decision. Empty CSV fields are missing
values. Needs pandas < 3 and evidently 0.7.x (scripts/setup.sh makes .venv/evidently).
"""
import json
import sys
import warnings

import pandas as pd
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report

warnings.filterwarnings("ignore")


def main():
    reference_path, current_path, numeric, categorical = sys.argv[1:5]
    numeric = [c for c in numeric.split(",") if c]
    categorical = [c for c in categorical.split(",") if c]
    dtypes = {c: "float64" for c in numeric} | {c: "object" for c in categorical}
    reference = pd.read_csv(reference_path, dtype=dtypes, keep_default_na=False, na_values=[""])
    current = pd.read_csv(current_path, dtype=dtypes, keep_default_na=False, na_values=[""])
    mapping = ColumnMapping(numerical_features=numeric, categorical_features=categorical, target=None, prediction=None)
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    table = next(m for m in report.as_dict()["metrics"] if m["metric"] == "DataDriftTable")["result"]
    columns = {
        name: {"method": c["stattest_name"], "score": repr(float(c["drift_score"])), "threshold": c["stattest_threshold"],
               "drifted": bool(c["drift_detected"])}
        for name, c in table["drift_by_columns"].items()
    }
    print(json.dumps({"columns": columns, "dataset_drift": bool(table["dataset_drift"]),
                      "drifted_columns": table["number_of_drifted_columns"]}))


main()
