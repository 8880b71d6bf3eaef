import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ONLINE_VIEW_TOMBSTONES_PER_SWEEP, OnlineViewStore } from '@keel/pipelines';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { type Logger } from 'pino';

/**
 * How often each replica sweeps. Tombstones pile up at one per view build past the fourth, i.e. per validated table
 * version and join definition: a table cut every few seconds leaves thousands an hour, so a sweep takes batches
 * while they come back full (up to SWEEP_MAX_BATCHES).
 */
export const ONLINE_VIEW_SWEEP_INTERVAL_MS = 60 * 60 * 1000;
/** Batches of ONLINE_VIEW_TOMBSTONES_PER_SWEEP one sweep removes at most: its work stays bounded. */
const SWEEP_MAX_BATCHES = 20;
/** The first sweep runs this long (at most) after start-up, at random: replicas restarted hourly still sweep. */
const FIRST_SWEEP_WITHIN_MS = 10 * 60 * 1000;

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
  private first?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();
  private store?: OnlineViewStore;

  constructor(
    private readonly infra: Infrastructure,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'online-view-sweep' });
  }

  onApplicationBootstrap(): void {
    const run = () => {
      this.running = this.running.then(() => this.sweepLogged());
    };
    this.first = setTimeout(run, Math.random() * FIRST_SWEEP_WITHIN_MS);
    this.timer = setInterval(run, ONLINE_VIEW_SWEEP_INTERVAL_MS);
    this.first.unref();
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearTimeout(this.first);
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * One sweep: batches while they come back full, at most SWEEP_MAX_BATCHES; how many tombstones it removed. (A
   * revision left half-tombstoned by a crash between dropping its state and marking it is not matched: a rare,
   * single-document leak.)
   */
  async sweep(now = new Date()): Promise<number> {
    const store = (this.store ??= new OnlineViewStore(this.infra.mongo));
    let removed = 0;
    for (let batch = 0; batch < SWEEP_MAX_BATCHES; batch++) {
      const swept = await store.sweepTombstones(now);
      removed += swept;
      if (swept < ONLINE_VIEW_TOMBSTONES_PER_SWEEP) break;
    }
    return removed;
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
