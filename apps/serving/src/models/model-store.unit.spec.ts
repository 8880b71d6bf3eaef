import { WellKnownAlias } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import { type LoadedModel } from './loaded-model';
import { ModelStore } from './model-store';

const { CHAMPION, CHALLENGER } = WellKnownAlias;
const model = (pipelineId: string, version: number) => ({ pipelineId, version }) as LoadedModel;
const aliases = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe('ModelStore', () => {
  it('given two versions bound to two aliases, then resolves by alias, by number, and the champion by default', () => {
    const store = new ModelStore();
    store.add(model('p', 1));
    store.add(model('p', 2));
    store.bind('p', CHAMPION, 1);
    store.bind('p', CHALLENGER, 2);
    expect(store.resolve('p')?.version).toBe(1);
    expect(store.resolve('p', CHALLENGER)?.version).toBe(2);
    expect(store.resolve('p', '2')?.version).toBe(2);
    expect(store.resolve('p', '1')?.version).toBe(1);
    expect(store.resolve('p', '3')).toBeUndefined();
    expect(store.resolve('p', 'staging')).toBeUndefined();
    expect(store.resolve('q')).toBeUndefined();
    expect(store.versions('p')).toEqual([1, 2]);
  });

  it('given an alias move, then later reads see the new version while a reference taken before keeps the old one', () => {
    const store = new ModelStore();
    store.add(model('p', 1));
    store.bind('p', CHAMPION, 1);
    const inFlight = store.resolve('p');
    store.add(model('p', 2));
    expect(store.bind('p', CHAMPION, 2)).toBe(1);
    expect(inFlight?.version).toBe(1);
    expect(store.resolve('p')?.version).toBe(2);
  });

  it('refuses to bind an alias to a version that is not loaded', () => {
    const store = new ModelStore();
    expect(() => store.bind('p', CHAMPION, 4)).toThrow(/not loaded/);
  });

  it('given versions no alias points at any more, when pruned, then they are dropped and the rest kept', () => {
    const store = new ModelStore();
    for (const version of [1, 2, 3]) store.add(model('p', version));
    store.bind('p', CHAMPION, 3);
    store.bind('p', CHALLENGER, 2);
    store.unbind('p', CHALLENGER);
    expect(store.prune('p')).toEqual([1, 2]);
    expect(store.versions('p')).toEqual([3]);
    store.unbind('p', CHAMPION);
    expect(store.prune('p')).toEqual([3]);
    expect(store.has('p')).toBe(false);
  });

  it('is not ready before the start-up sync, nor while a wanted alias is neither served nor given up', () => {
    const store = new ModelStore();
    store.setWanted('p', aliases({ [CHAMPION]: 1 }));
    store.setWanted('q', aliases({ [CHAMPION]: 4, [CHALLENGER]: 5 }));
    store.add(model('p', 1));
    store.bind('p', CHAMPION, 1);
    expect(store.isReady()).toBe(false);
    store.markInitialSyncDone();
    expect(store.isReady()).toBe(false);
    store.markGivenUp('q', 4);
    expect(store.isReady()).toBe(false);
    store.add(model('q', 5));
    store.bind('q', CHALLENGER, 5);
    expect(store.isReady()).toBe(true);
    // A newer champion for q is pending again until it loads or is given up on.
    store.setWanted('q', aliases({ [CHAMPION]: 6, [CHALLENGER]: 5 }));
    expect(store.isReady()).toBe(false);
    store.add(model('q', 6));
    store.bind('q', CHAMPION, 6);
    expect(store.isReady()).toBe(true);
  });

  it('stays ready while an alias keeps serving its previous version after a failed load', () => {
    const store = new ModelStore();
    store.add(model('p', 1));
    store.bind('p', CHAMPION, 1);
    store.markInitialSyncDone();
    store.setWanted('p', aliases({ [CHAMPION]: 2 }));
    expect(store.isReady()).toBe(true);
    expect(store.resolve('p')?.version).toBe(1);
  });

  it('is ready with no aliases at all once the start-up sync is done', () => {
    const store = new ModelStore();
    store.setWanted('p', new Map());
    store.markInitialSyncDone();
    expect(store.isReady()).toBe(true);
  });

  it('says a model is loading before the start-up sync, and after it only for a reported alias or its version not loaded yet', () => {
    const store = new ModelStore();
    expect(store.loadingReason('anything')).toMatch(/start-up sync/);
    store.setWanted('p', aliases({ [CHAMPION]: 1, [CHALLENGER]: 2 }));
    store.markGivenUp('p', 2);
    store.markInitialSyncDone();
    expect(store.loadingReason('p')).toMatch(/version 1 of model "p" is still loading/);
    expect(store.loadingReason('p', '1')).toMatch(/still loading/);
    // Unknown models, aliases and versions are not coming: NOT_FOUND's business, as is a version given up on.
    expect(store.loadingReason('q')).toBeUndefined();
    expect(store.loadingReason('p', 'staging')).toBeUndefined();
    expect(store.loadingReason('p', '7')).toBeUndefined();
    expect(store.loadingReason('p', CHALLENGER)).toBeUndefined();
    store.add(model('p', 1));
    store.bind('p', CHAMPION, 1);
    expect(store.loadingReason('p')).toBeUndefined();
  });
});
