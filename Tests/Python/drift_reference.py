"""Drift reference for CapstanDriftTests: scipy's and Evidently's own answers.

Usage: drift_reference.py SEED OUT.json

Generates randomized columns from SEED (tiny, <= 1000, 1000-10000 and > 10000 rows for the
KS asymptotic path; ties, discrete integers, categoricals with one-sided categories, constants,
missing values), and for each column pair writes the inputs and what the references return:
scipy.stats.ks_2samp / wasserstein_distance / chisquare, and Evidently 0.7.23's stattest
functions called directly on pandas Series (after dropna, as Evidently's get_one_column_drift
does), its get_binned_data and its default-method choice. It also writes grids of the
distribution functions Capstan implements (kstwo.sf, special.smirnov, chdtrc, ndtr) and of the
NannyML StandardDeviationThreshold formula (numpy nanmean / nanstd, ddof 0).

Needs numpy, scipy, pandas<3 and evidently 0.7.x. When evidently cannot be imported and
CAPSTAN_EVIDENTLY_PYTHON names another interpreter (a venv that has it), the script re-runs
itself there.
"""
import json
import math
import os
import sys
import warnings

try:
    import numpy as np
    import pandas as pd
    from scipy import special, stats
    from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
    from evidently.legacy.calculations.stattests.hellinger_distance import _hellinger_distance
    from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
    from evidently.legacy.calculations.stattests.kl_div import _kl_div
    from evidently.legacy.calculations.stattests.ks_stattest import _ks_stat_test
    from evidently.legacy.calculations.stattests.psi import _psi
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.calculations.stattests.utils import get_binned_data
    from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
    from evidently.legacy.calculations.stattests.z_stattest import _z_stat_test
    from evidently.legacy.core import ColumnType
except ImportError as error:
    other = os.environ.get("CAPSTAN_EVIDENTLY_PYTHON")
    if other and not os.environ.get("CAPSTAN_DRIFT_REFERENCE_REEXEC"):
        os.environ["CAPSTAN_DRIFT_REFERENCE_REEXEC"] = "1"  # once: that interpreter may lack them too
        os.execv(other, [other] + sys.argv)
    sys.exit(f"drift_reference.py: {error}; install numpy scipy 'pandas<3' 'evidently==0.7.*' (scripts/setup.sh) "
             "or point CAPSTAN_EVIDENTLY_PYTHON at an interpreter that has them")

warnings.filterwarnings("ignore")

EVIDENTLY_NAMES = {"ks": "ks", "chisquare": "chisquare", "z": "ztest", "wasserstein": "wasserstein",
                   "jensenshannon": "jensenshannon", "psi": "psi", "hellinger": "hellinger", "kl_div": "kl_div"}


def num(x):
    """A float for JSON, as its shortest round-trip repr in a string ("nan", "inf" and "-inf"
    included): Swift's Double(String) reads it back exactly, JSON number parsers may not."""
    return repr(float(x))


def encoded(values, kind):
    """A numeric column as one string of space-separated values, "nan" for a missing one."""
    if kind == "categorical":
        return values
    if kind == "integer":
        return " ".join(str(int(v)) for v in values)
    return " ".join("nan" if v is None else repr(float(v)) for v in values)


def column(values, kind):
    if kind == "integer":
        return pd.Series(values, dtype="int64")
    if kind == "numeric":
        return pd.Series(values, dtype="float64").dropna()
    return pd.Series(values, dtype="object").dropna()


def guarded(fn):
    try:
        return fn()
    except Exception as error:  # the references raise for some edge cases; Capstan must too
        return {"error": type(error).__name__}


def expected_for(ref_values, cur_values, kind):
    ref, cur = column(ref_values, kind), column(cur_values, kind)
    out = {}
    if len(ref) == 0 or len(cur) == 0:
        out["empty"] = "reference" if len(ref) == 0 else "current"
        return out
    numeric = kind in ("numeric", "integer")
    ft = ColumnType.Numerical if numeric else ColumnType.Categorical
    if numeric:
        ks = stats.ks_2samp(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))
        p, drifted = _ks_stat_test(ref.copy(), cur.copy(), ft, 0.05)
        out["ks"] = {"statistic": num(ks.statistic), "pvalue": num(p), "drifted": bool(drifted)}
        w, drifted = _wasserstein_distance_norm(ref.copy(), cur.copy(), ft, 0.1)
        out["wasserstein"] = {"distance": num(stats.wasserstein_distance(ref, cur)), "normed": num(w), "drifted": bool(drifted)}
    cat_ft = ColumnType.Categorical
    out["chisquare"] = guarded(lambda: (lambda r: {"pvalue": num(r[0]), "drifted": bool(r[1])})(
        _chi_stat_test(ref.copy(), cur.copy(), cat_ft, 0.05)))
    out["ztest"] = guarded(lambda: (lambda r: {"pvalue": num(r[0]), "drifted": bool(r[1])})(
        _z_stat_test(ref.copy(), cur.copy(), cat_ft, 0.05)))
    for name, fn in (("jensenshannon", _jensenshannon), ("psi", _psi), ("kl_div", _kl_div), ("hellinger", _hellinger_distance)):
        out[name] = guarded(lambda fn=fn: (lambda r: {"score": num(r[0]), "drifted": bool(r[1])})(fn(ref.copy(), cur.copy(), ft, 0.1)))
    for fill in (True, False):
        def binned(fill=fill):
            r, c = get_binned_data(ref.copy(), cur.copy(), ft, 30, fill)
            return {"reference": [num(v) for v in r], "current": [num(v) for v in c]}
        out["binned_fill" if fill else "binned"] = guarded(binned)

    def auto():
        test = get_stattest(ref.copy(), cur.copy(), ft, None)
        result = test(ref.copy(), cur.copy(), ft, None)
        return {"method": EVIDENTLY_NAMES[test.name], "score": num(result.drift_score), "drifted": bool(result.drifted),
                "threshold": num(result.actual_threshold)}
    out["auto"] = guarded(auto)
    out["distinct"] = int(pd.concat([ref, cur]).nunique())
    return out


def with_missing(rng, values, share):
    return [None if rng.random() < share else v for v in values]


def numeric_cases(rng):
    sizes = [(1, 1), (1, 4), (3, 2), (5, 5), (8, 13), (20, 30), (40, 40), (64, 64), (100, 77), (250, 400),
             (999, 1000), (1000, 1000), (1001, 700), (1500, 1500), (2048, 2048), (3000, 2500), (5000, 4999),
             (8000, 8000), (9999, 10000), (10000, 10000), (10001, 3), (10001, 1), (12000, 40), (15000, 200),
             (20000, 20000), (30000, 2000), (25000, 25000)]
    cases = []
    for n1, n2 in sizes:
        for shift in (0.0, 0.05, 0.3, 2.0):
            if n1 * n2 > 2e8 and shift not in (0.0, 0.05):
                continue
            a = rng.normal(0, 1, n1)
            b = rng.normal(shift, 1 + shift / 4, n2)
            cases.append((f"normal {n1}x{n2} shift {shift}", "numeric", a.tolist(), b.tolist()))
    for n1, n2 in ((30, 30), (200, 150), (1200, 1100), (12000, 11000)):
        for decimals in (0, 1):
            a = np.round(rng.normal(0, 3, n1), decimals)
            b = np.round(rng.normal(0.2, 3, n2), decimals)
            cases.append((f"ties {n1}x{n2} rounded {decimals}", "numeric", a.tolist(), b.tolist()))
    for n1, n2, high in ((50, 60, 2), (500, 400, 3), (800, 900, 5), (2000, 1500, 2), (3000, 3000, 5), (1500, 1200, 12), (600, 700, 25), (5000, 5000, 40)):
        a = rng.integers(0, high, n1)
        b = rng.integers(0, high, n2) + (rng.random(n2) < 0.1)
        cases.append((f"integers 0..{high} {n1}x{n2}", "integer", a.tolist(), b.tolist()))
        cases.append((f"integers as float 0..{high} {n1}x{n2}", "numeric", [float(x) for x in a], [float(x) for x in b]))
    for n in (10, 500, 3000):
        a = rng.lognormal(0, 1, n) * 1e6
        b = rng.lognormal(0.1, 1, n) * 1e6
        cases.append((f"lognormal large {n}", "numeric", with_missing(rng, a.tolist(), 0.1), with_missing(rng, b.tolist(), 0.2)))
    cases += [
        ("constant same", "numeric", [3.5] * 40, [3.5] * 25),
        ("constant different", "numeric", [3.5] * 40, [4.5] * 25),
        ("constant same large", "numeric", [1.0] * 2000, [1.0] * 1500),
        ("constant different large", "numeric", [1.0] * 2000, [2.0] * 1500),
        ("integer constant same", "integer", [7] * 30, [7] * 30),
        ("n=1 same", "numeric", [2.0], [2.0]),
        ("n=1 different", "numeric", [2.0], [3.0]),
        ("mostly missing", "numeric", [None] * 20 + [1.0, 2.0, 3.0], [None] * 5 + [2.5]),
        ("all missing current", "numeric", [1.0, 2.0], [None, None]),
        ("all missing reference", "numeric", [None], [1.0]),
        ("two values", "numeric", [0.0] * 30 + [1.0] * 10, [0.0] * 10 + [1.0] * 30),
        ("two values large", "numeric", [0.0] * 3000 + [1.0] * 1000, [0.0] * 2000 + [1.0] * 2100),
        ("one-sided value", "numeric", [0.0] * 30 + [1.0] * 10, [0.0] * 10 + [1.0] * 30 + [2.0] * 5),
        ("negative zero", "numeric", [-0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0]),
    ]
    return cases


def categorical_cases(rng):
    cases = []
    alphabet = ["a", "b", "c", "d", "é", "e\u0301", "Z", "zz", "10", "9", "", "ä"]
    for n1, n2, k, drop in ((5, 3, 2, 0), (40, 50, 3, 0), (300, 200, 5, 0), (999, 1001, 4, 0.05), (1000, 1000, 2, 0),
                            (1001, 1000, 2, 0), (2500, 3000, 6, 0.1), (6000, 5000, 12, 0), (15000, 12000, 8, 0)):
        cats = alphabet[:k]
        weights = rng.dirichlet(np.ones(k))
        shifted = rng.dirichlet(np.ones(k))
        a = rng.choice(cats, n1, p=weights).tolist()
        b = rng.choice(cats, n2, p=0.8 * weights + 0.2 * shifted).tolist()
        cases.append((f"categorical {k} {n1}x{n2}", "categorical", with_missing(rng, a, drop), with_missing(rng, b, drop)))
    cases += [
        ("categorical one-sided", "categorical", ["a"] * 30 + ["b"] * 10, ["a"] * 20 + ["c"] * 5 + ["b"] * 3),
        ("categorical reference-only", "categorical", ["a"] * 30 + ["b"] * 10 + ["q"] * 2, ["a"] * 20 + ["b"] * 3),
        ("categorical single same", "categorical", ["x"] * 12, ["x"] * 7),
        ("categorical single different", "categorical", ["x"] * 12, ["y"] * 7),
        ("categorical n=1", "categorical", ["x"], ["y"]),
        ("categorical empty current", "categorical", ["x", "y"], [None]),
        ("categorical unicode forms", "categorical", ["é"] * 10 + ["e\u0301"] * 5, ["é"] * 3 + ["e\u0301"] * 9),
        ("categorical two large", "categorical", ["yes"] * 1500 + ["no"] * 600, ["yes"] * 1300 + ["no"] * 900),
    ]
    return cases


def distribution_grids(rng):
    kstwo = []
    ns = [1, 2, 3, 5, 8, 10, 30, 60, 100, 140, 141, 200, 500, 1000, 5000, 10000, 50000, 100000, 100001, 300000, 1500000]
    for n in ns:
        xs = set()
        for t in (0.3, 0.5, 0.7, 1.0, 1.5, 2.0):
            xs.add(t / n)
        for nx2 in (0.1, 0.5, 0.754, 0.76, 1.0, 2.0, 2.19, 2.21, 3.9, 4.1, 8.0, 17.0, 30.0, 100.0, 369.0, 371.0):
            xs.add(math.sqrt(nx2 / n))
        for x in (0.01, 0.05, 0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.8, 0.95, 1 - 1 / n, 1 - 0.5 / n, 1.0, 1.2):
            xs.add(x)
        xs.update(rng.random(6).tolist())
        for x in sorted(xs):
            if x > 0:
                kstwo.append({"n": n, "x": num(x), "sf": num(stats.kstwo.sf(x, n))})
    smirnov = []
    for n in (1, 2, 3, 7, 10, 25, 100, 140, 1000, 10000, 100000, 2000000):
        for x in sorted(set([0.0, 0.5 / n, 1.0 / n, 1.5 / n, 2.5 / n, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 1 - 1.0 / n, 1.0] + rng.random(5).tolist())):
            if 0 <= x <= 1:
                smirnov.append({"n": n, "x": num(x), "sf": num(special.smirnov(n, x))})
    chi2 = []
    for df in (1, 2, 3, 4, 5, 7, 10, 11, 19, 30, 31, 50, 99, 200, 1000):
        for x in sorted(set([0.0, 1e-6, 0.01, 0.5, df * 0.5, df - 1.0, float(df), df + 1.0, df * 1.5, df * 3.0, df + 10 * math.sqrt(df), 50.0, 200.0, 1e3, 5e3]
                            + (rng.random(4) * 3 * df).tolist())):
            if x >= 0:
                chi2.append({"df": df, "x": num(x), "sf": num(special.chdtrc(df, x))})
    ndtr = [{"x": num(x), "cdf": num(special.ndtr(x))} for x in sorted(set([-40.0, -8.3, -5.0, -1.5, -1.0, -0.3, 0.0, 0.3, 1.0, 1.41, 1.42, 3.0, 6.0, 8.2, 8.3, 9.0]
                                                                        + rng.normal(0, 3, 40).tolist()))]
    thresholds = []
    for _ in range(20):
        scores = rng.random(int(rng.integers(2, 30))) * rng.choice([0.01, 1.0, 5.0])
        if rng.random() < 0.3:
            scores[int(rng.integers(0, len(scores)))] = np.nan
        k = float(rng.choice([1.0, 2.0, 3.0, 2.5]))
        mean, std = np.nanmean(scores), np.nanstd(scores)
        thresholds.append({"scores": [num(v) for v in scores], "k": num(k), "lower": num(mean - std * k), "upper": num(mean + std * k)})
    # Exact two-sample KS over many small size pairs and every statistic they allow, including
    # n1 == n2 and the p-values whose exact computation leaves [0, 1] (scipy's asymptotic fallback).
    ks_exact = []
    for n1 in (1, 2, 3, 4, 5, 7, 10, 16, 25, 60, 128):
        for n2 in (1, 2, 3, 5, 6, 10, 16, 24, 60, 100, 128):
            for shift in np.linspace(0, 1.1, 12):
                a = np.arange(n1) / n1
                b = np.arange(n2) / n2 + shift
                result = stats.ks_2samp(a, b)
                ks_exact.append({"a": encoded(a.tolist(), "numeric"), "b": encoded(b.tolist(), "numeric"),
                                 "statistic": num(result.statistic), "pvalue": num(result.pvalue)})
    for n in (191, 193, 198, 400, 1000):  # D = k/n with small k: 2·P exceeds 1 by an ulp for some
        for k in (1, 2, 3, 4):
            a = np.arange(n) / n
            b = a + (k - 0.5) / n
            result = stats.ks_2samp(a, b)
            ks_exact.append({"a": encoded(a.tolist(), "numeric"), "b": encoded(b.tolist(), "numeric"),
                             "statistic": num(result.statistic), "pvalue": num(result.pvalue)})
    return {"kstwo": kstwo, "smirnov": smirnov, "chi2": chi2, "ndtr": ndtr, "thresholds": thresholds, "ks_exact": ks_exact}


def main():
    seed, path = int(sys.argv[1]), sys.argv[2]
    rng = np.random.default_rng(seed)
    cases = []
    for name, kind, ref, cur in numeric_cases(rng) + categorical_cases(rng):
        cases.append({"name": name, "kind": kind, "reference": encoded(ref, kind), "current": encoded(cur, kind),
                      "expected": expected_for(ref, cur, kind)})
    document = {"seed": seed, "versions": {"numpy": np.__version__, "scipy": __import__("scipy").__version__,
                                            "pandas": pd.__version__, "evidently": __import__("evidently").__version__},
                "cases": cases}
    document.update(distribution_grids(rng))
    with open(path, "w") as handle:
        json.dump(document, handle, allow_nan=False)
    print(f"drift_reference: {len(cases)} cases, {len(document['kstwo'])} kstwo points -> {path}")


if __name__ == "__main__":
    main()
