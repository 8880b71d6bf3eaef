import { type MetricName, type PipelineSpecV1 } from '@keel/contracts';
import { type Matrix, Predictor, type RawTable, TransformRunner } from '@keel/ml-models';
import {
  accuracy,
  f1,
  logLoss,
  mae,
  mape,
  multiclassLogLoss,
  precision,
  r2,
  recall,
  rmse,
  rocAuc,
} from '@keel/ml-stats';
import { type ModelPackage } from './model-package';

/**
 * Evaluation metrics of a model's outputs against true values. Binary: accuracy, precision, recall, f1 at 0.5, auc,
 * log_loss; multiclass (`scores` row-major rows × classes, `yTrue` class indices, the prediction the most probable
 * class): accuracy, f1_macro, f1_weighted, f1_micro, precision_macro, recall_macro and the multinomial log_loss;
 * regression: rmse, mae, r2 and mape over non-zero targets. Metrics undefined on these rows (a single class, a
 * constant target) are left out rather than reported as NaN.
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
  } else if (task === 'multiclass-classification') {
    if (yTrue.length === 0) return metrics;
    const k = scores.length / yTrue.length;
    const predicted = argmaxRows(scores, k);
    put('accuracy', () => accuracy(yTrue, predicted));
    put('f1_macro', () => f1(yTrue, predicted, { average: 'macro' }));
    put('f1_weighted', () => f1(yTrue, predicted, { average: 'weighted' }));
    put('f1_micro', () => f1(yTrue, predicted, { average: 'micro' }));
    put('precision_macro', () => precision(yTrue, predicted, { average: 'macro' }));
    put('recall_macro', () => recall(yTrue, predicted, { average: 'macro' }));
    put('log_loss', () => multiclassLogLoss(yTrue, scores, k));
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

/** The most probable class of each row of row-major `rows × k` probabilities (the first one on a tie). */
export function argmaxRows(scores: Float64Array, k: number): Float64Array {
  const rows = Math.floor(scores.length / k);
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (scores[i * k + j] > scores[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

/**
 * True target values as the numbers the metrics take: 1/0 for the positive/other label (binary), the index in the
 * package's class list (multiclass; −1 for a label outside it, which no prediction equals), the value (regression).
 */
export function targetValues(
  pkg: Pick<ModelPackage, 'task' | 'target' | 'model'>,
  target: readonly (number | string | boolean | null)[],
): Float64Array {
  if (pkg.task === 'binary-classification') {
    return Float64Array.from(target, (v) => (String(v) === String(pkg.target.positive) ? 1 : 0));
  }
  if (pkg.task === 'multiclass-classification') {
    const index = new Map(packageClasses(pkg).map((name, i) => [name, i]));
    return Float64Array.from(target, (v) => index.get(String(v)) ?? -1);
  }
  return Float64Array.from(target, (v) => Number(v));
}

/** A multiclass package's class labels, in output order (the model document's, which the package target repeats). */
export function packageClasses(pkg: Pick<ModelPackage, 'target' | 'model'>): string[] {
  return pkg.target.classes ?? pkg.model.classes ?? [];
}

/** Scores of a model over already transformed features (the matrix its own preprocessing produced). */
export function scoreMatrix(pkg: Pick<ModelPackage, 'model'>, features: Matrix): Float64Array {
  return new Predictor(pkg.model).predictBatch(features);
}

/**
 * A package's metrics on raw rows (columns as serving receives them) with their true target values: its own fitted
 * preprocessing, then its model, the code path serving runs. Targets as {@link targetValues} maps them.
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
  return evaluationMetrics(pkg.task, targetValues(pkg, target), scores);
}
