import { memoryOnlineViewTables, OnlineViewStore } from '@keel/pipelines';
import { type Infrastructure } from '@keel/service-runtime';
import { ObjectTooLargeError } from '@keel/storage';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { type ServingConfig } from '../config';
import { type ModelStore } from '../models/model-store';
import { type OnlineViewIndex } from './compact-view';
import { OnlineViews, wantedViewKey } from './online-views';
import { OnlineViewOverLimitError, OnlineViewUnavailableError } from './online-view-unavailable';

const config = {
  SERVING_MAX_ONLINE_ENTITIES: 10,
  SERVING_MAX_ONLINE_VIEW_BYTES: 1_024,
  MODEL_RESYNC_INTERVAL_MS: 60_000,
} as ServingConfig;
type Recorded = Parameters<OnlineViewStore['record']>[0];
const hashA = 'a'.repeat(64);
const hashB = 'b'.repeat(64);

/** A record as features writes it, its view holding one entity named after it. */
const record = (name: string, extra: Record<string, unknown> = {}): Recorded =>
  ({
    pipelineId: 'churn',
    tablePipelineId: 'customer-features',
    upToDatasetVersionId: 'v1',
    sequence: 1,
    viewUri: `s3://features/${name}.json`,
    viewSha256: name.padEnd(64, '0'),
    entities: 1,
    updatedAt: new Date(0),
    ...extra,
  }) as unknown as Recorded;
const viewBytes = (uri: string) =>
  Buffer.from(JSON.stringify({ features: [], entities: { [uri.slice('s3://features/'.length, -5)]: [] } }));
/** The entity keys a loaded view holds (each view here holds one, named after it). */
const holds = (view: OnlineViewIndex | undefined, key: string) => (view?.entity(key) ?? -1) >= 0;

/** Serving's views over records in memory (the store is made on first use; a unit test hands it one). */
function onlineViews(infra: Partial<Infrastructure>, store: OnlineViewStore): OnlineViews {
  const views = new OnlineViews(infra as Infrastructure, config, pino({ level: 'silent' }));
  return Object.assign(views, { storeOf: store });
}
const consumerStub = () => ({ on: vi.fn(), start: vi.fn(async () => undefined) });

describe('OnlineViews', () => {
  it('given two views loading at once whose entities together exceed the budget, then only one is loaded', async () => {
    const store = new OnlineViewStore(memoryOnlineViewTables());
    await store.record(record('a', { joinSha256: hashA, entities: 6 }));
    await store.record(record('b', { joinSha256: hashB, entities: 6 }));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const entities = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${i}`, [[0, [1]]]]));
    const getVerified = vi.fn(async () => {
      await gate;
      return Buffer.from(JSON.stringify({ features: [{ name: 'x', type: 'number' }], entities }));
    });
    const views = onlineViews({ createConsumer: consumerStub, objects: { getVerified } } as never, store);
    const join = (joinSha256: string) => ({
      pipeline: 'customer-features',
      entityKey: 'k',
      features: ['x'],
      joinSha256,
    });
    const settled = Promise.allSettled([
      views.viewsFor('churn', [join(hashA)]),
      views.viewsFor('churn', [join(hashB)]),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    const results = await settled;
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(OnlineViewUnavailableError);
    expect(getVerified).toHaveBeenCalledTimes(1);
    expect(views.entities).toBe(6); // within SERVING_MAX_ONLINE_ENTITIES = 10
  });

  it('starts following view events only when a model with joins first asks for a view', async () => {
    const consumer = { on: vi.fn(), start: vi.fn(async () => undefined) };
    const infra = { createConsumer: vi.fn(() => consumer) } as unknown as Infrastructure;
    const views = onlineViews(infra, new OnlineViewStore(memoryOnlineViewTables()));
    views.onApplicationBootstrap();
    try {
      expect(infra.createConsumer).not.toHaveBeenCalled(); // serving without joins: no extra group, no wait
      expect(await views.viewsFor('churn', [])).toEqual(new Map());
      expect(infra.createConsumer).not.toHaveBeenCalled();

      const join = {
        pipeline: 'customer-features',
        entityKey: 'customer_id',
        features: ['balance'],
        joinSha256: hashA,
      };
      await expect(views.viewsFor('churn', [join])).rejects.toThrow(OnlineViewUnavailableError);
      expect(infra.createConsumer).toHaveBeenCalledTimes(1);
      expect(consumer.start).toHaveBeenCalledTimes(1);
      await expect(views.viewsFor('churn', [join])).rejects.toThrow(OnlineViewUnavailableError);
      expect(infra.createConsumer).toHaveBeenCalledTimes(1);
    } finally {
      views.onApplicationShutdown();
    }
  });

  it('reads the current view again when an update arrives during a load, instead of waiting for the resync', async () => {
    const store = new OnlineViewStore(memoryOnlineViewTables());
    await store.record(record('v1', { joinSha256: hashA }));
    let release!: () => void;
    const firstRead = new Promise<void>((resolve) => (release = resolve));
    const getVerified = vi.fn(async ({ uri }: { uri: string }) => {
      if (uri.endsWith('v1.json')) await firstRead;
      return viewBytes(uri);
    });
    const views = onlineViews({ createConsumer: vi.fn(consumerStub), objects: { getVerified } } as never, store);
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'], joinSha256: hashA };
    try {
      const asked = views.viewsFor('churn', [join]);
      await vi.waitFor(() => expect(getVerified).toHaveBeenCalledTimes(1));
      // features recorded a new view; its event arrives during v1's load
      await store.record(record('v2', { sequence: 2, joinSha256: hashA }));
      const event = views.refresh(wantedViewKey('churn', join));
      release();
      await event;
      await asked;
      expect(getVerified).toHaveBeenCalledTimes(2);
      const loaded = await views.viewsFor('churn', [join]);
      expect(holds(loaded.get('customer-features'), 'v2')).toBe(true);
    } finally {
      views.onApplicationShutdown();
    }
  });

  it("gives a champion and a challenger trained on different join definitions each its definition's view", async () => {
    const store = new OnlineViewStore(memoryOnlineViewTables());
    await store.record(record('champion', { joinSha256: hashA }));
    await store.record(record('challenger', { joinSha256: hashB }));
    const getVerified = async ({ uri }: { uri: string }) => viewBytes(uri);
    const views = onlineViews({ createConsumer: vi.fn(consumerStub), objects: { getVerified } } as never, store);
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] };
    try {
      const champion = await views.viewsFor('churn', [{ ...join, joinSha256: hashA }]);
      const challenger = await views.viewsFor('churn', [{ ...join, features: ['segment'], joinSha256: hashB }]);
      expect(holds(champion.get('customer-features'), 'champion')).toBe(true);
      expect(holds(challenger.get('customer-features'), 'challenger')).toBe(true);
      expect(views.entities).toBe(2);
    } finally {
      views.onApplicationShutdown();
    }
  });

  it("serves a model trained before hashes from its pipeline's view that has its features, sharing it", async () => {
    const tables = memoryOnlineViewTables();
    const store = new OnlineViewStore(tables);
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] };
    await store.record(
      record('current', { joinSha256: hashA, join: { entityKey: 'customer_id', features: ['balance'] } }),
    );
    // `churn|customer-features`, written before views were keyed by definition (no version, no definition)
    await tables.heads.insert({ ...record('legacy', { sequence: 3 }), _id: 'churn|customer-features' });
    const getVerified = vi.fn(async ({ uri }: { uri: string }) => viewBytes(uri));
    const views = onlineViews({ createConsumer: vi.fn(consumerStub), objects: { getVerified } } as never, store);
    try {
      const old = await views.viewsFor('churn', [join]);
      const current = await views.viewsFor('churn', [{ ...join, joinSha256: hashA }]);
      expect(holds(old.get('customer-features'), 'current')).toBe(true);
      expect(current.get('customer-features')).toBe(old.get('customer-features')); // one copy in memory
      expect(getVerified).toHaveBeenCalledTimes(1);
      expect(views.entities).toBe(1);
    } finally {
      views.onApplicationShutdown();
    }
  });

  it('does not load a view over SERVING_MAX_ONLINE_VIEW_BYTES, nor download it again until it moves', async () => {
    const store = new OnlineViewStore(memoryOnlineViewTables());
    await store.record(record('big', { joinSha256: hashA }));
    const getVerified = vi.fn(async ({ uri, maxBytes }: { uri: string; maxBytes?: number }) => {
      if (maxBytes !== undefined && maxBytes < 2_000) throw new ObjectTooLargeError(uri, maxBytes);
      return viewBytes(uri);
    });
    const views = onlineViews({ createConsumer: vi.fn(consumerStub), objects: { getVerified } } as never, store);
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'], joinSha256: hashA };
    try {
      const refused = await views.viewsFor('churn', [join]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(OnlineViewOverLimitError);
      expect((refused as OnlineViewOverLimitError).message).toMatch(
        /"customer-features" for model "churn" \(join aaaaaaaaaaaa, table version 1\).*s3:\/\/features\/big\.json is over SERVING_MAX_ONLINE_VIEW_BYTES = 1024 bytes/,
      );
      await views.refresh(wantedViewKey('churn', join));
      expect(getVerified).toHaveBeenCalledTimes(1);
      await store.record(record('smaller', { sequence: 2, joinSha256: hashA }));
      await views.refresh(wantedViewKey('churn', join));
      expect(getVerified).toHaveBeenCalledTimes(2); // a new version of the view is tried
    } finally {
      views.onApplicationShutdown();
    }
  });

  it('answers a view over SERVING_MAX_ONLINE_ENTITIES with RESOURCE_EXHAUSTED naming it, logged once, until it fits', async () => {
    const store = new OnlineViewStore(memoryOnlineViewTables());
    await store.record(record('huge', { joinSha256: hashA, entities: 11 }));
    const logged: string[] = [];
    const logger = pino(
      { level: 'error' },
      { write: (line: string) => logged.push((JSON.parse(line) as { msg: string }).msg) },
    );
    const getVerified = vi.fn(async ({ uri }: { uri: string }) => viewBytes(uri));
    const views = new OnlineViews(
      { createConsumer: vi.fn(consumerStub), objects: { getVerified } } as unknown as Infrastructure,
      config,
      logger,
    );
    Object.assign(views, { storeOf: store });
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'], joinSha256: hashA };
    const key = wantedViewKey('churn', join);
    try {
      const refused = await views.viewsFor('churn', [join]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(OnlineViewOverLimitError);
      expect((refused as OnlineViewOverLimitError).limit).toBe('SERVING_MAX_ONLINE_ENTITIES');
      expect((refused as Error).message).toMatch(
        /"customer-features" for model "churn" \(join aaaaaaaaaaaa, table version 1\) is not loaded: 11 entities, with 0 held by other views, over SERVING_MAX_ONLINE_ENTITIES = 10/,
      );
      // resyncs and later calls find it so again: the same answer, not logged again, nothing downloaded
      await views.refresh(key);
      await views.refresh(key);
      await expect(views.viewsFor('churn', [join])).rejects.toThrow(OnlineViewOverLimitError);
      expect(logged).toEqual(['online view not loaded: over SERVING_MAX_ONLINE_ENTITIES']);
      expect(getVerified).not.toHaveBeenCalled();
      // a version of the view within the budget loads and serves
      await store.record(record('small', { sequence: 2, joinSha256: hashA }));
      await views.refresh(key);
      expect(holds((await views.viewsFor('churn', [join])).get('customer-features'), 'small')).toBe(true);
    } finally {
      views.onApplicationShutdown();
    }
  });

  it('answers a newer version of an over-limit view that fits but fails to load UNAVAILABLE, not the old refusal', async () => {
    const store = new OnlineViewStore(memoryOnlineViewTables());
    await store.record(record('huge', { joinSha256: hashA, entities: 11 }));
    const getVerified = vi.fn(async (): Promise<Buffer> => {
      throw new Error('object store down');
    });
    const views = onlineViews({ createConsumer: vi.fn(consumerStub), objects: { getVerified } } as never, store);
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'], joinSha256: hashA };
    try {
      await expect(views.viewsFor('churn', [join])).rejects.toThrow(OnlineViewOverLimitError);
      await store.record(record('fits', { sequence: 2, joinSha256: hashA }));
      await views.refresh(wantedViewKey('churn', join)).catch(() => undefined);
      const refused = await views.viewsFor('churn', [join]).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(OnlineViewUnavailableError);
      expect(refused).not.toBeInstanceOf(OnlineViewOverLimitError);
    } finally {
      views.onApplicationShutdown();
    }
  });

  it('unloads the views no served model version reads any more (undeployed, retired)', async () => {
    const store = new OnlineViewStore(memoryOnlineViewTables());
    await store.record(record('champion', { joinSha256: hashA }));
    await store.record(record('retired', { joinSha256: hashB }));
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] };
    const served = [{ pipelineId: 'churn', pkg: { signature: { joins: [{ ...join, joinSha256: hashA }] } } }];
    const models = { all: () => served } as unknown as ModelStore;
    const getVerified = async ({ uri }: { uri: string }) => viewBytes(uri);
    const views = new OnlineViews(
      { createConsumer: vi.fn(consumerStub), objects: { getVerified } } as unknown as Infrastructure,
      config,
      pino({ level: 'silent' }),
      models,
    );
    Object.assign(views, { storeOf: store });
    try {
      await views.viewsFor('churn', [{ ...join, joinSha256: hashA }]);
      await views.viewsFor('churn', [{ ...join, joinSha256: hashB }]); // a version since undeployed
      expect(views.entities).toBe(2);
      views.unloadUnused();
      expect(views.entities).toBe(1);
      served.length = 0; // the champion retired too
      views.unloadUnused();
      expect(views.entities).toBe(0);
    } finally {
      views.onApplicationShutdown();
    }
  });
});
