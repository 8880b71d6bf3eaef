import { type PostgresSource } from '@keel/contracts';
import { type LeaseScope, type Versioned } from '@keel/coordination';
import { parsePipelineSpec, type StoredPipelineSpec } from '@keel/pipelines';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type IngestionConfig } from '../config';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { datasetVersionId, type DatasetVersionsService } from '../datasets/dataset-versions.service';
import { framedCopyData } from './copy-out';
import { type PgChunkOutcome } from './pg-chunk.task';
import { type CopyChunk, PostgresReader, type Watermark } from './postgres-reader';
import { postgresLineage, SourcePullsService } from './source-pulls.service';
import { type SourceRun, type SourceState, type SourceStateRepository } from './source-state.repository';

const source: PostgresSource = {
  kind: 'postgres',
  id: 'rows',
  table: 'orders',
  cursor: { column: 'updated_at', key: 'id' },
  chunkRows: 2,
} as PostgresSource;

const pipeline: StoredPipelineSpec = {
  pipelineId: 'pg-rows',
  version: 1,
  appliedAt: new Date(0),
  spec: parsePipelineSpec({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id: 'pg-rows',
    task: 'regression',
    target: { column: 'y' },
    features: [{ name: 'x', type: 'numeric' }],
    training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
    sources: [source],
  }),
};

const at = (id: number): Watermark => ({ cursor: `2026-01-01 00:00:0${id}+00`, key: String(id) });

/** The table: rows 1-4; a copy gives the rows in (after, upTo], `chunkRows` a chunk; releases go to `events`. */
function fakeReader(events: string[]): PostgresReader {
  const ids = [1, 2, 3, 4];
  return {
    copy: (_: unknown, range: { after?: Watermark | null; upTo?: Watermark }, chunkRows: number) => {
      const rows = ids.filter((id) => id > Number(range.after?.key ?? 0) && id <= Number(range.upTo?.key ?? 99));
      async function* chunks(): AsyncGenerator<CopyChunk> {
        for (let i = 0; i < rows.length; i += Math.min(chunkRows, rows.length)) {
          const taken = rows.slice(i, i + chunkRows);
          const lines = taken.map((id) => `${id}\t${at(id).cursor}\t${id}\t${id}`);
          const release = () => void events.push(`release ${taken[0]}`);
          yield { bytes: framedCopyData(lines), rows: taken.length, last: at(taken.at(-1)!), release };
        }
      }
      return Promise.resolve({ fields: [], watermark: { cursor: 1, key: 0 }, chunks: chunks() });
    },
    close: () => Promise.resolve(),
  } as unknown as PostgresReader;
}

/**
 * A pull service over fakes: the source's state, the dataset versions (found as the service finds them: by the id a
 * plan recorded, or by lineage for a plan from a build before plans recorded ids), and a worker whose encoder makes
 * other bytes than the one that wrote the versions already stored.
 */
function harness(state: SourceState, stored: DatasetVersion[], options: { failEncode?: boolean } = {}) {
  /** The worker's start and end of each chunk and the chunk's release, by its first row. */
  const events: string[] = [];
  const states: Versioned<SourceState>[] = [{ version: 1, state }];
  const written: { sources: readonly string[]; rowCount: number }[] = [];
  /** The version id the source's plan named when each version was written. */
  const plannedIds: (string | undefined)[] = [];
  const versions = {
    findWritten: (_: StoredPipelineSpec, planned: { datasetVersionId?: string; lineage?: string }, derived: string) =>
      Promise.resolve(
        (planned.datasetVersionId !== undefined
          ? stored.find((version) => version.datasetVersionId === planned.datasetVersionId)
          : planned.lineage === undefined
            ? stored.find((version) => version.sources.includes(derived))
            : undefined) ?? null,
      ),
    store: () => Promise.resolve({ uri: 's3://datasets/stored' }),
    write: async (_: StoredPipelineSpec, rows: { rowCount: number }, sources: readonly string[]) => {
      plannedIds.push(states.at(-1)!.state.planned?.datasetVersionId);
      written.push({ sources, rowCount: rows.rowCount });
      const version = {
        datasetVersionId: `ds-new-${written.length}`,
        rowCount: rows.rowCount,
        sources,
      } as DatasetVersion;
      // A write takes a few turns of the event loop (its document writes), as on a real server.
      for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
      return version;
    },
  };
  const repository = {
    advance: (_: string, __: string, basedOn: Versioned<SourceState>, next: SourceState) => {
      expect(basedOn).toBe(states.at(-1));
      states.push({ version: basedOn.version + 1, state: next });
      return Promise.resolve(states.at(-1)!);
    },
    saveRun: () => Promise.resolve(),
  };
  const workers = {
    run: async (_: unknown, input: { bytes: Uint8Array }): Promise<PgChunkOutcome> => {
      const text = Buffer.from(input.bytes).toString('latin1');
      const rows = text.split('\n').length - 1;
      const first = text.slice(5).split('\t')[0];
      events.push(`start ${first}`);
      await new Promise((resolve) => setImmediate(resolve));
      events.push(`end ${first}`);
      if (options.failEncode) throw new Error('the worker died');
      return {
        rowsRead: rows,
        goodRows: rows,
        parquet: new Uint8Array([1, 2, 3]),
        sha256: newEncoderBytes(first),
        rejected: 0,
        rejections: [],
      };
    },
  };
  const logger = { child: () => logger, info: () => undefined, warn: () => undefined, error: () => undefined };
  const service = new SourcePullsService(
    { mongo: { collection: () => ({}) } } as never,
    repository as unknown as SourceStateRepository,
    versions as unknown as DatasetVersionsService,
    {} as never,
    {} as never,
    workers as never,
    { POSTGRES_URL: 'postgres://keel@127.0.0.1:5432/keel' } as IngestionConfig,
    logger as never,
    { name: 'ingestion' } as never,
    { keep: () => Promise.resolve() } as never,
  );
  vi.spyOn(PostgresReader, 'connect').mockResolvedValue(fakeReader(events));
  const run = {
    _id: 'pull-2',
    startedAt: new Date(),
    rowsRead: 0,
    rowsRejected: 0,
    rejections: [],
    datasetVersionIds: [],
  } as unknown as SourceRun;
  const scope = { signal: new AbortController().signal, assertHeld: () => undefined } as unknown as LeaseScope;
  const pull = () =>
    (
      service as unknown as {
        pullPostgres(...args: unknown[]): Promise<Versioned<SourceState>>;
      }
    ).pullPostgres(pipeline, source, states[0], run, scope, scope.signal);
  return { pull, written, plannedIds, states, run, events };
}

/** The sha256 the new encoder gives the chunk starting at row `first` (each chunk's bytes differ). */
const newEncoderBytes = (first: string) => `bytes-of-the-new-encoder-${first}`;

afterEach(() => vi.restoreAllMocks());

describe('a PostgreSQL pull resuming a planned range', () => {
  // given a pull that died after writing the version of rows 1-2 and before committing the watermark past them
  const planned = {
    from: null,
    to: at(2),
    runId: 'pull-1',
    lineage: postgresLineage(source, null, at(2)),
    datasetVersionId: 'ds-old',
  };
  const state: SourceState = { watermark: null, planned, lastDatasetVersionId: null, rowsPulled: 0 };

  it('finds the version written for it by the id the plan recorded, whatever bytes the encoder makes now', async () => {
    const old = { datasetVersionId: 'ds-old', rowCount: 2, sources: [planned.lineage] } as DatasetVersion;
    const { pull, written, states, run } = harness(state, [old]);

    // when the next pull runs, with an encoder whose bytes for those rows differ
    const after = await pull();

    // then rows 1-2 stay in the version written before (no second one), and only rows 3-4 make a new version
    expect(written).toEqual([{ sources: [postgresLineage(source, at(2), at(4))], rowCount: 2 }]);
    expect(states[1].state).toMatchObject({ watermark: at(2), lastDatasetVersionId: 'ds-old', rowsPulled: 2 });
    expect(after.state).toMatchObject({ watermark: at(4), planned: null, lastDatasetVersionId: 'ds-new-1' });
    expect(after.state.rowsPulled).toBe(4);
    expect(run.datasetVersionIds).toEqual(['ds-old', 'ds-new-1']);
    expect(run.rowsRead).toBe(4);
  });

  it('writes the range when no version holds it (the pull died before writing it), under its lineage', async () => {
    const { datasetVersionId: _, ...beforeWriting } = planned;
    const { pull, written, states } = harness({ ...state, planned: beforeWriting }, []);

    const after = await pull();

    expect(written).toEqual([
      { sources: [planned.lineage], rowCount: 2 },
      { sources: [postgresLineage(source, at(2), at(4))], rowCount: 2 },
    ]);
    // the version's id recorded in the plan before it was written, then the watermark committed past it
    expect(states[1].state.planned).toMatchObject({ lineage: planned.lineage, datasetVersionId: expect.any(String) });
    expect(states[2].state).toMatchObject({ watermark: at(2), lastDatasetVersionId: 'ds-new-1', rowsPulled: 2 });
    expect(after.state).toMatchObject({ watermark: at(4), lastDatasetVersionId: 'ds-new-2', rowsPulled: 4 });
  });

  it('finds a plan made before plans kept their lineage by the lineage derived from the range', async () => {
    const { lineage, datasetVersionId: _, ...withoutLineage } = planned;
    const old = { datasetVersionId: 'ds-old', rowCount: 2, sources: [lineage] } as DatasetVersion;
    const { pull, written } = harness({ ...state, planned: withoutLineage }, [old]);

    await pull();

    expect(written).toEqual([{ sources: [postgresLineage(source, at(2), at(4))], rowCount: 2 }]);
  });

  it('does not look for a version a plan made by this code recorded no id for (nothing of it was written)', async () => {
    const { datasetVersionId: _, ...beforeWriting } = planned;
    const stale = { datasetVersionId: 'ds-other', rowCount: 2, sources: [planned.lineage] } as DatasetVersion;
    const { pull, written } = harness({ ...state, planned: beforeWriting }, [stale]);

    await pull();

    expect(written.map((version) => version.sources)).toEqual([
      [planned.lineage],
      [postgresLineage(source, at(2), at(4))],
    ]);
  });

  it('writes a planned range under the lineage its plan was made with', async () => {
    const { datasetVersionId: _, ...beforeWriting } = planned;
    const { pull, written } = harness(
      { ...state, planned: { ...beforeWriting, lineage: 'postgres:rows as planned' } },
      [],
    );

    await pull();

    expect(written[0].sources).toEqual(['postgres:rows as planned']);
  });

  it('plans each chunk with the lineage its version is written with, and its id before writing it', async () => {
    const { pull, states, plannedIds } = harness({ ...state, planned: null }, []);

    await pull();

    // the first chunk planned with its id, then the second planned with its id as the first commits (its encoding ran
    // beside the first's write): one move of the state a chunk
    const firstId = datasetVersionId(pipeline.spec.id, newEncoderBytes('1'));
    const secondId = datasetVersionId(pipeline.spec.id, newEncoderBytes('3'));
    expect(states.slice(1).map(({ state: moved }) => moved.planned)).toEqual([
      { from: null, to: at(2), runId: 'pull-2', lineage: planned.lineage, datasetVersionId: firstId },
      {
        from: at(2),
        to: at(4),
        runId: 'pull-2',
        lineage: postgresLineage(source, at(2), at(4)),
        datasetVersionId: secondId,
      },
      null,
    ]);
    expect(states.slice(1).map(({ state: moved }) => moved.watermark)).toEqual([null, at(2), at(4)]);
    // each version written only once the plan named it
    expect(plannedIds).toEqual([firstId, secondId]);
  });
});

describe('the chunk buffers of a PostgreSQL pull', () => {
  const fresh: SourceState = { watermark: null, planned: null, lastDatasetVersionId: null, rowsPulled: 0 };

  it('releases each chunk once, after its worker is done with it', async () => {
    const { pull, events } = harness(fresh, []);

    await pull();

    for (const first of ['1', '3']) {
      expect(events.filter((event) => event === `release ${first}`)).toHaveLength(1);
      expect(events.indexOf(`release ${first}`)).toBeGreaterThan(events.indexOf(`end ${first}`));
    }
  });

  it('does not release a chunk whose encode failed (the pull is over, its buffer goes to GC)', async () => {
    const { pull, events } = harness(fresh, [], { failEncode: true });

    await expect(pull()).rejects.toThrow('the worker died');

    expect(events).toContain('end 1');
    expect(events.filter((event) => event.startsWith('release'))).toEqual([]);
  });
});
