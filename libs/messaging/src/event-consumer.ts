import { type EventContract } from '@keel/contracts';
import { type Consumer, type EachMessagePayload, type Kafka } from 'kafkajs';
import { type DeadLetterSink, type InboundRecord } from './dead-letter';
import { type RecordLimits } from './limits';
import { type MessagingLogger, silentLogger } from './logger';
import { type ProcessedEventStore } from './processed-events';
import { type EventHandler, freshRetryState, RecordProcessor, type RecordRetryState } from './record-processor';
import { backoffDelay, type RetryPolicy } from './retry';

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
  /** Partitions handled at once; records of one partition are always handled in order. Default 1. */
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

/** Where a consumer is in its life; only `running` counts as ready. */
export type ConsumerState = 'created' | 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed';

export interface ConsumerStatus {
  groupId: string;
  state: ConsumerState;
  /** Why the consumer last went down, while it is not running. */
  lastError?: string;
  /** Restarts since start. */
  restarts: number;
}

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
const DEFAULT_RESTART_BACKOFF: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 30_000 };
/** How often a long-running handler heartbeats, well inside kafkajs's 30 s session timeout. */
const HANDLER_HEARTBEAT_MS = 3_000;

/**
 * A thin consumer base on kafkajs rather than NestJS's Kafka transport: we need validation, idempotency,
 * retries and dead-lettering on every record, and to commit an offset only after its record's fate is durable,
 * which the transport's auto-commit and its own envelope format do not give us.
 *
 * Supervised: kafkajs gives up on some failures (a member evicted from its group while the event loop was blocked
 * ends in a non-retriable error and a consumer that never fetches again). Every crash, and every stop or disconnect
 * we did not ask for, marks the consumer not running (the service unready) and restarts it as a fresh kafkajs
 * consumer with capped backoff; kafkajs's own restart is turned off so there is one recovery path. A consumer that
 * cannot come back within `restartTimeoutMs` is declared failed through `onFatal`.
 *
 * A record whose attempt must be retried does not hold the fetch loop: its partition is paused and rewound to the
 * record, and resumed when the backoff has passed, so other partitions keep flowing and heartbeats continue.
 */
export class EventConsumer {
  private readonly processors = new Map<string, RecordProcessor<EventContract>>();
  private consumer: Consumer | undefined;
  private generation = 0;
  private state: ConsumerState = 'created';
  private lastError: string | undefined;
  private restarts = 0;
  private recovery: Promise<void> | undefined;
  private readonly stopRequested = new AbortController();
  /** Records waiting for another attempt, by topic, partition and offset. */
  private readonly pendingRetries = new Map<string, RecordRetryState>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
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

  /** Joins the group and starts consuming; rejects when the first start fails (the service then fails to start). */
  async start(): Promise<void> {
    if (this.processors.size === 0) throw new Error(`consumer ${this.options.groupId} has no handlers`);
    if (this.state !== 'created') throw new Error(`consumer ${this.options.groupId} was already started`);
    this.state = 'starting';
    try {
      await this.launch();
    } catch (error) {
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
    await this.consumer?.disconnect().catch((error: unknown) => {
      this.logger.warn({ groupId: this.options.groupId, err: messageOf(error) }, 'consumer disconnect failed');
    });
    this.state = 'stopped';
  }

  /** Creates, connects, subscribes and runs a fresh kafkajs consumer. */
  private async launch(): Promise<void> {
    const generation = ++this.generation;
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      allowAutoTopicCreation: false,
      retry: { restartOnFailure: async () => false },
    });
    this.consumer = consumer;
    const lost = (why: string) => (error?: unknown) => this.lost(generation, why, error);
    consumer.on(consumer.events.CRASH, (event) => lost('crashed')(event.payload.error));
    consumer.on(consumer.events.STOP, () => lost('stopped')());
    consumer.on(consumer.events.DISCONNECT, () => lost('disconnected')());
    try {
      await consumer.connect();
      await consumer.subscribe({
        topics: [...this.processors.keys()],
        fromBeginning: this.options.fromBeginning ?? true,
      });
      await consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
        eachMessage: (payload) => this.handle(consumer, payload),
      });
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
  }

  private lost(generation: number, why: string, error?: unknown): void {
    if (generation !== this.generation) return;
    const description =
      error === undefined ? `kafkajs consumer ${why}` : `kafkajs consumer ${why}: ${messageOf(error)}`;
    // kafkajs reports a crash as stop, disconnect, then crash: the crash carries the reason worth keeping.
    if (this.state === 'restarting' && error !== undefined) {
      this.lastError = description;
      this.logger.error({ groupId: this.options.groupId, err: description }, 'consumer crash');
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
    this.pendingRetries.clear();
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
    const timeoutMs = this.options.restartTimeoutMs ?? DEFAULT_RESTART_TIMEOUT_MS;
    const backoff = this.options.restartBackoff ?? DEFAULT_RESTART_BACKOFF;
    for (let attempt = 1; this.state === 'restarting'; attempt++) {
      const delay = backoffDelay(backoff, attempt, this.options.random);
      if (Date.now() + delay - downSince > timeoutMs) {
        this.fail(
          `not back within ${timeoutMs} ms after ${attempt - 1} restart attempts; last error: ${this.lastError}`,
        );
        return;
      }
      if (!(await this.pause(delay))) return;
      try {
        await this.launch();
      } catch (error) {
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

  private async handle(consumer: Consumer, payload: EachMessagePayload): Promise<void> {
    const { topic, partition, message } = payload;
    const processor = this.processors.get(topic);
    if (!processor) return;
    const record: InboundRecord = {
      topic,
      partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      headers: message.headers ?? {},
    };
    const key = `${topic}\u0000${partition}\u0000${message.offset}`;
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
      return;
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
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
