import { stackEndpoints, uniqueName } from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mongoKeyedTable } from './keyed-table';
import { Leases } from './leases';
import { VersionedDocuments } from './versioned-documents';

/** Two claimants on two connections, as two replicas would be, racing on the real Mongo-compatible server. */
describe('coordination against the real Mongo-compatible server', () => {
  let connections: Connection[];

  beforeAll(async () => {
    connections = await Promise.all(
      [0, 1].map(() => mongoose.createConnection(stackEndpoints.mongoUrl, { maxPoolSize: 4 }).asPromise()),
    );
  });
  afterAll(async () => Promise.all((connections ?? []).map((connection) => connection.close())));

  it('gives each epoch of a lease to exactly one of two racing claimants, over many rounds', async () => {
    const name = uniqueName('lease');
    const claimants = connections.map((connection, i) => ({
      holder: `replica-${i}`,
      leases: new Leases(mongoKeyedTable(connection, 'coordination_leases')),
    }));
    const rounds = 40;
    const winners: string[] = [];
    for (let round = 1; round <= rounds; round++) {
      const claims = await Promise.all(claimants.map(({ leases, holder }) => leases.acquire(name, holder, 30_000)));
      const won = claims.filter((claim) => claim !== null);
      expect(won).toHaveLength(1);
      expect(won[0]!.epoch).toBe(round);
      winners.push(won[0]!.holder);
      await claimants.find(({ holder }) => holder === won[0]!.holder)!.leases.release(won[0]!);
    }
    expect(winners).toHaveLength(rounds);
  });

  it('takes an expired lease over with the next epoch, once, and the old holder cannot renew it', async () => {
    const name = uniqueName('lease');
    const [a, b] = connections.map((connection) => new Leases(mongoKeyedTable(connection, 'coordination_leases')));
    const first = (await a.acquire(name, 'a', 200))!;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const takeovers = await Promise.all([b.acquire(name, 'b', 30_000), a.acquire(name, 'a2', 30_000)]);
    expect(takeovers.filter((claim) => claim !== null).map((claim) => claim!.epoch)).toEqual([2]);
    expect(await a.renew(first, 30_000)).toBeNull();
  });

  it('applies every read-change-write of two racing writers exactly once', async () => {
    const name = uniqueName('counter');
    const [x, y] = connections.map(
      (connection) =>
        new VersionedDocuments<{ count: number; writers: string }>({
          revisions: mongoKeyedTable(connection, 'coordination_test_revisions'),
          heads: mongoKeyedTable(connection, 'coordination_test_heads'),
          keepStates: 4,
        }),
    );
    const increments = 30;
    const run = (store: typeof x, writer: string) =>
      (async () => {
        for (let i = 0; i < increments; i++) {
          await store.update(
            name,
            (current) => ({
              count: (current?.state.count ?? 0) + 1,
              writers: `${current?.state.writers ?? ''}${writer}`,
            }),
            500,
          );
        }
      })();
    await Promise.all([run(x, 'x'), run(y, 'y')]);
    const final = await x.read(name);
    expect(final?.version).toBe(2 * increments);
    expect(final?.state.count).toBe(2 * increments);
    expect(final?.state.writers.replace(/y/g, '')).toHaveLength(increments);
  });
});
