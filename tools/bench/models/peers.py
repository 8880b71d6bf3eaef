"""Peer models for `npm run bench:models`: prints one JSON list of result records on stdout.

Usage: python peers.py <adult.csv> <elec2.csv> [repeats]
Everything is single-threaded (the caller also sets OMP_NUM_THREADS=1) with settings
comparable to ours: 100 rounds, learning rate 0.1, 31 leaves, 20 rows per leaf, 255 bins.
"""
import json
import sys
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ADULT_CATS = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"]


def load(name, path):
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if name == "adult":
        y = (df["income"] == ">50K").astype(int).to_numpy()
        split = df["split"].to_numpy()
        X = df.drop(columns=["income", "split"])
        tr, te = split == "train", split == "test"
        cats = ADULT_CATS
    else:
        y = (df["class"] == "UP").astype(int).to_numpy()
        X = df.drop(columns=["timestamp", "date", "class"])
        cut = int(len(df) * 0.75)
        tr = np.arange(len(df)) < cut
        te = ~tr
        cats = []
    for c in cats:
        X[c] = X[c].astype("category")
    return X[tr].reset_index(drop=True), y[tr], X[te].reset_index(drop=True), y[te], cats


def timed_predict(predict, X_test):
    # Batch: whole test set; single row: median over repeated one-row calls.
    t0 = time.perf_counter()
    p = predict(X_test)
    batch = (time.perf_counter() - t0) / len(X_test) * 1e6
    row = X_test.iloc[[0]] if hasattr(X_test, "iloc") else X_test[:1]
    times = []
    for _ in range(200):
        t = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - t)
    return p, batch, float(np.median(times)) * 1e6


def run(model_name, dataset, fit, predict, X_tr, y_tr, X_te, y_te, repeats):
    # Median of `repeats` fits, like the TypeScript side.
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit(X_tr, y_tr)
        times.append((time.perf_counter() - t0) * 1e3)
    train_ms = float(np.median(times))
    p, batch, row = timed_predict(predict, X_te)
    return {
        "model": model_name,
        "dataset": dataset,
        "auc": float(roc_auc_score(y_te, p)),
        "f1": float(f1_score(y_te, (p >= 0.5).astype(int))),
        "train_ms": train_ms,
        "infer_row_us": row,
        "infer_batch_us_per_row": batch,
    }


def main():
    out = []
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    for name, path in (("adult", sys.argv[1]), ("elec2", sys.argv[2])):
        X_tr, y_tr, X_te, y_te, cats = load(name, path)
        nums = [c for c in X_tr.columns if c not in cats]

        lr = Pipeline([
            ("pre", ColumnTransformer([
                ("num", Pipeline([("imp", SimpleImputer(strategy="mean")), ("sc", StandardScaler())]), nums),
                ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
            ])),
            ("lr", LogisticRegression(C=1.0, max_iter=2000)),
        ])
        out.append(run("sklearn-logreg", name, lr.fit, lambda X: lr.predict_proba(X)[:, 1], X_tr, y_tr, X_te, y_te, repeats))

        hgb = HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=31, min_samples_leaf=20, max_bins=255,
            early_stopping=False, categorical_features="from_dtype", random_state=0,
        )
        out.append(run("sklearn-hgb", name, hgb.fit, lambda X: hgb.predict_proba(X)[:, 1], X_tr, y_tr, X_te, y_te, repeats))

        xg = xgb.XGBClassifier(
            n_estimators=100, learning_rate=0.1, tree_method="hist", grow_policy="lossguide", max_leaves=31,
            max_depth=0, min_child_weight=1e-3, max_bin=255, enable_categorical=True, n_jobs=1, random_state=0,
        )
        out.append(run("xgboost", name, xg.fit, lambda X: xg.predict_proba(X)[:, 1], X_tr, y_tr, X_te, y_te, repeats))

        lg = lgb.LGBMClassifier(
            n_estimators=100, learning_rate=0.1, num_leaves=31, min_child_samples=20, max_bin=255,
            n_jobs=1, random_state=0, verbose=-1,
        )
        out.append(run("lightgbm", name, lg.fit, lambda X: lg.predict_proba(X)[:, 1], X_tr, y_tr, X_te, y_te, repeats))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
