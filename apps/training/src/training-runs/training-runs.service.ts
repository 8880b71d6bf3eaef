import { Inject, Injectable } from '@nestjs/common';
import {
  derivedId,
  type EventData,
  type FeaturesMaterializedV1,
  ModelTrainedV1,
  type PipelineSpecV1,
  type TrainingRequestedV1,
} from '@keel/contracts';
import { readParquet } from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { type FittedTransform, InvalidTrainingDataError, KeelModelError } from '@keel/ml-models';
import { serializePackage } from '@keel/model-package';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { type TrainingConfig } from '../config';
import { evaluateHoldout, needsLinearVariant, selectBest, trainModel, type TrainedModel } from './candidates';
import { buildModelPackage } from './package-builder';
import { type CandidateRecord, TrainingRunsRepository } from './training-runs.repository';
import { type Featurized, featurize, linearVariant, prepareTrainingData } from './training-data';

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;
type TrainingRequested = EventData<typeof TrainingRequestedV1>;
type ModelTrained = EventData<typeof ModelTrainedV1>;

/**
 * A training run is named by its pipeline and the package it produced: the package holds the model, the feature set's
 * and dataset's hashes, the seed, the code version and what the spec made of them, so the same inputs give the same
 * run, and two pipelines fed identical data give two runs.
 */
export function trainingRunId(pipelineId: string, packageSha256: string): string {
  return derivedId('run', [pipelineId, packageSha256]);
}

/** The announcement of a run; the run id names its pipeline. */
export function modelTrainedEventId(runId: string): string {
  return `model-trained-${runId}`;
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

/**
 * Trains every algorithm the spec lists on a feature set, evaluates them on its holdout, packages the best one and
 * announces it. Deterministic: the same feature set, spec and seed give the same package bytes, run id and event id,
 * so a redelivered event or a repeated request has one effect.
 */
@Injectable()
export class TrainingRunsService {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: TrainingRunsRepository,
    @Inject(SERVICE_CONFIG) private readonly config: TrainingConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'training-runs' });
  }

  /** A new feature set: remember it as the pipeline's retraining input, then train on it. */
  async onFeaturesMaterialized(features: FeaturesMaterialized): Promise<ModelTrained> {
    await this.repository.saveInput(features);
    return this.train(features);
  }

  /**
   * A retraining request: deduplicated by pipeline and dedupeKey within the cooldown, trained on the newest feature set seen for
   * the pipeline, outcome recorded on the request. Returns undefined for a duplicate.
   */
  async onTrainingRequested(request: TrainingRequested, eventId: string): Promise<ModelTrained | undefined> {
    const existing = await this.repository.findRequest(request.pipelineId, request.dedupeKey);
    const now = new Date();
    const withinCooldown =
      existing && now.getTime() - new Date(existing.receivedAt).getTime() < this.config.TRAINING_REQUEST_COOLDOWN_MS;
    if (existing && existing.eventId !== eventId && existing.status !== 'failed' && withinCooldown) {
      await this.repository.countDuplicate(request.pipelineId, request.dedupeKey);
      this.logger.info({ dedupeKey: request.dedupeKey, pipelineId: request.pipelineId }, 'duplicate training request');
      trace.getActiveSpan()?.setAttribute(KeelAttr.TRAINING_REQUEST_DUPLICATE, true);
      return undefined;
    }
    await this.repository.acceptRequest({
      dedupeKey: request.dedupeKey,
      pipelineId: request.pipelineId,
      eventId,
      reason: request.reason,
      requestedBy: request.requestedBy,
      receivedAt: existing?.eventId === eventId ? existing.receivedAt : now,
    });
    try {
      const input = await this.repository.findInput(request.pipelineId);
      if (!input) {
        throw new NonRetryableError(
          `no feature set has been materialized for pipeline "${request.pipelineId}" yet`,
          'no-feature-set',
        );
      }
      const trained = await this.train(input.features);
      await this.repository.finishRequest(request.pipelineId, request.dedupeKey, {
        status: 'trained',
        runId: trained.runId,
        packageSha256: trained.packageSha256,
      });
      return trained;
    } catch (error) {
      await this.repository.finishRequest(request.pipelineId, request.dedupeKey, {
        status: 'failed',
        error: (error as Error).message,
      });
      throw error;
    }
  }

  /** One training run on a feature set; publishes `model.trained` inside the caller's (consumer's) span. */
  async train(features: FeaturesMaterialized): Promise<ModelTrained> {
    const startedAt = new Date();
    const { spec } = await this.infra.pipelines.get(features.pipelineId);
    const seed = spec.training.seed;
    trace.getActiveSpan()?.setAttributes({
      [KeelAttr.PIPELINE_ID]: features.pipelineId,
      [KeelAttr.FEATURE_SET_ID]: features.featureSetId,
    });
    let result: Awaited<ReturnType<TrainingRunsService['trainAndPackage']>>;
    try {
      result = await this.trainAndPackage(spec, features, seed);
    } catch (error) {
      throw nonRetryable(error);
    }
    const stored = await this.infra.objects.putContentAddressed(BUCKETS.models, features.pipelineId, result.bytes, {
      extension: '.json',
      contentType: 'application/json',
    });
    const runId = trainingRunId(features.pipelineId, stored.sha256);
    trace.getActiveSpan()?.setAttribute(KeelAttr.TRAINING_RUN_ID, runId);
    await this.repository.saveRun({
      runId,
      pipelineId: features.pipelineId,
      featureSetId: features.featureSetId,
      candidates: result.candidates,
      chosen: result.chosen.algorithm,
      packageUri: stored.uri,
      packageSha256: stored.sha256,
      seed,
      startedAt,
      finishedAt: new Date(),
    });
    const event = {
      pipelineId: features.pipelineId,
      runId,
      algorithm: result.chosen.algorithm,
      packageUri: stored.uri,
      packageSha256: stored.sha256,
      metrics: result.metrics,
      datasetSha256: features.datasetSha256,
      featureSetId: features.featureSetId,
      featureSetSha256: features.featureSetSha256,
    } as ModelTrained;
    await this.infra.publisher.publish(ModelTrainedV1, event, { id: modelTrainedEventId(runId) });
    this.logger.info(
      { pipelineId: event.pipelineId, runId, algorithm: event.algorithm, metrics: event.metrics },
      'model trained',
    );
    return event;
  }

  private async trainAndPackage(spec: PipelineSpecV1, features: FeaturesMaterialized, seed: number) {
    const attributes = {
      [KeelAttr.PIPELINE_ID]: features.pipelineId,
      [KeelAttr.FEATURE_SET_ID]: features.featureSetId,
    };
    const [table, transform] = await withSpan('load feature set', attributes, async () => {
      const [tableBytes, transformBytes] = await Promise.all([
        this.infra.objects.getVerified({ uri: features.featureSetUri, sha256: features.featureSetSha256 }),
        this.infra.objects.getVerified({ uri: features.transformUri, sha256: features.transformSha256 }),
      ]);
      return [await readParquet(tableBytes), JSON.parse(transformBytes.toString()) as FittedTransform] as const;
    });
    const data = prepareTrainingData(table, spec);
    const algorithms = spec.training.algorithms;
    // The transform was fitted on the train split by features; here it is applied to every split (and derived for
    // linear models), the same code serving runs.
    const featurized = await withSpan('fit transform', attributes, () => {
      const variants: { native?: Featurized; linear?: Featurized } = {};
      if (algorithms.some((a) => !needsLinearVariant(a))) variants.native = featurize(data, transform);
      if (algorithms.some(needsLinearVariant)) variants.linear = featurize(data, linearVariant(transform));
      return variants;
    });

    const candidates: (CandidateRecord & { model: TrainedModel })[] = [];
    for (const algorithm of algorithms) {
      const input = needsLinearVariant(algorithm) ? featurized.linear! : featurized.native!;
      const started = performance.now();
      const model = await withSpan(
        `train ${algorithm}`,
        { ...attributes, [KeelAttr.MODEL_ALGORITHM]: algorithm, [KeelAttr.ROWS_TRAIN]: data.splits.train.rows },
        () => trainModel(algorithm, data, input, seed),
      );
      const trainMs = Math.round(performance.now() - started);
      const metrics = await withSpan(
        'evaluate holdout',
        { ...attributes, [KeelAttr.MODEL_ALGORITHM]: algorithm, [KeelAttr.ROWS_HOLDOUT]: data.splits.holdout.rows },
        (span) => {
          const result = evaluateHoldout(spec.task, model.document, input, data.splits.holdout.y);
          for (const [name, value] of Object.entries(result))
            span.setAttribute(`${KeelAttr.METRIC_PREFIX}${name}`, value);
          return result;
        },
      );
      candidates.push({ algorithm, params: model.params, metrics, trainMs, model });
    }
    const chosen = candidates[selectBest(candidates, spec.training.primaryMetric)];
    const pkg = buildModelPackage({
      spec,
      document: chosen.model.document,
      metrics: chosen.metrics,
      classes: data.classes,
      trainColumns: data.splits.train.raw,
      lineage: {
        datasetVersionId: features.datasetVersionId,
        datasetSha256: features.datasetSha256,
        featureSetId: features.featureSetId,
        featureSetSha256: features.featureSetSha256,
        transformSha256: features.transformSha256,
        seed,
        algorithm: chosen.algorithm,
        params: chosen.params,
        trainRows: data.splits.train.rows,
        holdoutRows: data.splits.holdout.rows,
      },
    });
    return {
      bytes: serializePackage(pkg),
      metrics: chosen.metrics,
      chosen,
      candidates: candidates.map(({ algorithm, params, metrics, trainMs }) => ({
        algorithm,
        params,
        metrics,
        trainMs,
      })),
    };
  }
}
