import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type ColumnType,
  deadLetterTopic,
  type EventData,
  FeaturesMaterializedV1,
  ModelTrainedV1,
  type Scalar,
  TrainingRequestedV1,
} from '@keel/contracts';
import { tableFromRecords, writeParquet } from '@keel/datasets';
import { createKafka, createProducer, EventPublisher } from '@keel/messaging';
import { type ColumnSpec, fitTransform, type RawValue, stableStringify } from '@keel/ml-models';
import { parsePackage } from '@keel/model-package';
import { parsePipelineSpec } from '@keel/pipelines';
import { Infrastructure, type RunningService, startService } from '@keel/service-runtime';
import { BUCKETS, ObjectStore } from '@keel/storage';
import { type Telemetry } from '@keel/telemetry';
import { eventually, stackEndpoints, uniqueName } from '@keel/testing';
import { type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainingEnvSchema } from './config';
import { TrainingModule } from './training.module';
import { trainingRunId } from './training-runs/training-runs.service';

const noTelemetry: Telemetry = { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const root = resolve(__dirname, '../../..');
const NUMERIC = new Set(['age', 'fnlwgt', 'education_num', 'capital_gain', 'capital_loss', 'hours_per_week']);

/**
 * A feature set as features writes it, built here so this test needs no other service: 2,000 Adult rows, rows
 * 0-6 of every 10 train, 7 validation, 8-9 holdout, the transform fitted on the train rows.
 */
function adultFeatureSet(rows: number) {
  const [header, ...lines] = readFileSync(resolve(root, 'fixtures/datasets/adult/adult.csv'), 'utf8').split('\n');
  const names = header.split(',').filter((name) => name !== 'split');
  const records = lines.slice(0, rows).map((line, i) => {
    const cells = line.split(',');
    const record: Record<string, Scalar> = {};
    names.forEach((name, j) => (record[name] = NUMERIC.has(name) ? Number(cells[j]) : cells[j]));
    record.split = i % 10 < 7 ? 'train' : i % 10 === 7 ? 'validation' : 'holdout';
    return record;
  });
  const schema = [...names, 'split'].map((name) => ({
    name,
    type: (NUMERIC.has(name) ? 'integer' : 'string') as ColumnType,
  }));
  const table = tableFromRecords(records, schema);
  const features = names.filter((name) => name !== 'income');
  const train: Record<string, RawValue[]> = {};
  for (const name of features) {
    train[name] = records.filter((r) => r.split === 'train').map((r) => r[name] as RawValue);
  }
  const specs: ColumnSpec[] = features.map((name) =>
    NUMERIC.has(name)
      ? { name, kind: 'numeric', impute: 'median', standardize: true }
      : { name, kind: 'categorical', encoding: 'code', unknown: 'missing' },
  );
  return { parquet: writeParquet(table), transform: Buffer.from(stableStringify(fitTransform(train, specs))) };
}

interface Seen {
  topic: string;
  id: string;
  data: Record<string, unknown>;
  headers: Record<string, string>;
}

describe('training against the real stack', () => {
  let service: RunningService;
  let producer: Producer;
  let publisher: EventPublisher;
  let reader: Consumer;
  const objects = new ObjectStore(stackEndpoints.s3);
  const pipelineId = uniqueName('train-test');
  const seen: Seen[] = [];
  const trained = () => seen.filter((s) => s.topic === ModelTrainedV1.topic && s.data.pipelineId === pipelineId);
  const collection = (name: string) => service.app.get(Infrastructure).mongo.collection(name);

  beforeAll(async () => {
    service = await startService({
      name: 'training',
      envSchema: trainingEnvSchema,
      features: [TrainingModule],
      telemetry: noTelemetry,
      env: { ...process.env, HTTP_PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent' },
    });
    const yaml = readFileSync(resolve(root, 'fixtures/pipelines/adult-income.yaml'), 'utf8');
    await service.app
      .get(Infrastructure)
      .pipelines.apply(parsePipelineSpec(yaml.replace(/^id: .*$/m, `id: ${pipelineId}`)));
    const kafka = createKafka({ clientId: 'training-int', brokers: stackEndpoints.kafkaBrokers, logger: quiet });
    producer = createProducer(kafka);
    await producer.connect();
    publisher = new EventPublisher(producer, '/keel/training-int');
    reader = kafka.consumer({ groupId: uniqueName('training-int-reader') });
    await reader.connect();
    await reader.subscribe({
      topics: [ModelTrainedV1.topic, deadLetterTopic(TrainingRequestedV1.topic)],
      fromBeginning: true,
    });
    await reader.run({
      eachMessage: async ({ topic, message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        seen.push({ topic, id: headers.ce_id, data: JSON.parse(message.value!.toString()), headers });
      },
    });
  });

  afterAll(async () => {
    await reader?.disconnect();
    await producer?.disconnect();
    await service?.stop();
  });

  it('trains every algorithm on a materialized feature set and publishes the best package', async () => {
    const built = adultFeatureSet(2_000);
    const [featureSet, transform] = await Promise.all([
      objects.putContentAddressed(BUCKETS.features, `${pipelineId}/feature-sets`, built.parquet, {
        extension: '.parquet',
      }),
      objects.putContentAddressed(BUCKETS.features, `${pipelineId}/transforms`, built.transform, {
        extension: '.json',
      }),
    ]);
    const datasetSha256 = createHash('sha256').update(pipelineId).digest('hex');
    const materialized = {
      pipelineId,
      datasetVersionId: `ds-${datasetSha256.slice(0, 32)}`,
      datasetSha256,
      featureSetId: `fs-${featureSet.sha256.slice(0, 32)}`,
      featureSetUri: featureSet.uri,
      featureSetSha256: featureSet.sha256,
      transformUri: transform.uri,
      transformSha256: transform.sha256,
      rowCounts: { train: 1400, validation: 200, holdout: 400 },
    } as EventData<typeof FeaturesMaterializedV1>;
    await publisher.publish(FeaturesMaterializedV1, materialized, { id: uniqueName('materialized') });

    const [event] = await eventually('model.trained', async () => (trained().length ? trained() : undefined), {
      timeoutMs: 60_000,
    });
    const data = event.data as EventData<typeof ModelTrainedV1>;
    expect(event.id).toBe(`model-trained-${data.runId}`);
    expect(data.runId).toBe(trainingRunId(pipelineId, data.packageSha256));
    expect(data).toMatchObject({ datasetSha256, featureSetId: materialized.featureSetId });
    expect(data.metrics.auc).toBeGreaterThan(0.8);

    const bytes = await objects.getVerified({ uri: data.packageUri, sha256: data.packageSha256 });
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(data.packageSha256);
    const pkg = parsePackage(bytes);
    expect(pkg.lineage).toMatchObject({
      datasetVersionId: materialized.datasetVersionId,
      datasetSha256,
      featureSetId: materialized.featureSetId,
      featureSetSha256: featureSet.sha256,
      transformSha256: transform.sha256,
      algorithm: data.algorithm,
      seed: 42,
      trainRows: 1400,
      holdoutRows: 400,
    });
    expect(pkg.target).toEqual({ column: 'income', positive: '>50K', negative: '<=50K' });
    expect(pkg.metrics).toEqual(data.metrics);

    const run = await collection('training_runs').findOne({ runId: data.runId });
    expect(run).toMatchObject({ pipelineId, chosen: data.algorithm, packageSha256: data.packageSha256, seed: 42 });
    expect((run!.candidates as { algorithm: string }[]).map((c) => c.algorithm)).toEqual([
      'logistic-regression',
      'gbdt',
    ]);
    expect(await collection('training_inputs').findOne({ pipelineId })).toMatchObject({
      features: { featureSetId: materialized.featureSetId },
    });
  });

  it('retrains on request from the newest feature set, once per dedupe key', async () => {
    const first = trained()[0].data as EventData<typeof ModelTrainedV1>;
    const dedupeKey = uniqueName('drift');
    const request = { pipelineId, reason: 'drift', requestedBy: 'training-int', dedupeKey } as EventData<
      typeof TrainingRequestedV1
    >;
    await publisher.publish(TrainingRequestedV1, request, { id: uniqueName('request') });
    const outcome = await eventually('request outcome', async () => {
      const doc = await collection('training_requests').findOne({ dedupeKey });
      return doc?.status === 'trained' ? doc : undefined;
    });
    // Same feature set, spec and seed: the same package and run.
    expect(outcome).toMatchObject({
      pipelineId,
      runId: first.runId,
      packageSha256: first.packageSha256,
      duplicates: 0,
    });
    await eventually('second model.trained', async () => (trained().length > 1 ? true : undefined));

    await publisher.publish(TrainingRequestedV1, request, { id: uniqueName('request') });
    await eventually('duplicate counted', async () => {
      const doc = await collection('training_requests').findOne({ dedupeKey });
      return doc?.duplicates === 1 ? doc : undefined;
    });
    expect(await collection('training_runs').countDocuments({ pipelineId })).toBe(1);
  });

  it('dead-letters a request for a pipeline without a feature set, and records the failure', async () => {
    const dedupeKey = uniqueName('manual');
    const eventId = uniqueName('request');
    const other = uniqueName('no-features');
    await publisher.publish(
      TrainingRequestedV1,
      { pipelineId: other, reason: 'manual', requestedBy: 'training-int', dedupeKey } as EventData<
        typeof TrainingRequestedV1
      >,
      { id: eventId },
    );
    const dead = await eventually('dead letter', async () =>
      seen.find((s) => s.topic === deadLetterTopic(TrainingRequestedV1.topic) && s.id === eventId),
    );
    expect(dead.headers.dlq_reason).toContain(`no feature set has been materialized for pipeline "${other}"`);
    expect(await collection('training_requests').findOne({ dedupeKey })).toMatchObject({ status: 'failed' });
  });
});
