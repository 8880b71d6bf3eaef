import { Inject, Injectable } from '@nestjs/common';
import {
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
import { type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { type TrainingConfig } from '../config';
import { evaluateHoldout, needsLinearVariant, selectBest, trainModel, type TrainedModel } from './candidates';
import { buildModelPackage } from './package-builder';
import { type CandidateRecord, TrainingRunsRepository } from './training-runs.repository';
import { type Featurized, featurize, linearVariant, prepareTrainingData, TrainingInputError } from './training-data';

const tracer = trace.getTracer('keel-training');

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;
type TrainingRequested = EventData<typeof TrainingRequestedV1>;
type ModelTrained = EventData<typeof ModelTrainedV1>;

/** Runs `work` in an active span that records failures. */
function inSpan<T>(name: string, work: (span: Span) => Promise<T> | T): Promise<T> {
  return tracer.startActiveSpan(name, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Bad data or a bad model setup cannot heal by retrying: straight to the dead-letter topic with the reason. */
function nonRetryable(error: unknown): unknown {
  if (error instanceof TrainingInputError) return new NonRetryableError(error.message, 'bad-feature-set');
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
   * A retraining request: deduplicated by dedupeKey within the cooldown, trained on the newest feature set seen for
   * the pipeline, outcome recorded on the request. Returns undefined for a duplicate.
   */
  async onTrainingRequested(request: TrainingRequested, eventId: string): Promise<ModelTrained | undefined> {
    const existing = await this.repository.findRequest(request.dedupeKey);
    const now = new Date();
    const withinCooldown =
      existing && now.getTime() - new Date(existing.receivedAt).getTime() < this.config.TRAINING_REQUEST_COOLDOWN_MS;
    if (existing && existing.eventId !== eventId && existing.status !== 'failed' && withinCooldown) {
      await this.repository.countDuplicate(request.dedupeKey);
      this.logger.info({ dedupeKey: request.dedupeKey, pipelineId: request.pipelineId }, 'duplicate training request');
      trace.getActiveSpan()?.setAttribute('keel.training_request.duplicate', true);
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
      await this.repository.finishRequest(request.dedupeKey, {
        status: 'trained',
        runId: trained.runId,
        packageSha256: trained.packageSha256,
      });
      return trained;
    } catch (error) {
      await this.repository.finishRequest(request.dedupeKey, { status: 'failed', error: (error as Error).message });
      throw error;
    }
  }

  /** One training run on a feature set; publishes `model.trained` inside the caller's (consumer's) span. */
  async train(features: FeaturesMaterialized): Promise<ModelTrained> {
    const startedAt = new Date();
    const { spec } = await this.infra.pipelines.get(features.pipelineId);
    const seed = spec.training.seed;
    trace.getActiveSpan()?.setAttributes({
      'keel.pipeline_id': features.pipelineId,
      'keel.feature_set_id': features.featureSetId,
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
    const runId = `run-${stored.sha256.slice(0, 16)}`;
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
    await this.infra.publisher.publish(ModelTrainedV1, event, { id: `model-trained-${runId}` });
    this.logger.info(
      { pipelineId: event.pipelineId, runId, algorithm: event.algorithm, metrics: event.metrics },
      'model trained',
    );
    return event;
  }

  private async trainAndPackage(spec: PipelineSpecV1, features: FeaturesMaterialized, seed: number) {
    const [table, transform] = await inSpan('load feature set', async () => {
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
    const featurized = await inSpan('fit transform', () => {
      const variants: { native?: Featurized; linear?: Featurized } = {};
      if (algorithms.some((a) => !needsLinearVariant(a))) variants.native = featurize(data, transform);
      if (algorithms.some(needsLinearVariant)) variants.linear = featurize(data, linearVariant(transform));
      return variants;
    });

    const candidates: (CandidateRecord & { model: TrainedModel })[] = [];
    for (const algorithm of algorithms) {
      const input = needsLinearVariant(algorithm) ? featurized.linear! : featurized.native!;
      const started = performance.now();
      const model = await inSpan(`train ${algorithm}`, (span) => {
        span.setAttributes({ 'keel.algorithm': algorithm, 'keel.rows.train': data.splits.train.rows });
        return trainModel(algorithm, data, input, seed);
      });
      const trainMs = Math.round(performance.now() - started);
      const metrics = await inSpan('evaluate holdout', (span) => {
        const result = evaluateHoldout(spec.task, model.document, input, data.splits.holdout.y);
        span.setAttributes({ 'keel.algorithm': algorithm, 'keel.rows.holdout': data.splits.holdout.rows });
        for (const [name, value] of Object.entries(result)) span.setAttribute(`keel.metric.${name}`, value);
        return result;
      });
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
