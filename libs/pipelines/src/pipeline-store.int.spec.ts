import { pipelineSpecYaml, stackEndpoints, uniqueName } from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnknownPipelineError } from './errors';
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
    expect((await store.get(id)).spec.monitoring.windowRows).toBe(300);
    expect((await store.list()).some((stored) => stored.pipelineId === id)).toBe(true);
  });

  it('names an unknown pipeline', async () => {
    await expect(new PipelineStore(connection).get(uniqueName('nobody'))).rejects.toBeInstanceOf(UnknownPipelineError);
  });
});
