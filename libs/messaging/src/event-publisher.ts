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

/** Event bytes per produce request in publishMany, well under the broker's default message size of 1 MiB. */
const MAX_SEND_BYTES = 512 * 1024;

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
    const [published] = await this.publishMany(contract, [{ data, options }]);
    return published;
  }

  /**
   * Publishes several events of one contract in as few produce requests as the broker's request size allows (one,
   * for a few hundred small events): every event is validated (schema, KAFKA_MAX_RECORD_BYTES) before any is sent.
   * Each keeps its own id, key and headers, so consumers see exactly what as many publish() calls would have sent.
   */
  async publishMany<C extends EventContract>(
    contract: C,
    events: readonly { data: EventData<C>; options?: PublishOptions }[],
  ): Promise<{ id: string }[]> {
    const time = new Date().toISOString();
    const messages = events.map(({ data, options = {} }) => {
      const parsed = contract.schema.safeParse(data);
      if (!parsed.success) throw new SchemaValidationError(contract.topic, formatIssues(parsed.error.issues));
      const id = options.id ?? randomUUID();
      const headers = encodeCloudEventHeaders({
        id,
        source: this.source,
        type: contract.topic,
        specversion: '1.0',
        time,
        subject: options.subject,
      });
      // The kafkajs instrumentation opens the one producer span of this send and writes its own context over this
      // one; without instrumentation, the caller's context still links producer and consumer.
      injectTraceContext(headers, context.active());
      const message = { key: options.key ?? contract.key(parsed.data), value: JSON.stringify(parsed.data), headers };
      const bytes = recordBytes(message);
      if (bytes > this.maxRecordBytes)
        throw new RecordTooLargeError(`a ${contract.topic} event`, bytes, this.maxRecordBytes);
      return { id, message, bytes };
    });
    for (let start = 0; start < messages.length;) {
      // A produce request's record batch must stay under the broker's message size (1 MiB by default).
      let bytes = 0;
      let end = start;
      while (end < messages.length && (end === start || bytes + messages[end].bytes < MAX_SEND_BYTES)) {
        bytes += messages[end].bytes;
        end++;
      }
      await this.producer.send({ topic: contract.topic, messages: messages.slice(start, end).map((m) => m.message) });
      start = end;
    }
    return messages.map(({ id }) => ({ id }));
  }
}
