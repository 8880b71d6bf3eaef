import {
  derivedId,
  type EventData,
  FeaturesMaterializedV1,
  ModelTrainedV1,
  PipelineSpecV1,
  TrainingFailedV1,
} from '@keel/contracts';
import { SPLIT_COLUMN, writeParquet } from '@keel/datasets';
import { fitTransform, stableStringify } from '@keel/ml-models';
import { BUCKETS } from '@keel/storage';
import { EventHandlerHarness, fixtureTable, pipelineSpecFixture } from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type TrainingConfig } from '../config';
import { type ExperimentRunsRepository } from '../experiments/experiment-runs.repository';
import { trainingRunTask } from './training-run.task';
import { TrainingRunsConsumer } from './training-runs.consumer';
import { type TrainingRunsRepository } from './training-runs.repository';
import { TrainingRunsService } from './training-runs.service';

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;

const spec = pipelineSpecFixture('bike-demand', {
  id: 'bike-failing',
  features: [
    { name: 'temp', type: 'numeric', nullable: true, impute: 'mean', standardize: true },
    { name: 'hr', type: 'numeric', nullable: true, impute: 'mean', standardize: true },
  ],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse', seed: 42, window: { type: 'all' } },
});

describe('a training run that fails for good', { timeout: 60_000 }, () => {
  let harness: EventHandlerHarness;
  const workers = new WorkerPool({ threads: 1 });
  beforeAll(() => workers.warm(trainingRunTask), 120_000);
  afterAll(() => workers.close());

  /** A feature set without the spec's `hr` column: no retry can train on it. */
  function materializedWithoutHr(): FeaturesMaterialized {
    const table = fixtureTable('bike', spec, { count: 100 });
    table.columns = table.columns.filter((column) => column.name !== 'hr');
    table.columns.push({
      name: SPLIT_COLUMN,
      type: 'string',
      values: Array.from({ length: table.rowCount }, (_, i) => (i % 5 === 0 ? 'holdout' : 'train')),
    });
    const temp = table.columns.find((c) => c.name === 'temp')!.values as (number | null)[];
    const transform = fitTransform({ temp }, [{ name: 'temp', kind: 'numeric', impute: 'mean', standardize: true }]);
    const featureSet = harness.objects.seed(BUCKETS.features, `${spec.id}/feature-sets`, writeParquet(table));
    const fitted = harness.objects.seed(
      BUCKETS.features,
      `${spec.id}/transforms`,
      Buffer.from(stableStringify(transform)),
    );
    const datasetSha256 = 'e'.repeat(64);
    const datasetVersionId = derivedId('ds', [spec.id, datasetSha256]);
    return {
      pipelineId: spec.id,
      datasetVersionId,
      datasetSha256,
      featureSetId: derivedId('fs', [spec.id, datasetVersionId, featureSet.sha256, fitted.sha256]),
      featureSetUri: featureSet.uri,
      featureSetSha256: featureSet.sha256,
      transformUri: fitted.uri,
      transformSha256: fitted.sha256,
      rowCounts: { train: 80, validation: 0, holdout: 20 },
      trigger: { reason: 'performance-drop', requestId: 'bike-failing:policy:3', requestedBy: 'monitoring' },
    } as FeaturesMaterialized;
  }

  beforeEach(async () => {
    harness = new EventHandlerHarness({ service: 'training' });
    await harness.pipelines.apply(spec);
    const repository = {} as TrainingRunsRepository;
    const service = new TrainingRunsService(
      harness.infrastructure,
      repository,
      harness.logger,
      workers,
      { WORKER_THREADS: 1 } as TrainingConfig,
      {} as ExperimentRunsRepository,
    );
    await new TrainingRunsConsumer(harness.infrastructure, service).onApplicationBootstrap();
  });

  it('given a feature set built with another join definition than the spec declares now, then refused before training with the reason', async () => {
    const joined = {
      ...spec,
      id: 'bike-joined',
      entityColumns: ['station_id'],
      joins: [{ pipeline: 'weather', entityKey: 'station_id', features: ['temp'] }],
    };
    await harness.pipelines.apply(PipelineSpecV1.parse(joined));
    const features = {
      ...materializedWithoutHr(),
      pipelineId: 'bike-joined',
      joins: [{ tablePipelineId: 'weather', joinSha256: 'f'.repeat(64), upToSequence: 2 }],
    } as FeaturesMaterialized;
    expect(await harness.deliver(FeaturesMaterializedV1, features, { id: 'materialized-joined' })).toBe(
      'dead-lettered',
    );
    expect(harness.published(ModelTrainedV1)).toEqual([]);
    const [failed] = harness.published(TrainingFailedV1);
    expect(failed.data).toMatchObject({ pipelineId: 'bike-joined', errorCode: 'join-definition-changed' });
    expect(failed.data.error).toContain('another definition of its join to "weather"');
  });

  it('given a requested run on an untrainable feature set, when handled twice, then one training-failed event and a dead letter', async () => {
    const features = materializedWithoutHr();
    expect(await harness.deliver(FeaturesMaterializedV1, features, { id: 'materialized-1' })).toBe('dead-lettered');
    expect(await harness.deliver(FeaturesMaterializedV1, features, { id: 'materialized-2' })).toBe('dead-lettered');

    expect(harness.published(ModelTrainedV1)).toEqual([]);
    const failed = harness.published(TrainingFailedV1);
    expect(failed).toHaveLength(2);
    expect(failed[1].id).toBe(failed[0].id);
    expect(failed[0].data).toMatchObject({
      pipelineId: spec.id,
      featureSetId: features.featureSetId,
      trigger: { reason: 'performance-drop', requestId: 'bike-failing:policy:3' },
      errorCode: 'bad-feature-set',
    });
    expect(failed[0].data.error).toContain('hr');
  });
});
