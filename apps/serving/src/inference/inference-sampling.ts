import { SpanKind } from '@opentelemetry/api';
import {
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  type SamplingResult,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';

// Loaded by telemetry.ts before anything else: nothing here may load grpc, http or Nest (instrumentation patches them).

/** The gRPC method whose server span serving opens itself (the instrumentation leaves it alone). */
export const MODEL_INFER_METHOD = 'ModelInfer';
/** Its span name, as the gRPC instrumentation names every other method's (opened only for sampled calls). */
export const MODEL_INFER_SPAN = 'grpc.inference.GRPCInferenceService/ModelInfer';
const REST_INFER_PATH = /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$/;

/** Fraction of inference requests traced when the caller sent no trace context; 1 traces every one. */
export const DEFAULT_TRACE_SAMPLE_RATIO = 0.1;

/**
 * SERVING_TRACE_SAMPLE_RATIO as telemetry reads it before the app's config exists: the config schema validates the
 * same variable at start-up and names it when it is wrong.
 */
export function traceSampleRatio(env: Record<string, string | undefined>): number {
  const text = env.SERVING_TRACE_SAMPLE_RATIO;
  const value = text === undefined || text === '' ? DEFAULT_TRACE_SAMPLE_RATIO : Number(text);
  return Number.isFinite(value) && value >= 0 && value <= 1 ? value : DEFAULT_TRACE_SAMPLE_RATIO;
}

/**
 * Serving's head sampler: a REST inference request (`/v2/models/…/infer`) that arrives without trace context starts a
 * trace with probability `ratio`; one that carries context follows its caller's decision; every other span (model
 * loads, consumers, metadata calls) is sampled as everywhere else. gRPC ModelInfer samples before it opens a span
 * (inference-tracing.ts applies the same ratio and opens a root ModelInfer span only for the calls it picked), so that
 * span is recorded here. A sampled request keeps its whole path (the request span, the prediction-log publish,
 * monitoring's consumer) in one trace.
 */
export function inferenceSampler(ratio: number): Sampler {
  const ratioSampler = new TraceIdRatioBasedSampler(ratio);
  const alwaysOn = new AlwaysOnSampler();
  const root: Sampler = {
    shouldSample(ctx, traceId, spanName, spanKind, attributes): SamplingResult {
      const restInference = spanKind === SpanKind.SERVER && REST_INFER_PATH.test(String(attributes['url.path'] ?? ''));
      return restInference ? ratioSampler.shouldSample(ctx, traceId) : alwaysOn.shouldSample();
    },
    toString: () => `InferenceSampler{ratio=${ratio}}`,
  };
  return new ParentBasedSampler({ root });
}
