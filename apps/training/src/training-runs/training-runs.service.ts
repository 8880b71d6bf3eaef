import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  derivedId,
  type EventData,
  type FeaturesMaterializedV1,
  joinDefinitionSha256,
  ModelTrainedV1,
  type PipelineSpecV1,
  TrainingFailedV1,
  TrainingRequestedV2,
} from '@keel/contracts';
import { errorCode, isRetryable } from '@keel/messaging';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { asBuffer, movableBuffers, WorkerPool } from '@keel/workers';
import { stableStringify } from '@keel/ml-models';
import { type TrainingConfig } from '../config';
import { candidateRunId } from '../experiments/experiment-runs';
import { ExperimentRunsRepository } from '../experiments/experiment-runs.repository';
import { detectCodeVersion } from './code-version';
import { experimentRunsOf } from './experiment-records';
import { type AlgorithmSearchOutcome, searchAlgorithms } from './hyperparameter-search';
import { builtJoinHashes, JoinDefinitionChangedError } from './signature-joins';
import { trainingRunTask } from './training-run.task';
import { trialTask } from './trial.task';
import { TrainingRunsRepository } from './training-runs.repository';

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;
type TrainingRequested = EventData<typeof TrainingRequestedV2>;
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
 * Trains every algorithm the spec lists on a feature set, evaluates them on its holdout, packages the best one and
 * announces it. Deterministic: the same feature set (the same training window), spec and seed give the same package
 * bytes, run id and event id, so a redelivered event or a repeated request has one effect, while a request after new
 * data trains on a new window and gives a new package.
 */
@Injectable()
export class TrainingRunsService implements OnApplicationBootstrap {
  private readonly logger: Logger;
  /** The code that trains here, in every package's lineage and experiment run. */
  readonly codeVersion: string;

  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: TrainingRunsRepository,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    private readonly workers: WorkerPool,
    @Inject(SERVICE_CONFIG) private readonly config: TrainingConfig,
    private readonly experiments: ExperimentRunsRepository,
  ) {
    this.logger = rootLogger.child({ component: 'training-runs' });
    this.codeVersion = detectCodeVersion();
  }

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a job. */
  async onApplicationBootstrap(): Promise<void> {
    await this.workers.warm(trainingRunTask);
    await this.workers.warm(trialTask);
  }

  /**
   * A new feature set (new data, or a training request resolved by features): trained, and when a request asked for
   * it, the request's outcome recorded.
   */
  async onFeaturesMaterialized(features: FeaturesMaterialized): Promise<ModelTrained | null> {
    let trained: ModelTrained;
    try {
      trained = await this.train(features);
    } catch (error) {
      if (error instanceof JoinDefinitionChangedError) {
        await this.requestWithCurrentJoins(features, error);
        return null;
      }
      // A failure retrying cannot mend ends in the dead-letter topic; it is announced first, so monitoring alerts.
      if (!isRetryable(error)) await this.announceFailure(features, error);
      throw error;
    }
    const requestId = features.trigger?.requestId;
    if (requestId !== undefined) {
      await this.repository.recordRequestOutcome({
        pipelineId: features.pipelineId,
        requestId,
        reason: features.trigger!.reason,
        requestedBy: features.trigger!.requestedBy ?? 'unknown',
        runId: trained.runId,
        packageSha256: trained.packageSha256,
        snapshotId: features.snapshot?.snapshotId,
      });
    }
    return trained;
  }

  /**
   * A feature set built with other joins than the spec declares now (the spec was re-applied in between) is not
   * trained on; instead of waiting for the next data version or a person, training asks for it again: a training
   * request, which features materializes under the spec as it is now (the window up to the newest version, which
   * includes this feature set's), so the loop converges on its own. Keyed by the pipeline, the refused feature set and
   * the spec's join definitions now: a redelivery, or the same feature set refused under another trigger, is the one
   * request; a spec re-applied again before the rebuilt set is trained refuses that one and asks once more, so it
   * settles once the spec does. Not a failure (no training.failed, no alert, no dead letter): nothing is lost.
   */
  private async requestWithCurrentJoins(features: FeaturesMaterialized, refusal: JoinDefinitionChangedError) {
    // The stored spec the refusal was made under (specForJoinsOf read it past the cache): features builds under it
    // or a later version, never its own cached older copy, which would give the same feature set and this same key.
    const { spec, version } = await this.infra.pipelines.getModelPipeline(features.pipelineId, {
      minVersion: refusal.specVersion,
    });
    const joins = (spec.joins ?? []).map((join) => `${join.pipeline}=${joinDefinitionSha256(join)}`).sort();
    const requestId = derivedId('join-definition-changed', [features.pipelineId, features.featureSetId, ...joins]);
    const replaced = features.trigger?.requestId;
    await this.request({
      pipelineId: features.pipelineId,
      requestId,
      reason: features.trigger?.reason ?? 'new-data',
      requestedBy: 'training:join-definition-changed',
      details: refusal.message.slice(0, 2_000),
      includesDatasetVersionId: features.datasetVersionId,
      specVersion: version,
      ...(replaced === undefined ? {} : { supersedes: replaced }),
    });
    // The refused set's request is answered by this one: its record points here (GET follows it to the run).
    if (replaced !== undefined && replaced !== requestId) {
      await this.repository.recordRequestSuperseded({
        pipelineId: features.pipelineId,
        requestId: replaced,
        reason: features.trigger!.reason,
        requestedBy: features.trigger!.requestedBy ?? 'unknown',
        supersededBy: requestId,
      });
    }
    this.logger.warn(
      {
        pipelineId: features.pipelineId,
        featureSetId: features.featureSetId,
        requestId,
        supersedes: replaced,
        specVersion: version,
        err: refusal.message,
      },
      'feature set built with another join definition: training requested under the spec as it is now',
    );
  }

  /**
   * The spec to train the feature set under, refused (JoinDefinitionChangedError) before any training when its joins
   * are no longer those the feature set was built with. A refusal by a cached copy is checked against the stored
   * spec first: features may have built the set under a version applied after this copy was cached, and refusing it
   * would ask for the same feature set again.
   */
  private async specForJoinsOf(features: FeaturesMaterialized) {
    const cached = await this.infra.pipelines.getModelPipeline(features.pipelineId);
    try {
      builtJoinHashes(cached.spec, features);
      return cached;
    } catch (error) {
      if (!(error instanceof JoinDefinitionChangedError)) throw error;
      const stored = await this.infra.pipelines.getModelPipeline(features.pipelineId, {
        minVersion: cached.version + 1,
      });
      try {
        builtJoinHashes(stored.spec, features);
      } catch (refusal) {
        if (!(refusal instanceof JoinDefinitionChangedError)) throw refusal;
        throw new JoinDefinitionChangedError(refusal.message, stored.version);
      }
      return stored;
    }
  }

  /** `mlops.training.failed.v1` for a run that failed for good; the same run failing again is the same event. */
  private async announceFailure(features: FeaturesMaterialized, error: unknown): Promise<void> {
    const trigger = features.trigger ?? { reason: 'new-data' as const };
    const message = error instanceof Error ? error.message : String(error);
    await this.infra.publisher.publish(
      TrainingFailedV1,
      {
        pipelineId: features.pipelineId,
        datasetVersionId: features.datasetVersionId,
        featureSetId: features.featureSetId,
        trigger,
        ...(features.snapshot ? { window: features.snapshot.window } : {}),
        errorCode: errorCode(error).slice(0, 100),
        error: (message || 'training failed').slice(0, 1_000),
        failedAt: new Date().toISOString(),
      },
      {
        id: derivedId('training-failed', [features.pipelineId, features.featureSetId, trigger.requestId ?? 'new-data']),
      },
    );
    this.logger.warn(
      {
        pipelineId: features.pipelineId,
        featureSetId: features.featureSetId,
        requestId: trigger.requestId,
        err: message,
      },
      'training failed for good',
    );
  }

  /**
   * Publishes a training request (the HTTP API's path into the loop). The event id derives from the pipeline and the
   * request id, so a client retrying the same request id publishes the same event.
   */
  async request(request: TrainingRequested): Promise<void> {
    await this.repository.recordRequest(request);
    await this.infra.publisher.publish(TrainingRequestedV2, request, {
      id: derivedId('training-request', [request.pipelineId, request.requestId]),
    });
  }

  /** One training run on a feature set; publishes `model.trained` inside the caller's (consumer's) span. */
  async train(features: FeaturesMaterialized): Promise<ModelTrained> {
    const startedAt = new Date();
    const started = performance.now();
    const { spec } = await this.specForJoinsOf(features);
    const seed = spec.training.seed;
    trace.getActiveSpan()?.setAttributes({
      [KeelAttr.PIPELINE_ID]: features.pipelineId,
      [KeelAttr.FEATURE_SET_ID]: features.featureSetId,
    });
    const result = await this.trainAndPackage(spec, features, seed);
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
      ...(features.snapshot ? { snapshot: features.snapshot } : {}),
      trigger: features.trigger ?? { reason: 'new-data' },
      candidates: result.candidates,
      ...(result.search
        ? {
            search: result.search.map((outcome) => ({
              algorithm: outcome.algorithm,
              strategy: outcome.strategy,
              trials: outcome.trials.length,
              stoppedBy: outcome.stoppedBy,
              wallMs: outcome.wallMs,
              bestTrial: outcome.bestTrial,
              bestParams: outcome.best.params,
              validationScore: outcome.best.validationScore,
            })),
          }
        : {}),
      chosen: result.algorithm,
      packageUri: stored.uri,
      packageSha256: stored.sha256,
      seed,
      startedAt,
      finishedAt: new Date(),
    });
    await this.experiments.saveAll(
      experimentRunsOf({
        runId,
        features,
        seed,
        codeVersion: this.codeVersion,
        traceId: activeTraceId(),
        chosen: result.algorithm,
        params: result.params,
        metrics: result.metrics,
        candidates: result.candidates,
        search: result.search,
        packageUri: stored.uri,
        packageSha256: stored.sha256,
        durationMs: Math.round(performance.now() - started),
        at: startedAt,
      }),
    );
    const event = {
      pipelineId: features.pipelineId,
      runId,
      algorithm: result.algorithm,
      packageUri: stored.uri,
      packageSha256: stored.sha256,
      metrics: result.metrics,
      datasetSha256: features.datasetSha256,
      featureSetId: features.featureSetId,
      featureSetSha256: features.featureSetSha256,
      featureSetUri: features.featureSetUri,
      ...(features.snapshot ? { snapshot: features.snapshot } : {}),
      trigger: features.trigger ?? { reason: 'new-data' },
      candidates: result.candidates.map((candidate) => ({
        algorithm: candidate.algorithm,
        runId: candidateRunId(runId, candidate.algorithm),
        metrics: candidate.metrics,
        ...(candidate.validationScore !== undefined ? { validationScore: candidate.validationScore } : {}),
        chosen: candidate.algorithm === result.algorithm,
      })),
    } as ModelTrained;
    await this.infra.publisher.publish(ModelTrainedV1, event, { id: modelTrainedEventId(runId) });
    this.logger.info(
      { pipelineId: event.pipelineId, runId, algorithm: event.algorithm, metrics: event.metrics },
      'model trained',
    );
    return event;
  }

  /**
   * Loads the feature set and its transform (sha256-verified); searches the spec's hyperparameters when it declares a
   * search (trials on worker threads, `TRAINING_SEARCH_CONCURRENCY` at a time); then trains (or refits the chosen
   * configurations) and packages on a worker thread.
   */
  private async trainAndPackage(spec: PipelineSpecV1, features: FeaturesMaterialized, seed: number) {
    const attributes = {
      [KeelAttr.PIPELINE_ID]: features.pipelineId,
      [KeelAttr.FEATURE_SET_ID]: features.featureSetId,
    };
    const [featureSet, transform] = await withSpan('load feature set', attributes, () =>
      Promise.all([
        this.infra.objects.getVerified({ uri: features.featureSetUri, sha256: features.featureSetSha256 }),
        this.infra.objects.getVerified({ uri: features.transformUri, sha256: features.transformSha256 }),
      ]),
    );
    const search = spec.training.search
      ? await withSpan('hyperparameter search', attributes, () => this.search(spec, features, featureSet, transform))
      : undefined;
    const result = await this.workers.run(
      trainingRunTask,
      {
        spec,
        features,
        seed,
        featureSet,
        transform,
        codeVersion: this.codeVersion,
        ...(search ? { tuned: search.map((s) => s.best) } : {}),
      },
      { transferList: movableBuffers(featureSet, transform), attributes },
    );
    const span = trace.getActiveSpan();
    for (const [name, value] of Object.entries(result.metrics))
      span?.setAttribute(`${KeelAttr.METRIC_PREFIX}${name}`, value);
    return { ...result, search, bytes: asBuffer(result.packageBytes) };
  }

  /** Every algorithm's search; trials get copies of the bytes (each worker thread parses them once per search). */
  private async search(
    spec: PipelineSpecV1,
    features: FeaturesMaterialized,
    featureSet: Uint8Array,
    transform: Uint8Array,
  ): Promise<AlgorithmSearchOutcome[]> {
    const inputsKey = derivedId('trial-inputs', [
      features.featureSetSha256,
      features.transformSha256,
      createHash('sha256').update(stableStringify(spec)).digest('hex'),
    ]);
    const attributes = {
      [KeelAttr.PIPELINE_ID]: features.pipelineId,
      [KeelAttr.FEATURE_SET_ID]: features.featureSetId,
    };
    const outcomes = await searchAlgorithms(
      spec,
      (trial) => this.workers.run(trialTask, { spec, inputsKey, featureSet, transform, trial }, { attributes }),
      { concurrency: this.config.TRAINING_SEARCH_CONCURRENCY ?? this.workers.threads },
    );
    for (const outcome of outcomes) {
      this.logger.info(
        {
          pipelineId: features.pipelineId,
          algorithm: outcome.algorithm,
          strategy: outcome.strategy,
          trials: outcome.trials.length,
          stoppedBy: outcome.stoppedBy,
          best: outcome.best,
          wallMs: outcome.wallMs,
        },
        'hyperparameter search finished',
      );
    }
    return outcomes;
  }
}

/** The current trace's id, when telemetry records one. */
function activeTraceId(): string | undefined {
  const context = trace.getActiveSpan()?.spanContext();
  return context && isSpanContextValid(context) ? context.traceId : undefined;
}
