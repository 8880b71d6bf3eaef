import { type Infrastructure } from '@keel/service-runtime';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { type ServingConfig } from '../config';
import { OnlineViews, wantedViewKey } from './online-views';
import { OnlineViewUnavailableError } from './online-view-unavailable';

const config = { SERVING_MAX_ONLINE_ENTITIES: 10, MODEL_RESYNC_INTERVAL_MS: 60_000 } as ServingConfig;
const hashA = 'a'.repeat(64);
const hashB = 'b'.repeat(64);

/** A record as features writes it, its view holding one entity named after it. */
const record = (name: string, extra: Record<string, unknown> = {}) => ({
  pipelineId: 'churn',
  tablePipelineId: 'customer-features',
  sequence: 1,
  viewUri: `s3://features/${name}.json`,
  viewSha256: name.padEnd(64, '0'),
  entities: 1,
  updatedAt: new Date(0),
  ...extra,
});
const viewBytes = (uri: string) =>
  Buffer.from(JSON.stringify({ features: [], entities: { [uri.slice('s3://features/'.length, -5)]: [] } }));
const lean = <T>(value: () => T) => ({ lean: () => ({ exec: async () => value() }) });

describe('OnlineViews', () => {
  it('starts following view events only when a model with joins first asks for a view', async () => {
    const consumer = { on: vi.fn(), start: vi.fn(async () => undefined) };
    const infra = {
      createConsumer: vi.fn(() => consumer),
      mongo: { models: { OnlineView: { findById: () => lean(() => null) } } },
    } as unknown as Infrastructure;
    const views = new OnlineViews(infra, config, pino({ level: 'silent' }));
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
    let current = record('v1');
    let release!: () => void;
    const firstRead = new Promise<void>((resolve) => (release = resolve));
    const getVerified = vi.fn(async ({ uri }: { uri: string }) => {
      if (uri.endsWith('v1.json')) await firstRead;
      return viewBytes(uri);
    });
    const infra = {
      createConsumer: vi.fn(() => ({ on: vi.fn(), start: vi.fn(async () => undefined) })),
      mongo: { models: { OnlineView: { findById: () => lean(() => current) } } },
      objects: { getVerified },
    } as unknown as Infrastructure;
    const views = new OnlineViews(infra, config, pino({ level: 'silent' }));
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'], joinSha256: hashA };
    try {
      const asked = views.viewsFor('churn', [join]);
      await vi.waitFor(() => expect(getVerified).toHaveBeenCalledTimes(1));
      current = record('v2', { sequence: 2 }); // features recorded a new view; its event arrives during v1's load
      const event = views.refresh(wantedViewKey('churn', join));
      release();
      await event;
      await asked;
      expect(getVerified).toHaveBeenCalledTimes(2);
      const loaded = await views.viewsFor('churn', [join]);
      expect(Object.keys(loaded.get('customer-features')!.entities)).toEqual(['v2']);
    } finally {
      views.onApplicationShutdown();
    }
  });

  it("gives a champion and a challenger trained on different join definitions each its definition's view", async () => {
    const records = new Map([
      [`churn|customer-features|${hashA}`, record('champion', { joinSha256: hashA })],
      [`churn|customer-features|${hashB}`, record('challenger', { joinSha256: hashB })],
    ]);
    const infra = {
      createConsumer: vi.fn(() => ({ on: vi.fn(), start: vi.fn(async () => undefined) })),
      mongo: { models: { OnlineView: { findById: (id: string) => lean(() => records.get(id) ?? null) } } },
      objects: { getVerified: async ({ uri }: { uri: string }) => viewBytes(uri) },
    } as unknown as Infrastructure;
    const views = new OnlineViews(infra, config, pino({ level: 'silent' }));
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] };
    try {
      const champion = await views.viewsFor('churn', [{ ...join, joinSha256: hashA }]);
      const challenger = await views.viewsFor('churn', [{ ...join, features: ['segment'], joinSha256: hashB }]);
      expect(Object.keys(champion.get('customer-features')!.entities)).toEqual(['champion']);
      expect(Object.keys(challenger.get('customer-features')!.entities)).toEqual(['challenger']);
      expect(views.entities).toBe(2);
    } finally {
      views.onApplicationShutdown();
    }
  });

  it("serves a model trained before hashes from its pipeline's view that has its features, sharing it", async () => {
    const covering = record('current', {
      joinSha256: hashA,
      join: { entityKey: 'customer_id', features: ['balance'] },
    });
    const legacy = record('legacy', { sequence: 3 }); // `churn|customer-features`, from before views were keyed
    const getVerified = vi.fn(async ({ uri }: { uri: string }) => viewBytes(uri));
    const infra = {
      createConsumer: vi.fn(() => ({ on: vi.fn(), start: vi.fn(async () => undefined) })),
      mongo: {
        models: {
          OnlineView: {
            findById: (id: string) => lean(() => (id.endsWith(hashA) ? covering : null)),
            find: () => lean(() => [legacy, covering]),
          },
        },
      },
      objects: { getVerified },
    } as unknown as Infrastructure;
    const views = new OnlineViews(infra, config, pino({ level: 'silent' }));
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] };
    try {
      const old = await views.viewsFor('churn', [join]);
      const current = await views.viewsFor('churn', [{ ...join, joinSha256: hashA }]);
      expect(Object.keys(old.get('customer-features')!.entities)).toEqual(['current']);
      expect(current.get('customer-features')).toBe(old.get('customer-features')); // one copy in memory
      expect(getVerified).toHaveBeenCalledTimes(1);
      expect(views.entities).toBe(1);
    } finally {
      views.onApplicationShutdown();
    }
  });
});
