"""The MLServer peer's model for `npm run bench:serving`: LightGBM on UCI Adult with the Keel pipeline's 14 features
(categoricals as integer codes, since MLServer's LightGBM runtime takes one numeric matrix), saved as MLServer expects
it (model.txt and model-settings.json), with the request rows encoded the same way.

Usage: python train_lightgbm.py <adult.csv> <out dir> <model name> <request rows> <settings json>
"""

import json
import os
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd

FEATURES = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation", "relationship",
    "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
]
CATEGORICAL = {
    "workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country",
}


def main():
    csv, out, name, request_rows, settings = sys.argv[1:6]
    frame = pd.read_csv(csv, skipinitialspace=True, na_values=["?", ""])
    split = frame.columns[-1]
    target = (frame["income"].astype(str).str.strip().str.rstrip(".") == ">50K").astype(int)
    matrix = pd.DataFrame(index=frame.index)
    for column in FEATURES:
        if column in CATEGORICAL:
            matrix[column] = frame[column].astype("category").cat.codes.astype(float).replace(-1, np.nan)
        else:
            matrix[column] = frame[column].astype(float)
    train = frame[split] != "test"
    params = {"objective": "binary", "num_leaves": 31, "learning_rate": 0.1, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(matrix[train], target[train]), num_boost_round=100)
    model_dir = os.path.join(out, name)
    os.makedirs(model_dir, exist_ok=True)
    booster.save_model(os.path.join(model_dir, "model.txt"))
    with open(os.path.join(model_dir, "model-settings.json"), "w") as f:
        json.dump({"name": name, "implementation": "mlserver_lightgbm.LightGBMModel",
                   "parameters": {"uri": "./model.txt", "version": "v1"}}, f)
    with open(os.path.join(out, "settings.json"), "w") as f:
        f.write(settings)
    rows = matrix[~train].head(int(request_rows)).fillna(0.0).to_numpy(dtype=np.float64)
    json.dump({"features": FEATURES, "rows": rows.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
