/**
 * What `npm start` does, twice in a row, on a stack the other e2e specs have already used (vitest.config.mts runs this
 * file after them): the bundled pipelines under their own ids, on the data those specs ingested under other ids.
 * Each run must end with both champions serving.
 */
import { telemetry } from '../demo/telemetry';
import { createKafka, createProducer, silentLogger } from '@keel/messaging';
import { stackEndpoints } from '@keel/testing';
import { type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledPipelines, runPipeline } from '../demo/run-pipeline';
import { startServices } from '../services/services';

describe('the bundled demo, twice, after the other e2e specs', () => {
  let producer: Producer;

  beforeAll(async () => {
    await startServices();
    producer = createProducer(
      createKafka({ clientId: 'e2e-demo', brokers: stackEndpoints.kafkaBrokers, logger: silentLogger }),
    );
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await telemetry.shutdown();
  });

  it.each([1, 2])('run %i ends with both champions serving', async () => {
    const runs = await Promise.all([
      runPipeline(bundledPipelines.adult, producer, { timeoutMs: 480_000 }),
      runPipeline(bundledPipelines.bike, producer, { timeoutMs: 480_000 }),
    ]);
    expect(runs.map((run) => run.spec.id)).toEqual(['adult-income', 'bike-demand']);
    for (const run of runs) {
      expect(run.firstPrediction.modelName).toBe(run.spec.id);
      expect(run.firstPrediction.modelVersion).toBe(String(run.champion.version));
      expect(run.firstPrediction.outputs.length).toBeGreaterThan(0);
    }
  });
});
