import { deadLetterTopic, type EventContract, type EventData } from '@keel/contracts';
import {
  type EventHandler,
  EventPublisher,
  InMemoryProcessedEventStore,
  type InboundRecord,
  KafkaDeadLetterSink,
  type ProcessOutcome,
  RecordingProducer,
  RecordProcessor,
  type RetryPolicy,
  silentLogger,
} from '@keel/messaging';
import { createRootLogger, type Infrastructure } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { InMemoryObjectStore, InMemoryPipelineStore, type RecordedWrite } from './in-memory-stores';
import { asContractEvent, type RecordedEvent, recordedEvent } from './recorded-event';

export interface EventHandlerHarnessOptions {
  /** The service's name: consumers are `<service>.<suffix>`, events are published from `/keel/<service>`. */
  service?: string;
  /** Retries of a failing handler; default 3 attempts without backoff, so retry paths run instantly. */
  retry?: RetryPolicy;
}

/** A record to deliver as it would arrive from Kafka, for input no publisher would write (broken JSON, wrong type). */
export interface RawDelivery {
  topic: string;
  value: Buffer | string | null;
  key?: string;
  headers?: Record<string, string>;
}

/** The consumer `Infrastructure.createConsumer` hands out, registering its handlers with the harness instead. */
interface HarnessConsumer {
  on<C extends EventContract>(contract: C, handler: EventHandler<C>): HarnessConsumer;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Event handlers tested without servers, as given / when / then. Given: pipelines, objects and whatever in-memory
 * repositories the handler needs. When: events delivered one at a time through the real RecordProcessor (decoding,
 * schema validation, idempotency in an InMemoryProcessedEventStore, retries, dead-lettering through the real
 * KafkaDeadLetterSink). Then: the events the handler published and the dead letters, exactly as they would be on
 * Kafka, and the writes it made, in order.
 *
 * Services take `harness.infrastructure` where they take `Infrastructure`; their consumers register through its
 * `createConsumer`, so a consumer class is driven as the service wires it.
 */
export class EventHandlerHarness {
  /** Every object put and every write a fake repository recorded with `recordWrite`, in order. */
  readonly writes: RecordedWrite[] = [];
  readonly objects = new InMemoryObjectStore(this.writes);
  readonly pipelines = new InMemoryPipelineStore();
  readonly processedEvents = new InMemoryProcessedEventStore();
  /** Where published events and dead letters go. */
  readonly producer = new RecordingProducer();
  readonly publisher: EventPublisher;
  /** A silent pino logger, for services that take the root logger. */
  readonly logger: Logger;
  /**
   * Stands in for `Infrastructure`: publisher, producer, objects, pipelines, processedEvents, createConsumer and
   * messagingLogger. Anything else (mongo, kafka) throws: give the service an in-memory fake of what uses it.
   */
  readonly infrastructure: Infrastructure;
  private readonly service: string;
  private readonly retry: RetryPolicy;
  private readonly processors = new Map<string, RecordProcessor<EventContract>>();
  private readonly inbound = new RecordingProducer();
  private readonly upstream = new EventPublisher(this.inbound.asProducer(), '/keel/test-upstream');
  private delivered = 0;

  constructor(options: EventHandlerHarnessOptions = {}) {
    this.service = options.service ?? 'service-under-test';
    this.retry = options.retry ?? { maxAttempts: 3, initialDelayMs: 0, maxDelayMs: 0 };
    this.publisher = new EventPublisher(this.producer.asProducer(), `/keel/${this.service}`);
    this.logger = createRootLogger(this.service, 'silent');
    const parts: Record<string, unknown> = {
      publisher: this.publisher,
      producer: this.producer.asProducer(),
      objects: this.objects,
      pipelines: this.pipelines,
      processedEvents: this.processedEvents,
      createConsumer: (suffix: string) => this.consumer(suffix),
      messagingLogger: () => silentLogger,
    };
    this.infrastructure = new Proxy(parts, {
      get: (target, property) => {
        if (typeof property === 'symbol' || property === 'then') return undefined;
        if (property in target) return target[property];
        throw new Error(
          `the in-memory harness has no Infrastructure.${property}: give the service an in-memory fake of what uses it`,
        );
      },
    }) as unknown as Infrastructure;
  }

  /** Handles a contract's events with `handler`, as the consumer `<service>.<suffix>` would. */
  on<C extends EventContract>(contract: C, handler: EventHandler<C>, suffix = 'events'): this {
    this.processors.set(
      contract.topic,
      new RecordProcessor(contract, handler, {
        consumer: `${this.service}.${suffix}`,
        store: this.processedEvents,
        deadLetters: new KafkaDeadLetterSink(this.producer.asProducer()),
        logger: silentLogger,
        retry: this.retry,
      }) as unknown as RecordProcessor<EventContract>,
    );
    return this;
  }

  /**
   * Delivers one event as a Keel publisher writes it (binary-mode CloudEvent, contract key) and resolves with its
   * fate once its effects, or its dead letter, are recorded.
   */
  async deliver<C extends EventContract>(
    contract: C,
    data: EventData<C>,
    options: { id?: string; key?: string } = {},
  ): Promise<ProcessOutcome> {
    await this.upstream.publish(contract, data, options);
    const { message } = this.inbound.sent[this.inbound.sent.length - 1];
    return this.deliverRecord({
      topic: contract.topic,
      key: message.key?.toString(),
      value: message.value as Buffer | string | null,
      headers: message.headers as Record<string, string>,
    });
  }

  /** Delivers a record as given, for input a publisher would refuse to write. */
  async deliverRecord(delivery: RawDelivery): Promise<ProcessOutcome> {
    const processor = this.processors.get(delivery.topic);
    if (!processor) {
      throw new Error(`no handler for ${delivery.topic}: register one with on() or start the consumer first`);
    }
    const record: InboundRecord = {
      topic: delivery.topic,
      partition: 0,
      offset: String(this.delivered++),
      key: delivery.key === undefined ? null : Buffer.from(delivery.key),
      value: delivery.value === null ? null : Buffer.from(delivery.value),
      headers: Object.fromEntries(Object.entries(delivery.headers ?? {}).map(([name, v]) => [name, Buffer.from(v)])),
    };
    return processor.process(record);
  }

  /** Events the handlers published to a contract's topic, typed and checked against its schema. */
  published<C extends EventContract>(contract: C): RecordedEvent<EventData<C>>[] {
    return this.sentTo(contract.topic).map((event) => asContractEvent(contract, event));
  }

  /** Everything the handlers published or dead-lettered, in order. */
  get sent(): RecordedEvent[] {
    return this.producer.sent.map(({ topic, partition, offset, message }) =>
      recordedEvent({ topic, partition, offset, key: message.key, value: message.value, headers: message.headers }),
    );
  }

  /** Dead letters of a contract's topic: the original record with `dlq_reason`, `dlq_error_code` ... headers. */
  deadLetters(contract: EventContract): RecordedEvent[] {
    return this.sentTo(deadLetterTopic(contract.topic));
  }

  /** For fake repositories: records a write so it shows in `writes` beside the object puts. */
  recordWrite(target: string, key: string, value: unknown): void {
    this.writes.push({ target, key, value });
  }

  private sentTo(topic: string): RecordedEvent[] {
    return this.sent.filter((event) => event.topic === topic);
  }

  private consumer(suffix: string): HarnessConsumer {
    const consumer: HarnessConsumer = {
      on: (contract, handler) => {
        this.on(contract, handler, suffix);
        return consumer;
      },
      start: async () => undefined,
      stop: async () => undefined,
    };
    return consumer;
  }
}
