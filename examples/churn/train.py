#!/usr/bin/env python3
"""Trains the example churn model served by `make demo` and docs/gateway.md.

The inputs are exactly the online features the example FeatureViews (examples/featureviews.yaml)
write to Redis, in the order gateway.yaml lists them. The labels come from a made-up rule with
noise: users who buy, click and stay long churn less; refunds push towards churn. The data is
generated here (seeded), so running the script again writes the same artifacts:

    python3 examples/churn/train.py             # writes model.json (v1) and model-v2.json (v2)
    python3 examples/churn/train.py --training-set set.csv --output model.json

With `--training-set`, it trains one model (v2's settings) on a training set written by
`capstan training-set` or a BatchJob `trainingSet` step (examples/churn/batchjob.yaml): a CSV
with a label column (`--label`, default `churned`) and one `view:feature` column per input,
categorical features as their text (the gateway's category codes are applied here), empty
cells missing (NaN, or the gateway's default 0 for the windowed counts and sums).

v1 is a small forest (60 trees, depth 4); v2 is trained on more data with more trees, standing
in for "the retrained model" that a canary rollout sends a share of the traffic to.
"""
import argparse
import csv
import os

import numpy as np
import xgboost as xgb

# The order must match the `features:` list of the churn model in gateway.yaml.
FEATURES = [
    "user_activity:amount_eur",
    "user_activity:is_purchase",
    "user_activity:is_mobile",
    "user_activity:hour_of_day",
    "user_activity:weekend",
    "user_activity:session_minutes",
    "user_activity:basket_band",          # categories low, mid, high -> 0, 1, 2
    "user_purchases_1h:purchases_1h",
    "user_purchases_1h:spend_1h",
    "user_purchases_1h:avg_basket_1h",
    "user_purchases_1h:refunds_1h",
    "user_engagement_24h:events_24h",
    "user_engagement_24h:clicks_24h",
    "user_engagement_24h:max_amount_24h",
    "user_engagement_24h:purchase_share_1h",
    "user_engagement_24h:last_action",    # categories view, click, add_to_cart, purchase, refund -> 0..4
]
ACTIONS = ["view", "view", "view", "click", "click", "add_to_cart", "purchase", "refund"]
ACTION_CODES = {"view": 0, "click": 1, "add_to_cart": 2, "purchase": 3, "refund": 4}
# As gateway.yaml encodes them: categories by position, defaults for absent windowed values.
CATEGORIES = {
    "user_activity:basket_band": {"low": 0, "mid": 1, "high": 2},
    "user_engagement_24h:last_action": ACTION_CODES,
}
DEFAULTS = {"user_purchases_1h:purchases_1h": 0.0, "user_purchases_1h:spend_1h": 0.0, "user_purchases_1h:refunds_1h": 0.0}


def generate(rows, seed):
    """Feature rows shaped like the worker's output for `capstan generate`'s fake users."""
    rng = np.random.default_rng(seed)
    action = rng.choice(ACTIONS, size=rows)
    purchase = action == "purchase"
    refund = action == "refund"
    cart = action == "add_to_cart"
    amount = np.where(purchase, 5 + rng.random(rows) * rng.random(rows) * 400,
                      np.where(refund, 5 + rng.random(rows) * 100,
                               np.where(cart, 5 + rng.random(rows) * 200, 0.0)))
    amount = np.round(amount, 2)
    device = rng.integers(0, 3, rows)                        # ios, android, web
    hour = rng.integers(0, 24, rows).astype(float)
    weekend = (rng.random(rows) < 2 / 7).astype(float)
    session_minutes = np.round((1000 + rng.integers(0, 600_000, rows)) / 60000, 2)
    band = np.where(amount > 200, 2, np.where(amount > 50, 1, 0)).astype(float)
    events_24h = rng.poisson(6, rows) + 1.0
    purchases_1h = rng.binomial(np.minimum(events_24h, 4).astype(int), 0.125).astype(float)
    refunds_1h = rng.binomial(np.minimum(events_24h, 4).astype(int), 0.125).astype(float)
    spend_1h = np.round(purchases_1h * (5 + rng.random(rows) * 120), 2)
    avg_basket = np.where(purchases_1h > 0, np.round(spend_1h / np.maximum(purchases_1h, 1), 2), np.nan)
    clicks_24h = rng.binomial(events_24h.astype(int), 0.25).astype(float)
    max_amount = np.where(purchases_1h > 0, np.maximum(amount * purchase, spend_1h / np.maximum(purchases_1h, 1)), np.nan)
    share = purchases_1h / np.maximum(events_24h, 1)
    last_action = np.array([ACTION_CODES[a] for a in action], dtype=float)
    x = np.column_stack([
        amount, purchase.astype(float), (device < 2).astype(float), hour, weekend, session_minutes, band,
        purchases_1h, spend_1h, avg_basket, refunds_1h, events_24h, clicks_24h, max_amount, share, last_action,
    ])
    # Missing values as the gateway sees them: windows that never fired, expired keys.
    holes = rng.random(x.shape) < 0.03
    x[holes] = np.nan
    logit = (0.8 - 0.9 * purchases_1h - 0.12 * clicks_24h - 0.08 * session_minutes + 0.9 * refunds_1h
             - 0.004 * np.nan_to_num(spend_1h) + 0.3 * weekend + rng.normal(0, 0.6, rows))
    y = (logit > 0).astype(float)
    return x, y


def read_training_set(path, label):
    """The feature matrix (gateway order and encoding) and labels of a training-set CSV."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FEATURES + [label] if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"{path}: no column(s) {', '.join(missing)}; it has {', '.join(reader.fieldnames or [])}")
        rows, labels = [], []
        for record in reader:
            if record[label] == "":
                continue
            values = []
            for name in FEATURES:
                text = record[name]
                if text == "":
                    values.append(DEFAULTS.get(name, np.nan))
                elif name in CATEGORIES:
                    values.append(float(CATEGORIES[name].get(text, np.nan)))
                elif text in ("true", "false"):
                    values.append(1.0 if text == "true" else 0.0)
                else:
                    values.append(float(text))
            rows.append(values)
            labels.append(float(record[label]))
    if not rows:
        raise SystemExit(f"{path}: no labelled rows")
    return np.array(rows, dtype=float), np.array(labels, dtype=float)


def fit(x, y, seed, trees, depth, path):
    params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1, "tree_method": "hist", "seed": seed}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=trees)
    booster.save_model(path)
    accuracy = float(((booster.predict(xgb.DMatrix(x)) > 0.5) == y).mean())
    print(f"{path}: {trees} trees, depth {depth}, {len(y)} rows, {len(FEATURES)} features, train accuracy {accuracy:.3f}")


def train(rows, seed, trees, depth, path):
    x, y = generate(rows, seed)
    fit(x, y, seed, trees, depth, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="Train the example churn model(s).")
    parser.add_argument("out", nargs="?", default=here, help="directory for model.json and model-v2.json (default: this one)")
    parser.add_argument("--training-set", help="train one model on this training-set CSV instead of generated data")
    parser.add_argument("--output", help="with --training-set: the model file to write (default OUT/model.json)")
    parser.add_argument("--label", default="churned", help="with --training-set: the label column (default churned)")
    args = parser.parse_args()
    if args.training_set:
        x, y = read_training_set(args.training_set, args.label)
        fit(x, y, 11, 120, 5, args.output or os.path.join(args.out, "model.json"))
        return
    if args.output:
        parser.error("--output goes with --training-set")
    train(20_000, 7, 60, 4, os.path.join(args.out, "model.json"))
    train(60_000, 11, 120, 5, os.path.join(args.out, "model-v2.json"))


if __name__ == "__main__":
    main()
