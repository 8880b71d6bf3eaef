import { Injectable } from '@nestjs/common';

/** One dependency whose state `/health` reports. `check` rejects when the dependency is unusable. */
export interface HealthIndicator {
  name: string;
  check(): Promise<void>;
}

export interface HealthReport {
  status: 'ok' | 'error';
  checks: Record<string, { status: 'up' | 'down'; latencyMs: number; error?: string }>;
}

const CHECK_TIMEOUT_MS = 3_000;

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

/** Dependencies register here at start-up; `/health` and gRPC health both read it. */
@Injectable()
export class HealthRegistry {
  private readonly indicators = new Map<string, HealthIndicator>();

  register(indicator: HealthIndicator): void {
    this.indicators.set(indicator.name, indicator);
  }

  async report(): Promise<HealthReport> {
    const entries = await Promise.all(
      [...this.indicators.values()].map(async (indicator) => {
        const started = performance.now();
        try {
          await withTimeout(indicator.check(), CHECK_TIMEOUT_MS);
          return [indicator.name, { status: 'up' as const, latencyMs: Math.round(performance.now() - started) }];
        } catch (error) {
          return [
            indicator.name,
            {
              status: 'down' as const,
              latencyMs: Math.round(performance.now() - started),
              error: error instanceof Error ? error.message : String(error),
            },
          ];
        }
      }),
    );
    const checks = Object.fromEntries(entries) as HealthReport['checks'];
    return { status: Object.values(checks).every((c) => c.status === 'up') ? 'ok' : 'error', checks };
  }
}
