import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataRecordsV1, deadLetterTopic, type EventData, type PipelineSpecV1 } from '@keel/contracts';
import { readParquet } from '@keel/datasets';
import { createKafka, createProducer, DLQ_HEADERS, EventPublisher } from '@keel/messaging';
import { parsePipelineSpec, PipelineStore } from '@keel/pipelines';
import { type RunningService, startService } from '@keel/service-runtime';
import { ObjectStore } from '@keel/storage';
import { startTelemetry, type Telemetry } from '@keel/telemetry';
import { eventually, stackEndpoints, uniqueName } from '@keel/testing';
import { type Kafka, type Producer } from 'kafkajs';
import mongoose, { type Connection } from 'mongoose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionEnvSchema } from './config';
import { IngestionModule } from './ingestion.module';
import { datasetIngestedEventId, datasetVersionId } from './datasets/dataset-versions.service';

const root = join(__dirname, '../../..');
const adultYaml = readFileSync(join(root, 'fixtures/pipelines/adult-income.yaml'), 'utf8');
const adultCsv = readFileSync(join(root, 'fixtures/datasets/adult/adult.csv'), 'utf8').split('\n');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The first n data rows of the Adult CSV as records (numbers stay numeric strings: ingestion converts them). */
function adultRecords(n: number, from = 1): Record<string, string | null>[] {
  const header = adultCsv[0].split(',');
  return adultCsv.slice(from, from + n).map((line) => {
    const fields = line.split(',');
    return Object.fromEntries(header.map((name, i) => [name, fields[i] === '' ? null : fields[i]]));
  });
}

function csvText(lines: number, from = 1): string {
  return [adultCsv[0], ...adultCsv.slice(from, from + lines)].join('\n') + '\n';
}

async function readUntil(
  kafka: Kafka,
  topic: string,
  match: (value: string, headers: Record<string, string>) => boolean,
): Promise<{ value: string; headers: Record<string, string> }[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader') });
  const found: { value: string; headers: Record<string, string> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      const value = message.value?.toString() ?? '';
      if (match(value, headers)) found.push({ value, headers });
    },
  });
  try {
    await eventually(`a matching record on ${topic}`, async () => (found.length > 0 ? true : undefined));
    return found;
  } finally {
    await consumer.disconnect();
  }
}

describe('ingestion against the real stack', () => {
  let service: RunningService;
  let connection: Connection;
  let kafka: Kafka;
  let producer: Producer;
  let publisher: EventPublisher;
  let telemetry: Telemetry;
  const objects = new ObjectStore(stackEndpoints.s3);

  async function applySpec(ingestion: { batchRows: number; flushAfterMs: number }): Promise<PipelineSpecV1> {
    const id = uniqueName('adult');
    const spec = parsePipelineSpec(adultYaml.replace('id: adult-income', `id: ${id}`));
    const applied = { ...spec, ingestion };
    await new PipelineStore(connection).apply(applied);
    return applied;
  }

  async function publishRecords(pipelineId: string, records: EventData<typeof DataRecordsV1>['records']) {
    const data = { pipelineId, records, source: 'int-test' } as EventData<typeof DataRecordsV1>;
    return publisher.publish(DataRecordsV1, data);
  }

  const datasets = () => connection.collection('datasets');

  beforeAll(async () => {
    // Real tracing (exported to the local Jaeger), so staged batches carry a traceparent as in production.
    telemetry = startTelemetry('keel-ingestion-int');
    connection = await mongoose.createConnection(stackEndpoints.mongoUrl).asPromise();
    kafka = createKafka({ clientId: 'ingestion-int', brokers: stackEndpoints.kafkaBrokers, logger: quiet });
    producer = createProducer(kafka);
    await producer.connect();
    publisher = new EventPublisher(producer, '/keel/int-test');
    service = await startService({
      // A unique name is a unique consumer group, so a running ingestion service does not take our events.
      name: uniqueName('ingestion'),
      envSchema: ingestionEnvSchema,
      features: [IngestionModule],
      telemetry: { enabled: false, forceFlush: async () => undefined, shutdown: async () => undefined },
      env: { ...process.env, HTTP_PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'silent', INGESTION_FLUSH_CHECK_MS: '200' },
    });
  });

  afterAll(async () => {
    await service?.stop();
    await producer?.disconnect();
    await connection?.close();
    await telemetry?.shutdown();
  });

  it('cuts a quiet pipeline into a Parquet dataset version and dead-letters only the bad record', async () => {
    // given a pipeline that flushes after one quiet second
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 1_000 });
    const batch = adultRecords(4);
    batch[3] = { ...batch[3], age: 'forty' };
    // when two events arrive, one with a bad record
    const events = [await publishRecords(spec.id, batch), await publishRecords(spec.id, adultRecords(2, 10))];
    // (staged batches are deleted once cut, so they are read while they wait out the quiet second)
    const stagedRecords = connection.collection('staged_records');
    const staged = await eventually('both staged batches', async () => {
      const docs = await stagedRecords.find({ _id: { $in: events.map((event) => event.id) as never[] } }).toArray();
      return docs.length === 2 ? docs : undefined;
    });

    // then one version holds the five good rows
    const version = await eventually(
      'a dataset version',
      async () => (await datasets().findOne({ pipelineId: spec.id })) ?? undefined,
    );
    expect(version).toMatchObject({ rowCount: 5, format: 'parquet', pipelineId: spec.id });
    expect(version.datasetVersionId).toBe(datasetVersionId(spec.id, version.sha256));
    expect(version.sources).toEqual(expect.arrayContaining(['source:int-test']));
    const bytes = await objects.getVerified({ uri: version.uri, sha256: version.sha256 });
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(version.sha256);
    const table = await readParquet(bytes);
    expect(table.rowCount).toBe(5);
    expect(table.columns.find((c) => c.name === 'age')?.values).toEqual([39, 50, 38, 42, 37]);
    // and the staged batches are consumed (deleted once the version is durable)
    await eventually('the staged batches deleted', async () =>
      (await stagedRecords.countDocuments({ pipelineId: spec.id })) === 0 ? true : undefined,
    );
    expect(staged[0].traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);

    // and the bad record is on the dead-letter topic, on its own, with its reason
    const [dead] = await readUntil(kafka, deadLetterTopic(DataRecordsV1.topic), (value) =>
      value.includes(`"pipelineId":"${spec.id}"`),
    );
    expect(JSON.parse(dead.value)).toMatchObject({ pipelineId: spec.id, index: 3, record: { age: 'forty' } });
    expect(dead.headers[DLQ_HEADERS.reason]).toBe('record 3: age "forty" is not a number');
    expect(dead.headers[DLQ_HEADERS.errorCode]).toBe('invalid-record');
    expect(dead.headers.ce_type).toBe(DataRecordsV1.topic);

    // and the version was announced with its stable id
    const [announced] = await readUntil(
      kafka,
      'mlops.dataset.ingested.v1',
      (_value, headers) => headers.ce_id === datasetIngestedEventId(version.datasetVersionId, 1),
    );
    expect(JSON.parse(announced.value)).toMatchObject({ pipelineId: spec.id, rowCount: 5, sha256: version.sha256 });
    // in the trace of the newest staged batch, so the pipeline run stays one trace
    const traceOf = (traceparent: string) => traceparent.split('-')[1];
    const newest = staged.reduce((a, b) => (a.sequence > b.sequence ? a : b));
    expect(traceOf(announced.headers.traceparent)).toBe(traceOf(newest.traceparent));
  });

  it('cuts on flush and when batchRows are staged', async () => {
    const spec = await applySpec({ batchRows: 3, flushAfterMs: 600_000 });
    const staged = connection.collection('staged_records');
    // given two staged rows, below the batch size
    const first = await publishRecords(spec.id, adultRecords(2));
    await eventually('the staged batch', async () => (await staged.findOne({ _id: first.id as never })) ?? undefined);
    // when flushed by hand, then they become a version
    const flushed = await request(service.app.getHttpServer()).post(`/api/v1/pipelines/${spec.id}/flush`).expect(200);
    expect(flushed.body.dataset).toMatchObject({ rowCount: 2 });
    // when three more arrive, the batch size cuts the next version, whose parent is the flushed one
    await publishRecords(spec.id, adultRecords(3, 20));
    const next = await eventually(
      'the batch-size version',
      async () => (await datasets().findOne({ pipelineId: spec.id, rowCount: 3 })) ?? undefined,
    );
    expect(next.parentVersionId).toBe(flushed.body.dataset.datasetVersionId);
  });

  it('turns a good CSV upload into a version, listed newest first', async () => {
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 600_000 });
    const http = request(service.app.getHttpServer());
    const first = await http
      .post(`/api/v1/pipelines/${spec.id}/datasets?name=adult-head.csv`)
      .set('content-type', 'text/csv')
      .send(csvText(50))
      .expect(201);
    expect(first.body).toMatchObject({ pipelineId: spec.id, rowCount: 50, sources: ['upload:adult-head.csv'] });
    const second = await http
      .post(`/api/v1/pipelines/${spec.id}/datasets`)
      .set('content-type', 'text/csv')
      .send(csvText(10, 100))
      .expect(201);
    expect(second.body.parentVersionId).toBe(first.body.datasetVersionId);
    const listed = await http.get(`/api/v1/pipelines/${spec.id}/datasets`).expect(200);
    expect(listed.body.items.map((item: { datasetVersionId: string }) => item.datasetVersionId)).toEqual([
      second.body.datasetVersionId,
      first.body.datasetVersionId,
    ]);
  });

  it('rejects truncated and invalid CSV files with 400 and writes nothing', async () => {
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 600_000 });
    const http = request(service.app.getHttpServer());
    const full = csvText(5);
    const truncated = full.slice(0, full.length - 30);
    const cut = await http
      .post(`/api/v1/pipelines/${spec.id}/datasets`)
      .set('content-type', 'text/csv')
      .send(truncated)
      .expect(400);
    expect(cut.body.message).toMatch(/^malformed CSV: line 6: expected 16 fields, found \d+$/);

    const bad = full.replace(/^39,/m, 'forty,');
    const invalid = await http
      .post(`/api/v1/pipelines/${spec.id}/datasets`)
      .set('content-type', 'text/csv')
      .send(bad)
      .expect(400);
    expect(invalid.body.issues).toEqual(['line 2: age "forty" is not a number']);

    const noTarget = full.replace('income', 'salary');
    const headerless = await http
      .post(`/api/v1/pipelines/${spec.id}/datasets`)
      .set('content-type', 'text/csv')
      .send(noTarget)
      .expect(400);
    expect(headerless.body.message).toMatch(/line 1: the header lacks columns the spec requires: income/);
    expect(await datasets().countDocuments({ pipelineId: spec.id })).toBe(0);
  });
});
