export { activeTraceId, consumerParentContext, extractTraceContext, injectTraceContext } from './kafka-propagation';
export { KeelAttr, type KeelAttrName } from './span-attributes';
export { startTelemetry, type Telemetry, type TelemetryOptions } from './start-telemetry';
export { serviceTracer, setServiceTracerName, withSpan, type WithSpanOptions } from './with-span';
