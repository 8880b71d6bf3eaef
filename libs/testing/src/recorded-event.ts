import { decodeCloudEvent, type EventContract, type EventData, type RawHeaders } from '@keel/contracts';

/**
 * One Kafka record as a test sees it: the CloudEvent it carries decoded (binary or structured mode), with its raw
 * value and headers kept beside, so dead letters (whose value may not be an event at all) read the same way.
 */
export interface RecordedEvent<Data = unknown> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** Record key (the entity the event is about, usually the pipeline id). */
  readonly key: string | undefined;
  /** Every header as a string: `ce_*`, `traceparent`, and `dlq_*` on dead letters. */
  readonly headers: Readonly<Record<string, string>>;
  /** CloudEvent id (`ce_id`), undefined when the record carries none. */
  readonly id: string | undefined;
  /** CloudEvent type (`ce_type`): the topic the event was published to, also on its dead letter. */
  readonly type: string | undefined;
  /** The event data (parsed JSON); undefined when the value is not JSON. */
  readonly data: Data;
  /** The record value as text, exactly as it was written. */
  readonly value: string;
}

/** The parts of a Kafka record a RecordedEvent is read from. */
export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | string | null | undefined;
  value: Buffer | string | null | undefined;
  headers?: RawHeaders;
}

function headersAsText(headers: RawHeaders | undefined): Record<string, string> {
  const text: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    if (raw === undefined) continue;
    text[name] = (Array.isArray(raw) ? raw[0] : raw).toString();
  }
  return text;
}

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** Reads a raw Kafka record as a RecordedEvent; never throws, so a malformed record is still recorded. */
export function recordedEvent(record: RawRecord): RecordedEvent {
  const headers = headersAsText(record.headers);
  const value = record.value?.toString() ?? '';
  let id = headers.ce_id;
  let type = headers.ce_type;
  let data: unknown;
  try {
    const decoded = decodeCloudEvent(record.headers, Buffer.from(value));
    ({ id, type } = decoded.attributes);
    data = decoded.data;
  } catch {
    data = parseJson(value);
  }
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key: record.key?.toString(),
    headers,
    id,
    type,
    data,
    value,
  };
}

/**
 * The record typed by its contract, after checking its data against the contract's schema; throws naming the
 * first issue, since Keel's publisher validates every event and a mismatch is a bug in what published it.
 */
export function asContractEvent<C extends EventContract>(
  contract: C,
  event: RecordedEvent,
): RecordedEvent<EventData<C>> {
  const parsed = contract.schema.safeParse(event.data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `event ${event.id ?? '(no id)'} on ${event.topic} breaks its contract: ${issue.path.join('.')}: ${issue.message}`,
    );
  }
  return { ...event, data: parsed.data as EventData<C> };
}
