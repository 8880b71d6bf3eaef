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
  // A second pipeline whose spec rejects a version whose numeric features move by 0.3 of a standard deviation.
  const base = pipelineSpecFixture('adult-income', { id: uniquePipelineId('adult-shift') });
  const shiftSpec: PipelineSpecV1 = {
    ...base,
    validation: {
      ...base.validation,
      shift: {
        against: 'both',
        action: 'reject',
        numeric: { statistic: 'wasserstein', threshold: 0.3 },
        categorical: { statistic: 'jensen-shannon', threshold: 0.2 },
        columns: {},
      },
    },
  };

  /** Writes a table as a dataset version of a test pipeline and announces it, as ingestion does. */
  async function ingest(
    table: DatasetTable,
    pipeline: PipelineSpecV1 = spec,
    sequence?: number,
  ): Promise<EventData<typeof DatasetIngestedV1>> {
    const stored = await sut.infra.objects.putContentAddressed(
      BUCKETS.datasets,
      pipeline.id,
      writeParquet(table, { test: pipeline.id }),
      {
        extension: '.parquet',
      },
    );
    const data = {
      ...datasetIngestedData(pipeline.id, stored, table, ['int-test']),
      ...(sequence === undefined ? {} : { sequence }),
    };
    await sut.infra.publisher.publish(DatasetIngestedV1, data, { id: `dataset-ingested-${data.datasetVersionId}` });
    return data;
  }

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      service: 'validation',
      envSchema: validationEnvSchema,
      features: [ValidationModule],
      pipelines: [spec, shiftSpec],
      consumers: { datasets: [DatasetIngestedV1] },
      record: {
        topics: [DatasetValidatedV1.topic, DatasetRejectedV1.topic],
        keep: (event) => event.key === spec.id || event.key === shiftSpec.id,
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

  it('under validation.shift, accepts a similar version and rejects one whose hours moved, naming the shift', async () => {
    // given a first version, a similar second one, and a third whose hours_per_week are 20 hours longer
    const first = await ingest(fixtureTable('adult', shiftSpec, { count: 300 }), shiftSpec, 1);
    const similar = await ingest(fixtureTable('adult', shiftSpec, { count: 300, from: 1_000 }), shiftSpec, 2);
    const longer = fixtureTable('adult', shiftSpec, { count: 300, from: 2_000 });
    const hours = longer.columns.find((c) => c.name === 'hours_per_week')!;
    hours.values = hours.values.map((v) => (typeof v === 'number' ? v + 20 : v));
    const shifted = await ingest(longer, shiftSpec, 3);
    // then the similar one is validated against the first as reference and as previous version
    const { data: validated } = await sut.recorder.waitForEvent(
      DatasetValidatedV1,
      (e) => e.id === validationEventId('validated', similar.datasetVersionId, 1),
    );
    expect(validated.shift).toEqual({
      referenceVersionId: first.datasetVersionId,
      previousVersionId: first.datasetVersionId,
      shifted: [],
    });
    // and the shifted one is rejected, against both, naming the column, statistic, value and threshold
    const { data: rejected } = await sut.recorder.waitForEvent(
      DatasetRejectedV1,
      (e) => e.id === validationEventId('rejected', shifted.datasetVersionId, 1),
    );
    expect(rejected.shift?.previousVersionId).toBe(similar.datasetVersionId);
    expect(rejected.failures).toEqual([
      expect.objectContaining({ check: 'distribution-shift', column: 'hours_per_week', severity: 'error' }),
      expect.objectContaining({ check: 'distribution-shift', column: 'hours_per_week', severity: 'error' }),
    ]);
    expect(rejected.failures[1].message).toMatch(
      /^hours_per_week shifted against the previous version ds-[0-9a-f]+: wasserstein 1\.\d+, at or above the reject threshold 0\.3$/,
    );
    // and the REST report lists every column against each baseline
    const listed = await request(sut.app.getHttpServer()).get(`/api/v1/pipelines/${shiftSpec.id}/reports`).expect(200);
    const newest = listed.body.items[0];
    expect(newest).toMatchObject({ datasetVersionId: shifted.datasetVersionId, passed: false, sequence: 3 });
    expect(newest.shift.columns).toHaveLength(30);
    expect(newest.shift.columns).toContainEqual(
      expect.objectContaining({ column: 'hours_per_week', against: 'previous', drifted: true, action: 'reject' }),
    );
  });
});
