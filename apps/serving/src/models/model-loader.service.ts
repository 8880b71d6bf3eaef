import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { isFeatureTable } from '@keel/contracts';
import { type ModelVersion } from '@keel/grpc-api';
import { backoffDelay, isRetryable } from '@keel/messaging';
import { fetchModelPackage, InvalidModelPackageError } from '@keel/model-package';
import { type ModelRegistryApi, REGISTRY_CLIENT, RegistryNotFoundError } from '@keel/registry-client';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type Logger } from 'pino';
import { type ServingConfig } from '../config';
import { LoadedModel } from './loaded-model';
import { ModelMetrics } from './model-metrics';
import { ModelStore } from './model-store';

/** What one sync did, for callers and tests. */
export type SyncOutcome = 'no-aliases' | 'unchanged' | 'loaded' | 'failed';

/**
 * Keeps each model's served versions equal to its aliases in the registry: every alias the registry reports for the
 * model (`champion`, and any other it has, `challenger`, `staging` or user-defined) is served, each by the version
 * it points at, and requests pick one by alias or by number. The rule is deliberately simple: on any signal
 * (start-up, an alias-changed event for any alias of the model) ask the registry for all the model's aliases and load
 * what they name if it is not loaded, so rollbacks, out-of-order and duplicate events all converge on the registry's
 * truth. A version no alias points at any more is unloaded.
 *
 * Events can be missed (the registry down when one arrived, a broker outage, a restart between a move and its event),
 * so every model is also resynced periodically, and at once when the registry answers again after failing. A version
 * that fails to load for a reason that can pass (storage or registry unreachable) is retried by those resyncs until
 * it loads; only a package that is itself unusable (it will never load) is given up on.
 */
@Injectable()
export class ModelLoaderService implements OnApplicationShutdown {
  private readonly logger: Logger;
  /** Per-pipeline queue: syncs of one pipeline never overlap, so two loads cannot race to the swap. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private stopped = false;
  /** Wakes the periodic resync's sleep at shutdown. */
  private readonly stopping = new AbortController();

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
   * Resolves the model's aliases and loads the versions they name that are not loaded. Rejects only when the registry
   * cannot answer (the caller retries). A version that fails to load is retried with backoff; if it still fails, its
   * aliases keep serving their previous versions, and the next resync tries again, unless the package itself is
   * unusable (then it is given up on, logged and counted).
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
    // A feature table has no model to serve.
    const ids = pipelines.filter((p) => !isFeatureTable(p.spec)).map((p) => p.pipelineId);
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

  /**
   * After the start-up sync: resyncs every model each MODEL_RESYNC_INTERVAL_MS; after a failed round, sooner (capped
   * backoff), so the first round that succeeds, the reconnect, converges without waiting a whole interval. Runs until
   * shutdown; never rejects.
   */
  async resyncPeriodically(): Promise<void> {
    let failedRounds = 0;
    while (!this.stopped) {
      const interval = this.config.MODEL_RESYNC_INTERVAL_MS;
      const delayMs =
        failedRounds === 0
          ? interval
          : backoffDelay({ initialDelayMs: Math.min(1_000, interval), maxDelayMs: interval }, failedRounds);
      try {
        await sleep(delayMs, undefined, { signal: this.stopping.signal });
      } catch {
        return; // shutdown
      }
      try {
        await this.resyncAll();
        if (failedRounds > 0) this.logger.info({ failedRounds }, 'registry reachable again; every model resynced');
        failedRounds = 0;
      } catch (error) {
        failedRounds++;
        const log = failedRounds === 1 ? 'warn' : 'debug';
        this.logger[log]({ failedRounds, err: (error as Error).message }, 'model resync failed; retrying sooner');
      }
    }
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.stopping.abort();
  }

  /**
   * One resync round over the applied pipelines and every model served here (a pipeline store outage must not stop
   * the models already served from being resynced). Rejects with the first failure after trying every model.
   */
  private async resyncAll(): Promise<void> {
    const names = new Set(this.store.names());
    let failure: unknown;
    try {
      for (const pipeline of await this.infra.pipelines.list()) {
        if (!isFeatureTable(pipeline.spec)) names.add(pipeline.pipelineId);
      }
    } catch (error) {
      failure = error;
    }
    for (const name of names) {
      if (this.stopped) return;
      try {
        await this.sync(name);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  private async syncNow(pipelineId: string): Promise<SyncOutcome> {
    const wanted = await this.aliasesInRegistry(pipelineId);
    this.store.setWanted(pipelineId, new Map([...wanted].map(([alias, version]) => [alias, version.version])));
    let outcome: SyncOutcome = wanted.size === 0 ? 'no-aliases' : 'unchanged';
    const attempted = new Map<number, boolean>();
    for (const [alias, version] of wanted) {
      let ready = attempted.get(version.version);
      if (ready === undefined) {
        const loaded = this.store.version(pipelineId, version.version);
        ready = !!loaded && loaded.source.packageUri === version.packageUri;
        if (!ready && this.store.isGivenUp(pipelineId, version.version)) {
          ready = false;
          outcome = 'failed';
        } else if (!ready) {
          ready = await this.loadWithRetries(version);
          if (outcome !== 'failed') outcome = ready ? 'loaded' : 'failed';
        }
        attempted.set(version.version, ready);
      }
      if (!ready) continue;
      const previous = this.store.bind(pipelineId, alias, version.version);
      if (previous !== version.version) {
        this.metrics.servedVersion.set({ model: pipelineId, alias }, version.version);
        this.logger.info(
          { model: pipelineId, alias, version: version.version, previousVersion: previous },
          'alias bound',
        );
      }
    }
    for (const alias of this.store.aliases(pipelineId).keys()) {
      if (wanted.has(alias)) continue;
      this.store.unbind(pipelineId, alias);
      this.metrics.servedVersion.remove({ model: pipelineId, alias });
      this.logger.info({ model: pipelineId, alias }, 'alias no longer set in the registry; unbound');
    }
    const unloaded = this.store.prune(pipelineId);
    if (unloaded.length > 0)
      this.logger.info({ model: pipelineId, versions: unloaded }, 'versions no alias serves unloaded');
    return outcome;
  }

  /** Alias → version of every alias the registry reports for the model (none for a model it does not know). */
  private async aliasesInRegistry(pipelineId: string): Promise<Map<string, ModelVersion>> {
    let versions: ModelVersion[];
    try {
      // Serving's model name is the pipeline id, as the registry names models.
      versions = await this.registry.listModelVersions(pipelineId);
    } catch (error) {
      if (error instanceof RegistryNotFoundError) return new Map();
      throw error;
    }
    return new Map(versions.flatMap((version) => version.aliases.map((alias) => [alias, version] as const)));
  }

  /**
   * Loads one version, retrying with backoff; false when it did not load. A package that is unusable (it parses
   * wrong, fails its smoke prediction, or its bytes are not what the registry recorded) is given up on at once: no
   * retry can change it. Anything else is left for the next resync.
   */
  private async loadWithRetries(version: ModelVersion): Promise<boolean> {
    const { pipelineId } = version;
    const attempts = this.config.MODEL_LOAD_ATTEMPTS;
    for (let attempt = 1; attempt <= attempts && !this.stopped; attempt++) {
      try {
        this.store.add(await this.load(version));
        this.metrics.loads.inc({ model: pipelineId, outcome: 'success' });
        this.logger.info({ model: pipelineId, version: version.version }, 'model version loaded');
        return true;
      } catch (error) {
        this.metrics.loadFailures.inc({ model: pipelineId });
        const permanent = !isRetryable(error);
        this.logger.error(
          {
            model: pipelineId,
            version: version.version,
            uri: version.packageUri,
            attempt,
            attempts,
            permanent,
            err: (error as Error).message,
          },
          'model load failed; the aliases keep serving their previous versions',
        );
        if (permanent) {
          this.metrics.loads.inc({ model: pipelineId, outcome: 'failure' });
          this.store.markGivenUp(pipelineId, version.version);
          this.logger.error(
            {
              model: pipelineId,
              version: version.version,
              serving: Object.fromEntries(this.store.aliases(pipelineId)),
            },
            'giving up on an unusable model package',
          );
          return false;
        }
        if (attempt < attempts) {
          const { MODEL_LOAD_BACKOFF_MS: initialDelayMs, MODEL_RESYNC_INTERVAL_MS: maxDelayMs } = this.config;
          await sleep(backoffDelay({ initialDelayMs, maxDelayMs }, attempt));
        }
      }
    }
    this.logger.warn(
      { model: pipelineId, version: version.version, retryInMs: this.config.MODEL_RESYNC_INTERVAL_MS },
      'model version not loaded yet; the next resync tries again',
    );
    return false;
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
      try {
        return LoadedModel.build(version.pipelineId, pkg, {
          version: version.version,
          packageUri: version.packageUri,
          packageSha256: version.packageSha256,
        });
      } catch (error) {
        // Verified bytes that do not compile or predict never will: the package is unusable, not the moment.
        throw new InvalidModelPackageError(version.packageUri, (error as Error).message);
      }
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
