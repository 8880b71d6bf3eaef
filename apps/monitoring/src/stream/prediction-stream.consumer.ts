import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import { checkJsonDepth, decodeCloudEvent, headerValue, PredictionLoggedV2 } from '@keel/contracts';
import {
  consumerRestartBackoff,
  isRetryable,
  KafkaDeadLetterSink,
  restartDelayWithin,
  SchemaValidationError,
} from '@keel/messaging';
import {
  HealthRegistry,
  Infrastructure,
  ROOT_LOGGER,
  SERVICE_CONFIG,
  SERVICE_IDENTITY,
  type ServiceIdentity,
} from '@keel/service-runtime';
import { type Admin, type Consumer, type EachBatchPayload, type KafkaMessage } from 'kafkajs';
import { consumerParentContext, KeelAttr, withSpan } from '@keel/telemetry';
import { context } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { type ArchiveRecord, PredictionArchive } from '../archive/prediction-archive';
import { type MonitoringConfig } from '../config';
import { DriftService, type WindowToReport } from '../drift/drift.service';
import { CheckpointRepository } from './checkpoint.repository';
import { PartitionState, type PredictionBatch } from './partition-state';
import { retryUntilDone } from './retry-until-done';
import { StreamMetrics } from './stream.metrics';
import { VersionSetups } from './version-setups';
import { WindowReports } from './window-reports';

/** Suffix of the stream's consumer group: `<service>.prediction-windows`. */
export const PREDICTION_STREAM_GROUP = 'prediction-windows';

/** A partition this replica owns: its state and what is on the way to its next checkpoint. */
interface OwnedPartition {
  partition: number;
  state: PartitionState;
  /** Sequence number of the checkpoint the state descends from (0: none yet). */
  seq: number;
  /** Batches applied since the last checkpoint snapshot: the next archive files' rows. */
  archive: ArchiveRecord[];
  /** The windows it closed, reported in groups; a checkpoint waits for those closed before its snapshot. */
  reports: WindowReports<WindowToReport>;
  checkpointing: Promise<void>;
  checkpointInFlight: boolean;
  lastCheckpointAt: number;
  /** nextOffset of the latest snapshot: the partition has news to checkpoint while its state is past it. */
  snapshotOffset: number;
  /** False until the first batch after loading: the consumer is then moved to the checkpoint's offset. */
  positioned: boolean;
  /** Offset of the log's end, as last seen. */
  logEnd: number;
  /** Aborted when the partition moves away (a rebalance, another owner's checkpoint) or the service stops. */
  abort: AbortController;
  /** Another owner wrote the checkpoint this one meant to: reload before applying anything more. */
  lost: boolean;
}

const HEARTBEAT_MS = 3_000;
const LAG_REFRESH_MS = 5_000;
const FINAL_CHECKPOINT_MS = 5_000;
const RATE_WINDOW_S = 10;
/** Fetch sizes large enough that a partition's backlog arrives in batches of many events. */
const MAX_BYTES_PER_PARTITION = 16 * 1024 * 1024;
const MAX_BYTES = 32 * 1024 * 1024;
/**
 * Bytes of records applied in one turn of the event loop before the next record waits for another turn: 512 KiB of
 * v2 JSON is ~4,000 rows, ~20 ms of decoding, validation and applying (bench:monitoring's hot path: ~4.5 ms per
 * 1,000 rows).
 */
const YIELD_AFTER_BYTES = 512 * 1024;

/**
 * A launched kafkajs consumer crashed while joining, or run() returned without it joining: kafkajs's run() does not
 * reject when joining fails (e.g. "the coordinator is loading" on a fresh broker), it reports a crash and returns.
 */
class NotJoinedError extends Error {}

/**
 * Monitoring's hot path: consumes mlops.predictions.logged.v2 in batches (group `<service>.prediction-windows`) and
 * keeps, per partition, the state of every model version's drift window in memory (PartitionState: O(1) per row).
 * Windows that close are reported in groups (WindowReports: one evaluation task, one produce request and one insert
 * per group, however small the windows). Every PREDICTION_CHECKPOINT_INTERVAL_MS it checkpoints each partition it
 * owns: the window reports closed so far,
 * the archive of the rows since the last checkpoint, the state, and the offset it reached, made durable by one
 * checkpoint document; only then is the offset committed to Kafka. A partition it is given starts from its latest
 * checkpoint (seeking to that checkpoint's offset), so a crash or kill -9 replays the log from there and ends with the
 * windows an uninterrupted run would have had. Partitions follow the consumer group (the log is keyed by pipeline),
 * so replicas share the work and never write the same state; a replica that missed a rebalance loses the next
 * checkpoint's insert and reloads.
 */
@Injectable()
export class PredictionStreamConsumer implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly groupId: string;
  private readonly partitions = new Map<number, OwnedPartition>();
  private readonly deadLetters: KafkaDeadLetterSink;
  private readonly stopping = new AbortController();
  private consumer?: Consumer;
  private admin?: Admin;
  private generation = 0;
  /** The latest generation that joined its group, and the latest that crashed (why): looked at as run() returns. */
  private joinedGeneration = 0;
  private crashedGeneration = 0;
  private crashReason = '';
  private state: 'created' | 'running' | 'restarting' | 'failed' | 'stopping' | 'stopped' = 'created';
  private lastError?: string;
  private restarting?: Promise<void>;
  private timers: NodeJS.Timeout[] = [];
  private readonly rateSamples: number[] = [];
  private rowsApplied = 0;

  constructor(
    private readonly infra: Infrastructure,
    private readonly setups: VersionSetups,
    private readonly drift: DriftService,
    private readonly checkpoints: CheckpointRepository,
    private readonly archive: PredictionArchive,
    private readonly metrics: StreamMetrics,
    private readonly health: HealthRegistry,
    @Inject(SERVICE_CONFIG) private readonly config: MonitoringConfig,
    @Inject(SERVICE_IDENTITY) identity: ServiceIdentity,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.groupId = `${identity.name}.${PREDICTION_STREAM_GROUP}`;
    this.logger = logger.child({ component: 'prediction-stream', groupId: this.groupId });
    this.deadLetters = new KafkaDeadLetterSink(infra.producer);
  }

  /** The consumer group whose checkpoints hold the windows and counts. */
  get group(): string {
    return this.groupId;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.health.register({
      name: `consumer ${this.groupId}`,
      check: async () => {
        if (this.state !== 'running') throw new Error(`${this.state}${this.lastError ? `: ${this.lastError}` : ''}`);
      },
    });
    this.health.register({
      name: 'prediction-log lag',
      check: async () => {
        const lag = this.lag();
        const bound = this.config.PREDICTION_LAG_READY_MAX_RECORDS;
        if (lag > bound) throw new Error(`${lag} prediction-log records behind (bound ${bound})`);
      },
    });
    this.admin = this.infra.kafka.admin();
    await this.admin.connect();
    try {
      await this.launch();
      this.state = 'running';
    } catch (error) {
      if (!(error instanceof NotJoinedError)) throw error;
      // Kafka is reachable but the group could not be joined yet: not ready, and relaunched with the backoff.
      this.restart(error.message);
    }
    this.timers = [
      setInterval(() => void this.refreshLag(), LAG_REFRESH_MS),
      setInterval(() => this.sampleRate(), 1_000),
      setInterval(
        () => this.checkpointQuietPartitions(),
        Math.max(100, this.config.PREDICTION_CHECKPOINT_INTERVAL_MS / 2),
      ),
    ];
    for (const timer of this.timers) timer.unref();
  }

  /** Stops fetching, lets the batch in flight finish, and checkpoints every owned partition before leaving. */
  async onModuleDestroy(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    for (const timer of this.timers) clearInterval(timer);
    await this.restarting;
    const consumer = this.consumer;
    await consumer?.stop().catch(() => undefined);
    const finalCheckpoints = Promise.all(
      [...this.partitions.values()].map(async (owned) => {
        try {
          await owned.checkpointing;
          if (!owned.lost && owned.state.nextOffset !== owned.snapshotOffset) {
            this.startCheckpoint(owned, consumer);
            await owned.checkpointing;
          }
        } catch (error) {
          this.logger.warn({ partition: owned.partition, err: (error as Error).message }, 'final checkpoint failed');
        }
      }),
    );
    // Bounded, within the runtime's shutdown timeout: what is not checkpointed by then is replayed by the next owner.
    await Promise.race([finalCheckpoints, new Promise((resolve) => setTimeout(resolve, FINAL_CHECKPOINT_MS).unref())]);
    this.stopping.abort(new Error('monitoring is stopping'));
    for (const owned of this.partitions.values()) owned.abort.abort(new Error('monitoring is stopping'));
    await consumer?.disconnect().catch(() => undefined);
    this.state = 'stopped';
  }

  async onApplicationShutdown(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
  }

  /** Records behind the log's end over the partitions this replica owns. */
  lag(): number {
    let lag = 0;
    for (const owned of this.partitions.values()) lag += Math.max(0, owned.logEnd - owned.state.nextOffset);
    return lag;
  }

  private async launch(): Promise<void> {
    const generation = ++this.generation;
    const consumer = this.infra.kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
      maxBytes: MAX_BYTES,
      retry: { restartOnFailure: async () => false },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (generation !== this.generation) return;
      this.joinedGeneration = generation;
      this.assigned(payload.memberAssignment[PredictionLoggedV2.topic] ?? []);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => this.crashed(generation, payload.error));
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [PredictionLoggedV2.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (payload) => this.handleBatch(consumer, payload),
      });
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    const down =
      this.crashedGeneration === generation
        ? `crashed: ${this.crashReason}`
        : this.joinedGeneration !== generation
          ? 'returned from run without joining its group'
          : undefined;
    if (down !== undefined) {
      await consumer.disconnect().catch(() => undefined);
      throw new NotJoinedError(`kafkajs consumer ${down}`);
    }
  }

  /** Partitions that moved away are dropped (their next owner starts from their latest checkpoint). */
  private assigned(partitions: readonly number[]): void {
    const kept = new Set(partitions);
    for (const [partition, owned] of this.partitions) {
      if (kept.has(partition)) continue;
      owned.abort.abort(new Error(`partition ${partition} was assigned to another replica`));
      this.partitions.delete(partition);
      this.metrics.lag.remove({ partition: String(partition) });
    }
    this.metrics.ownedPartitions.set(kept.size);
    this.logger.info({ partitions: [...kept] }, 'prediction-log partitions assigned');
  }

  /** kafkajs gave up (e.g. evicted while the loop was blocked): a fresh consumer, from the checkpoints, with backoff. */
  private crashed(generation: number, error: Error): void {
    if (generation !== this.generation) return;
    this.crashedGeneration = generation;
    this.crashReason = error.message;
    // While starting or restarting, the launch in progress sees the crash when run() returns.
    if (this.state !== 'running') return;
    this.restart(error.message);
  }

  private restart(reason: string): void {
    this.state = 'restarting';
    this.lastError = reason;
    this.logger.error({ err: reason }, 'prediction stream consumer down; restarting it');
    for (const owned of this.partitions.values()) owned.abort.abort(new Error(reason));
    this.partitions.clear();
    const downSince = Date.now();
    const timeoutMs = this.config.CONSUMER_RESTART_TIMEOUT_MS;
    this.restarting = (async () => {
      for (let attempt = 1; this.state === 'restarting'; attempt++) {
        const delay = restartDelayWithin(consumerRestartBackoff, attempt, downSince, timeoutMs);
        if (delay === undefined) {
          this.fail(
            `not back within ${timeoutMs} ms after ${attempt - 1} restart attempts; last error: ${this.lastError}`,
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (this.state !== 'restarting') return;
        try {
          await this.consumer?.disconnect().catch(() => undefined);
          await this.launch();
          if (this.state !== 'restarting') return;
          this.state = 'running';
          this.lastError = undefined;
          this.logger.info({ attempt }, 'prediction stream consumer restarted');
        } catch (restartError) {
          this.lastError = `restart failed: ${(restartError as Error).message}`;
          this.logger.warn({ attempt, err: this.lastError }, 'prediction stream consumer restart failed');
        }
      }
    })();
  }

  /**
   * The consumer could not come back within CONSUMER_RESTART_TIMEOUT_MS, as an EventConsumer would declare: the
   * runtime fails liveness and exits, so the supervisor starts a fresh process (from the checkpoints).
   */
  private fail(message: string): void {
    this.state = 'failed';
    this.lastError = message;
    this.logger.error({ err: message }, 'prediction stream consumer failed');
    this.health.markFatal(`consumer ${this.groupId} failed: ${message}`);
  }

  private async handleBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    let owned = this.partitions.get(partition);
    if (!owned || owned.lost) {
      owned = await this.withHeartbeat(heartbeat, this.load(partition));
      this.partitions.set(partition, owned);
    }
    owned.logEnd = Number(batch.highWatermark);
    if (batch.isEmpty()) return;
    const firstOffset = Number(batch.firstOffset());
    if (!owned.positioned) {
      owned.positioned = true;
      if (owned.seq > 0 && firstOffset !== owned.state.nextOffset) {
        // Resume exactly where the checkpoint ends: the group's committed offset may trail it (a crash between the
        // checkpoint and the commit) or run ahead of it (this replica applied records it then failed to checkpoint).
        consumer.seek({ topic, partition, offset: String(owned.state.nextOffset) });
        return;
      }
    } else if (firstOffset > owned.state.nextOffset) {
      this.logger.warn(
        { partition, expectedOffset: owned.state.nextOffset, firstOffset },
        'the log skips records the partition has not applied (removed by retention?); continuing',
      );
    }
    let sinceYield = 0;
    for (const message of batch.messages) {
      // A fetch holds up to MAX_BYTES_PER_PARTITION (16 MiB) of records, and every await below may resolve at once:
      // applied in one go, the 19,000 rows serving logged for fuzz:live's largest requests held this loop ~100 ms
      // (issue 13 bounds any one input at 100 ms). Past YIELD_AFTER_BYTES applied, the next record waits for a turn of
      // the event loop, so a backlog is applied a few records per turn, never a whole fetch at once.
      if (sinceYield >= YIELD_AFTER_BYTES) {
        sinceYield = 0;
        await yieldToLoop();
      }
      if (!isRunning() || isStale() || owned.lost || owned.abort.signal.aborted) break;
      if (Number(message.offset) < owned.state.nextOffset) continue;
      sinceYield += message.value?.length ?? 0;
      try {
        await this.applyRecord(owned, topic, message);
      } catch (error) {
        // The partition moved away (or is being reloaded) while its record waited: its next owner applies it.
        if (owned.abort.signal.aborted || owned.lost) break;
        throw error;
      }
      resolveOffset(message.offset);
      // kafkajs sends one only when its interval has passed: a large batch must not let the session expire.
      await heartbeat();
      if (this.checkpointDue(owned)) {
        // At most one checkpoint in flight per partition: the next waits for it, so a slow store slows intake.
        await this.withHeartbeat(heartbeat, owned.checkpointing);
        if (this.checkpointDue(owned)) this.startCheckpoint(owned, consumer);
      }
    }
    this.metrics.lag.set({ partition: String(partition) }, Math.max(0, owned.logEnd - owned.state.nextOffset));
    await heartbeat();
  }

  /** Applies one record (or dead-letters it) and moves the partition's offset past it, in one synchronous step. */
  private async applyRecord(owned: OwnedPartition, topic: string, message: KafkaMessage): Promise<void> {
    const next = Number(message.offset) + 1;
    let batch: PredictionBatch;
    try {
      // Nesting bounded before JSON.parse builds the value, as the messaging lib's consumers do (JSON_MAX_DEPTH): a
      // 1 MB record of nested arrays held this loop ~100-200 ms in JSON.parse (npm run fuzz:live); the check is one
      // pass over the bytes, and a deeper record is dead-lettered like any malformed one.
      if (message.value) checkJsonDepth(message.value, this.config.JSON_MAX_DEPTH);
      const { data } = decodeCloudEvent(message.headers, message.value);
      const parsed = PredictionLoggedV2.schema.safeParse(data);
      if (!parsed.success) {
        throw new SchemaValidationError(
          topic,
          parsed.error.issues.slice(0, 20).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
        );
      }
      // The schema transforms nothing, so the decoded object is used as is rather than zod's copy of it.
      batch = data as PredictionBatch;
    } catch (error) {
      await this.deadLetter(owned, topic, message, error);
      owned.state.nextOffset = next;
      return;
    }
    if (owned.state.hasApplied(batch.batchId)) {
      this.metrics.events.inc({ outcome: 'duplicate' });
      owned.state.nextOffset = next;
      return;
    }
    let resolved;
    try {
      resolved = await this.setups.resolve(batch, owned.abort.signal);
    } catch (error) {
      if (owned.abort.signal.aborted || isRetryable(error)) throw error;
      await this.deadLetter(owned, topic, message, error);
      owned.state.nextOffset = next;
      return;
    }
    if (owned.lost || owned.abort.signal.aborted) return;
    const attributes = {
      [KeelAttr.PIPELINE_ID]: batch.pipelineId,
      [KeelAttr.MODEL_NAME]: batch.modelName,
      [KeelAttr.MODEL_VERSION]: batch.modelVersion,
      [KeelAttr.BATCH_SIZE]: batch.rows,
    };
    // In the producer's trace, so a request's trace shows monitoring taking its predictions (and judging its window).
    await context.with(consumerParentContext(message.headers), () =>
      withSpan('apply prediction batch', attributes, (span) => {
        const closed = owned.state.apply(batch, resolved.setup);
        owned.state.nextOffset = next;
        // Binary mode: the record's value is the batch's JSON as serving wrote it, archived as is.
        const structured = headerValue(message.headers, 'content-type')?.startsWith('application/cloudevents');
        owned.archive.push({
          batch,
          bytes: structured || !message.value ? Buffer.from(JSON.stringify(batch)) : message.value,
        });
        this.rowsApplied += batch.rows;
        this.metrics.rows.inc(batch.rows);
        this.metrics.events.inc({ outcome: 'applied' });
        this.metrics.predictionsLogged.inc({ pipeline: batch.pipelineId }, batch.rows);
        for (const window of closed) {
          this.metrics.windowsClosed.inc({ pipeline: window.pipelineId });
          const windowContext = { reference: resolved.setup.reference, tests: resolved.tests };
          owned.reports.add({ window, context: windowContext, closedIn: span.spanContext() });
        }
      }),
    );
  }

  private async deadLetter(owned: OwnedPartition, topic: string, message: KafkaMessage, error: unknown) {
    this.metrics.events.inc({ outcome: 'dead-lettered' });
    this.logger.error(
      { partition: owned.partition, offset: message.offset, err: (error as Error).message },
      'prediction-log record refused; dead-lettered',
    );
    const record = {
      topic,
      partition: owned.partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      headers: message.headers ?? {},
    };
    await retryUntilDone(
      () => this.deadLetters.send(record, { error, consumer: this.groupId, attempts: 1 }),
      owned.abort.signal,
    );
  }

  /** The partition's latest checkpoint, or a fresh state that takes the log from the group's committed offset. */
  private async load(partition: number): Promise<OwnedPartition> {
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.stopping.signal]);
    const checkpoint = await retryUntilDone(() => this.checkpoints.latest(this.groupId, partition), signal);
    let state = new PartitionState();
    if (checkpoint) {
      const bytes = await retryUntilDone(() => this.checkpoints.readState(checkpoint), signal);
      state = PartitionState.fromJSON(JSON.parse(bytes.toString('utf8')));
    }
    this.logger.info(
      { partition, checkpoint: checkpoint?.seq ?? 0, nextOffset: state.nextOffset },
      'prediction-log partition loaded',
    );
    return {
      partition,
      state,
      seq: checkpoint?.seq ?? 0,
      archive: [],
      reports: new WindowReports((windows) => this.drift.reportAll(windows, signal)),
      checkpointing: Promise.resolve(),
      checkpointInFlight: false,
      lastCheckpointAt: Date.now(),
      snapshotOffset: state.nextOffset,
      positioned: false,
      logEnd: state.nextOffset,
      abort,
      lost: false,
    };
  }

  /**
   * Snapshots the partition (synchronously, so the batches after it go to the next checkpoint) and writes the
   * checkpoint in the background: the window reports closed before it, the archive, the state, the checkpoint
   * document (the one write that makes it count), then the Kafka commit. Store outages are retried without limit;
   * any other failure marks the partition for a reload from its latest checkpoint.
   */
  private checkpointDue(owned: OwnedPartition): boolean {
    return (
      !owned.checkpointInFlight &&
      !owned.lost &&
      owned.state.nextOffset !== owned.snapshotOffset &&
      Date.now() - owned.lastCheckpointAt >= this.config.PREDICTION_CHECKPOINT_INTERVAL_MS
    );
  }

  /** Partitions that went quiet after their last checkpoint are checkpointed too, so counts and offsets catch up. */
  private checkpointQuietPartitions(): void {
    for (const owned of this.partitions.values()) {
      if (this.checkpointDue(owned)) this.startCheckpoint(owned, this.consumer);
    }
  }

  private startCheckpoint(owned: OwnedPartition, consumer: Consumer | undefined): void {
    if (owned.checkpointInFlight) return;
    owned.checkpointInFlight = true;
    owned.snapshotOffset = owned.state.nextOffset;
    const snapshot = Buffer.from(JSON.stringify(owned.state.toJSON()));
    const archive = owned.archive;
    // Every window closed before the snapshot is reported before the checkpoint that moves past its rows.
    const reported = owned.reports.settled();
    owned.archive = [];
    owned.lastCheckpointAt = Date.now();
    const seq = owned.seq + 1;
    const nextOffset = owned.state.nextOffset;
    const counts = [...owned.state.rowCounts()].map(([pipelineId, rows]) => ({ pipelineId, rows }));
    const signal = AbortSignal.any([owned.abort.signal, this.stopping.signal]);
    const { partition } = owned;
    const started = performance.now();
    owned.checkpointing = (async () => {
      await reported;
      const files = await retryUntilDone(() => this.archive.write(archive), signal, this.warnOnce(partition));
      const state = await retryUntilDone(
        () => this.checkpoints.putState(this.groupId, partition, seq, snapshot),
        signal,
        this.warnOnce(partition),
      );
      const written = await retryUntilDone(
        () =>
          this.checkpoints.insert({
            group: this.groupId,
            partition,
            seq,
            nextOffset,
            ...state,
            counts,
            archive: files,
          }),
        signal,
        this.warnOnce(partition),
      );
      if (!written) {
        this.metrics.checkpoints.inc({ outcome: 'lost' });
        this.logger.warn({ partition, seq }, 'another replica checkpointed this partition first; reloading it');
        owned.lost = true;
        owned.abort.abort(new Error('another replica owns the partition'));
        return;
      }
      owned.seq = seq;
      this.metrics.checkpoints.inc({ outcome: 'written' });
      this.metrics.checkpointSeconds.observe((performance.now() - started) / 1_000);
      await consumer
        ?.commitOffsets([{ topic: PredictionLoggedV2.topic, partition, offset: String(nextOffset) }])
        .catch(() => undefined);
      await this.checkpoints.trim(this.groupId, partition, seq).catch((error: unknown) => {
        this.logger.warn({ partition, err: (error as Error).message }, 'trimming old checkpoints failed');
      });
    })()
      .catch((error: unknown) => {
        if (owned.lost) return;
        this.metrics.checkpoints.inc({ outcome: 'failed' });
        if (!signal.aborted) {
          this.logger.error(
            { partition, seq, err: (error as Error).message },
            'checkpoint failed; reloading partition',
          );
        }
        owned.lost = true;
        owned.abort.abort(error);
      })
      .finally(() => (owned.checkpointInFlight = false));
  }

  private warnOnce(partition: number) {
    return (error: unknown, attempt: number) => {
      if (attempt === 1) {
        this.logger.warn(
          { partition, err: (error as Error).message },
          'writing a checkpoint failed; retrying with backoff',
        );
      }
    };
  }

  private async withHeartbeat<T>(heartbeat: () => Promise<void>, work: Promise<T>): Promise<T> {
    const timer = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_MS);
    try {
      return await work;
    } finally {
      clearInterval(timer);
    }
  }

  /** The log's end of every owned partition, so lag shows even while no batch arrives (a stalled consumer). */
  private async refreshLag(): Promise<void> {
    if (this.partitions.size === 0 || !this.admin) return;
    try {
      const offsets = await this.admin.fetchTopicOffsets(PredictionLoggedV2.topic);
      for (const { partition, high } of offsets) {
        const owned = this.partitions.get(partition);
        if (!owned) continue;
        owned.logEnd = Math.max(owned.logEnd, Number(high));
        this.metrics.lag.set({ partition: String(partition) }, Math.max(0, owned.logEnd - owned.state.nextOffset));
      }
    } catch (error) {
      this.logger.debug({ err: (error as Error).message }, 'reading the log end failed');
    }
  }

  private sampleRate(): void {
    this.rateSamples.push(this.rowsApplied);
    if (this.rateSamples.length > RATE_WINDOW_S + 1) this.rateSamples.shift();
    const span = this.rateSamples.length - 1;
    if (span > 0) this.metrics.rowsPerSecond.set((this.rateSamples[span] - this.rateSamples[0]) / span);
  }
}
