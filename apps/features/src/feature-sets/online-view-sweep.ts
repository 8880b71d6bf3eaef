import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { OnlineViewStore } from '@keel/pipelines';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { type Logger } from 'pino';

/**
 * How often each replica sweeps. Tombstones pile up at one per view build (a few per validated table version), and
 * a sweep removes up to a thousand: hourly keeps far ahead of any real rate, for one scan of the revisions an hour.
 */
export const ONLINE_VIEW_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Keeps `online_view_revisions` bounded: every ONLINE_VIEW_SWEEP_INTERVAL_MS, the revisions of view records
 * tombstoned longer ago than their retention are removed (OnlineViewStore.sweepTombstones: by age, in a bounded batch,
 * idempotent, so every replica may sweep without a lease; a lease would itself leave a document per sweep). The store
 * has no TTL indexes (docs/design/repositories.md), hence a sweep.
 */
@Injectable()
export class OnlineViewSweep implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger: Logger;
  private timer?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly infra: Infrastructure,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'online-view-sweep' });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.sweepLogged());
    }, ONLINE_VIEW_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One sweep: how many tombstones it removed. */
  sweep(now = new Date()): Promise<number> {
    return new OnlineViewStore(this.infra.mongo).sweepTombstones(now);
  }

  private async sweepLogged(): Promise<void> {
    try {
      const removed = await this.sweep();
      if (removed > 0) this.logger.info({ removed }, 'online view tombstones swept');
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'online view tombstone sweep failed; retried next interval');
    }
  }
}
