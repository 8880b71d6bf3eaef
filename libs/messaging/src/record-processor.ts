import { context, SpanKind, trace } from '@opentelemetry/api';
import {
  checkJsonDepth,
  type CloudEventAttributes,
  decodeCloudEvent,
  type DecodedCloudEvent,
  type EventContract,
  type EventData,
  isStructuredCloudEvent,
  MalformedEventError,
} from '@keel/contracts';
import { consumerParentContext, extractTraceContext, KeelAttr, withSpan } from '@keel/telemetry';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DeadLetterFailure, type DeadLetterSink, type InboundRecord } from './dead-letter';
import { classifyFailure, errorCode, SchemaValidationError } from './errors';
import { DEFAULT_RECORD_LIMITS, recordBytes, type RecordLimits, RecordTooLargeError } from './limits';
import { type MessagingLogger } from './logger';
import { type ProcessedEventStore } from './processed-events';
import { backoffDelay, defaultRetryPolicy, type RetryPolicy, withinBudget } from './retry';
import { formatIssues } from './schema-issues';

/** An event after decoding and schema validation, as handlers see it. */
export interface ConsumedEvent<C extends EventContract> {
  readonly id: string;
  readonly attributes: CloudEventAttributes;
  readonly data: EventData<C>;
  readonly record: InboundRecord;
}

export type EventHandler<C extends EventContract> = (event: ConsumedEvent<C>) => Promise<void>;

/**
 * What names one event for deduplication: CloudEvents make `id` unique only within its `source`, so two upstream
 * systems may both send id "1"; the pair is the event's identity.
 */
export function processedEventKey(attributes: Pick<CloudEventAttributes, 'source' | 'id'>): string {
  return `${attributes.source} ${attributes.id}`;
}

export type ProcessOutcome = 'handled' | 'duplicate' | 'dead-lettered';

/**
 * What one record has been through so far, kept by the caller between attempts (in memory: after a restart or a
 * rebalance the record starts afresh, which is safe because every step is idempotent).
 */
export interface RecordRetryState {
  /** Handler failures so far. */
  failedAttempts: number;
  firstFailureAt?: number;
  /** Failures of the processed-event store or the dead-letter sink: never the record's fault, never dead-lettered. */
  infrastructureFailures: number;
  /** The handler succeeded; only recording the processed id is left. */
  handled?: boolean;
  /** The record's fate is the dead-letter topic; only writing the dead letter is left. */
  deadLetter?: DeadLetterFailure;
}

export function freshRetryState(): RecordRetryState {
  return { failedAttempts: 0, infrastructureFailures: 0 };
}

/** The result of one attempt: a durable fate, or a wait after which the record must be tried again. */
export type AttemptResult =
  | { readonly outcome: ProcessOutcome }
  | { readonly retryInMs: number; readonly error: unknown; readonly stage: 'handler' | 'infrastructure' };

export interface RecordProcessorDeps {
  consumer: string;
  store: ProcessedEventStore;
  deadLetters: DeadLetterSink;
  logger: MessagingLogger;
  retry?: RetryPolicy;
  /** Size and nesting bounds checked before a record is parsed; larger or deeper records are dead-lettered. */
  limits?: RecordLimits;
  /** Injected in tests to make jitter and the budget deterministic. */
  random?: () => number;
  now?: () => number;
}

/** Thrown by `process` when the processed-event store or the dead-letter sink stayed down for the whole budget. */
export class RecordNotSettledError extends Error {
  constructor(
    readonly record: InboundRecord,
    override readonly cause: unknown,
  ) {
    super(
      `record ${record.topic}/${record.partition}@${record.offset} not settled: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'RecordNotSettledError';
  }
}

/**
 * Everything that happens to one consumed record, in one place rather than by convention in each consumer:
 * decode the CloudEvent, validate its data against the contract, skip ids already processed, run the handler,
 * retry retryable failures with capped, jittered exponential backoff for a time budget, and dead-letter what cannot
 * succeed (non-retryable, or the budget spent) with the reason and the attempt count. A record is settled only when
 * its fate is durable (effect + processed id recorded, or dead letter written); only then may its offset be
 * committed. The processed-event store and the dead-letter sink being down is waited out, never dead-lettered.
 *
 * `attempt` runs one step and says when to come back (EventConsumer pauses the record's partition meanwhile, so
 * other partitions keep flowing); `process` loops over attempts in place (the in-memory harness, tests).
 */
export class RecordProcessor<C extends EventContract> {
  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(
    private readonly contract: C,
    private readonly handler: EventHandler<C>,
    private readonly deps: RecordProcessorDeps,
  ) {
    this.retry = deps.retry ?? defaultRetryPolicy;
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
  }

  /**
   * Processes a record to its durable fate, waiting between attempts (with `heartbeat` every second, so the group
   * keeps the member). Rejects when `signal` aborts a wait, or when the store or the dead-letter sink stayed down for
   * the whole retry budget: then the offset must not be committed.
   */
  async process(
    record: InboundRecord,
    options: { heartbeat?: () => Promise<void>; signal?: AbortSignal } = {},
  ): Promise<ProcessOutcome> {
    const state = freshRetryState();
    for (;;) {
      const result = await this.attempt(record, state);
      if ('outcome' in result) return result.outcome;
      if (
        result.stage === 'infrastructure' &&
        !withinBudget(this.retry, state.infrastructureFailures, state.firstFailureAt ?? this.now(), this.now())
      ) {
        throw new RecordNotSettledError(record, result.error);
      }
      await waitWithHeartbeat(result.retryInMs, options.heartbeat, options.signal);
    }
  }

  /**
   * One attempt at settling the record, in one span: when the kafkajs instrumentation already opened its `process`
   * span for this delivery, that span is enriched; otherwise a consumer span continuing the producer's trace is
   * started here. `state` carries what earlier attempts achieved and is updated in place.
   */
  async attempt(record: InboundRecord, state: RecordRetryState): Promise<AttemptResult> {
    const attributes = {
      'messaging.destination.name': record.topic,
      'messaging.consumer.group.name': this.deps.consumer,
      'messaging.kafka.offset': Number(record.offset),
    };
    const describe = (result: AttemptResult) => ('outcome' in result ? result.outcome : 'retry-scheduled');
    // The kafkajs instrumentation's span for this record, when it continues the record's trace (eachMessage). In a
    // batch handled record by record the active span is the fetch's `poll` span, the root of a trace of its own:
    // the record then gets its own span under the producer's context, so its effects stay in the producer's trace.
    const instrumented = trace.getActiveSpan();
    const carried = trace.getSpanContext(extractTraceContext(record.headers));
    if (instrumented && (!carried || carried.traceId === instrumented.spanContext().traceId)) {
      instrumented.setAttributes(attributes);
      const result = await this.attemptInSpan(record, state);
      instrumented.setAttribute(KeelAttr.EVENT_OUTCOME, describe(result));
      return result;
    }
    return context.with(consumerParentContext(record.headers), () =>
      withSpan(
        `process ${record.topic}`,
        attributes,
        async (span) => {
          const result = await this.attemptInSpan(record, state);
          span.setAttribute(KeelAttr.EVENT_OUTCOME, describe(result));
          return result;
        },
        { kind: SpanKind.CONSUMER },
      ),
    );
  }

  private async attemptInSpan(record: InboundRecord, state: RecordRetryState): Promise<AttemptResult> {
    if (state.deadLetter) return this.writeDeadLetter(record, state);
    let event: ConsumedEvent<C>;
    try {
      event = this.decode(record);
    } catch (error) {
      state.deadLetter = { error, consumer: this.deps.consumer, attempts: 1 };
      return this.writeDeadLetter(record, state);
    }
    trace.getActiveSpan()?.setAttribute('messaging.message.id', event.id);
    const processedKey = processedEventKey(event.attributes);
    if (!state.handled) {
      let processed: boolean;
      try {
        processed = await this.deps.store.has(this.deps.consumer, processedKey);
      } catch (error) {
        return this.infrastructureFailure(record, state, error, 'processed-event lookup failed');
      }
      if (processed) {
        this.deps.logger.info({ eventId: event.id, topic: record.topic }, 'skipping already processed event');
        return { outcome: 'duplicate' };
      }
      try {
        await this.handler(event);
        state.handled = true;
      } catch (error) {
        return this.handlerFailure(record, event, state, error);
      }
    }
    try {
      await this.deps.store.record(this.deps.consumer, processedKey, record.topic);
    } catch (error) {
      return this.infrastructureFailure(record, state, error, 'recording the processed event failed');
    }
    return { outcome: 'handled' };
  }

  private async handlerFailure(
    record: InboundRecord,
    event: ConsumedEvent<C>,
    state: RecordRetryState,
    error: unknown,
  ): Promise<AttemptResult> {
    const now = this.now();
    state.failedAttempts += 1;
    state.firstFailureAt ??= now;
    const failure = classifyFailure(error);
    if (!failure.retryable) {
      state.deadLetter = { error, consumer: this.deps.consumer, attempts: state.failedAttempts };
      return this.writeDeadLetter(record, state);
    }
    if (!withinBudget(this.retry, state.failedAttempts, state.firstFailureAt, now)) {
      const seconds = Math.round((now - state.firstFailureAt) / 1000);
      state.deadLetter = {
        error,
        consumer: this.deps.consumer,
        attempts: state.failedAttempts,
        reason: `retries exhausted after ${state.failedAttempts} attempts in ${seconds} s: ${messageOf(error)}`,
      };
      return this.writeDeadLetter(record, state);
    }
    const retryInMs = backoffDelay(this.retry, state.failedAttempts, this.random);
    this.deps.logger.warn(
      {
        eventId: event.id,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        attempt: state.failedAttempts,
        delayMs: retryInMs,
        classification: failure.reason,
        err: messageOf(error),
      },
      'handler failed, retrying',
    );
    return { retryInMs, error, stage: 'handler' };
  }

  private infrastructureFailure(
    record: InboundRecord,
    state: RecordRetryState,
    error: unknown,
    what: string,
  ): AttemptResult {
    state.infrastructureFailures += 1;
    state.firstFailureAt ??= this.now();
    const retryInMs = backoffDelay(this.retry, state.infrastructureFailures, this.random);
    this.deps.logger.warn(
      {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        attempt: state.infrastructureFailures,
        delayMs: retryInMs,
        err: messageOf(error),
      },
      `${what}, retrying`,
    );
    return { retryInMs, error, stage: 'infrastructure' };
  }

  private decode(record: InboundRecord): ConsumedEvent<C> {
    return decodeRecord(this.contract, record, this.deps.limits);
  }

  private async writeDeadLetter(record: InboundRecord, state: RecordRetryState): Promise<AttemptResult> {
    const failure = state.deadLetter!;
    if (state.infrastructureFailures === 0) {
      this.deps.logger.error(
        {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          attempts: failure.attempts,
          code: errorCode(failure.error),
          err: failure.reason ?? messageOf(failure.error),
        },
        'dead-lettering record',
      );
    }
    try {
      await this.deps.deadLetters.send(record, failure);
    } catch (error) {
      return this.infrastructureFailure(record, state, error, 'writing the dead letter failed');
    }
    return { outcome: 'dead-lettered' };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Waits `ms`, calling `heartbeat` every second; rejects at once when `signal` aborts. */
async function waitWithHeartbeat(ms: number, heartbeat?: () => Promise<void>, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    signal?.throwIfAborted();
    const left = deadline - Date.now();
    if (left <= 0) return;
    await sleep(Math.min(1_000, left), undefined, { signal });
    await heartbeat?.();
  }
}

/**
 * Decodes one consumed record into its contract's event, or throws why it cannot be one (never retryable): over
 * KAFKA_MAX_RECORD_BYTES (checked before any parsing) or JSON_MAX_DEPTH (checked before parsing too, so a hostile
 * record costs one pass over its bytes), not a CloudEvent, of another type, or data that breaks the contract's schema.
 * One exception, with the same reasons in the same order: a binary-mode record of a contract whose quick check bounds
 * what it accepts (`quickCheckedDepth`; the records topic, where the scan was 7 % of the staging thread's time) is
 * parsed first and scanned only when the quick check refuses it or it does not parse. JSON.parse is iterative on
 * Node 24 (a 1,000,000-deep array parses), and nothing recursive reads the data before the quick check has bounded it
 * or the scan has run; such a record nested deep costs a parse (about 240 ms for 450,000 levels), not a scan.
 */
export function decodeRecord<C extends EventContract>(
  contract: C,
  record: InboundRecord,
  limits: RecordLimits = DEFAULT_RECORD_LIMITS,
): ConsumedEvent<C> {
  const bytes = recordBytes(record);
  if (bytes > limits.maxRecordBytes) {
    throw new RecordTooLargeError(
      `record ${record.topic}/${record.partition}@${record.offset}`,
      bytes,
      limits.maxRecordBytes,
    );
  }
  const scanDepth = () => {
    if (record.value) checkJsonDepth(record.value, limits.maxDepth);
  };
  // Parsed before its depth is known only where the quick check can then bound it: a binary-mode record (its value is
  // the data) of a contract that says how deep what it accepts nests. Everything else is scanned first, as always.
  const parseFirst =
    contract.quickCheck !== undefined &&
    contract.quickCheckedDepth !== undefined &&
    contract.quickCheckedDepth <= limits.maxDepth &&
    !isStructuredCloudEvent(record.headers);
  if (!parseFirst) scanDepth();
  let decoded: DecodedCloudEvent;
  try {
    decoded = decodeCloudEvent(record.headers, record.value);
  } catch (error) {
    // Too deep is what a record that is both too deep and not an event was always refused for.
    if (parseFirst) scanDepth();
    throw error;
  }
  // A contract's quick check vouches for data its schema would return unchanged; anything else goes to the schema.
  const quick = contract.quickCheck?.(decoded.data) ?? false;
  if (parseFirst && !quick) scanDepth();
  if (decoded.attributes.type !== contract.topic) {
    throw new MalformedEventError(
      `CloudEvent type "${decoded.attributes.type}" does not belong on topic ${contract.topic}`,
    );
  }
  if (quick) {
    return { id: decoded.attributes.id, attributes: decoded.attributes, data: decoded.data as EventData<C>, record };
  }
  const parsed = contract.schema.safeParse(decoded.data);
  if (!parsed.success) throw new SchemaValidationError(contract.topic, formatIssues(parsed.error.issues));
  return { id: decoded.attributes.id, attributes: decoded.attributes, data: parsed.data as EventData<C>, record };
}
