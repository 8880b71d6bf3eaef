import { deadLetterTopic } from '@keel/contracts';
import { type IHeaders, type Producer } from 'kafkajs';
import { errorCode } from './errors';

/** A consumed record exactly as it arrived. */
export interface InboundRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

export interface DeadLetterFailure {
  error: unknown;
  consumer: string;
  attempts: number;
}

/** Where records go when they cannot be processed. Sending must be durable before it resolves. */
export interface DeadLetterSink {
  send(record: InboundRecord, failure: DeadLetterFailure): Promise<void>;
}

/** Header names on dead-lettered records; the original headers are kept beside them. */
export const DLQ_HEADERS = {
  reason: 'dlq_reason',
  errorCode: 'dlq_error_code',
  consumer: 'dlq_consumer',
  attempts: 'dlq_attempts',
  originalTopic: 'dlq_original_topic',
  originalPartition: 'dlq_original_partition',
  originalOffset: 'dlq_original_offset',
  failedAt: 'dlq_failed_at',
} as const;

/** Writes the original key, value and headers to `<topic>.dlq`, plus headers naming the error. */
export class KafkaDeadLetterSink implements DeadLetterSink {
  constructor(private readonly producer: Producer) {}

  async send(record: InboundRecord, failure: DeadLetterFailure): Promise<void> {
    const message = failure.error instanceof Error ? failure.error.message : String(failure.error);
    await this.producer.send({
      topic: deadLetterTopic(record.topic),
      messages: [
        {
          key: record.key,
          value: record.value,
          headers: {
            ...record.headers,
            [DLQ_HEADERS.reason]: message.slice(0, 4_000),
            [DLQ_HEADERS.errorCode]: errorCode(failure.error),
            [DLQ_HEADERS.consumer]: failure.consumer,
            [DLQ_HEADERS.attempts]: String(failure.attempts),
            [DLQ_HEADERS.originalTopic]: record.topic,
            [DLQ_HEADERS.originalPartition]: String(record.partition),
            [DLQ_HEADERS.originalOffset]: record.offset,
            [DLQ_HEADERS.failedAt]: new Date().toISOString(),
          },
        },
      ],
    });
  }
}
