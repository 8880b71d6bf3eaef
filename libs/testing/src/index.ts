export { fetchServices, fetchTrace, type JaegerSpan, type JaegerTrace, serviceOf } from './jaeger-client';
export { eventually, stackEndpoints, uniqueName } from './local-stack';
