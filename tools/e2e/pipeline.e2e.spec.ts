/**
 * The walking skeleton, end to end on the real stack and all seven services: two pipelines at once (Adult, binary;
 * Bike Sharing, regression) from upstream data events to a served, monitored model, plus bad input at every door.
 */
import { telemetry } from '../demo/telemetry';
import { createHash } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { readParquet } from '@keel/datasets';
import { createProducer } from '@keel/messaging';
import { ObjectStore } from '@keel/storage';
import {
  columnTensors,
  eventually,
  fetchTrace,
  InferenceClient,
  type InferInput,
  publishUpstreamRecords,
  serviceOf,
  stackEndpoints,
  stackKafka,
  TopicRecorder,
  uniqueName,
} from '@keel/testing';
import { type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpoints, waitForServing } from '../demo/pipeline-client';
import { bundledPipelines, loadSpec, type PipelineRun, runPipeline } from '../demo/run-pipeline';
import { defaultInstanceCount, instanceEndpoints, services, startServices } from '../services/services';

describe('walking skeleton: data events to a served, monitored model', () => {
  let producer: Producer;
  let recorder: TopicRecorder;
  let mongo: Connection;
  const objects = new ObjectStore(stackEndpoints.s3);
  const adultId = uniqueName('adult');
  const bikeId = uniqueName('bike');
  let adult: PipelineRun;
  let bike: PipelineRun;

  beforeAll(async () => {
    await startServices();
    const kafka = stackKafka('e2e');
    producer = createProducer(kafka);
    await producer.connect();
    // Started before any pipeline runs, so every drift event and dead letter of this run is recorded.
    recorder = await TopicRecorder.start({ topics: ['mlops.drift.detected.v1', 'mlops.data.records.v1.dlq'], kafka });
    mongo = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    [adult, bike] = await Promise.all([
      runPipeline(bundledPipelines.adult, producer, { pipelineId: adultId, timeoutMs: 480_000 }),
      runPipeline(bundledPipelines.bike, producer, { pipelineId: bikeId, timeoutMs: 480_000 }),
    ]);
  });

  afterAll(async () => {
    await recorder?.stop();
    await producer?.disconnect();
    await mongo?.close();
    await telemetry.shutdown();
  });

  async function datasetsOf(pipelineId: string) {
    return mongo.collection('datasets').find({ pipelineId }).toArray();
  }

  it.each([
    ['adult', () => adult],
    ['bike', () => bike],
  ])(
    '%s: the dataset in MinIO has the sha256 recorded in Mongo and opens as Parquet with every row',
    async (_name, run) => {
      const datasets = await datasetsOf(run().spec.id);
      expect(datasets.length).toBeGreaterThan(0);
      let rows = 0;
      for (const dataset of datasets) {
        const bytes = await objects.getVerified({ uri: dataset.uri, sha256: dataset.sha256 });
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(dataset.sha256);
        const table = await readParquet(bytes);
        expect(table.rowCount).toBe(dataset.rowCount);
        rows += table.rowCount;
      }
      expect(rows).toBe(run().publishedRecords);
    },
  );

  it('stores a validation report for the dataset version', async () => {
    const [dataset] = await datasetsOf(adultId);
    const report = await mongo.collection('validation_reports').findOne({ datasetVersionId: dataset.datasetVersionId });
    expect(report?.passed).toBe(true);
    expect(
      await objects.exists({
        bucket: report!.reportUri.split('/')[2],
        key: report!.reportUri.split('/').slice(3).join('/'),
      }),
    ).toBe(true);
  });

  it('registers the champion with lineage naming the dataset and feature-set hashes', async () => {
    const version = await mongo
      .collection('model_versions')
      .findOne({ modelName: adultId, version: adult.champion.version });
    const [dataset] = await datasetsOf(adultId);
    const featureSet = await mongo.collection('feature_sets').findOne({ pipelineId: adultId });
    expect(version?.lineage.datasetSha256).toBe(dataset.sha256);
    expect(version?.lineage.featureSetSha256).toBe(featureSet?.featureSetSha256);
    expect(version?.gatesPassed).toBe(true);
  });

  it('reaches an Adult holdout ROC AUC of at least 0.90', () => {
    expect(adult.champion.metrics.auc).toBeGreaterThanOrEqual(0.9);
  });

  it('answers ModelInfer with probabilities for Adult rows and predictions for Bike rows', () => {
    const probability = adult.firstPrediction.outputs.find((o) => o.name === 'probability');
    expect(probability?.contents?.fp64Contents.length).toBe(5);
    for (const p of probability!.contents!.fp64Contents) {
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
    }
    const prediction = bike.firstPrediction.outputs.find((o) => o.name === 'prediction');
    expect(prediction?.contents?.fp64Contents.length).toBe(5);
    expect(bike.champion.metrics.r2).toBeGreaterThan(0.5);
  });

  it('logs predictions to monitoring; drift stays quiet in distribution and fires on age + 30 years', async () => {
    // With several serving instances, each request goes to another one: windows must count every row once.
    const servingAddresses = Array.from({ length: defaultInstanceCount() }, (_, i) => instanceEndpoints(i).servingGrpc);
    const windowRows = adult.spec.monitoring.windowRows;
    // Fill the first window (which holds the 5 rows of the first request) with unseen in-distribution rows.
    const inDistribution = adult.servingRows.slice(5, windowRows);
    const shifted = adult.servingRows
      .slice(windowRows, 2 * windowRows)
      .map((row) => ({ ...row, age: Number(row.age) + 30 }));
    const requests = [
      { id: `${adultId}-in-dist`, rows: inDistribution },
      { id: `${adultId}-shifted`, rows: shifted },
    ];
    for (const [i, { id, rows }] of requests.entries()) {
      const client = new InferenceClient(servingAddresses[i % servingAddresses.length]);
      try {
        await waitForServing(client, adultId, 120_000, adult.champion.version);
        await client.modelInfer({ modelName: adultId, id, inputs: columnTensors(adult.spec, rows) });
      } finally {
        client.close();
      }
    }
    const predictionsLogged = async () =>
      (
        (await (await fetch(`${endpoints.monitoringHttp}/api/v1/pipelines/${adultId}/predictions/count`)).json()) as {
          count: number;
        }
      ).count;
    await eventually('prediction logs in monitoring', async () =>
      (await predictionsLogged()) >= 2 * windowRows ? true : undefined,
    );
    const windows = await eventually(
      'two evaluated drift windows',
      async () => {
        const found = await mongo
          .collection('drift_windows')
          .find({ pipelineId: adultId, status: 'evaluated' })
          .sort({ windowIndex: 1 })
          .toArray();
        return found.length >= 2 ? found : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(windows[0].drifted).toBe(false);
    expect(windows[1].drifted).toBe(true);
    // every logged prediction counted once, in exactly one window
    expect(await predictionsLogged()).toBe(2 * windowRows);
    expect(windows.map((window) => window.rowCount)).toEqual([windowRows, windowRows]);
    const drift = await recorder.waitForAll((r) => r.topic === 'mlops.drift.detected.v1' && r.key === adultId, 1, {
      timeoutMs: 60_000,
    });
    const events = drift.map((r) => JSON.parse(r.value));
    expect(events).toHaveLength(1);
    expect(events[0].drifted.map((d: { feature: string }) => d.feature)).toContain('age');
  });

  it('shows the Adult run in Jaeger as one trace with spans from all seven services', async () => {
    await telemetry.forceFlush();
    const traceData = await eventually(
      'the run trace with all seven services',
      async () => {
        const found = await fetchTrace(adult.traceId);
        if (!found) return undefined;
        const seen = new Set(found.spans.map((span) => serviceOf(found, span)));
        return services.every((s) => seen.has(s.name)) ? found : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const seen = new Set(traceData.spans.map((span) => serviceOf(traceData, span)));
    expect(services.map((s) => s.name).filter((name) => !seen.has(name))).toEqual([]);
  });

  describe('bad input gets a clear error and loses nothing else', () => {
    it('dead-letters a record missing the target and a non-numeric age, ingesting the good one', async () => {
      const { spec, yaml } = loadSpec(bundledPipelines.adult, uniqueName('adult-bad'));
      await fetch(`${endpoints.registryHttp}/api/v1/pipelines/${spec.id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/yaml' },
        body: yaml,
      });
      const good = adult.servingRows[0];
      const { income: _dropped, ...missingTarget } = good;
      await publishUpstreamRecords(producer, spec.id, [good, missingTarget, { ...good, age: 'forty' }]);
      const dead = await recorder.waitForAll(
        (r) => r.topic === 'mlops.data.records.v1.dlq' && r.value.includes(spec.id),
        2,
        { timeoutMs: 60_000 },
      );
      const reasons = dead.map((r) => r.headers.dlq_reason);
      expect(reasons.some((reason) => /income/.test(reason))).toBe(true);
      expect(reasons.some((reason) => /age/.test(reason) && /forty/.test(reason))).toBe(true);
      await eventually('the good record staged or ingested', async () =>
        (await mongo.collection('staged_records').countDocuments({ pipelineId: spec.id })) +
          (await mongo.collection('datasets').countDocuments({ pipelineId: spec.id })) >
        0
          ? true
          : undefined,
      );
    });

    it('dead-letters data events for an unknown pipeline with the reason', async () => {
      const unknown = uniqueName('nobody');
      await publishUpstreamRecords(producer, unknown, [adult.servingRows[0]]);
      const dead = await recorder.waitFor((r) => r.topic === 'mlops.data.records.v1.dlq' && r.key === unknown, {
        timeoutMs: 60_000,
      });
      expect(dead.headers.dlq_reason).toMatch(/unknown pipeline/);
    });

    it('refuses a truncated CSV upload with 400 and writes nothing', async () => {
      const response = await fetch(`${endpoints.ingestionHttp}/api/v1/pipelines/${adultId}/datasets`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: 'age,workclass,fnlwgt,education\n39,State-gov,77516,Bach',
      });
      expect(response.status).toBe(400);
      expect(await response.text()).toMatch(/line|column/i);
    });

    it.each([
      [
        'a wrong input name',
        (t: InferInput[]) => t.map((x) => (x.name === 'age' ? { ...x, name: 'agee' } : x)),
        /agee/,
      ],
      [
        'a wrong datatype',
        (t: InferInput[]) =>
          t.map((x) =>
            x.name === 'age' ? { ...x, datatype: 'BYTES', contents: { bytesContents: [Buffer.from('39')] } } : x,
          ),
        /age/,
      ],
      ['a wrong shape', (t: InferInput[]) => t.map((x) => (x.name === 'age' ? { ...x, shape: [7] } : x)), /age/],
    ])('answers ModelInfer with %s by INVALID_ARGUMENT naming the input', async (_case, mutate, named) => {
      const client = new InferenceClient(endpoints.servingGrpc);
      try {
        const inputs = mutate(columnTensors(adult.spec, adult.servingRows.slice(0, 1)));
        const error = await client.modelInfer({ modelName: adultId, inputs }).then(
          () => undefined,
          (e: unknown) => e as { code: number; details: string },
        );
        expect(error?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
        expect(error?.details).toMatch(named);
      } finally {
        client.close();
      }
    });
  });
});
