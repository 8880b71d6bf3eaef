import { describe, expect, it } from 'vitest';
import { type LoadedModel } from './loaded-model';
import { ModelStore } from './model-store';

const model = (pipelineId: string, version: number) => ({ pipelineId, version }) as LoadedModel;

describe('ModelStore', () => {
  it('given a swap, then later reads see the new model while a reference taken before keeps the old one', () => {
    const store = new ModelStore();
    store.swap(model('p', 1));
    const inFlight = store.get('p');
    expect(store.swap(model('p', 2))?.version).toBe(1);
    expect(inFlight?.version).toBe(1);
    expect(store.get('p')?.version).toBe(2);
  });

  it('is not ready before the start-up sync, nor while a champion is neither loaded nor given up', () => {
    const store = new ModelStore();
    store.setChampion('p', 1);
    store.setChampion('q', 4);
    store.swap(model('p', 1));
    expect(store.isReady()).toBe(false);
    store.markInitialSyncDone();
    expect(store.isReady()).toBe(false);
    store.markGivenUp('q', 4);
    expect(store.isReady()).toBe(true);
    // A newer champion for q is pending again until it loads or is given up on.
    store.setChampion('q', 5);
    expect(store.isReady()).toBe(false);
    store.swap(model('q', 5));
    expect(store.isReady()).toBe(true);
  });

  it('is ready with no champions at all once the start-up sync is done', () => {
    const store = new ModelStore();
    store.setChampion('p', undefined);
    store.markInitialSyncDone();
    expect(store.isReady()).toBe(true);
  });
});
