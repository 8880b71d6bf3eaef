/**
 * CloudEvents 1.0 over Kafka, per the CloudEvents Kafka protocol binding. We publish in binary mode (attributes in
 * `ce_*` headers, the data as the record value) and accept structured mode too, because upstream producers may
 * only be able to write a JSON value.
 */

/** Context attributes of an event as carried in headers (binary) or in the JSON envelope (structured). */
export interface CloudEventAttributes {
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly specversion: '1.0';
  readonly time?: string;
  readonly subject?: string;
  readonly datacontenttype?: string;
}

export type RawHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

/** An event whose envelope is well-formed but whose data has not yet been checked against its schema. */
export interface DecodedCloudEvent {
  readonly attributes: CloudEventAttributes;
  readonly data: unknown;
}

/** The record cannot be an event at all: retrying will never help, so it goes to the dead-letter topic. */
export class MalformedEventError extends Error {
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEventError';
  }
}

const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json';

/** First value of a header as a string. */
export function headerValue(headers: RawHeaders | undefined, name: string): string | undefined {
  const raw = headers?.[name];
  const first = Array.isArray(raw) ? raw[0] : raw;
  return first === undefined ? undefined : first.toString();
}

function requireAttribute(source: Record<string, unknown>, name: string, where: string): string {
  const value = source[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new MalformedEventError(`missing CloudEvents attribute "${name}" (${where})`);
  }
  return value;
}

function parseJson(value: Buffer | null, what: string): unknown {
  if (value === null || value.length === 0) throw new MalformedEventError(`${what} is empty`);
  try {
    return JSON.parse(value.toString('utf8'));
  } catch (error) {
    throw new MalformedEventError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

function checkedAttributes(source: Record<string, unknown>, where: string): CloudEventAttributes {
  const specversion = requireAttribute(source, 'specversion', where);
  if (specversion !== '1.0') throw new MalformedEventError(`unsupported CloudEvents specversion "${specversion}"`);
  const optional = (name: string): string | undefined =>
    typeof source[name] === 'string' ? (source[name] as string) : undefined;
  return {
    id: requireAttribute(source, 'id', where),
    source: requireAttribute(source, 'source', where),
    type: requireAttribute(source, 'type', where),
    specversion: '1.0',
    time: optional('time'),
    subject: optional('subject'),
    datacontenttype: optional('datacontenttype'),
  };
}

function contentTypeOf(headers: RawHeaders | undefined): string | undefined {
  return headerValue(headers, 'content-type') ?? headerValue(headers, 'ce_datacontenttype');
}

/** Whether a record with these headers is a structured-mode CloudEvent (the envelope in the value, not the data). */
export function isStructuredCloudEvent(headers: RawHeaders | undefined): boolean {
  return contentTypeOf(headers)?.startsWith(STRUCTURED_CONTENT_TYPE) ?? false;
}

/** Reads a Kafka record as a CloudEvent, binary or structured mode; throws MalformedEventError with the reason. */
export function decodeCloudEvent(headers: RawHeaders | undefined, value: Buffer | null): DecodedCloudEvent {
  const contentType = contentTypeOf(headers);
  if (isStructuredCloudEvent(headers)) {
    const envelope = parseJson(value, 'structured CloudEvent');
    if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
      throw new MalformedEventError('structured CloudEvent is not a JSON object');
    }
    const fields = envelope as Record<string, unknown>;
    return { attributes: checkedAttributes(fields, 'structured mode'), data: fields.data };
  }
  const fromHeaders: Record<string, unknown> = {};
  for (const name of ['id', 'source', 'type', 'specversion', 'time', 'subject']) {
    fromHeaders[name] = headerValue(headers, `ce_${name}`);
  }
  fromHeaders.datacontenttype = contentType;
  if (contentType !== undefined && !/^application\/(.+\+)?json/.test(contentType)) {
    throw new MalformedEventError(`unsupported content-type "${contentType}" (expected application/json)`);
  }
  return {
    attributes: checkedAttributes(fromHeaders, 'binary mode ce_* headers'),
    data: parseJson(value, 'event data'),
  };
}

/** Headers of a binary-mode CloudEvent; trace context headers are added by the messaging layer. */
export function encodeCloudEventHeaders(attributes: CloudEventAttributes): Record<string, string> {
  const headers: Record<string, string> = {
    ce_specversion: attributes.specversion,
    ce_id: attributes.id,
    ce_source: attributes.source,
    ce_type: attributes.type,
    'content-type': attributes.datacontenttype ?? 'application/json',
  };
  if (attributes.time) headers.ce_time = attributes.time;
  if (attributes.subject) headers.ce_subject = attributes.subject;
  return headers;
}
