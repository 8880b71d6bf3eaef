import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { OnlineViewUpdatedV1 } from '@keel/contracts';
import { type SignatureJoin } from '@keel/model-package';
import { onlineViewId, type OnlineViewRecord, OnlineViewStore, viewForUnhashedJoin } from '@keel/pipelines';
import { Infrastructure, ROOT_LOGGER, SERVICE_CONFIG } from '@keel/service-runtime';
import { ObjectTooLargeError } from '@keel/storage';
import { movableBuffers, WorkerPool } from '@keel/workers';
import { type Logger } from 'pino';
import { type ServingConfig } from '../config';
import { ModelStore } from '../models/model-store';
import { compactViewTask, OnlineViewIndex } from './compact-view';
import { type OnlineViewLimit, OnlineViewOverLimitError, OnlineViewUnavailableError } from './online-view-unavailable';

export { OnlineViewOverLimitError, OnlineViewUnavailableError } from './online-view-unavailable';

interface LoadedView {
  record: OnlineViewRecord;
  view: OnlineViewIndex;
}

/** Why the current version of a wanted view is not loaded: over one of serving's limits (said once per version). */
interface OverLimit {
  viewSha256: string;
  limit: OnlineViewLimit;
  message: string;
}

/** A view a model's join reads: the pipeline's view of the table built for the join's definition. */
interface WantedView {
  pipelineId: string;
  join: SignatureJoin;
}

/**
 * The key a join's view is held under: its record's `_id` (one per join definition); for a model trained before
 * signatures carried the hash, the table, key and features it takes, resolved to a view at each load.
 */
export function wantedViewKey(pipelineId: string, join: SignatureJoin): string {
  if (join.joinSha256) return onlineViewId(pipelineId, join.pipeline, join.joinSha256);
  return `${onlineViewId(pipelineId, join.pipeline)}|?${join.entityKey}:${[...join.features].sort().join(',')}`;
}

/**
 * The online views of the feature tables served models join (Feast's online store, in memory), one per joining
 * pipeline, table and join definition, each model version reading the one built for the join it was trained with
 * (its signature's joinSha256): loaded when a model with joins is first asked, then kept current by
 * `mlops.features.online-view.v1` (a consumer group per process, as every replica holds its own) and a periodic
 * resync of the current views (MODEL_RESYNC_INTERVAL_MS). Memory is bounded: all views together hold at most
 * SERVING_MAX_ONLINE_ENTITIES entities (a view two joins read counted once; loads in flight reserve theirs), and
 * a view file at most SERVING_MAX_ONLINE_VIEW_BYTES; a view over either is not loaded (the one it would replace keeps
 * serving; the refusal logged once per view version), and requests needing it fail with RESOURCE_EXHAUSTED naming
 * the view, the limit and its variable. Requests needing a view that is not loaded otherwise fail with UNAVAILABLE.
 */
@Injectable()
export class OnlineViews implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger: Logger;
  private readonly loaded = new Map<string, LoadedView>();
  /** Views asked for, by wantedViewKey: followed by events and resyncs even while not loaded. */
  private readonly tracked = new Map<string, WantedView>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly lastTried = new Map<string, number>();
  private readonly stopping = new AbortController();
  private storeOf?: OnlineViewStore;
  private following?: Promise<void>;
  private readonly askedAgain = new Set<string>();
  /**
   * Entities reserved by loads in flight, per view key (with the view's sha, so a view two keys load counts once): the
   * budget is checked and reserved in one turn of the loop, so concurrent loads cannot together exceed it.
   */
  private readonly reserved = new Map<string, { viewSha256: string; entities: number }>();
  /**
   * Per view key, the current version refused for a limit: requests answer RESOURCE_EXHAUSTED from it, and it is
   * logged once. One over SERVING_MAX_ONLINE_VIEW_BYTES is not downloaded again until it moves; one over
   * SERVING_MAX_ONLINE_ENTITIES is checked again at each try (unloading other views may make room).
   */
  private readonly overLimit = new Map<string, OverLimit>();

  constructor(
    private readonly infra: Infrastructure,
    @Inject(SERVICE_CONFIG) private readonly config: ServingConfig,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    /** The models served: views none of their versions reads any more are unloaded (absent in unit tests). */
    @Optional() private readonly models?: ModelStore,
    /** Where a view's JSON is parsed (absent in unit tests: parsed in place). */
    @Optional() private readonly workers?: WorkerPool,
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
      const { pipelineId, tablePipelineId, joinSha256 } = event.data;
      for (const [key, wanted] of this.tracked) {
        if (wanted.pipelineId !== pipelineId || wanted.join.pipeline !== tablePipelineId) continue;
        // A model without a hash may read any definition's view; one with a hash only its own.
        if (wanted.join.joinSha256 && wanted.join.joinSha256 !== joinSha256) continue;
        await this.refresh(key);
      }
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

  /** Entities held by every loaded view (a view loaded for several joins counted once). */
  get entities(): number {
    return this.entitiesBut();
  }

  /** Entities held by the loaded views and reserved by loads in flight, but what only `key` holds. */
  private entitiesBut(key?: string): number {
    const views = new Map<string, number>();
    for (const [other, { record }] of this.loaded) if (other !== key) views.set(record.viewSha256, record.entities);
    for (const [other, { viewSha256, entities }] of this.reserved) if (other !== key) views.set(viewSha256, entities);
    let total = 0;
    for (const entities of views.values()) total += entities;
    return total;
  }

  /**
   * The views a model's joins read (by table: a model joins a table once), loading those not loaded yet; UNAVAILABLE
   * for one that cannot be.
   */
  async viewsFor(pipelineId: string, joins: readonly SignatureJoin[]): Promise<Map<string, OnlineViewIndex>> {
    const views = new Map<string, OnlineViewIndex>();
    for (const join of joins) {
      const key = wantedViewKey(pipelineId, join);
      if (!this.loaded.has(key)) {
        const running = this.loading.get(key);
        if (running) {
          await running.catch(() => undefined);
        } else if (this.mayTry(key)) {
          this.tracked.set(key, { pipelineId, join });
          this.follow();
          // The store or the object store failing is the view being unavailable, not a fault of the call.
          await this.refresh(key).catch((error: unknown) =>
            this.logger.warn(
              { pipelineId, table: join.pipeline, err: (error as Error).message },
              'online view load failed',
            ),
          );
        }
      }
      const loaded = this.loaded.get(key);
      const over = this.overLimit.get(key);
      if (!loaded && over) throw new OnlineViewOverLimitError(over.message, over.limit);
      if (!loaded) {
        throw new OnlineViewUnavailableError(
          `the online view of feature table "${join.pipeline}" for model "${pipelineId}" ` +
            `${join.joinSha256 ? `(join ${join.joinSha256.slice(0, 12)}) ` : ''}is not loaded ` +
            '(not built yet, or for a model trained before join hashes only a view from before them that is no ' +
            'longer rebuilt)',
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
  private mayTry(key: string): boolean {
    const now = Date.now();
    if (now - (this.lastTried.get(key) ?? 0) < 1_000) return false;
    this.lastTried.set(key, now);
    return true;
  }

  /**
   * Loads the current view of a tracked join if it is not the one loaded; one load per view at a time. A refresh
   * asked for during a load (a view event that arrived meanwhile) makes it read the current record again when done,
   * so the update is not left to the next resync.
   */
  refresh(key: string): Promise<void> {
    const running = this.loading.get(key);
    if (running) {
      this.askedAgain.add(key);
      return running;
    }
    const load = (async () => {
      do {
        this.askedAgain.delete(key);
        await this.load(key);
      } while (this.askedAgain.has(key));
    })().finally(() => {
      this.loading.delete(key);
      this.askedAgain.delete(key);
    });
    this.loading.set(key, load);
    return load;
  }

  /** The current record of a wanted view: its definition's, or for a join without a hash, the one that covers it. */
  private async currentRecord({ pipelineId, join }: WantedView): Promise<OnlineViewRecord | null> {
    if (join.joinSha256) return this.store.current(pipelineId, join.pipeline, join.joinSha256);
    return viewForUnhashedJoin(await this.store.ofTable(join.pipeline), pipelineId, join) ?? null;
  }

  private async load(key: string): Promise<void> {
    const wanted = this.tracked.get(key);
    if (!wanted) return;
    const record = await this.currentRecord(wanted);
    // A refusal is of one version: once the record moved on, a failure to load the new one is UNAVAILABLE, not it.
    if (record && this.overLimit.get(key)?.viewSha256 !== record.viewSha256) this.overLimit.delete(key);
    const previous = this.loaded.get(key);
    if (!record || previous?.record.viewSha256 === record.viewSha256) return;
    // The same view loaded for another join (a model without a hash reading its successor's view) is shared.
    const shared = [...this.loaded.values()].find((loaded) => loaded.record.viewSha256 === record.viewSha256);
    if (shared) {
      // Unloaded while its record was read: no model needs it any more, and nothing would free it.
      if (this.tracked.has(key)) this.loaded.set(key, { record, view: shared.view });
      return;
    }
    const over = this.overLimit.get(key);
    if (over?.viewSha256 === record.viewSha256 && over.limit === 'SERVING_MAX_ONLINE_VIEW_BYTES') return;
    const others = this.entitiesBut(key);
    const max = this.config.SERVING_MAX_ONLINE_ENTITIES;
    if (others + record.entities > max) {
      this.refuse(key, wanted, record, 'SERVING_MAX_ONLINE_ENTITIES', {
        detail: `${record.entities} entities, with ${others} held by other views, over SERVING_MAX_ONLINE_ENTITIES = ${max}`,
        fields: { entities: record.entities, others, max },
      });
      return;
    }
    // Reserved in the same turn as the check: a concurrent load sees these entities as taken.
    this.reserved.set(key, { viewSha256: record.viewSha256, entities: record.entities });
    try {
      await this.download(key, wanted, record);
    } finally {
      this.reserved.delete(key);
    }
  }

  /** Downloads, parses and holds a view whose entities are reserved (load's second half). */
  private async download(key: string, { pipelineId, join }: WantedView, record: OnlineViewRecord): Promise<void> {
    const table = join.pipeline;
    const maxBytes = this.config.SERVING_MAX_ONLINE_VIEW_BYTES;
    let bytes: Buffer;
    try {
      bytes = await this.infra.objects.getVerified({ uri: record.viewUri, sha256: record.viewSha256, maxBytes });
    } catch (error) {
      if (!(error instanceof ObjectTooLargeError)) throw error;
      this.refuse(key, { pipelineId, join }, record, 'SERVING_MAX_ONLINE_VIEW_BYTES', {
        detail: `its file ${record.viewUri} is over SERVING_MAX_ONLINE_VIEW_BYTES = ${maxBytes} bytes`,
        fields: { viewUri: record.viewUri, maxBytes },
      });
      return;
    }
    // Parsed into a compact index on a worker thread: the event loop only receives its arrays.
    const view = this.workers
      ? new OnlineViewIndex(await this.workers.run(compactViewTask, bytes, { transferList: movableBuffers(bytes) }))
      : OnlineViewIndex.parse(bytes);
    if (!this.tracked.has(key)) return; // unloaded while it loaded: no model needs it any more
    this.loaded.set(key, { record, view });
    this.overLimit.delete(key);
    this.logger.info(
      { pipelineId, table, joinSha256: record.joinSha256, sequence: record.sequence, entities: record.entities },
      'online view loaded',
    );
  }

  /**
   * Records that the current version of a wanted view is over a limit, so requests needing it answer
   * RESOURCE_EXHAUSTED naming the view, the limit and its variable; logged once per view version and limit, not at
   * every request or resync that finds it so.
   */
  private refuse(
    key: string,
    { pipelineId, join }: WantedView,
    record: OnlineViewRecord,
    limit: OnlineViewLimit,
    { detail, fields }: { detail: string; fields: Record<string, unknown> },
  ): void {
    const previous = this.overLimit.get(key);
    const message =
      `the online view of feature table "${join.pipeline}" for model "${pipelineId}" ` +
      `(${record.joinSha256 ? `join ${record.joinSha256.slice(0, 12)}, ` : ''}table version ${record.sequence}) ` +
      `is not loaded: ${detail}; raise ${limit} or make the view smaller`;
    this.overLimit.set(key, { viewSha256: record.viewSha256, limit, message });
    if (previous?.viewSha256 === record.viewSha256 && previous.limit === limit) return;
    this.logger.error(
      { pipelineId, table: join.pipeline, joinSha256: record.joinSha256, sequence: record.sequence, ...fields },
      `online view not loaded: over ${limit}`,
    );
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

  /**
   * Unloads the views no served model version reads any more (its versions undeployed or retired): they stop being
   * followed and free their memory and their share of SERVING_MAX_ONLINE_ENTITIES. Run at every resync.
   */
  unloadUnused(): void {
    if (!this.models) return;
    const needed = new Set<string>();
    for (const model of this.models.all()) {
      for (const join of model.pkg.signature.joins ?? []) needed.add(wantedViewKey(model.pipelineId, join));
    }
    for (const [key, { pipelineId, join }] of this.tracked) {
      if (needed.has(key)) continue;
      this.tracked.delete(key);
      this.lastTried.delete(key);
      this.overLimit.delete(key);
      if (this.loaded.delete(key)) {
        this.logger.info({ pipelineId, table: join.pipeline, joinSha256: join.joinSha256 }, 'online view unloaded');
      }
    }
  }

  /** Loads the current view of every view asked for, where it moved; a failure is logged (the next one retries). */
  private async resync(): Promise<void> {
    this.unloadUnused();
    for (const [key, { pipelineId, join }] of this.tracked) {
      await this.refresh(key).catch((error: unknown) =>
        this.logger.warn(
          { pipelineId, table: join.pipeline, err: (error as Error).message },
          'online view resync failed',
        ),
      );
    }
  }
}
