// Imported first by main.ts: tracing must patch http, grpc, kafkajs, mongoose and Nest before they load.
import { startTelemetry } from '@keel/telemetry';
import { inferenceSampler, MODEL_INFER_METHOD, traceSampleRatio } from './inference/inference-sampling';

/** Inference requests are traced at SERVING_TRACE_SAMPLE_RATIO unless the caller's context decides; ModelInfer's span is serving's own. */
export const telemetry = startTelemetry('serving', process.env, {
  sampler: inferenceSampler(traceSampleRatio(process.env)),
  ownGrpcServerSpans: [MODEL_INFER_METHOD],
});
