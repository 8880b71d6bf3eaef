import { context, type Context, propagation, ROOT_CONTEXT, type TextMapGetter, trace } from '@opentelemetry/api';

type KafkaHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

const kafkaHeaderGetter: TextMapGetter<KafkaHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? value.map(String) : value.toString();
  },
};

/** Writes W3C `traceparent`/`tracestate` (and baggage) of the active context into Kafka headers. */
export function injectTraceContext(headers: Record<string, string>, from: Context = context.active()): void {
  propagation.inject(from, headers);
}

/** The context carried by a Kafka record's headers. */
export function extractTraceContext(headers: KafkaHeaders | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, headers ?? {}, kafkaHeaderGetter);
}

/**
 * Parent for processing a consumed record: the active span when kafkajs auto-instrumentation already continued
 * the producer's trace, otherwise the context carried in the headers.
 */
export function consumerParentContext(headers: KafkaHeaders | undefined): Context {
  const carried = extractTraceContext(headers);
  const active = trace.getSpan(context.active());
  const carriedSpan = trace.getSpan(carried);
  if (active && (!carriedSpan || active.spanContext().traceId === carriedSpan.spanContext().traceId)) {
    return context.active();
  }
  return carried;
}

/** Trace id of the active span, for logs and summaries. */
export function activeTraceId(): string | undefined {
  return trace.getSpan(context.active())?.spanContext().traceId;
}
