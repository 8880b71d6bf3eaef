"""Optuna's TPE tuning LightGBM for `npm run bench:search`: prints one JSON record on stdout.

Usage: python optuna_peer.py <adult.csv> <trials> <seed>
Same split as ours (Adult's train rows, every fifth one validation; its test rows the holdout), same space and the
same protocol: each trial trains up to 500 rounds with early stopping (30) on validation and is scored by validation
AUC; the best configuration is refit on train + validation with its best round count and scored on the holdout.
Single-threaded (num_threads=1, n_jobs=1).
"""
import json
import sys
import time

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import roc_auc_score

CATS = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"]


def main():
    path, trials, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    y = (df["income"] == ">50K").astype(int).to_numpy()
    split = df["split"].to_numpy()
    X = df.drop(columns=["income", "split"])
    for c in CATS:
        X[c] = X[c].astype("category")
    train_idx = np.flatnonzero(split == "train")
    val_mask = np.arange(len(train_idx)) % 5 == 4
    tr, va, te = train_idx[~val_mask], train_idx[val_mask], np.flatnonzero(split == "test")
    started = time.perf_counter()

    def params_of(p):
        return {
            "objective": "binary",
            "learning_rate": p["learningRate"],
            "num_leaves": p["maxLeaves"],
            "min_child_samples": p["minSamplesLeaf"],
            "max_bin": 255,
            "num_threads": 1,
            "verbose": -1,
            "seed": seed,
        }

    def objective(trial):
        p = {
            "learningRate": trial.suggest_float("learningRate", 0.02, 0.3, log=True),
            "maxLeaves": trial.suggest_int("maxLeaves", 8, 128),
            "minSamplesLeaf": trial.suggest_int("minSamplesLeaf", 5, 100),
        }
        dtr = lgb.Dataset(X.iloc[tr], y[tr])
        dva = lgb.Dataset(X.iloc[va], y[va], reference=dtr)
        booster = lgb.train(params_of(p), dtr, 500, valid_sets=[dva], callbacks=[lgb.early_stopping(30, verbose=False)])
        trial.set_user_attr("best_iteration", booster.best_iteration)
        return roc_auc_score(y[va], booster.predict(X.iloc[va], num_iteration=booster.best_iteration))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, n_jobs=1)
    best = study.best_trial
    rounds = max(1, best.user_attrs["best_iteration"])
    refit_rows = np.concatenate([tr, va])
    booster = lgb.train(params_of(best.params), lgb.Dataset(X.iloc[refit_rows], y[refit_rows]), rounds)
    holdout_auc = roc_auc_score(y[te], booster.predict(X.iloc[te]))
    print(json.dumps({
        "tuner": f"optuna {optuna.__version__} TPE + lightgbm {lgb.__version__}",
        "trials": len(study.trials),
        "validation_auc": best.value,
        "holdout_auc": holdout_auc,
        "best_params": best.params,
        "rounds": rounds,
        "wall_ms": (time.perf_counter() - started) * 1000,
    }))


if __name__ == "__main__":
    main()
