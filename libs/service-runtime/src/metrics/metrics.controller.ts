import { Controller, Get, Res } from '@nestjs/common';
import { type Response } from 'express';
import { MetricsService } from './metrics.service';

/**
 * `GET /metrics` in the Prometheus text exposition format. Behind authentication like every door (a scraper's key
 * needs `viewer:*`): the metrics name pipelines and models.
 */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  async scrape(@Res() response: Response): Promise<void> {
    response.setHeader('Content-Type', this.metrics.registry.contentType);
    response.send(await this.metrics.registry.metrics());
  }
}
