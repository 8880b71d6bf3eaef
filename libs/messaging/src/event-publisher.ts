import { randomUUID } from 'node:crypto';
import { context } from '@opentelemetry/api';
import { encodeCloudEventHeaders, type EventContract, type EventData } from '@keel/contracts';
import { injectTraceContext } from '@keel/telemetry';
import { type Producer } from 'kafkajs';
import { SchemaValidationError } from './errors';
import { DEFAULT_RECORD_LIMITS, recordBytes, RecordTooLargeError } from './limits';
import { formatIssues } from './schema-issues';

export interface PublishOptions {
  /** CloudEvent id. Pass a stable id (derived from the cause) so a retried publish is deduplicated downstream. */
  id?: string;
  subject?: string;
  /** Overrides the contract's key. */
  key?: string;
}

/**
 * Publishes contract events as binary-mode CloudEvents with W3C trace context in the headers. Data is validated
 * against the contract before it leaves the process, so a bug shows up at its source, not in every consumer.
 */
export class EventPublisher {
  constructor(
    private readonly producer: Producer,
    /** CloudEvents `source`, e.g. `/keel/ingestion`. */
    private readonly source: string,
    /** KAFKA_MAX_RECORD_BYTES: a larger event is refused here, with a clear error, rather than by the broker. */
    private readonly maxRecordBytes = DEFAULT_RECORD_LIMITS.maxRecordBytes,
  ) {}

  async publish<C extends EventContract>(
    contract: C,
    data: EventData<C>,
    options: PublishOptions = {},
  ): Promise<{ id: string }> {
    const parsed = contract.schema.safeParse(data);
    if (!parsed.success) throw new SchemaValidationError(contract.topic, formatIssues(parsed.error.issues));
    const id = options.id ?? randomUUID();
    const headers = encodeCloudEventHeaders({
      id,
      source: this.source,
      type: contract.topic,
      specversion: '1.0',
      time: new Date().toISOString(),
      subject: options.subject,
    });
    // The kafkajs instrumentation opens the one producer span of this send and writes its own context over this
    // one; without instrumentation, the caller's context still links producer and consumer.
    injectTraceContext(headers, context.active());
    const message = { key: options.key ?? contract.key(parsed.data), value: JSON.stringify(parsed.data), headers };
    const bytes = recordBytes(message);
    if (bytes > this.maxRecordBytes)
      throw new RecordTooLargeError(`a ${contract.topic} event`, bytes, this.maxRecordBytes);
    await this.producer.send({ topic: contract.topic, messages: [message] });
    return { id };
  }
}
