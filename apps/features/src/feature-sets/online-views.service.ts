import { Inject, Injectable } from '@nestjs/common';
import {
  derivedId,
  joinDefinitionSha256,
  OnlineViewUpdatedV1,
  type PipelineSpecV1,
  type PointInTimeJoinSpec,
} from '@keel/contracts';
import { isRetryable } from '@keel/messaging';
import { OnlineViewStore } from '@keel/pipelines';
import { Infrastructure, ROOT_LOGGER } from '@keel/service-runtime';
import { BUCKETS } from '@keel/storage';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { asBuffer, movableBuffers, WorkerPool } from '@keel/workers';
import { type Logger } from 'pino';
import { IncrementsRepository } from './increments.repository';
import { onlineViewTask } from './online-view.task';

/**
 * Keeps the online views of joined feature tables (Feast's materialization into its online store): for every
 * pipeline that joins a table, the latest values per entity as of the table's newest validated version, stored
 * content-addressed, recorded as current and announced, so serving fills a request's joined features from them.
 * Rebuilt from all of the table's versions whenever one is validated, and built when a joining pipeline first
 * materializes a feature set (its spec may be applied after the table's versions arrived).
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

  /** A table's new version: every pipeline joining it gets its view rebuilt up to that version. */
  async onTableVersion(tablePipelineId: string, sequence: number): Promise<void> {
    // A scan of the applied specs, once per validated version: versions are few (docs/design/repositories.md).
    const joining = (await this.infra.pipelines.list())
      .map(({ spec }) => spec)
      .filter((spec) => spec.joins?.some((join) => join.pipeline === tablePipelineId));
    for (const spec of joining) {
      for (const join of spec.joins ?? []) {
        if (join.pipeline !== tablePipelineId) continue;
        try {
          await this.build(spec, join, sequence);
        } catch (error) {
          // A joining spec the table cannot serve (a column it lacks) must not hold back the table's own pipeline:
          // its view stays where it was, and the joining pipeline's next feature set fails naming the column.
          if (isRetryable(error)) throw error;
          this.logger.warn(
            { pipelineId: spec.id, table: tablePipelineId, err: (error as Error).message },
            'online view not rebuilt',
          );
        }
      }
    }
  }

  /**
   * A joining pipeline materialized: each of its tables' views exists up to at least the cut it joined, built for
   * the spec's join as it is now (a join changed since the view was built gets it rebuilt, so a model trained with
   * a feature the join gained finds it in the view).
   */
  async ensure(spec: PipelineSpecV1, cuts: readonly { pipelineId: string; sequence: number }[]): Promise<void> {
    for (const join of spec.joins ?? []) {
      const cut = cuts.find((c) => c.pipelineId === join.pipeline)?.sequence ?? 0;
      const current = await this.store.current(spec.id, join.pipeline);
      const upTo = viewBuildNeeded(current, cut, joinDefinitionSha256(join));
      if (upTo !== undefined) await this.build(spec, join, upTo);
    }
  }

  private async build(spec: PipelineSpecV1, join: PointInTimeJoinSpec, sequence: number): Promise<void> {
    const attributes = { [KeelAttr.PIPELINE_ID]: spec.id };
    await withSpan('build online view', attributes, async () => {
      const table = (await this.infra.pipelines.get(join.pipeline)).spec;
      const featureTime = join.featureTime ?? table.timeColumn;
      const versions = await this.increments.upTo(join.pipeline, sequence);
      if (!featureTime || versions.length === 0) return;
      const datasets = await Promise.all(
        versions.map(({ uri, sha256 }) => this.infra.objects.getVerified({ uri, sha256 })),
      );
      const view = await this.workers.run(
        onlineViewTask,
        {
          join: {
            entityKey: join.entityKey,
            featureTime,
            ...(join.createdTime ? { createdTime: join.createdTime } : {}),
            features: join.features,
          },
          datasets,
          now: Date.now(),
        },
        { transferList: movableBuffers(...datasets), attributes },
      );
      const stored = await this.infra.objects.putContentAddressed(
        BUCKETS.features,
        `${spec.id}/online-views`,
        asBuffer(view.bytes),
        { extension: '.json', contentType: 'application/json' },
      );
      const upTo = versions[versions.length - 1];
      const data = {
        pipelineId: spec.id,
        tablePipelineId: join.pipeline,
        upToDatasetVersionId: upTo.datasetVersionId,
        sequence: upTo.sequence,
        viewUri: stored.uri,
        viewSha256: stored.sha256,
        joinSha256: joinDefinitionSha256(join),
        entities: view.entities,
      } as Parameters<OnlineViewStore['record']>[0];
      if (!(await this.store.record(data))) return;
      await this.infra.publisher.publish(OnlineViewUpdatedV1, data, {
        id: `online-view-${derivedId('view', [spec.id, join.pipeline, stored.sha256])}`,
      });
      this.logger.info(
        { pipelineId: spec.id, table: join.pipeline, sequence: upTo.sequence, entities: view.entities },
        'online view built',
      );
    });
  }
}

/**
 * Up to which table version a joining pipeline's view must be built, or undefined when the current one will do: none
 * yet, one short of the cut the pipeline joined, or one built for another definition of the join (rebuilt up to the
 * later of the two versions; the record accepts a view of the same version with other contents).
 */
export function viewBuildNeeded(
  current: { sequence: number; joinSha256?: string } | null,
  cut: number,
  joinSha256: string,
): number | undefined {
  if (cut <= 0) return undefined;
  if (!current || current.sequence < cut) return cut;
  return current.joinSha256 === joinSha256 ? undefined : current.sequence;
}
