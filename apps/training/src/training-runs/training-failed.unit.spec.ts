import {
  derivedId,
  type EventData,
  FeaturesMaterializedV1,
  joinDefinitionSha256,
  ModelTrainedV1,
  PipelineSpecV1,
  TrainingFailedV1,
  TrainingRequestedV2,
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
import { TrainingRequestsController } from './training-requests.controller';
import { type TrainingRequestRecord, type TrainingRunsRepository } from './training-runs.repository';
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
  let recorded: { requestId: string }[] = [];
  /** training_requests, by request id (one pipeline per test). */
  let requests: Map<string, TrainingRequestRecord>;
  let repositoryUnderTest: TrainingRunsRepository;
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
    recorded = [];
    requests = new Map();
    const repository = {
      recordRequest: async (request: EventData<typeof TrainingRequestedV2>) => {
        recorded.push(request);
        if (!requests.has(request.requestId)) requests.set(request.requestId, { ...request, status: 'requested' });
      },
      recordRequestSuperseded: async (superseded: TrainingRequestRecord & { supersededBy: string }) => {
        const found = requests.get(superseded.requestId);
        if (found?.status === 'trained') return;
        requests.set(superseded.requestId, {
          ...superseded,
          ...found,
          status: 'superseded',
          supersededBy: superseded.supersededBy,
        });
      },
      findRequest: async (_pipelineId: string, requestId: string) => requests.get(requestId) ?? null,
      findRun: async () => null,
    } as unknown as TrainingRunsRepository;
    repositoryUnderTest = repository;
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

  it('given a feature set built with another join definition than the spec declares now, then not trained: training is requested again under the spec as it is now, once per refused feature set, and the rebuilt set passes', async () => {
    const join = { pipeline: 'weather', entityKey: 'station_id', features: ['temp'] };
    const joined = PipelineSpecV1.parse({ ...spec, id: 'bike-joined', entityColumns: ['station_id'], joins: [join] });
    await harness.pipelines.apply(joined);
    const features = {
      ...materializedWithoutHr(),
      pipelineId: 'bike-joined',
      joins: [{ tablePipelineId: 'weather', joinSha256: 'f'.repeat(64), upToSequence: 2 }],
    } as FeaturesMaterialized;
    expect(await harness.deliver(FeaturesMaterializedV1, features, { id: 'materialized-joined' })).toBe('handled');
    // redelivered (another event id: the same feature set announced again)
    expect(await harness.deliver(FeaturesMaterializedV1, features, { id: 'materialized-joined-2' })).toBe('handled');
    expect(harness.published(ModelTrainedV1)).toEqual([]);
    expect(harness.published(TrainingFailedV1)).toEqual([]);
    const requests = harness.published(TrainingRequestedV2);
    expect(requests).toHaveLength(2);
    expect(requests[1].id).toBe(requests[0].id);
    expect(requests[0].data).toMatchObject({
      pipelineId: 'bike-joined',
      reason: 'performance-drop', // the refused run's reason
      requestedBy: 'training:join-definition-changed',
      includesDatasetVersionId: features.datasetVersionId, // its window includes what the refused one had
    });
    expect(requests[0].data.requestId).toMatch(/^join-definition-changed-[0-9a-f]{32}$/);
    expect(requests[0].data.details).toContain('another definition of its join to "weather"');
    expect(recorded.map((request) => request.requestId)).toEqual([
      requests[0].data.requestId,
      requests[0].data.requestId,
    ]);

    // the spec re-applied once more before the rebuilt set came: a refusal of that set asks again, under a new key
    const again = {
      ...features,
      featureSetId: derivedId('fs', ['bike-joined', 'rebuilt under the spec before']),
    } as FeaturesMaterialized;
    await harness.deliver(FeaturesMaterializedV1, again, { id: 'materialized-joined-3' });
    expect(new Set(harness.published(TrainingRequestedV2).map((request) => request.id)).size).toBe(2);

    // features materializes the request under the spec as it is now: that feature set passes the join check (it
    // fails here only for the fixture's missing column, as any untrainable set does)
    const rebuilt = {
      ...features,
      joins: [{ tablePipelineId: 'weather', joinSha256: joinDefinitionSha256(joined.joins![0]), upToSequence: 3 }],
      trigger: {
        reason: 'performance-drop',
        requestId: requests[0].data.requestId,
        requestedBy: 'training:join-definition-changed',
      },
    } as FeaturesMaterialized;
    expect(await harness.deliver(FeaturesMaterializedV1, rebuilt, { id: 'materialized-rebuilt' })).toBe(
      'dead-lettered',
    );
    expect(harness.published(TrainingFailedV1).map((failed) => failed.data.errorCode)).toEqual(['bad-feature-set']);
    expect(harness.published(TrainingRequestedV2)).toHaveLength(3);
  });

  it('given a request whose feature set is refused for its joins, then it is superseded by the re-request, named in that event, and GET answers with the re-request’s outcome', async () => {
    const join = { pipeline: 'weather', entityKey: 'station_id', features: ['temp'] };
    const joined = PipelineSpecV1.parse({ ...spec, id: 'bike-joined', entityColumns: ['station_id'], joins: [join] });
    await harness.pipelines.apply(joined);
    requests.set('person-42', {
      pipelineId: 'bike-joined',
      requestId: 'person-42',
      reason: 'manual',
      requestedBy: 'http',
      status: 'requested',
    });
    const features = {
      ...materializedWithoutHr(),
      pipelineId: 'bike-joined',
      joins: [{ tablePipelineId: 'weather', joinSha256: 'f'.repeat(64), upToSequence: 2 }],
      trigger: { reason: 'manual', requestId: 'person-42', requestedBy: 'http' },
    } as FeaturesMaterialized;
    expect(await harness.deliver(FeaturesMaterializedV1, features, { id: 'materialized-joined' })).toBe('handled');
    expect(harness.published(TrainingFailedV1)).toEqual([]);
    const [reRequest] = harness.published(TrainingRequestedV2);
    expect(reRequest.data).toMatchObject({ supersedes: 'person-42', reason: 'manual' });
    const replacement = reRequest.data.requestId;
    expect(requests.get('person-42')).toMatchObject({ status: 'superseded', supersededBy: replacement });
    expect(requests.get(replacement)).toMatchObject({ status: 'requested', supersedes: 'person-42' });

    // the rebuilt set trained: GET on the person's request answers with the run
    requests.set(replacement, { ...requests.get(replacement)!, status: 'trained', runId: 'run-1', packageSha256: 'a' });
    const controller = new TrainingRequestsController(
      harness.infrastructure,
      {} as TrainingRunsService,
      repositoryUnderTest,
    );
    expect(await controller.get('bike-joined', 'person-42')).toMatchObject({
      requestId: 'person-42',
      status: 'trained',
      supersededBy: replacement,
      answeredBy: replacement,
      runId: 'run-1',
    });
    // a trained request is never marked superseded (its feature set redelivered after the spec changed again)
    await harness.pipelines.apply({ ...joined, joins: [{ ...joined.joins![0], createdTime: 'created_at' }] });
    const redelivered = { ...features, trigger: { ...features.trigger!, requestId: replacement } };
    await harness.deliver(FeaturesMaterializedV1, redelivered, { id: 'materialized-joined-again' });
    expect(requests.get(replacement)).toMatchObject({ status: 'trained', runId: 'run-1' });
  });

  it('given training’s spec cache older than the one features built with, then the set is trained, not refused; a refusal carries the stored version, so features builds under it', async () => {
    const join = { pipeline: 'weather', entityKey: 'station_id', features: ['temp'] };
    const before = PipelineSpecV1.parse({ ...spec, id: 'bike-joined', entityColumns: ['station_id'], joins: [join] });
    const after = PipelineSpecV1.parse({ ...before, joins: [{ ...join, createdTime: 'created_at' }] });
    await harness.pipelines.apply(before);
    const stale = await harness.pipelines.get('bike-joined');
    await harness.pipelines.apply(after);
    // PipelineStore's 2 s cache, holding the version before: used unless a later version is asked for
    const store = harness.pipelines;
    const read = store.get.bind(store);
    let cached = stale;
    const reads: (number | undefined)[] = [];
    store.get = async (pipelineId, options) => {
      if (pipelineId !== 'bike-joined') return read(pipelineId, options);
      reads.push(options?.minVersion);
      if (cached.version >= (options?.minVersion ?? 0)) return cached;
      return (cached = await read(pipelineId, options));
    };
    const builtUnderAfter = {
      ...materializedWithoutHr(),
      pipelineId: 'bike-joined',
      joins: [{ tablePipelineId: 'weather', joinSha256: joinDefinitionSha256(after.joins![0]), upToSequence: 2 }],
      trigger: undefined,
    } as unknown as FeaturesMaterialized;
    // not refused: checked against the stored spec, it passes the join check (and fails only for the missing column)
    expect(await harness.deliver(FeaturesMaterializedV1, builtUnderAfter, { id: 'materialized-after' })).toBe(
      'dead-lettered',
    );
    expect(harness.published(TrainingRequestedV2)).toEqual([]);
    expect(harness.published(TrainingFailedV1).map((failed) => failed.data.errorCode)).toEqual(['bad-feature-set']);
    expect(reads).toContain(stale.version + 1);

    // a set built under the version before is refused (by the cache, now of the version after), and the request
    // names the stored version
    const builtUnderBefore = {
      ...builtUnderAfter,
      featureSetId: derivedId('fs', ['bike-joined', 'under the spec before']),
      joins: [{ tablePipelineId: 'weather', joinSha256: joinDefinitionSha256(before.joins![0]), upToSequence: 2 }],
    } as FeaturesMaterialized;
    expect(await harness.deliver(FeaturesMaterializedV1, builtUnderBefore, { id: 'materialized-before' })).toBe(
      'handled',
    );
    const [reRequest] = harness.published(TrainingRequestedV2);
    expect(reRequest.data.specVersion).toBe(stale.version + 1);
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
