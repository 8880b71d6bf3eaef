import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type SnapshotIncrement } from '@keel/datasets';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type VersionTimeRange } from './time-range.task';

/**
 * Which versions of each joined feature table a snapshot reads: those features had recorded when the snapshot was
 * first asked for. Recorded with what asked, so a redelivery joins exactly the same table versions.
 */
export interface JoinCut {
  pipelineId: string;
  /** The newest of them; 0: the table had no validated version yet. */
  sequence: number;
  /**
   * Exactly the versions read: a table version validated later may still have a sequence at or below the newest
   * (versions are validated in parallel), and must not join a redelivery. Absent in cuts from before it was recorded
   * (a sequence bound only).
   */
  datasetVersionIds?: string[];
}

const joinCutsField = {
  type: [
    {
      _id: false,
      pipelineId: { type: String, required: true },
      sequence: { type: Number, required: true },
      datasetVersionIds: { type: [String], default: undefined },
    },
  ],
  default: undefined,
};

/** The cut of a table at the versions features has recorded now (oldest first). */
export function joinCutAt(
  pipelineId: string,
  versions: readonly Pick<IncrementRecord, 'datasetVersionId' | 'sequence'>[],
): JoinCut {
  return {
    pipelineId,
    sequence: versions.at(-1)?.sequence ?? 0,
    datasetVersionIds: versions.map((version) => version.datasetVersionId),
  };
}

/**
 * The table versions a cut reads, out of the table's versions up to its sequence (oldest first): exactly those it
 * names, or all of them for a cut from before names were recorded. A named version no longer recorded is an error
 * (retried): versions are never removed, so it is a read that missed it.
 */
export function versionsAtCut<T extends Pick<IncrementRecord, 'datasetVersionId'>>(
  upToSequence: readonly T[],
  cut: JoinCut,
): T[] {
  if (!cut.datasetVersionIds) return [...upToSequence];
  const named = new Set(cut.datasetVersionIds);
  const read = upToSequence.filter((version) => named.has(version.datasetVersionId));
  if (read.length !== named.size) {
    const found = new Set(read.map((version) => version.datasetVersionId));
    const missing = cut.datasetVersionIds.filter((id) => !found.has(id));
    throw new Error(`feature table ${cut.pipelineId} versions ${missing.join(', ')} of a recorded cut are not found`);
  }
  return read;
}

/** A validated dataset version of a pipeline as features knows it (collection `dataset_increments`). */
export interface IncrementRecord extends SnapshotIncrement {
  pipelineId: string;
  validatedAt: Date;
  /** Only for a pipeline with point-in-time joins: where its window up to this version reads the tables. */
  joinCuts?: JoinCut[];
  /**
   * For a feature table's versions and a joining pipeline's: the version's range of its timeColumn, recorded when
   * first validated here, so a window's join skips table versions no row can take. Absent: recorded before it.
   */
  timeRange?: VersionTimeRange;
}

/** `_id` = dataset version id (it names its pipeline): written per event, by `_id` alone. */
const incrementSchema = new Schema<IncrementRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    datasetVersionId: { type: String, required: true },
    sha256: { type: String, required: true },
    uri: { type: String, required: true },
    sequence: { type: Number, required: true },
    // 0 when the event did not say: a rows window then loads it to count.
    rowCount: { type: Number, required: true },
    validatedAt: { type: Date, required: true },
    joinCuts: joinCutsField,
    timeRange: {
      type: new Schema(
        {
          column: { type: String, required: true },
          minMs: Number,
          maxMs: Number,
          unreadable: Boolean,
          columns: String,
        },
        { _id: false },
      ),
      default: undefined,
    },
  },
  { collection: 'dataset_increments', versionKey: false },
);
incrementSchema.index({ pipelineId: 1, sequence: 1 });

/** A training request as features resolved it (collection `training_request_windows`). */
export interface RequestWindowRecord {
  pipelineId: string;
  requestId: string;
  reason: string;
  requestedBy: string;
  /** The newest validated version when the request first arrived: the request's window ends there, forever. */
  upToDatasetVersionId: string;
  receivedAt: Date;
  /** Only for a pipeline with point-in-time joins: where the request's window reads the tables. */
  joinCuts?: JoinCut[];
}

/** `_id` = requestKey(pipeline, request id): the first delivery's insert wins, redeliveries read it. */
const requestWindowSchema = new Schema<RequestWindowRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    requestId: { type: String, required: true },
    reason: { type: String, required: true },
    requestedBy: { type: String, required: true },
    upToDatasetVersionId: { type: String, required: true },
    receivedAt: { type: Date, required: true },
    joinCuts: joinCutsField,
  },
  { collection: 'training_request_windows', versionKey: false },
);

const DUPLICATE_KEY = 11000;

/**
 * A version whose range is still to record: none, or one recorded before ranges carried the version's columns (then
 * joins read the version); an unreadable one stays as it is.
 */
const RANGE_TO_RECORD = { 'timeRange.columns': { $exists: false }, 'timeRange.unreadable': { $exists: false } };
const WITHOUT_ID = { _id: 0 } as const;

const requestKey = (pipelineId: string, requestId: string) => `${pipelineId}\u0000${requestId}`;

/**
 * The validated increments training windows draw from, and the windows training requests resolved to. Versions are
 * few per pipeline, so listing a pipeline's versions is a small scan (docs/design/repositories.md).
 */
@Injectable()
export class IncrementsRepository implements OnModuleInit {
  private readonly increments: Model<IncrementRecord & { _id: string }>;
  private readonly requests: Model<RequestWindowRecord & { _id: string }>;

  constructor(infra: Infrastructure) {
    const model = <T>(name: string, schema: Schema<T>): Model<T> =>
      (infra.mongo.models[name] as Model<T> | undefined) ?? infra.mongo.model<T>(name, schema);
    this.increments = model('DatasetIncrement', incrementSchema);
    this.requests = model('TrainingRequestWindow', requestWindowSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.increments.createIndexes();
  }

  /**
   * Records a validated version once; returns what is stored. A version whose event carried no sequence (from before
   * versions were numbered) is appended after the newest one known.
   */
  async record(
    increment: Omit<IncrementRecord, 'sequence' | 'validatedAt'> & { sequence?: number },
  ): Promise<IncrementRecord> {
    const existing = await this.get(increment.datasetVersionId);
    if (existing) return existing;
    const sequence = increment.sequence ?? ((await this.newest(increment.pipelineId))?.sequence ?? 0) + 1;
    const record: IncrementRecord = { ...increment, sequence, validatedAt: new Date() };
    await this.increments.updateOne(
      { _id: increment.datasetVersionId },
      { $setOnInsert: { _id: increment.datasetVersionId, ...record } },
      { upsert: true },
    );
    return (await this.get(increment.datasetVersionId)) ?? record;
  }

  get(datasetVersionId: string): Promise<IncrementRecord | null> {
    return this.increments.findById(datasetVersionId, WITHOUT_ID).lean<IncrementRecord>().exec();
  }

  /** A pipeline's validated versions up to and including `sequence`, oldest first. */
  upTo(pipelineId: string, sequence: number): Promise<IncrementRecord[]> {
    return this.increments
      .find({ pipelineId, sequence: { $lte: sequence } }, WITHOUT_ID)
      .sort({ sequence: 1 })
      .lean<IncrementRecord[]>()
      .exec();
  }

  /**
   * How many versions of a pipeline are recorded up to and including `sequence`: a view built from that many still
   * holds all of them (none validated since with a sequence at or below it).
   */
  countUpTo(pipelineId: string, sequence: number): Promise<number> {
    return this.increments.countDocuments({ pipelineId, sequence: { $lte: sequence } }).exec();
  }

  /** A pipeline's validated versions after `afterSequence` up to and including `upToSequence`, oldest first. */
  between(pipelineId: string, afterSequence: number, upToSequence: number): Promise<IncrementRecord[]> {
    return this.increments
      .find({ pipelineId, sequence: { $gt: afterSequence, $lte: upToSequence } }, WITHOUT_ID)
      .sort({ sequence: 1 })
      .lean<IncrementRecord[]>()
      .exec();
  }

  /**
   * Up to `limit` of a pipeline's versions recorded without a time range (or one without its columns), newest first (a scan of the pipeline's
   * versions, as upTo's).
   */
  withoutTimeRange(pipelineId: string, limit: number): Promise<IncrementRecord[]> {
    return this.increments
      .find({ pipelineId, ...RANGE_TO_RECORD }, WITHOUT_ID)
      .sort({ sequence: -1 })
      .limit(limit)
      .lean<IncrementRecord[]>()
      .exec();
  }

  /**
   * Records a version's time range unless it has one with its columns, or an unreadable one (ranges of a version's
   * bytes never change: idempotent).
   */
  async recordTimeRange(datasetVersionId: string, timeRange: VersionTimeRange): Promise<void> {
    await this.increments.updateOne({ _id: datasetVersionId, ...RANGE_TO_RECORD }, { $set: { timeRange } });
  }

  newest(pipelineId: string): Promise<IncrementRecord | null> {
    return this.increments.findOne({ pipelineId }, WITHOUT_ID).sort({ sequence: -1 }).lean<IncrementRecord>().exec();
  }

  /** The window of a request: the stored one if the request was seen before, else `resolved` (inserted, first wins). */
  async claimRequest(resolved: RequestWindowRecord): Promise<RequestWindowRecord> {
    const key = requestKey(resolved.pipelineId, resolved.requestId);
    const existing = await this.requests.findById(key, WITHOUT_ID).lean<RequestWindowRecord>().exec();
    if (existing) return existing;
    try {
      await this.requests.create({ _id: key, ...resolved });
      return resolved;
    } catch (error) {
      if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
      const winner = await this.requests.findById(key, WITHOUT_ID).lean<RequestWindowRecord>().exec();
      if (!winner) throw error;
      return winner;
    }
  }
}
