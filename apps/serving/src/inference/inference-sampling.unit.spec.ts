import { ROOT_CONTEXT, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { inferenceSampler, MODEL_INFER_SPAN, traceSampleRatio } from './inference-sampling';

const TRACE_ID = 'a'.repeat(32);
const decide = (ratio: number, name: string, kind: SpanKind, attributes = {}, parent = ROOT_CONTEXT) =>
  inferenceSampler(ratio).shouldSample(parent, TRACE_ID, name, kind, attributes, []).decision;
const sampledParent = trace.setSpanContext(ROOT_CONTEXT, {
  traceId: TRACE_ID,
  spanId: 'b'.repeat(16),
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
});

describe('inferenceSampler', () => {
  it('samples REST inference requests without trace context at the ratio', () => {
    expect(decide(0, 'POST', SpanKind.SERVER, { 'url.path': '/v2/models/adult/versions/2/infer' })).toBe(
      SamplingDecision.NOT_RECORD,
    );
    expect(decide(1, 'POST', SpanKind.SERVER, { 'url.path': '/v2/models/adult/infer' })).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
  });

  it('records the ModelInfer spans serving opens: gRPC calls are sampled before the span (inference-tracing.ts)', () => {
    expect(decide(0, MODEL_INFER_SPAN, SpanKind.SERVER)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });

  it("follows a caller's sampled context and samples every other span", () => {
    expect(decide(0, MODEL_INFER_SPAN, SpanKind.SERVER, {}, sampledParent)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(0, 'POST', SpanKind.SERVER, { 'url.path': '/v2/models/adult' })).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(decide(0, 'mlops.models.alias-changed.v1 process', SpanKind.CONSUMER)).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
  });

  it('reads SERVING_TRACE_SAMPLE_RATIO, falling back to the default when unset', () => {
    expect(traceSampleRatio({ SERVING_TRACE_SAMPLE_RATIO: '0.25' })).toBe(0.25);
    expect(traceSampleRatio({})).toBe(0.1);
  });
});
