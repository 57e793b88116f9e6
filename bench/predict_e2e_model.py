#!/usr/bin/env python3
"""Trains the predict_e2e benchmark's model: XGBoost, 20 features, 100 trees of depth 6,
binary:logistic, on seeded random data. Usage: predict_e2e_model.py <out.json>"""
import sys

import numpy as np
import xgboost as xgb

rng = np.random.default_rng(5)
x = rng.random((20_000, 20)) * 25
x[rng.random(x.shape) < 0.02] = np.nan
y = (np.nansum(x[:, :5], axis=1) - np.nansum(x[:, 5:10], axis=1) + rng.normal(0, 5, len(x)) > 0).astype(float)
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "seed": 5},
                    xgb.DMatrix(x, label=y), num_boost_round=100)
booster.save_model(sys.argv[1])
