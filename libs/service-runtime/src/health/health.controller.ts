import { Controller, Get, Inject, Res } from '@nestjs/common';
import { type Response } from 'express';
import { SERVICE_IDENTITY, type ServiceIdentity } from '../tokens';
import { HealthRegistry } from './health-registry';

/** `GET /health`: 200 when every dependency answers, 503 otherwise, with each dependency's state. */
@Controller('health')
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    private readonly registry: HealthRegistry,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
  ) {}

  @Get()
  async health(@Res() response: Response): Promise<void> {
    const report = await this.registry.report();
    response.status(report.status === 'ok' ? 200 : 503).json({
      service: this.identity.name,
      version: this.identity.version,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      ...report,
    });
  }
}
