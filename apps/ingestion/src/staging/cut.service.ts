import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { type PipelineSpecV1 } from '@keel/contracts';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { context, type Link, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { type IngestionConfig } from '../config';
import { DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DatasetVersion } from '../datasets/datasets.repository';
import { batchSources } from './batch-sources';
import { type PendingState, type StagedBatch, StagingRepository } from './staging.repository';

const MAX_LINKS = 64;

/**
 * Cuts dataset versions from staged batches: when a pipeline's staged rows reach spec.ingestion.batchRows, when
 * its records have been quiet for spec.ingestion.flushAfterMs (a timer), or on demand. One cut per pipeline at a
 * time in this process; the cut is idempotent (content-addressed), so a second replica cutting the same batches
 * writes the same version. The triggers work from in-memory pending state (rebuilt at start-up from one scan), so
 * the timer costs no database query unless something is pending.
 */
@Injectable()
export class CutService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Batches staged by this process (or found at start-up) and not cut yet, per pipeline. */
  private readonly pending = new Map<string, PendingState>();
  private readonly logger: Logger;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private stopped = false;

  constructor(
    private readonly infra: Infrastructure,
    private readonly staging: StagingRepository,
    private readonly versions: DatasetVersionsService,
    @Inject(SERVICE_CONFIG) private readonly config: IngestionConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'cut' });
  }

  /** Before the consumers start: what earlier runs left pending. */
  async onModuleInit(): Promise<void> {
    for (const [pipelineId, state] of await this.staging.recover()) this.pending.set(pipelineId, state);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), this.config.INGESTION_FLUSH_CHECK_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.locks.values()]);
  }

  /** Counts a newly staged batch and cuts now if the pipeline's rows reached its batch size (the timer retries). */
  staged(spec: PipelineSpecV1, batch: StagedBatch): void {
    const state = this.pending.get(spec.id) ?? { batches: 0, rows: 0, newestAt: batch.stagedAt };
    state.batches++;
    state.rows += batch.rowCount;
    if (batch.stagedAt > state.newestAt) state.newestAt = batch.stagedAt;
    this.pending.set(spec.id, state);
    if (this.stopped || state.rows < spec.ingestion.batchRows) return;
    this.cut(spec.id).catch((error: unknown) =>
      this.logger.error({ err: error, pipelineId: spec.id }, 'batch-size cut failed'),
    );
  }

  /**
   * Cuts every staged batch of a pipeline into dataset versions (several when more than batchRows are waiting);
   * returns the last version written, or null when nothing was staged.
   */
  async cut(pipelineId: string): Promise<DatasetVersion | null> {
    // Chained per pipeline: a cut that arrives while one runs waits for it, then sees what is left.
    const previous = this.locks.get(pipelineId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.cutAll(pipelineId));
    this.locks.set(pipelineId, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(pipelineId) === run) this.locks.delete(pipelineId);
    }
  }

  private async cutAll(pipelineId: string): Promise<DatasetVersion | null> {
    const pipeline = await this.infra.pipelines.get(pipelineId);
    const { spec } = pipeline;
    let last: DatasetVersion | null = null;
    try {
      for (;;) {
        const { batches, dropped } = await this.staging.takePending(pipelineId, spec.ingestion.batchRows);
        const state = this.pending.get(pipelineId);
        if (state) state.batches -= dropped;
        if (batches.length === 0) return last;
        last = (await this.cutBatches(pipeline, batches)) ?? last;
        if (state) {
          state.batches -= batches.length;
          state.rows -= batches.reduce((sum, batch) => sum + batch.rowCount, 0);
        }
      }
    } finally {
      // Batches staged meanwhile keep the count above zero; at zero (or below, when another replica staged some of
      // what was cut) nothing this process knows of is pending.
      const state = this.pending.get(pipelineId);
      if (state && state.batches <= 0) this.pending.delete(pipelineId);
    }
  }

  /** One dataset version from batches, in a span continuing the trace of the newest batch and linking the others. */
  private cutBatches(pipeline: StoredPipelineSpec, batches: StagedBatch[]): Promise<DatasetVersion | null> {
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
    const records = batches.flatMap((batch) => this.staging.records(batch));
    const attributes = {
      [KeelAttr.PIPELINE_ID]: spec.id,
      [KeelAttr.STAGED_BATCHES]: batches.length,
      [KeelAttr.DATASET_ROWS]: records.length,
    };
    return context.with(contexts[contexts.length - 1], () =>
      withSpan(
        'cut dataset version',
        attributes,
        async () => {
          const ids = batches.map((batch) => batch._id);
          if (records.length === 0) {
            // Batches whose every record was dead-lettered: nothing to write, but they are done.
            await this.staging.consume(spec.id, ids);
            return null;
          }
          // Deleted only once the version is durable (object, document, event): a crash before re-cuts the same bytes.
          const version = await this.versions.write(pipeline, records, batchSources(batches));
          await this.staging.consume(spec.id, ids);
          this.logger.info(
            { pipelineId: spec.id, datasetVersionId: version.datasetVersionId, rows: records.length },
            'dataset version cut',
          );
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
      for (const [pipelineId, { rows, newestAt }] of [...this.pending]) {
        if (this.locks.has(pipelineId)) continue;
        try {
          const { spec } = await this.infra.pipelines.get(pipelineId);
          const quiet = Date.now() - newestAt.getTime() >= spec.ingestion.flushAfterMs;
          if (quiet || rows >= spec.ingestion.batchRows) await this.cut(pipelineId);
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
