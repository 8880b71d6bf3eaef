import { Injectable, type NestMiddleware } from '@nestjs/common';
import { type NextFunction, type Request, type Response } from 'express';
import { MetricsService } from './metrics.service';

/** Times every HTTP request, labelled by route pattern (not raw URL, which would explode cardinality). */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: MetricsService) {}

  use(request: Request, response: Response, next: NextFunction): void {
    const stop = this.metrics.httpRequestDuration.startTimer();
    response.on('finish', () => {
      const route = (request.route as { path?: string } | undefined)?.path ?? request.baseUrl ?? 'unmatched';
      const labels = { method: request.method, route: route || 'unmatched', status: String(response.statusCode) };
      stop(labels);
      this.metrics.httpRequests.inc(labels);
    });
    next();
  }
}
