import { DatasetValidatedV1, type EventData, FeaturesMaterializedV1, joinDefinitionSha256 } from '@keel/contracts';
import { type DatasetTable, type SnapshotManifest, writeParquet } from '@keel/datasets';
import { BUCKETS } from '@keel/storage';
import { datasetValidatedData, EventHandlerHarness } from '@keel/testing';
import { WorkerPool } from '@keel/workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { churnRows, churnSpec, customerTableRows, customerTableSpec } from '../test-support/point-in-time';
import { featureSetTask } from './feature-set.task';
import { FeatureSetsConsumer } from './feature-sets.consumer';
import { type FeatureSetsRepository } from './feature-sets.repository';
import { FeatureSetsService } from './feature-sets.service';
import { type IncrementRecord, type IncrementsRepository, joinCutAt, versionsAtCut } from './increments.repository';
import { type OnlineViewsService } from './online-views.service';

const version = (datasetVersionId: string, sequence: number) => ({ datasetVersionId, sequence });

describe('join cuts', () => {
  it('name exactly the table versions read, and the newest', () => {
    expect(joinCutAt('customers', [version('ds-a', 1), version('ds-c', 3)])).toEqual({
      pipelineId: 'customers',
      sequence: 3,
      datasetVersionIds: ['ds-a', 'ds-c'],
    });
    expect(joinCutAt('customers', [])).toEqual({ pipelineId: 'customers', sequence: 0, datasetVersionIds: [] });
  });

  it('read exactly the versions named, not one validated later below the newest; an old cut reads up to its sequence', () => {
    const upTo3 = [version('ds-a', 1), version('ds-late', 2), version('ds-c', 3)];
    const cut = { pipelineId: 'customers', sequence: 3, datasetVersionIds: ['ds-a', 'ds-c'] };
    expect(versionsAtCut(upTo3, cut).map((v) => v.datasetVersionId)).toEqual(['ds-a', 'ds-c']);
    expect(versionsAtCut(upTo3, { pipelineId: 'customers', sequence: 3 })).toEqual(upTo3);
    expect(() => versionsAtCut([version('ds-a', 1)], cut)).toThrow(/versions ds-c of a recorded cut are not found/);
  });
});

/** The increments repository's contract in memory (first record of a version wins, as in the database). */
class InMemoryIncrements {
  readonly increments = new Map<string, IncrementRecord>();
  async record(increment: Omit<IncrementRecord, 'sequence' | 'validatedAt'> & { sequence?: number }) {
    const existing = this.increments.get(increment.datasetVersionId);
    if (existing) return existing;
    const record = { ...increment, sequence: increment.sequence ?? 1, validatedAt: new Date() };
    this.increments.set(increment.datasetVersionId, record);
    return record;
  }
  async get(id: string) {
    return this.increments.get(id) ?? null;
  }
  async upTo(pipelineId: string, sequence: number) {
    return [...this.increments.values()]
      .filter((inc) => inc.pipelineId === pipelineId && inc.sequence <= sequence)
      .sort((a, b) => a.sequence - b.sequence);
  }
  async newest(pipelineId: string) {
    return (await this.upTo(pipelineId, Infinity)).at(-1) ?? null;
  }
  /** Time ranges are not what this spec is about: every version has one (see join-pruning.unit.spec.ts). */
  async withoutTimeRange() {
    return [];
  }
}

describe('a redelivered version of a joining pipeline', { timeout: 60_000 }, () => {
  const workers = new WorkerPool({ threads: 1 });
  beforeAll(() => workers.warm(featureSetTask), 120_000);
  afterAll(() => workers.close());

  it('joins exactly the table versions its first delivery read, though an earlier table version arrived between', async () => {
    const harness = new EventHandlerHarness({ service: 'features' });
    await harness.pipelines.apply(customerTableSpec('customers'));
    await harness.pipelines.apply(churnSpec('churn', 'customers', 'created'));
    const views = { onTableVersion: async () => undefined, ensure: async () => undefined };
    const service = new FeatureSetsService(
      harness.infrastructure,
      { upsert: async () => undefined } as unknown as FeatureSetsRepository,
      new InMemoryIncrements() as unknown as IncrementsRepository,
      harness.logger,
      workers,
      views as unknown as OnlineViewsService,
    );
    await new FeatureSetsConsumer(harness.infrastructure, service).onApplicationBootstrap();
    const validated = (
      pipelineId: string,
      table: DatasetTable,
      sequence: number,
    ): EventData<typeof DatasetValidatedV1> => {
      const stored = harness.objects.seed(BUCKETS.datasets, `${pipelineId}/versions`, writeParquet(table), {
        extension: '.parquet',
      });
      return { ...datasetValidatedData(pipelineId, stored), sequence };
    };
    // the table's second version is validated before its first (validation runs versions in parallel)
    const first = validated('customers', customerTableRows(0, 200), 1);
    const second = validated('customers', customerTableRows(200), 2);
    await harness.deliver(DatasetValidatedV1, second);
    const rows = validated('churn', churnRows(), 1);
    expect(await harness.deliver(DatasetValidatedV1, rows, { id: 'rows-a' })).toBe('handled');
    await harness.deliver(DatasetValidatedV1, first);
    expect(await harness.deliver(DatasetValidatedV1, rows, { id: 'rows-b' })).toBe('handled');

    const [asked, askedAgain] = harness.published(FeaturesMaterializedV1).filter((e) => e.data.pipelineId === 'churn');
    expect(askedAgain.data).toEqual(asked.data);
    // the event names the join definition it was built with (which online view its models read) and the cut
    expect(asked.data.joins).toEqual([
      {
        tablePipelineId: 'customers',
        joinSha256: joinDefinitionSha256(churnSpec('churn', 'customers', 'created').joins![0]),
        upToSequence: 2,
      },
    ]);
    const { manifestUri: uri, manifestSha256: sha256 } = asked.data.snapshot!;
    const manifest = JSON.parse((await harness.objects.getVerified({ uri, sha256 })).toString()) as SnapshotManifest;
    expect(manifest.joins![0].increments.map((increment) => increment.datasetVersionId)).toEqual([
      second.datasetVersionId,
    ]);
  });
});
