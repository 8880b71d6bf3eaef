import pino, { type Logger } from 'pino';

/** Longest string field of a logged error (its stack excepted); longer ones are cut, saying how long they were. */
const MAX_ERROR_FIELD = 2_000;

/**
 * An error as pino's standard serializer writes it, without what a request put on it: body-parser attaches the raw
 * body (up to HTTP_MAX_JSON_BYTES) to the errors it raises, and writing that line (a 1 MiB Buffer is ~3 MB of JSON)
 * held a service's event loop for hundreds of ms (npm run fuzz:live). Bytes are not logged; long strings are cut.
 */
export function serializeError(error: unknown): Record<string, unknown> {
  const out = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  if (typeof out !== 'object' || out === null) return out;
  for (const [key, value] of Object.entries(out)) {
    if (key === 'body' || Buffer.isBuffer(value) || ArrayBuffer.isView(value)) {
      out[key] = '[not logged]';
    } else if (key !== 'stack' && typeof value === 'string' && value.length > MAX_ERROR_FIELD) {
      out[key] = `${value.slice(0, MAX_ERROR_FIELD)}… (${value.length} characters)`;
    }
  }
  return out;
}

/**
 * The process's root JSON logger. OpenTelemetry's pino instrumentation adds `trace_id` and `span_id` to every
 * line written inside a span, so a log line leads straight to its trace in Jaeger.
 */
export function createRootLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: serializeError },
    // Request logs carry the headers: callers' credentials are never written (the door audit greps a run's logs).
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["proxy-authorization"]',
        'req.headers.cookie',
        'req.headers["x-api-key"]',
      ],
      censor: '[redacted]',
    },
  });
}
