import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { type PipelineSpecV1 } from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { PackageCache } from '../drift/package-cache';
import { WindowCounterRepository } from '../drift/window-counter.repository';
import { type WindowTests } from '../drift/drift.service';
import { type VersionSetup } from './partition-state';
import { retryUntilDone } from './retry-until-done';

/** A version's setup and the pipeline's current drift tests. */
export interface ResolvedVersion {
  setup: VersionSetup;
  tests: WindowTests;
}

interface VersionRef {
  pipelineId: string;
  modelName: string;
  modelVersion: number;
}

const MAX_CACHED = 256;
/** A version whose reference could not be had is asked for again after this. */
const FAILURE_TTL_MS = 60_000;

/**
 * What the stream needs to know of a model version from outside the log: the pipeline's window size and PSI
 * threshold (its spec), the version's training reference (its package, via the registry), and how far an earlier
 * monitoring had numbered it. Resolved once per version and kept; an unknown pipeline is thrown (the record is
 * dead-lettered), a version without a usable package gets its failure (its windows fail), and what retrying can fix
 * (registry or store away) is retried until `signal` aborts.
 */
@Injectable()
export class VersionSetups implements OnModuleDestroy {
  private readonly logger: Logger;
  private readonly stopping = new AbortController();
  private readonly cache = new Map<string, { at: number; setup: Promise<VersionSetup> }>();

  constructor(
    private readonly infra: Infrastructure,
    private readonly packages: PackageCache,
    private readonly legacy: WindowCounterRepository,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'version-setups' });
  }

  onModuleDestroy(): void {
    this.stopping.abort(new Error('monitoring is stopping'));
  }

  /** The version's setup; rejects with the abort reason once `signal` aborts (the caller's partition moved away). */
  async resolve(ref: VersionRef, signal: AbortSignal): Promise<ResolvedVersion> {
    const { spec } = await retryUntilDone(() => this.infra.pipelines.getModelPipeline(ref.pipelineId), signal);
    const key = `${ref.pipelineId}|${ref.modelVersion}`;
    let entry = this.cache.get(key);
    if (!entry) {
      // Shared by every partition that meets the version, so it runs until the service stops, not the caller's signal.
      entry = { at: Date.now(), setup: this.load(ref, spec.monitoring, this.stopping.signal) };
      this.cache.set(key, entry);
      entry.setup.catch(() => this.cache.delete(key));
      if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    }
    const setup = await untilAborted(entry.setup, signal);
    if (setup.failure && Date.now() - entry.at > FAILURE_TTL_MS) this.cache.delete(key);
    const { psiThreshold, drift } = spec.monitoring;
    return { setup, tests: { psiThreshold, drift, predictions: drift?.predictions } };
  }

  private async load(
    ref: VersionRef,
    { windowRows, windowSeconds }: PipelineSpecV1['monitoring'],
    signal: AbortSignal,
  ): Promise<VersionSetup> {
    const legacy = await retryUntilDone(() => this.legacy.read(ref.pipelineId, ref.modelVersion), signal);
    const counted = windowSeconds
      ? { windowRows, windowMs: windowSeconds * 1_000 }
      : legacy
        ? { windowRows: legacy.windowRows, countBefore: legacy.count }
        : { windowRows };
    try {
      const pkg = await retryUntilDone(
        () => this.packages.get(ref),
        signal,
        (error, attempt) => {
          if (attempt === 1) {
            this.logger.warn(
              { ...ref, err: (error as Error).message },
              'fetching the model package failed; retrying with backoff',
            );
          }
        },
      );
      return { ...counted, reference: pkg.reference };
    } catch (error) {
      if (signal.aborted || isRetryable(error)) throw error;
      return { ...counted, failure: (error as Error).message };
    }
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
