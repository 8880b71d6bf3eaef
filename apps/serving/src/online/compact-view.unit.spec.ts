import { type OnlineView, onlineValuesAt } from '@keel/datasets';
import { WorkerPool } from '@keel/workers';
import { afterAll, describe, expect, it } from 'vitest';
import { compactViewTask, OnlineViewIndex } from './compact-view';

/** A view of `entities` entities with rows at random times, some values missing, keys of varied length. */
function randomView(entities: number, seed = 7): OnlineView {
  let state = seed;
  const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const view: OnlineView = {
    format: 'keel.online-view',
    version: 1,
    features: [
      { name: 'balance', type: 'number' },
      { name: 'segment', type: 'string' },
    ],
    entities: {},
  };
  for (let i = 0; i < entities; i++) {
    const rows = 1 + Math.floor(random() * 3);
    let time = Math.floor(random() * 1_000);
    view.entities[`c${i}${'x'.repeat(i % 5)}`] = Array.from({ length: rows }, () => {
      time += Math.floor(random() * 500);
      return [time, [random() < 0.2 ? null : Math.round(random() * 1_000), random() < 0.2 ? null : `s${i % 4}`]];
    });
  }
  return view;
}

describe('OnlineViewIndex', () => {
  it('answers every entity, time and maxAge as the JSON view does (onlineValuesAt), and no other key', () => {
    const view = randomView(2_000);
    const index = OnlineViewIndex.of(view);
    expect(index.entities).toBe(2_000);
    for (const [key, rows] of Object.entries(view.entities)) {
      for (const now of [0, 500, 1_200, 5_000]) {
        for (const maxAgeMs of [undefined, 300]) {
          const expected = onlineValuesAt(rows, now, maxAgeMs);
          const row = index.rowAt(key, now, maxAgeMs);
          expect(row < 0 ? undefined : [index.value(0, row), index.value(1, row)]).toEqual(expected);
        }
      }
    }
    for (const absent of ['', 'c', 'c2', 'c1xx', 'nobody', 'constructor', '__proto__']) {
      expect(index.entity(absent)).toBe(-1);
    }
  });

  it('holds an empty view', () => {
    const index = OnlineViewIndex.of({ ...randomView(0), entities: {} });
    expect(index.entities).toBe(0);
    expect(index.rowAt('a', 1)).toBe(-1);
  });

  describe('on a worker thread', { timeout: 60_000 }, () => {
    const workers = new WorkerPool({ threads: 1 });
    afterAll(() => workers.close());

    it("parses a view's JSON bytes into the same index, its arrays moved back", async () => {
      const view = randomView(500);
      const parts = await workers.run(compactViewTask, Buffer.from(JSON.stringify(view)));
      const index = new OnlineViewIndex(parts);
      const inPlace = OnlineViewIndex.of(view);
      for (const key of Object.keys(view.entities)) {
        const row = index.rowAt(key, 2_000);
        expect(row).toBe(inPlace.rowAt(key, 2_000));
        if (row >= 0)
          expect([index.value(0, row), index.value(1, row)]).toEqual([inPlace.value(0, row), inPlace.value(1, row)]);
      }
    });
  });
});
