"""Randomized classification and regression cases with scikit-learn's own metrics, for
Tests/CapstanDriftTests/PerformanceReferenceTests.swift.

Usage: performance_reference.py SEED OUTPUT.json
       performance_reference.py --cases INPUT.json OUTPUT.json

The second form scores given cases ({"cases": [{"task", "labels", "outputs"}]}, numbers as
numbers or repr strings) and writes each case's `expected` metrics the same way.

Each case has `labels` and `outputs` (one vector per row: one value = P(class 1) of a binary
classifier or a regressor's prediction, K values = one probability per class) and the expected
metrics. Numbers are written as repr strings so that Swift reads them exactly.
"""
import json
import sys
import warnings

import numpy as np
from sklearn import metrics

warnings.filterwarnings("ignore")


def r(x):
    return None if x is None else repr(float(x))


def binary_case(rng, n, ties):
    y = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1.5, n) + (y - 0.5) * rng.uniform(0, 2))))
    if ties:
        p = np.round(p, 1)
    if rng.random() < 0.2:
        p[: n // 10] = rng.choice([0.0, 1.0], n // 10)  # log loss clipping
    return {
        "task": "binary",
        "labels": [int(v) for v in y],
        "outputs": [[repr(float(v))] for v in p],
        "expected": expected("binary", y, p[:, None]),
    }


def multiclass_case(rng, n, k, ties):
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += rng.uniform(0, 2)
    if ties:
        logits = np.round(logits, 0)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return {
        "task": "multiclass",
        "labels": [int(v) for v in y],
        "outputs": [[repr(float(v)) for v in row] for row in p],
        "expected": expected("multiclass", y, p),
    }


def regression_case(rng, n, zeros):
    y = rng.normal(50, 20, n)
    if zeros:
        y[: n // 20] = 0.0  # MAPE's epsilon rule
    yhat = y + rng.normal(0, 5, n)
    return {
        "task": "regression",
        "labels": [repr(float(v)) for v in y],
        "outputs": [[repr(float(v))] for v in yhat],
        "expected": expected("regression", y, yhat[:, None]),
    }


def expected(task, y, outputs):
    """sklearn's metrics as the Swift side defines them (see ClassificationMetrics)."""
    if task == "regression":
        yhat = outputs[:, 0]
        return {
            "rmse": r(metrics.root_mean_squared_error(y, yhat)),
            "mae": r(metrics.mean_absolute_error(y, yhat)),
            "mape": r(metrics.mean_absolute_percentage_error(y, yhat)),
        }
    y = y.astype(int)
    if outputs.shape[1] == 1:
        p = outputs[:, 0]
        pred = (p >= 0.5).astype(int)
        return {
            "auc": r(metrics.roc_auc_score(y, p)) if len(set(y)) == 2 else None,
            "accuracy": r(metrics.accuracy_score(y, pred)),
            "precision": r(metrics.precision_score(y, pred, zero_division=0)),
            "recall": r(metrics.recall_score(y, pred, zero_division=0)),
            "f1": r(metrics.f1_score(y, pred, zero_division=0)),
            "log_loss": r(metrics.log_loss(y, p, labels=[0, 1])),
        }
    k = outputs.shape[1]
    pred = np.argmax(outputs, axis=1)
    return {
        "auc": r(metrics.roc_auc_score(y, outputs, multi_class="ovr", average="macro", labels=list(range(k))))
        if len(set(y)) == k else None,
        "accuracy": r(metrics.accuracy_score(y, pred)),
        "precision": r(metrics.precision_score(y, pred, average="macro", zero_division=0)),
        "recall": r(metrics.recall_score(y, pred, average="macro", zero_division=0)),
        "f1": r(metrics.f1_score(y, pred, average="macro", zero_division=0)),
        "log_loss": r(metrics.log_loss(y, outputs, labels=list(range(k)))),
    }


def score_cases(input_path, output):
    with open(input_path) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        y = np.array([float(v) for v in case["labels"]])
        outputs = np.array([[float(v) for v in row] for row in case["outputs"]]).reshape(len(y), -1)
        case["expected"] = expected(case["task"], y, outputs)
    with open(output, "w") as f:
        json.dump({"cases": cases}, f)


def main():
    if sys.argv[1] == "--cases":
        score_cases(sys.argv[2], sys.argv[3])
        return
    seed, output = int(sys.argv[1]), sys.argv[2]
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(40):
        n = int(rng.choice([1, 2, 5, 37, 200, 1500]))
        cases.append(binary_case(rng, n, ties=i % 2 == 0))
    for i in range(30):
        n = int(rng.choice([3, 20, 300, 1200]))
        cases.append(multiclass_case(rng, n, int(rng.choice([3, 4, 6])), ties=i % 2 == 0))
    for i in range(20):
        n = int(rng.choice([1, 10, 400, 3000]))
        cases.append(regression_case(rng, n, zeros=i % 3 == 0))
    import sklearn
    with open(output, "w") as f:
        json.dump({"sklearn": sklearn.__version__, "seed": seed, "cases": cases}, f)


if __name__ == "__main__":
    main()
