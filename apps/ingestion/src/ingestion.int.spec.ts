import { createHash } from 'node:crypto';
import {
  DataRecordsV1,
  DatasetIngestedV1,
  datasetSchema,
  deadLetterTopic,
  type PipelineSpecV1,
  type Scalar,
} from '@keel/contracts';
import { readParquet, tableFromRecords } from '@keel/datasets';
import { DLQ_HEADERS } from '@keel/messaging';
import { BUCKETS } from '@keel/storage';
import { startTelemetry, type Telemetry } from '@keel/telemetry';
import {
  eventually,
  fixtureCsvText,
  fixtureRecords,
  pipelineSpecFixture,
  publishUpstreamRecords,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniquePipelineId,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionEnvSchema } from './config';
import { IngestionModule } from './ingestion.module';
import { datasetIngestedEventId, datasetVersionId } from './datasets/dataset-versions.service';
import { datasetParquet } from './datasets/dataset-parquet';
import { checkColumns, checkRecords, columnsRowCount } from './records/record-checks';
import { CutLogRepository } from './staging/cut-log.repository';
import { STAGING_PREFIX, StagingRepository } from './staging/staging.repository';

describe('ingestion against the real stack', () => {
  let sut: ServiceUnderTest;
  let telemetry: Telemetry;
  const pipelineIds = new Set<string>();

  async function applySpec(ingestion: { batchRows: number; flushAfterMs: number }): Promise<PipelineSpecV1> {
    const spec = pipelineSpecFixture('adult-income', { id: uniquePipelineId('adult'), ingestion });
    pipelineIds.add(spec.id);
    await sut.infra.pipelines.apply(spec);
    return spec;
  }

  /** Publishes one batch of records as an upstream system does and returns its event id. */
  async function publishRecords(pipelineId: string, records: Record<string, Scalar>[]) {
    const [id] = await publishUpstreamRecords(sut.infra.producer, pipelineId, records);
    return { id };
  }

  const adultRecords = (count: number, from = 0) => fixtureRecords('adult', { count, from });

  /** An event's checked rows as staging takes them (staged as columns, as the builds of session 26 staged them). */
  function stagedEvent(spec: PipelineSpecV1, id: string, records: Record<string, Scalar>[], offset: number) {
    const { good } = checkColumns(spec, records);
    return {
      _id: `${spec.id}-${id}`,
      pipelineId: spec.id,
      rowsJson: JSON.stringify(good),
      rowCount: columnsRowCount(good),
      badCount: 0,
      topic: DataRecordsV1.topic,
      partition: 0,
      offset: String(offset),
    };
  }
  const datasets = () => sut.infra.mongo.collection('datasets');

  beforeAll(async () => {
    // Real tracing (exported to the local Jaeger), so staged batches carry a traceparent as in production.
    telemetry = startTelemetry('keel-ingestion-int');
    sut = await startServiceUnderTest({
      service: 'ingestion',
      envSchema: ingestionEnvSchema,
      features: [IngestionModule],
      consumers: { records: [DataRecordsV1] },
      env: { INGESTION_FLUSH_CHECK_MS: '200' },
      record: {
        topics: [deadLetterTopic(DataRecordsV1.topic), DatasetIngestedV1.topic],
        keep: (event) => event.key !== undefined && pipelineIds.has(event.key),
      },
    });
  });

  afterAll(async () => {
    await sut?.close();
    await telemetry?.shutdown();
  });

  it('cuts a quiet pipeline into a Parquet dataset version and dead-letters only the bad record', async () => {
    // given a pipeline that flushes after one quiet second
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 1_000 });
    const batch = adultRecords(4);
    batch[3] = { ...batch[3], age: 'forty' };
    // when two events arrive, one with a bad record
    const events = [await publishRecords(spec.id, batch), await publishRecords(spec.id, adultRecords(2, 9))];
    // (staged batches are deleted once cut, so they are read while they wait out the quiet second)
    const stagedRecords = sut.infra.mongo.collection('staged_records');
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
    const bytes = await sut.infra.objects.getVerified({ uri: version.uri, sha256: version.sha256 });
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(version.sha256);
    const table = await readParquet(bytes);
    expect(table.rowCount).toBe(5);
    expect(table.columns.find((c) => c.name === 'age')?.values).toEqual([39, 50, 38, 42, 37]);
    // and the staged batches and their records are consumed (deleted once the version is durable)
    await eventually('the staged batches deleted', async () =>
      (await stagedRecords.countDocuments({ pipelineId: spec.id })) === 0 ? true : undefined,
    );
    // (their rows were one staging object per fetch, deleted with the last batch that pointed to it)
    const objects = staged.map((doc) => (doc.payload as { key: string }).key);
    expect(objects.every((key) => key.startsWith(STAGING_PREFIX))).toBe(true);
    await eventually('the staging objects deleted', async () => {
      for (const key of new Set(objects)) {
        if (await sut.infra.objects.exists({ bucket: BUCKETS.datasets, key })) return undefined;
      }
      return true;
    });
    expect(staged[0].traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);

    // and the bad record is on the dead-letter topic, on its own, with its reason
    const dead = await sut.recorder.waitForDeadLetter(
      DataRecordsV1,
      // (an ingestion service running on the stack dead-letters the event too, in its own group)
      (e) => e.value.includes(`"pipelineId":"${spec.id}"`) && e.headers.dlq_consumer === sut.consumerGroup('records'),
    );
    expect(JSON.parse(dead.value)).toEqual({ pipelineId: spec.id, source: 'int-test', records: [batch[3]] });
    expect(dead.headers[DLQ_HEADERS.reason]).toBe('record 3: age "forty" is not a number');
    expect(dead.headers[DLQ_HEADERS.errorCode]).toBe('invalid-record');
    expect(dead.headers.ce_type).toBe(DataRecordsV1.topic);
    expect(dead.headers.ce_id).toBe(`${events[0].id}/record-3`);

    // and the dead letter is a data event of its own, which a replay sends back as it is (here with the record
    // fixed): ingested once, however often it is sent
    const replayHeaders = Object.fromEntries(Object.entries(dead.headers).filter(([name]) => !name.startsWith('dlq_')));
    const fixed = JSON.stringify({ pipelineId: spec.id, source: 'int-test', records: [{ ...batch[3], age: 40 }] });
    for (let send = 0; send < 2; send++) {
      await sut.infra.producer.send({
        topic: DataRecordsV1.topic,
        messages: [{ key: spec.id, value: fixed, headers: replayHeaders }],
      });
    }
    const replayed = await eventually(
      'the replayed record in a version of its own',
      async () => (await datasets().findOne({ pipelineId: spec.id, rowCount: 1 })) ?? undefined,
    );
    expect(replayed.parentVersionId).toBe(version.datasetVersionId);
    const replayedBytes = await sut.infra.objects.getVerified({ uri: replayed.uri, sha256: replayed.sha256 });
    expect((await readParquet(replayedBytes)).columns.find((c) => c.name === 'age')?.values).toEqual([40]);
    expect(await datasets().countDocuments({ pipelineId: spec.id })).toBe(2);

    // and the version was announced with its stable id
    const announced = await sut.recorder.waitForEvent(
      DatasetIngestedV1,
      (e) => e.headers.ce_id === datasetIngestedEventId(version.datasetVersionId, 1),
    );
    expect(JSON.parse(announced.value)).toMatchObject({ pipelineId: spec.id, rowCount: 5, sha256: version.sha256 });
    // in the trace of the newest staged batch, so the pipeline run stays one trace
    const traceOf = (traceparent: string) => traceparent.split('-')[1];
    const newest = staged.reduce((a, b) => (a.sequence > b.sequence ? a : b));
    expect(traceOf(announced.headers.traceparent)).toBe(traceOf(newest.traceparent));
  });

  it('cuts on flush and when batchRows are staged', async () => {
    const spec = await applySpec({ batchRows: 3, flushAfterMs: 600_000 });
    const staged = sut.infra.mongo.collection('staged_records');
    // given two staged rows, below the batch size
    const first = await publishRecords(spec.id, adultRecords(2));
    await eventually('the staged batch', async () => (await staged.findOne({ _id: first.id as never })) ?? undefined);
    // when flushed by hand, then they become a version
    const flushed = await request(sut.app.getHttpServer()).post(`/api/v1/pipelines/${spec.id}/flush`).expect(200);
    expect(flushed.body.dataset).toMatchObject({ rowCount: 2 });
    // when three more arrive, the batch size cuts the next version, whose parent is the flushed one
    await publishRecords(spec.id, adultRecords(3, 19));
    const next = await eventually(
      'the batch-size version',
      async () => (await datasets().findOne({ pipelineId: spec.id, rowCount: 3 })) ?? undefined,
    );
    expect(next.parentVersionId).toBe(flushed.body.dataset.datasetVersionId);
  });

  it('stages a redelivered event once, whatever batch the redelivery comes in', async () => {
    // given three events' rows, staged as two batches that overlap in one event (a fetch redelivered differently)
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 600_000 });
    const staging = sut.app.get(StagingRepository);
    const event = (id: string, from: number) => stagedEvent(spec, id, adultRecords(2, from), from);
    const first = await staging.stageMany([event('a', 200), event('b', 202)]);
    const second = await staging.stageMany([event('b', 202), event('c', 204)]);

    // then the repeated event is recognised with its first document, the new one staged after it
    expect(first.map((result) => result.created)).toEqual([true, true]);
    expect(second.map((result) => result.created)).toEqual([false, true]);
    expect(second[0].batch.sequence).toBe(first[1].batch.sequence);
    expect(second[1].batch.sequence).toBeGreaterThan(first[1].batch.sequence);
    // and a flush cuts each event's rows once, in arrival order
    const flushed = await request(sut.app.getHttpServer()).post(`/api/v1/pipelines/${spec.id}/flush`).expect(200);
    expect(flushed.body.dataset).toMatchObject({ rowCount: 6 });
    const version = (await datasets().findOne({ pipelineId: spec.id }))!;
    const table = await readParquet(
      await sut.infra.objects.getVerified({ uri: version.uri as string, sha256: version.sha256 as string }),
    );
    expect(table.columns.find((c) => c.name === 'fnlwgt')?.values).toEqual(
      adultRecords(6, 200).map((record) => Number(record.fnlwgt)),
    );
  });

  it('finishes a cut that recorded its version before a crash from the stored bytes, not by encoding again', async () => {
    // given two staged events and a plan for them that recorded its version, whose bytes are in the store, and
    // which a build with another encoder wrote (here: other metadata, so other bytes for the same rows)
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 600_000 });
    const staging = sut.app.get(StagingRepository);
    const records = adultRecords(4, 300);
    const events = [0, 2].map((at) => stagedEvent(spec, String(at), records.slice(at, at + 2), at));
    await staging.stageMany(events);
    const schema = datasetSchema(spec).map(({ name, type }) => ({ name, type }));
    const { good: rows } = checkRecords(spec, records);
    const before = datasetParquet({ id: `${spec.id} (an older encoder)` }, tableFromRecords(rows, schema));
    const stored = await sut.infra.objects.putContentAddressed(BUCKETS.datasets, spec.id, before, {
      extension: '.parquet',
    });
    const recorded = datasetVersionId(spec.id, stored.sha256);
    const planned = await sut.app.get(CutLogRepository).advance(spec.id, 0, {
      phase: 'planned',
      batchIds: events.map((event) => event._id),
      datasetVersionId: recorded,
      sha256: stored.sha256,
      rowCount: 4,
    });
    expect(planned).toBe(true);
    // when the pipeline is cut (the plan is finished first)
    const flushed = await request(sut.app.getHttpServer()).post(`/api/v1/pipelines/${spec.id}/flush`).expect(200);
    // then its version is the recorded one, the only one, and the staged batches are gone
    expect(flushed.body.dataset).toMatchObject({ datasetVersionId: recorded, rowCount: 4, sha256: stored.sha256 });
    const versions = await datasets().find({ pipelineId: spec.id }).toArray();
    expect(versions.map((version) => version.datasetVersionId)).toEqual([recorded]);
    expect(await sut.infra.mongo.collection('staged_records').countDocuments({ pipelineId: spec.id })).toBe(0);
  });

  it('puts every staged record in exactly one dataset version when two replicas cut the same pipeline', async () => {
    // given a second replica of the service (same consumer groups, same database)
    const replica = await startServiceUnderTest({
      service: 'ingestion',
      name: sut.name,
      envSchema: ingestionEnvSchema,
      features: [IngestionModule],
      env: { INGESTION_FLUSH_CHECK_MS: '200' },
    });
    try {
      const spec = await applySpec({ batchRows: 5, flushAfterMs: 600_000 });
      const replicas = [sut, replica].map((service) => request(service.app.getHttpServer()));
      const published: Record<string, Scalar>[] = [];
      // when records arrive while both replicas flush the pipeline at the same moments
      for (let event = 0; event < 12; event++) {
        const records = adultRecords(2, 100 + 2 * event);
        published.push(...records);
        await publishRecords(spec.id, records);
        if (event % 3 === 2) {
          await Promise.all(replicas.map((http) => http.post(`/api/v1/pipelines/${spec.id}/flush`).expect(200)));
        }
      }
      const staged = sut.infra.mongo.collection('staged_records');
      await eventually('every event staged or cut', async () => {
        await Promise.all(replicas.map((http) => http.post(`/api/v1/pipelines/${spec.id}/flush`).expect(200)));
        const rows = (await datasets().find({ pipelineId: spec.id }).toArray()).reduce(
          (sum, version) => sum + (version.rowCount as number),
          0,
        );
        return rows >= published.length && (await staged.countDocuments({ pipelineId: spec.id })) === 0
          ? true
          : undefined;
      });
      // then the versions hold every published record exactly once
      const key = (record: Record<string, unknown>) => `${String(record.age)}/${String(record.fnlwgt)}`;
      const cut: string[] = [];
      for (const version of await datasets().find({ pipelineId: spec.id }).toArray()) {
        const table = await readParquet(
          await sut.infra.objects.getVerified({ uri: version.uri as string, sha256: version.sha256 as string }),
        );
        const column = (name: string) => table.columns.find((c) => c.name === name)!.values;
        const [ages, weights] = [column('age'), column('fnlwgt')];
        for (let row = 0; row < table.rowCount; row++) cut.push(key({ age: ages[row], fnlwgt: weights[row] }));
      }
      expect(cut.sort()).toEqual(published.map(key).sort());
    } finally {
      await replica.close();
    }
  });

  it('turns a good CSV upload into a version, listed newest first', async () => {
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 600_000 });
    const http = request(sut.app.getHttpServer());
    const first = await http
      .post(`/api/v1/pipelines/${spec.id}/datasets?name=adult-head.csv`)
      .set('content-type', 'text/csv')
      .send(fixtureCsvText('adult', { count: 50 }))
      .expect(201);
    expect(first.body).toMatchObject({ pipelineId: spec.id, rowCount: 50, sources: ['upload:adult-head.csv'] });
    const second = await http
      .post(`/api/v1/pipelines/${spec.id}/datasets`)
      .set('content-type', 'text/csv')
      .send(fixtureCsvText('adult', { count: 10, from: 99 }))
      .expect(201);
    expect(second.body.parentVersionId).toBe(first.body.datasetVersionId);
    const listed = await http.get(`/api/v1/pipelines/${spec.id}/datasets`).expect(200);
    expect(listed.body.items.map((item: { datasetVersionId: string }) => item.datasetVersionId)).toEqual([
      second.body.datasetVersionId,
      first.body.datasetVersionId,
    ]);
    expect([first.body.sequence, second.body.sequence]).toEqual([1, 2]);
  });

  it('diffs two versions by id or sequence number: rows, schema and per-column distribution change', async () => {
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 600_000 });
    const http = request(sut.app.getHttpServer());
    const upload = async (csv: string) =>
      (await http.post(`/api/v1/pipelines/${spec.id}/datasets`).set('content-type', 'text/csv').send(csv).expect(201))
        .body as { datasetVersionId: string };
    const first = await upload(fixtureCsvText('adult', { count: 400 }));
    // The next 300 rows, thirty years older.
    const [header, ...lines] = fixtureCsvText('adult', { count: 300, from: 400 }).trim().split('\n');
    const aged = lines.map((line) => line.replace(/^(\d+),/, (_, age: string) => `${Number(age) + 30},`));
    const second = await upload([header, ...aged].join('\n') + '\n');

    const byId = await http
      .get(`/api/v1/pipelines/${spec.id}/datasets/diff`)
      .query({ from: first.datasetVersionId, to: second.datasetVersionId })
      .expect(200);
    const bySequence = await http.get(`/api/v1/pipelines/${spec.id}/datasets/diff?from=1&to=2`).expect(200);
    expect(bySequence.body).toEqual(byId.body);
    const diff = byId.body;
    expect(diff).toMatchObject({
      pipelineId: spec.id,
      from: { datasetVersionId: first.datasetVersionId, sequence: 1, rowCount: 400 },
      to: { datasetVersionId: second.datasetVersionId, sequence: 2, rowCount: 300 },
      rows: { from: 400, to: 300, change: -100 },
      schema: { added: [], removed: [], typeChanged: [] },
    });
    const column = (name: string) => diff.columns.find((c: { name: string }) => c.name === name);
    expect(column('age').to.mean - column('age').from.mean).toBeGreaterThan(25);
    expect(column('age').psi).toBeGreaterThan(1);
    expect(column('age').ksPValue).toBeLessThan(1e-6);
    expect(column('hours_per_week').psi).toBeLessThan(0.2);
    expect(column('sex')).toMatchObject({ kind: 'categorical', added: [], removed: [] });
    expect(column('sex').chiSquarePValue).toBeGreaterThan(0.001);

    await http.get(`/api/v1/pipelines/${spec.id}/datasets/diff?from=1`).expect(400);
    await http.get(`/api/v1/pipelines/${spec.id}/datasets/diff?from=1&to=9`).expect(404);
  });

  it('rejects truncated and invalid CSV files with 400 and writes nothing', async () => {
    const spec = await applySpec({ batchRows: 100_000, flushAfterMs: 600_000 });
    const http = request(sut.app.getHttpServer());
    const full = fixtureCsvText('adult', { count: 5 });
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
