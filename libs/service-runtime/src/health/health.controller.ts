import { Controller, Get, Inject, Res } from '@nestjs/common';
import { type Response } from 'express';
import { AccessControl } from '../auth/access-control';
import { PublicDoor } from '../auth/door-rules';
import { SERVICE_IDENTITY, type ServiceIdentity } from '../tokens';
import { type HealthReport, HealthRegistry, type LivenessReport } from './health-registry';

/**
 * Kubernetes probes: `GET /health/live` (the process and its event loop; 503 only when the runtime declared the
 * process failed), `GET /health/ready` (every dependency, consumer and app indicator up, and not shutting down;
 * 503 otherwise) and `GET /health`, which is readiness with the same detailed report, the one tools wait on.
 * They are public doors, so where callers must authenticate the reports name each check's state but not its error
 * text (a connection error names hosts and ports); the text is in the service's log.
 */
@PublicDoor()
@Controller('health')
export class HealthController {
  private readonly startedAt = Date.now();

  constructor(
    private readonly registry: HealthRegistry,
    @Inject(SERVICE_IDENTITY) private readonly identity: ServiceIdentity,
    private readonly access: AccessControl,
  ) {}

  @Get()
  async health(@Res() response: Response): Promise<void> {
    await this.ready(response);
  }

  @Get('ready')
  async ready(@Res() response: Response): Promise<void> {
    const report = await this.registry.readiness();
    response.status(report.status === 'ok' ? 200 : 503).json({ ...this.header(), ...this.shown(report) });
  }

  @Get('live')
  live(@Res() response: Response): void {
    const report = this.registry.liveness();
    response.status(report.status === 'ok' ? 200 : 503).json({ ...this.header(), ...this.shown(report) });
  }

  private shown<Report extends HealthReport | LivenessReport>(report: Report): Report {
    if (!this.access.enforcing) return report;
    const { fatal, ...rest } = report;
    const redacted = { ...rest, ...(fatal === undefined ? {} : { fatal: 'see the service log' }) } as Report;
    if ('checks' in redacted) {
      redacted.checks = Object.fromEntries(
        Object.entries(redacted.checks).map(([name, { error, ...check }]) => [
          name,
          error === undefined ? check : { ...check, error: 'see the service log' },
        ]),
      );
    }
    return redacted;
  }

  private header() {
    return {
      service: this.identity.name,
      version: this.identity.version,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }
}
