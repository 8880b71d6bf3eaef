import { type Algorithm, type PipelineSpecV1 } from '@keel/contracts';
import { evaluationMetrics, scoreMatrix } from '@keel/model-package';
import { type Matrix, type Params } from '@keel/ml-models';
import { fitModel, type FitRows, type FittedModel } from './candidates';
import { type Featurized, type TrainingData, TrainingInputError } from './training-data';

/** One trial: an algorithm's configuration trained with some resource (null: all of it). */
export interface TrialSetup {
  algorithm: Algorithm;
  params: Params;
  /** gbdt: boosting rounds; linear models: the fraction of training rows; null: the configuration as it is. */
  resource: number | null;
  seed: number;
}

/** What a trial measured on the validation split. */
export interface TrialOutcome {
  /** The primary metric on the validation split (NaN when it is undefined there). */
  score: number;
  metrics: Record<string, number>;
  /** gbdt: rounds kept by early stopping on the validation split. */
  bestIteration?: number;
  /** gbdt: the validation loss after each boosting round. */
  validationLoss?: number[];
  trainMs: number;
}

/** The first `fraction` of a split's rows (the split's order is a seeded hash, so this is a seeded subsample). */
function head(rows: FitRows, fraction: number): FitRows {
  const n = Math.max(1, Math.min(rows.x.nRows, Math.ceil(rows.x.nRows * fraction)));
  if (n === rows.x.nRows) return rows;
  return {
    x: { data: rows.x.data.subarray(0, n * rows.x.nCols), nRows: n, nCols: rows.x.nCols },
    y: rows.y.subarray(0, n),
    ...(rows.weights ? { weights: rows.weights.subarray(0, n) } : {}),
  };
}

function concatRows(a: FitRows, b: FitRows): FitRows {
  const x: Matrix = {
    data: new Float64Array(a.x.data.length + b.x.data.length),
    nRows: a.x.nRows + b.x.nRows,
    nCols: a.x.nCols,
  };
  x.data.set(a.x.data);
  x.data.set(b.x.data, a.x.data.length);
  const y = new Float64Array(a.y.length + b.y.length);
  y.set(a.y);
  y.set(b.y, a.y.length);
  let weights: Float64Array | undefined;
  if (a.weights && b.weights) {
    weights = new Float64Array(a.weights.length + b.weights.length);
    weights.set(a.weights);
    weights.set(b.weights, a.weights.length);
  }
  return { x, y, ...(weights ? { weights } : {}) };
}

function splitRows(data: TrainingData, features: Featurized, split: 'train' | 'validation' | 'holdout'): FitRows {
  const { y, weights } = data.splits[split];
  return { x: features.matrices[split], y, ...(weights ? { weights } : {}) };
}

/** Metrics of a fitted model on a split's rows, through the model document's predictor (serving's code path). */
export function scoreOn(task: PipelineSpecV1['task'], model: FittedModel, rows: FitRows): Record<string, number> {
  return evaluationMetrics(task, rows.y, scoreMatrix({ model: model.document }, rows.x));
}

/**
 * Trains one configuration on the train split and scores it on the validation split: the holdout is never seen by
 * the search, so the holdout metrics of the refit winner stay an unbiased estimate.
 */
export function runTrial(
  spec: PipelineSpecV1,
  data: TrainingData,
  features: Featurized,
  trial: TrialSetup,
): TrialOutcome {
  const started = performance.now();
  const validation = splitRows(data, features, 'validation');
  if (validation.x.nRows === 0)
    throw new TrainingInputError('a search scores trials on validation rows; the feature set has none');
  let train = splitRows(data, features, 'train');
  let params = trial.params;
  if (trial.resource !== null) {
    if (trial.algorithm === 'gbdt') params = { ...params, maxIterations: Math.max(1, Math.round(trial.resource)) };
    else train = head(train, trial.resource);
  }
  const model = fitModel(trial.algorithm, data, features, train, trial.seed, { params, validation });
  const metrics = scoreOn(spec.task, model, validation);
  const score = metrics[spec.training.primaryMetric] ?? Number.NaN;
  return {
    score,
    metrics,
    ...(model.bestIteration !== undefined ? { bestIteration: model.bestIteration } : {}),
    ...(model.validationLoss ? { validationLoss: model.validationLoss } : {}),
    trainMs: Math.round(performance.now() - started),
  };
}

/** The configuration a search chose for one algorithm. */
export interface TunedConfiguration {
  algorithm: Algorithm;
  params: Params;
  /** gbdt: the rounds its best trial kept; the refit trains exactly these. */
  bestIteration?: number;
  /** The primary metric of its best trial on the validation split. */
  validationScore: number;
}

/**
 * Refits a chosen configuration on the train and validation splits together (the whole training window less the
 * holdout the registry verifies on) and scores it on the holdout.
 */
export function refitAndEvaluate(
  spec: PipelineSpecV1,
  data: TrainingData,
  features: Featurized,
  tuned: TunedConfiguration,
  seed: number,
): { model: FittedModel; metrics: Record<string, number> } {
  const rows = concatRows(splitRows(data, features, 'train'), splitRows(data, features, 'validation'));
  const model = fitModel(tuned.algorithm, data, features, rows, seed, {
    params: tuned.params,
    ...(tuned.algorithm === 'gbdt' && tuned.bestIteration ? { rounds: tuned.bestIteration } : {}),
  });
  return { model, metrics: scoreOn(spec.task, model, splitRows(data, features, 'holdout')) };
}

/** Every labelled row of the window: the train, validation and holdout splits, in that order. */
export function wholeWindowRows(data: TrainingData, features: Featurized): FitRows {
  return concatRows(
    concatRows(splitRows(data, features, 'train'), splitRows(data, features, 'validation')),
    splitRows(data, features, 'holdout'),
  );
}

/**
 * Refits the chosen configuration on the whole window for the served model, once its held-out metrics are measured:
 * the same hyperparameters, and for GBDT exactly the rounds the measured model kept (there is no split left to stop
 * on). Nothing is scored here: every row is now a training row, so the metrics stay those from before the refit.
 */
export function refitOnWholeWindow(
  data: TrainingData,
  features: Featurized,
  chosen: { algorithm: Algorithm; params: Params; bestIteration?: number },
  seed: number,
): FittedModel {
  return fitModel(chosen.algorithm, data, features, wholeWindowRows(data, features), seed, {
    params: chosen.params,
    ...(chosen.algorithm === 'gbdt' && chosen.bestIteration ? { rounds: chosen.bestIteration } : {}),
  });
}

/** Whether score `a` beats `b` (a non-finite score never does). */
export function better(lowerIsBetter: boolean, a: number, b: number): boolean {
  if (!Number.isFinite(a)) return false;
  if (!Number.isFinite(b)) return true;
  return lowerIsBetter ? a < b : a > b;
}
