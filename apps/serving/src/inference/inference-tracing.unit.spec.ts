import { Metadata, type ServerUnaryCall, status } from '@grpc/grpc-js';
import { context, propagation, type SpanContext, trace, TraceFlags } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  StackContextManager,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { beforeEach, describe, expect, it } from 'vitest';
import { inferenceSampler, MODEL_INFER_SPAN } from './inference-sampling';
import { tracedUnary } from './inference-tracing';

const spans = new InMemorySpanExporter();
// The sampler serving starts telemetry with, at ratio 0: whatever is recorded was picked by tracedUnary itself.
const provider = new TracerProvider({
  sampler: inferenceSampler(0),
  spanProcessors: [new SimpleSpanProcessor({ exporter: spans })],
});
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new StackContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const CALLER_TRACE = 'c'.repeat(32);

/** Runs one call through tracedUnary; returns the span context its handler ran in and the status it answered. */
function call(sampleRatio: number, metadata = new Metadata(), code = status.OK, random = () => 0.5) {
  let seen: SpanContext | undefined;
  let answered: number | undefined;
  const traced = tracedUnary<object, object>(
    (_call, callback) => {
      seen = trace.getActiveSpan()?.spanContext();
      callback(code === status.OK ? null : { code, details: 'failed' }, code === status.OK ? {} : undefined);
    },
    { sampleRatio, random },
  );
  traced({ metadata } as ServerUnaryCall<object, object>, (error) => (answered = error?.code ?? status.OK));
  return { seen, answered };
}

describe('tracedUnary (ModelInfer server spans, sampled before they exist)', () => {
  beforeEach(() => spans.reset());

  it('opens no span for a call its ratio leaves out, yet runs it in fresh unsampled ids', () => {
    const first = call(0.1, undefined, status.OK, () => 0.5);
    const second = call(0.1, undefined, status.OK, () => 0.5);
    expect(spans.getFinishedSpans()).toHaveLength(0);
    expect(first.answered).toBe(status.OK);
    // What the call triggers (its prediction-log batch, a log line) carries ids downstream samplers read as "not sampled".
    expect(first.seen?.traceFlags).toBe(TraceFlags.NONE);
    expect(first.seen?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(first.seen?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(second.seen?.traceId).not.toBe(first.seen?.traceId);
  });

  it('records the server span of a call its ratio picks, with the rpc attributes and the status', () => {
    call(0.1, undefined, status.OK, () => 0.05);
    call(1, undefined, status.INTERNAL);
    const [ok, failed] = spans.getFinishedSpans();
    expect(ok.name).toBe(MODEL_INFER_SPAN);
    expect(ok.attributes).toMatchObject({ 'rpc.method': 'ModelInfer', 'rpc.grpc.status_code': status.OK });
    expect(failed.attributes['rpc.grpc.status_code']).toBe(status.INTERNAL);
    expect(failed.status.message).toBe('failed');
  });

  it("follows a caller's trace context whatever the ratio: sampled is recorded in its trace, unsampled is not", () => {
    const sampled = new Metadata();
    sampled.set('traceparent', `00-${CALLER_TRACE}-${'d'.repeat(16)}-01`);
    const { seen } = call(0, sampled);
    const [span] = spans.getFinishedSpans();
    expect(span.spanContext().traceId).toBe(CALLER_TRACE);
    expect(seen?.traceId).toBe(CALLER_TRACE);

    spans.reset();
    const unsampled = new Metadata();
    unsampled.set('traceparent', `00-${CALLER_TRACE}-${'d'.repeat(16)}-00`);
    expect(call(1, unsampled).seen?.traceId).toBe(CALLER_TRACE);
    expect(spans.getFinishedSpans()).toHaveLength(0);
  });
});
