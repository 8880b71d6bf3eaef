import { type Algorithm, LOWER_IS_BETTER, type MetricName, type PipelineSpecV1 } from '@keel/contracts';
import { evaluationMetrics, scoreMatrix } from '@keel/model-package';
import {
  createModelDocument,
  type FittedTransform,
  type GbdtOptions,
  type Matrix,
  type ModelBody,
  type ModelDocument,
  type Params,
  trainGbdt,
  trainLinearRegression,
  trainLogisticRegression,
} from '@keel/ml-models';
import { type Featurized, type TrainingData } from './training-data';

/** GBDT settings: LightGBM-like defaults, early stopping on the validation split. */
export const GBDT_DEFAULTS = {
  learningRate: 0.1,
  maxIterations: 500,
  maxLeaves: 31,
  minSamplesLeaf: 20,
  earlyStoppingRounds: 30,
} as const;

/** GBDT categorical splits take integer codes below 255. */
const MAX_GBDT_CATEGORIES = 254;

/** A trained model before evaluation. */
export interface TrainedModel {
  algorithm: Algorithm;
  /** Hyperparameters and training summary (deterministic: no timings). */
  params: Record<string, unknown>;
  document: ModelDocument;
}

/** Which transform variant an algorithm trains on. */
export function needsLinearVariant(algorithm: Algorithm): boolean {
  return algorithm !== 'gbdt';
}

/** Rows a model is fitted on, with their labels and recency weights. */
export interface FitRows {
  x: Matrix;
  y: Float64Array;
  weights?: Float64Array;
}

/** How one fit is set up: hyperparameters over the defaults, and how a GBDT knows when to stop. */
export interface FitSetup {
  params?: Params;
  /** GBDT: stop early on these rows (the validation split). */
  validation?: FitRows;
  /** GBDT: train exactly this many rounds (a refit of a configuration whose best round count is known). */
  rounds?: number;
}

/** A fitted model with what its training reported. */
export interface FittedModel extends TrainedModel {
  /** GBDT: rounds kept, by early stopping or as given. */
  bestIteration?: number;
  /** GBDT with validation rows: the validation loss after each round. */
  validationLoss?: number[];
}

/** Fits one algorithm with the given hyperparameters on the given rows (deterministic for a seed). */
export function fitModel(
  algorithm: Algorithm,
  data: Pick<TrainingData, 'task' | 'classes'>,
  features: Pick<Featurized, 'transform'>,
  rows: FitRows,
  seed: number,
  setup: FitSetup = {},
): FittedModel {
  const tuned = setup.params ?? {};
  const sampleWeights = rows.weights;
  let model: ModelBody;
  let params: Record<string, unknown>;
  let bestIteration: number | undefined;
  let validationLoss: number[] | undefined;
  if (algorithm === 'logistic-regression') {
    // λ = 1/n is scikit-learn's default C = 1.
    const l2 = typeof tuned.l2 === 'number' ? tuned.l2 : 1 / rows.x.nRows;
    params = { l2, encoding: 'onehot', ...(sampleWeights ? { weighted: true } : {}) };
    model = trainLogisticRegression(rows.x, rows.y, { l2, sampleWeights, nClasses: multiclassCount(data) });
  } else if (algorithm === 'linear-regression') {
    const l2 = typeof tuned.l2 === 'number' ? tuned.l2 : 1e-4;
    params = { l2, encoding: 'onehot', ...(sampleWeights ? { weighted: true } : {}) };
    model = trainLinearRegression(rows.x, rows.y, { l2, sampleWeights });
  } else {
    const categoricalFeatures = gbdtCategoricalFeatures(features.transform);
    const options = { ...GBDT_DEFAULTS, ...tuned } as GbdtOptions & typeof GBDT_DEFAULTS;
    const fixed = setup.rounds !== undefined;
    const result = trainGbdt(rows.x, rows.y, {
      ...options,
      objective: gbdtObjective(data.task),
      nClasses: multiclassCount(data),
      ...(fixed ? { maxIterations: setup.rounds, earlyStoppingRounds: 0 } : {}),
      categoricalFeatures,
      validation: !fixed && setup.validation?.x.nRows ? { x: setup.validation.x, y: setup.validation.y } : undefined,
      seed,
      sampleWeights,
    });
    model = result.model;
    bestIteration = result.info.bestIteration;
    if (result.info.validationLoss.length > 0) validationLoss = result.info.validationLoss;
    params = {
      ...GBDT_DEFAULTS,
      ...tuned,
      ...(fixed ? { maxIterations: setup.rounds, earlyStoppingRounds: 0 } : {}),
      bestIteration: result.info.bestIteration,
      iterations: result.info.iterations,
      ...(sampleWeights ? { weighted: true } : {}),
    };
  }
  const document = createModelDocument({
    model,
    preprocessing: features.transform,
    classes: data.classes ? data.classes.map(String) : null,
    training: { algorithm, params, seed },
  });
  return {
    algorithm,
    params,
    document,
    ...(bestIteration !== undefined ? { bestIteration } : {}),
    ...(validationLoss ? { validationLoss } : {}),
  };
}

/** Trains one algorithm's defaults on the train split; GBDT stops early on the validation split when there is one. */
export function trainModel(algorithm: Algorithm, data: TrainingData, features: Featurized, seed: number): FittedModel {
  const { train, validation } = features.matrices;
  const {
    algorithm: name,
    params,
    document,
    bestIteration,
  } = fitModel(
    algorithm,
    data,
    features,
    { x: train, y: data.splits.train.y, weights: data.splits.train.weights },
    seed,
    { validation: { x: validation, y: data.splits.validation.y } },
  );
  return { algorithm: name, params, document, ...(bestIteration !== undefined ? { bestIteration } : {}) };
}

/** The GBDT objective of a task: softmax over the declared classes for multiclass. */
function gbdtObjective(task: TrainingData['task']): GbdtOptions['objective'] {
  if (task === 'regression') return 'regression';
  return task === 'multiclass-classification' ? 'multiclass' : 'binary';
}

/**
 * Multiclass: the declared class count, so the model has one output per declared class (in their order) even when
 * a class has no training rows. Undefined for the other tasks.
 */
function multiclassCount(data: Pick<TrainingData, 'task' | 'classes'>): number | undefined {
  return data.task === 'multiclass-classification' ? data.classes?.length : undefined;
}

/** Output features that hold categorical codes GBDT can split on natively. */
function gbdtCategoricalFeatures(transform: FittedTransform): number[] {
  let k = 0;
  const out: number[] = [];
  for (const column of transform.columns) {
    if (column.kind === 'numeric') k++;
    else if (column.encoding === 'code') {
      if (column.categories.length <= MAX_GBDT_CATEGORIES) out.push(k);
      k++;
    } else k += column.categories.length;
  }
  return out;
}

/** Holdout metrics through the model document's own predictor (the code path serving runs). */
export function evaluateHoldout(
  task: PipelineSpecV1['task'],
  document: ModelDocument,
  features: Featurized,
  yTrue: Float64Array,
): Record<string, number> {
  return evaluationMetrics(task, yTrue, scoreMatrix({ model: document }, features.matrices.holdout));
}

/**
 * Index of the best candidate by the primary metric (direction from LOWER_IS_BETTER); the first one wins ties, so the
 * spec's algorithm order decides. Candidates without the metric cannot be chosen.
 */
export function selectBest(candidates: readonly { metrics: Record<string, number> }[], metric: MetricName): number {
  const lower = LOWER_IS_BETTER.includes(metric);
  let best = -1;
  candidates.forEach((candidate, i) => {
    const value = candidate.metrics[metric];
    if (value === undefined) return;
    const current = best < 0 ? undefined : candidates[best].metrics[metric];
    if (current === undefined || (lower ? value < current : value > current)) best = i;
  });
  if (best < 0) throw new Error(`no candidate has the primary metric "${metric}"`);
  return best;
}
