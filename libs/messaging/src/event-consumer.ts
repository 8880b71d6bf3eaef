import { setImmediate } from 'node:timers/promises';
import { context, type Link, SpanKind, trace } from '@opentelemetry/api';
import { type CloudEventAttributes, type EventContract } from '@keel/contracts';
import { consumerParentContext, extractTraceContext, withSpan } from '@keel/telemetry';
import { type Consumer, type EachBatchPayload, type KafkaMessage, type Kafka } from 'kafkajs';
import { type DeadLetterSink, type InboundRecord } from './dead-letter';
import { DEFAULT_RECORD_LIMITS, recordBytes, type RecordLimits } from './limits';
import { type MessagingLogger, silentLogger } from './logger';
import { type ProcessedEventStore } from './processed-events';
import {
  type ConsumedEvent,
  decodeRecord,
  type EventHandler,
  freshRetryState,
  processedEventKey,
  RecordProcessor,
  type RecordRetryState,
} from './record-processor';
import { consumerRestartBackoff, restartDelayWithin, type RetryPolicy } from './retry';

export interface EventConsumerOptions {
  /** Kafka consumer group; also the consumer's name in the processed-events store and dead-letter headers. */
  groupId: string;
  store: ProcessedEventStore;
  deadLetters: DeadLetterSink;
  logger?: MessagingLogger;
  /** How failing records are retried; see `defaultRetryPolicy`. */
  retry?: RetryPolicy;
  /** KAFKA_MAX_RECORD_BYTES and JSON_MAX_DEPTH; records past them are dead-lettered unparsed. */
  limits?: RecordLimits;
  /** Where a new group starts; default true, so no event published before the first start is skipped. */
  fromBeginning?: boolean;
  /**
   * Partitions handled at once; records of one partition are always handled in order. Default 1. (With a batch
   * handler, a partition's last run may still settle while another partition's fetch is handled.)
   */
  partitionsConsumedConcurrently?: number;
  /** How long the consumer may stay down (crashed and not yet back) before it is declared failed; default 5 min. */
  restartTimeoutMs?: number;
  /** Backoff between restart attempts; default 1 s doubling to 30 s, with jitter. */
  restartBackoff?: RetryPolicy;
  /**
   * Called once when the consumer could not come back within `restartTimeoutMs`. The runtime marks the process not
   * live and exits, so its supervisor starts a fresh one.
   */
  onFatal?: (error: ConsumerFailedError) => void;
  /** Injected in tests: jitter of the restart and retry backoff. */
  random?: () => number;
}

/**
 * Where a consumer is in its life; only `running` counts as ready, and `running` means the current kafkajs consumer's
 * run() returned after it joined its group, and it has not crashed, stopped or disconnected since.
 */
export type ConsumerState = 'created' | 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed';

export interface ConsumerStatus {
  groupId: string;
  state: ConsumerState;
  /** Why the consumer last went down, while it is not running. */
  lastError?: string;
  /** Restarts since start. */
  restarts: number;
}

/**
 * A launched kafkajs consumer is not consuming: it went down before (or as) its run() returned, or run() returned
 * without it joining the group. kafkajs's run() does not reject when joining fails (e.g. "the coordinator is loading"
 * on a fresh broker): it reports a crash through events and returns.
 */
class LaunchLostError extends Error {}

/** The consumer crashed and could not be restarted within its bound. */
export class ConsumerFailedError extends Error {
  constructor(
    readonly groupId: string,
    message: string,
  ) {
    super(`consumer ${groupId} failed: ${message}`);
    this.name = 'ConsumerFailedError';
  }
}

const DEFAULT_RESTART_TIMEOUT_MS = 300_000;
/** How often a long-running handler heartbeats, well inside kafkajs's 30 s session timeout. */
const HANDLER_HEARTBEAT_MS = 3_000;
/** Events decoded between two turns of the event loop. */
const YIELD_EVERY_EVENTS = 16;
/** Most events one batch handler call gets. */
const MAX_BATCH_EVENTS = 500;
/** Fetch sizes of a consumer with batch handlers: a fetch is what a batch can hold, so it is larger than kafkajs's 1 MiB. */
const BATCH_FETCH_BYTES_PER_PARTITION = 16 * 1024 * 1024;
const BATCH_FETCH_BYTES = 32 * 1024 * 1024;
/** How long a partition waits after settling a batch failed (a commit or the store), before it is fetched again. */
const SETTLE_FAILURE_PAUSE_MS = 1_000;
/** Producer spans a batch's span links to. */
const MAX_BATCH_LINKS = 64;

/**
 * Handles several events of one partition at once, in their order. Must have the effect of handling each of them
 * alone (idempotently, per event id): when it throws, its events are handled again one by one through the same
 * function, with the usual retries and dead letters.
 */
export type EventBatchHandler<C extends EventContract> = (events: readonly ConsumedEvent<C>[]) => Promise<void>;

/** What a batch preparer made of one record: its CloudEvent attributes (as `decodeRecord` reads them) and the rest. */
export interface PreparedRecord<P> {
  readonly attributes: CloudEventAttributes;
  readonly prepared: P;
}

/** A prepared record as a prepared batch's handler gets it. */
export interface PreparedEvent<P> {
  readonly id: string;
  readonly attributes: CloudEventAttributes;
  readonly prepared: P;
  /** The record as it arrived (for dead letters of parts of it). */
  readonly record: InboundRecord;
}

/**
 * A batch handler whose records are decoded by the caller, typically on a worker thread, so that parsing and checking
 * large events does not hold the event loop (see `EventConsumer.onPreparedBatch`).
 */
export interface PreparedBatchHandler<C extends EventContract, P> {
  /**
   * One result per record, in order: what `handle` needs of it, or `undefined` for a record it does not take (one that
   * does not decode, for instance), which then goes the per-record way: decoded by the lib, handled by `handleOne`,
   * and dead-lettered with its reason when it cannot be. Must accept only records `decodeRecord` (with `limits`)
   * accepts, with the attributes it reads; records over `limits.maxRecordBytes` are never passed. Without side
   * effects: a prepared record may be prepared again (after a failure, a rebalance), or not handled at all.
   */
  prepare(records: readonly InboundRecord[], limits: RecordLimits): Promise<readonly (PreparedRecord<P> | undefined)[]>;
  /** Handles prepared events of one partition in order; the contract of an {@link EventBatchHandler}. */
  handle(events: readonly PreparedEvent<P>[]): Promise<void>;
  /** The per-record way: a record `prepare` did not take, one retried, or the events of a batch that failed. */
  handleOne: EventHandler<C>;
}

/** One record of a run for a batch handler: its message, attributes (its identity) and what the handler gets. */
interface RunItem {
  message: KafkaMessage;
  attributes: CloudEventAttributes;
  value: unknown;
}

/**
 * How a consumer with batch handlers decodes a fetch, and hands runs over. `decode` returns items for the messages
 * from `from` on, in order: a leading run of decoded ones, and `undefined` where a message goes the per-record way
 * (everything after the first `undefined` is decoded again later, unless it is an item).
 */
interface BatchWay {
  /** Shortest run handed over as a batch; a shorter one goes the per-record way (costs the same when decoded here). */
  minRun: number;
  /** Decoded off the event loop: a fetch is handed to the background whole (see `handleFetchAhead`). */
  ahead: boolean;
  decode(
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    from: number,
  ): Promise<(RunItem | undefined)[]>;
  handle(values: readonly unknown[]): Promise<void>;
}

/** What handling one message needs of kafkajs's per-batch payload. */
interface MessageScope {
  topic: string;
  partition: number;
  message: KafkaMessage;
  heartbeat(): Promise<void>;
  pause(): () => void;
}

/**
 * A thin consumer base on kafkajs rather than NestJS's Kafka transport: we need validation, idempotency,
 * retries and dead-lettering on every record, and to commit an offset only after its record's fate is durable,
 * which the transport's auto-commit and its own envelope format do not give us.
 *
 * Supervised: kafkajs gives up on some failures (a member evicted from its group while the event loop was blocked
 * ends in a non-retriable error and a consumer that never fetches again). Every crash, and every stop or disconnect
 * we did not ask for, marks the consumer not running (the service unready) and restarts it as a fresh kafkajs
 * consumer with capped backoff; kafkajs's own restart is turned off so there is one recovery path. A consumer that
 * cannot come back within `restartTimeoutMs` is declared failed through `onFatal`. A launch (the first one too) counts
 * as back only once its kafkajs consumer has joined the group and is still up when run() returns; a crash while
 * joining (kafkajs reports it through events, and run() still returns) is retried with the same backoff.
 *
 * A record whose attempt must be retried does not hold the fetch loop: its partition is paused and rewound to the
 * record, and resumed when the backoff has passed, so other partitions keep flowing and heartbeats continue.
 */
export class EventConsumer {
  private readonly processors = new Map<string, RecordProcessor<EventContract>>();
  private readonly batchHandlers = new Map<string, BatchWay>();
  private consumer: Consumer | undefined;
  private generation = 0;
  /** The latest generation that joined its group (kafkajs's GROUP_JOIN). */
  private joinedGeneration = 0;
  /** The latest generation that went down, and why: looked at when its launch returns. */
  private lostGeneration = 0;
  private lostReason = '';
  private state: ConsumerState = 'created';
  private lastError: string | undefined;
  private restarts = 0;
  private recovery: Promise<void> | undefined;
  private readonly stopRequested = new AbortController();
  /** Records waiting for another attempt, by topic, partition and offset. */
  private readonly pendingRetries = new Map<string, RecordRetryState>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  /**
   * Per partition of a batch handler: the settling of its last run, in flight while the next fetch comes; for a
   * prepared fetch also the offset after its last record (`end`), so the next fetch can tell whether it continues
   * that fetch or is the redelivery after a rewind.
   */
  private readonly settling = new Map<string, { consumer: Consumer; settled: Promise<boolean>; end?: string }>();
  private readonly logger: MessagingLogger;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: EventConsumerOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
  }

  get groupId(): string {
    return this.options.groupId;
  }

  /** What readiness reports: running, or why not. */
  status(): ConsumerStatus {
    return {
      groupId: this.options.groupId,
      state: this.state,
      restarts: this.restarts,
      ...(this.state === 'running' ? {} : { lastError: this.lastError }),
    };
  }

  /** Readiness: throws, saying why, unless the consumer is consuming (`running`). */
  assertReady(): void {
    if (this.state !== 'running') throw new Error(`${this.state}${this.lastError ? `: ${this.lastError}` : ''}`);
  }

  /** Registers the handler of one contract's topic; call before `start`. */
  on<C extends EventContract>(contract: C, handler: EventHandler<C>): this {
    if (this.state !== 'created') throw new Error('EventConsumer.on must be called before start');
    this.processors.set(
      contract.topic,
      new RecordProcessor(contract, handler, {
        consumer: this.options.groupId,
        store: this.options.store,
        deadLetters: this.options.deadLetters,
        logger: this.logger,
        retry: this.options.retry,
        limits: this.options.limits,
        random: this.options.random,
      }) as unknown as RecordProcessor<EventContract>,
    );
    return this;
  }

  /**
   * Registers a batch handler of one contract's topic; call before `start`. The consumer then takes what each fetch
   * brought for a partition at once: the events that decode are checked against the processed-event store in one
   * round trip, handed to `handler` together, recorded as processed in one round trip, and their offsets committed
   * once. A record that does not decode, one waiting for a retry, or a batch whose handler throws goes through the
   * per-record path (`on`'s), so retries, dead letters and deduplication are those of every other consumer.
   */
  onBatch<C extends EventContract>(contract: C, handler: EventBatchHandler<C>): this {
    this.on(contract, (event) => handler([event]));
    this.batchHandlers.set(contract.topic, {
      minRun: 2,
      ahead: false,
      decode: (topic, partition, messages, from) => this.decodeRun(contract, topic, partition, messages, from),
      handle: (values) => handler(values as ConsumedEvent<C>[]),
    });
    return this;
  }

  /**
   * Registers a batch handler whose records are decoded by `handler.prepare` (off the event loop, typically on a
   * worker thread); call before `start`. Otherwise as `onBatch`: the prepared events of a fetch are deduplicated,
   * handed to `handler.handle` together, recorded as processed and committed in order per partition; a record that
   * `prepare` did not take, one waiting for a retry, and the events of a batch whose handler throws go the per-record
   * way through `handler.handleOne`, with its retries, dead letters (and their reasons) and deduplication.
   */
  onPreparedBatch<C extends EventContract, P>(contract: C, handler: PreparedBatchHandler<C, P>): this {
    this.on(contract, handler.handleOne);
    this.batchHandlers.set(contract.topic, {
      // A lone prepared event is cheaper as a batch than decoded again on the event loop.
      minRun: 1,
      ahead: true,
      decode: (topic, partition, messages, from) => this.prepareRun(handler, topic, partition, messages, from),
      handle: (values) => handler.handle(values as PreparedEvent<P>[]),
    });
    return this;
  }

  /** Decodes messages on the event loop from `from` on, up to the first that does not decode or waits for a retry. */
  private async decodeRun(
    contract: EventContract,
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    from: number,
  ): Promise<(RunItem | undefined)[]> {
    const run: (RunItem | undefined)[] = [];
    for (let i = from; i < messages.length && run.length < MAX_BATCH_EVENTS; i++) {
      const message = messages[i];
      if (this.pendingRetries.has(retryKey(topic, partition, message.offset))) break;
      // Decoding a fetch of large events takes a while: health probes and timers get their turn in between.
      if (i > from && (i - from) % YIELD_EVERY_EVENTS === 0) await setImmediate();
      try {
        const event = decodeRecord(contract, toInbound(topic, partition, message), this.options.limits);
        run.push({ message, attributes: event.attributes, value: event });
      } catch {
        run.push(undefined);
        break;
      }
    }
    return run;
  }

  /**
   * Hands messages from `from` on (up to one waiting for a retry) to a preparer; those over KAFKA_MAX_RECORD_BYTES, and
   * all of them when the preparer fails, go the per-record way.
   */
  private async prepareRun<C extends EventContract, P>(
    handler: PreparedBatchHandler<C, P>,
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    from: number,
  ): Promise<(RunItem | undefined)[]> {
    const limits = this.options.limits ?? DEFAULT_RECORD_LIMITS;
    const taken: { message: KafkaMessage; record: InboundRecord }[] = [];
    const at: number[] = [];
    let end = from;
    for (; end < messages.length && end - from < MAX_BATCH_EVENTS; end++) {
      const message = messages[end];
      if (this.pendingRetries.has(retryKey(topic, partition, message.offset))) break;
      const record = toInbound(topic, partition, message);
      if (recordBytes(record) > limits.maxRecordBytes) continue;
      at[end - from] = taken.length;
      taken.push({ message, record });
    }
    const run: (RunItem | undefined)[] = new Array(end - from).fill(undefined);
    if (taken.length === 0) return run;
    let prepared: readonly (PreparedRecord<P> | undefined)[];
    try {
      prepared = await handler.prepare(
        taken.map(({ record }) => record),
        limits,
      );
    } catch (error) {
      this.logger.warn(
        { groupId: this.options.groupId, topic, partition, records: taken.length, err: messageOf(error) },
        'preparing a batch failed; handling its records one by one',
      );
      return run;
    }
    for (let i = 0; i < run.length; i++) {
      const j = at[i];
      const item = j === undefined ? undefined : prepared[j];
      if (!item) continue;
      const { message, record } = taken[j];
      const value: PreparedEvent<P> = {
        id: item.attributes.id,
        attributes: item.attributes,
        prepared: item.prepared,
        record,
      };
      run[i] = { message, attributes: item.attributes, value };
    }
    return run;
  }

  /** Joins the group and starts consuming; rejects when the first start fails (the service then fails to start). */
  async start(): Promise<void> {
    if (this.processors.size === 0) throw new Error(`consumer ${this.options.groupId} has no handlers`);
    if (this.state !== 'created') throw new Error(`consumer ${this.options.groupId} was already started`);
    this.state = 'starting';
    try {
      await this.launch();
    } catch (error) {
      if (error instanceof LaunchLostError) {
        if ((this.state as ConsumerState) !== 'starting') return;
        // Kafka is reachable, but the group could not be joined yet: not ready, and relaunched with the backoff.
        this.state = 'restarting';
        this.lastError = error.message;
        this.logger.error(
          { groupId: this.options.groupId, err: error.message },
          'consumer down at start; restarting it',
        );
        this.recovery = this.recover(Date.now());
        return;
      }
      this.state = 'failed';
      this.lastError = messageOf(error);
      throw error;
    }
    if ((this.state as ConsumerState) === 'starting') this.state = 'running';
  }

  /** Stops fetching, lets the records in flight finish and commit, then leaves the group. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    this.stopRequested.abort();
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    await this.recovery;
    // Batches settling in the background commit before the consumer leaves its group.
    await this.whenSettled();
    await this.consumer?.disconnect().catch((error: unknown) => {
      this.logger.warn({ groupId: this.options.groupId, err: messageOf(error) }, 'consumer disconnect failed');
    });
    this.state = 'stopped';
  }

  /** Creates, connects, subscribes and runs a fresh kafkajs consumer; rejects unless it joined and is still up. */
  private async launch(): Promise<void> {
    const generation = ++this.generation;
    const batched = this.batchHandlers.size > 0;
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      allowAutoTopicCreation: false,
      retry: { restartOnFailure: async () => false },
      ...(batched ? { maxBytesPerPartition: BATCH_FETCH_BYTES_PER_PARTITION, maxBytes: BATCH_FETCH_BYTES } : {}),
    });
    this.consumer = consumer;
    const lost = (why: string) => (error?: unknown) => this.lost(generation, why, error);
    consumer.on(consumer.events.CRASH, (event) => lost('crashed')(event.payload.error));
    consumer.on(consumer.events.STOP, () => lost('stopped')());
    consumer.on(consumer.events.DISCONNECT, () => lost('disconnected')());
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.joinedGeneration = Math.max(this.joinedGeneration, generation);
    });
    try {
      await consumer.connect();
      await consumer.subscribe({
        topics: [...this.processors.keys()],
        fromBeginning: this.options.fromBeginning ?? true,
      });
      const partitionsConsumedConcurrently = this.options.partitionsConsumedConcurrently ?? 1;
      await (batched
        ? consumer.run({
            autoCommit: false,
            partitionsConsumedConcurrently,
            eachBatchAutoResolve: false,
            eachBatch: (payload) => this.handleBatch(consumer, payload),
          })
        : consumer.run({
            autoCommit: false,
            partitionsConsumedConcurrently,
            eachMessage: (payload) => this.handle(consumer, payload).then(() => undefined),
          }));
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    const down =
      this.lostGeneration === generation
        ? this.lostReason
        : this.joinedGeneration < generation
          ? 'kafkajs consumer returned from run without joining its group'
          : undefined;
    if (down !== undefined) {
      await consumer.disconnect().catch(() => undefined);
      throw new LaunchLostError(down);
    }
  }

  private lost(generation: number, why: string, error?: unknown): void {
    if (generation !== this.generation) return;
    const description =
      error === undefined ? `kafkajs consumer ${why}` : `kafkajs consumer ${why}: ${messageOf(error)}`;
    // kafkajs reports a crash as stop, disconnect, then crash: the crash carries the reason worth keeping.
    if (this.lostGeneration !== generation || error !== undefined) {
      this.lostGeneration = generation;
      this.lostReason = description;
    }
    if (this.state === 'starting' || this.state === 'restarting') {
      // Either a launch is in progress (it sees the loss when run() returns, and is retried with backoff), or this
      // is the loss a restart is already recovering from.
      if (error !== undefined) {
        this.lastError = description;
        this.logger.error({ groupId: this.options.groupId, err: description }, 'consumer crash');
      }
      return;
    }
    if (this.state !== 'running') return;
    this.state = 'restarting';
    this.lastError = description;
    this.logger.error(
      { groupId: this.options.groupId, err: this.lastError },
      'consumer stopped unexpectedly; restarting it',
    );
    this.recovery = this.recover(Date.now());
  }

  private async recover(downSince: number): Promise<void> {
    const previous = this.consumer;
    await previous?.disconnect().catch(() => undefined);
    // What the lost consumer left settling finishes first, so no record is handled by two consumers of this process.
    await this.whenSettled();
    this.pendingRetries.clear();
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    const timeoutMs = this.options.restartTimeoutMs ?? DEFAULT_RESTART_TIMEOUT_MS;
    const backoff = this.options.restartBackoff ?? consumerRestartBackoff;
    for (let attempt = 1; this.state === 'restarting'; attempt++) {
      const delay = restartDelayWithin(backoff, attempt, downSince, timeoutMs, {
        ...(this.options.random ? { random: this.options.random } : {}),
      });
      if (delay === undefined) {
        this.fail(
          `not back within ${timeoutMs} ms after ${attempt - 1} restart attempts; last error: ${this.lastError}`,
        );
        return;
      }
      if (!(await this.pause(delay))) return;
      try {
        await this.launch();
      } catch (error) {
        if ((this.state as ConsumerState) !== 'restarting') return;
        this.lastError = `restart failed: ${messageOf(error)}`;
        this.logger.warn({ groupId: this.options.groupId, attempt, err: this.lastError }, 'consumer restart failed');
        continue;
      }
      if ((this.state as ConsumerState) !== 'restarting') return;
      this.restarts += 1;
      this.state = 'running';
      this.logger.info({ groupId: this.options.groupId, attempt }, 'consumer restarted');
    }
  }

  private fail(message: string): void {
    this.state = 'failed';
    this.lastError = message;
    const error = new ConsumerFailedError(this.options.groupId, message);
    this.logger.error({ groupId: this.options.groupId, err: error.message }, 'consumer failed');
    this.options.onFatal?.(error);
  }

  /** Sleeps `ms` unless stop is requested first; true when the full time passed. */
  private pause(ms: number): Promise<boolean> {
    const signal = this.stopRequested.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A fetch of one partition with a batch handler: runs of events that decode go to the handler together, anything
   * else record by record; stops at a record that waits for a retry (its partition is paused and rewound to it).
   *
   * Pipelined, one run deep: a run is settled (handled, recorded processed, its offset committed) while the next run
   * is decoded, and the last run of a fetch while kafkajs fetches the next one, so decoding (CPU) and the handler's
   * and the commit's round trips overlap instead of adding up. Order holds per partition: a run's settling starts only
   * once the previous run's has committed, and when that one ends unsettled (a record waits for a retry, or a failure)
   * the partition has been rewound to its first unsettled record and what came after it is left for the redelivery.
   * Offsets are still committed only after their records' effects are durable.
   */
  private async handleBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { topic, partition, messages } = payload.batch;
    const key = partitionKey(topic, partition);
    const batchWay = this.batchHandlers.get(topic);
    const scope = (message: KafkaMessage): MessageScope => ({
      topic,
      partition,
      message,
      heartbeat: payload.heartbeat,
      pause: payload.pause,
    });
    if (batchWay?.ahead) return this.handleFetchAhead(consumer, payload, batchWay, scope);
    // The settling of the previous run of this partition (the previous fetch's last), if it is still in flight.
    let previous = this.settling.get(key);
    this.settling.delete(key);
    if (previous?.consumer !== consumer) previous = undefined;
    /** Waits for the previous run: true when it settled, so this fetch may go on. */
    const previousSettled = async (): Promise<boolean> => {
      const waiting = previous;
      previous = undefined;
      return waiting ? waiting.settled : true;
    };
    try {
      let next = 0;
      // Decoded items for the messages from `windowStart` on (see BatchWay.decode).
      let window: (RunItem | undefined)[] = [];
      let windowStart = 0;
      while (next < messages.length) {
        if (!payload.isRunning() || payload.isStale()) return;
        const run: RunItem[] = [];
        if (batchWay) {
          if (next >= windowStart + window.length) {
            window = await batchWay.decode(topic, partition, messages, next);
            windowStart = next;
          }
          for (let i = next - windowStart; i < window.length && run.length < MAX_BATCH_EVENTS; i++) {
            const item = window[i];
            if (!item) break;
            run.push(item);
          }
        }
        if (!(await previousSettled())) return;
        if (!payload.isRunning() || payload.isStale()) return;
        if (run.length >= (batchWay?.minRun ?? 2)) {
          previous = { consumer, settled: this.settleRunInOrder(consumer, payload, batchWay!.handle, run, scope) };
          // The next fetch starts after this run; a run that ends unsettled rewinds the partition to its record.
          payload.resolveOffset(run[run.length - 1].message.offset);
          next += run.length;
          continue;
        }
        // One by one: a record that does not decode or waits for a retry (or a lone decoded one).
        const count = Math.max(1, run.length);
        for (let i = next; i < next + count; i++) {
          if (!payload.isRunning() || payload.isStale()) return;
          if (!(await this.handle(consumer, scope(messages[i])))) return;
          payload.resolveOffset(messages[i].offset);
        }
        next += count;
      }
    } finally {
      if (previous) {
        // Left settling while the next fetch comes, unless the consumer is stopping: then the fetch ends settled.
        if (this.state === 'running') this.settling.set(key, previous);
        else await previous.settled;
      }
    }
  }

  /**
   * A fetch of one partition with a prepared batch handler, handed to the background whole: its preparing starts now
   * (off the event loop), and kafkajs fetches the next one as soon as the fetch before this one has settled, so the
   * preparing thread works while the next fetch comes, instead of waiting for it. At most one fetch settles behind
   * the one being fetched. Order holds per partition as with `handleBatch`: this fetch settles only after the previous
   * one did, run by run, and when anything ends unsettled the partition has been rewound to its first unsettled
   * record; offsets are committed only after their records' effects are durable.
   */
  private async handleFetchAhead(
    consumer: Consumer,
    payload: EachBatchPayload,
    way: BatchWay,
    scope: (message: KafkaMessage) => MessageScope,
  ): Promise<void> {
    const { topic, partition, messages } = payload.batch;
    if (messages.length === 0 || !payload.isRunning() || payload.isStale()) return;
    const key = partitionKey(topic, partition);
    let prior = this.settling.get(key);
    if (prior?.consumer !== consumer) prior = undefined;
    const first = way.decode(topic, partition, messages, 0);
    first.catch(() => undefined);
    // A prior fetch that ends unsettled has rewound the partition: only the fetch fetched right after it (starting
    // at its end) is stale. Any other, the redelivery from the rewound offset above all, is handled once the prior
    // has finished; skipping it too would leave the partition unhandled and uncommitted until a restart.
    const continuesPrior = prior?.end === messages[0].offset;
    const settled = this.settleFetch(consumer, payload, way, scope, prior?.settled, continuesPrior, first);
    const end = (BigInt(messages[messages.length - 1].offset) + 1n).toString();
    this.settling.set(key, { consumer, settled, end });
    // The next fetch starts after this one; a fetch that ends unsettled rewinds the partition to its record.
    payload.resolveOffset(messages[messages.length - 1].offset);
    if (prior) await prior.settled;
    // A stopping consumer's fetch ends settled.
    if (this.state !== 'running') await settled;
  }

  /**
   * Settles a fetch in the background once `prior` (the previous fetch of its partition) has: its decoded runs as
   * batches (each decoded while the previous one settles), anything else record by record. True when every record
   * of it is settled and committed; false leaves the partition rewound to the first record not settled (or the
   * consumer gone, whose successor starts from the committed offset).
   */
  private async settleFetch(
    consumer: Consumer,
    payload: EachBatchPayload,
    way: BatchWay,
    scope: (message: KafkaMessage) => MessageScope,
    prior: Promise<boolean> | undefined,
    continuesPrior: boolean,
    first: Promise<(RunItem | undefined)[]>,
  ): Promise<boolean> {
    const { messages } = payload.batch;
    // As in `handleBatch`: a revoked partition (a rebalance) or a stale fetch (a seek) is not handled any further.
    const current = () =>
      this.consumer === consumer && this.state === 'running' && payload.isRunning() && !payload.isStale();
    let window = await first.catch(() => [] as (RunItem | undefined)[]);
    let windowStart = 0;
    if (prior && !(await prior) && continuesPrior) return false;
    let previous: Promise<boolean> | undefined;
    let next = 0;
    while (next < messages.length) {
      if (!current()) break;
      if (next >= windowStart + window.length) {
        window = await way.decode(payload.batch.topic, payload.batch.partition, messages, next);
        windowStart = next;
      }
      const run: RunItem[] = [];
      for (let i = next - windowStart; i < window.length && run.length < MAX_BATCH_EVENTS; i++) {
        const item = window[i];
        if (!item) break;
        run.push(item);
      }
      if (previous && !(await previous)) return false;
      previous = undefined;
      if (!current()) break;
      if (run.length >= way.minRun) {
        previous = this.settleRunInOrder(consumer, payload, way.handle, run, scope);
        next += run.length;
        continue;
      }
      // One by one: a record that was not prepared or waits for a retry.
      const count = Math.max(1, run.length);
      for (let i = next; i < next + count; i++) {
        if (!current() || !(await this.handle(consumer, scope(messages[i])))) return false;
      }
      next += count;
    }
    if (previous && !(await previous)) return false;
    return next >= messages.length;
  }

  /**
   * Settles a run and commits its offset, or handles its records one by one when the batch failed; true when every
   * record of the run is settled and committed. Anything else leaves the partition rewound to the first record not
   * settled (by `handle`, which also pauses it for the retry's backoff, or here after a failure), so no later offset
   * is committed before it.
   */
  private async settleRunInOrder(
    consumer: Consumer,
    payload: EachBatchPayload,
    handler: (values: readonly unknown[]) => Promise<void>,
    run: readonly RunItem[],
    scope: (message: KafkaMessage) => MessageScope,
  ): Promise<boolean> {
    const { topic, partition } = payload.batch;
    let unsettled = run[0].message.offset;
    try {
      if (await this.settleRun(consumer, payload, handler, run)) {
        const last = run[run.length - 1].message.offset;
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(last) + 1n).toString() }]);
        return true;
      }
      // One by one: the records of a batch that failed (each committed as it settles).
      let stopped = false;
      for (const { message } of run) {
        unsettled = message.offset;
        stopped = this.consumer !== consumer || this.state !== 'running';
        if (stopped) break;
        // False: a retry is scheduled and the partition is already rewound to this record and paused.
        if (!(await this.handle(consumer, scope(message)))) return false;
      }
      if (!stopped) return true;
    } catch (error) {
      // A commit (or the store) failed: the records from this one on are delivered again, and recognised.
      this.logger.warn(
        { groupId: this.options.groupId, topic, partition, offset: unsettled, err: messageOf(error) },
        'settling a batch failed; rewinding to its first record not settled',
      );
    }
    try {
      consumer.seek({ topic, partition, offset: unsettled });
      // As a retry would: the partition waits a moment rather than fetching the same records straight away.
      const resume = payload.pause();
      const timer = setTimeout(() => {
        this.resumeTimers.delete(timer);
        if (this.consumer === consumer && this.state === 'running') resume();
      }, SETTLE_FAILURE_PAUSE_MS);
      this.resumeTimers.add(timer);
    } catch {
      // The consumer is gone: its successor starts from the committed offset, which is at or before this record.
    }
    return false;
  }

  /** Resolves once nothing is settling in the background (what stop waits for; tests too). */
  async whenSettled(): Promise<void> {
    while (this.settling.size > 0) {
      const waiting = [...this.settling.values()];
      this.settling.clear();
      await Promise.all(waiting.map((entry) => entry.settled));
    }
  }

  /**
   * Handles a run of decoded events as one batch: skips those processed before (or twice in the run), hands the rest
   * to the handler and records them processed. False when anything failed: the caller then settles the run's records
   * one by one (each step is idempotent, so what the batch did already is recognised).
   */
  private async settleRun(
    consumer: Consumer,
    payload: EachBatchPayload,
    handler: (values: readonly unknown[]) => Promise<void>,
    run: readonly RunItem[],
  ): Promise<boolean> {
    const { topic } = payload.batch;
    const heartbeats = setInterval(() => void payload.heartbeat().catch(() => undefined), HANDLER_HEARTBEAT_MS);
    const links: Link[] = run
      .slice(-MAX_BATCH_LINKS)
      .map(({ message }) => trace.getSpanContext(extractTraceContext(message.headers ?? {})))
      .filter((spanContext) => spanContext !== undefined)
      .map((spanContext) => ({ context: spanContext }));
    try {
      return await context.with(consumerParentContext(run[run.length - 1].message.headers ?? {}), () =>
        withSpan(
          `process ${topic}`,
          {
            'messaging.destination.name': topic,
            'messaging.consumer.group.name': this.options.groupId,
            'messaging.batch.message_count': run.length,
          },
          async () => {
            const keys = run.map(({ attributes }) => processedEventKey(attributes));
            const processed = await this.options.store.hasMany(this.options.groupId, keys);
            const fresh: unknown[] = [];
            const freshKeys = new Set<string>();
            run.forEach(({ value }, i) => {
              if (processed.has(keys[i]) || freshKeys.has(keys[i])) return;
              freshKeys.add(keys[i]);
              fresh.push(value);
            });
            if (fresh.length > 0) await handler(fresh);
            await this.options.store.recordMany(this.options.groupId, [...freshKeys], topic);
            return true;
          },
          { kind: SpanKind.CONSUMER, links },
        ),
      );
    } catch (error) {
      this.logger.warn(
        { groupId: this.options.groupId, topic, events: run.length, err: messageOf(error) },
        'batch failed; handling its records one by one',
      );
      return false;
    } finally {
      clearInterval(heartbeats);
    }
  }

  /** Settles one record (committing its offset), or schedules its retry and pauses its partition: false then. */
  private async handle(consumer: Consumer, payload: MessageScope): Promise<boolean> {
    const { topic, partition, message } = payload;
    const processor = this.processors.get(topic);
    if (!processor) return true;
    const record = toInbound(topic, partition, message);
    const key = retryKey(topic, partition, message.offset);
    const state = this.pendingRetries.get(key) ?? freshRetryState();
    // A handler may run for minutes (a training run); heartbeats keep the group from evicting the member meanwhile.
    const heartbeats = setInterval(() => void payload.heartbeat().catch(() => undefined), HANDLER_HEARTBEAT_MS);
    let result;
    try {
      result = await processor.attempt(record, state);
    } finally {
      clearInterval(heartbeats);
    }
    if ('outcome' in result) {
      this.pendingRetries.delete(key);
      // Only now is the record's effect (or its dead letter) durable; a throw here leaves the offset uncommitted
      // and the record is delivered again, to be recognised as already processed.
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      return true;
    }
    this.pendingRetries.set(key, state);
    // Rewind to this record and pause its partition for the backoff; the other partitions keep flowing.
    consumer.seek({ topic, partition, offset: message.offset });
    const resume = payload.pause();
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      if (this.consumer === consumer && this.state === 'running') resume();
    }, result.retryInMs);
    this.resumeTimers.add(timer);
    return false;
  }
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function retryKey(topic: string, partition: number, offset: string): string {
  return `${topic}\u0000${partition}\u0000${offset}`;
}

function toInbound(topic: string, partition: number, message: KafkaMessage): InboundRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers: message.headers ?? {},
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
