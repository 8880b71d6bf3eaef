import { context, SpanKind, trace } from '@opentelemetry/api';
import {
  type CloudEventAttributes,
  decodeCloudEvent,
  type EventContract,
  type EventData,
  MalformedEventError,
} from '@keel/contracts';
import { consumerParentContext, KeelAttr, withSpan } from '@keel/telemetry';
import { setTimeout as sleep } from 'node:timers/promises';
import { type DeadLetterSink, type InboundRecord } from './dead-letter';
import { errorCode, isRetryable, SchemaValidationError } from './errors';
import { type MessagingLogger } from './logger';
import { type ProcessedEventStore } from './processed-events';
import { formatIssues } from './schema-issues';

/** An event after decoding and schema validation, as handlers see it. */
export interface ConsumedEvent<C extends EventContract> {
  readonly id: string;
  readonly attributes: CloudEventAttributes;
  readonly data: EventData<C>;
  readonly record: InboundRecord;
}

export type EventHandler<C extends EventContract> = (event: ConsumedEvent<C>) => Promise<void>;

export interface RetryPolicy {
  /** Total attempts including the first. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 5, initialDelayMs: 200, maxDelayMs: 5_000 };

/**
 * What names one event for deduplication: CloudEvents make `id` unique only within its `source`, so two upstream
 * systems may both send id "1"; the pair is the event's identity.
 */
export function processedEventKey(attributes: Pick<CloudEventAttributes, 'source' | 'id'>): string {
  return `${attributes.source} ${attributes.id}`;
}

export type ProcessOutcome = 'handled' | 'duplicate' | 'dead-lettered';

/**
 * Everything that happens to one consumed record, in one place rather than by convention in each consumer:
 * decode the CloudEvent, validate its data against the contract, skip ids already processed, run the handler with
 * retries and backoff, and dead-letter what cannot succeed. It resolves only when the record's fate is durable
 * (effect + processed id recorded, or dead letter written), so the caller may then commit the offset; it rejects
 * only when not even the dead letter could be written, and then the offset must not be committed.
 */
export class RecordProcessor<C extends EventContract> {
  constructor(
    private readonly contract: C,
    private readonly handler: EventHandler<C>,
    private readonly deps: {
      consumer: string;
      store: ProcessedEventStore;
      deadLetters: DeadLetterSink;
      logger: MessagingLogger;
      retry?: RetryPolicy;
    },
  ) {}

  /**
   * `heartbeat` keeps the consumer's group membership alive during backoff waits. One span per consumed record:
   * when the kafkajs instrumentation already opened its `process` span for this record, that span is enriched;
   * otherwise (no instrumentation) a consumer span continuing the producer's trace is started here.
   */
  async process(record: InboundRecord, heartbeat?: () => Promise<void>): Promise<ProcessOutcome> {
    const attributes = {
      'messaging.destination.name': record.topic,
      'messaging.consumer.group.name': this.deps.consumer,
      'messaging.kafka.offset': Number(record.offset),
    };
    const instrumented = trace.getActiveSpan();
    if (instrumented) {
      instrumented.setAttributes(attributes);
      const outcome = await this.processInSpan(record, heartbeat);
      instrumented.setAttribute(KeelAttr.EVENT_OUTCOME, outcome);
      return outcome;
    }
    return context.with(consumerParentContext(record.headers), () =>
      withSpan(
        `process ${record.topic}`,
        attributes,
        async (span) => {
          const outcome = await this.processInSpan(record, heartbeat);
          span.setAttribute(KeelAttr.EVENT_OUTCOME, outcome);
          return outcome;
        },
        { kind: SpanKind.CONSUMER },
      ),
    );
  }

  private async processInSpan(record: InboundRecord, heartbeat?: () => Promise<void>): Promise<ProcessOutcome> {
    let event: ConsumedEvent<C>;
    try {
      event = this.decode(record);
    } catch (error) {
      return this.deadLetter(record, error, 1);
    }
    trace.getActiveSpan()?.setAttribute('messaging.message.id', event.id);
    const processedKey = processedEventKey(event.attributes);
    if (await this.deps.store.has(this.deps.consumer, processedKey)) {
      this.deps.logger.info({ eventId: event.id, topic: record.topic }, 'skipping already processed event');
      return 'duplicate';
    }
    const retry = this.deps.retry ?? defaultRetryPolicy;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.handler(event);
        break;
      } catch (error) {
        if (!isRetryable(error) || attempt >= retry.maxAttempts) return this.deadLetter(record, error, attempt);
        const delay = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (attempt - 1));
        this.deps.logger.warn(
          { eventId: event.id, topic: record.topic, attempt, delayMs: delay, err: (error as Error).message },
          'handler failed, retrying',
        );
        await this.waitWithHeartbeat(delay, heartbeat);
      }
    }
    await this.deps.store.record(this.deps.consumer, processedKey, record.topic);
    return 'handled';
  }

  private decode(record: InboundRecord): ConsumedEvent<C> {
    const decoded = decodeCloudEvent(record.headers, record.value);
    if (decoded.attributes.type !== this.contract.topic) {
      throw new MalformedEventError(
        `CloudEvent type "${decoded.attributes.type}" does not belong on topic ${this.contract.topic}`,
      );
    }
    const parsed = this.contract.schema.safeParse(decoded.data);
    if (!parsed.success) throw new SchemaValidationError(this.contract.topic, formatIssues(parsed.error.issues));
    return { id: decoded.attributes.id, attributes: decoded.attributes, data: parsed.data as EventData<C>, record };
  }

  private async deadLetter(record: InboundRecord, error: unknown, attempts: number): Promise<ProcessOutcome> {
    this.deps.logger.error(
      {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        attempts,
        code: errorCode(error),
        err: error instanceof Error ? error.message : String(error),
      },
      'dead-lettering record',
    );
    await this.deps.deadLetters.send(record, { error, consumer: this.deps.consumer, attempts });
    return 'dead-lettered';
  }

  private async waitWithHeartbeat(ms: number, heartbeat?: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      await sleep(Math.min(1_000, deadline - Date.now()));
      await heartbeat?.();
    }
  }
}
