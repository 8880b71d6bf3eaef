import {
  type Algorithm,
  type EventData,
  type FeaturesMaterializedV1,
  LOWER_IS_BETTER,
  type PipelineSpecV1,
} from '@keel/contracts';
import { readParquet } from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { type FittedTransform, InvalidTrainingDataError, KeelModelError } from '@keel/ml-models';
import { type Params, type RawTable, type RawValue } from '@keel/ml-models';
import {
  type EvaluationModel,
  type FittedOn,
  MAX_MODEL_PACKAGE_BYTES,
  ModelPackageTooLargeError,
  serializePackage,
} from '@keel/model-package';
import { asBuffer, defineWorkerTask, movableBuffers, transferResult, type WorkerTaskContext } from '@keel/workers';
import { evaluateHoldout, type FittedModel, needsLinearVariant, selectBest, trainModel } from './candidates';
import { detectCodeVersion } from './code-version';
import { buildModelPackage } from './package-builder';
import { builtJoinHashes } from './signature-joins';
import { type CandidateRecord } from './training-runs.repository';
import { type Featurized, featurize, linearVariant, prepareTrainingData, type TrainingData } from './training-data';
import { better, refitAndEvaluate, refitOnWholeWindow, type TunedConfiguration } from './tuning';

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;

export interface TrainingRunInput {
  spec: PipelineSpecV1;
  features: FeaturesMaterialized;
  seed: number;
  /** The feature set's Parquet bytes and the fitted transform's JSON, both verified against their sha256. */
  featureSet: Uint8Array;
  transform: Uint8Array;
  /** The code doing the training, recorded in the package's lineage; detected here (detectCodeVersion) when absent. */
  codeVersion?: string;
  /**
   * The configurations a search chose, one per algorithm: each is refit on train and validation and measured on the
   * holdout (and the winner then refit on the whole window, unless the spec says not to). Absent: defaults.
   */
  tuned?: TunedConfiguration[];
}

export interface TrainingRunOutput {
  /** The model package, serialized. */
  packageBytes: Uint8Array;
  algorithm: Algorithm;
  params: Record<string, unknown>;
  metrics: Record<string, number>;
  candidates: CandidateRecord[];
}

/**
 * Bad data or a bad model setup cannot heal by retrying: straight to the dead-letter topic with the reason (a
 * TrainingInputError already says so).
 */
function nonRetryable(error: unknown): unknown {
  if (error instanceof InvalidTrainingDataError || error instanceof KeelModelError) {
    return new NonRetryableError(error.message, 'untrainable');
  }
  return error;
}

/** A feature set read and featurized for the algorithms of a spec. */
export interface TrainingInputs {
  data: TrainingData;
  variants: { native?: Featurized; linear?: Featurized };
}

/**
 * Reads a feature set and applies its transform to every split. The transform was fitted on the train split by
 * features; here it is applied as is for trees and derived for linear models, the same code serving runs.
 */
export async function loadTrainingInputs(
  spec: PipelineSpecV1,
  featureSet: Uint8Array,
  transformBytes: Uint8Array,
  progress?: WorkerTaskContext['progress'],
): Promise<TrainingInputs> {
  const table = await readParquet(asBuffer(featureSet));
  const transform = JSON.parse(asBuffer(transformBytes).toString()) as FittedTransform;
  const data = prepareTrainingData(table, spec);
  progress?.({ stage: 'featurize', done: 0, total: data.splits.train.rows });
  const algorithms = spec.training.algorithms;
  const variants: TrainingInputs['variants'] = {};
  if (algorithms.some((a) => !needsLinearVariant(a))) variants.native = featurize(data, transform);
  if (algorithms.some(needsLinearVariant)) variants.linear = featurize(data, linearVariant(transform));
  return { data, variants };
}

/** The featurized splits an algorithm trains on. */
export function variantFor(inputs: TrainingInputs, algorithm: Algorithm): Featurized {
  return needsLinearVariant(algorithm) ? inputs.variants.linear! : inputs.variants.native!;
}

/**
 * Trains every algorithm the spec lists on a feature set, evaluates each on the holdout, keeps the best by the
 * primary metric and serializes its package. Pure: the same inputs give the same package bytes, on any thread.
 */
export async function trainAndPackage(
  input: TrainingRunInput,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
): Promise<TrainingRunOutput> {
  const { spec, features, seed } = input;
  const algorithms = spec.training.algorithms;
  progress({ stage: 'read feature set' });
  const { data, variants } = await loadTrainingInputs(spec, input.featureSet, input.transform, progress);

  // Each candidate with its model and the configuration it was fitted with (what a refit on the whole window repeats).
  const candidates: (CandidateRecord & { model: FittedModel; configuration: Params; fittedOn: FittedOn })[] = [];
  const trainRows = data.splits.train.rows;
  const validationRows = data.splits.validation.rows;
  let chosenIndex: number | undefined;
  if (input.tuned) {
    const lower = LOWER_IS_BETTER.includes(spec.training.primaryMetric);
    for (const [index, tuned] of input.tuned.entries()) {
      progress({ stage: `refit ${tuned.algorithm}`, done: index, total: input.tuned.length });
      const featurized = variantFor({ data, variants }, tuned.algorithm);
      const started = performance.now();
      const { model, metrics } = refitAndEvaluate(spec, data, featurized, tuned, seed);
      const trainMs = Math.round(performance.now() - started);
      candidates.push({
        algorithm: tuned.algorithm,
        params: model.params,
        metrics,
        trainMs,
        validationScore: tuned.validationScore,
        model,
        configuration: tuned.params,
        fittedOn: { splits: ['train', 'validation'], rows: trainRows + validationRows },
      });
      // Chosen by the validation score of its search, not by the holdout: the holdout stays an honest estimate.
      if (chosenIndex === undefined || better(lower, tuned.validationScore, input.tuned[chosenIndex].validationScore)) {
        chosenIndex = index;
      }
    }
  }
  for (const [index, algorithm] of (input.tuned ? [] : algorithms).entries()) {
    progress({ stage: `train ${algorithm}`, done: index, total: algorithms.length });
    const featurized = variantFor({ data, variants }, algorithm);
    const started = performance.now();
    const model = trainModel(algorithm, data, featurized, seed);
    const trainMs = Math.round(performance.now() - started);
    progress({ stage: `evaluate ${algorithm}`, done: index, total: algorithms.length });
    const metrics = evaluateHoldout(spec.task, model.document, featurized, data.splits.holdout.y);
    // Defaults, except a linear model's penalty, which depends on the row count: the refit keeps the one measured.
    const configuration: Params = algorithm === 'gbdt' ? {} : { l2: model.params.l2 as number };
    candidates.push({
      algorithm,
      params: model.params,
      metrics,
      trainMs,
      model,
      configuration,
      fittedOn: { splits: ['train'], rows: trainRows },
    });
  }
  const chosen = candidates[chosenIndex ?? selectBest(candidates, spec.training.primaryMetric)];
  // The metrics above are the chosen model's on the holdout; the served model is then refit on every row of the
  // window (lifecycle.md), and the measured model travels in the package for whoever checks those metrics.
  let served = chosen.model;
  let evaluation: EvaluationModel | undefined;
  let servedFittedOn = chosen.fittedOn;
  let referenceColumns: RawTable = data.splits.train.raw;
  if (spec.training.refitOnWholeWindow !== false) {
    const algorithm = chosen.model.algorithm;
    progress({ stage: `refit ${algorithm} on the whole window` });
    served = refitOnWholeWindow(
      data,
      variantFor({ data, variants }, algorithm),
      { algorithm, params: chosen.configuration, bestIteration: chosen.model.bestIteration },
      seed,
    );
    evaluation = { model: chosen.model.document, fittedOn: chosen.fittedOn };
    servedFittedOn = {
      splits: ['train', 'validation', 'holdout'],
      rows: trainRows + validationRows + data.splits.holdout.rows,
    };
    referenceColumns = wholeWindowColumns(data);
  }
  progress({ stage: 'package', done: algorithms.length, total: algorithms.length });
  const joinSha256s = builtJoinHashes(spec, features);
  const pkg = buildModelPackage({
    spec,
    ...(joinSha256s ? { joinSha256s } : {}),
    document: served.document,
    ...(evaluation ? { evaluation } : {}),
    metrics: chosen.metrics,
    classes: data.classes,
    trainColumns: referenceColumns,
    lineage: {
      datasetVersionId: features.datasetVersionId,
      datasetSha256: features.datasetSha256,
      featureSetId: features.featureSetId,
      featureSetSha256: features.featureSetSha256,
      transformSha256: features.transformSha256,
      seed,
      codeVersion: input.codeVersion ?? detectCodeVersion(),
      algorithm: chosen.algorithm,
      params: chosen.params,
      trainRows: data.splits.train.rows,
      holdoutRows: data.splits.holdout.rows,
      ...(features.snapshot ? { snapshot: features.snapshot } : {}),
      servedModelFittedOn: servedFittedOn,
    },
  });
  const packageBytes = serializePackage(pkg);
  // Refused here, where the run's failure names the limit, rather than by every service that would try to load it.
  if (packageBytes.length > MAX_MODEL_PACKAGE_BYTES) throw new ModelPackageTooLargeError(packageBytes.length);
  return {
    packageBytes,
    algorithm: chosen.model.algorithm,
    params: chosen.params,
    metrics: chosen.metrics,
    candidates: candidates.map(({ algorithm, params, metrics, trainMs, validationScore }) => ({
      algorithm,
      params,
      metrics,
      trainMs,
      ...(validationScore !== undefined ? { validationScore } : {}),
    })),
  };
}

/** Raw feature columns of every split: the drift reference of a model refit on the whole window. */
function wholeWindowColumns(data: TrainingData): RawTable {
  const columns: Record<string, RawValue[]> = {};
  for (const name of Object.keys(data.splits.train.raw)) {
    columns[name] = [
      ...data.splits.train.raw[name],
      ...data.splits.validation.raw[name],
      ...data.splits.holdout.raw[name],
    ];
  }
  return columns;
}

/** {@link trainAndPackage} on a worker thread; the package bytes move back rather than being copied. */
export const trainingRunTask = defineWorkerTask(
  __filename,
  'trainingRunTask',
  async (input: TrainingRunInput, context: WorkerTaskContext) => {
    try {
      const output = await trainAndPackage(input, context);
      return transferResult(output, movableBuffers(output.packageBytes));
    } catch (error) {
      throw nonRetryable(error);
    }
  },
);
