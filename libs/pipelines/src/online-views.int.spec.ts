import { stackEndpoints, uniqueName } from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ONLINE_VIEW_REVISIONS_COLLECTION, ONLINE_VIEW_TOMBSTONE_RETENTION_MS, OnlineViewStore } from './online-views';

describe('OnlineViewStore against the real Mongo-compatible server', () => {
  let connections: Connection[] = [];

  beforeAll(async () => {
    connections = await Promise.all([0, 1].map(() => mongoose.createConnection(stackEndpoints.mongoUrl).asPromise()));
  });
  afterAll(async () => Promise.all(connections.map((connection) => connection.close())));

  const view = (pipelineId: string, sequence: number) =>
    ({
      pipelineId,
      tablePipelineId: 'table',
      upToDatasetVersionId: `v${sequence}`,
      sequence,
      viewUri: `s3://features/${pipelineId}/v${sequence}.json`,
      viewSha256: String(sequence).padStart(64, '0'),
      entities: sequence,
    }) as Parameters<OnlineViewStore['record']>[0];

  it('records a view only over one of an earlier table version, never moving back, apart per join definition', async () => {
    const [a, b] = connections.map((connection) => new OnlineViewStore(connection));
    const id = uniqueName('views');
    const hash = 'e'.repeat(64);
    expect(await a.record({ ...view(id, 3), joinSha256: hash })).toBe(true);
    expect(await a.record({ ...view(id, 3), joinSha256: hash })).toBe(false); // this very one
    expect(await b.record({ ...view(id, 2), joinSha256: hash })).toBe(false); // an earlier one
    expect((await a.current(id, 'table', hash))?.sequence).toBe(3);
    // another definition of the join has a view of its own, at its own version
    const other = 'f'.repeat(64);
    expect(await b.record({ ...view(id, 2), joinSha256: other })).toBe(true);
    expect((await a.current(id, 'table', other))?.sequence).toBe(2);
    expect((await a.current(id, 'table', hash))?.sequence).toBe(3);
    expect((await a.ofTable('table')).filter((record) => record.pipelineId === id)).toHaveLength(2);
  });

  it('lets exactly one of two replicas recording the same table version win (insert-claimed revisions)', async () => {
    const [a, b] = connections.map((connection) => new OnlineViewStore(connection));
    const hash = 'd'.repeat(64);
    for (let round = 0; round < 5; round++) {
      const id = uniqueName('race');
      const won = await Promise.all([
        a.record({ ...view(id, 4), joinSha256: hash }),
        b.record({ ...view(id, 4), viewSha256: 'c'.repeat(64), joinSha256: hash }),
      ]);
      expect(won.filter(Boolean)).toHaveLength(1);
      expect((await b.current(id, 'table', hash))?.viewSha256).toBe(won[0] ? view(id, 4).viewSha256 : 'c'.repeat(64));
    }
  });

  it('sweeps old tombstones from two replicas at once, removing each once and nothing a view still needs', async () => {
    const [a, b] = connections.map((connection) => new OnlineViewStore(connection));
    const id = uniqueName('sweep');
    const hash = 'b'.repeat(64);
    for (let sequence = 1; sequence <= 7; sequence++) await a.record({ ...view(id, sequence), joinSha256: hash });
    const revisions = connections[0].collection<{ _id: string }>(ONLINE_VIEW_REVISIONS_COLLECTION);
    const mine = async () =>
      (await revisions.find({ pipelineId: id }, { projection: { _id: 1 } }).toArray()).map((r) => r._id.split('@')[1]);
    const kept = await mine(); // the tombstones have no fields but their id, version and when they were superseded
    expect(kept.sort()).toEqual(['4', '5', '6', '7']);
    const revisionIds = Array.from({ length: 9 }, (_, i) => `${id}|table|${hash}@${i + 1}`);
    const count = (filter: object = {}) => revisions.countDocuments({ _id: { $in: revisionIds }, ...filter });
    const tombstones = await count({ superseded: true });
    expect(tombstones).toBe(3);
    // within the retention: none removed
    await Promise.all([a.sweepTombstones(), b.sweepTombstones()]);
    expect(await count()).toBe(7);
    // past it: both replicas sweep in bounded batches until nothing is left (other tests' old tombstones too)
    const later = new Date(Date.now() + ONLINE_VIEW_TOMBSTONE_RETENTION_MS + 60_000);
    for (let round = 0; round < 1_000; round++) {
      const removed = await Promise.all([
        a.sweepTombstones(later, { limit: 2 }),
        b.sweepTombstones(later, { limit: 2 }),
      ]);
      if (removed[0] + removed[1] === 0) break;
    }
    expect(await count()).toBe(4);
    expect((await b.current(id, 'table', hash))?.sequence).toBe(7);
    expect(await b.record({ ...view(id, 8), joinSha256: hash })).toBe(true);
    expect((await a.current(id, 'table', hash))?.sequence).toBe(8);
  });
});
