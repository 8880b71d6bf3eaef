import { randomUUID } from 'node:crypto';
import {
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { type DataSource, datasetSchema, describeCleaning, type PostgresSource } from '@keel/contracts';
import { type Leases, leasesOn, type LeaseScope, processHolderId, type Versioned, withLease } from '@keel/coordination';
import { type StoredPipelineSpec, UnknownPipelineError } from '@keel/pipelines';
import {
  Infrastructure,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  SERVICE_IDENTITY,
  type ServiceIdentity,
} from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type StoredObject } from '@keel/storage';
import { asBuffer, WorkerPool } from '@keel/workers';
import { type Logger } from 'pino';
import { type IngestionConfig } from '../config';
import { addDropped } from '../cleaning/row-cleaning';
import { datasetVersionId, DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { deadRowsPath } from './dead-rows';
import { DeadRowsRepository } from './dead-rows.repository';
import { HttpSourcePuller } from './http-pull';
import { ObjectStoreSourcePuller } from './object-store-pull';
import {
  expectedPullFailure,
  fromSource,
  fromSourceStream,
  SourceConfigError,
  SourcePullFailedError,
} from './pull-failures';
import { type PgChunkOutcome, pgChunkTask, pgChunkWarmUp } from './pg-chunk.task';
import {
  type CopyChunk,
  PostgresReader,
  type PulledField,
  type Watermark,
  type WatermarkFields,
} from './postgres-reader';
import { type PlannedChunk, type SourceRun, type SourceState, SourceStateRepository } from './source-state.repository';

/** A pull renews its lease every third of this; another replica takes an abandoned pull over after it. */
export const PULL_LEASE_TTL_MS = 30_000;
/** How often the scheduler re-reads the pipelines to learn which sources it pulls on a schedule. */
const SCHEDULE_RESCAN_MS = 15_000;
/** Rejection reasons kept per run. */
const MAX_REJECTIONS = 20;
/** How often a running pull saves its progress (rows, versions, watermark) to its run. */
const RUN_PROGRESS_MS = 1_000;
/**
 * Commits a PostgreSQL pull queues before it stops reading: enough that the worker always has the next chunk while
 * the commits wait for encodings; each holds one chunk (its bytes, then its Parquet).
 */
const COMMITS_AHEAD = 2;

/** A chunk of a pull read (its last row's watermark), then encoded, then its bytes stored (when it has good rows). */
interface EncodedChunk {
  last: Watermark;
  outcome?: PgChunkOutcome;
  stored?: StoredObject;
}

export const pullLeaseName = (pipelineId: string, sourceId: string) => `ingestion-source/${pipelineId}/${sourceId}`;

/** The connection URL of a source: its `urlEnv` variable, else POSTGRES_URL (a secret: never in the spec). */
export function sourceUrl(source: PostgresSource, config: IngestionConfig, env: NodeJS.ProcessEnv): string {
  const variable = source.urlEnv ?? 'POSTGRES_URL';
  const url = source.urlEnv ? env[source.urlEnv] : config.POSTGRES_URL;
  if (!url)
    throw new SourceConfigError(`source ${source.id} reads ${variable}, which is not set in ingestion's environment`);
  return url;
}

function describeWatermark(watermark: Watermark | null): string {
  return watermark ? `${watermark.cursor}/${watermark.key}` : 'start';
}

/** The lineage of a PostgreSQL pull's version: the source, its range of rows (`from`, `to`] and its cleaning. */
export function postgresLineage(source: PostgresSource, from: Watermark | null, to: Watermark): string {
  const cleaned = describeCleaning(source.cleaning);
  return (
    `postgres:${source.id}@(${describeWatermark(from)}, ${describeWatermark(to)}]` + (cleaned ? ` ${cleaned}` : '')
  );
}

/**
 * Pulls the spec's sources into dataset versions, on demand and on their schedules. One pull of a source at a time
 * across replicas (a lease per source). A pull reads the rows past the source's watermark in (cursor, key) order
 * with `COPY (query) TO STDOUT` in one read-only snapshot, one chunk at a time; each chunk is planned in the source's
 * state, written as one dataset version, and only then is the watermark moved past it, so every row lands in exactly
 * one version whatever fails when (the next pull after a crash finds the version written for the planned range by its
 * lineage, else writes it).
 */
@Injectable()
export class SourcePullsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: Logger;
  private readonly leases: Leases;
  private readonly holder: string;
  private readonly stopping = new AbortController();
  private readonly running = new Set<Promise<unknown>>();
  private scheduled: { pipelineId: string; source: DataSource }[] = [];
  private readonly nextPullAt = new Map<string, number>();
  /** When each running pull last saved its progress. */
  private readonly runSavedAt = new Map<string, number>();
  private lastRescan = 0;
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly infra: Infrastructure,
    private readonly states: SourceStateRepository,
    private readonly versions: DatasetVersionsService,
    private readonly http: HttpSourcePuller,
    private readonly objectStore: ObjectStoreSourcePuller,
    private readonly workers: WorkerPool,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    @Inject(SERVICE_IDENTITY) identity: ServiceIdentity,
    private readonly deadRows: DeadRowsRepository,
  ) {
    this.logger = rootLogger.child({ component: 'sources' });
    this.leases = leasesOn(infra.mongo);
    this.holder = processHolderId(identity.name);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.timer = setInterval(() => void this.tick(), this.config.INGESTION_SOURCE_CHECK_MS);
    this.timer.unref();
    // Paid at start-up rather than by the first pull: a worker thread compiles its modules on its first task, and
    // V8 optimizes the decode and Parquet code only after it has run a while (see pgChunkWarmUp).
    for (let run = 0; run < 2; run++) await this.workers.run(pgChunkTask, pgChunkWarmUp());
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort(new Error('ingestion is shutting down'));
    await Promise.allSettled([...this.running]);
  }

  /** Pulls one source now; a ConflictException when a pull of it is already running. */
  async pull(pipelineId: string, sourceId: string, trigger: SourceRun['trigger'] = 'api'): Promise<SourceRun> {
    const { pipeline, source } = await this.source(pipelineId, sourceId);
    const work = withLease(this.leases, pullLeaseName(pipelineId, sourceId), this.holder, PULL_LEASE_TTL_MS, (scope) =>
      this.pullUnderLease(pipeline, source, trigger, scope),
    );
    this.running.add(work);
    try {
      const outcome = await work;
      if (!outcome.held) throw new ConflictException(`a pull of source ${sourceId} is running`);
      return outcome.value;
    } finally {
      this.running.delete(work);
    }
  }

  async runs(pipelineId: string, sourceId: string): Promise<SourceRun[]> {
    await this.source(pipelineId, sourceId);
    return this.states.listRuns(pipelineId, sourceId);
  }

  async state(pipelineId: string, sourceId: string): Promise<Versioned<SourceState>> {
    await this.source(pipelineId, sourceId);
    return this.states.read(pipelineId, sourceId);
  }

  async source(pipelineId: string, sourceId: string): Promise<{ pipeline: StoredPipelineSpec; source: DataSource }> {
    let pipeline: StoredPipelineSpec;
    try {
      pipeline = await this.infra.pipelines.get(pipelineId);
    } catch (error) {
      if (error instanceof UnknownPipelineError) throw new NotFoundException(error.message);
      throw error;
    }
    const source = pipeline.spec.sources.find((candidate) => candidate.id === sourceId);
    if (!source) throw new NotFoundException(`pipeline ${pipelineId} declares no source ${sourceId}`);
    return { pipeline, source };
  }

  private async pullUnderLease(
    pipeline: StoredPipelineSpec,
    source: DataSource,
    trigger: SourceRun['trigger'],
    scope: LeaseScope,
  ): Promise<SourceRun> {
    const pipelineId = pipeline.spec.id;
    const current = await this.states.read(pipelineId, source.id);
    const run: SourceRun = {
      _id: `pull-${randomUUID()}`,
      pipelineId,
      sourceId: source.id,
      trigger,
      status: 'running',
      startedAt: new Date(),
      rowsRead: 0,
      rowsRejected: 0,
      rejections: [],
      datasetVersionIds: [],
      watermarkFrom: current.state.planned?.from ?? current.state.watermark,
      watermarkTo: null,
      resumed: current.state.planned !== null,
    };
    await this.states.startRun(run);
    const attributes = { [KeelAttr.PIPELINE_ID]: pipelineId, 'keel.source.id': source.id };
    return withSpan('pull source', attributes, async (span) => {
      const signal = AbortSignal.any([scope.signal, this.stopping.signal]);
      try {
        switch (source.kind) {
          case 'postgres':
            await this.pullPostgres(pipeline, source, current, run, scope, signal);
            break;
          case 'http':
            await this.http.pull(pipeline, source, current, run, scope, signal);
            break;
          case 'object-store':
            await this.objectStore.pull(pipeline, source, current, run, scope, signal);
            break;
        }
        run.status = 'succeeded';
      } catch (error) {
        run.status = 'failed';
        run.error = error instanceof Error ? error.message : String(error);
        // The source's failures (an API down, a missing table or secret) are its state, not ingestion's: a warning.
        this.logger[expectedPullFailure(error) ? 'warn' : 'error'](
          { err: error, pipelineId, sourceId: source.id, runId: run._id },
          'source pull failed',
        );
        // With the run, which the API answers (finished and saved by the time the caller sees it).
        throw new SourcePullFailedError(run, error);
      } finally {
        this.runSavedAt.delete(run._id);
        run.finishedAt = new Date();
        const dropped = run.rowsDropped ? run.rowsDropped.missing + run.rowsDropped.filter + run.rowsDropped.dedupe : 0;
        span.setAttribute(KeelAttr.DATASET_ROWS, run.rowsRead - run.rowsRejected - dropped);
        await this.states
          .saveRun(run)
          .catch((error: unknown) =>
            this.logger.error({ err: error, runId: run._id }, 'could not record the end of a source pull'),
          );
      }
      this.logger.info(
        { pipelineId, sourceId: source.id, runId: run._id, rows: run.rowsRead, versions: run.datasetVersionIds.length },
        'source pulled',
      );
      return run;
    });
  }

  /**
   * Streams the rows past the watermark in (cursor, key) order with `COPY (query) TO STDOUT`, one chunk at a time;
   * each chunk is decoded, checked and encoded on a worker thread and its bytes stored, then it is written as one
   * version and committed, in order (a planned range is re-read by the next pull). The stages overlap: while chunk k
   * is written, chunk k + 1 is encoded and stored and chunk k + 2 streams in, so the server, the event loop and the
   * worker all work; a few chunks are held at most, whatever the table's size. A chunk's plan names its version's id
   * before the version is written; the plan usually rides on the commit of the chunk before (its encoding is done by
   * then), so the state moves once a chunk, and a chunk encoded too late to ride plans itself (never waited for).
   */
  private async pullPostgres(
    pipeline: StoredPipelineSpec,
    source: PostgresSource,
    current: Versioned<SourceState>,
    run: SourceRun,
    scope: LeaseScope,
    signal: AbortSignal,
  ): Promise<Versioned<SourceState>> {
    const reader = await fromSource(PostgresReader.connect(sourceUrl(source, this.config, process.env), signal));
    try {
      // A chunk an earlier pull planned and did not commit: its version, if it was written, is found by the lineage
      // naming the range (not by its bytes: an encoder changed by an upgrade mid-pull makes other bytes of the same
      // rows); the range is read again for the run's counts, and written from that when no version holds it.
      const planned = current.state.planned;
      if (planned?.to) {
        const { fields, watermark, chunks } = await fromSource(
          reader.copy(source, { after: planned.from, upTo: planned.to }, Infinity),
        );
        let chunk: CopyChunk | undefined;
        for await (const all of fromSourceStream(chunks)) chunk = all;
        const encoded = chunk ? await this.encodeChunk(pipeline, source, fields, watermark, chunk) : undefined;
        scope.assertHeld();
        const written = await this.versions.findWritten(
          pipeline,
          planned,
          postgresLineage(source, planned.from, planned.to),
        );
        current = await this.commitChunk(pipeline, source, current, run, encoded, planned.to, null, scope, written);
      }
      const copied = await fromSource(reader.copy(source, { after: current.state.watermark }, source.chunkRows));
      const { fields, watermark } = copied;
      const chunks = fromSourceStream(copied.chunks);
      // Commits run one after another on this chain; a chunk's commit is queued once the chunk after it is read (it
      // plans that one), and waits for that one's encoding (the worker's next task) before its watermark move.
      let writing: Promise<void> = Promise.resolve();
      const commits: Promise<void>[] = [];
      let committed = 0;
      /** A commit failed: reading and encoding stop at once (the chain has stopped; what follows would be wasted). */
      let failed = false;
      let previous: { last: Watermark; encoding: Promise<EncodedChunk> } | undefined;
      const commit = (
        chunk: { last: Watermark; encoding: Promise<EncodedChunk> },
        following?: Promise<EncodedChunk>,
      ) => {
        writing = writing.then(async () => {
          signal.throwIfAborted();
          const encoded = await chunk.encoding;
          current = await this.commitChunk(
            pipeline,
            source,
            current,
            run,
            encoded.outcome,
            chunk.last,
            // A chunk after this one that failed to encode fails the pull where its own commit awaits it.
            following ? () => following.catch(() => null) : null,
            scope,
            null,
            encoded.stored,
          );
          committed++;
        });
        writing.catch(() => (failed = true));
        commits.push(writing);
      };
      try {
        for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
          if (failed) await writing;
          const chunk = next.value;
          const entry: EncodedChunk = { last: chunk.last };
          const encoding = this.encodeChunk(pipeline, source, fields, watermark, chunk).then(async (outcome) => {
            entry.outcome = outcome;
            // The bytes are stored while the chunks before commit: storing orders nothing (see versions.store).
            if (outcome.goodRows > 0) entry.stored = await this.versions.store(pipeline, asBuffer(outcome.parquet));
            return entry;
          });
          // Work started ahead rejects where it is awaited; this keeps it from being reported unhandled meanwhile.
          encoding.catch(() => undefined);
          if (previous) commit(previous, encoding);
          previous = { last: chunk.last, encoding };
          // The worker is handed each chunk as it is read, so it never waits for a commit; reading stops while more
          // than COMMITS_AHEAD commits are queued, which bounds the chunks held (a chunk waits in the worker's queue
          // as bytes, then as its Parquet until its commit).
          while (commits.length - committed > COMMITS_AHEAD) await commits[committed];
          signal.throwIfAborted();
          scope.assertHeld();
        }
        if (previous) commit(previous);
      } catch (error) {
        // A read that failed: the chunk read before it still commits on its own (unless the pull is being stopped).
        if (previous && !failed && !signal.aborted) commit(previous);
        // Nothing of this pull may still be writing once it is reported over (and its lease released). A commit that
        // failed first is the failure to report (the read may have failed only because the pull was stopping).
        await writing.catch(() => undefined);
        if (failed) await writing;
        throw error;
      }
      await writing;
      return current;
    } finally {
      await reader.close();
    }
  }

  /**
   * A chunk's COPY text to checked rows and Parquet, on a worker thread; its buffer is the reader's again once the
   * worker is done; on failure the buffer is left to GC (the pull is over).
   */
  private async encodeChunk(
    pipeline: StoredPipelineSpec,
    source: PostgresSource,
    fields: PulledField[],
    watermark: WatermarkFields,
    chunk: CopyChunk,
  ): Promise<PgChunkOutcome> {
    const { spec } = pipeline;
    const outcome = await this.workers.run(
      pgChunkTask,
      {
        pipelineId: spec.id,
        schema: datasetSchema(spec),
        fields,
        keyField: watermark.key,
        // Every refused row comes back, named by its (cursor, key), for the source's dead letter.
        cursorField: watermark.cursor,
        bytes: chunk.bytes,
        maxRejections: MAX_REJECTIONS,
        ...(source.cleaning ? { cleaning: source.cleaning } : {}),
      },
      // Shared memory: the worker reads (and overwrites) the chunk's bytes where they are, nothing is copied.
      { attributes: { [KeelAttr.PIPELINE_ID]: spec.id } },
    );
    chunk.release();
    return outcome;
  }

  /**
   * The plan of the chunk of rows past `from` up to `to`, with the lineage its version is written with and, once its
   * rows are encoded, the id of that version (recorded before it is written).
   */
  private plan(
    source: PostgresSource,
    from: Watermark | null,
    to: Watermark,
    run: SourceRun,
    versionId?: string,
  ): PlannedChunk {
    return {
      from,
      to,
      runId: run._id,
      lineage: postgresLineage(source, from, to),
      ...(versionId === undefined ? {} : { datasetVersionId: versionId }),
    };
  }

  /**
   * Writes a planned chunk (undefined: the planned range holds no rows now) as one dataset version, unless `written`
   * is the version an earlier pull wrote for it, then commits the watermark past it. The version's id is in the plan
   * before the version is written: the commit of the chunk before planned it (`following`), else it is planned here.
   * The same commit plans the chunk after this one when `following` gives it encoded (so it rides on this move).
   */
  private async commitChunk(
    pipeline: StoredPipelineSpec,
    source: PostgresSource,
    current: Versioned<SourceState>,
    run: SourceRun,
    outcome: PgChunkOutcome | undefined,
    to: Watermark,
    following: (() => Promise<EncodedChunk | null>) | null,
    scope: LeaseScope,
    written: DatasetVersion | null = null,
    stored?: StoredObject,
  ): Promise<Versioned<SourceState>> {
    const { spec } = pipeline;
    const from = current.state.planned?.from ?? current.state.watermark;
    run.rowsRead += outcome?.rowsRead ?? 0;
    run.rowsRejected += outcome?.rejected ?? 0;
    for (const reason of outcome?.rejections ?? [])
      if (run.rejections.length < MAX_REJECTIONS) run.rejections.push(reason);
    if (source.cleaning) addDropped(run, outcome?.dropped);
    let version = written;
    if (!version && outcome && outcome.goodRows > 0) {
      const id = datasetVersionId(spec.id, outcome.sha256);
      const planned = current.state.planned ?? this.plan(source, from, to, run);
      // A pull that dies before the watermark commit is resumed by an `_id` read of the planned id, whatever bytes
      // the rows encode to by then; a plan without it (or with another: a resumed range encoded anew) is moved first.
      if (planned.datasetVersionId !== id) {
        scope.assertHeld();
        current = await this.states.advance(spec.id, source.id, current, {
          ...current.state,
          planned: { ...planned, datasetVersionId: id },
        });
      }
      scope.assertHeld();
      // Under the lineage the plan was made with (a cleaning changed since did not plan this range).
      version = await this.versions.write(
        pipeline,
        { parquet: asBuffer(outcome.parquet), rowCount: outcome.goodRows, ...(stored ? { stored } : {}) },
        [planned.lineage ?? postgresLineage(source, from, to)],
      );
    }
    const lastDatasetVersionId = version?.datasetVersionId ?? current.state.lastDatasetVersionId;
    if (version && !run.datasetVersionIds.includes(version.datasetVersionId))
      run.datasetVersionIds.push(version.datasetVersionId);
    await this.keepDeadRows(
      spec.id,
      source,
      run,
      outcome,
      current.state.planned?.lineage ?? postgresLineage(source, from, to),
    );
    // The chunk after this one is planned in this move (its encoding ran beside this version's write); one with no
    // good rows needs no plan.
    const after = following ? await following() : null;
    const nextGood = after?.outcome && after.outcome.goodRows > 0 ? after : null;
    scope.assertHeld();
    const next = await this.states.advance(spec.id, source.id, current, {
      watermark: to,
      planned: nextGood
        ? this.plan(source, to, nextGood.last, run, datasetVersionId(spec.id, nextGood.outcome!.sha256))
        : null,
      lastDatasetVersionId,
      rowsPulled: current.state.rowsPulled + (version?.rowCount ?? 0),
    });
    run.watermarkTo = to;
    // The run's progress, at most once per RUN_PROGRESS_MS (its end is always saved by pullUnderLease).
    if (Date.now() - (this.runSavedAt.get(run._id) ?? run.startedAt.getTime()) >= RUN_PROGRESS_MS) {
      this.runSavedAt.set(run._id, Date.now());
      await this.states.saveRun(run);
    }
    return next;
  }

  /**
   * A chunk's refused rows into the source's dead letter, durably, before its watermark moves past them (as its version
   * is): a pull that dies in between re-reads the planned range and keeps the same rows again, once (ids name each
   * row's source and (cursor, key)).
   */
  private async keepDeadRows(
    pipelineId: string,
    source: PostgresSource,
    run: SourceRun,
    outcome: PgChunkOutcome | undefined,
    lineage: string,
  ): Promise<void> {
    const rows = outcome?.deadRows ?? [];
    if (rows.length === 0) return;
    await this.deadRows.keep(pipelineId, source.id, { runId: run._id, lineage }, rows);
    run.rowsDeadLettered = (run.rowsDeadLettered ?? 0) + rows.length;
    run.deadLetter = deadRowsPath(pipelineId, source.id);
  }

  /** Scheduler: pulls each source whose `everyMs` has passed since this process last pulled it. */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopping.signal.aborted) return;
    this.ticking = true;
    try {
      if (Date.now() - this.lastRescan >= SCHEDULE_RESCAN_MS) {
        this.lastRescan = Date.now();
        const pipelines = await this.infra.pipelines.list();
        this.scheduled = pipelines.flatMap(({ spec }) =>
          spec.sources
            .filter((source) => source.everyMs !== undefined)
            .map((source) => ({ pipelineId: spec.id, source })),
        );
      }
      for (const { pipelineId, source } of this.scheduled) {
        const key = pullLeaseName(pipelineId, source.id);
        if (Date.now() < (this.nextPullAt.get(key) ?? 0)) continue;
        this.nextPullAt.set(key, Date.now() + source.everyMs!);
        await this.pull(pipelineId, source.id, 'schedule').catch((error: unknown) => {
          // A failed pull was logged with its run already.
          if (error instanceof ConflictException || error instanceof SourcePullFailedError) return;
          this.logger.error({ err: error, pipelineId, sourceId: source.id }, 'scheduled source pull failed');
        });
      }
    } catch (error) {
      this.logger.error({ err: error }, 'source scheduler failed');
    } finally {
      this.ticking = false;
    }
  }
}
