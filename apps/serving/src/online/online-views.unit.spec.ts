import { type Infrastructure } from '@keel/service-runtime';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { type ServingConfig } from '../config';
import { OnlineViews } from './online-views';
import { OnlineViewUnavailableError } from './online-view-unavailable';

describe('OnlineViews', () => {
  it('starts following view events only when a model with joins first asks for a view', async () => {
    const consumer = { on: vi.fn(), start: vi.fn(async () => undefined) };
    const noView = { lean: () => ({ exec: async () => null }) };
    const infra = {
      createConsumer: vi.fn(() => consumer),
      mongo: { models: { OnlineView: { findById: () => noView } } },
    } as unknown as Infrastructure;
    const config = { SERVING_MAX_ONLINE_ENTITIES: 10, MODEL_RESYNC_INTERVAL_MS: 60_000 } as ServingConfig;
    const views = new OnlineViews(infra, config, pino({ level: 'silent' }));
    views.onApplicationBootstrap();
    try {
      expect(infra.createConsumer).not.toHaveBeenCalled(); // serving without joins: no extra group, no wait
      expect(await views.viewsFor('churn', [])).toEqual(new Map());
      expect(infra.createConsumer).not.toHaveBeenCalled();

      const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] };
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
    const record = (sequence: number) => ({
      sequence,
      viewUri: `s3://features/v${sequence}.json`,
      viewSha256: `${sequence}`,
      entities: 1,
    });
    let current = record(1);
    const view = (sequence: number) =>
      Buffer.from(JSON.stringify({ features: [], entities: { [`v${sequence}`]: [] } }));
    let release!: () => void;
    const firstRead = new Promise<void>((resolve) => (release = resolve));
    const getVerified = vi.fn(async ({ viewSha256: _unused, uri }: { uri: string; viewSha256?: string }) => {
      if (uri.endsWith('v1.json')) await firstRead;
      return view(uri.endsWith('v1.json') ? 1 : 2);
    });
    const infra = {
      createConsumer: vi.fn(() => ({ on: vi.fn(), start: vi.fn(async () => undefined) })),
      mongo: { models: { OnlineView: { findById: () => ({ lean: () => ({ exec: async () => current }) }) } } },
      objects: { getVerified },
    } as unknown as Infrastructure;
    const config = { SERVING_MAX_ONLINE_ENTITIES: 10, MODEL_RESYNC_INTERVAL_MS: 60_000 } as ServingConfig;
    const views = new OnlineViews(infra, config, pino({ level: 'silent' }));
    const join = { pipeline: 'customer-features', entityKey: 'customer_id', features: ['balance'] };
    try {
      const asked = views.viewsFor('churn', [join]);
      await vi.waitFor(() => expect(getVerified).toHaveBeenCalledTimes(1));
      current = record(2); // features recorded a new view; its event arrives while v1 is still loading
      const event = views.refresh('churn', 'customer-features');
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
});
