import { DEFAULT_MAX_DEPTH } from '@keel/contracts';
import { type IHeaders } from 'kafkajs';
import { NonRetryableError } from './errors';

/**
 * Bounds on Kafka records, in bytes as the broker counts them (key, value and headers), applied on produce and on
 * consume. The default sits under the broker's default `message.max.bytes` (1,048,588) with room for the batch
 * overhead, so a record Keel accepts is one the broker accepts.
 */
export interface RecordLimits {
  /** KAFKA_MAX_RECORD_BYTES. */
  maxRecordBytes: number;
  /** JSON_MAX_DEPTH: nesting allowed in an event's JSON, checked before it is parsed. */
  maxDepth: number;
}

export const DEFAULT_RECORD_LIMITS: RecordLimits = { maxRecordBytes: 1_000_000, maxDepth: DEFAULT_MAX_DEPTH };

/** A record, or an event about to become one, is larger than KAFKA_MAX_RECORD_BYTES. */
export class RecordTooLargeError extends NonRetryableError {
  constructor(
    what: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`${what} is ${bytes} bytes, over the ${maxBytes} bytes KAFKA_MAX_RECORD_BYTES allows`, 'record-too-large');
    this.name = 'RecordTooLargeError';
  }
}

type HeaderValue = IHeaders[string];

function headerValueBytes(value: HeaderValue): number {
  if (value === undefined) return 0;
  if (Array.isArray(value)) return value.reduce((sum, item) => sum + headerValueBytes(item), 0);
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/** Bytes of a record's key, value and headers (names and values), as they go over the wire before compression. */
export function recordBytes(record: {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: IHeaders;
}): number {
  const sizeOf = (part: Buffer | string | null | undefined) =>
    part === null || part === undefined ? 0 : typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  let bytes = sizeOf(record.key) + sizeOf(record.value);
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    bytes += Buffer.byteLength(name) + headerValueBytes(value);
  }
  return bytes;
}
