// Imported first by the chaos and soak entry points: grpc-js must be patched before it loads, and the trace context
// propagator registered, so the probes' ModelInfer calls carry a trace the tool can then look for in Jaeger.
import { startTelemetry } from '@keel/telemetry';

export const telemetry = startTelemetry('keel-chaos');
