import { type ColumnType } from '@keel/contracts';
import type * as Coordination from '@keel/coordination';
import { type Infrastructure, type ServiceIdentity } from '@keel/service-runtime';
import { IntegrityError } from '@keel/storage';
import { type Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { type IngestionConfig } from '../config';
import { datasetVersionId, type DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { type CutLogRepository, type CutState } from './cut-log.repository';
import { CutService } from './cut.service';
import { type StagedBatch, type StagingRepository } from './staging.repository';

// The cut's boundaries faked (its lease in memory, the cut log a compare-and-set in memory): what is tested is the
// order of the cut's steps and what it does when the cut log moves or the recorded bytes are bad.
vi.mock('@keel/coordination', async (importOriginal) => {
  const original = await importOriginal<typeof Coordination>();
  return { ...original, leasesOn: () => new original.Leases(new original.MemoryKeyedTable()) };
});

const pipelineId = 'cut-unit';
const pipeline = { spec: { id: pipelineId, ingestion: { batchRows: 1_000, flushAfterMs: 1_000 } }, version: 3 };
const columns: { name: string; type: ColumnType }[] = [
  { name: 'age', type: 'number' },
  { name: 'income', type: 'string' },
];
const batch: StagedBatch = {
  _id: 'event-1',
  pipelineId,
  rowCount: 2,
  badCount: 0,
  topic: 'records',
  partition: 0,
  offset: '7',
  deadLettered: false,
  sequence: 1,
  stagedAt: new Date(0),
};

/** A cut log in memory: compare-and-set on its version; `moveFirst` is another cutter's state, written first. */
function fakeCutLog(initial: CutState | undefined) {
  let latest: Coordination.Versioned<CutState> | null = initial ? { version: 1, state: initial } : null;
  const writes: CutState[] = [];
  let reads = 0;
  let moveFirst: CutState | undefined;
  const log = {
    latest: () => {
      reads++;
      return Promise.resolve(latest && structuredClone(latest));
    },
    advance: (_pipeline: string, basedOn: number, state: CutState) => {
      if (moveFirst) {
        latest = { version: (latest?.version ?? 0) + 1, state: moveFirst };
        moveFirst = undefined;
      }
      if ((latest?.version ?? 0) !== basedOn) return Promise.resolve(false);
      writes.push(structuredClone(state));
      latest = { version: basedOn + 1, state };
      return Promise.resolve(true);
    },
  };
  return {
    log: log as unknown as CutLogRepository,
    writes,
    reads: () => reads,
    moveBeforeNextWrite: (state: CutState) => (moveFirst = state),
  };
}

function cutService(cutLog: CutLogRepository, versions: Partial<DatasetVersionsService>, pending: StagedBatch[]) {
  const done: string[] = [];
  let toTake = pending;
  const staging = {
    load: () => Promise.resolve([batch]),
    consume: (_pipeline: string, ids: string[]) => {
      done.push(`consume ${ids.join()}`);
      return Promise.resolve();
    },
    takePending: () => {
      const batches = toTake;
      toTake = [];
      return Promise.resolve({ batches, dropped: 0 });
    },
    payloadsOf: () => Promise.resolve([]),
  };
  const infra = { pipelines: { get: () => Promise.resolve(pipeline) }, mongo: {} };
  const logger = { child: () => logger, info: () => undefined, error: () => undefined, warn: () => undefined };
  const service = new CutService(
    infra as unknown as Infrastructure,
    staging as unknown as StagingRepository,
    versions as DatasetVersionsService,
    { INGESTION_FLUSH_CHECK_MS: 60_000 } as IngestionConfig,
    cutLog,
    logger as unknown as Logger,
    { name: 'ingestion' } as ServiceIdentity,
  );
  return { service, done };
}

const versionOf = (sha256: string): DatasetVersion =>
  ({ datasetVersionId: datasetVersionId(pipelineId, sha256), rowCount: 2, sha256 }) as DatasetVersion;

/** Versions whose encoding gives `sha256` (with the columns above); `stored` is what writeStored does. */
function fakeVersions(sha256: string, stored: () => Promise<DatasetVersion | null> = () => Promise.resolve(null)) {
  const done: string[] = [];
  const versions: Partial<DatasetVersionsService> = {
    writeStored: (_pipeline, stored256, _rows, _sources, storedColumns) => {
      done.push(`writeStored ${stored256} ${storedColumns?.map((c) => c.name).join() ?? 'no columns'}`);
      return stored();
    },
    discardStored: (_pipeline, discarded) => {
      done.push(`discardStored ${discarded}`);
      return Promise.resolve();
    },
    encodeStaged: () => {
      done.push('encode');
      return Promise.resolve({ parquet: Buffer.from('pq'), rowCount: 2, sha256, columns });
    },
    write: (_pipeline, encoded) => {
      done.push(`write ${'sha256' in encoded ? String(encoded.sha256) : ''}`);
      return Promise.resolve(versionOf(sha256));
    },
  };
  return { versions, done };
}

const recordedState = (
  sha256: string,
  recordedColumns = columns,
  recordedAt: number = expect.any(Number) as number,
): CutState => ({
  phase: 'planned',
  batchIds: [batch._id],
  datasetVersionId: datasetVersionId(pipelineId, sha256),
  sha256,
  rowCount: 2,
  columns: recordedColumns,
  recordedAt,
});

describe('CutService.cut', () => {
  it('plans, records (with the columns encoded), writes and closes: four compare-and-sets, no read again', async () => {
    const cutLog = fakeCutLog(undefined);
    const { versions, done } = fakeVersions('aaa');
    const { service, done: staged } = cutService(cutLog.log, versions, [batch]);
    await expect(service.cut(pipelineId)).resolves.toEqual(versionOf('aaa'));
    expect(cutLog.writes).toEqual([
      { phase: 'planned', batchIds: [batch._id] },
      recordedState('aaa'),
      { phase: 'written', batchIds: [batch._id], datasetVersionId: datasetVersionId(pipelineId, 'aaa') },
      { phase: 'closed' },
    ]);
    expect(cutLog.reads()).toBe(1);
    expect(done).toEqual(['encode', 'write aaa']);
    expect(staged).toEqual([`consume ${batch._id}`]);
  });

  it('reads the cut log again when another cutter moved it under the plan, and goes on from there (no failure)', async () => {
    const cutLog = fakeCutLog({ phase: 'planned', batchIds: [batch._id] });
    // Another replica, holding the lease before this one, finished the plan while this one encoded it.
    cutLog.moveBeforeNextWrite({ phase: 'closed' });
    const { versions, done } = fakeVersions('aaa');
    const { service } = cutService(cutLog.log, versions, []);
    await expect(service.cut(pipelineId)).resolves.toBeNull();
    expect(done).toEqual(['encode']);
    expect(cutLog.writes).toEqual([]);
    expect(cutLog.reads()).toBe(2);
  });

  it('finishes a recorded plan from its stored bytes, under the columns they were encoded with', async () => {
    const cutLog = fakeCutLog(recordedState('old', columns.slice(0, 1), Date.now()));
    const { versions, done } = fakeVersions('new', () => Promise.resolve(versionOf('old')));
    const { service } = cutService(cutLog.log, versions, []);
    await expect(service.cut(pipelineId)).resolves.toEqual(versionOf('old'));
    expect(done).toEqual(['writeStored old age']);
    expect(cutLog.writes.map((state) => state.phase)).toEqual(['written', 'closed']);
  });

  it('removes recorded bytes that fail verification, then encodes, records and writes the batches anew', async () => {
    const cutLog = fakeCutLog(recordedState('old', columns, Date.now()));
    const corrupt = new IntegrityError(`s3://datasets/${pipelineId}/old.parquet`, 'old', 'other');
    const { versions, done } = fakeVersions('new', () => Promise.reject(corrupt));
    const { service } = cutService(cutLog.log, versions, []);
    await expect(service.cut(pipelineId)).resolves.toEqual(versionOf('new'));
    expect(done).toEqual(['writeStored old age,income', 'discardStored old', 'encode', 'write new']);
    expect(cutLog.writes[0]).toEqual(recordedState('new'));
  });

  it('encoding other bytes than a recorded plan whose own are not stored, waits for its cutter before recording', async () => {
    // Recorded 50 ms short of the time its cutter is taken to be gone (twice the 30 s lease); its bytes arrive then.
    const cutLog = fakeCutLog(recordedState('old', columns, Date.now() - 60_000 + 50));
    let stored: DatasetVersion | null = null;
    const { versions, done } = fakeVersions('new', () => Promise.resolve(stored));
    setTimeout(() => (stored = versionOf('old')), 10);
    const { service } = cutService(cutLog.log, versions, []);
    await expect(service.cut(pipelineId)).resolves.toEqual(versionOf('old'));
    expect(done).toEqual(['writeStored old age,income', 'encode', 'writeStored old age,income']);
    expect(cutLog.writes.map((state) => state.phase)).toEqual(['written', 'closed']);
  });

  it('records its own bytes once the recorded plan is old enough and its bytes never came', async () => {
    const cutLog = fakeCutLog(recordedState('old', columns, Date.now() - 60_000));
    const { versions, done } = fakeVersions('new');
    const { service } = cutService(cutLog.log, versions, []);
    await expect(service.cut(pipelineId)).resolves.toEqual(versionOf('new'));
    expect(done).toEqual(['writeStored old age,income', 'encode', 'writeStored old age,income', 'write new']);
    expect(cutLog.writes[0]).toEqual(recordedState('new'));
  });
});
