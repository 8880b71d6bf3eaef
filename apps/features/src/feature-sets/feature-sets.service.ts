import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  type DatasetValidatedV1,
  derivedId,
  type EventData,
  FeaturesMaterializedV1,
  isFeatureTable,
  joinDefinitionSha256,
  type PipelineSpecV1,
  type TrainingRequestedV2,
  type TrainingTrigger,
} from '@keel/contracts';
import { incrementsToLoad, type SnapshotIncrement, type SnapshotManifest, snapshotRef } from '@keel/datasets';
import { isRetryable, NonRetryableError } from '@keel/messaging';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { asBuffer, movableBuffers, WorkerPool } from '@keel/workers';
import { trace } from '@opentelemetry/api';
import { type Logger } from 'pino';
import { featureSetTask, type JoinInput } from './feature-set.task';
import { joinReads, type TimeBounds, windowTimeBounds } from './join-pruning';
import { timeRangeTask, type VersionTimeRange } from './time-range.task';
import { onlineViewTask } from './online-view.task';
import { FeatureSetsRepository } from './feature-sets.repository';
import {
  type IncrementRecord,
  IncrementsRepository,
  type JoinCut,
  joinCutAt,
  versionsAtCut,
} from './increments.repository';
import { OnlineViewsService } from './online-views.service';

type DatasetValidated = EventData<typeof DatasetValidatedV1>;
type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;
type TrainingRequested = EventData<typeof TrainingRequestedV2>;

/** How many older versions without a time range get one per validated version (see backfillTimeRanges). */
export const TIME_RANGE_BACKFILL_PER_VERSION = 4;

/** A recorded version as a snapshot manifest names it (what the worker gets). */
function snapshotIncrement({ datasetVersionId, sha256, uri, sequence, rowCount }: IncrementRecord): SnapshotIncrement {
  return { datasetVersionId, sha256, uri, sequence, rowCount };
}

/** A snapshot is named by its pipeline and its manifest's content. */
export function snapshotId(pipelineId: string, manifestSha256: string): string {
  return derivedId('snap', [pipelineId, manifestSha256]);
}

/**
 * A feature set is the split rows and the fitted transform of one snapshot (a training window resolved over a
 * pipeline's dataset versions). Two pipelines fed identical data and specs store byte-identical feature sets, but each
 * materializes its own feature set.
 */
export function featureSetId(
  materialized: Pick<FeaturesMaterialized, 'pipelineId' | 'featureSetSha256' | 'transformSha256'> & {
    snapshotId: string;
  },
): FeaturesMaterialized['featureSetId'] {
  return derivedId('fs', [
    materialized.pipelineId,
    materialized.snapshotId,
    materialized.featureSetSha256,
    materialized.transformSha256,
  ]) as FeaturesMaterialized['featureSetId'];
}

/**
 * The joins a feature set was built with, as `features.materialized` names them: per table, the definition's hash
 * (which online view a model trained on it reads) and the table version its cut reached.
 */
export function joinsMaterialized(
  spec: PipelineSpecV1,
  joins: readonly Pick<JoinInput, 'pipelineId' | 'increments'>[],
): NonNullable<FeaturesMaterialized['joins']> {
  return joins.map((join) => {
    const declared = spec.joins?.find((candidate) => candidate.pipeline === join.pipelineId);
    if (!declared) throw new Error(`joined table ${join.pipelineId} is not among the spec's joins`);
    return {
      tablePipelineId: join.pipelineId as FeaturesMaterialized['pipelineId'],
      joinSha256: joinDefinitionSha256(declared),
      upToSequence: join.increments.at(-1)?.sequence ?? 0,
    };
  });
}

/**
 * The announcement of a feature set under the spec version features applied (training depends on the spec, so the
 * same feature set announced under a changed spec trains again, while a redelivery is one event), and for a training
 * request, under that request: every request gets its answer, and a redelivered request the same one.
 */
export function featuresMaterializedEventId(featureSetId: string, specVersion: number, requestId?: string): string {
  const base = `features-materialized-${featureSetId}-spec${specVersion}`;
  return requestId === undefined ? base : `${base}-${derivedId('request', [requestId])}`;
}

/**
 * Turns a pipeline's validated dataset versions into feature sets: the spec's training window resolved into a
 * snapshot manifest, its rows split, the transform fitted on train, all three stored content-addressed, metadata
 * upserted and `features.materialized` published. Every new version materializes the window up to it; a training
 * request materializes the window up to the newest version when the request first arrived. Every effect is keyed by
 * the pipeline and the content, so a redelivered event repeats the same writes and the same event id.
 */
@Injectable()
export class FeatureSetsService implements OnApplicationBootstrap {
  private readonly logger: Logger;

  constructor(
    private readonly infra: Infrastructure,
    private readonly repository: FeatureSetsRepository,
    private readonly increments: IncrementsRepository,
    @Inject(ROOT_LOGGER) rootLogger: Logger,
    private readonly workers: WorkerPool,
    private readonly onlineViews: OnlineViewsService,
  ) {
    this.logger = rootLogger.child({ component: 'feature-sets' });
  }

  /** A worker thread compiles its modules on its first task, which takes seconds: paid at start-up, not by a job. */
  async onApplicationBootstrap(): Promise<void> {
    await this.workers.warm(featureSetTask);
    await this.workers.warm(onlineViewTask);
    await this.workers.warm(timeRangeTask);
  }

  /**
   * A new validated version: recorded as an increment, then the window up to it is materialized, unless the pipeline
   * has a retrain policy and this is not its first version: the policy (in monitoring) then decides when new data
   * retrains, through a training request. A feature table's version is recorded and moves the online views of the
   * pipelines joining it, and nothing more: a table has no feature set and no model.
   */
  async onDatasetValidated(event: DatasetValidated): Promise<FeaturesMaterialized | null> {
    const { spec } = await this.infra.pipelines.get(event.pipelineId);
    if (isFeatureTable(spec)) {
      await this.recordIncrement(event, undefined, await this.timeRangeOf(event, spec.timeColumn));
      await this.backfillTimeRanges(event.pipelineId, spec.timeColumn);
      await this.onlineViews.onTableVersion(event.pipelineId);
      this.logger.info(
        { pipelineId: event.pipelineId, datasetVersionId: event.datasetVersionId },
        'feature table version recorded: online views moved, no feature set (a table has no model)',
      );
      return null;
    }
    const joinCuts = await this.joinCuts(spec);
    // A table's versions and a joining pipeline's: their time ranges let a window's join skip table versions.
    const ranged = Boolean(spec.joins?.length || spec.entityColumns?.length);
    const timeRange = ranged ? await this.timeRangeOf(event, spec.timeColumn) : undefined;
    const increment = await this.recordIncrement(event, joinCuts, timeRange);
    if (ranged) await this.backfillTimeRanges(event.pipelineId, spec.timeColumn);
    // A version of a feature table (a pipeline declaring entity keys) other pipelines may join: their online views
    // move to it. Other pipelines skip this entirely.
    if (spec.entityColumns?.length) await this.onlineViews.onTableVersion(event.pipelineId);
    if (spec.retrainPolicy && increment.sequence > 1) return null;
    return this.materialize(increment, { reason: 'new-data' }, increment.joinCuts);
  }

  /**
   * The version's time range of `column` (its timeColumn), read on a worker when the version is first recorded (one
   * read of one column per version; a redelivery of a recorded version reads nothing). Undefined without a time
   * column and for a version recorded already; bytes that cannot give one give an unreadable range (the version is
   * then always read, and fails there as it did before).
   */
  private async timeRangeOf(
    event: DatasetValidated,
    column: string | undefined,
  ): Promise<VersionTimeRange | undefined> {
    if (!column || (await this.increments.get(event.datasetVersionId))) return undefined;
    const version = { pipelineId: event.pipelineId, uri: event.datasetUri, sha256: event.datasetSha256 };
    return this.readTimeRange(version, column);
  }

  /**
   * Versions recorded before ranges were (or whose range could not be recorded then) get theirs a few at a time, newest
   * first, as the pipeline's next versions arrive: a table or window of old versions is pruned too once they have one,
   * with the work of each event bounded. Best effort: a read that fails (an outage) leaves it for a later event.
   */
  private async backfillTimeRanges(pipelineId: string, column: string | undefined): Promise<void> {
    if (!column) return;
    for (const version of await this.increments.withoutTimeRange(pipelineId, TIME_RANGE_BACKFILL_PER_VERSION)) {
      try {
        await this.increments.recordTimeRange(version.datasetVersionId, await this.readTimeRange(version, column));
      } catch (error) {
        this.logger.warn(
          { pipelineId, datasetVersionId: version.datasetVersionId, err: (error as Error).message },
          'time range not backfilled',
        );
      }
    }
  }

  /**
   * A version's range of `column`, reading that column on a worker. Bytes that fail verification or are too large
   * give an unreadable one (the version fails where it did before, when a window reads it, not here); an outage is
   * retried.
   */
  private async readTimeRange(
    version: { pipelineId: string; uri: string; sha256: string },
    column: string,
  ): Promise<VersionTimeRange> {
    let bytes: Buffer;
    try {
      bytes = await this.infra.objects.getVerified({ uri: version.uri, sha256: version.sha256 });
    } catch (error) {
      if (isRetryable(error)) throw error;
      this.logger.warn({ uri: version.uri, err: (error as Error).message }, 'no time range');
      return { column, unreadable: true };
    }
    return this.workers.run(
      timeRangeTask,
      { bytes, column },
      { transferList: movableBuffers(bytes), attributes: { [KeelAttr.PIPELINE_ID]: version.pipelineId } },
    );
  }

  private recordIncrement(
    event: DatasetValidated,
    joinCuts?: JoinCut[],
    timeRange?: VersionTimeRange,
  ): Promise<IncrementRecord> {
    return this.increments.record({
      pipelineId: event.pipelineId,
      datasetVersionId: event.datasetVersionId,
      sha256: event.datasetSha256,
      uri: event.datasetUri,
      rowCount: event.rowCount ?? 0,
      ...(event.sequence === undefined ? {} : { sequence: event.sequence }),
      ...(joinCuts ? { joinCuts } : {}),
      ...(timeRange ? { timeRange } : {}),
    });
  }

  /**
   * A training request: its window ends at the newest validated version when it first arrived (recorded, so a
   * redelivery resolves the same window even after new data).
   */
  async onTrainingRequested(request: TrainingRequested): Promise<FeaturesMaterialized> {
    // A request to train a feature table is a mistake nothing can retry away (NotAModelPipelineError, dead-lettered).
    const minSpecVersion = request.specVersion;
    const { spec, version } = await this.infra.pipelines.getModelPipeline(request.pipelineId, {
      minVersion: minSpecVersion,
    });
    if (minSpecVersion !== undefined && version < minSpecVersion) {
      // The requester saw a later spec than the store gives (a replica's read behind the write): retried with backoff,
      // since a feature set built under the older spec would be refused again by training.
      throw new Error(
        `pipeline "${request.pipelineId}" spec version ${minSpecVersion}, which the request was made under, is not readable yet (read ${version})`,
      );
    }
    const prompting = request.includesDatasetVersionId;
    if (prompting && !(await this.increments.get(prompting))) {
      // The version's `dataset.validated` is on another topic and not handled here yet: retried with backoff (the
      // partition pauses), so the window includes the data that prompted the request instead of missing it.
      throw new Error(`dataset version ${prompting}, which prompted the request, is not recorded here yet`);
    }
    const newest = await this.increments.newest(request.pipelineId);
    if (!newest) {
      throw new NonRetryableError(
        `no dataset version of pipeline "${request.pipelineId}" has passed validation yet`,
        'no-dataset',
      );
    }
    const claimed = await this.increments.claimRequest({
      pipelineId: request.pipelineId,
      requestId: request.requestId,
      reason: request.reason,
      requestedBy: request.requestedBy,
      upToDatasetVersionId: newest.datasetVersionId,
      receivedAt: new Date(),
      ...(await this.joinCuts(spec).then((cuts) => (cuts ? { joinCuts: cuts } : {}))),
    });
    const upTo = await this.increments.get(claimed.upToDatasetVersionId);
    if (!upTo) throw new Error(`dataset version ${claimed.upToDatasetVersionId} vanished from dataset_increments`);
    return this.materialize(
      upTo,
      { reason: request.reason, requestId: request.requestId, requestedBy: request.requestedBy },
      claimed.joinCuts,
      minSpecVersion,
    );
  }

  /** For a spec with point-in-time joins: each feature table's validated versions recorded now (else undefined). */
  private async joinCuts(spec: PipelineSpecV1): Promise<JoinCut[] | undefined> {
    if (!spec.joins?.length) return undefined;
    return Promise.all(
      spec.joins.map(async (join) =>
        joinCutAt(join.pipeline, await this.increments.upTo(join.pipeline, Number.MAX_SAFE_INTEGER)),
      ),
    );
  }

  /**
   * The spec's joins resolved for the worker: each table's feature time (the table pipeline's timeColumn unless the
   * join names one) and the versions its cut names, of which those that can give the window's rows a value (`rows`,
   * their time bounds: see tableVersionsToRead) are loaded and verified. A window recorded before joins were declared
   * (no cuts) reads each table's versions recorded now.
   */
  private async loadJoins(
    spec: PipelineSpecV1,
    cuts: JoinCut[] | undefined,
    rows: TimeBounds | undefined,
  ): Promise<JoinInput[] | undefined> {
    if (!spec.joins?.length) return undefined;
    const resolvedCuts = cuts ?? (await this.joinCuts(spec)) ?? [];
    return Promise.all(
      spec.joins.map(async (join): Promise<JoinInput> => {
        const table = (await this.infra.pipelines.get(join.pipeline)).spec;
        const featureTime = join.featureTime ?? table.timeColumn;
        if (!featureTime) {
          throw new NonRetryableError(
            `feature table ${join.pipeline} has no timeColumn and the join names none`,
            'bad-dataset',
          );
        }
        const cut = resolvedCuts.find((c) => c.pipelineId === join.pipeline) ?? {
          pipelineId: join.pipeline,
          sequence: 0,
        };
        const upToCut = cut.sequence > 0 ? await this.increments.upTo(join.pipeline, cut.sequence) : [];
        const atCut = versionsAtCut(upToCut, cut);
        // The manifest keeps every version of the cut (its id and the snapshot's count of versions stay what they
        // were before versions were skipped, and the values are the same); only those that can matter are read.
        const joined = [join.entityKey, featureTime, ...(join.createdTime ? [join.createdTime] : []), ...join.features];
        const { read, columnTypes } = joinReads(atCut, featureTime, rows, join.maxAgeMs, joined);
        const datasets = await Promise.all(
          read.map(({ uri, sha256 }) => this.infra.objects.getVerified({ uri, sha256 })),
        );
        return {
          pipelineId: join.pipeline,
          join: {
            entityKey: join.entityKey,
            rowTime: spec.timeColumn ?? '',
            featureTime,
            ...(join.createdTime ? { createdTime: join.createdTime } : {}),
            features: join.features,
            ...(join.maxAgeMs === undefined ? {} : { maxAgeMs: join.maxAgeMs }),
          },
          increments: atCut.map(snapshotIncrement),
          read: read.map(snapshotIncrement),
          datasets,
          ...(columnTypes ? { columnTypes } : {}),
        };
      }),
    );
  }

  private async materialize(
    upTo: IncrementRecord,
    trigger: TrainingTrigger,
    joinCuts?: JoinCut[],
    minSpecVersion?: number,
  ): Promise<FeaturesMaterialized> {
    const { pipelineId } = upTo;
    // At least the version a request was made under (read past the cache; onTrainingRequested checked it is there).
    const { spec, version: specVersion } = await this.infra.pipelines.getModelPipeline(pipelineId, {
      minVersion: minSpecVersion,
    });
    const attributes = { [KeelAttr.PIPELINE_ID]: pipelineId, [KeelAttr.DATASET_VERSION]: upTo.datasetVersionId };
    const window = incrementsToLoad(spec.training.window, await this.increments.upTo(pipelineId, upTo.sequence));
    const increments = window.map(snapshotIncrement);
    const [datasets, joins] = await withSpan('load datasets', attributes, () =>
      Promise.all([
        Promise.all(increments.map(({ uri, sha256 }) => this.infra.objects.getVerified({ uri, sha256 }))),
        this.loadJoins(spec, joinCuts, windowTimeBounds(window, spec.timeColumn)),
      ]),
    );
    // Resolve, split, fit and encode on a worker thread. A window that cannot become a feature set fails with a
    // non-retryable code (bad-dataset, unreadable-dataset): straight to the dead-letter topic.
    const built = await this.workers.run(
      featureSetTask,
      { spec, increments, datasets, ...(joins ? { joins } : {}) },
      { transferList: movableBuffers(...datasets, ...(joins ?? []).flatMap((join) => join.datasets)), attributes },
    );
    trace.getActiveSpan()?.setAttributes({
      [KeelAttr.ROWS_TRAIN]: built.rowCounts.train,
      [KeelAttr.ROWS_VALIDATION]: built.rowCounts.validation,
      [KeelAttr.ROWS_HOLDOUT]: built.rowCounts.holdout,
      [KeelAttr.SPLIT_STRATEGY]: spec.split.strategy,
    });
    const data = await withSpan('store feature set', attributes, async (span) => {
      const store = (prefix: string, bytes: Uint8Array, extension: '.json' | '.parquet') =>
        this.infra.objects.putContentAddressed(BUCKETS.features, `${pipelineId}/${prefix}`, asBuffer(bytes), {
          extension,
          contentType: extension === '.json' ? 'application/json' : 'application/vnd.apache.parquet',
        });
      const [manifest, transform, featureSet] = await Promise.all([
        store('snapshots', built.manifest, '.json'),
        store('transforms', built.transform, '.json'),
        store('feature-sets', built.featureSet, '.parquet'),
      ]);
      const parsedManifest = JSON.parse(asBuffer(built.manifest).toString()) as SnapshotManifest;
      const snapshot = snapshotRef(parsedManifest, {
        snapshotId: snapshotId(pipelineId, manifest.sha256),
        uri: manifest.uri,
        sha256: manifest.sha256,
      });
      const artifacts = {
        pipelineId: pipelineId as FeaturesMaterialized['pipelineId'],
        datasetVersionId: upTo.datasetVersionId as FeaturesMaterialized['datasetVersionId'],
        datasetSha256: upTo.sha256,
        featureSetUri: featureSet.uri,
        featureSetSha256: featureSet.sha256,
        transformUri: transform.uri,
        transformSha256: transform.sha256,
        rowCounts: built.rowCounts,
      };
      const id = featureSetId({ ...artifacts, snapshotId: snapshot.snapshotId });
      span.setAttribute(KeelAttr.FEATURE_SET_ID, id);
      await this.repository.upsert({ ...artifacts, featureSetId: id, snapshot });
      const joined = joins ? { joins: joinsMaterialized(spec, joins) } : {};
      return { ...artifacts, featureSetId: id, snapshot, trigger, ...joined };
    });
    if (data.joins) {
      // Serving fills the joined features of this pipeline's models from the tables' online views.
      const cuts = data.joins.map((join) => ({ pipelineId: join.tablePipelineId, sequence: join.upToSequence }));
      await this.onlineViews.ensure(spec, cuts);
    }
    // Published inside the consumer's span, so training continues this pipeline run's trace.
    await this.infra.publisher.publish(FeaturesMaterializedV1, data, {
      id: featuresMaterializedEventId(data.featureSetId, specVersion, trigger.requestId),
    });
    this.logger.info(
      {
        pipelineId,
        featureSetId: data.featureSetId,
        snapshot: data.snapshot,
        trigger,
        rowCounts: data.rowCounts,
      },
      'feature set materialized',
    );
    return data;
  }
}
