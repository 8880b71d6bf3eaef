import { derivedId, type EventData, FeaturesMaterializedV1, ModelTrainedV1 } from '@keel/contracts';
import { SPLIT_COLUMN, writeParquet } from '@keel/datasets';
import { fitTransform, stableStringify } from '@keel/ml-models';
import { BUCKETS } from '@keel/storage';
import { EventHandlerHarness, fixtureTable, pipelineSpecFixture } from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type TrainingConfig } from '../config';
import { type ExperimentRun } from '../experiments/experiment-runs';
import { type ExperimentRunsRepository } from '../experiments/experiment-runs.repository';
import { trainingRunTask } from './training-run.task';
import { TrainingRunsConsumer } from './training-runs.consumer';
import { type TrainingRunRecord, type TrainingRunsRepository } from './training-runs.repository';
import { modelTrainedEventId, trainingRunId, TrainingRunsService } from './training-runs.service';

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;

/** What a feature-set announcement needs of training's repository, in memory. */
class InMemoryTrainingRunsRepository {
  constructor(private readonly harness: EventHandlerHarness) {}

  async saveRun(run: TrainingRunRecord): Promise<void> {
    this.harness.recordWrite('training_runs', run.runId, run);
  }

  async recordRequestOutcome(outcome: { pipelineId: string; requestId: string; runId: string }): Promise<void> {
    this.harness.recordWrite('training_requests', `${outcome.pipelineId}/${outcome.requestId}`, outcome);
  }
}

/** Training's experiment runs, in memory. */
class InMemoryExperimentRuns {
  constructor(private readonly harness: EventHandlerHarness) {}

  async saveAll(runs: readonly ExperimentRun[]): Promise<void> {
    for (const run of runs) this.harness.recordWrite('experiment_runs', run.runId, run);
  }
}

const spec = pipelineSpecFixture('bike-demand', {
  id: 'bike-unit',
  features: [
    { name: 'temp', type: 'numeric', nullable: true, impute: 'mean', standardize: true },
    { name: 'hr', type: 'numeric', nullable: true, impute: 'mean', standardize: true },
  ],
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse', seed: 42, window: { type: 'all' } },
});
const twin = { ...spec, id: 'bike-twin' } as typeof spec;

// Training runs on a worker thread; on a busy machine a run can take longer than the default five seconds.
describe('training-runs consumer, handled in memory', { timeout: 60_000 }, () => {
  let harness: EventHandlerHarness;
  const workers = new WorkerPool({ threads: 1 });
  beforeAll(() => workers.warm(trainingRunTask), 120_000);
  afterAll(() => workers.close());

  /** The feature set a pipeline materialized from the first 400 bike rows: the same bytes for every pipeline. */
  function materialized(pipelineId: string): FeaturesMaterialized {
    const table = fixtureTable('bike', spec, { count: 400 });
    table.columns.push({
      name: SPLIT_COLUMN,
      type: 'string',
      values: Array.from({ length: table.rowCount }, (_, i) => (i % 5 === 0 ? 'holdout' : 'train')),
    });
    const raw = (name: string) => table.columns.find((c) => c.name === name)!.values as (number | null)[];
    const transform = fitTransform(
      { temp: raw('temp'), hr: raw('hr') },
      spec.features.map((f) => ({
        name: f.name,
        kind: 'numeric' as const,
        impute: 'mean' as const,
        standardize: true,
      })),
    );
    const featureSet = harness.objects.seed(BUCKETS.features, `${pipelineId}/feature-sets`, writeParquet(table));
    const fitted = harness.objects.seed(
      BUCKETS.features,
      `${pipelineId}/transforms`,
      Buffer.from(stableStringify(transform)),
    );
    const datasetSha256 = 'd'.repeat(64);
    const datasetVersionId = derivedId('ds', [pipelineId, datasetSha256]);
    return {
      pipelineId,
      datasetVersionId,
      datasetSha256,
      featureSetId: derivedId('fs', [pipelineId, datasetVersionId, featureSet.sha256, fitted.sha256]),
      featureSetUri: featureSet.uri,
      featureSetSha256: featureSet.sha256,
      transformUri: fitted.uri,
      transformSha256: fitted.sha256,
      rowCounts: { train: 320, validation: 0, holdout: 80 },
    } as FeaturesMaterialized;
  }

  beforeEach(async () => {
    harness = new EventHandlerHarness({ service: 'training' });
    await harness.pipelines.apply(spec);
    await harness.pipelines.apply(twin);
    const repository = new InMemoryTrainingRunsRepository(harness) as unknown as TrainingRunsRepository;
    const service = new TrainingRunsService(
      harness.infrastructure,
      repository,
      harness.logger,
      workers,
      {
        WORKER_THREADS: 1,
      } as TrainingConfig,
      new InMemoryExperimentRuns(harness) as unknown as ExperimentRunsRepository,
    );
    await new TrainingRunsConsumer(harness.infrastructure, service).onApplicationBootstrap();
  });

  it('given two pipelines with identical feature sets and specs, when handled, then two runs and two events', async () => {
    expect(await harness.deliver(FeaturesMaterializedV1, materialized(spec.id))).toBe('handled');
    expect(await harness.deliver(FeaturesMaterializedV1, materialized(twin.id))).toBe('handled');

    const [first, second] = harness.published(ModelTrainedV1);
    expect(second.data.metrics).toEqual(first.data.metrics);
    expect(second.data.runId).not.toBe(first.data.runId);
    expect(second.id).not.toBe(first.id);
    expect(first.data.runId).toBe(trainingRunId(spec.id, first.data.packageSha256));
    expect(first.id).toBe(modelTrainedEventId(first.data.runId));
    // every candidate reaches the event, and each run and candidate is an experiment run naming the code version
    expect(first.data.candidates).toEqual([
      expect.objectContaining({ algorithm: 'linear-regression', chosen: true, metrics: first.data.metrics }),
    ]);
    const runs = harness.writes
      .filter((write) => write.target === 'experiment_runs')
      .map((w) => w.value as ExperimentRun);
    const mine = runs.filter((r) => r.pipelineId === spec.id);
    expect(mine.map((r) => r.kind)).toEqual(['training', 'candidate']);
    expect(mine[1]).toMatchObject({ parentRunId: first.data.runId, runId: first.data.candidates![0].runId });
    expect(mine[0].codeVersion).toMatch(/^git:[0-9a-f]{40}(\+dirty)?$/);
  });

  it('given the same feature set under a new event id, when handled, then the same run and event id', async () => {
    await harness.deliver(FeaturesMaterializedV1, materialized(spec.id), { id: 'materialized-1' });
    await harness.deliver(FeaturesMaterializedV1, materialized(spec.id), { id: 'materialized-2' });

    const [first, second] = harness.published(ModelTrainedV1);
    expect(second.data.runId).toBe(first.data.runId);
    expect(second.data.packageSha256).toBe(first.data.packageSha256);
    expect(second.id).toBe(first.id);
  });

  it('given a feature set a training request asked for, when handled, then the run names the request and its window', async () => {
    const snapshot = {
      snapshotId: `snap-${'5'.repeat(32)}`,
      manifestUri: `s3://${BUCKETS.features}/bike-unit/snapshots/${'5'.repeat(64)}.json`,
      manifestSha256: '5'.repeat(64),
      window: 'all',
      upToDatasetVersionId: derivedId('ds', [spec.id, 'd'.repeat(64)]),
      increments: 1,
      rows: 400,
    } as FeaturesMaterialized['snapshot'];
    const trigger = { reason: 'manual', requestId: 'manual-7', requestedBy: 'unit' } as const;
    await harness.deliver(FeaturesMaterializedV1, { ...materialized(spec.id), snapshot, trigger });

    const [trained] = harness.published(ModelTrainedV1);
    expect(trained.data).toMatchObject({ snapshot, trigger, featureSetUri: materialized(spec.id).featureSetUri });
    const request = harness.writes.find((write) => write.target === 'training_requests');
    expect(request?.value).toMatchObject({ requestId: 'manual-7', runId: trained.data.runId });
  });
});
