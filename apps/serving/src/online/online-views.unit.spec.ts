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
});
