import { type MetricName, type PipelineSpecV1 } from '@keel/contracts';
import { type Matrix, Predictor, type RawTable, TransformRunner } from '@keel/ml-models';
import { accuracy, f1, logLoss, mae, mape, precision, r2, recall, rmse, rocAuc } from '@keel/ml-stats';
import { type ModelPackage } from './model-package';

/**
 * Evaluation metrics of a model's outputs against true values. Binary: accuracy, precision, recall, f1 at 0.5, auc,
 * log_loss; regression: rmse, mae, r2 and mape over non-zero targets. Metrics undefined on these rows (a single
 * class, a constant target) are left out rather than reported as NaN.
 */
export function evaluationMetrics(
  task: PipelineSpecV1['task'],
  yTrue: Float64Array,
  scores: Float64Array,
): Record<string, number> {
  const metrics: Record<string, number> = {};
  const put = (name: MetricName, compute: () => number) => {
    try {
      const value = compute();
      if (Number.isFinite(value)) metrics[name] = value;
    } catch {
      // Undefined on these rows; see the doc comment.
    }
  };
  if (task === 'binary-classification') {
    const predicted = Float64Array.from(scores, (p) => (p >= 0.5 ? 1 : 0));
    put('accuracy', () => accuracy(yTrue, predicted));
    put('precision', () => precision(yTrue, predicted));
    put('recall', () => recall(yTrue, predicted));
    put('f1', () => f1(yTrue, predicted));
    put('auc', () => rocAuc(yTrue, scores));
    put('log_loss', () => logLoss(yTrue, scores));
  } else {
    put('rmse', () => rmse(yTrue, scores));
    put('mae', () => mae(yTrue, scores));
    put('r2', () => r2(yTrue, scores));
    // A zero target makes the percentage error meaningless (sklearn's ε gives ~1e15); score the non-zero rows only.
    const nonZero = [...yTrue.keys()].filter((i) => yTrue[i] !== 0);
    if (nonZero.length > 0) {
      put('mape', () =>
        mape(
          nonZero.map((i) => yTrue[i]),
          nonZero.map((i) => scores[i]),
        ),
      );
    }
  }
  return metrics;
}

/** Scores of a model over already transformed features (the matrix its own preprocessing produced). */
export function scoreMatrix(pkg: Pick<ModelPackage, 'model'>, features: Matrix): Float64Array {
  return new Predictor(pkg.model).predictBatch(features);
}

/**
 * A package's metrics on raw rows (columns as serving receives them) with their true target values: its own fitted
 * preprocessing, then its model, the code path serving runs. Binary targets are 1 for the package's positive label.
 */
export function evaluatePackage(
  pkg: ModelPackage,
  raw: RawTable,
  target: readonly (number | string | boolean | null)[],
): Record<string, number> {
  const rows = target.length;
  if (!pkg.model.preprocessing) throw new Error(`package of ${pkg.modelName} has no preprocessing`);
  const features =
    rows === 0
      ? { data: new Float64Array(0), nRows: 0, nCols: 0 }
      : new TransformRunner(pkg.model.preprocessing).table(raw);
  const scores = rows === 0 ? new Float64Array(0) : scoreMatrix(pkg, features);
  const yTrue =
    pkg.task === 'binary-classification'
      ? Float64Array.from(target, (v) => (String(v) === String(pkg.target.positive) ? 1 : 0))
      : Float64Array.from(target, (v) => Number(v));
  return evaluationMetrics(pkg.task, yTrue, scores);
}
