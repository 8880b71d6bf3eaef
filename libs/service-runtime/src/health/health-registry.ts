import { type ELDHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';

/**
 * One thing readiness depends on: a dependency (Kafka, MongoDB, object storage), a consumer, or an app's own
 * condition (serving: models loaded). `check` rejects when the service cannot do its work because of it.
 */
export interface HealthIndicator {
  name: string;
  check(): Promise<void>;
  /**
   * False: reported in `/health` but not a condition of readiness. For a service that can do its work without the
   * dependency for a while (serving answers from models in memory while storage or the broker is down), so an outage
   * does not take every replica out of rotation at once.
   */
  gatesReadiness?: boolean;
}

export interface HealthCheckResult {
  status: 'up' | 'down';
  latencyMs: number;
  error?: string;
  /** Present (false) when this check is reported only and does not decide readiness. */
  gatesReadiness?: false;
}

/** Where the process is in its life; only `running` can be ready. */
export type LifecycleState = 'running' | 'shutting-down' | 'failed';

/** Readiness: may this instance take traffic and work now. */
export interface HealthReport {
  status: 'ok' | 'error';
  lifecycle: LifecycleState;
  /** Set when the runtime declared the process failed (a consumer that could not be restarted). */
  fatal?: string;
  checks: Record<string, HealthCheckResult>;
}

/** Event-loop delay in milliseconds over the last completed window (and the current one's maximum). */
export interface EventLoopDelay {
  windowSeconds: number;
  p50: number;
  p99: number;
  max: number;
  currentMax: number;
}

/** Liveness: the process and its event loop, never its dependencies. */
export interface LivenessReport {
  status: 'ok' | 'error';
  lifecycle: LifecycleState;
  fatal?: string;
  eventLoopDelayMs: EventLoopDelay;
}

const CHECK_TIMEOUT_MS = 3_000;
const LOOP_WINDOW_MS = 10_000;

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

const toMs = (nanoseconds: number) => Math.round(nanoseconds / 1e4) / 100;

/**
 * The service's health, in Kubernetes' two senses. Readiness (`/health/ready`, `/health`, gRPC health) is every
 * registered indicator answering, while the process is running: it goes down at once when shutdown begins, so
 * traffic moves away before intake stops. Liveness (`/health/live`) is the process itself: it answers as long as the
 * event loop turns, reports the loop's delay, and fails only on a fatal condition the runtime knows about, so a
 * dependency outage never restarts every pod.
 */
@Injectable()
export class HealthRegistry implements OnModuleDestroy {
  private readonly indicators = new Map<string, HealthIndicator>();
  private readonly reportOnlyNames = new Set<string>();
  private lifecycle: LifecycleState = 'running';
  private fatal: string | undefined;
  private readonly fatalListeners: ((reason: string) => void)[] = [];
  private readonly changeListeners: (() => void)[] = [];
  private readonly loopDelay: ELDHistogram = monitorEventLoopDelay({ resolution: 20 });
  private lastWindow: Omit<EventLoopDelay, 'currentMax'> = { windowSeconds: 0, p50: 0, p99: 0, max: 0 };
  private readonly windowTimer: NodeJS.Timeout;

  constructor() {
    this.loopDelay.enable();
    this.windowTimer = setInterval(() => {
      this.lastWindow = {
        windowSeconds: LOOP_WINDOW_MS / 1000,
        p50: toMs(this.loopDelay.percentile(50)),
        p99: toMs(this.loopDelay.percentile(99)),
        max: toMs(this.loopDelay.max),
      };
      this.loopDelay.reset();
    }, LOOP_WINDOW_MS);
    this.windowTimer.unref();
  }

  /** Adds a readiness indicator; a second one with the same name replaces the first. */
  register(indicator: HealthIndicator): void {
    this.indicators.set(indicator.name, indicator);
  }

  unregister(name: string): void {
    this.indicators.delete(name);
  }

  /**
   * Makes an indicator (registered now or later, e.g. by the runtime's infrastructure) report-only: shown in
   * `/health`, not a condition of readiness.
   */
  reportOnly(name: string): void {
    this.reportOnlyNames.add(name);
  }

  private gates(indicator: HealthIndicator): boolean {
    return indicator.gatesReadiness !== false && !this.reportOnlyNames.has(indicator.name);
  }

  /** Readiness, checking every indicator at once (each bounded by a timeout). */
  async readiness(): Promise<HealthReport> {
    const entries = await Promise.all(
      [...this.indicators.values()].map(async (indicator): Promise<[string, HealthCheckResult]> => {
        const started = performance.now();
        const role = this.gates(indicator) ? {} : { gatesReadiness: false as const };
        try {
          await withTimeout(indicator.check(), CHECK_TIMEOUT_MS);
          return [indicator.name, { status: 'up', latencyMs: Math.round(performance.now() - started), ...role }];
        } catch (error) {
          return [
            indicator.name,
            {
              status: 'down',
              latencyMs: Math.round(performance.now() - started),
              error: error instanceof Error ? error.message : String(error),
              ...role,
            },
          ];
        }
      }),
    );
    const checks = Object.fromEntries(entries);
    const allUp = Object.values(checks).every((check) => check.status === 'up' || check.gatesReadiness === false);
    return {
      status: allUp && this.lifecycle === 'running' ? 'ok' : 'error',
      lifecycle: this.lifecycle,
      ...(this.fatal === undefined ? {} : { fatal: this.fatal }),
      checks,
    };
  }

  /** Readiness; kept as the name tools and older callers use. */
  report(): Promise<HealthReport> {
    return this.readiness();
  }

  liveness(): LivenessReport {
    return {
      status: this.fatal === undefined ? 'ok' : 'error',
      lifecycle: this.lifecycle,
      ...(this.fatal === undefined ? {} : { fatal: this.fatal }),
      eventLoopDelayMs: { ...this.lastWindow, currentMax: toMs(this.loopDelay.max) },
    };
  }

  /** True from the moment shutdown begins or the process is declared failed. */
  get accepting(): boolean {
    return this.lifecycle === 'running';
  }

  /** Readiness goes down now; intake stops after (see startService). */
  beginShutdown(): void {
    if (this.lifecycle !== 'running') return;
    this.lifecycle = 'shutting-down';
    this.emitChange();
  }

  /**
   * Declares the process failed: liveness and readiness go down at once and the fatal listeners run (the process
   * entry point stops the service and exits non-zero, so its supervisor restarts it). Only the first reason counts.
   */
  markFatal(reason: string): void {
    if (this.fatal !== undefined) return;
    this.fatal = reason;
    this.lifecycle = 'failed';
    this.emitChange();
    for (const listener of this.fatalListeners) listener(reason);
  }

  onFatal(listener: (reason: string) => void): void {
    this.fatalListeners.push(listener);
    if (this.fatal !== undefined) listener(this.fatal);
  }

  /** Called when the lifecycle changes (shutdown, failure), for gRPC health to follow without waiting for a poll. */
  onLifecycleChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  onModuleDestroy(): void {
    clearInterval(this.windowTimer);
    this.loopDelay.disable();
  }

  private emitChange(): void {
    for (const listener of this.changeListeners) listener();
  }
}
