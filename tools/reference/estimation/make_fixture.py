"""Reference CBPE estimates for @keel/ml-stats, computed with NannyML.

Run in a NannyML venv outside the repo:
    python3 -m venv ~/.cache/keel/venv-nannyml && ~/.cache/keel/venv-nannyml/bin/pip install -r tools/reference/estimation/requirements.txt
    ~/.cache/keel/venv-nannyml/bin/python tools/reference/estimation/make_fixture.py
Writes libs/ml-stats/src/fixtures/cbpe.json. Data comes from fixed seeds (scores rounded to 6 decimals, so both sides
read the same numbers), so a re-run only changes the fixture when NannyML changes its answer.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

# NannyML reports usage over the network unless told not to.
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import nannyml  # noqa: E402
import numpy as np
import pandas as pd
import sklearn

OUT = Path(__file__).resolve().parents[3] / "libs" / "ml-stats" / "src" / "fixtures" / "cbpe.json"
METRICS = ["roc_auc", "f1", "precision", "recall", "accuracy"]


def frame(scores: np.ndarray, labels: np.ndarray | None) -> pd.DataFrame:
    data = {"score": scores, "pred": (scores >= 0.5).astype(int)}
    if labels is not None:
        data["label"] = labels.astype(int)
    return pd.DataFrame(data)


def estimate(reference: tuple[np.ndarray, np.ndarray], analysis: np.ndarray) -> tuple[dict, bool]:
    estimator = nannyml.CBPE(
        problem_type="classification_binary",
        y_pred_proba="score",
        y_pred="pred",
        y_true="label",
        metrics=METRICS,
        chunk_number=1,
    )
    estimator.fit(frame(*reference))
    result = estimator.estimate(frame(analysis, None)).to_df()
    values = {metric: float(result[(metric, "value")].iloc[-1]) for metric in METRICS}
    return values, bool(estimator.needs_calibration)


def case(name: str, rng: np.random.Generator, n_ref: int, n_ana: int, truth, ana_beta) -> dict:
    ref_scores = np.round(rng.beta(2.0, 3.0, n_ref), 6)
    ref_labels = (rng.random(n_ref) < truth(ref_scores)).astype(int)
    ana_scores = np.round(rng.beta(*ana_beta, n_ana), 6)
    values, calibrated = estimate((ref_scores, ref_labels), ana_scores)
    return {
        "name": name,
        "reference": {"scores": ref_scores.tolist(), "labels": ref_labels.tolist()},
        "analysis": ana_scores.tolist(),
        "calibrated": calibrated,
        "expected": values,
    }


def main() -> None:
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(20261202)
    cases = [
        case("calibrated scores, same distribution", rng, 600, 400, lambda p: p, (2.0, 3.0)),
        case("calibrated scores, shifted distribution", rng, 600, 400, lambda p: p, (3.0, 2.0)),
        case("overconfident scores", rng, 800, 500, lambda p: 0.2 + 0.6 * p, (2.0, 2.0)),
        case("underconfident scores", rng, 800, 300, lambda p: np.clip((p - 0.5) * 2.2 + 0.5, 0, 1), (2.5, 2.5)),
    ]
    payload = {
        "generator": "tools/reference/estimation/make_fixture.py",
        "versions": {
            "python": sys.version.split()[0],
            "nannyml": nannyml.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "cases": cases,
    }
    OUT.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    for c in cases:
        print(c["name"], c["calibrated"], c["expected"])


if __name__ == "__main__":
    main()
