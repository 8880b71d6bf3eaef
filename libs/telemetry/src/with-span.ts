import {
  type Attributes,
  type Link,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';

/**
 * The instrumentation scope of the service's own spans: one tracer per service, named after it. startTelemetry sets
 * it; processes that never start telemetry (unit tests, tools) use the default name and the no-op provider.
 */
let serviceTracerName = 'keel';

/** Called by startTelemetry; the name every {@link withSpan} span is recorded under. */
export function setServiceTracerName(name: string): void {
  serviceTracerName = name;
}

/** The service's tracer, for the rare span that {@link withSpan} cannot shape (kept open across callbacks). */
export function serviceTracer(): Tracer {
  return trace.getTracer(serviceTracerName);
}

export interface WithSpanOptions {
  kind?: SpanKind;
  /** Spans this one continues besides its parent (a batch cut from records of several traces). */
  links?: Link[];
  /**
   * Whether a thrown error marks the span failed. Default: every error does. A server span may exclude failures
   * that are the caller's (a NOT_FOUND or INVALID_ARGUMENT answer is a correct answer, not a failed operation).
   */
  isFailure?: (error: unknown) => boolean;
}

/**
 * Runs `work` inside an active span named `name` with `attributes`: a thrown error is recorded on the span and
 * marks it failed, then rethrown; the span always ends. The one span wrapper of the platform.
 */
export function withSpan<T>(
  name: string,
  attributes: Attributes,
  work: (span: Span) => Promise<T> | T,
  options: WithSpanOptions = {},
): Promise<T> {
  return serviceTracer().startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes, links: options.links },
    async (span): Promise<T> => {
      try {
        return await work(span);
      } catch (error) {
        if (options.isFailure?.(error) ?? true) {
          const exception = error instanceof Error ? error : new Error(String(error));
          span.recordException(exception);
          span.setStatus({ code: SpanStatusCode.ERROR, message: exception.message });
        }
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
