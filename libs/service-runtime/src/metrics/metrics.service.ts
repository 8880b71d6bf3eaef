import { Inject, Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { SERVICE_IDENTITY, type ServiceIdentity } from '../tokens';

/** The service's Prometheus registry: process metrics plus HTTP request metrics; apps add their own. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;

  constructor(@Inject(SERVICE_IDENTITY) identity: ServiceIdentity) {
    this.registry.setDefaultLabels({ service: identity.name });
    collectDefaultMetrics({ register: this.registry, prefix: 'keel_' });
    this.httpRequestDuration = new Histogram({
      name: 'keel_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.httpRequests = new Counter({
      name: 'keel_http_requests_total',
      help: 'HTTP requests served',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
  }
}
