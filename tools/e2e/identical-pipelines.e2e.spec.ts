/**
 * Two pipelines with different ids, fed identical data under identical specs, on the real stack and all seven
 * services: each trains and serves its own champion. Every id of an effect names its pipeline, so the second
 * pipeline's events are never taken for redeliveries of the first one's. The data goes in as one CSV upload per
 * pipeline, so each gets exactly one dataset version and the artifacts really are byte-identical. With several
 * instances of every service (KEEL_SERVICE_INSTANCES), every instance takes part: each registry is sent each spec at
 * once, the uploads go to different ingestion instances, inference to every serving instance, and each effect still
 * happens once.
 */
import { telemetry } from '../demo/telemetry';
import { WellKnownAlias } from '@keel/contracts';
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
import { type ModelVersionView, waitForChampion, waitForServing } from '../demo/pipeline-client';
import { defaultInstanceCount, instanceEndpoints, startServices } from '../services/services';

describe('two pipelines on identical data', () => {
  let mongo: Connection;
  const ids = [uniqueName('twin-a'), uniqueName('twin-b')] as const;
  const csv = fixtureCsvText('bike', { count: 13_000 });
  let champions: ModelVersionView[];
  const instances = Array.from({ length: defaultInstanceCount() }, (_, instance) => instanceEndpoints(instance));
  const appliedVersions: number[][] = [];

  beforeAll(async () => {
    await startServices();
    mongo = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    for (const [i, id] of ids.entries()) {
      // The same spec PUT to every registry at once.
      const answers = await Promise.all(
        instances.map(async ({ registryHttp }) => {
          const response = await fetch(`${registryHttp}/api/v1/pipelines/${id}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/yaml' },
            body: pipelineSpecYaml('bike-demand', id),
          });
          expect(response.ok).toBe(true);
          return ((await response.json()) as { version: number }).version;
        }),
      );
      appliedVersions.push(answers);
      const { ingestionHttp } = instances[i % instances.length];
      const upload = await fetch(`${ingestionHttp}/api/v1/pipelines/${id}/datasets?name=bike.csv`, {
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

  it('applies each spec once however many registries were sent it', () => {
    for (const answers of appliedVersions) expect(answers).toEqual(instances.map(() => 1));
  });

  it('has one dataset version, one training run and one champion move per pipeline', async () => {
    for (const pipelineId of ids) {
      expect(await mongo.collection('datasets').countDocuments({ pipelineId })).toBe(1);
      expect(await mongo.collection('training_runs').countDocuments({ pipelineId })).toBe(1);
      expect(
        await mongo.collection('alias_moves').countDocuments({ modelName: pipelineId, alias: WellKnownAlias.CHAMPION }),
      ).toBe(1);
    }
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
    for (const { servingGrpc } of instances) {
      const client = new InferenceClient(servingGrpc);
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
    }
  });
});
