import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { WellKnownAlias } from '@keel/contracts';
import { type ModelVersion } from '@keel/grpc-api';
import { fetchModelPackage } from '@keel/model-package';
import { type ModelRegistryApi, REGISTRY_CLIENT } from '@keel/registry-client';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type Logger } from 'pino';
import { type ServingConfig } from '../config';
import { LoadedModel } from './loaded-model';
import { ModelMetrics } from './model-metrics';
import { ModelStore } from './model-store';

/** What one sync did, for callers and tests. */
export type SyncOutcome = 'no-champion' | 'unchanged' | 'loaded' | 'failed';

/**
 * Keeps each pipeline's served model equal to its registry champion. The rule is deliberately simple: on any
 * signal (start-up, alias-changed event) ask the registry and load what it names if it differs from what is loaded,
 * so rollbacks, out-of-order and duplicate events all converge on the registry's truth.
 */
@Injectable()
export class ModelLoaderService implements OnApplicationShutdown {
  private readonly logger: Logger;
  /** Per-pipeline queue: syncs of one pipeline never overlap, so two loads cannot race to the swap. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly infra: Infrastructure,
    @Inject(REGISTRY_CLIENT) private readonly registry: ModelRegistryApi,
    private readonly store: ModelStore,
    private readonly metrics: ModelMetrics,
    @Inject(SERVICE_CONFIG) private readonly config: ServingConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'model-loader' });
  }

  /**
   * Resolves the pipeline's champion and loads it if it is not what serves. Rejects only when the registry cannot
   * answer (the caller retries); a version that fails to load is retried with backoff, then given up on, logged
   * and counted, while the previous model keeps serving.
   */
  sync(pipelineId: string): Promise<SyncOutcome> {
    const previous = this.queues.get(pipelineId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.syncNow(pipelineId));
    this.queues.set(pipelineId, next);
    void next
      .finally(() => {
        if (this.queues.get(pipelineId) === next) this.queues.delete(pipelineId);
      })
      .catch(() => undefined);
    return next;
  }

  /**
   * Start-up sync of every applied pipeline. Pipelines the registry cannot answer for are retried in the
   * background with capped backoff; ServerReady turns true once every one has been resolved.
   */
  async syncAll(): Promise<void> {
    const pipelines = await this.withRetry('list pipelines', () => this.infra.pipelines.list());
    if (!pipelines) return;
    const ids = pipelines.map((p) => p.pipelineId);
    // A few at a time: the store may hold many pipelines and each sync is a registry call plus a download.
    const concurrency = 4;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, ids.length) }, async () => {
        while (next < ids.length) {
          const pipelineId = ids[next++];
          await this.withRetry(`sync ${pipelineId}`, () => this.sync(pipelineId));
        }
      }),
    );
    if (!this.stopped) {
      this.store.markInitialSyncDone();
      this.logger.info({ pipelines: ids.length, loaded: this.store.all().length }, 'initial model sync done');
    }
  }

  onApplicationShutdown(): void {
    this.stopped = true;
  }

  private async syncNow(pipelineId: string): Promise<SyncOutcome> {
    // Serving's model name is the pipeline id, as the registry names models.
    const champion = await this.registry.findAlias(pipelineId, WellKnownAlias.CHAMPION);
    this.store.setChampion(pipelineId, champion?.version);
    if (!champion) return 'no-champion';
    const current = this.store.get(pipelineId);
    if (current && current.version === champion.version && current.source.packageUri === champion.packageUri) {
      return 'unchanged';
    }
    return this.loadWithRetries(champion);
  }

  private async loadWithRetries(champion: ModelVersion): Promise<SyncOutcome> {
    const { pipelineId, version } = champion;
    const attempts = this.config.MODEL_LOAD_ATTEMPTS;
    for (let attempt = 1; attempt <= attempts && !this.stopped; attempt++) {
      try {
        const model = await this.load(champion);
        const previous = this.store.swap(model);
        this.metrics.loads.inc({ model: pipelineId, outcome: 'success' });
        this.metrics.servedVersion.set({ model: pipelineId }, version);
        this.logger.info({ model: pipelineId, version, previousVersion: previous?.version }, 'model swapped in');
        return 'loaded';
      } catch (error) {
        this.metrics.loadFailures.inc({ model: pipelineId });
        this.logger.error(
          { model: pipelineId, version, uri: champion.packageUri, attempt, attempts, err: (error as Error).message },
          'model load failed; the previous model keeps serving',
        );
        if (attempt < attempts) await sleep(this.config.MODEL_LOAD_BACKOFF_MS * 2 ** (attempt - 1));
      }
    }
    this.metrics.loads.inc({ model: pipelineId, outcome: 'failure' });
    this.store.markGivenUp(pipelineId, version);
    this.logger.error(
      { model: pipelineId, version, servingVersion: this.store.get(pipelineId)?.version ?? null },
      'giving up on model version after every retry',
    );
    return 'failed';
  }

  /** Download (sha256-verified), parse, compile and smoke-test one version, inside a 'load model' span. */
  private load(version: ModelVersion): Promise<LoadedModel> {
    const attributes = {
      [KeelAttr.MODEL_NAME]: version.pipelineId,
      [KeelAttr.MODEL_VERSION]: version.version,
      [KeelAttr.PACKAGE_URI]: version.packageUri,
    };
    return withSpan('load model', attributes, async () => {
      const { pkg } = await fetchModelPackage(this.infra.objects, version);
      return LoadedModel.build(version.pipelineId, pkg, {
        version: version.version,
        packageUri: version.packageUri,
        packageSha256: version.packageSha256,
      });
    });
  }

  /** Retries a start-up step until it succeeds or the service stops (registry or MongoDB not up yet). */
  private async withRetry<T>(what: string, run: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        return await run();
      } catch (error) {
        const delayMs = Math.min(30_000, 500 * 2 ** Math.min(attempt - 1, 6));
        this.logger.warn({ what, attempt, delayMs, err: (error as Error).message }, 'start-up sync step failed');
        await sleep(delayMs);
      }
    }
    return undefined;
  }
}
