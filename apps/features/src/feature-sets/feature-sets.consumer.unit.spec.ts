import {
  DatasetValidatedV1,
  type EventData,
  FeaturesMaterializedV1,
  TrainingRequestedV1,
  TrainingRequestedV2,
} from '@keel/contracts';
import {
  type DatasetTable,
  readParquet,
  ROW_KEY_COLUMN,
  type SnapshotManifest,
  SPLIT_COLUMN,
  writeParquet,
} from '@keel/datasets';
import { BUCKETS } from '@keel/storage';
import {
  datasetValidatedData,
  EventHandlerHarness,
  featureTableFixture,
  fixtureTable,
  pipelineSpecFixture,
} from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { featureSetTask } from './feature-set.task';
import { FeatureSetsConsumer } from './feature-sets.consumer';
import { type FeatureSetRecord, type FeatureSetsRepository } from './feature-sets.repository';
import { type IncrementRecord, type IncrementsRepository, type RequestWindowRecord } from './increments.repository';
import { OnlineViewsService } from './online-views.service';
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

/** As the repository's RANGE_TO_RECORD: none, or one without the version's columns (not unreadable). */
const toRecord = (range: IncrementRecord['timeRange']) => !range || (!range.columns && !range.unreadable);

/** The increments repository's contract in memory. */
class InMemoryIncrementsRepository {
  readonly increments = new Map<string, IncrementRecord>();
  readonly requests = new Map<string, RequestWindowRecord>();

  async record(increment: Omit<IncrementRecord, 'sequence' | 'validatedAt'> & { sequence?: number }) {
    const existing = this.increments.get(increment.datasetVersionId);
    if (existing) return existing;
    const sequence = increment.sequence ?? ((await this.newest(increment.pipelineId))?.sequence ?? 0) + 1;
    const record = { ...increment, sequence, validatedAt: new Date() };
    this.increments.set(increment.datasetVersionId, record);
    return record;
  }

  async get(datasetVersionId: string) {
    return this.increments.get(datasetVersionId) ?? null;
  }

  async upTo(pipelineId: string, sequence: number) {
    return [...this.increments.values()]
      .filter((inc) => inc.pipelineId === pipelineId && inc.sequence <= sequence)
      .sort((a, b) => a.sequence - b.sequence);
  }

  async withoutTimeRange(pipelineId: string, limit: number) {
    return (await this.upTo(pipelineId, Infinity))
      .filter((inc) => toRecord(inc.timeRange))
      .reverse()
      .slice(0, limit);
  }

  async recordTimeRange(datasetVersionId: string, timeRange: IncrementRecord['timeRange']) {
    const record = this.increments.get(datasetVersionId);
    if (record && toRecord(record.timeRange)) this.increments.set(datasetVersionId, { ...record, timeRange });
  }

  async newest(pipelineId: string) {
    return (await this.upTo(pipelineId, Infinity)).at(-1) ?? null;
  }

  async claimRequest(resolved: RequestWindowRecord) {
    const key = `${resolved.pipelineId}/${resolved.requestId}`;
    if (!this.requests.has(key)) this.requests.set(key, resolved);
    return this.requests.get(key)!;
  }
}

const spec = pipelineSpecFixture('adult-income', { id: 'adult-unit' });
/** A feature table: no model, so no feature set. */
const table = featureTableFixture({ id: 'customers-unit' });

/** How the seeded row-key split divides the first 2,000 Adult rows (about 72 / 8 / 20 %). */
const ADULT_2000_SPLIT = { train: 1435, validation: 180, holdout: 385 };

// Feature sets are built on a worker thread; on a busy machine that can take longer than the default five seconds.
describe('feature-sets consumer, handled in memory', { timeout: 60_000 }, () => {
  const workers = new WorkerPool({ threads: 1 });
  beforeAll(() => workers.warm(featureSetTask), 120_000);
  afterAll(() => workers.close());
  let harness: EventHandlerHarness;
  let repository: InMemoryFeatureSetsRepository;
  let increments: InMemoryIncrementsRepository;
  let onlineViews: OnlineViewsService;

  /** A validated dataset version of a pipeline (by default the spec's), its bytes given in object storage. */
  function validated(
    drop: string[] = [],
    pipelineId: string = spec.id,
    { count = 2_000, offset = 0 } = {},
  ): EventData<typeof DatasetValidatedV1> {
    const table = fixtureTable('adult', spec, { count: count + offset, drop });
    if (offset > 0) for (const column of table.columns) column.values = column.values.slice(offset);
    table.rowCount = count;
    // As ingestion writes it: the file names its pipeline, so two pipelines' versions of the same rows differ in bytes.
    const parquet = writeParquet(table, { 'keel.pipeline_id': pipelineId });
    const stored = harness.objects.seed(BUCKETS.datasets, `${pipelineId}/versions`, parquet, {
      extension: '.parquet',
    });
    return datasetValidatedData(pipelineId, stored);
  }

  beforeEach(async () => {
    harness = new EventHandlerHarness({ service: 'features' });
    await harness.pipelines.apply(spec);
    repository = new InMemoryFeatureSetsRepository(harness);
    const typed = repository as unknown as FeatureSetsRepository;
    increments = new InMemoryIncrementsRepository();
    const typedIncrements = increments as unknown as IncrementsRepository;
    onlineViews = new OnlineViewsService(harness.infrastructure, typedIncrements, workers, harness.logger);
    const service = new FeatureSetsService(
      harness.infrastructure,
      typed,
      typedIncrements,
      harness.logger,
      workers,
      onlineViews,
    );
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
      featureSetId: derivedFeatureSetId({ ...materialized.data, snapshotId: materialized.data.snapshot!.snapshotId }),
      featureSetUri: `s3://${BUCKETS.features}/${spec.id}/feature-sets/${featureSetSha256}.parquet`,
      transformUri: `s3://${BUCKETS.features}/${spec.id}/transforms/${transformSha256}.json`,
      rowCounts: ADULT_2000_SPLIT,
      snapshot: { window: 'all', upToDatasetVersionId: data.datasetVersionId, increments: 1, rows: 2_000 },
      trigger: { reason: 'new-data' },
    });
    const manifestSha256 = materialized.data.snapshot!.manifestSha256;
    expect(harness.writes.map((write) => `${write.target} ${write.key}`).sort()).toEqual([
      `feature_sets ${spec.id}/${featureSetId}`,
      `object:${BUCKETS.features} ${spec.id}/feature-sets/${featureSetSha256}.parquet`,
      `object:${BUCKETS.features} ${spec.id}/snapshots/${manifestSha256}.json`,
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
    expect(harness.writes.filter((write) => write.target.startsWith('object:'))).toHaveLength(3);
  });

  it('given a second version, when handled, then the window holds both and every first-version row keeps its split', async () => {
    await harness.deliver(DatasetValidatedV1, validated());
    await harness.deliver(DatasetValidatedV1, validated([], spec.id, { count: 1_000, offset: 2_000 }));

    const [first, second] = harness.published(FeaturesMaterializedV1).map((event) => event.data);
    expect(second.snapshot).toMatchObject({ window: 'all', increments: 2, rows: 3_000 });
    expect(second.featureSetId).not.toBe(first.featureSetId);
    const firstSet = await readParquet(
      await harness.objects.getVerified({ uri: first.featureSetUri, sha256: first.featureSetSha256 }),
    );
    const secondSet = await readParquet(
      await harness.objects.getVerified({ uri: second.featureSetUri, sha256: second.featureSetSha256 }),
    );
    const splitByKey = (table: DatasetTable) => {
      const keys = table.columns.find((c) => c.name === ROW_KEY_COLUMN)!.values;
      const splits = table.columns.find((c) => c.name === SPLIT_COLUMN)!.values;
      return new Map(keys.map((key, i) => [key, splits[i]]));
    };
    const before = splitByKey(firstSet);
    const after = splitByKey(secondSet);
    expect(after.size).toBe(3_000);
    for (const [key, split] of before) expect(after.get(key)).toBe(split);
  });

  it('given a rows window, when a version arrives, then only the newest rows are taken', async () => {
    await harness.pipelines.apply({ ...spec, training: { ...spec.training, window: { type: 'rows', rows: 1_500 } } });
    await harness.deliver(DatasetValidatedV1, validated());
    await harness.deliver(DatasetValidatedV1, validated([], spec.id, { count: 1_000, offset: 2_000 }));

    const [, second] = harness.published(FeaturesMaterializedV1).map((event) => event.data);
    expect(second.snapshot).toMatchObject({ window: 'last 1500 rows', increments: 2, rows: 1_500 });
    const manifest = JSON.parse(
      (
        await harness.objects.getVerified({
          uri: second.snapshot!.manifestUri,
          sha256: second.snapshot!.manifestSha256,
        })
      ).toString(),
    ) as SnapshotManifest;
    expect(manifest.increments.map((increment) => increment.rows)).toEqual([[[1_500, 2_000]], [[0, 1_000]]]);
  });

  it('given a training request delivered twice with new data in between, then both deliveries answer the first window', async () => {
    await harness.deliver(DatasetValidatedV1, validated());
    const request = { pipelineId: spec.id, requestId: 'manual-1', reason: 'manual', requestedBy: 'unit' } as EventData<
      typeof TrainingRequestedV2
    >;
    expect(await harness.deliver(TrainingRequestedV2, request, { id: 'request-a' })).toBe('handled');
    await harness.deliver(DatasetValidatedV1, validated([], spec.id, { count: 1_000, offset: 2_000 }));
    expect(await harness.deliver(TrainingRequestedV2, request, { id: 'request-b' })).toBe('handled');
    const later = { ...request, requestId: 'manual-2' };
    await harness.deliver(TrainingRequestedV2, later, { id: 'request-c' });

    const [newData, asked, , askedAgain, askedLater] = harness.published(FeaturesMaterializedV1);
    expect(asked.data.trigger).toEqual({ reason: 'manual', requestId: 'manual-1', requestedBy: 'unit' });
    expect(asked.data.featureSetId).toBe(newData.data.featureSetId);
    expect(asked.id).not.toBe(newData.id);
    expect(askedAgain.id).toBe(asked.id);
    expect(askedAgain.data).toEqual(asked.data);
    expect(askedLater.data.snapshot).toMatchObject({ increments: 2, rows: 3_000 });
  });

  it('given a request made under a spec version newer than features’ cached copy, then it is built under that version, not the cached one', async () => {
    await harness.deliver(DatasetValidatedV1, validated());
    const before = await harness.pipelines.get(spec.id);
    await harness.pipelines.apply({ ...spec, training: { ...spec.training, seed: spec.training.seed + 1 } });
    // PipelineStore's 2 s cache, still holding the version the first feature set was built under
    const store = harness.pipelines;
    const read = store.get.bind(store);
    let cached = before;
    store.get = async (pipelineId, options) => {
      if (pipelineId !== spec.id) return read(pipelineId, options);
      if (cached.version >= (options?.minVersion ?? 0)) return cached;
      return (cached = await read(pipelineId, options));
    };
    const request = {
      pipelineId: spec.id,
      requestId: 'join-definition-changed-x',
      reason: 'new-data',
      requestedBy: 'training:join-definition-changed',
    } as EventData<typeof TrainingRequestedV2>;
    // without the version (an older requester): the cached copy answers
    await harness.deliver(TrainingRequestedV2, { ...request, requestId: 'unversioned' }, { id: 'request-old' });
    expect(harness.published(FeaturesMaterializedV1).at(-1)!.id).toContain(`-spec${before.version}-`);
    // with it: read past the cache
    await harness.deliver(TrainingRequestedV2, { ...request, specVersion: before.version + 1 }, { id: 'request-new' });
    expect(harness.published(FeaturesMaterializedV1).at(-1)!.id).toContain(`-spec${before.version + 1}-`);
    // a version the store does not give yet: retried, never built under an older one (dead-lettered once the
    // attempts run out, naming the version)
    const published = harness.published(FeaturesMaterializedV1).length;
    const ahead = { ...request, requestId: 'ahead', specVersion: before.version + 5 };
    expect(await harness.deliver(TrainingRequestedV2, ahead, { id: 'request-ahead' })).toBe('dead-lettered');
    expect(harness.published(FeaturesMaterializedV1)).toHaveLength(published);
    expect(harness.deadLetters(TrainingRequestedV2)[0].headers).toMatchObject({ dlq_attempts: '3' });
    expect(harness.deadLetters(TrainingRequestedV2)[0].headers.dlq_reason).toContain(
      `spec version ${before.version + 5}`,
    );
  });

  it('given a v1 drift request, when handled, then it is read as a feature-drift request keyed by its dedupe key', async () => {
    await harness.deliver(DatasetValidatedV1, validated());
    const v1 = { pipelineId: spec.id, reason: 'drift', requestedBy: 'monitoring', dedupeKey: 'adult-unit:drift:v1' };
    await harness.deliver(TrainingRequestedV1, v1 as EventData<typeof TrainingRequestedV1>);

    const [, asked] = harness.published(FeaturesMaterializedV1);
    expect(asked.data.trigger).toEqual({
      reason: 'feature-drift',
      requestId: 'adult-unit:drift:v1',
      requestedBy: 'monitoring',
    });
  });

  it('given a request for a pipeline without validated data, then it is dead-lettered as no-dataset', async () => {
    const request = { pipelineId: spec.id, requestId: 'early', reason: 'manual', requestedBy: 'unit' };
    expect(await harness.deliver(TrainingRequestedV2, request as EventData<typeof TrainingRequestedV2>)).toBe(
      'dead-lettered',
    );
    expect(harness.deadLetters(TrainingRequestedV2)[0].headers).toMatchObject({
      dlq_error_code: 'no-dataset',
      dlq_consumer: 'features.training-requests',
    });
  });

  it('given a feature table version, when handled, then it is recorded and joinable but nothing is fitted or announced', async () => {
    await harness.pipelines.apply(table);
    // The views' store is MongoDB's (online-views.service.unit.spec.ts covers the builds): here, that they move.
    const moved = vi.spyOn(onlineViews, 'onTableVersion').mockResolvedValue();
    const data = validated([], table.id);

    expect(await harness.deliver(DatasetValidatedV1, data)).toBe('handled');
    expect(await harness.deliver(DatasetValidatedV1, data, { id: 'again' })).toBe('handled');

    expect(moved.mock.calls).toEqual([[table.id], [table.id]]);
    expect(harness.published(FeaturesMaterializedV1)).toEqual([]);
    expect(harness.deadLetters(DatasetValidatedV1)).toEqual([]);
    expect(harness.writes.filter((write) => write.target === 'feature_sets')).toEqual([]);
    expect((await increments.upTo(table.id, Infinity)).map((inc) => inc.datasetVersionId)).toEqual([
      data.datasetVersionId,
    ]);
  });

  it('given table versions recorded before time ranges were, then a new version records its range and gives one to the newest older ones', async () => {
    await harness.pipelines.apply(table);
    vi.spyOn(onlineViews, 'onTableVersion').mockResolvedValue();
    const version = (day: number) => {
      const times = [`2026-01-0${day}T00:00:00Z`, `2026-01-0${day}T12:00:00Z`];
      const parquet = writeParquet(
        {
          rowCount: 2,
          columns: [
            { name: 'customer_id', type: 'string', values: ['a', 'b'] },
            { name: 'feature_time', type: 'timestamp', values: times },
            { name: 'age', type: 'number', values: [30, 40] },
          ],
        },
        { 'keel.pipeline_id': table.id },
      );
      const stored = harness.objects.seed(BUCKETS.datasets, `${table.id}/versions`, parquet, { extension: '.parquet' });
      return datasetValidatedData(table.id, stored);
    };
    for (let day = 1; day <= 6; day++) {
      const { datasetVersionId, datasetSha256: sha256, datasetUri: uri } = version(day);
      await increments.record({ pipelineId: table.id, datasetVersionId, sha256, uri, rowCount: 2 }); // no range
    }
    expect(await harness.deliver(DatasetValidatedV1, version(7))).toBe('handled');
    const firstDays = (await increments.upTo(table.id, Infinity)).map(({ timeRange }) =>
      timeRange?.minMs === undefined ? null : new Date(timeRange.minMs).toISOString().slice(0, 10),
    );
    // its own, and TIME_RANGE_BACKFILL_PER_VERSION (4) of the older ones, newest first
    expect(firstDays).toEqual([null, null, '2026-01-03', '2026-01-04', '2026-01-05', '2026-01-06', '2026-01-07']);
    const [latest] = (await increments.upTo(table.id, Infinity)).slice(-1);
    expect(latest.timeRange).toEqual({
      column: 'feature_time',
      minMs: Date.parse('2026-01-07T00:00:00Z'),
      maxMs: Date.parse('2026-01-07T12:00:00Z'),
      columns: expect.stringContaining('["feature_time","timestamp"]') as string,
    });
  });

  it('given a training request for a feature table, then it is dead-lettered as not-a-model-pipeline', async () => {
    await harness.pipelines.apply(table);
    const request = { pipelineId: table.id, requestId: 'r1', reason: 'manual', requestedBy: 'unit' };
    expect(await harness.deliver(TrainingRequestedV2, request as EventData<typeof TrainingRequestedV2>)).toBe(
      'dead-lettered',
    );
    expect(harness.deadLetters(TrainingRequestedV2)[0].headers).toMatchObject({
      dlq_error_code: 'not-a-model-pipeline',
    });
  });

  it('given a request prompted by a version not recorded yet, then it is retried (not resolved without it) until it is', async () => {
    const first = validated();
    await harness.deliver(DatasetValidatedV1, first);
    const second = validated([], spec.id, { count: 1_000, offset: 2_000 });
    const request = {
      pipelineId: spec.id,
      requestId: 'new-data-2',
      reason: 'new-data',
      requestedBy: 'monitoring/retrain-policy',
      includesDatasetVersionId: second.datasetVersionId,
    } as EventData<typeof TrainingRequestedV2>;
    // Before the version's own event: every attempt fails retryably, so no window without it is claimed.
    expect(await harness.deliver(TrainingRequestedV2, request, { id: 'early' })).toBe('dead-lettered');
    const [early] = harness.deadLetters(TrainingRequestedV2);
    expect(early.headers.dlq_attempts).toBe('3');
    expect(early.headers.dlq_reason).toContain(`${second.datasetVersionId}, which prompted the request`);
    // Once it is recorded, the same request resolves a window that includes it.
    await harness.deliver(DatasetValidatedV1, second);
    expect(await harness.deliver(TrainingRequestedV2, request, { id: 'in-time' })).toBe('handled');
    const answered = harness.published(FeaturesMaterializedV1).at(-1)!;
    expect(answered.data.trigger).toMatchObject({ reason: 'new-data', requestId: 'new-data-2' });
    expect(answered.data.snapshot).toMatchObject({ increments: 2, rows: 3_000 });
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
    expect(dead.headers.dlq_reason).toContain('lacks column(s) sex');
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
