"""Evidently's data-drift preset on the bench CSVs; prints one JSON object (timings, peak RSS, per-column scores).

Usage: ~/.cache/keel/venv-stats/bin/python tools/bench/drift/evidently_drift.py REFERENCE.csv CURRENT.csv
"""

import json
import resource
import sys
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"]


def main(reference_path: str, current_path: str) -> None:
    t0 = time.perf_counter()
    ref = pd.read_csv(reference_path)
    cur = pd.read_csv(current_path)
    t1 = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    ref_ds = Dataset.from_pandas(ref, data_definition=definition)
    cur_ds = Dataset.from_pandas(cur, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(cur_ds, ref_ds)
    result = snapshot.dict()
    t2 = time.perf_counter()
    columns = {}
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        column = config.get("column")
        if column is not None and "method" in config:
            columns[column] = {"method": config.get("method"), "value": metric.get("value")}
    print(
        json.dumps(
            {
                "rows": {"reference": len(ref), "current": len(cur)},
                "loadMs": (t1 - t0) * 1000,
                "driftMs": (t2 - t1) * 1000,
                "totalMs": (t2 - t0) * 1000,
                "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "columns": columns,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
