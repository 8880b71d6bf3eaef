import { deadLetterTopic } from '@keel/contracts';
import { type IHeaders, type Message, type Producer } from 'kafkajs';
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
  /** The dead letter's `dlq_reason`; the error's message when absent. */
  reason?: string;
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

/** One record that goes to the dead-letter topic, and why. */
export interface DeadLetter {
  record: InboundRecord;
  failure: DeadLetterFailure;
}

/** Writes the original key, value and headers to `<topic>.dlq`, plus headers naming the error. */
export class KafkaDeadLetterSink implements DeadLetterSink {
  constructor(private readonly producer: Producer) {}

  async send(record: InboundRecord, failure: DeadLetterFailure): Promise<void> {
    await this.sendAll([{ record, failure }]);
  }

  /** Several dead letters in one durable write, each with its own reason (the refused records of one batch). */
  async sendAll(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const failedAt = new Date().toISOString();
    const byTopic = new Map<string, Message[]>();
    for (const { record, failure } of letters) {
      const topic = deadLetterTopic(record.topic);
      const message =
        failure.reason ?? (failure.error instanceof Error ? failure.error.message : String(failure.error));
      const messages = byTopic.get(topic) ?? [];
      byTopic.set(topic, messages);
      messages.push({
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
          [DLQ_HEADERS.failedAt]: failedAt,
        },
      });
    }
    for (const [topic, messages] of byTopic) await this.producer.send({ topic, messages });
  }
}
