import { type EventContract } from '@keel/contracts';
import { type Consumer, type Kafka } from 'kafkajs';
import { type DeadLetterSink } from './dead-letter';
import { type MessagingLogger, silentLogger } from './logger';
import { type ProcessedEventStore } from './processed-events';
import { type EventHandler, RecordProcessor, type RetryPolicy } from './record-processor';

export interface EventConsumerOptions {
  /** Kafka consumer group; also the consumer's name in the processed-events store and dead-letter headers. */
  groupId: string;
  store: ProcessedEventStore;
  deadLetters: DeadLetterSink;
  logger?: MessagingLogger;
  retry?: RetryPolicy;
  /** Where a new group starts; default true, so no event published before the first start is skipped. */
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
}

/**
 * A thin consumer base on kafkajs rather than NestJS's Kafka transport: we need validation, idempotency,
 * retries and dead-lettering on every record, and to commit an offset only after its record's fate is durable,
 * which the transport's auto-commit and its own envelope format do not give us.
 */
export class EventConsumer {
  private readonly consumer: Consumer;
  private readonly processors = new Map<string, RecordProcessor<EventContract>>();
  private running = false;

  constructor(
    kafka: Kafka,
    private readonly options: EventConsumerOptions,
  ) {
    this.consumer = kafka.consumer({ groupId: options.groupId, allowAutoTopicCreation: false });
  }

  /** Registers the handler of one contract's topic; call before `start`. */
  on<C extends EventContract>(contract: C, handler: EventHandler<C>): this {
    if (this.running) throw new Error('EventConsumer.on must be called before start');
    this.processors.set(
      contract.topic,
      new RecordProcessor(contract, handler, {
        consumer: this.options.groupId,
        store: this.options.store,
        deadLetters: this.options.deadLetters,
        logger: this.options.logger ?? silentLogger,
        retry: this.options.retry,
      }) as unknown as RecordProcessor<EventContract>,
    );
    return this;
  }

  async start(): Promise<void> {
    if (this.processors.size === 0) throw new Error(`consumer ${this.options.groupId} has no handlers`);
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: [...this.processors.keys()],
      fromBeginning: this.options.fromBeginning ?? true,
    });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachMessage: async ({ topic, partition, message, heartbeat }) => {
        const processor = this.processors.get(topic);
        if (!processor) return;
        await processor.process(
          {
            topic,
            partition,
            offset: message.offset,
            key: message.key,
            value: message.value,
            headers: message.headers ?? {},
          },
          heartbeat,
        );
        // Only now is the record's effect (or its dead letter) durable; a throw above leaves the offset
        // uncommitted and kafkajs redelivers the record.
        await this.consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      },
    });
  }

  /** Waits for in-flight records to finish, then leaves the group. */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
  }
}
