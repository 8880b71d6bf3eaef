// Imported first by the demo's entry points: grpc-js must be patched before it loads so ModelInfer calls carry
// the run's trace context to serving.
import { startTelemetry } from '@keel/telemetry';

export const telemetry = startTelemetry('keel-demo');
