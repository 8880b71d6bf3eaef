import { describe, expect, it } from 'vitest';
import {
  memoryOnlineViewTables,
  ONLINE_VIEW_TOMBSTONE_RETENTION_MS,
  onlineViewId,
  type OnlineViewRecord,
  OnlineViewStore,
  viewForUnhashedJoin,
} from './online-views';

describe('online view records', () => {
  it('are keyed per joining pipeline, table and join definition (a record from before hashes: without one)', () => {
    expect(onlineViewId('churn', 'customers', 'a'.repeat(64))).toBe(`churn|customers|${'a'.repeat(64)}`);
    expect(onlineViewId('churn', 'customers')).toBe('churn|customers');
  });

  it('give a model trained before hashes the newest view with its key and features, else the unhashed record', () => {
    const record = (sequence: number, join?: OnlineViewRecord['join'], pipelineId = 'churn') =>
      ({ pipelineId, tablePipelineId: 'customers', sequence, updatedAt: new Date(0), join }) as OnlineViewRecord;
    const legacy = record(9);
    const both = record(2, { entityKey: 'customer_id', features: ['segment', 'balance'] });
    const newer = record(3, { entityKey: 'customer_id', features: ['balance', 'segment', 'age'] });
    const fewer = record(4, { entityKey: 'customer_id', features: ['balance'] });
    const otherKey = record(5, { entityKey: 'account_id', features: ['balance', 'segment'] });
    const otherPipeline = record(6, { entityKey: 'customer_id', features: ['balance', 'segment'] }, 'fraud');
    const join = { pipeline: 'customers', entityKey: 'customer_id', features: ['balance', 'segment'] };
    const all = [legacy, both, newer, fewer, otherKey, otherPipeline];
    expect(viewForUnhashedJoin(all, 'churn', join)).toBe(newer);
    expect(viewForUnhashedJoin([legacy, fewer, otherKey], 'churn', join)).toBe(legacy);
    expect(viewForUnhashedJoin([fewer], 'churn', join)).toBeUndefined();
  });

  it('give a model trained before hashes no frozen view: not the unhashed record once the table has a later view', () => {
    const record = (sequence: number, join?: OnlineViewRecord['join'], pipelineId = 'churn') =>
      ({ pipelineId, tablePipelineId: 'customers', sequence, updatedAt: new Date(0), join }) as OnlineViewRecord;
    const legacy = record(3); // never rebuilt: features cannot tell its definition
    const join = { pipeline: 'customers', entityKey: 'customer_id', features: ['balance', 'segment'] };
    expect(
      viewForUnhashedJoin([legacy, record(4, { entityKey: 'customer_id', features: ['balance'] })], 'churn', join),
    ).toBeUndefined();
    expect(
      viewForUnhashedJoin([legacy, record(5, { entityKey: 'customer_id', features: ['x'] }, 'fraud')], 'churn', join),
    ).toBeUndefined();
    expect(
      viewForUnhashedJoin([legacy, record(3, { entityKey: 'customer_id', features: ['balance'] })], 'churn', join),
    ).toBe(legacy);
  });

  describe('recorded by compare-and-set (two features replicas at once)', () => {
    const hash = 'e'.repeat(64);
    const view = (sequence: number, sha = String(sequence)) =>
      ({
        pipelineId: 'churn',
        tablePipelineId: 'customers',
        upToDatasetVersionId: `v${sequence}`,
        sequence,
        viewUri: `s3://features/churn/${sha}.json`,
        viewSha256: sha.padStart(64, '0'),
        joinSha256: hash,
        entities: sequence,
      }) as Parameters<OnlineViewStore['record']>[0];

    it('lets exactly one of two builds of the same table version win, and never moves back', async () => {
      for (let round = 0; round < 20; round++) {
        const tables = memoryOnlineViewTables();
        const [a, b] = [new OnlineViewStore(tables), new OnlineViewStore(tables)];
        const won = await Promise.all([a.record(view(3, 'a')), b.record(view(3, 'b'))]);
        expect(won.filter(Boolean)).toHaveLength(1);
        const raced = await Promise.all([a.record(view(5)), b.record(view(4))]);
        expect(raced[0]).toBe(true); // the later version is current whichever wrote first
        expect((await b.current('churn', 'customers', hash))?.sequence).toBe(5);
        expect(await a.record(view(5))).toBe(false); // this very one
        expect(await a.record(view(2))).toBe(false); // an earlier one
      }
    });

    it('moves to the same table version built from more versions (one validated after a higher-numbered one), never to fewer', async () => {
      const store = new OnlineViewStore(memoryOnlineViewTables());
      expect(await store.record({ ...view(6, 'a'), versionCount: 2 })).toBe(true);
      expect(await store.record({ ...view(6, 'b'), versionCount: 3 })).toBe(true);
      expect(await store.record({ ...view(6, 'a'), versionCount: 2 })).toBe(false);
      expect(await store.record({ ...view(6, 'b'), versionCount: 3 })).toBe(false);
      expect(await store.current('churn', 'customers', hash)).toMatchObject({ sequence: 6, versionCount: 3 });
    });

    it('reads a record from before revisions (a head without a version) as it is', async () => {
      const tables = memoryOnlineViewTables();
      await tables.heads.insert({ ...view(7), _id: 'churn|customers', joinSha256: undefined, updatedAt: new Date(0) });
      const store = new OnlineViewStore(tables);
      expect((await store.current('churn', 'customers'))?.sequence).toBe(7);
      expect((await store.ofTable('customers')).map((record) => record.sequence)).toEqual([7]);
    });
  });

  it("sweeps the tombstones of superseded views older than the retention, a bounded batch at a time, the views' reads and writes unaffected", async () => {
    const tables = memoryOnlineViewTables();
    const store = new OnlineViewStore(tables);
    const hash = 'a'.repeat(64);
    const view = (sequence: number) =>
      ({
        pipelineId: 'churn',
        tablePipelineId: 'customers',
        upToDatasetVersionId: `v${sequence}`,
        sequence,
        viewUri: `s3://features/v${sequence}.json`,
        viewSha256: String(sequence).padStart(64, '0'),
        joinSha256: hash,
        entities: 1,
      }) as Parameters<OnlineViewStore['record']>[0];
    for (let sequence = 1; sequence <= 7; sequence++) await store.record(view(sequence));
    const revisionIds = () => [...tables.revisions.documents.keys()].map((id) => id.split('@')[1]);
    expect(revisionIds()).toEqual(['1', '2', '3', '4', '5', '6', '7']); // 1-3 tombstones, 4-7 keep their state
    expect(await store.sweepTombstones(new Date())).toBe(0); // younger than the retention
    const later = new Date(Date.now() + ONLINE_VIEW_TOMBSTONE_RETENTION_MS + 1_000);
    expect(await store.sweepTombstones(later, { limit: 2 })).toBe(2);
    expect(await store.sweepTombstones(later, { limit: 2 })).toBe(1);
    expect(await store.sweepTombstones(later, { limit: 2 })).toBe(0); // idempotent: nothing left to remove
    expect(revisionIds()).toEqual(['4', '5', '6', '7']);
    expect((await store.current('churn', 'customers', hash))?.sequence).toBe(7);
    expect(await store.record(view(8))).toBe(true);
    expect((await store.current('churn', 'customers', hash))?.sequence).toBe(8);
  });
});
