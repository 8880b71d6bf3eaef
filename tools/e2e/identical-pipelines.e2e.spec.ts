/**
 * Two pipelines with different ids, fed identical data under identical specs, on the real stack and all seven
 * services: each trains and serves its own champion. Every id of an effect names its pipeline, so the second
 * pipeline's events are never taken for redeliveries of the first one's. The data goes in as one CSV upload per
 * pipeline, so each gets exactly one dataset version and the artifacts really are byte-identical.
 */
import { telemetry } from '../demo/telemetry';
import {
  columnTensors,
  fixtureCsvText,
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  pipelineSpecYaml,
  stackEndpoints,
  uniqueName,
} from '@keel/testing';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySpec, endpoints, type ModelVersionView, waitForChampion, waitForServing } from '../demo/pipeline-client';
import { startServices } from '../services/services';

describe('two pipelines on identical data', () => {
  let mongo: Connection;
  const ids = [uniqueName('twin-a'), uniqueName('twin-b')] as const;
  const csv = fixtureCsvText('bike', { count: 13_000 });
  let champions: ModelVersionView[];

  beforeAll(async () => {
    await startServices();
    mongo = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    for (const id of ids) {
      await applySpec(pipelineSpecYaml('bike-demand', id), id);
      const upload = await fetch(`${endpoints.ingestionHttp}/api/v1/pipelines/${id}/datasets?name=bike.csv`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: csv,
      });
      expect(upload.status).toBe(201);
    }
    champions = await Promise.all(ids.map((id) => waitForChampion(id, 480_000)));
  });

  afterAll(async () => {
    await mongo?.close();
    await telemetry.shutdown();
  });

  it('materializes the same feature-set bytes for both, under two feature-set ids', async () => {
    const [a, b] = await Promise.all(
      ids.map((pipelineId) => mongo.collection('feature_sets').find({ pipelineId }).toArray()),
    );
    expect([a.length, b.length]).toEqual([1, 1]);
    expect(b[0].featureSetSha256).toBe(a[0].featureSetSha256);
    expect(b[0].featureSetId).not.toBe(a[0].featureSetId);
  });

  it('trains, registers and serves a champion for each pipeline', async () => {
    expect(champions.map((champion) => champion.modelName)).toEqual([...ids]);
    expect(champions[1].lineage.runId).not.toBe(champions[0].lineage.runId);
    const client = new InferenceClient(endpoints.servingGrpc);
    try {
      for (const [i, id] of ids.entries()) {
        await waitForServing(client, id, 120_000, champions[i].version);
        const spec = pipelineSpecFixture('bike-demand', { id });
        const rows = fixtureRecords('bike', { count: 5, from: 15_000, numeric: spec });
        const answer = await client.modelInfer({ modelName: id, inputs: columnTensors(spec, rows) });
        expect(answer.modelName).toBe(id);
        expect(answer.outputs.find((o) => o.name === 'prediction')?.contents?.fp64Contents).toHaveLength(5);
      }
    } finally {
      client.close();
    }
  });
});
