import { Inject, Injectable } from '@nestjs/common';
import {
  derivedId,
  type EventData,
  isFeatureTable,
  joinDefinitionSha256,
  OnlineViewUpdatedV1,
  type PipelineSpec,
  type PipelineSpecV1,
} from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { type OnlineViewDefinition, type OnlineViewRecord, OnlineViewStore } from '@keel/pipelines';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { type OnlineViewJoin } from '@keel/datasets';
import { asBuffer, movableBuffers, WorkerPool } from '@keel/workers';
import { type Logger } from 'pino';
import { IncrementsRepository } from './increments.repository';
import { onlineViewTask, type UnusablePreviousView } from './online-view.task';

/**
 * Keeps the online views of joined feature tables (Feast's materialization into its online store): for every
 * pipeline that joins a table and every definition of that join (joinDefinitionSha256), the latest values per entity
 * as of the table's newest validated version, stored content-addressed, recorded as current and announced, so
 * serving fills a request's joined features from the view of the definition the model was trained with. Moved on
 * whenever a table version is validated (from the recorded view and the versions since, else from every version),
 * and built when a joining pipeline first materializes a feature set under a definition (its spec may be applied
 * after the table's versions arrived).
 */
@Injectable()
export class OnlineViewsService {
  private readonly logger: Logger;
  private storeOf?: OnlineViewStore;

  constructor(
    private readonly infra: Infrastructure,
    private readonly increments: IncrementsRepository,
    private readonly workers: WorkerPool,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
  ) {
    this.logger = rootLogger.child({ component: 'online-views' });
  }

  /** Made on first use: only pipelines with joins need it. */
  private get store(): OnlineViewStore {
    return (this.storeOf ??= new OnlineViewStore(this.infra.mongo));
  }

  /**
   * A table's new version: every view of it moves to that version, each join definition apart: those of the specs
   * joining it now, and those recorded for earlier definitions (a model trained on an earlier spec, the champion while
   * a challenger on the new one rolls out, still reads its own view).
   */
  async onTableVersion(tablePipelineId: string): Promise<void> {
    // A scan of the applied specs and of the table's view records, once per validated version: both are few
    // (docs/design/repositories.md).
    const definitions = viewsToBuild(
      (await this.infra.pipelines.list()).map(({ spec }) => spec),
      await this.store.ofTable(tablePipelineId),
      tablePipelineId,
    );
    for (const { pipelineId, join } of definitions) {
      try {
        // Up to the table's newest recorded version, not this event's: versions validate in parallel, so one
        // validated after a higher-numbered one must still reach the view (recorded as the same sequence with more
        // versions in it).
        await this.build(pipelineId, join, Number.MAX_SAFE_INTEGER);
      } catch (error) {
        // A join the table cannot serve (a column it lacks) must not hold back the table's own pipeline: its view
        // stays where it was, and the joining pipeline's next feature set fails naming the column.
        if (isRetryable(error)) throw error;
        this.logger.warn(
          { pipelineId, table: tablePipelineId, err: (error as Error).message },
          'online view not rebuilt',
        );
      }
    }
  }

  /**
   * A joining pipeline materialized: the view of each of its joins, as the spec defines it now, exists up to at
   * least the cut it joined (a join changed since gets a view of its own, so a model trained with a feature the
   * join gained finds it).
   */
  async ensure(spec: PipelineSpecV1, cuts: readonly { pipelineId: string; sequence: number }[]): Promise<void> {
    for (const join of spec.joins ?? []) {
      const cut = cuts.find((c) => c.pipelineId === join.pipeline)?.sequence ?? 0;
      const current = await this.store.current(spec.id, join.pipeline, joinDefinitionSha256(join));
      const upTo = viewBuildNeeded(current, cut);
      if (upTo !== undefined) await this.build(spec.id, join, upTo);
    }
  }

  /**
   * Builds the view of one definition up to table version `sequence` and records it under the definition and its
   * twins. From the recorded view and the versions since when it can (see extendView), else from every version:
   * a table gets a version every few minutes, and reading all of them at each one grows without bound.
   */
  private async build(pipelineId: string, join: ViewJoin, sequence: number): Promise<void> {
    const attributes = { [KeelAttr.PIPELINE_ID]: pipelineId };
    await withSpan('build online view', attributes, async () => {
      const table = (await this.infra.pipelines.get(join.pipeline)).spec;
      const featureTime = join.featureTime ?? join.builtFeatureTime ?? table.timeColumn;
      if (!featureTime) return;
      const viewJoin: OnlineViewJoin = {
        entityKey: join.entityKey,
        featureTime,
        ...(join.createdTime ? { createdTime: join.createdTime } : {}),
        features: join.features,
      };
      const build: ViewBuild = { pipelineId, join, viewJoin, sequence, now: Date.now() };
      const built = (await this.extendView(build)) ?? (await this.buildFromEveryVersion(build));
      if (!built) return;
      // The same view under each definition it serves: the join's, and its twins' (see viewsToBuild).
      for (const definition of [join, ...(join.twins ?? [])]) await this.announce(pipelineId, definition, built);
    });
  }

  /**
   * The view from the recorded one of this definition and the table versions since, or undefined when it cannot be
   * (then every version is read): none recorded, or recorded before builds kept what this needs (version count,
   * build time), on another feature time, later than `now` (another replica's clock ahead: rows it dropped may be
   * current at `now`), missing a version validated after a higher-numbered one (fewer versions up to its sequence
   * than are recorded now), or its object unreadable or not a view of these features.
   */
  private async extendView({ pipelineId, join, viewJoin, sequence, now }: ViewBuild): Promise<BuiltView | undefined> {
    const record = await this.store.current(pipelineId, join.pipeline, joinDefinitionSha256(join));
    if (
      !record ||
      record.versionCount === undefined ||
      record.builtAtMs === undefined ||
      record.builtAtMs > now ||
      record.builtFeatureTime !== viewJoin.featureTime ||
      record.sequence > sequence ||
      (await this.increments.countUpTo(join.pipeline, record.sequence)) !== record.versionCount
    ) {
      return undefined;
    }
    const recorded: BuiltView = {
      upTo: { datasetVersionId: record.upToDatasetVersionId, sequence: record.sequence },
      stored: { uri: record.viewUri, sha256: record.viewSha256 },
      entities: record.entities,
      featureTime: viewJoin.featureTime,
      versionCount: record.versionCount,
      builtAtMs: record.builtAtMs,
      incremental: true,
    };
    const since = await this.increments.between(join.pipeline, record.sequence, sequence);
    // Nothing new (a redelivery): the recorded view is the one to announce (and to record for a twin behind it).
    if (since.length === 0) return recorded;
    let previous: Buffer;
    try {
      previous = await this.infra.objects.getVerified({ uri: record.viewUri, sha256: record.viewSha256 });
    } catch (error) {
      // Gone or not matching its hash: every version is read instead (an outage fails that read too, and is retried).
      this.logger.warn({ pipelineId, err: (error as Error).message }, 'previous view unread: read every version');
      return undefined;
    }
    const view = await this.encodeAndStore(pipelineId, viewJoin, since, now, previous);
    if ('previousUnusable' in view) {
      this.logger.warn({ pipelineId, reason: view.previousUnusable }, 'previous view not extended: read every version');
      return undefined;
    }
    return {
      ...view,
      upTo: since[since.length - 1],
      featureTime: viewJoin.featureTime,
      versionCount: record.versionCount + since.length,
      builtAtMs: now,
      incremental: true,
    };
  }

  /** The view from every version of the table up to `sequence` (none yet: undefined). */
  private async buildFromEveryVersion({
    pipelineId,
    join,
    viewJoin,
    sequence,
    now,
  }: ViewBuild): Promise<BuiltView | undefined> {
    const versions = await this.increments.upTo(join.pipeline, sequence);
    if (versions.length === 0) return undefined;
    const view = await this.encodeAndStore(pipelineId, viewJoin, versions, now);
    if ('previousUnusable' in view) throw new Error('a view built without a previous one reported it unusable');
    return {
      ...view,
      upTo: versions[versions.length - 1],
      featureTime: viewJoin.featureTime,
      versionCount: versions.length,
      builtAtMs: now,
      incremental: false,
    };
  }

  /**
   * Reads the versions (verified), builds the view on a worker (extending `previous`, when given) and stores it; or
   * says why `previous` could not be extended.
   */
  private async encodeAndStore(
    pipelineId: string,
    join: OnlineViewJoin,
    versions: readonly { uri: string; sha256: string }[],
    now: number,
    previous?: Buffer,
  ): Promise<Pick<BuiltView, 'stored' | 'entities'> | UnusablePreviousView> {
    const datasets = await Promise.all(
      versions.map(({ uri, sha256 }) => this.infra.objects.getVerified({ uri, sha256 })),
    );
    const view = await this.workers.run(
      onlineViewTask,
      { join, datasets, now, ...(previous ? { previous } : {}) },
      {
        transferList: movableBuffers(...(previous ? [previous] : []), ...datasets),
        attributes: { [KeelAttr.PIPELINE_ID]: pipelineId },
      },
    );
    if ('previousUnusable' in view) return view;
    const stored = await this.infra.objects.putContentAddressed(
      BUCKETS.features,
      `${pipelineId}/online-views`,
      asBuffer(view.bytes),
      { extension: '.json', contentType: 'application/json' },
    );
    return { stored, entities: view.entities };
  }

  /** Records a built view as current for one definition and announces it (see build). */
  private async announce(pipelineId: string, join: ViewJoin, built: BuiltView): Promise<void> {
    const { upTo, stored, entities, featureTime, versionCount, builtAtMs, incremental } = built;
    const joinSha256 = joinDefinitionSha256(join);
    const data = {
      pipelineId,
      tablePipelineId: join.pipeline,
      upToDatasetVersionId: upTo.datasetVersionId,
      sequence: upTo.sequence,
      viewUri: stored.uri,
      viewSha256: stored.sha256,
      joinSha256,
      entities,
    } as EventData<typeof OnlineViewUpdatedV1>;
    const recorded = await this.store.record({
      ...data,
      join: viewDefinition(join),
      versionCount,
      builtFeatureTime: featureTime,
      builtAtMs,
    });
    // Announced whenever the current record is this view, not only by the call that recorded it: a redelivery after
    // a crash (or a failed publish) between recording and announcing, and a replica that lost the record to an
    // identical build, announce it again (the event id is the view's, so a repeat is harmless).
    if (!recorded && (await this.store.current(pipelineId, join.pipeline, joinSha256))?.viewSha256 !== stored.sha256) {
      return;
    }
    await this.infra.publisher.publish(OnlineViewUpdatedV1, data, {
      id: `online-view-${derivedId('view', [pipelineId, join.pipeline, joinSha256, stored.sha256])}`,
    });
    this.logger.info(
      { pipelineId, table: join.pipeline, joinSha256, sequence: upTo.sequence, entities, incremental },
      'online view built',
    );
  }
}

/** One view build: of a joining pipeline's join definition, up to a table version, at a wall-clock time. */
interface ViewBuild {
  pipelineId: string;
  join: ViewJoin;
  /** The join as the worker builds it (feature time resolved). */
  viewJoin: OnlineViewJoin;
  sequence: number;
  now: number;
}

/** A view built and stored, to record under each definition it serves. */
interface BuiltView {
  upTo: { datasetVersionId: string; sequence: number };
  stored: { uri: string; sha256: string };
  entities: number;
  featureTime: string;
  versionCount: number;
  /** The wall-clock time it was built at (its `now`): a later build may extend it only at this time or after. */
  builtAtMs: number;
  /** Whether it extended the recorded view (false: read every version). */
  incremental: boolean;
}

/**
 * A join as a view is built from it: the table and the definition (the hash covers exactly these), and for a
 * definition without a feature time rebuilt from its record, the column its view was first built with.
 */
type ViewJoin = OnlineViewDefinition & {
  pipeline: string;
  builtFeatureTime?: string;
  /** Recorded definitions that build the very same view (see viewsToBuild): recorded and announced with it. */
  twins?: ViewJoin[];
};

/** The definition a view record keeps, without keys left undefined (the document store keeps none). */
function viewDefinition(join: ViewJoin): OnlineViewDefinition {
  return {
    entityKey: join.entityKey,
    ...(join.featureTime ? { featureTime: join.featureTime } : {}),
    ...(join.createdTime ? { createdTime: join.createdTime } : {}),
    features: [...join.features],
  };
}

/**
 * The views of a table to rebuild at its new version, one per joining pipeline and join definition: each current
 * spec's join of the table, then each recorded view's definition not among them (records from before views kept
 * their definition are left: nothing says what to build).
 */
export function viewsToBuild(
  specs: readonly PipelineSpec[],
  records: readonly OnlineViewRecord[],
  tablePipelineId: string,
): { pipelineId: string; join: ViewJoin }[] {
  const builds = new Map<string, { pipelineId: string; join: ViewJoin }>();
  for (const spec of specs) {
    for (const join of isFeatureTable(spec) ? [] : (spec.joins ?? [])) {
      if (join.pipeline !== tablePipelineId) continue;
      builds.set(`${spec.id}|${joinDefinitionSha256(join)}`, { pipelineId: spec.id, join });
    }
  }
  const tableTimeColumn = specs.find((spec) => spec.id === tablePipelineId)?.timeColumn;
  for (const record of records) {
    if (!record.join || record.tablePipelineId !== tablePipelineId) continue;
    const join: ViewJoin = {
      pipeline: tablePipelineId,
      ...record.join,
      ...(record.builtFeatureTime ? { builtFeatureTime: record.builtFeatureTime } : {}),
    };
    const key = `${record.pipelineId}|${joinDefinitionSha256(join)}`;
    if (builds.has(key)) continue;
    // A definition recorded before feature times were (none named) and the same join with its feature time recorded
    // (the spec re-applied since) build the very same view under two hashes: built once, recorded under both.
    const featureTime = join.featureTime ?? join.builtFeatureTime ?? tableTimeColumn;
    const twinOf =
      featureTime === undefined
        ? undefined
        : builds.get(`${record.pipelineId}|${joinDefinitionSha256({ ...join, featureTime })}`);
    if (!join.featureTime && twinOf) (twinOf.join.twins ??= []).push(join);
    else builds.set(key, { pipelineId: record.pipelineId, join });
  }
  return [...builds.values()];
}

/**
 * Up to which table version a joining pipeline's view of one join definition must be built, or undefined when the
 * current one will do: none yet, or one short of the cut the pipeline joined.
 */
export function viewBuildNeeded(current: { sequence: number } | null, cut: number): number | undefined {
  if (cut <= 0) return undefined;
  return !current || current.sequence < cut ? cut : undefined;
}
