import { featureTableFixture, pipelineSpecYaml, stackEndpoints, uniqueName } from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotAModelPipelineError, UnknownPipelineError } from './errors';
import { parsePipelineSpec, PipelineStore } from './pipeline-store';

describe('PipelineStore against the real Mongo-compatible server', () => {
  let connection: Connection;

  beforeAll(async () => {
    connection = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
  });
  afterAll(async () => connection?.close());

  it('appends a version only when the spec changes, and reads the newest', async () => {
    const store = new PipelineStore(connection, 0);
    await store.init();
    const id = uniqueName('spec');
    const spec = parsePipelineSpec(pipelineSpecYaml('adult-income', id));
    expect((await store.apply(spec)).stored.version).toBe(1);
    expect(await store.apply(spec)).toMatchObject({ created: false, stored: { version: 1 } });
    const changed = { ...spec, monitoring: { ...spec.monitoring, windowRows: 300 } };
    expect((await store.apply(changed)).stored.version).toBe(2);
    expect((await store.getModelPipeline(id)).spec.monitoring.windowRows).toBe(300);
    expect((await store.list()).some((stored) => stored.pipelineId === id)).toBe(true);
  });

  it('stores a feature table and reads it back as one; the model pipeline reader refuses it', async () => {
    const store = new PipelineStore(connection, 0);
    const id = uniqueName('table');
    const table = featureTableFixture({ id });
    expect((await store.apply(table)).stored.version).toBe(1);
    expect((await store.get(id)).spec).toEqual(table);
    await expect(store.getModelPipeline(id)).rejects.toBeInstanceOf(NotAModelPipelineError);
    expect(() => parsePipelineSpec(table)).toThrow(/kind: a FeatureTable, where a model pipeline is needed/);
  });

  it('compares specs in canonical form: another key order or a read-back spec re-applied is not a new version', async () => {
    const store = new PipelineStore(connection, 0);
    const id = uniqueName('canonical');
    const spec = parsePipelineSpec(pipelineSpecYaml('bike-demand', id));
    const withShift = parsePipelineSpec({
      ...spec,
      validation: { ...spec.validation, shift: { against: 'previous' } },
    });
    // As a build that wrote validation's keys in another order stored it (shift before bias, the rest after).
    const { shift, bias, ...rest } = withShift.validation;
    const reordered = { ...withShift, validation: { shift, bias, ...rest } } as typeof withShift;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(withShift));
    expect((await store.apply(reordered)).stored.version).toBe(1);
    expect(await store.apply(withShift)).toMatchObject({ created: false, stored: { version: 1 } });
    expect(await store.apply((await store.get(id)).spec)).toMatchObject({ created: false, stored: { version: 1 } });
  });

  it("keeps a pipeline's kind inside the compare-and-set: a table of a model pipeline's id is refused", async () => {
    const store = new PipelineStore(connection, 0);
    const id = uniqueName('kind');
    await store.apply(parsePipelineSpec(pipelineSpecYaml('adult-income', id)));
    const table = featureTableFixture({ id });
    await expect(store.apply(table)).rejects.toThrow(
      /kind: pipeline ".*" is a Pipeline; a FeatureTable of the same id/,
    );
    expect((await store.get(id)).version).toBe(1);
  });

  it('gives every concurrent apply from two registries its own version, none lost', async () => {
    const other = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    try {
      const stores = [new PipelineStore(connection, 0), new PipelineStore(other, 0)];
      const id = uniqueName('spec');
      const base = parsePipelineSpec(pipelineSpecYaml('adult-income', id));
      const rounds = 10;
      // given two registries applying a different spec each, at the same moments
      const applied = await Promise.all(
        stores.map(async (store, s) => {
          const versions: number[] = [];
          for (let round = 0; round < rounds; round++) {
            const windowRows = 1_000 + 100 * round + s;
            const { stored, created } = await store.apply({
              ...base,
              monitoring: { ...base.monitoring, windowRows },
            });
            expect(created).toBe(true);
            versions.push(stored.version);
          }
          return versions;
        }),
      );
      // then each got distinct version numbers, and the head is the last of them all
      const all = applied.flat().sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: 2 * rounds }, (_, i) => i + 1));
      expect((await stores[0].get(id)).version).toBe(2 * rounds);
      expect(await connection.collection('pipeline_specs').countDocuments({ pipelineId: id })).toBe(2 * rounds);
    } finally {
      await other.close();
    }
  });

  it('names an unknown pipeline', async () => {
    await expect(new PipelineStore(connection).get(uniqueName('nobody'))).rejects.toBeInstanceOf(UnknownPipelineError);
  });
});
