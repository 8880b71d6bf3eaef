import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { type PipelineSpec } from '@keel/contracts';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { type Leases, leasesOn, type LeaseScope, processHolderId, type Versioned, withLease } from '@keel/coordination';
import {
  Infrastructure,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  SERVICE_IDENTITY,
  type ServiceIdentity,
} from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { context, type Link, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { type IngestionConfig } from '../config';
import { datasetVersionId, DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { RECORDS_GROUP } from '../records/records-group';
import { batchSources } from './batch-sources';
import { CutLogRepository, type CutState } from './cut-log.repository';
import { IntegrityError, ObjectTooLargeError } from '@keel/storage';
import { CutPlanMovedError, finishPlannedCut, type PlannedVersion } from './planned-cut';
import { quietPeriodOver } from './quiet-period';
import { type PendingState, type StagedBatch, StagingRepository } from './staging.repository';

const MAX_LINKS = 64;

type Encoded = NonNullable<Awaited<ReturnType<DatasetVersionsService['encodeStaged']>>> | null;

/** The next version's batches taken, and their encoding started, while the current version is written. */
interface CutAhead {
  taking: Promise<{ batches: StagedBatch[]; dropped: number }>;
  /** The taken batches, once a plan names them. */
  batches: StagedBatch[];
  /** Undefined (resolved) when the batches do not make a version this cut would write. */
  encoded?: Promise<Encoded | undefined>;
}

/** Whether taken batches make a version now: any rows at all, or a full batch for a batch-size (`fullOnly`) cut. */
function makesVersion(batches: number, rows: number, batchRows: number, fullOnly: boolean): boolean {
  return batches > 0 && (!fullOnly || rows >= batchRows);
}

/** The version a plan recorded before writing it, if it did (plans of builds before that did not). */
function recordedVersion(state: CutState & { phase: 'planned' }): PlannedVersion | undefined {
  const { datasetVersionId: id, sha256, rowCount, columns, recordedAt } = state;
  return id !== undefined && sha256 !== undefined && rowCount !== undefined
    ? {
        datasetVersionId: id,
        sha256,
        rowCount,
        ...(columns ? { columns } : {}),
        ...(recordedAt === undefined ? {} : { recordedAt }),
      }
    : undefined;
}

/** True when `batches` are exactly `ids`, in order. */
function sameIds(batches: readonly StagedBatch[], ids: readonly string[]): boolean {
  return batches.length === ids.length && batches.every((batch, i) => batch._id === ids[i]);
}

/** A cut renews its lease every third of this; another replica takes an abandoned cut over after it. */
const CUT_LEASE_TTL_MS = 30_000;
/**
 * How long after recording a version a cutter whose bytes are not stored is taken to be gone rather than slow: it
 * renews its lease every third of CUT_LEASE_TTL_MS, so twice that is a lease lapsed long ago, with room for the
 * clocks of two replicas to differ. Not a fence: a cutter stalled longer than this can still write its version.
 */
const RECORDER_GONE_AFTER_MS = 2 * CUT_LEASE_TTL_MS;
/** How long a flush waits for another replica's cut of the same pipeline to finish. */
const CUT_LEASE_WAIT_MS = 120_000;
const CUT_LEASE_POLL_MS = 250;
/** How often staging is scanned for batches no process here knows of (another replica's, or one that died). */
const PENDING_RESCAN_MS = 30_000;

export const cutLeaseName = (pipelineId: string) => `ingestion-cut/${pipelineId}`;

/**
 * Cuts dataset versions from staged batches: when a pipeline's staged rows reach spec.ingestion.batchRows, when
 * its records have been quiet for spec.ingestion.flushAfterMs (a timer; see quietPeriodOver), or on demand. One cut per pipeline at a
 * time across replicas (a lease per pipeline), each planned in the pipeline's cut log before it writes, so every
 * staged batch lands in exactly one version. The triggers work from in-memory pending state (rebuilt at start-up
 * and every PENDING_RESCAN_MS from one scan, which also finds what another replica left behind), so the timer costs
 * no database query unless something is pending.
 */
@Injectable()
export class CutService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Pipelines with a batch-size cut chained and not started yet. */
  private readonly waiting = new Set<string>();
  /** Batches staged by this process (or found at start-up) and not cut yet, per pipeline. */
  private readonly pending = new Map<string, PendingState>();
  private readonly logger: Logger;
  private readonly leases: Leases;
  private readonly holder: string;
  private lastRescan = Date.now();
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private stopped = false;

  constructor(
    private readonly infra: Infrastructure,
    private readonly staging: StagingRepository,
    private readonly versions: DatasetVersionsService,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    private readonly cutLog: CutLogRepository,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    @Inject(SERVICE_IDENTITY) identity: ServiceIdentity,
  ) {
    this.logger = rootLogger.child({ component: 'cut' });
    this.leases = leasesOn(infra.mongo);
    this.holder = processHolderId(identity.name);
  }

  /** Before the consumers start: what earlier runs left pending (and staging objects a crash left behind). */
  async onModuleInit(): Promise<void> {
    for (const [pipelineId, state] of await this.staging.recover({ sweepObjects: true })) {
      this.pending.set(pipelineId, state);
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    this.timer = setInterval(() => void this.tick(), this.config.INGESTION_FLUSH_CHECK_MS);
    this.timer.unref();
    // A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a cut.
    await this.versions.warmEncoder();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.locks.values()]);
  }

  /** Counts a newly staged batch and cuts now if the pipeline's rows reached its batch size (the timer retries). */
  staged(spec: PipelineSpec, batch: StagedBatch): void {
    const state = this.pending.get(spec.id) ?? { batches: 0, rows: 0, newestAt: batch.stagedAt };
    state.batches++;
    state.rows += batch.rowCount;
    if (batch.stagedAt > state.newestAt) state.newestAt = batch.stagedAt;
    this.pending.set(spec.id, state);
    if (this.stopped || state.rows < spec.ingestion.batchRows) return;
    this.cut(spec.id, { wait: false, fullOnly: true, coalesce: true }).catch((error: unknown) =>
      this.logger.error({ err: error, pipelineId: spec.id }, 'batch-size cut failed'),
    );
  }

  /**
   * Cuts every staged batch of a pipeline into dataset versions (several when more than batchRows are waiting);
   * returns the last version written, or null when nothing was staged. `fullOnly` (the batch-size trigger) cuts
   * only versions of batchRows and leaves a smaller rest staged for the next trigger: records keep arriving while a
   * cut runs, and cutting whatever had arrived by its end made a small version after each full one.
   */
  async cut(
    pipelineId: string,
    options: { wait?: boolean; fullOnly?: boolean; coalesce?: boolean } = {},
  ): Promise<DatasetVersion | null> {
    // A batch-size cut is not chained when one is already waiting its turn: that one will see these rows too. (Every
    // batch staged past the size used to chain a cut of its own, each reading the head and the pending batches only to
    // find less than a full version left.)
    if (options.coalesce) {
      if (this.waiting.has(pipelineId)) return null;
      this.waiting.add(pipelineId);
    }
    // Chained per pipeline in this process, and under the pipeline's cut lease across replicas: a cut that arrives
    // while one runs waits for it (a timed cut leaves another replica's alone), then sees what is left.
    const previous = this.locks.get(pipelineId) ?? Promise.resolve();
    const run = previous
      .catch(() => undefined)
      .then(() => {
        if (options.coalesce) this.waiting.delete(pipelineId);
        return this.cutAll(pipelineId, options.wait ?? true, options.fullOnly ?? false);
      });
    this.locks.set(pipelineId, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(pipelineId) === run) this.locks.delete(pipelineId);
    }
  }

  private async cutAll(pipelineId: string, wait: boolean, fullOnly: boolean): Promise<DatasetVersion | null> {
    for (const deadline = Date.now() + CUT_LEASE_WAIT_MS; ;) {
      const outcome = await withLease(this.leases, cutLeaseName(pipelineId), this.holder, CUT_LEASE_TTL_MS, (scope) =>
        this.cutUnderLease(pipelineId, scope, fullOnly),
      );
      if (outcome.held) return outcome.value;
      // Another replica is cutting this pipeline: a timed cut leaves it to that one, a flush waits for it.
      if (!wait || Date.now() >= deadline) return null;
      await sleep(CUT_LEASE_POLL_MS);
    }
  }

  /**
   * Finishes the pipeline's unfinished cut, if any, then cuts what is staged, one version at a time. Each cut is
   * planned (its batches named in the cut log) before anything is written and finished exactly as planned, so a
   * batch lands in one version even when two cutters ever overlap: both finish the same plan, content-addressed.
   *
   * While a version is written and its batches deleted, the next one is already taken and encoded (`ahead`): the cut
   * log's round trips and the encoding on a worker thread overlap instead of adding up. What is taken ahead is only a
   * proposal: it becomes a plan through the cut log like any other, and its encoding is used only for exactly the
   * batches the plan names (encoding is deterministic, so it is the bytes the plan would have had).
   */
  private async cutUnderLease(
    pipelineId: string,
    scope: LeaseScope,
    fullOnly: boolean,
  ): Promise<DatasetVersion | null> {
    const pipeline = await this.infra.pipelines.get(pipelineId);
    const { spec } = pipeline;
    const startedAt = new Date();
    let last: DatasetVersion | null = null;
    // The state this loop wrote last (a successful compare-and-set is the latest state while the lease is held).
    let known: Versioned<CutState> | undefined;
    // The batches of the plan this loop made last, as taken (read again only when the plan came from elsewhere).
    let planned: StagedBatch[] | undefined;
    let ahead: CutAhead | undefined;
    const advance = async (basedOn: number, state: CutState) => {
      known = (await this.cutLog.advance(pipelineId, basedOn, state)) ? { version: basedOn + 1, state } : undefined;
    };
    try {
      for (;;) {
        scope.assertHeld();
        const log = known ?? (await this.cutLog.latest(pipelineId));
        known = undefined;
        const basedOn = log?.version ?? 0;
        const state = log?.state ?? { phase: 'closed' };
        if (state.phase === 'written') {
          await this.staging.consume(spec.id, state.batchIds);
          await advance(basedOn, { phase: 'closed' });
          continue;
        }
        if (state.phase === 'planned') {
          const batches =
            planned && sameIds(planned, state.batchIds) ? planned : await this.staging.load(state.batchIds);
          const encodedAhead = ahead && sameIds(ahead.batches, state.batchIds) ? ahead.encoded : undefined;
          planned = undefined;
          ahead = undefined;
          scope.assertHeld();
          let at = basedOn;
          let version: DatasetVersion | null;
          try {
            version = await this.cutBatches(pipeline, batches, {
              recorded: recordedVersion(state),
              encodedAhead,
              onEncoded: () => {
                // The worker is free: take and encode the next version while this one is written and closed.
                ahead = this.takeAhead(pipeline, state.batchIds, fullOnly);
              },
              untilRecorderGone: async ({ recordedAt, datasetVersionId: recordedId }) => {
                // Plans recorded before the time was kept: their cutters are long gone (an upgrade came between).
                const wait = recordedAt === undefined ? 0 : recordedAt + RECORDER_GONE_AFTER_MS - Date.now();
                if (wait > 0) {
                  this.logger.warn(
                    { pipelineId, datasetVersionId: recordedId, waitMs: wait },
                    'a recorded cut encodes to other bytes here and its own are not stored yet; waiting for its cutter',
                  );
                  await sleep(wait);
                }
                scope.assertHeld();
              },
              record: async ({ sha256, rowCount, columns }) => {
                scope.assertHeld();
                const recorded: CutState = {
                  phase: 'planned',
                  batchIds: state.batchIds,
                  datasetVersionId: datasetVersionId(spec.id, sha256),
                  sha256,
                  rowCount,
                  columns,
                  recordedAt: Date.now(),
                };
                if (!(await this.cutLog.advance(pipelineId, at, recorded))) return false;
                at++;
                return true;
              },
            });
          } catch (error) {
            if (!(error instanceof CutPlanMovedError)) throw error;
            // Another cutter's progress (one that held the lease before this one), not a failure: nothing was
            // written, and the cut log, read again, says what is left to do.
            this.logger.info({ pipelineId }, 'the cut log moved under a planned cut; reading it again');
            continue;
          }
          last = version ?? last;
          this.forget(pipelineId, batches);
          await advance(at, {
            phase: 'written',
            batchIds: state.batchIds,
            datasetVersionId: version?.datasetVersionId ?? null,
          });
          continue;
        }
        let taken = ahead;
        ahead = undefined;
        const rowsOf = (batches: readonly StagedBatch[]) => batches.reduce((sum, batch) => sum + batch.rowCount, 0);
        let take = taken ? await taken.taking : undefined;
        if (!take || !makesVersion(take.batches.length, rowsOf(take.batches), spec.ingestion.batchRows, fullOnly)) {
          // Taken too early to hold the next version, or nothing was taken ahead: what is there now.
          if (take) this.forgetDropped(pipelineId, take.dropped);
          take = await this.staging.takePending(pipelineId, spec.ingestion.batchRows);
          taken = undefined;
        }
        const { batches, dropped } = take;
        this.forgetDropped(pipelineId, dropped);
        const pending = this.pending.get(pipelineId);
        const rows = rowsOf(batches);
        // What is left is for the quiet period, a flush, or the batch size once more records arrive.
        if (fullOnly && batches.length > 0 && rows < spec.ingestion.batchRows) return last;
        if (batches.length === 0) {
          // Nothing waits in staging (another replica may have cut what this one counted): forget the pipeline
          // unless this process staged a batch of it since the cut began.
          if (pending && pending.newestAt <= startedAt) this.pending.delete(pipelineId);
          return last;
        }
        planned = batches;
        if (taken) ahead = { ...taken, batches };
        await advance(basedOn, { phase: 'planned', batchIds: batches.map((b) => b._id) });
      }
    } finally {
      // Batches staged meanwhile keep the count above zero; at zero (or below, when another replica staged some of
      // what was cut) nothing this process knows of is pending.
      const state = this.pending.get(pipelineId);
      if (state && state.batches <= 0) this.pending.delete(pipelineId);
      // An encoding started ahead that no plan took: let it finish unobserved.
      ahead?.encoded?.catch(() => undefined);
    }
  }

  /**
   * The pipeline's next batches, taken while the version of `current` is still being written (so leaving its batches
   * out), and their encoding started when they make a version this cut would write.
   */
  private takeAhead(pipeline: StoredPipelineSpec, current: readonly string[], fullOnly: boolean): CutAhead {
    const { spec } = pipeline;
    const taking = this.staging.takePending(spec.id, spec.ingestion.batchRows, { excluding: new Set(current) });
    const ahead: CutAhead = { taking, batches: [] };
    ahead.encoded = taking.then(async ({ batches }) => {
      const rows = batches.reduce((sum, batch) => sum + batch.rowCount, 0);
      if (!makesVersion(batches.length, rows, spec.ingestion.batchRows, fullOnly)) return undefined;
      return this.versions.encodeStaged(pipeline, await this.staging.payloadsOf(batches));
    });
    // Observed by whoever uses it; an encoding nobody uses must not be an unhandled rejection.
    ahead.encoded.catch(() => undefined);
    taking.catch(() => undefined);
    return ahead;
  }

  private forgetDropped(pipelineId: string, dropped: number): void {
    const pending = this.pending.get(pipelineId);
    if (pending) pending.batches -= dropped;
  }

  /** Takes cut batches off this process's pending count. */
  private forget(pipelineId: string, batches: readonly StagedBatch[]): void {
    const state = this.pending.get(pipelineId);
    if (!state) return;
    state.batches -= batches.length;
    state.rows -= batches.reduce((sum, batch) => sum + batch.rowCount, 0);
  }

  /**
   * One dataset version from planned batches (encoded ahead, or now; or the version the plan recorded, from its
   * stored bytes), recorded in the plan before it is written (finishPlannedCut), in a span continuing the trace of
   * the newest batch and linking the others. `onEncoded` runs once the encoding is done, before the version is
   * recorded and written.
   */
  private cutBatches(
    pipeline: StoredPipelineSpec,
    batches: StagedBatch[],
    plan: {
      recorded: PlannedVersion | undefined;
      encodedAhead: Promise<Encoded | undefined> | undefined;
      onEncoded: () => void;
      untilRecorderGone: (recorded: PlannedVersion) => Promise<void>;
      record: (encoded: NonNullable<Encoded>) => Promise<boolean>;
    },
  ): Promise<DatasetVersion | null> {
    const { spec } = pipeline;
    const contexts = batches.map((batch) =>
      propagation.extract(ROOT_CONTEXT, { traceparent: batch.traceparent, tracestate: batch.tracestate }),
    );
    const links: Link[] = contexts
      .slice(0, -1)
      .map((ctx) => trace.getSpanContext(ctx))
      .filter((spanContext) => spanContext !== undefined)
      .slice(-MAX_LINKS)
      .map((spanContext) => ({ context: spanContext }));
    const attributes = {
      [KeelAttr.PIPELINE_ID]: spec.id,
      [KeelAttr.STAGED_BATCHES]: batches.length,
      [KeelAttr.DATASET_ROWS]: batches.reduce((rows, batch) => rows + batch.rowCount, 0),
    };
    return context.with(contexts[contexts.length - 1], () =>
      withSpan(
        'cut dataset version',
        attributes,
        async () => {
          const sources = batchSources(batches);
          // The batches are deleted only once the version is durable (object, document, event) and the cut log says
          // so; a crash before that finishes the version the plan recorded, from its bytes (finishPlannedCut).
          const version = await finishPlannedCut(spec.id, plan.recorded, {
            writeStored: ({ sha256, rowCount, columns }) =>
              this.versions.writeStored(pipeline, sha256, rowCount, sources, columns),
            unreadable: async (error, recorded) => {
              if (!(error instanceof IntegrityError || error instanceof ObjectTooLargeError)) return false;
              // No document names these bytes (writeStored looks first), so nothing of the version is visible:
              // its batches are encoded and recorded again. Corrupt bytes are removed first, or the new put, finding
              // an object at the same key, would keep them.
              this.logger.error(
                { err: error, pipelineId: spec.id, object: error.uri, datasetVersionId: recorded.datasetVersionId },
                error instanceof IntegrityError
                  ? 'the stored bytes of a recorded cut fail verification; removing them and encoding the batches again'
                  : 'the stored bytes of a recorded cut are over the read limit; encoding the batches again',
              );
              if (error instanceof IntegrityError) await this.versions.discardStored(pipeline, recorded.sha256);
              return true;
            },
            encode: async () => {
              const encoded =
                (await plan.encodedAhead?.catch(() => undefined)) ??
                (await this.versions.encodeStaged(pipeline, await this.staging.payloadsOf(batches)));
              plan.onEncoded();
              return encoded;
            },
            untilRecorderGone: plan.untilRecorderGone,
            record: plan.record,
            write: (encoded) => this.versions.write(pipeline, encoded, sources),
          });
          if (version) {
            this.logger.info(
              { pipelineId: spec.id, datasetVersionId: version.datasetVersionId, rows: version.rowCount },
              'dataset version cut',
            );
          }
          return version;
        },
        { links },
      ),
    );
  }

  /** Timer: cut pipelines whose records went quiet for flushAfterMs (or that are full and were missed). */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      if (Date.now() - this.lastRescan >= PENDING_RESCAN_MS) {
        this.lastRescan = Date.now();
        for (const [pipelineId, state] of await this.staging.recover({ sweepObjects: true })) {
          if (!this.pending.has(pipelineId)) this.pending.set(pipelineId, state);
        }
      }
      for (const [pipelineId, state] of [...this.pending]) {
        if (this.locks.has(pipelineId)) continue;
        try {
          const { spec } = await this.infra.pipelines.get(pipelineId);
          const full = state.rows >= spec.ingestion.batchRows;
          const quiet = async () => {
            const verdict = await quietPeriodOver(spec.ingestion.flushAfterMs, state.newestAt, {
              now: () => Date.now(),
              newestPending: () => this.staging.newestPending(pipelineId),
              consumedBefore: (topic, partition, before) =>
                this.infra.consumedBefore(RECORDS_GROUP, topic, partition, before),
            });
            state.newestAt = verdict.newestAt;
            return verdict.quiet;
          };
          if (full) await this.cut(pipelineId, { wait: false, fullOnly: true });
          else if (await quiet()) await this.cut(pipelineId, { wait: false });
        } catch (error) {
          this.logger.error({ err: error, pipelineId }, 'timed cut failed; retrying on the next tick');
        }
      }
    } catch (error) {
      this.logger.error({ err: error }, 'flush timer failed');
    } finally {
      this.ticking = false;
    }
  }
}
