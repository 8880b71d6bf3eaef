import { DataRecordsV1 } from '@keel/contracts';
import {
  fixtureCsvText,
  fixtureRecords,
  pipelineSpecFixture,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniquePipelineId,
} from '@keel/testing';
import { parquetWriteBuffer } from 'hyparquet-writer';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestionEnvSchema } from '../config';
import { IngestionModule } from '../ingestion.module';

describe('uploads of CSV, JSON Lines and Parquet against the real stack', () => {
  let sut: ServiceUnderTest;

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      service: 'ingestion',
      envSchema: ingestionEnvSchema,
      features: [IngestionModule],
      consumers: { records: [DataRecordsV1] },
    });
  });

  afterAll(async () => {
    await sut?.close();
  });

  it('round-trips the same 400 rows as CSV, JSON Lines and Parquet to the same dataset bytes', async () => {
    // given a pipeline and 400 rows of Adult in three formats
    const spec = pipelineSpecFixture('adult-income', { id: uniquePipelineId('formats') });
    await sut.infra.pipelines.apply(spec);
    const csv = fixtureCsvText('adult', { count: 400 });
    const records = fixtureRecords('adult', { count: 400, numeric: spec });
    const jsonl = records.map((record) => JSON.stringify(record)).join('\n') + '\n';
    const parquet = Buffer.from(
      parquetWriteBuffer({
        columnData: Object.keys(records[0]).map((name) => {
          const values = records.map((record) => record[name]);
          const numeric = values.some((value) => typeof value === 'number');
          return { name, data: values, type: numeric ? 'DOUBLE' : 'STRING' };
        }),
        rowGroupSize: 150,
      }),
    );
    const http = request(sut.app.getHttpServer());
    const upload = async (type: string, body: string | Buffer, name: string) =>
      (
        await http
          .post(`/api/v1/pipelines/${spec.id}/datasets?name=${name}`)
          .set('content-type', type)
          .send(body)
          .expect(201)
      ).body as { datasetVersionId: string; sha256: string; rowCount: number };

    // when each is uploaded
    const fromCsv = await upload('text/csv', csv, 'adult.csv');
    const fromJsonl = await upload('application/x-ndjson', jsonl, 'adult.jsonl');
    const fromParquet = await upload('application/vnd.apache.parquet', parquet, 'adult.parquet');

    // then all three are one version: the same bytes, so the same sha256
    expect(fromCsv.rowCount).toBe(400);
    expect(fromJsonl).toMatchObject({ datasetVersionId: fromCsv.datasetVersionId, sha256: fromCsv.sha256 });
    expect(fromParquet).toMatchObject({ datasetVersionId: fromCsv.datasetVersionId, sha256: fromCsv.sha256 });
    expect(await sut.infra.mongo.collection('datasets').countDocuments({ pipelineId: spec.id })).toBe(1);
  });

  it('answers 400 naming the line of a bad JSON Lines file, and 415 for a format it does not read', async () => {
    const spec = pipelineSpecFixture('adult-income', { id: uniquePipelineId('formats') });
    await sut.infra.pipelines.apply(spec);
    const http = request(sut.app.getHttpServer());
    const [good] = fixtureRecords('adult', { count: 1, numeric: spec });
    const bad = await http
      .post(`/api/v1/pipelines/${spec.id}/datasets`)
      .set('content-type', 'application/x-ndjson')
      .send(`${JSON.stringify(good)}\n{"age": 3,\n`)
      .expect(400);
    expect(bad.body.message).toMatch(/^malformed JSON Lines: line 2: not JSON/);
    await http
      .post(`/api/v1/pipelines/${spec.id}/datasets`)
      .set('content-type', 'application/vnd.ms-excel')
      .send('x')
      .expect(415);
  });
});
