import { Controller, Get, Inject, Res } from '@nestjs/common';
import { type Response } from 'express';
import { SERVICE_IDENTITY, type ServiceIdentity } from '../tokens';
import { PublicDoor } from '../auth/door-rules';
import { HealthRegistry } from './health-registry';

/**
 * Kubernetes probes: `GET /health/live` (the process and its event loop; 503 only when the runtime declared the
 * process failed), `GET /health/ready` (every dependency, consumer and app indicator up, and not shutting down;
 * 503 otherwise) and `GET /health`, which is readiness with the same detailed report, the one tools wait on.
 */
@PublicDoor()
@Controller('health')
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    private readonly registry: HealthRegistry,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
  ) {}

  @Get()
  async health(@Res() response: Response): Promise<void> {
    await this.ready(response);
  }

  @Get('ready')
  async ready(@Res() response: Response): Promise<void> {
    const report = await this.registry.readiness();
    response.status(report.status === 'ok' ? 200 : 503).json({ ...this.header(), ...report });
  }

  @Get('live')
  live(@Res() response: Response): void {
    const report = this.registry.liveness();
    response.status(report.status === 'ok' ? 200 : 503).json({ ...this.header(), ...report });
  }

  private header() {
    return {
      service: this.identity.name,
      version: this.identity.version,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }
}
