import { WellKnownAlias } from '@keel/contracts';
import { ModelVersion } from '@keel/grpc-api';
import { createModelDocument, fitTransform, trainLogisticRegression, TransformRunner } from '@keel/ml-models';
import {
  type ModelPackage,
  outputsForTask,
  PACKAGE_FORMAT,
  PACKAGE_VERSION,
  serializePackage,
} from '@keel/model-package';
import { type ModelRegistryApi, RegistryNotFoundError, RegistryUnavailableError } from '@keel/registry-client';
import { type Infrastructure, type MetricsService } from '@keel/service-runtime';
import { featureTableFixture } from '@keel/testing';
import { status } from '@grpc/grpc-js';
import pino from 'pino';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type ServingConfig } from '../config';
import { ModelLoaderService } from './model-loader.service';
import { ModelMetrics } from './model-metrics';
import { ModelStore } from './model-store';

const { CHAMPION, CHALLENGER } = WellKnownAlias;

/** A real (tiny) package of pipeline `p`; `l2` makes each one's predictions distinct. */
function packageBytes(l2: number): Buffer {
  const table = { x: [0, 1, 2, 3, 4, 5] };
  const transform = fitTransform(table, [{ name: 'x', kind: 'numeric', standardize: true }]);
  const model = trainLogisticRegression(new TransformRunner(transform).table(table), [0, 0, 0, 1, 1, 1], { l2 });
  const pkg: ModelPackage = {
    format: PACKAGE_FORMAT,
    version: PACKAGE_VERSION,
    pipelineId: 'p',
    modelName: 'p',
    task: 'binary-classification',
    target: { column: 'y', positive: 'yes', negative: 'no' },
    signature: {
      inputs: [{ name: 'x', datatype: 'FP64', kind: 'numeric', nullable: false }],
      outputs: outputsForTask('binary-classification'),
    },
    model: createModelDocument({ model, preprocessing: transform, classes: ['no', 'yes'] }),
    metrics: {},
    lineage: {} as ModelPackage['lineage'],
    reference: {},
  };
  return serializePackage(pkg);
}

describe('ModelLoaderService', () => {
  /** Package bytes by URI: what the object store holds. */
  let objects: Map<string, Buffer>;
  let reads: string[];
  /** When true, reads fail as an unreachable object store does. */
  let storageDown: boolean;
  /** alias → version in the registry for model `p`; undefined: the registry does not answer. */
  let registryAliases: Map<string, number> | undefined;
  let store: ModelStore;
  let loader: ModelLoaderService;
  /** The pipelines applied: model pipeline `p` (the stub of a spec is all the loader reads). */
  let applied: { pipelineId: string; spec: { kind: string } }[];
  /** Every model the registry was asked about, in order. */
  let asked: string[];

  const version = (number: number) =>
    ModelVersion.fromPartial({
      modelName: 'p',
      pipelineId: 'p',
      version: number,
      packageUri: `s3://keel-models/p/v${number}.json`,
      packageSha256: String(number).repeat(64).slice(0, 64),
    });

  beforeEach(() => {
    objects = new Map([1, 2, 3].map((n) => [version(n).packageUri, packageBytes(n)]));
    objects.set(version(4).packageUri, Buffer.from('{"format":"keel.package"')); // does not parse
    reads = [];
    storageDown = false;
    registryAliases = new Map();
    applied = [{ pipelineId: 'p', spec: { kind: 'Pipeline' } }];
    asked = [];
    const registry = {
      listModelVersions: async (modelName: string) => {
        asked.push(modelName);
        if (!registryAliases) throw new RegistryUnavailableError('registry down', status.UNAVAILABLE);
        if (modelName !== 'p') throw new RegistryNotFoundError(`model "${modelName}" not found`);
        return [1, 2, 3, 4].map((n) => ({
          ...version(n),
          aliases: [...registryAliases!].filter(([, v]) => v === n).map(([alias]) => alias),
        }));
      },
    } as ModelRegistryApi;
    const infra = {
      objects: {
        getVerified: async ({ uri }: { uri: string }) => {
          reads.push(uri);
          if (storageDown) throw Object.assign(new Error('connect ECONNREFUSED'), { retryable: true });
          return objects.get(uri)!;
        },
      },
      pipelines: { list: async () => applied },
    } as unknown as Infrastructure;
    store = new ModelStore();
    const config = { MODEL_LOAD_ATTEMPTS: 2, MODEL_LOAD_BACKOFF_MS: 0, MODEL_RESYNC_INTERVAL_MS: 5 } as ServingConfig;
    const metrics = new ModelMetrics({ registry: new Registry() } as MetricsService);
    loader = new ModelLoaderService(infra, registry, store, metrics, config, pino({ level: 'silent' }));
  });

  it('given two aliases on two versions, when synced, then both are loaded and each alias serves its version', async () => {
    registryAliases = new Map([
      [CHAMPION, 1],
      [CHALLENGER, 2],
    ]);
    expect(await loader.sync('p')).toBe('loaded');
    expect(store.resolve('p')?.version).toBe(1);
    expect(store.resolve('p', CHALLENGER)?.version).toBe(2);
    expect(await loader.sync('p')).toBe('unchanged');
    expect(reads).toHaveLength(2);
  });

  it('given two aliases on one version, then it is read and loaded once', async () => {
    registryAliases = new Map([
      [CHAMPION, 3],
      ['staging', 3],
    ]);
    expect(await loader.sync('p')).toBe('loaded');
    expect(reads).toEqual([version(3).packageUri]);
    expect(store.resolve('p', 'staging')).toBe(store.resolve('p'));
  });

  it('given an alias moved to an unusable package, then the alias keeps its previous version and it is never read again', async () => {
    registryAliases = new Map([[CHAMPION, 1]]);
    await loader.sync('p');
    registryAliases.set(CHAMPION, 4);
    expect(await loader.sync('p')).toBe('failed');
    expect(await loader.sync('p')).toBe('failed');
    expect(reads.filter((uri) => uri === version(4).packageUri)).toHaveLength(1);
    expect(store.resolve('p')?.version).toBe(1);
    expect(store.resolve('p', '4')).toBeUndefined();
    store.markInitialSyncDone();
    expect(store.isReady()).toBe(true);
  });

  it('given an alias moved on or removed, then the versions no alias serves are unloaded', async () => {
    registryAliases = new Map([
      [CHAMPION, 1],
      [CHALLENGER, 2],
    ]);
    await loader.sync('p');
    registryAliases = new Map([[CHAMPION, 2]]);
    await loader.sync('p');
    expect(store.versions('p')).toEqual([2]);
    expect(store.resolve('p', CHALLENGER)).toBeUndefined();
    expect(store.resolve('p')?.version).toBe(2);
  });

  it('given a model the registry does not know, then nothing is served; given no answer, then the sync rejects', async () => {
    expect(await loader.sync('unknown')).toBe('no-aliases');
    registryAliases = undefined;
    await expect(loader.sync('p')).rejects.toBeInstanceOf(RegistryUnavailableError);
  });

  it('given storage down while an alias moves, then the replica is not ready until a later sync loads the version', async () => {
    registryAliases = new Map([[CHAMPION, 2]]);
    storageDown = true;
    expect(await loader.sync('p')).toBe('failed');
    store.markInitialSyncDone();
    expect(store.isReady()).toBe(false);
    expect(store.isGivenUp('p', 2)).toBe(false);
    storageDown = false;
    expect(await loader.sync('p')).toBe('loaded');
    expect(store.resolve('p')?.version).toBe(2);
    expect(store.isReady()).toBe(true);
  });

  it('given an alias moved without an event while the registry was down, then the periodic resync converges once it answers', async () => {
    registryAliases = new Map([[CHAMPION, 1]]);
    await loader.syncAll();
    const resyncing = loader.resyncPeriodically();
    registryAliases = undefined;
    await new Promise((resolve) => setTimeout(resolve, 30));
    registryAliases = new Map([[CHAMPION, 3]]);
    await vi.waitFor(() => expect(store.resolve('p')?.version).toBe(3), { timeout: 5_000, interval: 5 });
    loader.onApplicationShutdown();
    await resyncing;
    expect(store.versions('p')).toEqual([3]);
  });

  it('given a feature table applied beside the model, then neither the start-up sync nor a resync asks about it', async () => {
    applied = [{ pipelineId: 'customers', spec: featureTableFixture({ id: 'customers' }) }, ...applied];
    registryAliases = new Map([[CHAMPION, 1]]);
    await loader.syncAll();
    expect(asked).toEqual(['p']);
    expect(store.isReady()).toBe(true);
    const resyncing = loader.resyncPeriodically();
    await vi.waitFor(() => expect(asked).toEqual(['p', 'p']), { timeout: 5_000, interval: 5 });
    loader.onApplicationShutdown();
    await resyncing;
    expect(asked.filter((name) => name !== 'p')).toEqual([]);
    expect(store.names()).toEqual(['p']);
  });
});
