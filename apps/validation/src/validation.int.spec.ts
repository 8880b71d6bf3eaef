import {
  DatasetIngestedV1,
  DatasetRejectedV1,
  DatasetValidatedV1,
  type EventData,
  type PipelineSpecV1,
} from '@keel/contracts';
import { type DatasetTable, writeParquet } from '@keel/datasets';
import { BUCKETS, parseObjectUri, sha256InKey } from '@keel/storage';
import {
  datasetIngestedData,
  fixtureTable,
  pipelineSpecFixture,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniquePipelineId,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validationEnvSchema } from './config';
import { ValidationModule } from './validation.module';
import { validationEventId } from './reports/validation.service';

describe('validation against the real stack', () => {
  let sut: ServiceUnderTest;
  const spec: PipelineSpecV1 = pipelineSpecFixture('adult-income', { id: uniquePipelineId('adult') });

  /** Writes a table as a dataset version of the test pipeline and announces it, as ingestion does. */
  async function ingest(table: DatasetTable): Promise<EventData<typeof DatasetIngestedV1>> {
    const stored = await sut.infra.objects.putContentAddressed(
      BUCKETS.datasets,
      spec.id,
      writeParquet(table, { test: spec.id }),
      {
        extension: '.parquet',
      },
    );
    const data = datasetIngestedData(spec.id, stored, table, ['int-test']);
    await sut.infra.publisher.publish(DatasetIngestedV1, data, { id: `dataset-ingested-${data.datasetVersionId}` });
    return data;
  }

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      service: 'validation',
      envSchema: validationEnvSchema,
      features: [ValidationModule],
      pipelines: [spec],
      consumers: { datasets: [DatasetIngestedV1] },
      record: {
        topics: [DatasetValidatedV1.topic, DatasetRejectedV1.topic],
        keep: (event) => event.key === spec.id,
      },
    });
  });

  afterAll(async () => {
    await sut?.close();
  });

  it('validates a good first version, sets the reference and writes a report', async () => {
    // given a good first version of 300 Adult rows
    const data = await ingest(fixtureTable('adult', spec, { count: 300 }));
    // then it is validated, with a report in Mongo and in object storage
    const { data: validated } = await sut.recorder.waitForEvent(
      DatasetValidatedV1,
      (e) => e.id === validationEventId('validated', data.datasetVersionId, 1),
    );
    expect(validated).toMatchObject({
      pipelineId: spec.id,
      datasetVersionId: data.datasetVersionId,
      datasetSha256: data.sha256,
    });
    const report = await sut.infra.mongo
      .collection('validation_reports')
      .findOne({ datasetVersionId: data.datasetVersionId });
    expect(report).toMatchObject({ pipelineId: spec.id, passed: true, reportUri: validated.reportUri });
    const reportSha256 = sha256InKey(parseObjectUri(validated.reportUri).key)!;
    const body = JSON.parse(
      (await sut.infra.objects.getVerified({ uri: validated.reportUri, sha256: reportSha256 })).toString('utf8'),
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
    const reference = await sut.infra.mongo.collection('validation_references').findOne({ pipelineId: spec.id });
    expect(reference?.datasetVersionId).toBe(data.datasetVersionId);
    expect(reference?.columns.find((c: { name: string }) => c.name === 'sex').categories).toEqual(['Female', 'Male']);
  });

  it('rejects a version with a mistyped column and unseen categories', async () => {
    // given a later version whose age is text and whose workclass is mostly new
    const table = fixtureTable('adult', spec, { count: 300, from: 999 });
    const age = table.columns.find((c) => c.name === 'age')!;
    age.type = 'string';
    age.values = age.values.map((v) => (v === null ? null : String(v)));
    const workclass = table.columns.find((c) => c.name === 'workclass')!;
    workclass.values = workclass.values.map((v, i) => (i % 2 === 0 ? 'Martian-gov' : v));
    const data = await ingest(table);
    // then it is rejected with both errors named
    const { data: rejected } = await sut.recorder.waitForEvent(
      DatasetRejectedV1,
      (e) => e.id === validationEventId('rejected', data.datasetVersionId, 1),
    );
    expect(rejected.failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: 'column-type', column: 'age', severity: 'error' }),
        expect.objectContaining({ check: 'unseen-category', column: 'workclass', severity: 'error' }),
      ]),
    );
    // and both reports are listed, newest first
    const listed = await request(sut.app.getHttpServer()).get(`/api/v1/pipelines/${spec.id}/reports`).expect(200);
    expect(listed.body.items.map((item: { passed: boolean }) => item.passed)).toEqual([false, true]);
  });
});
