"""Reference detections for @keel/ml-stats concept drift, computed with River's ADWIN and Page-Hinkley.

Run in a River venv outside the repo:
    python3 -m venv ~/.cache/keel/venv-river && ~/.cache/keel/venv-river/bin/pip install -r tools/reference/concept-drift/requirements.txt
    ~/.cache/keel/venv-river/bin/python tools/reference/concept-drift/make_fixture.py
Writes libs/ml-stats/src/fixtures/concept-drift.json. Streams come from fixed seeds, so a re-run only changes the
fixture when River changes its answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import river
from river import drift

OUT = Path(__file__).resolve().parents[3] / "libs" / "ml-stats" / "src" / "fixtures" / "concept-drift.json"


def streams() -> dict[str, list[float]]:
    rng = np.random.default_rng(20261202)
    errors = np.concatenate([rng.random(1500) < 0.1, rng.random(1500) < 0.45, rng.random(1000) < 0.1]).astype(float)
    gradual_p = np.concatenate([np.full(1000, 0.15), np.linspace(0.15, 0.5, 1000), np.full(1000, 0.5)])
    gradual = (rng.random(3000) < gradual_p).astype(float)
    shift = np.concatenate([rng.normal(0.0, 1.0, 1000), rng.normal(1.5, 1.0, 1000), rng.normal(-1.0, 2.0, 1000)])
    absolute = np.abs(np.concatenate([rng.normal(0.0, 3.0, 1200), rng.normal(0.0, 8.0, 1200)]))
    stable = (rng.random(3000) < 0.2).astype(float)
    # 0/1 streams as integers, real ones rounded to 5 decimals: River and the test read the same short numbers.
    return {
        "errors-abrupt": [int(x) for x in errors],
        "errors-gradual": [int(x) for x in gradual],
        "gaussian-shifts": [round(float(x), 5) for x in shift],
        "absolute-errors": [round(float(x), 5) for x in absolute],
        "errors-stable": [int(x) for x in stable],
    }


DETECTORS = {
    "adwin-default": ("adwin", {}),
    "adwin-delta-0.05": ("adwin", {"delta": 0.05}),
    "adwin-clock-8": ("adwin", {"clock": 8, "grace_period": 20}),
    "page-hinkley-default": ("page-hinkley", {}),
    "page-hinkley-sensitive": ("page-hinkley", {"threshold": 8.0, "delta": 0.01, "min_instances": 50}),
}


def make(kind: str, params: dict):
    return drift.ADWIN(**params) if kind == "adwin" else drift.PageHinkley(**params)


def run(kind: str, params: dict, values: list[float]) -> dict:
    detector = make(kind, params)
    detections: list[int] = []
    trace = []
    for i, x in enumerate(values):
        detector.update(float(x))
        if detector.drift_detected:
            detections.append(i)
        if kind == "adwin" and (i + 1) % 250 == 0:
            trace.append({"index": i, "width": int(detector.width), "estimation": float(detector.estimation)})
    return {"detections": detections, "trace": trace}


def main() -> None:
    data = streams()
    cases = []
    for name, values in data.items():
        for detector_name, (kind, params) in DETECTORS.items():
            cases.append(
                {"stream": name, "detector": detector_name, "kind": kind, "params": params, **run(kind, params, values)}
            )
    payload = {
        "generator": "tools/reference/concept-drift/make_fixture.py",
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "river": river.__version__},
        "streams": data,
        "cases": cases,
    }
    OUT.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()
