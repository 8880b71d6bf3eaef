import { randomUUID } from 'node:crypto';
import { ConflictException, Inject, Injectable } from '@nestjs/common';
import { type DataSource, datasetSchema } from '@keel/contracts';
import { type Leases, leasesOn, type LeaseScope, processHolderId, withLease } from '@keel/coordination';
import { type StoredPipelineSpec } from '@keel/pipelines';
import { Infrastructure, SERVICE_IDENTITY, type ServiceIdentity } from '@keel/service-runtime';
import { KeelAttr, withSpan } from '@keel/telemetry';
import { asBuffer, WorkerPool } from '@keel/workers';
import { DatasetVersionsService } from '../datasets/dataset-versions.service';
import { type DeadRowDocument, type DeadRowReplay, DeadRowsRepository } from './dead-rows.repository';
import { deadRowsTask } from './dead-rows.task';
import { type PulledField } from './postgres-reader';
import { pullLeaseName, PULL_LEASE_TTL_MS, SourcePullsService } from './source-pulls.service';
import { SourceStateRepository } from './source-state.repository';

/** Dead rows one replay takes at most (the rest wait for the next replay; the answer says `more`). */
const REPLAY_ROWS = 10_000;
/** Rejection reasons a replay's answer names. */
const MAX_REJECTIONS = 20;

/** What a replay did. */
export interface DeadRowsReplayed {
  replayId: string | null;
  /** Dead rows checked again under the spec as it is now. */
  rowsTried: number;
  /** Rows that pass now, in the version `datasetVersionId` (null when none passed). */
  rowsReplayed: number;
  datasetVersionId: string | null;
  /** Rows the source's cleaning drops now: resolved too, in no version. */
  rowsDropped: number;
  /** Rows refused again: still dead, with the new reason (`replayReason`). */
  rowsRefused: number;
  rejections: string[];
  /** More dead rows wait than one replay takes: replay again. */
  more: boolean;
  /** A replay an earlier call planned and did not finish, finished first (or dropped when nothing of it was written). */
  settledReplayId?: string;
}

/**
 * A source's dead letter: the rows its pulls refused (kept with their reason, run and (cursor, key) before the
 * watermark moved past them), listed, and replayed after the spec or the data is fixed. A replay checks the rows again
 * under the spec as it is now, through the source's cleaning, and writes those that pass as one dataset version; each
 * row is replayed once: a replay is planned (its rows and its version's content) before its version is written, and
 * its rows are marked replayed with it, so one that dies midway is finished (or dropped, when its bytes never reached
 * the object store) by the next, and a row replayed already is never taken again. Replays and pulls of a source take
 * the same lease, one at a time.
 *
 * Kept in FerretDB, not on the records' dead-letter topic: the rows must be listed by source through the API and
 * replayed with a state per row (dead, or replayed into which version), which a topic read from its start cannot
 * answer; and a replay writes its version here, under the source's lease, where a records event would go through
 * staging and a cut under the records' own event-id idempotency. `replayedInto` also marks the rows the source's
 * cleaning drops on replay (resolved, in no version's rows).
 */
@Injectable()
export class DeadRowsService {
  private readonly leases: Leases;
  private readonly holder: string;

  constructor(
    infra: Infrastructure,
    private readonly rows: DeadRowsRepository,
    private readonly states: SourceStateRepository,
    private readonly pulls: SourcePullsService,
    private readonly versions: DatasetVersionsService,
    private readonly workers: WorkerPool,
    @Inject(SERVICE_IDENTITY) identity: ServiceIdentity,
  ) {
    this.leases = leasesOn(infra.mongo);
    this.holder = processHolderId(identity.name);
  }

  async list(
    pipelineId: string,
    sourceId: string,
    options: { limit: number; includeReplayed: boolean },
  ): Promise<{ dead: number; replayed: number; items: DeadRowDocument[] }> {
    await this.pulls.source(pipelineId, sourceId);
    const counts = await this.rows.count(pipelineId, sourceId);
    return { ...counts, items: await this.rows.list(pipelineId, sourceId, options) };
  }

  /** Replays the source's dead rows; a ConflictException while a pull or a replay of it runs. */
  async replay(pipelineId: string, sourceId: string): Promise<DeadRowsReplayed> {
    const { pipeline, source } = await this.pulls.source(pipelineId, sourceId);
    const outcome = await withLease(
      this.leases,
      pullLeaseName(pipelineId, sourceId),
      this.holder,
      PULL_LEASE_TTL_MS,
      (scope) =>
        withSpan('replay dead rows', { [KeelAttr.PIPELINE_ID]: pipelineId, 'keel.source.id': sourceId }, () =>
          this.replayUnderLease(pipeline, source, scope),
        ),
    );
    if (!outcome.held) throw new ConflictException(`a pull or a replay of source ${sourceId} is running`);
    return outcome.value;
  }

  private async replayUnderLease(
    pipeline: StoredPipelineSpec,
    source: DataSource,
    scope: LeaseScope,
  ): Promise<DeadRowsReplayed> {
    const { spec } = pipeline;
    // The dead rows of a chunk planned and not committed are kept before its watermark moves: until a pull finishes
    // that chunk, they could still change (the range is read again), so they are not replayed yet.
    const { state } = await this.states.read(spec.id, source.id);
    if (state.planned) {
      throw new ConflictException(
        `source ${source.id} has a chunk an interrupted pull planned: pull the source first, then replay`,
      );
    }
    const settledReplayId = await this.settle(pipeline, source.id);
    const dead = await this.rows.list(spec.id, source.id, { limit: REPLAY_ROWS });
    const answer: DeadRowsReplayed = {
      replayId: null,
      rowsTried: dead.length,
      rowsReplayed: 0,
      datasetVersionId: null,
      rowsDropped: 0,
      rowsRefused: 0,
      rejections: [],
      more: dead.length === REPLAY_ROWS,
      ...(settledReplayId ? { settledReplayId } : {}),
    };
    if (dead.length === 0) return answer;
    // The rows' field types, once each (a source's rows share a few).
    const fields: PulledField[][] = [];
    const fieldsAt = new Map<string, number>();
    const rows = dead.map((row) => {
      const key = JSON.stringify(row.fields);
      let at = fieldsAt.get(key);
      if (at === undefined) {
        at = fields.push([...row.fields]) - 1;
        fieldsAt.set(key, at);
      }
      return { label: `row ${row.at.key}`, row: row.row, fields: at };
    });
    const encoded = await this.workers.run(
      deadRowsTask,
      {
        pipelineId: spec.id,
        schema: datasetSchema(spec),
        ...(source.cleaning ? { cleaning: source.cleaning } : {}),
        fields,
        rows,
        maxRejections: MAX_REJECTIONS,
      },
      { attributes: { [KeelAttr.PIPELINE_ID]: spec.id } },
    );
    const refused = new Set(encoded.refused.map(({ index }) => index));
    const replayId = `replay-${randomUUID()}`;
    const replay: DeadRowReplay = {
      _id: replayId,
      pipelineId: spec.id,
      sourceId: source.id,
      status: 'planned',
      resolved: dead.filter((_, i) => !refused.has(i)).map((row) => row.rowId),
      lineage: `dead-rows:${source.id}@${replayId}`,
      plannedAt: new Date(),
      ...(encoded.goodRows > 0 ? { sha256: encoded.sha256, rowCount: encoded.goodRows } : {}),
    };
    scope.assertHeld();
    await this.rows.planReplay(replay);
    let datasetVersionId: string | null = null;
    if (encoded.goodRows > 0) {
      scope.assertHeld();
      const version = await this.versions.write(
        pipeline,
        { parquet: asBuffer(encoded.parquet), rowCount: encoded.goodRows },
        [replay.lineage],
      );
      datasetVersionId = version.datasetVersionId;
    }
    scope.assertHeld();
    await this.rows.finishReplay(replay, datasetVersionId);
    await this.rows.refusedAgain(
      spec.id,
      source.id,
      encoded.refused.map(({ index, reason }) => ({ rowId: dead[index].rowId, reason })),
    );
    return {
      ...answer,
      replayId,
      rowsReplayed: encoded.goodRows,
      datasetVersionId,
      rowsDropped: replay.resolved.length - encoded.goodRows,
      rowsRefused: encoded.refused.length,
      rejections: encoded.rejections,
    };
  }

  /**
   * Finishes a replay an earlier call planned and did not finish: its version from the stored bytes, then its rows
   * marked; a replay whose bytes never reached the object store wrote nothing and is dropped (its rows are still
   * dead). The id of the replay finished or dropped, if any.
   */
  private async settle(pipeline: StoredPipelineSpec, sourceId: string): Promise<string | undefined> {
    const planned = await this.rows.plannedReplay(pipeline.spec.id, sourceId);
    if (!planned) return undefined;
    if (planned.sha256 === undefined || planned.rowCount === undefined) {
      await this.rows.finishReplay(planned, null);
      return planned._id;
    }
    const version = await this.versions.writeStored(pipeline, planned.sha256, planned.rowCount, [planned.lineage]);
    if (version) await this.rows.finishReplay(planned, version.datasetVersionId);
    else await this.rows.dropReplay(planned._id);
    return planned._id;
  }
}
