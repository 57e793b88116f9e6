#!/usr/bin/env python3
"""Trains small XGBoost and LightGBM models on generated data and writes, into OUT_DIR:

  inputs.f64          10,000 x 8 float64 rows (little-endian, row-major) with NaNs, zeros and
                      unseen categories
  <model>.json/.txt   each model as its library saves it (xgb17_* by Debian's libxgboost 1.7 through
                      its C API, the JSON layout older deployments have)
  <model>.pred.f64    the library's own predictions for inputs.f64 (float64, row-major)
  manifest.tsv        one line per model: name, format, file, objective, outputs

The Swift tests in Tests/CapstanModelsTests run this script and compare their predictions with
the libraries'. Usage: train_reference_models.py OUT_DIR
"""
import ctypes
import ctypes.util
import os
import sys

import lightgbm as lgb
import numpy as np
import xgboost as xgb

FEATURES = 8
NUMERIC = 6  # columns 0..5 numeric, 6 and 7 categorical codes 0..9 (10, 11 unseen in training)
TRAIN_ROWS = 3000
TEST_ROWS = 10000


def make_rows(rng, rows, unseen):
    x = rng.normal(size=(rows, FEATURES))
    x[:, 2] = np.round(x[:, 2], 1)  # many exact zeros and ties with thresholds
    x[:, 5] = rng.exponential(size=rows) * 100.0
    top = 12 if unseen else 10
    x[:, 6] = rng.integers(0, top, rows)
    x[:, 7] = rng.integers(0, top, rows)
    x[rng.random((rows, FEATURES)) < 0.12] = np.nan
    return x


def signal(x):
    z = np.nan_to_num(x, nan=0.3)
    cat = np.where(np.isin(z[:, 6], [1, 3, 4, 8]), 1.2, -0.8) + 0.3 * (z[:, 7] % 3)
    return 1.5 * z[:, 0] - z[:, 1] * z[:, 3] + 0.8 * np.sin(3 * z[:, 2]) + 0.004 * z[:, 5] + cat


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261122)
    train = make_rows(rng, TRAIN_ROWS, unseen=False)
    test = make_rows(rng, TEST_ROWS, unseen=True)
    s = signal(train) + rng.normal(scale=0.5, size=TRAIN_ROWS)
    binary = (s > np.median(s)).astype(np.float64)
    regression = 50.0 + 20.0 * s  # a large offset keeps float32 accumulation order visible
    multi = np.digitize(s, np.quantile(s, [0.33, 0.66])).astype(np.float64)
    counts = rng.poisson(np.exp(np.clip(s, -3, 3) / 2))
    test.astype("<f8").tofile(os.path.join(out, "inputs.f64"))
    manifest = []

    names = [f"f{i}" for i in range(FEATURES)]
    numeric_types = ["q"] * FEATURES
    cat_types = ["q"] * NUMERIC + ["c", "c"]

    def xgb_model(name, label, params, rounds, types):
        categorical = "c" in types
        dtrain = xgb.DMatrix(train, label=label, feature_names=names, feature_types=types, enable_categorical=categorical)
        dtest = xgb.DMatrix(test, feature_names=names, feature_types=types, enable_categorical=categorical)
        booster = xgb.train({"tree_method": "hist", "seed": 7, **params}, dtrain, rounds)
        path = os.path.join(out, name + ".json")
        booster.save_model(path)
        pred = booster.predict(dtest).astype(np.float64).reshape(TEST_ROWS, -1)
        pred.astype("<f8").tofile(os.path.join(out, name + ".pred.f64"))
        manifest.append((name, "xgboost", name + ".json", params["objective"], pred.shape[1]))

    xgb_model("xgb_binary", binary, {"objective": "binary:logistic", "max_depth": 5, "eta": 0.3}, 40, numeric_types)
    xgb_model("xgb_binary_cat", binary,
              {"objective": "binary:logistic", "max_depth": 4, "max_cat_to_onehot": 1, "base_score": 0.3}, 30, cat_types)
    xgb_model("xgb_onehot_cat", binary,
              {"objective": "binary:logistic", "max_depth": 3, "max_cat_to_onehot": 16}, 15, cat_types)
    xgb_model("xgb_regression", regression, {"objective": "reg:squarederror", "max_depth": 6, "eta": 0.2}, 60, cat_types)
    xgb_model("xgb_multiclass", multi, {"objective": "multi:softprob", "num_class": 3, "max_depth": 4}, 25, cat_types)
    xgb_model("xgb_softmax", multi, {"objective": "multi:softmax", "num_class": 3, "max_depth": 3}, 10, numeric_types)
    xgb_model("xgb_logitraw", binary, {"objective": "binary:logitraw", "max_depth": 4}, 20, numeric_types)
    xgb_model("xgb_deep_regression", regression,
              {"objective": "reg:squarederror", "max_depth": 14, "min_child_weight": 0, "eta": 0.5}, 6, numeric_types)
    xgb_model("xgb_poisson", counts, {"objective": "count:poisson", "max_depth": 4}, 30, numeric_types)

    cat_columns = [6, 7]

    def lgb_model(name, label, params, rounds, categorical=True):
        dtrain = lgb.Dataset(train, label=label, feature_name=names,
                             categorical_feature=cat_columns if categorical else "auto", free_raw_data=False)
        booster = lgb.train({"verbose": -1, "seed": 7, "num_threads": 1, "min_data_per_group": 20,
                             "cat_smooth": 1, **params}, dtrain, rounds)
        path = os.path.join(out, name + ".txt")
        booster.save_model(path)
        pred = np.asarray(booster.predict(test), dtype=np.float64).reshape(TEST_ROWS, -1)
        pred.astype("<f8").tofile(os.path.join(out, name + ".pred.f64"))
        manifest.append((name, "lightgbm", name + ".txt", params["objective"], pred.shape[1]))

    lgb_model("lgb_binary", binary, {"objective": "binary", "num_leaves": 31}, 40)
    lgb_model("lgb_binary_sigmoid_nomissing", binary,
              {"objective": "binary", "sigmoid": 0.7, "use_missing": False, "num_leaves": 15}, 30, categorical=False)
    lgb_model("lgb_regression_zero_missing", regression,
              {"objective": "regression", "zero_as_missing": True, "num_leaves": 31}, 50)
    lgb_model("lgb_multiclass", multi, {"objective": "multiclass", "num_class": 3, "num_leaves": 15}, 25)
    lgb_model("lgb_multiclassova", multi, {"objective": "multiclassova", "num_class": 3, "num_leaves": 7}, 15, categorical=False)
    lgb_model("lgb_rf_average", regression,
              {"objective": "regression", "boosting": "rf", "bagging_fraction": 0.7, "bagging_freq": 1,
               "num_leaves": 15}, 20)

    # The same JSON format as written by Debian's libxgboost 1.7 (scalar base_score, older
    # layout), trained and predicted through its C API.
    for name, objective, label, extra in [
        ("xgb17_binary", "binary:logistic", binary, []),
        ("xgb17_multiclass", "multi:softprob", multi, [(b"num_class", b"3")]),
    ]:
        outputs = train_with_c_library(out, name, objective, train, label, test, extra)
        manifest.append((name, "xgboost", name + ".json", objective, outputs))

    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        for row in manifest:
            f.write("\t".join(str(v) for v in row) + "\n")
    print(f"wrote {len(manifest)} models and {TEST_ROWS} rows to {out}")


def train_with_c_library(out, name, objective, train, label, test, extra):
    path = ctypes.util.find_library("xgboost")
    if path is None:
        sys.exit("libxgboost (Debian's libxgboost-dev) is not installed: run scripts/setup.sh")
    lib = ctypes.cdll.LoadLibrary(path)
    lib.XGBGetLastError.restype = ctypes.c_char_p

    def check(status):
        if status != 0:
            sys.exit("libxgboost: " + lib.XGBGetLastError().decode())

    def matrix(rows):
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        handle = ctypes.c_void_p()
        check(lib.XGDMatrixCreateFromMat(rows.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), ctypes.c_uint64(rows.shape[0]),
                                         ctypes.c_uint64(rows.shape[1]), ctypes.c_float(np.nan), ctypes.byref(handle)))
        return handle

    dtrain = matrix(train)
    labels = np.ascontiguousarray(label, dtype=np.float32)
    check(lib.XGDMatrixSetFloatInfo(dtrain, b"label", labels.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                    ctypes.c_uint64(len(labels))))
    booster = ctypes.c_void_p()
    check(lib.XGBoosterCreate((ctypes.c_void_p * 1)(dtrain), ctypes.c_uint64(1), ctypes.byref(booster)))
    for key, value in [(b"objective", objective.encode()), (b"max_depth", b"5"), (b"tree_method", b"hist"),
                       (b"seed", b"3"), (b"nthread", b"1")] + extra:
        check(lib.XGBoosterSetParam(booster, key, value))
    for iteration in range(20):
        check(lib.XGBoosterUpdateOneIter(booster, iteration, dtrain))
    check(lib.XGBoosterSaveModel(booster, os.path.join(out, name + ".json").encode()))
    dtest = matrix(test)
    length = ctypes.c_uint64()
    result = ctypes.POINTER(ctypes.c_float)()
    check(lib.XGBoosterPredict(booster, dtest, 0, 0, 0, ctypes.byref(length), ctypes.byref(result)))
    pred = np.ctypeslib.as_array(result, shape=(length.value,)).astype(np.float64).reshape(test.shape[0], -1)
    pred.astype("<f8").tofile(os.path.join(out, name + ".pred.f64"))
    for handle in (dtrain, dtest):
        lib.XGDMatrixFree(handle)
    lib.XGBoosterFree(booster)
    return pred.shape[1]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
