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

  it('records a view only over one of an earlier table version or another join definition, never moving back', async () => {
    const [a, b] = connections.map((connection) => new OnlineViewStore(connection));
    const id = uniqueName('views');
    expect(await a.record(view(id, 3))).toBe(true);
    expect(await a.record(view(id, 3))).toBe(false); // this very one
    expect(await b.record(view(id, 2))).toBe(false); // an earlier one
    expect((await a.current(id, 'table'))?.sequence).toBe(3);
    // the same version rebuilt for another definition of the join replaces it
    expect(await b.record({ ...view(id, 3), joinSha256: 'f'.repeat(64) })).toBe(true);
    expect(await a.record({ ...view(id, 3), joinSha256: 'f'.repeat(64) })).toBe(false);
    expect((await a.current(id, 'table'))?.joinSha256).toBe('f'.repeat(64));
  });
});
