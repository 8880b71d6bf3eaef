"""Make the ONNX fixtures for libs/ml-models/src/onnx/onnx-model.unit.spec.ts.

Trains two tiny models on a fixed synthetic dataset and writes, into
libs/ml-models/src/onnx/fixtures/:
  - sklearn-logreg.onnx   (StandardScaler + LogisticRegression via skl2onnx)
  - lightgbm-binary.onnx  (LGBMClassifier, 10 trees, via onnxmltools)
  - xgboost-binary.onnx   (XGBClassifier, 10 trees of depth 3, via onnxmltools)
  - expected.json         (the inputs and each model's predict_proba in float64)

Run with the benchmark venv: ~/.cache/keel/venv-models/bin/python tools/reference/models/make_onnx_fixtures.py
(scikit-learn, skl2onnx, lightgbm, xgboost, onnxmltools; versions are printed into expected.json).
"""
import json
import pathlib

import lightgbm
import xgboost
import numpy as np
import onnxmltools
import skl2onnx
import sklearn
from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = pathlib.Path(__file__).resolve().parents[3] / "libs/ml-models/src/onnx/fixtures"
OUT.mkdir(parents=True, exist_ok=True)

rng = np.random.default_rng(7)
X = rng.normal(size=(300, 3)).astype(np.float32)
y = (X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
X_test = X[:20]

lr = make_pipeline(StandardScaler(), LogisticRegression(C=1.0)).fit(X, y)
onx = skl2onnx.convert_sklearn(
    lr, initial_types=[("input", FloatTensorType([None, 3]))], options={id(lr): {"zipmap": False}}, target_opset={"": 15, "ai.onnx.ml": 3}
)
(OUT / "sklearn-logreg.onnx").write_bytes(onx.SerializeToString())

gbm = lightgbm.LGBMClassifier(n_estimators=10, num_leaves=4, min_child_samples=10, n_jobs=1, random_state=0, verbose=-1).fit(X, y)
onx2 = onnxmltools.convert_lightgbm(gbm, initial_types=[("input", MlFloat([None, 3]))], zipmap=False, target_opset=15)
(OUT / "lightgbm-binary.onnx").write_bytes(onx2.SerializeToString())

xgb = xgboost.XGBClassifier(n_estimators=10, max_depth=3, learning_rate=0.3, n_jobs=1, random_state=0).fit(X, y)
onx3 = onnxmltools.convert_xgboost(xgb, initial_types=[("input", MlFloat([None, 3]))], target_opset=15)
(OUT / "xgboost-binary.onnx").write_bytes(onx3.SerializeToString())

expected = {
    "versions": {"sklearn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "lightgbm": lightgbm.__version__, "xgboost": xgboost.__version__, "onnxmltools": onnxmltools.__version__},
    "inputs": X_test.astype(float).tolist(),
    "sklearn-logreg": lr.predict_proba(X_test)[:, 1].tolist(),
    "lightgbm-binary": gbm.predict_proba(X_test)[:, 1].tolist(),
    "xgboost-binary": xgb.predict_proba(X_test)[:, 1].tolist(),
}
(OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
print("wrote", sorted(p.name for p in OUT.iterdir()))
