"""Reference point-in-time joins for @keel/datasets' pointInTimeJoin, computed with pandas merge_asof and DuckDB's
ASOF JOIN (Feast's semantics: the latest feature row of the entity at or before the row's time, within a maximum
age; of equal feature times, the one created last).

Run in its venv (outside the repo):
    python3 -m venv ~/.cache/keel/venv-pit && ~/.cache/keel/venv-pit/bin/pip install -r requirements.txt
    ~/.cache/keel/venv-pit/bin/python tools/reference/point-in-time/make_fixture.py
Writes libs/datasets/src/fixtures/point-in-time.json. Inputs come from a fixed seed. The feature rows are written in
arrival order: some arrive late (after rows with later times), some are future-dated (after every row's time), and
some share a time with another row of their entity and differ by creation time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[3] / "libs" / "datasets" / "src" / "fixtures" / "point-in-time.json"
START = pd.Timestamp("2026-01-01T00:00:00Z")
MAX_AGE = pd.Timedelta(hours=36)


def iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def main() -> None:
    rng = np.random.default_rng(20261202)
    entities = [f"c{i:02d}" for i in range(25)]
    # Feature rows over ten days, minute resolution; arrival order is time order with a fifth arriving late.
    n = 400
    feature_times = START + pd.to_timedelta(np.sort(rng.integers(0, 10 * 24 * 60, n)), unit="m")
    features = pd.DataFrame(
        {
            "customer_id": rng.choice(entities, n),
            "feature_time": feature_times,
            "created": feature_times + pd.to_timedelta(rng.integers(0, 600, n), unit="s"),
            "balance": np.round(rng.normal(1_000, 300, n), 2),
            "segment": rng.choice(["gold", "silver", "bronze"], n),
        }
    )
    # Ties: 20 rows repeat another row's entity and time with a later creation and other values.
    twins = features.sample(20, random_state=1).copy()
    twins["created"] = twins["created"] + pd.Timedelta(minutes=30)
    twins["balance"] = np.round(twins["balance"] + 1.5, 2)
    twins["segment"] = "platinum"
    # Future-dated rows: after every row's time, so no row may see them.
    future = features.sample(15, random_state=2).copy()
    future["feature_time"] = START + pd.Timedelta(days=30)
    future["created"] = future["feature_time"]
    future["balance"] = -1.0
    arrivals = pd.concat([features, twins, future], ignore_index=True)
    late = rng.random(len(arrivals)) < 0.2
    order = np.argsort(np.where(late, np.arange(len(arrivals)) + rng.integers(20, 120, len(arrivals)), np.arange(len(arrivals))), kind="stable")
    arrivals = arrivals.iloc[order].reset_index(drop=True)

    m = 600
    rows = pd.DataFrame(
        {
            "customer_id": rng.choice(entities + ["c99"], m),  # c99 has no features
            "event_time": START + pd.to_timedelta(rng.integers(-24 * 60, 11 * 24 * 60, m), unit="m"),
            "label": rng.integers(0, 2, m),
        }
    )

    # pandas: both sides sorted by time; ties on the right resolved by creation (the last matching row wins).
    right = arrivals.sort_values(["feature_time", "created"], kind="stable")
    left = rows.reset_index().sort_values("event_time", kind="stable")
    joined = pd.merge_asof(
        left,
        right[["customer_id", "feature_time", "balance", "segment"]],
        left_on="event_time",
        right_on="feature_time",
        by="customer_id",
        direction="backward",
        allow_exact_matches=True,
        tolerance=MAX_AGE,
    ).sort_values("index")

    # DuckDB: the same join, ties made unique by ranking on creation first.
    con = duckdb.connect()
    con.register("rows_df", rows.reset_index())
    con.register("feat_df", arrivals)
    duck = con.execute(
        """
        WITH latest AS (
          SELECT * FROM feat_df
          QUALIFY row_number() OVER (PARTITION BY customer_id, feature_time ORDER BY created DESC) = 1
        )
        SELECT r."index", CASE WHEN r.event_time - f.feature_time <= INTERVAL 36 HOUR THEN f.balance END AS balance,
               CASE WHEN r.event_time - f.feature_time <= INTERVAL 36 HOUR THEN f.segment END AS segment
        FROM rows_df r ASOF LEFT JOIN latest f
          ON r.customer_id = f.customer_id AND r.event_time >= f.feature_time
        ORDER BY r."index"
        """
    ).df()

    def cells(series: pd.Series) -> list:
        return [None if pd.isna(v) else (float(v) if isinstance(v, (float, np.floating)) else str(v)) for v in series]

    expected = {"balance": cells(joined["balance"]), "segment": cells(joined["segment"])}
    duck_cells = {"balance": cells(duck["balance"]), "segment": cells(duck["segment"])}
    if expected != duck_cells:
        sys.exit("pandas merge_asof and DuckDB's ASOF JOIN disagree")

    fixture = {
        "about": "pandas merge_asof (backward, by customer_id, tolerance 36 h) and DuckDB ASOF JOIN agree on these",
        "versions": {"python": sys.version.split()[0], "pandas": pd.__version__, "duckdb": duckdb.__version__},
        "maxAgeMs": int(MAX_AGE / pd.Timedelta(milliseconds=1)),
        "rows": {
            "customer_id": rows["customer_id"].tolist(),
            "event_time": [iso(t) for t in rows["event_time"]],
            "label": [int(v) for v in rows["label"]],
        },
        "features": {
            "customer_id": arrivals["customer_id"].tolist(),
            "feature_time": [iso(t) for t in arrivals["feature_time"]],
            "created": [iso(t) for t in arrivals["created"]],
            "balance": [float(v) for v in arrivals["balance"]],
            "segment": arrivals["segment"].tolist(),
        },
        "lateArrivals": int(late.sum()),
        "futureDated": len(future),
        "ties": len(twins),
        "expected": expected,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT}: {m} rows, {len(arrivals)} feature rows, {sum(v is None for v in expected['balance'])} without")


if __name__ == "__main__":
    main()
