import { stackEndpoints, uniqueName } from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnlineViewStore } from './online-views';

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
});
