"""The data of bench/drift.sh, generated once (seeded) and read by both sides.

Usage: drift_data.py DIRECTORY ROWS [SEED]

50 features, 40 numeric (num_00 … num_39) and 10 categorical (cat_0 … cat_9), ROWS reference
and ROWS current rows. The current window has a known shift in 10 features: 8 numeric (mean or
scale shifts of different sizes, one in a column with missing values and one in a column of small
counts) and 2 categorical (shares moved between categories). Several columns take each code
path: few distinct values (2, 3, 5: Jensen–Shannon; about 12: Wasserstein over category bins),
missing values (NaN), heavy ties (rounded values), a constant column, categoricals from 2 to
1,000 categories, one with missing values.

Files, one per side and column, little-endian, no header:
  <side>.<feature>.f64   float64 per row (NaN = missing)        numeric features
  <side>.<feature>.i32   int32 code per row (-1 = missing)      categorical features
  <feature>.codes        the categories, one per line, code = line number (shared by both sides)
  manifest.json          rows, seed, the features with their kinds and the shifts injected
Nothing is rewritten when manifest.json already describes the same rows and seed.
"""
import json
import os
import sys

import numpy as np

directory, rows = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 20261207
os.makedirs(directory, exist_ok=True)
manifest_path = os.path.join(directory, "manifest.json")
if os.path.exists(manifest_path):
    with open(manifest_path) as f:
        old = json.load(f)
    if old.get("rows") == rows and old.get("seed") == seed:
        print(f"data: {rows} rows per window already in {directory} (seed {seed})")
        sys.exit(0)

rng = np.random.default_rng(seed)
n = rows
numeric = {}      # name -> (reference, current)
categorical = {}  # name -> (categories, reference codes, current codes)
shifts = {}       # name -> what was injected


def normal(mean, sd, size=n):
    return rng.normal(mean, sd, size)


def with_missing(values, share):
    values = values.copy()
    values[rng.random(values.size) < share] = np.nan
    return values


# Continuous columns of several shapes; num_00, 01, 02 and 04 carry shifts.
numeric["num_00"] = (normal(50, 10), normal(55, 10))
shifts["num_00"] = "mean +0.5 sd"
numeric["num_01"] = (normal(0, 1), normal(0.15, 1))
shifts["num_01"] = "mean +0.15 sd"
numeric["num_02"] = (normal(100, 20), normal(100, 30))
shifts["num_02"] = "scale x1.5"
numeric["num_03"] = (rng.lognormal(3, 0.5, n), rng.lognormal(3, 0.5, n))
numeric["num_04"] = (rng.exponential(2.0, n), rng.exponential(2.0, n) + 2.0)
shifts["num_04"] = "mean +1 sd (exponential)"
for i in range(5, 20):
    kind = i % 4
    if kind == 0:
        make = lambda: normal(i, 1 + i / 10)
    elif kind == 1:
        make = lambda: rng.uniform(-i, i, n)
    elif kind == 2:
        make = lambda: rng.gamma(2.0, i, n)
    else:
        make = lambda: np.round(normal(10 * i, 5), 1)  # ties: one decimal
    numeric[f"num_{i:02d}"] = (make(), make())
# Missing values: 2 % to 20 % NaN; num_20 also shifts.
numeric["num_20"] = (with_missing(normal(5, 2), 0.05), with_missing(normal(5.6, 2), 0.05))
shifts["num_20"] = "mean +0.3 sd, 5 % missing"
numeric["num_21"] = (with_missing(normal(-3, 0.5), 0.02), with_missing(normal(-3, 0.5), 0.02))
numeric["num_22"] = (with_missing(rng.gamma(3, 1, n), 0.20), with_missing(rng.gamma(3, 1, n), 0.20))
numeric["num_23"] = (with_missing(rng.uniform(0, 1, n), 0.10), with_missing(rng.uniform(0, 1, n), 0.12))
# Few distinct values.
numeric["num_24"] = (rng.poisson(3.0, n).astype(np.float64), rng.poisson(4.0, n).astype(np.float64))
shifts["num_24"] = "Poisson mean 3 -> 4 (about 12 distinct values)"
numeric["num_25"] = (rng.poisson(6.0, n).astype(np.float64), rng.poisson(6.0, n).astype(np.float64))
numeric["num_26"] = tuple(rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n, p=p) for p in ([0.1, 0.2, 0.4, 0.2, 0.1], [0.05, 0.1, 0.3, 0.3, 0.25]))
shifts["num_26"] = "5-level rating, shares moved up"
numeric["num_27"] = tuple(rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], n, p=[0.1, 0.2, 0.4, 0.2, 0.1]) for _ in range(2))
numeric["num_28"] = tuple((rng.random(n) < 0.3).astype(np.float64) for _ in range(2))  # 0/1 flag
numeric["num_29"] = tuple(with_missing(rng.choice([0.0, 1.0, 2.0], n, p=[0.5, 0.3, 0.2]), 0.05) for _ in range(2))
# More continuous columns, one shifted, ties, and a constant.
numeric["num_30"] = (normal(1000, 100), normal(1080, 100))
shifts["num_30"] = "mean +0.8 sd"
for i in range(31, 38):
    make = (lambda: normal(0, 10 ** (i - 33))) if i % 2 else (lambda: np.round(rng.gamma(4, 2.5, n), 2))
    numeric[f"num_{i}"] = (make(), make())
numeric["num_38"] = (rng.standard_t(5, n), rng.standard_t(5, n))
numeric["num_39"] = (np.ones(n), np.ones(n))


def categories(name, count):
    return [f"{name}_v{k:03d}" for k in range(count)]


def zipf_shares(count, s=1.1):
    w = 1.0 / np.arange(1, count + 1) ** s
    return w / w.sum()


def draw(count, p, missing=0.0):
    codes = rng.choice(count, n, p=p).astype(np.int32)
    if missing:
        codes[rng.random(n) < missing] = -1
    return codes


cardinalities = [3, 5, 8, 12, 20, 50, 100, 2, 1000, 6]
for i, count in enumerate(cardinalities):
    name = f"cat_{i}"
    p = zipf_shares(count)
    missing = 0.08 if i == 9 else 0.0
    if i == 0:
        shifted = np.array([0.3, 0.3, 0.4])
        p = np.array([0.5, 0.3, 0.2])
        shifts[name] = "3 categories, shares 50/30/20 % -> 30/30/40 %"
    elif i == 3:
        shifted = p.copy()
        shifted[0], shifted[5] = p[0] * 0.4, p[5] + p[0] * 0.6
        shifts[name] = "12 categories, 60 % of the top category's share moved to the sixth"
    else:
        shifted = p
    categorical[name] = (categories(name, count), draw(count, p, missing), draw(count, shifted, missing))

for name, (ref, cur) in numeric.items():
    ref.astype("<f8").tofile(os.path.join(directory, f"reference.{name}.f64"))
    cur.astype("<f8").tofile(os.path.join(directory, f"current.{name}.f64"))
for name, (labels, ref, cur) in categorical.items():
    with open(os.path.join(directory, f"{name}.codes"), "w") as f:
        f.write("\n".join(labels) + "\n")
    ref.astype("<i4").tofile(os.path.join(directory, f"reference.{name}.i32"))
    cur.astype("<i4").tofile(os.path.join(directory, f"current.{name}.i32"))
with open(manifest_path, "w") as f:
    json.dump({"rows": rows, "seed": seed, "numeric": list(numeric), "categorical": list(categorical), "shifts": shifts}, f, indent=1)
print(f"data: {rows} rows per window, {len(numeric)} numeric and {len(categorical)} categorical features in {directory} (seed {seed})")
