import { type Infrastructure } from '@keel/service-runtime';
import { mongoUrlForDatabase, uniqueName } from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AliasMoveDraft, AliasesRepository } from './aliases.repository';

/** Two registries (two connections) moving the same alias at the same moments, on the real Mongo-compatible server. */
describe('alias moves from two registries at once', () => {
  let connections: Connection[];
  let registries: AliasesRepository[];

  beforeAll(async () => {
    connections = await Promise.all(
      [0, 1].map(() => mongoose.createConnection(mongoUrlForDatabase('keel_it_registry')).asPromise()),
    );
    // The repository needs only the service's Mongo connection.
    registries = connections.map((mongo) => new AliasesRepository({ mongo } as unknown as Infrastructure));
    await registries[0].onModuleInit();
  });
  afterAll(async () => Promise.all((connections ?? []).map((connection) => connection.close())));

  const draft = (modelName: string, version: number): AliasMoveDraft => ({
    modelName,
    alias: 'staging',
    version,
    reason: `to v${version}`,
    changedBy: 'int-test',
    changedAt: new Date(),
  });

  it('records every move to a different version once, each on top of the one before', async () => {
    const modelName = uniqueName('alias-race');
    const rounds = 12;
    for (let round = 1; round <= rounds; round++) {
      const outcomes = await Promise.all(
        registries.map((registry, r) => registry.move(draft(modelName, 10 * round + r))),
      );
      expect(outcomes.map((outcome) => outcome.moved)).toEqual([true, true]);
    }
    const history = (await registries[0].history(modelName, 'staging')).sort((a, b) => a.sequence - b.sequence);
    expect(history.map((move) => move.sequence)).toEqual(Array.from({ length: 2 * rounds }, (_, i) => i + 1));
    for (let i = 1; i < history.length; i++) expect(history[i].previousVersion).toBe(history[i - 1].version);
    for (const registry of registries) {
      expect((await registry.get(modelName, 'staging'))?.version).toBe(history[history.length - 1].version);
    }
  });

  it('records one move when both registries move the alias to the same version', async () => {
    const modelName = uniqueName('alias-race');
    for (let version = 1; version <= 8; version++) {
      const outcomes = await Promise.all(registries.map((registry) => registry.move(draft(modelName, version))));
      expect(outcomes.filter((outcome) => outcome.moved)).toHaveLength(1);
      expect(outcomes.map((outcome) => outcome.move.sequence)).toEqual([version, version]);
    }
    expect(await registries[1].history(modelName, 'staging')).toHaveLength(8);
  });
});
