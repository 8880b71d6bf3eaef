import pino, { type Logger } from 'pino';

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
