import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type ColumnType,
  DatasetValidatedV1,
  deadLetterTopic,
  type EventData,
  FeaturesMaterializedV1,
  type Scalar,
} from '@keel/contracts';
import { readParquet, tableFromRecords, writeParquet } from '@keel/datasets';
import { createKafka, createProducer, EventPublisher } from '@keel/messaging';
import { parsePipelineSpec } from '@keel/pipelines';
import { Infrastructure, type RunningService, startService } from '@keel/service-runtime';
import { BUCKETS, ObjectStore } from '@keel/storage';
import { type Telemetry } from '@keel/telemetry';
import { eventually, stackEndpoints, uniqueName } from '@keel/testing';
import { createHash } from 'node:crypto';
import { type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featuresEnvSchema } from './config';
import { FeaturesModule } from './features.module';
import { featureSetId, featuresMaterializedEventId } from './feature-sets/feature-sets.service';

const noTelemetry: Telemetry = { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined };
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const root = resolve(__dirname, '../../..');
const NUMERIC = new Set(['age', 'fnlwgt', 'education_num', 'capital_gain', 'capital_loss', 'hours_per_week']);

/** The first `rows` rows of Adult (no quoted commas, so a plain split parses it). */
function adultTable(rows: number, drop: string[] = []) {
  const [header, ...lines] = readFileSync(resolve(root, 'fixtures/datasets/adult/adult.csv'), 'utf8').split('\n');
  const names = header.split(',').filter((name) => name !== 'split' && !drop.includes(name));
  const all = header.split(',');
  const records = lines.slice(0, rows).map((line) => {
    const cells = line.split(',');
    const record: Record<string, Scalar> = {};
    all.forEach((name, i) => (record[name] = cells[i] === '' ? null : NUMERIC.has(name) ? Number(cells[i]) : cells[i]));
    return record;
  });
  const schema = names.map((name) => ({ name, type: (NUMERIC.has(name) ? 'integer' : 'string') as ColumnType }));
  return tableFromRecords(records, schema);
}

interface Seen {
  topic: string;
  id: string;
  data: Record<string, unknown>;
  headers: Record<string, string>;
}

describe('features against the real stack', () => {
  let service: RunningService;
  let producer: Producer;
  let publisher: EventPublisher;
  let reader: Consumer;
  const objects = new ObjectStore(stackEndpoints.s3);
  const pipelineId = uniqueName('fs-test');
  const seen: Seen[] = [];

  async function putDataset(drop: string[] = []): Promise<EventData<typeof DatasetValidatedV1>> {
    const stored = await objects.putContentAddressed(
      BUCKETS.datasets,
      `${pipelineId}/versions`,
      writeParquet(adultTable(2_000, drop)),
      { extension: '.parquet' },
    );
    return {
      pipelineId,
      datasetVersionId: `ds-${stored.sha256.slice(0, 32)}`,
      datasetUri: stored.uri,
      datasetSha256: stored.sha256,
      reportUri: `s3://${BUCKETS.reports}/${pipelineId}/report.json`,
      warnings: [],
    } as unknown as EventData<typeof DatasetValidatedV1>;
  }

  beforeAll(async () => {
    service = await startService({
      name: 'features',
      envSchema: featuresEnvSchema,
      features: [FeaturesModule],
      telemetry: noTelemetry,
      env: { ...process.env, HTTP_PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent' },
    });
    const yaml = readFileSync(resolve(root, 'fixtures/pipelines/adult-income.yaml'), 'utf8');
    await service.app
      .get(Infrastructure)
      .pipelines.apply(parsePipelineSpec(yaml.replace(/^id: .*$/m, `id: ${pipelineId}`)));
    const kafka = createKafka({ clientId: 'features-int', brokers: stackEndpoints.kafkaBrokers, logger: quiet });
    producer = createProducer(kafka);
    await producer.connect();
    publisher = new EventPublisher(producer, '/keel/features-int');
    reader = kafka.consumer({ groupId: uniqueName('features-int-reader') });
    await reader.connect();
    await reader.subscribe({
      topics: [FeaturesMaterializedV1.topic, deadLetterTopic(DatasetValidatedV1.topic)],
      fromBeginning: true,
    });
    await reader.run({
      eachMessage: async ({ topic, message }) => {
        if (message.key?.toString() !== pipelineId) return;
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

  const materialized = () => seen.filter((s) => s.topic === FeaturesMaterializedV1.topic);

  it('materializes the feature set and transform of a validated dataset, deterministically', async () => {
    const validated = await putDataset();
    await publisher.publish(DatasetValidatedV1, validated, { id: uniqueName('validated') });
    const [event] = await eventually('features.materialized', async () =>
      materialized().length > 0 ? materialized() : undefined,
    );
    const data = event.data as EventData<typeof FeaturesMaterializedV1>;
    expect(data).toMatchObject({
      pipelineId,
      datasetVersionId: validated.datasetVersionId,
      datasetSha256: validated.datasetSha256,
      featureSetId: featureSetId(data),
      rowCounts: { train: 1440, validation: 160, holdout: 400 },
    });
    expect(event.id).toBe(featuresMaterializedEventId(data.featureSetId, 1));
    expect(data.featureSetUri).toBe(
      `s3://${BUCKETS.features}/${pipelineId}/feature-sets/${data.featureSetSha256}.parquet`,
    );

    // The stored objects are what the event promises (getVerified checks the sha256 the event announces).
    const table = await readParquet(
      await objects.getVerified({ uri: data.featureSetUri, sha256: data.featureSetSha256 }),
    );
    expect(table.rowCount).toBe(2_000);
    expect(table.columns.map((c) => c.name)).toContain('split');
    expect(table.columns.map((c) => c.name)).toEqual(expect.arrayContaining(['age', 'income', 'sex', 'race']));
    const transformBytes = await objects.getVerified({ uri: data.transformUri, sha256: data.transformSha256 });
    expect(createHash('sha256').update(transformBytes).digest('hex')).toBe(data.transformSha256);
    const transform = JSON.parse(transformBytes.toString()) as { features: string[] };
    expect(transform.features).toHaveLength(14);

    const doc = await service.app
      .get(Infrastructure)
      .mongo.collection('feature_sets')
      .findOne({ pipelineId, featureSetId: data.featureSetId });
    expect(doc).toMatchObject({
      datasetVersionId: validated.datasetVersionId,
      featureSetSha256: data.featureSetSha256,
      transformSha256: data.transformSha256,
      rowCounts: data.rowCounts,
    });

    // The same dataset again (a new event): the same bytes, ids and event id.
    await publisher.publish(DatasetValidatedV1, validated, { id: uniqueName('validated') });
    const again = await eventually('second features.materialized', async () =>
      materialized().length > 1 ? materialized()[1] : undefined,
    );
    expect(again.id).toBe(event.id);
    expect(again.data).toEqual(event.data);
    expect(await service.app.get(Infrastructure).mongo.collection('feature_sets').countDocuments({ pipelineId })).toBe(
      1,
    );
  });

  it('dead-letters a dataset that lacks a declared column, naming it', async () => {
    const validated = await putDataset(['sex']);
    const eventId = uniqueName('validated-bad');
    await publisher.publish(DatasetValidatedV1, validated, { id: eventId });
    const dead = await eventually('dead letter', async () =>
      seen.find((s) => s.topic === deadLetterTopic(DatasetValidatedV1.topic) && s.id === eventId),
    );
    expect(dead.headers.dlq_reason).toContain('dataset lacks column(s) sex');
    expect(dead.headers.dlq_consumer).toBe('features.datasets');
  });
});
