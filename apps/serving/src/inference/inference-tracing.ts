import { type Metadata, type sendUnaryData, type ServerUnaryCall, status } from '@grpc/grpc-js';
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type TextMapGetter,
} from '@opentelemetry/api';
import { serviceTracer } from '@keel/telemetry';
import { MODEL_INFER_METHOD, MODEL_INFER_SPAN } from './inference-sampling';

const metadataGetter: TextMapGetter<Metadata> = {
  get: (metadata, key) => {
    const values = metadata.get(key);
    return values.length === 0 ? undefined : values.map(String);
  },
  keys: (metadata) => Object.keys(metadata.getMap()),
};

const SPAN_ATTRIBUTES: Attributes = {
  'rpc.system': 'grpc',
  'rpc.service': 'inference.GRPCInferenceService',
  'rpc.method': MODEL_INFER_METHOD,
};

/** Codes that are serving's failure rather than the caller's mistake: they mark the span failed. */
const SERVER_FAULTS = new Set<number>([
  status.UNKNOWN,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
]);

/**
 * A unary handler inside ModelInfer's server span, opened here rather than by the gRPC instrumentation: the same name
 * and rpc attributes, the caller's trace context from the metadata, the status code at the end, without the
 * instrumentation's per-call patching of the call object. An unsampled request gets a non-recording span (the trace
 * context still flows to what it triggers).
 */
export function tracedUnary<Request, Response>(
  handler: (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => void,
): (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => void {
  return (call, callback) => {
    const parent: Context = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
    const span = serviceTracer().startSpan(MODEL_INFER_SPAN, { kind: SpanKind.SERVER }, parent);
    // Attributes only on a recorded span: an unsampled request pays for no attribute handling.
    if (span.isRecording()) span.setAttributes(SPAN_ATTRIBUTES);
    const ended: sendUnaryData<Response> = (error, value, trailer, flags) => {
      if (span.isRecording()) {
        const code = error ? (error.code ?? status.UNKNOWN) : status.OK;
        span.setAttribute('rpc.grpc.status_code', code);
        if (error && SERVER_FAULTS.has(code)) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.details });
        }
      }
      span.end();
      callback(error, value, trailer, flags);
    };
    context.with(trace.setSpan(parent, span), () => handler(call, ended));
  };
}
