import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { OnlineViewUpdatedV1 } from '@keel/contracts';
import { type OnlineView } from '@keel/datasets';
import { type SignatureJoin } from '@keel/model-package';
import { onlineViewId, type OnlineViewRecord, OnlineViewStore } from '@keel/pipelines';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type ServingConfig } from '../config';
import { OnlineViewUnavailableError } from './online-view-unavailable';

export { OnlineViewUnavailableError } from './online-view-unavailable';

interface LoadedView {
  record: OnlineViewRecord;
  view: OnlineView;
}

/**
 * The online views of the feature tables served models join (Feast's online store, in memory): loaded when a model
 * with joins is first asked, then kept current by `mlops.features.online-view.v1` (a consumer group per process,
 * as every replica holds its own) and a periodic resync of the current views (MODEL_RESYNC_INTERVAL_MS). Memory is
 * bounded: all views together hold at most SERVING_MAX_ONLINE_ENTITIES entities; a view that would exceed it is not
 * loaded (the one it would replace keeps serving), and requests needing a view that is not loaded fail with
 * UNAVAILABLE, naming it.
 */
@Injectable()
export class OnlineViews implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly loaded = new Map<string, LoadedView>();
  /** Views asked for: followed by events and resyncs even while not loaded. */
  private readonly tracked = new Map<string, { pipelineId: string; table: string }>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly lastTried = new Map<string, number>();
  private readonly stopping = new AbortController();
  private storeOf?: OnlineViewStore;
  private following?: Promise<void>;
  private readonly askedAgain = new Set<string>();

  constructor(
    private readonly infra: Infrastructure,
    @Inject(SERVICE_CONFIG) private readonly config: ServingConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'online-views' });
  }

  private get store(): OnlineViewStore {
    return (this.storeOf ??= new OnlineViewStore(this.infra.mongo));
  }

  onApplicationBootstrap(): void {
    void this.resyncPeriodically();
  }

  /**
   * Follows view events from the first time a model with joins asks for a view: serving without such models holds no
   * extra consumer group and does not wait for one at start. Not awaited by the call; events before it has joined
   * are caught by the load the call does and by the periodic resync.
   */
  private follow(): void {
    if (this.following) return;
    const instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const consumer = this.infra.createConsumer(`online-views-${instance}`, {
      fromBeginning: false,
      gatesReadiness: false,
      ephemeralGroup: true,
    });
    consumer.on(OnlineViewUpdatedV1, async (event) => {
      const id = onlineViewId(event.data.pipelineId, event.data.tablePipelineId);
      if (this.tracked.has(id)) await this.refresh(event.data.pipelineId, event.data.tablePipelineId);
    });
    // Once in the group, a resync catches a view recorded while it was joining (its event came before the group).
    this.following = consumer
      .start()
      .then(() => this.resync())
      .catch((error: unknown) => {
        this.logger.error({ err: (error as Error).message }, 'online view events not followed: resyncs only');
      });
  }

  onApplicationShutdown(): void {
    this.stopping.abort();
  }

  /** Entities held by every loaded view. */
  get entities(): number {
    let total = 0;
    for (const { record } of this.loaded.values()) total += record.entities;
    return total;
  }

  /** The views a model's joins read, loading those not loaded yet; UNAVAILABLE for one that cannot be. */
  async viewsFor(pipelineId: string, joins: readonly SignatureJoin[]): Promise<Map<string, OnlineView>> {
    const views = new Map<string, OnlineView>();
    for (const join of joins) {
      const id = onlineViewId(pipelineId, join.pipeline);
      if (!this.loaded.has(id)) {
        const running = this.loading.get(id);
        if (running) {
          await running.catch(() => undefined);
        } else if (this.mayTry(id)) {
          this.tracked.set(id, { pipelineId, table: join.pipeline });
          this.follow();
          // The store or the object store failing is the view being unavailable, not a fault of the call.
          await this.refresh(pipelineId, join.pipeline).catch((error: unknown) =>
            this.logger.warn(
              { pipelineId, table: join.pipeline, err: (error as Error).message },
              'online view load failed',
            ),
          );
        }
      }
      const loaded = this.loaded.get(id);
      if (!loaded) {
        throw new OnlineViewUnavailableError(
          `the online view of feature table "${join.pipeline}" for model "${pipelineId}" is not loaded ` +
            '(not built yet, or over SERVING_MAX_ONLINE_ENTITIES)',
        );
      }
      views.set(join.pipeline, loaded.view);
    }
    return views;
  }

  /**
   * Whether a request may look for a view that is not loaded: at most once a second per view, so calls that keep
   * arriving while it is missing answer UNAVAILABLE without a database read each.
   */
  private mayTry(id: string): boolean {
    const now = Date.now();
    if (now - (this.lastTried.get(id) ?? 0) < 1_000) return false;
    this.lastTried.set(id, now);
    return true;
  }

  /**
   * Loads the current view if it is not the one loaded; one load per view at a time. A refresh asked for during a
   * load (a view event that arrived meanwhile) makes it read the current record again when done, so the update is
   * not left to the next resync.
   */
  refresh(pipelineId: string, table: string): Promise<void> {
    const id = onlineViewId(pipelineId, table);
    const running = this.loading.get(id);
    if (running) {
      this.askedAgain.add(id);
      return running;
    }
    const load = (async () => {
      do {
        this.askedAgain.delete(id);
        await this.load(id, pipelineId, table);
      } while (this.askedAgain.has(id));
    })().finally(() => {
      this.loading.delete(id);
      this.askedAgain.delete(id);
    });
    this.loading.set(id, load);
    return load;
  }

  private async load(id: string, pipelineId: string, table: string): Promise<void> {
    const record = await this.store.current(pipelineId, table);
    const previous = this.loaded.get(id);
    if (!record || previous?.record.viewSha256 === record.viewSha256) return;
    const others = this.entities - (previous?.record.entities ?? 0);
    if (others + record.entities > this.config.SERVING_MAX_ONLINE_ENTITIES) {
      this.logger.error(
        { pipelineId, table, entities: record.entities, others, max: this.config.SERVING_MAX_ONLINE_ENTITIES },
        'online view not loaded: over SERVING_MAX_ONLINE_ENTITIES',
      );
      return;
    }
    const bytes = await this.infra.objects.getVerified({ uri: record.viewUri, sha256: record.viewSha256 });
    const view = JSON.parse(bytes.toString()) as OnlineView;
    this.loaded.set(id, { record, view });
    this.logger.info({ pipelineId, table, sequence: record.sequence, entities: record.entities }, 'online view loaded');
  }

  private async resyncPeriodically(): Promise<void> {
    for (;;) {
      try {
        await sleep(this.config.MODEL_RESYNC_INTERVAL_MS, undefined, { signal: this.stopping.signal });
      } catch {
        return; // shutdown
      }
      await this.resync();
    }
  }

  /** Loads the current view of every view asked for, where it moved; a failure is logged (the next one retries). */
  private async resync(): Promise<void> {
    for (const { pipelineId, table } of this.tracked.values()) {
      await this.refresh(pipelineId, table).catch((error: unknown) =>
        this.logger.warn({ pipelineId, table, err: (error as Error).message }, 'online view resync failed'),
      );
    }
  }
}
