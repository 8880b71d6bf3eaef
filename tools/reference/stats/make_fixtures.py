"""Reference values for @keel/ml-stats, computed with scikit-learn, Fairlearn, SciPy and Evidently.

Run in the stats venv (outside the repo):
    ~/.cache/keel/venv-stats/bin/python tools/reference/stats/make_fixtures.py
Writes small JSON fixtures to libs/ml-stats/src/fixtures/. Inputs come from fixed seeds, so a re-run only
changes a fixture when a reference library changes its answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import sklearn
import fairlearn
import evidently
from scipy import stats
from scipy.spatial import distance
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from fairlearn import metrics as flm

OUT = Path(__file__).resolve().parents[3] / "libs" / "ml-stats" / "src" / "fixtures"


def versions() -> dict:
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "fairlearn": fairlearn.__version__,
        "evidently": evidently.__version__,
        "pandas": pd.__version__,
    }


def floats(a) -> list:
    return [float(x) for x in np.asarray(a).ravel()]


def ints(a) -> list:
    return [int(x) for x in np.asarray(a).ravel()]


def write(name: str, payload: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {"generatedBy": "tools/reference/stats/make_fixtures.py", "versions": versions(), **payload}
    (OUT / name).write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"wrote {OUT / name} ({(OUT / name).stat().st_size} bytes)")


def metrics_fixture() -> None:
    rng = np.random.default_rng(20240501)
    n = 400
    y_true = rng.integers(0, 2, n)
    # Scores rounded to 2 decimals so many ties exist: the tie handling is what is being checked.
    scores = np.round(np.clip(0.35 * y_true + rng.normal(0.4, 0.22, n), 0, 1), 2)
    y_pred = (scores >= 0.5).astype(int)
    binary = {
        "yTrue": ints(y_true),
        "scores": floats(scores),
        "yPred": ints(y_pred),
        "expected": {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "precision": skm.precision_score(y_true, y_pred),
            "recall": skm.recall_score(y_true, y_pred),
            "f1": skm.f1_score(y_true, y_pred),
            "rocAuc": skm.roc_auc_score(y_true, scores),
            "averagePrecision": skm.average_precision_score(y_true, scores),
            "logLoss": skm.log_loss(y_true, scores, labels=[0, 1]),
            "brier": skm.brier_score_loss(y_true, scores),
            "confusionMatrix": skm.confusion_matrix(y_true, y_pred).tolist(),
        },
    }
    prob_true, prob_pred = calibration_curve(y_true, scores, n_bins=10, strategy="uniform")
    binary["expected"]["calibration"] = {"nBins": 10, "probTrue": floats(prob_true), "probPred": floats(prob_pred)}

    k = 4
    mc_true = rng.integers(0, k, 300)
    noise = rng.integers(0, k, 300)
    mc_pred = np.where(rng.random(300) < 0.6, mc_true, noise)
    multiclass = {"yTrue": ints(mc_true), "yPred": ints(mc_pred), "expected": {}}
    for avg in ["macro", "weighted", "micro"]:
        multiclass["expected"][avg] = {
            "precision": skm.precision_score(mc_true, mc_pred, average=avg, zero_division=0),
            "recall": skm.recall_score(mc_true, mc_pred, average=avg, zero_division=0),
            "f1": skm.f1_score(mc_true, mc_pred, average=avg, zero_division=0),
        }
    multiclass["expected"]["accuracy"] = skm.accuracy_score(mc_true, mc_pred)
    multiclass["expected"]["confusionMatrix"] = skm.confusion_matrix(mc_true, mc_pred).tolist()

    y = rng.normal(50, 12, 200)
    yhat = y + rng.normal(0, 4, 200)
    regression = {
        "yTrue": floats(y),
        "yPred": floats(yhat),
        "expected": {
            "rmse": skm.root_mean_squared_error(y, yhat),
            "mae": skm.mean_absolute_error(y, yhat),
            "r2": skm.r2_score(y, yhat),
            "mape": skm.mean_absolute_percentage_error(y, yhat),
        },
    }
    write("metrics.json", {"binary": binary, "multiclass": multiclass, "regression": regression})


def fairness_fixture() -> None:
    rng = np.random.default_rng(7)
    n = 600
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y_true = rng.integers(0, 2, n)
    bias = np.select([groups == "a", groups == "b"], [0.15, -0.05], -0.15)
    y_pred = (rng.random(n) < np.clip(0.25 + 0.45 * y_true + bias, 0, 1)).astype(int)
    frame = flm.MetricFrame(
        metrics={
            "selection_rate": flm.selection_rate,
            "tpr": flm.true_positive_rate,
            "fpr": flm.false_positive_rate,
        },
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
    )
    by_group = frame.by_group
    write(
        "fairness.json",
        {
            "yTrue": ints(y_true),
            "yPred": ints(y_pred),
            "sensitive": [str(g) for g in groups],
            "expected": {
                "byGroup": {
                    str(g): {
                        "selectionRate": float(by_group.loc[g, "selection_rate"]),
                        "truePositiveRate": float(by_group.loc[g, "tpr"]),
                        "falsePositiveRate": float(by_group.loc[g, "fpr"]),
                    }
                    for g in by_group.index
                },
                "demographicParityDifference": flm.demographic_parity_difference(
                    y_true, y_pred, sensitive_features=groups
                ),
                "demographicParityRatio": flm.demographic_parity_ratio(y_true, y_pred, sensitive_features=groups),
                "equalizedOddsDifference": flm.equalized_odds_difference(y_true, y_pred, sensitive_features=groups),
                "equalOpportunityDifference": flm.equal_opportunity_difference(
                    y_true, y_pred, sensitive_features=groups
                ),
            },
        },
    )


def special_fixture() -> None:
    gamma = [
        {"a": a, "x": x, "q": float(scipy.special.gammaincc(a, x)), "p": float(scipy.special.gammainc(a, x))}
        for a in [0.5, 1, 2.5, 10, 50.5, 1000]
        for x in [0.01, 0.5, 1, 3, 10, 60, 1100]
    ]
    chi2 = [
        {"x": x, "dof": k, "sf": float(stats.chi2.sf(x, k))}
        for k in [1, 2, 3, 7, 30, 200]
        for x in [0.001, 0.5, 2, 7.5, 25, 80, 250]
    ]
    kstwo = [
        {"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))}
        for n in [1, 5, 20, 100, 140, 141, 500, 5000, 100000, 500000]
        for x in [0.0005, 0.001, 0.003, 0.01, 0.02, 0.05, 0.08, 0.15, 0.3, 0.6, 0.95]
    ]
    kstwobign = [{"x": x, "sf": float(stats.kstwobign.sf(x))} for x in [0.05, 0.3, 0.5, 0.8, 0.82, 0.83, 1, 1.5, 3, 6]]
    smirnov = [
        {"n": n, "x": x, "sf": float(scipy.special.smirnov(n, x))}
        for n in [2, 10, 200, 5000, 200000]
        for x in [0.001, 0.01, 0.05, 0.2, 0.5, 0.9]
    ]
    write("special.json", {"gamma": gamma, "chi2": chi2, "kstwo": kstwo, "kstwobign": kstwobign, "smirnov": smirnov})


def drift_fixture() -> None:
    from evidently.legacy.core import ColumnType
    from evidently.legacy.calculations.stattests.psi import _psi
    from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
    from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
    from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
    from evidently.legacy.calculations.stattests.ks_stattest import _ks_stat_test

    rng = np.random.default_rng(99)
    ref = np.round(rng.normal(10, 2, 500), 3)
    cur = np.round(rng.normal(10.6, 2.4, 400), 3)
    small_ints_ref = rng.poisson(4, 300)
    small_ints_cur = rng.poisson(5, 250)
    cats = np.array(["red", "green", "blue", "black", "white"])
    cat_ref = rng.choice(cats[:4], 600, p=[0.4, 0.3, 0.2, 0.1])
    cat_cur = rng.choice(cats, 500, p=[0.3, 0.3, 0.15, 0.0, 0.25])
    s = pd.Series
    num, cat = ColumnType.Numerical, ColumnType.Categorical

    ks_cases = []
    for n1, n2, tie, method in [(30, 30, False, "auto"), (40, 55, True, "auto"), (25, 25, True, "auto"),
                                (7, 300, False, "auto"), (300, 400, False, "asymp"), (1000, 1500, False, "auto")]:
        a = rng.normal(0, 1, n1)
        b = rng.normal(0.25, 1.1, n2)
        if tie:
            a, b = np.round(a, 1), np.round(b, 1)
        a, b = np.round(a, 6), np.round(b, 6)
        r = stats.ks_2samp(a, b, method=method)
        ks_cases.append({"a": floats(a), "b": floats(b), "method": method,
                         "statistic": float(r.statistic), "pValue": float(r.pvalue)})
    # Large windows: only (d, n1, n2) → p-value, from the asymptotic branch, to keep the fixture small.
    ks_large = []
    for n1, n2, shift in [(20000, 30000, 0.0), (20000, 30000, 0.02), (100000, 100000, 0.01), (50000, 1000000, 0.005),
                          (12000, 11000, 0.03)]:
        a = rng.normal(0, 1, n1)
        b = rng.normal(shift, 1, n2)
        r = stats.ks_2samp(a, b)
        ks_large.append({"n1": n1, "n2": n2, "statistic": float(r.statistic), "pValue": float(r.pvalue)})

    table2 = np.array([[30, 12], [18, 25]])
    table5 = np.array([[120, 80, 40, 30, 5], [100, 95, 20, 45, 12]])
    c2 = stats.chi2_contingency(table2)
    c5 = stats.chi2_contingency(table5)
    obs = np.array([18, 22, 30, 30])
    exp = np.array([25.0, 25.0, 25.0, 25.0])
    gof = stats.chisquare(obs, exp)
    p = rng.random(12)
    q = rng.random(12)
    q[3] = 0

    write(
        "drift.json",
        {
            "numeric": {"reference": floats(ref), "current": floats(cur)},
            "smallInts": {"reference": ints(small_ints_ref), "current": ints(small_ints_cur)},
            "categorical": {"reference": [str(x) for x in cat_ref], "current": [str(x) for x in cat_cur]},
            "evidently": {
                "psiNumeric": float(_psi(s(ref), s(cur), num, 0.1)[0]),
                "psiSmallInts": float(_psi(s(small_ints_ref), s(small_ints_cur), num, 0.1)[0]),
                "psiCategorical": float(_psi(s(cat_ref), s(cat_cur), cat, 0.1)[0]),
                "jensenShannonNumeric": float(_jensenshannon(s(ref), s(cur), num, 0.1)[0]),
                "jensenShannonCategorical": float(_jensenshannon(s(cat_ref), s(cat_cur), cat, 0.1)[0]),
                "wassersteinNormed": float(_wasserstein_distance_norm(s(ref), s(cur), num, 0.1)[0]),
                "ksPValue": float(_ks_stat_test(s(ref), s(cur), num, 0.05)[0]),
                "chiSquarePValueSameCategories": float(
                    _chi_stat_test(s(cat_ref), s(rng.choice(cats[:4], 500, p=[0.35, 0.3, 0.25, 0.1])), cat, 0.05)[0]
                ),
            },
            "scipy": {
                "ks": {"statistic": float(stats.ks_2samp(ref, cur).statistic), "pValue": float(stats.ks_2samp(ref, cur).pvalue)},
                "wasserstein": float(stats.wasserstein_distance(ref, cur)),
                "jensenShannon": {
                    "p": floats(p), "q": floats(q),
                    "baseE": float(distance.jensenshannon(p, q)),
                    "base2": float(distance.jensenshannon(p, q, base=2)),
                },
                "contingency2": {"table": table2.tolist(), "statistic": float(c2.statistic),
                                 "pValue": float(c2.pvalue), "dof": int(c2.dof)},
                "contingency5": {"table": table5.tolist(), "statistic": float(c5.statistic),
                                 "pValue": float(c5.pvalue), "dof": int(c5.dof)},
                "goodnessOfFit": {"observed": ints(obs), "expected": floats(exp),
                                  "statistic": float(gof.statistic), "pValue": float(gof.pvalue)},
            },
            "ksCases": ks_cases,
            "ksLarge": ks_large,
        },
    )


if __name__ == "__main__":
    metrics_fixture()
    fairness_fixture()
    special_fixture()
    drift_fixture()
