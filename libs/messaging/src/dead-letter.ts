import { createHash } from 'node:crypto';
import { deadLetterTopic } from '@keel/contracts';
import { type IHeaders, type Message, type Producer } from 'kafkajs';
import { errorCode } from './errors';
import { DEFAULT_RECORD_LIMITS, recordBytes } from './limits';

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
  /** Set when the record was too large to dead-letter whole: its value is in object storage, here. */
  payloadUri: 'dlq_payload_uri',
  payloadSha256: 'dlq_payload_sha256',
  payloadBytes: 'dlq_payload_bytes',
  /** How many original headers were left off because even without its value the dead letter was too large. */
  headersDropped: 'dlq_headers_dropped',
} as const;

/** Where values too large for a dead letter go (the object store's content-addressed put). */
export interface DeadLetterPayloadStore {
  putContentAddressed(
    bucket: string,
    prefix: string,
    body: Buffer,
    options?: { extension?: string; contentType?: string },
  ): Promise<{ uri: string; sha256: string; sizeBytes: number }>;
}

export interface KafkaDeadLetterSinkOptions {
  /** KAFKA_MAX_RECORD_BYTES: a dead letter larger than this would be refused by the broker. */
  maxRecordBytes?: number;
  /**
   * Where the value of a dead letter over `maxRecordBytes` is stored; the dead letter then carries a pointer
   * (`dlq_payload_uri`, sha256 and size in headers and as its JSON value). Without it the value is left off and only
   * its size and sha256 are kept.
   */
  payloads?: { store: DeadLetterPayloadStore; bucket: string };
}

/** One record that goes to the dead-letter topic, and why. */
export interface DeadLetter {
  record: InboundRecord;
  failure: DeadLetterFailure;
}

/**
 * Writes the original key, value and headers to `<topic>.dlq`, plus headers naming the error. A dead letter that
 * would exceed KAFKA_MAX_RECORD_BYTES (the broker would refuse it, and the partition would wait on it forever) keeps
 * its headers but its value goes to object storage, and a pointer is dead-lettered in its place.
 */
export class KafkaDeadLetterSink implements DeadLetterSink {
  private readonly maxRecordBytes: number;

  constructor(
    private readonly producer: Producer,
    private readonly options: KafkaDeadLetterSinkOptions = {},
  ) {
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_RECORD_LIMITS.maxRecordBytes;
  }

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
      const letter = {
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
        } as IHeaders,
      };
      messages.push(recordBytes(letter) > this.maxRecordBytes ? await this.withPointer(record, letter) : letter);
    }
    for (const [topic, messages] of byTopic) await this.producer.send({ topic, messages });
  }

  /** The dead letter with its value moved to object storage (content-addressed, so a retried write is the same). */
  private async withPointer(
    record: InboundRecord,
    letter: { key: Buffer | null; value: Buffer | null; headers: IHeaders },
  ): Promise<Message> {
    const value = record.value ?? Buffer.alloc(0);
    const stored = this.options.payloads
      ? await this.options.payloads.store.putContentAddressed(
          this.options.payloads.bucket,
          `dead-letters/${record.topic}`,
          value,
          { extension: '.bin' },
        )
      : { uri: '', sha256: createHash('sha256').update(value).digest('hex'), sizeBytes: value.length };
    const pointer = { payloadUri: stored.uri || null, sha256: stored.sha256, bytes: stored.sizeBytes };
    const headers: IHeaders = {
      ...letter.headers,
      [DLQ_HEADERS.payloadSha256]: stored.sha256,
      [DLQ_HEADERS.payloadBytes]: String(stored.sizeBytes),
      ...(stored.uri ? { [DLQ_HEADERS.payloadUri]: stored.uri } : {}),
    };
    const pointed = { key: letter.key, value: JSON.stringify(pointer), headers };
    if (recordBytes(pointed) <= this.maxRecordBytes) return pointed;
    // Even without its value the letter is too large: its original headers are what is large. Keep only ours.
    const ours = Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('dlq_'))) as IHeaders;
    const dropped = Object.keys(headers).length - Object.keys(ours).length;
    ours[DLQ_HEADERS.headersDropped] = String(dropped);
    const key = letter.key && letter.key.length > 1_024 ? null : letter.key;
    return { key, value: pointed.value, headers: ours };
  }
}
