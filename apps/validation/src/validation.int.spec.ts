import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  datasetColumns,
  DatasetIngestedV1,
  DatasetRejectedV1,
  DatasetValidatedV1,
  type EventData,
  type PipelineSpecV1,
} from '@keel/contracts';
import { type DatasetTable, writeParquet } from '@keel/datasets';
import { createKafka, createProducer, EventPublisher } from '@keel/messaging';
import { parsePipelineSpec, PipelineStore } from '@keel/pipelines';
import { type RunningService, startService } from '@keel/service-runtime';
import { BUCKETS, ObjectStore, parseObjectUri, sha256InKey } from '@keel/storage';
import { eventually, stackEndpoints, uniqueName } from '@keel/testing';
import { type Kafka, type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validationEnvSchema } from './config';
import { ValidationModule } from './validation.module';
import { validationEventId } from './reports/validation.service';

const root = join(__dirname, '../../..');
const adultYaml = readFileSync(join(root, 'fixtures/pipelines/adult-income.yaml'), 'utf8');
const adultCsv = readFileSync(join(root, 'fixtures/datasets/adult/adult.csv'), 'utf8').split('\n');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Adult rows as ingestion would write them: numeric features as numbers, the rest as strings. */
function adultTable(spec: PipelineSpecV1, rows: number, from = 1): DatasetTable {
  const header = adultCsv[0].split(',');
  const lines = adultCsv.slice(from, from + rows).map((line) => line.split(','));
  const numeric = new Set(spec.features.filter((f) => f.type === 'numeric').map((f) => f.name));
  return {
    rowCount: lines.length,
    columns: datasetColumns(spec).map((name) => {
      const index = header.indexOf(name);
      const isNumber = numeric.has(name);
      return {
        name,
        type: isNumber ? 'number' : 'string',
        values: lines.map((fields) => (fields[index] === '' ? null : isNumber ? Number(fields[index]) : fields[index])),
      };
    }),
  };
}

async function readUntil(kafka: Kafka, topic: string, ceId: string): Promise<string> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader') });
  let found: string | undefined;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (String(message.headers?.ce_id) === ceId) found = message.value?.toString();
    },
  });
  try {
    return await eventually(`${ceId} on ${topic}`, async () => found);
  } finally {
    await consumer.disconnect();
  }
}

describe('validation against the real stack', () => {
  let service: RunningService;
  let connection: Connection;
  let kafka: Kafka;
  let producer: Producer;
  let publisher: EventPublisher;
  let spec: PipelineSpecV1;
  const objects = new ObjectStore(stackEndpoints.s3);

  /** Writes a table as a dataset version of the test pipeline and announces it, as ingestion does. */
  async function ingest(table: DatasetTable): Promise<EventData<typeof DatasetIngestedV1>> {
    const stored = await objects.putContentAddressed(
      BUCKETS.datasets,
      spec.id,
      writeParquet(table, { test: spec.id }),
      {
        extension: '.parquet',
      },
    );
    const data = {
      pipelineId: spec.id,
      datasetVersionId: `ds-${stored.sha256.slice(0, 32)}`,
      uri: stored.uri,
      sha256: stored.sha256,
      sizeBytes: stored.sizeBytes,
      format: 'parquet',
      rowCount: table.rowCount,
      columns: table.columns.map(({ name, type }) => ({ name, type })),
      sources: ['int-test'],
    } as EventData<typeof DatasetIngestedV1>;
    await publisher.publish(DatasetIngestedV1, data, { id: `dataset-ingested-${data.datasetVersionId}` });
    return data;
  }

  beforeAll(async () => {
    connection = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    spec = parsePipelineSpec(adultYaml.replace('id: adult-income', `id: ${uniqueName('adult')}`));
    await new PipelineStore(connection).apply(spec);
    kafka = createKafka({ clientId: 'validation-int', brokers: stackEndpoints.kafkaBrokers, logger: quiet });
    producer = createProducer(kafka);
    await producer.connect();
    publisher = new EventPublisher(producer, '/keel/int-test');
    service = await startService({
      // A unique name is a unique consumer group, so a running validation service does not take our events.
      name: uniqueName('validation'),
      envSchema: validationEnvSchema,
      features: [ValidationModule],
      telemetry: { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined },
      env: { ...process.env, HTTP_PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent' },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await producer?.disconnect();
    await connection?.close();
  });

  it('validates a good first version, sets the reference and writes a report', async () => {
    // given a good first version of 300 Adult rows
    const data = await ingest(adultTable(spec, 300));
    // then it is validated, with a report in Mongo and in object storage
    const validated = JSON.parse(
      await readUntil(kafka, DatasetValidatedV1.topic, validationEventId('validated', data.datasetVersionId, 1)),
    );
    expect(validated).toMatchObject({
      pipelineId: spec.id,
      datasetVersionId: data.datasetVersionId,
      datasetSha256: data.sha256,
    });
    const report = await connection
      .collection('validation_reports')
      .findOne({ datasetVersionId: data.datasetVersionId });
    expect(report).toMatchObject({ pipelineId: spec.id, passed: true, reportUri: validated.reportUri });
    const reportSha256 = sha256InKey(parseObjectUri(validated.reportUri).key)!;
    const body = JSON.parse(
      (await objects.getVerified({ uri: validated.reportUri, sha256: reportSha256 })).toString('utf8'),
    );
    expect(body).toMatchObject({
      passed: true,
      datasetSha256: data.sha256,
      referenceDatasetVersionId: data.datasetVersionId,
    });
    expect(body.columns.find((c: { name: string }) => c.name === 'age')).toMatchObject({
      type: 'number',
      missingRate: 0,
    });
    const reference = await connection.collection('validation_references').findOne({ pipelineId: spec.id });
    expect(reference?.datasetVersionId).toBe(data.datasetVersionId);
    expect(reference?.columns.find((c: { name: string }) => c.name === 'sex').categories).toEqual(['Female', 'Male']);
  });

  it('rejects a version with a mistyped column and unseen categories', async () => {
    // given a later version whose age is text and whose workclass is mostly new
    const table = adultTable(spec, 300, 1_000);
    const age = table.columns.find((c) => c.name === 'age')!;
    age.type = 'string';
    age.values = age.values.map((v) => (v === null ? null : String(v)));
    const workclass = table.columns.find((c) => c.name === 'workclass')!;
    workclass.values = workclass.values.map((v, i) => (i % 2 === 0 ? 'Martian-gov' : v));
    const data = await ingest(table);
    // then it is rejected with both errors named
    const rejected = JSON.parse(
      await readUntil(kafka, DatasetRejectedV1.topic, validationEventId('rejected', data.datasetVersionId, 1)),
    );
    expect(rejected.failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: 'column-type', column: 'age', severity: 'error' }),
        expect.objectContaining({ check: 'unseen-category', column: 'workclass', severity: 'error' }),
      ]),
    );
    // and both reports are listed, newest first
    const listed = await request(service.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/reports`).expect(200);
    expect(listed.body.items.map((item: { passed: boolean }) => item.passed)).toEqual([false, true]);
  });
});
