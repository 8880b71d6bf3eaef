import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type DeadRow, deadRowId } from './dead-rows';
import { type PulledField, type Watermark } from './postgres-reader';

/**
 * A row a pull refused (`source_dead_rows`), kept until a replay takes it into a version. `_id` is
 * `<pipeline>/<source>/<rowId>`, the row id naming the refusal (see `deadRowId`), so keeping the same row twice
 * keeps it once.
 */
export interface DeadRowDocument {
  _id: string;
  pipelineId: string;
  sourceId: string;
  rowId: string;
  /** PostgreSQL: where the source holds the row, its (cursor, key) as printed. */
  at: Watermark;
  /** Why the pull refused it (`row 12: x "a" is not a number`). */
  reason: string;
  /** The row as read (see DeadRow.row), and the types of its fields. */
  row: string;
  fields: readonly PulledField[];
  /** The pull that refused it, and the lineage of the chunk it was read in. */
  runId: string;
  lineage: string;
  deadAt: Date;
  /** Set once a replay took it: the version now holding it (null: a cleaning step dropped it), and the replay. */
  replayedInto?: string | null;
  replayId?: string;
  /** The reason the last replay refused it again. */
  replayReason?: string;
}

/**
 * A replay of a source's dead rows (`source_dead_row_replays`), planned before its version is written: the rows it
 * takes (`resolved`) and the content of its version, so a replay that dies midway is finished by the next one from
 * the stored bytes, or dropped when they never reached the object store (its rows are still dead, none replayed).
 */
export interface DeadRowReplay {
  _id: string;
  pipelineId: string;
  sourceId: string;
  status: 'planned' | 'done';
  /** Row ids that pass now (into the version) or a cleaning step drops. */
  resolved: string[];
  sha256?: string;
  rowCount?: number;
  lineage: string;
  datasetVersionId?: string;
  plannedAt: Date;
}

const docId = (pipelineId: string, sourceId: string, rowId: string) => `${pipelineId}/${sourceId}/${rowId}`;

/** The dead letters of pulled sources, and their replays. */
@Injectable()
export class DeadRowsRepository implements OnModuleInit {
  constructor(private readonly infra: Infrastructure) {}

  private get rows() {
    return this.infra.mongo.collection<DeadRowDocument>('source_dead_rows');
  }

  private get replays() {
    return this.infra.mongo.collection<DeadRowReplay>('source_dead_row_replays');
  }

  async onModuleInit(): Promise<void> {
    await this.rows.createIndex({ pipelineId: 1, sourceId: 1, deadAt: 1 });
    await this.replays.createIndex({ pipelineId: 1, sourceId: 1, status: 1 });
  }

  /**
   * Keeps a chunk's refused rows, durably, before the watermark moves past them. Idempotent: a row kept before (the
   * same chunk re-read after a crash) keeps its first document, a replayed one stays replayed.
   */
  async keep(
    pipelineId: string,
    sourceId: string,
    chunk: { runId: string; lineage: string },
    rows: readonly DeadRow[],
  ): Promise<void> {
    const deadAt = new Date();
    for (let at = 0; at < rows.length; at += 1_000) {
      await this.rows.bulkWrite(
        rows.slice(at, at + 1_000).map((row) => {
          const rowId = deadRowId(pipelineId, sourceId, row.at);
          const doc: DeadRowDocument = {
            _id: docId(pipelineId, sourceId, rowId),
            pipelineId,
            sourceId,
            rowId,
            at: row.at,
            reason: row.reason,
            row: row.row,
            fields: row.fields,
            runId: chunk.runId,
            lineage: chunk.lineage,
            deadAt,
          };
          const { _id, ...fields } = doc;
          return { updateOne: { filter: { _id }, update: { $setOnInsert: fields }, upsert: true } };
        }),
        { ordered: false },
      );
    }
  }

  /** A source's dead rows, oldest first: those not replayed yet, or all. */
  async list(
    pipelineId: string,
    sourceId: string,
    options: { limit: number; includeReplayed?: boolean },
  ): Promise<DeadRowDocument[]> {
    const filter = {
      pipelineId,
      sourceId,
      ...(options.includeReplayed ? {} : { replayedInto: { $exists: false } }),
    };
    return this.rows.find(filter).sort({ deadAt: 1, _id: 1 }).limit(options.limit).toArray();
  }

  async count(pipelineId: string, sourceId: string): Promise<{ dead: number; replayed: number }> {
    const dead = await this.rows.countDocuments({ pipelineId, sourceId, replayedInto: { $exists: false } });
    const replayed = await this.rows.countDocuments({ pipelineId, sourceId, replayedInto: { $exists: true } });
    return { dead, replayed };
  }

  async plannedReplay(pipelineId: string, sourceId: string): Promise<DeadRowReplay | null> {
    return this.replays.findOne({ pipelineId, sourceId, status: 'planned' });
  }

  async planReplay(replay: DeadRowReplay): Promise<void> {
    await this.replays.insertOne(replay);
  }

  async dropReplay(replayId: string): Promise<void> {
    await this.replays.deleteOne({ _id: replayId });
  }

  /**
   * Marks a planned replay's rows replayed into its version, then the replay done. Idempotent: a row replayed
   * already keeps its first replay (a row is in exactly one replay's version).
   */
  async finishReplay(replay: DeadRowReplay, datasetVersionId: string | null): Promise<void> {
    for (let at = 0; at < replay.resolved.length; at += 1_000) {
      const ids = replay.resolved
        .slice(at, at + 1_000)
        .map((rowId) => docId(replay.pipelineId, replay.sourceId, rowId));
      await this.rows.updateMany(
        { _id: { $in: ids }, replayedInto: { $exists: false } },
        { $set: { replayedInto: datasetVersionId, replayId: replay._id } },
      );
    }
    await this.replays.updateOne(
      { _id: replay._id },
      { $set: { status: 'done', ...(datasetVersionId ? { datasetVersionId } : {}) } },
    );
  }

  /** Records why a replay refused rows again (they stay dead). */
  async refusedAgain(
    pipelineId: string,
    sourceId: string,
    refused: { rowId: string; reason: string }[],
  ): Promise<void> {
    for (let at = 0; at < refused.length; at += 1_000) {
      await this.rows.bulkWrite(
        refused.slice(at, at + 1_000).map(({ rowId, reason }) => ({
          updateOne: {
            filter: { _id: docId(pipelineId, sourceId, rowId) },
            update: { $set: { replayReason: reason } },
          },
        })),
        { ordered: false },
      );
    }
  }
}
