import { describe, expect, it } from 'vitest';
import { MemoryKeyedTable } from './keyed-table';
import { VersionedDocuments } from './versioned-documents';

type Counter = { count: number };

function documents(keepStates?: number) {
  const revisions = new MemoryKeyedTable();
  const heads = new MemoryKeyedTable();
  return { revisions, heads, store: new VersionedDocuments<Counter>({ revisions, heads, keepStates }) };
}

describe('VersionedDocuments', () => {
  it('moves a state version by version and reads the latest', async () => {
    const { store } = documents();
    expect(await store.read('c')).toBeNull();
    expect(await store.write('c', 0, { count: 1 })).toBe(true);
    expect(await store.write('c', 1, { count: 2 })).toBe(true);
    expect(await store.read('c')).toEqual({ version: 2, state: { count: 2 } });
  });

  it('lets exactly one of two writers that read the same version win', async () => {
    const { store } = documents();
    await store.write('c', 0, { count: 1 });
    const results = await Promise.all([store.write('c', 1, { count: 10 }), store.write('c', 1, { count: 20 })]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.read('c'))?.state.count).toBe(results[0] ? 10 : 20);
  });

  it('applies concurrent read-change-write updates once each, none lost', async () => {
    const { store } = documents(2);
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.update('c', (current) => ({ count: (current?.state.count ?? 0) + 1 }), 100),
      ),
    );
    expect(await store.read('c')).toEqual({ version: 20, state: { count: 20 } });
  });

  it('reads past a head that lags behind the revisions and raises it', async () => {
    const { store, heads } = documents();
    await store.write('c', 0, { count: 1 });
    await store.write('c', 1, { count: 2 });
    // given a head left behind (a writer crashed after its revision, or a late writer lowered it)
    heads.documents.set('c', { _id: 'c', count: 1, version: 1 });
    // then the revisions are the truth
    expect(await store.read('c')).toEqual({ version: 2, state: { count: 2 } });
    expect(heads.documents.get('c')).toMatchObject({ version: 2, count: 2 });
  });

  it('keeps the state of the latest revisions only, and a tombstone stops a stale writer from reclaiming one', async () => {
    const { store, revisions } = documents(2);
    for (let version = 0; version < 5; version++) await store.write('c', version, { count: version + 1 });
    expect(revisions.documents.get('c@1')).toEqual({
      _id: 'c@1',
      version: 1,
      superseded: true,
      supersededAt: expect.any(Date),
    });
    expect(revisions.documents.get('c@4')).toMatchObject({ count: 4 });
    expect(await store.write('c', 0, { count: 99 })).toBe(false);
    expect((await store.read('c'))?.state.count).toBe(5);
  });

  it('leaves the state alone when the change returns null', async () => {
    const { store } = documents();
    await store.write('c', 0, { count: 3 });
    const outcome = await store.update('c', () => null);
    expect(outcome).toEqual({ current: { version: 1, state: { count: 3 } }, changed: false });
  });
});
