import { DatasetValidatedV1, type EventData, FeaturesMaterializedV1 } from '@keel/contracts';
import { writeParquet } from '@keel/datasets';
import { BUCKETS } from '@keel/storage';
import { datasetValidatedData, EventHandlerHarness, fixtureTable, pipelineSpecFixture } from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { featureSetTask } from './feature-set.task';
import { FeatureSetsConsumer } from './feature-sets.consumer';
import { type FeatureSetRecord, type FeatureSetsRepository } from './feature-sets.repository';
import {
  featureSetId as derivedFeatureSetId,
  featuresMaterializedEventId,
  FeatureSetsService,
} from './feature-sets.service';

/** The repository's contract in memory; `failNextUpserts` stands in for a database that blinks. */
class InMemoryFeatureSetsRepository {
  failNextUpserts = 0;
  constructor(private readonly harness: EventHandlerHarness) {}

  async upsert(record: Omit<FeatureSetRecord, 'createdAt'>): Promise<void> {
    if (this.failNextUpserts > 0) {
      this.failNextUpserts -= 1;
      throw new Error('connection reset');
    }
    this.harness.recordWrite('feature_sets', `${record.pipelineId}/${record.featureSetId}`, record);
  }
}

const spec = pipelineSpecFixture('adult-income', { id: 'adult-unit' });

// Feature sets are built on a worker thread; on a busy machine that can take longer than the default five seconds.
describe('feature-sets consumer, handled in memory', { timeout: 60_000 }, () => {
  const workers = new WorkerPool({ threads: 1 });
  beforeAll(() => workers.warm(featureSetTask), 120_000);
  afterAll(() => workers.close());
  let harness: EventHandlerHarness;
  let repository: InMemoryFeatureSetsRepository;

  /** A validated dataset version of a pipeline (by default the spec's), its bytes given in object storage. */
  function validated(drop: string[] = [], pipelineId: string = spec.id): EventData<typeof DatasetValidatedV1> {
    const table = fixtureTable('adult', spec, { count: 2_000, drop });
    const stored = harness.objects.seed(BUCKETS.datasets, `${pipelineId}/versions`, writeParquet(table), {
      extension: '.parquet',
    });
    return datasetValidatedData(pipelineId, stored);
  }

  beforeEach(async () => {
    harness = new EventHandlerHarness({ service: 'features' });
    await harness.pipelines.apply(spec);
    repository = new InMemoryFeatureSetsRepository(harness);
    const typed = repository as unknown as FeatureSetsRepository;
    const service = new FeatureSetsService(harness.infrastructure, typed, harness.logger, workers);
    await new FeatureSetsConsumer(harness.infrastructure, service).onApplicationBootstrap();
  });

  it('given a validated version, when handled, then it stores transform and feature set and announces them', async () => {
    const data = validated();

    expect(await harness.deliver(DatasetValidatedV1, data)).toBe('handled');

    const [materialized] = harness.published(FeaturesMaterializedV1);
    const { featureSetId, featureSetSha256, transformSha256 } = materialized.data;
    expect(materialized.id).toBe(featuresMaterializedEventId(featureSetId, 1));
    expect(materialized.data).toMatchObject({
      pipelineId: spec.id,
      datasetVersionId: data.datasetVersionId,
      datasetSha256: data.datasetSha256,
      featureSetId: derivedFeatureSetId(materialized.data),
      featureSetUri: `s3://${BUCKETS.features}/${spec.id}/feature-sets/${featureSetSha256}.parquet`,
      transformUri: `s3://${BUCKETS.features}/${spec.id}/transforms/${transformSha256}.json`,
      rowCounts: { train: 1440, validation: 160, holdout: 400 },
    });
    expect(harness.writes.map((write) => `${write.target} ${write.key}`).sort()).toEqual([
      `feature_sets ${spec.id}/${featureSetId}`,
      `object:${BUCKETS.features} ${spec.id}/feature-sets/${featureSetSha256}.parquet`,
      `object:${BUCKETS.features} ${spec.id}/transforms/${transformSha256}.json`,
    ]);
  });

  it('given the same version under a new event id, when handled, then the same bytes and event id follow', async () => {
    const data = validated();

    await harness.deliver(DatasetValidatedV1, data, { id: 'validated-1' });
    await harness.deliver(DatasetValidatedV1, data, { id: 'validated-2' });

    const [first, second] = harness.published(FeaturesMaterializedV1);
    expect(second.id).toBe(first.id);
    expect(second.data).toEqual(first.data);
    expect(harness.writes.filter((write) => write.target.startsWith('object:'))).toHaveLength(2);
  });

  it('given two pipelines with identical data and spec, when handled, then equal bytes under two feature-set and event ids', async () => {
    const twin = { ...spec, id: 'adult-twin' } as typeof spec;
    await harness.pipelines.apply(twin);

    await harness.deliver(DatasetValidatedV1, validated());
    await harness.deliver(DatasetValidatedV1, validated([], twin.id));

    const [first, second] = harness.published(FeaturesMaterializedV1);
    expect(second.data.featureSetSha256).toBe(first.data.featureSetSha256);
    expect(second.data.transformSha256).toBe(first.data.transformSha256);
    expect(second.data.featureSetId).not.toBe(first.data.featureSetId);
    expect(second.id).not.toBe(first.id);
  });

  it('given a version that lacks a declared column, when handled, then it is dead-lettered naming it', async () => {
    expect(await harness.deliver(DatasetValidatedV1, validated(['sex']))).toBe('dead-lettered');

    const [dead] = harness.deadLetters(DatasetValidatedV1);
    expect(dead.headers.dlq_reason).toContain('dataset lacks column(s) sex');
    expect(dead.headers).toMatchObject({
      dlq_error_code: 'bad-dataset',
      dlq_attempts: '1',
      dlq_consumer: 'features.datasets',
    });
    expect(harness.published(FeaturesMaterializedV1)).toEqual([]);
  });

  it('given a database that fails once, when handled, then the retry materializes the version once', async () => {
    repository.failNextUpserts = 1;

    expect(await harness.deliver(DatasetValidatedV1, validated())).toBe('handled');

    expect(harness.published(FeaturesMaterializedV1)).toHaveLength(1);
    expect(harness.writes.filter((write) => write.target === 'feature_sets')).toHaveLength(1);
    expect(harness.deadLetters(DatasetValidatedV1)).toEqual([]);
  });
});
