export { activeTraceId, consumerParentContext, extractTraceContext, injectTraceContext } from './kafka-propagation';
export { startTelemetry, type Telemetry } from './start-telemetry';
