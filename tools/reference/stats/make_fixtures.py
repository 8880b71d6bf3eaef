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


if __name__ == "__main__":
    metrics_fixture()
    fairness_fixture()
