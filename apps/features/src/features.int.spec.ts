import { createHash } from 'node:crypto';
import { deadLetterTopic, DatasetValidatedV1, type EventData, FeaturesMaterializedV1 } from '@keel/contracts';
import { readParquet, writeParquet } from '@keel/datasets';
import { BUCKETS } from '@keel/storage';
import {
  datasetValidatedData,
  fixtureTable,
  pipelineSpecFixture,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featuresEnvSchema } from './config';
import { FeaturesModule } from './features.module';
import { featureSetId, featuresMaterializedEventId } from './feature-sets/feature-sets.service';

describe('features against the real stack', () => {
  let sut: ServiceUnderTest;
  const pipelineId = uniquePipelineId('fs-test');
  const spec = pipelineSpecFixture('adult-income', { id: pipelineId });

  async function putDataset(drop: string[] = []): Promise<EventData<typeof DatasetValidatedV1>> {
    const stored = await sut.infra.objects.putContentAddressed(
      BUCKETS.datasets,
      `${pipelineId}/versions`,
      writeParquet(fixtureTable('adult', spec, { count: 2_000, drop })),
      { extension: '.parquet' },
    );
    return datasetValidatedData(pipelineId, stored);
  }

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      service: 'features',
      envSchema: featuresEnvSchema,
      features: [FeaturesModule],
      pipelines: [spec],
      consumers: { datasets: [DatasetValidatedV1] },
      record: {
        topics: [FeaturesMaterializedV1.topic, deadLetterTopic(DatasetValidatedV1.topic)],
        keep: (event) => event.key === pipelineId,
      },
    });
  });

  afterAll(async () => {
    await sut?.close();
  });

  it('materializes the feature set and transform of a validated dataset, deterministically', async () => {
    const validated = await putDataset();
    await sut.infra.publisher.publish(DatasetValidatedV1, validated, { id: uniqueName('validated') });
    const event = await sut.recorder.waitForEvent(FeaturesMaterializedV1);
    const data = event.data;
    expect(data).toMatchObject({
      pipelineId,
      datasetVersionId: validated.datasetVersionId,
      datasetSha256: validated.datasetSha256,
      featureSetId: featureSetId({ ...data, snapshotId: data.snapshot!.snapshotId }),
      // the seeded row-key split of these 2,000 rows
      rowCounts: { train: 1435, validation: 180, holdout: 385 },
      snapshot: { window: 'all', upToDatasetVersionId: validated.datasetVersionId, increments: 1, rows: 2_000 },
      trigger: { reason: 'new-data' },
    });
    expect(event.id).toBe(featuresMaterializedEventId(data.featureSetId, 1));
    expect(data.featureSetUri).toBe(
      `s3://${BUCKETS.features}/${pipelineId}/feature-sets/${data.featureSetSha256}.parquet`,
    );

    // The stored objects are what the event promises (getVerified checks the sha256 the event announces).
    const objects = sut.infra.objects;
    const table = await readParquet(
      await objects.getVerified({ uri: data.featureSetUri, sha256: data.featureSetSha256 }),
    );
    expect(table.rowCount).toBe(2_000);
    expect(table.columns.map((c) => c.name)).toEqual(expect.arrayContaining(['split', '_row_key']));
    expect(table.columns.map((c) => c.name)).toEqual(expect.arrayContaining(['age', 'income', 'sex', 'race']));
    const transformBytes = await objects.getVerified({ uri: data.transformUri, sha256: data.transformSha256 });
    expect(createHash('sha256').update(transformBytes).digest('hex')).toBe(data.transformSha256);
    const transform = JSON.parse(transformBytes.toString()) as { features: string[] };
    expect(transform.features).toHaveLength(14);

    const featureSets = sut.infra.mongo.collection('feature_sets');
    const doc = await featureSets.findOne({ pipelineId, featureSetId: data.featureSetId });
    expect(doc).toMatchObject({
      datasetVersionId: validated.datasetVersionId,
      featureSetSha256: data.featureSetSha256,
      transformSha256: data.transformSha256,
      rowCounts: data.rowCounts,
    });

    // The same dataset again (a new event): the same bytes, ids and event id.
    await sut.infra.publisher.publish(DatasetValidatedV1, validated, { id: uniqueName('validated') });
    const [, again] = await sut.recorder.waitForAll((e) => e.topic === FeaturesMaterializedV1.topic, 2, {
      what: 'second features.materialized',
    });
    expect(again.id).toBe(event.id);
    expect(again.data).toEqual(event.data);
    expect(await featureSets.countDocuments({ pipelineId })).toBe(1);
  });

  it('dead-letters a dataset that lacks a declared column, naming it', async () => {
    const validated = await putDataset(['sex']);
    const eventId = uniqueName('validated-bad');
    await sut.infra.publisher.publish(DatasetValidatedV1, validated, { id: eventId });
    // (a features service running on the stack dead-letters the event too, in its own group)
    const dead = await sut.recorder.waitForDeadLetter(
      DatasetValidatedV1,
      (e) => e.id === eventId && e.headers.dlq_consumer === sut.consumerGroup('datasets'),
    );
    expect(dead.headers.dlq_reason).toContain('lacks column(s) sex');
    expect(dead.headers.dlq_consumer).toBe(sut.consumerGroup('datasets'));
  });
});
