import { stackEndpoints } from './local-stack';

/** A span as Jaeger's HTTP query API returns it. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  processID: string;
  references: { refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

async function getJson<T>(path: string): Promise<T | undefined> {
  const response = await fetch(`${stackEndpoints.jaegerQuery}${path}`, { signal: AbortSignal.timeout(5_000) });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`Jaeger ${path}: HTTP ${response.status}`);
  return ((await response.json()) as { data: T }).data;
}

/** One trace by id, or undefined while Jaeger has not received it. */
export async function fetchTrace(traceId: string): Promise<JaegerTrace | undefined> {
  const traces = await getJson<JaegerTrace[]>(`/api/traces/${traceId}`);
  return traces?.[0];
}

/** Service names Jaeger has seen spans from. */
export async function fetchServices(): Promise<string[]> {
  return (await getJson<string[] | null>('/api/services')) ?? [];
}

/** Service name of a span within its trace. */
export function serviceOf(traceData: JaegerTrace, span: JaegerSpan): string {
  return traceData.processes[span.processID]?.serviceName ?? 'unknown';
}

/**
 * Traces with a span of `service` named `operation` carrying every tag given (Jaeger's search API), over the last
 * `lookbackMs`: how a test proves that something happened in exactly one trace.
 */
export async function findTraces(query: {
  service: string;
  operation: string;
  tags?: Record<string, string>;
  lookbackMs?: number;
  limit?: number;
}): Promise<JaegerTrace[]> {
  const end = Date.now();
  const params = new URLSearchParams({
    service: query.service,
    operation: query.operation,
    start: String((end - (query.lookbackMs ?? 3_600_000)) * 1000),
    end: String((end + 60_000) * 1000),
    limit: String(query.limit ?? 20),
    ...(query.tags ? { tags: JSON.stringify(query.tags) } : {}),
  });
  return (await getJson<JaegerTrace[] | null>(`/api/traces?${params.toString()}`)) ?? [];
}
