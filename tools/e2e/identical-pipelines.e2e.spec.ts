/**
 * Two pipelines with different ids, fed identical data under identical specs, on the real stack and all seven
 * services: each trains and serves its own champion. Every id of an effect names its pipeline, so the second
 * pipeline's events are never taken for redeliveries of the first one's.
 */
import { telemetry } from '../demo/telemetry';
import { createKafka, createProducer, silentLogger } from '@keel/messaging';
import { stackEndpoints, uniqueName } from '@keel/testing';
import { type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledPipelines, type PipelineRun, runPipeline } from '../demo/run-pipeline';
import { startServices } from '../services/services';

describe('two pipelines on identical data', () => {
  let producer: Producer;
  let mongo: Connection;
  const ids = [uniqueName('twin-a'), uniqueName('twin-b')] as const;
  let runs: PipelineRun[];

  beforeAll(async () => {
    await startServices();
    producer = createProducer(
      createKafka({ clientId: 'e2e-twins', brokers: stackEndpoints.kafkaBrokers, logger: silentLogger }),
    );
    await producer.connect();
    mongo = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    runs = await Promise.all(
      ids.map((pipelineId) => runPipeline(bundledPipelines.bike, producer, { pipelineId, timeoutMs: 480_000 })),
    );
  });

  afterAll(async () => {
    await producer?.disconnect();
    await mongo?.close();
    await telemetry.shutdown();
  });

  it('materializes the same feature-set bytes for both, under two feature-set ids', async () => {
    const [a, b] = await Promise.all(
      ids.map((pipelineId) => mongo.collection('feature_sets').find({ pipelineId }).toArray()),
    );
    const shared = a.filter((fa) => b.some((fb) => fb.featureSetSha256 === fa.featureSetSha256));
    expect(shared.length).toBeGreaterThan(0);
    const idsOfB = new Set(b.map((fb) => fb.featureSetId));
    expect(a.filter((fa) => idsOfB.has(fa.featureSetId))).toEqual([]);
  });

  it('trains, registers and serves a champion for each pipeline', () => {
    for (const [i, run] of runs.entries()) {
      expect(run.champion.modelName).toBe(ids[i]);
      expect(run.firstPrediction.modelName).toBe(ids[i]);
      expect(run.firstPrediction.outputs.find((o) => o.name === 'prediction')?.contents?.fp64Contents).toHaveLength(5);
    }
    expect(runs[1].champion.lineage.runId).not.toBe(runs[0].champion.lineage.runId);
  });
});
