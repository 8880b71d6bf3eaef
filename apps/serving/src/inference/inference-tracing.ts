import { randomFillSync } from 'node:crypto';
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
  TraceFlags,
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

/** How ModelInfer calls are traced. */
export interface InferenceTracing {
  /**
   * Share of the calls that arrive without trace context that are traced (SERVING_TRACE_SAMPLE_RATIO): 1 traces every
   * one, 0 none. A call with trace context follows its caller's decision whatever the ratio.
   */
  sampleRatio: number;
  /** A number in [0, 1) per call without trace context; Math.random unless a test fixes it. */
  random?: () => number;
}

/**
 * Random trace and span ids for unsampled calls, cut from a pool filled 1,024 calls at a time: hex of 24 random bytes
 * per call costs far less than the SDK's id generator (a Math.random per 4 bytes) and its sampler.
 */
const ID_BYTES = 24;
let idPool = Buffer.alloc(0);
let idAt = 0;
function unsampledContext(parent: Context): Context {
  if (idAt + ID_BYTES > idPool.length) {
    idPool = randomFillSync(Buffer.allocUnsafe(ID_BYTES * 1_024));
    idAt = 0;
  }
  const traceId = idPool.toString('hex', idAt, idAt + 16);
  const spanId = idPool.toString('hex', idAt + 16, idAt + ID_BYTES);
  idAt += ID_BYTES;
  return trace.setSpan(parent, trace.wrapSpanContext({ traceId, spanId, traceFlags: TraceFlags.NONE }));
}

/**
 * A unary handler inside ModelInfer's server span, opened here rather than by the gRPC instrumentation: the same name
 * and rpc attributes, the caller's trace context from the metadata, the status code at the end, without the
 * instrumentation's per-call patching of the call object.
 *
 * Head sampling happens here, before any span exists: a call without trace context in its metadata is traced with
 * probability `sampleRatio` (the sampler then records the span it opens); every other such call runs in a context
 * holding only fresh unsampled ids (no tracer, sampler, span object or metadata parsing), so what it triggers (its
 * prediction-log batch, a log line) still carries a trace id and downstream samplers see "not sampled". A call that
 * carries trace context follows its caller's decision, as before.
 */
export function tracedUnary<Request, Response>(
  handler: (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => void,
  tracing: InferenceTracing,
): (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => void {
  const random = tracing.random ?? Math.random;
  // The propagator's header names (traceparent, tracestate, baggage by default), read once the SDK has set it.
  let fields: string[] | undefined;
  return (call, callback) => {
    fields ??= propagation.fields();
    let carried = false;
    for (const field of fields) {
      if (call.metadata.get(field).length > 0) {
        carried = true;
        break;
      }
    }
    const parent: Context = carried ? propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter) : ROOT_CONTEXT;
    if (trace.getSpanContext(parent) === undefined && !(random() < tracing.sampleRatio)) {
      context.with(unsampledContext(parent), () => handler(call, callback));
      return;
    }
    const span = serviceTracer().startSpan(MODEL_INFER_SPAN, { kind: SpanKind.SERVER }, parent);
    // Attributes only on a recorded span: an unsampled caller's request pays for no attribute handling.
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
