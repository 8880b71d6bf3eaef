import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type FeatureDriftReport } from './drift-evaluator';

/** One feature's line in a window report. */
export type WindowFeatureReport = Pick<FeatureDriftReport, 'feature' | 'psi' | 'jensenShannon' | 'pValue' | 'drifted'>;

/** `_id` of a drift window: every hot-path lookup is by it (see docs/design/repositories.md). */
export function windowId(pipelineId: string, modelVersion: number, windowIndex: number): string {
  return `${pipelineId}|${modelVersion}|${windowIndex}`;
}

/**
 * A drift window of one model version: open while its rows arrive and are merged into its summaries, then its
 * evaluation report.
 */
export interface DriftWindowDocument {
  _id: string;
  pipelineId: string;
  modelVersion: number;
  windowIndex: number;
  /** `failed`: the window hit a failure retrying cannot fix (unknown model version, unreadable package). */
  status: 'open' | 'evaluated' | 'failed';
  modelName?: string;
  /** Rows merged so far; the window is evaluated when it reaches the version's windowRows. */
  rowCount: number;
  windowStart?: Date;
  windowEnd?: Date;
  /** JSON text of the window's mergeable feature summaries (see summariesToJson). */
  summariesJson?: string;
  /** CloudEvent ids whose rows are merged in, so a crash-and-redeliver never counts them twice. */
  appliedEventIds: string[];
  /** Merges written so far: every merge writes the rev it read + 1. */
  rev: number;
  features?: WindowFeatureReport[];
  drifted?: boolean;
  evaluatedAt?: Date;
  /** Why the window failed, when it did. */
  lastError?: string;
}

/** A window as the report API lists it (the working fields left out). */
export type ListedWindow = Omit<DriftWindowDocument, '_id' | 'summariesJson' | 'appliedEventIds' | 'rev'>;

/** What a report stores on its window. */
export type WindowReport = Required<
  Pick<
    DriftWindowDocument,
    | 'pipelineId'
    | 'modelVersion'
    | 'windowIndex'
    | 'modelName'
    | 'rowCount'
    | 'windowStart'
    | 'windowEnd'
    | 'features'
    | 'drifted'
    | 'evaluatedAt'
  >
>;

const featureSchema = new Schema<WindowFeatureReport>(
  {
    feature: { type: String, required: true },
    psi: { type: Number, required: true },
    jensenShannon: { type: Number, required: true },
    pValue: { type: Number, required: true },
    drifted: { type: Boolean, required: true },
  },
  { _id: false },
);

const driftWindowSchema = new Schema<DriftWindowDocument>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    modelVersion: { type: Number, required: true },
    windowIndex: { type: Number, required: true },
    status: { type: String, enum: ['open', 'evaluated', 'failed'], required: true },
    modelName: String,
    rowCount: { type: Number, required: true },
    windowStart: Date,
    windowEnd: Date,
    summariesJson: String,
    appliedEventIds: { type: [String], required: true },
    rev: { type: Number, required: true },
    features: { type: [featureSchema], default: undefined },
    drifted: Boolean,
    evaluatedAt: Date,
    lastError: String,
  },
  { collection: 'drift_windows', versionKey: false },
);

/** A unique index on the window's fields would refuse an `_id`-keyed window whose fields a field-keyed one holds. */
const FIELD_KEYED_UNIQUE_INDEX = 'pipelineId_1_modelVersion_1_windowIndex_1';

/** Drift windows and their reports (`drift_windows`), read and written by `_id` on the hot path. */
@Injectable()
export class DriftWindowRepository implements OnModuleInit {
  private readonly windows: Model<DriftWindowDocument>;

  constructor(infra: Infrastructure) {
    this.windows = infra.mongo.model<DriftWindowDocument>('DriftWindow', driftWindowSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.windows.collection.dropIndex(FIELD_KEYED_UNIQUE_INDEX).catch(() => undefined);
  }

  get(id: string): Promise<DriftWindowDocument | null> {
    return this.windows.findById(id).lean<DriftWindowDocument>();
  }

  /** Inserts a new window; false when another writer created it first (read it again). */
  async create(window: DriftWindowDocument): Promise<boolean> {
    const result = await this.windows.updateOne({ _id: window._id }, { $setOnInsert: window }, { upsert: true });
    return result.upsertedCount === 1;
  }

  /**
   * Writes a merge read at `rev`. `_id`-only filter: the caller serialises merges of a window (DriftService), and
   * `rev` counts writes (see docs/design/repositories.md).
   */
  async update(id: string, rev: number, changes: Partial<Omit<DriftWindowDocument, '_id' | 'rev'>>): Promise<boolean> {
    const result = await this.windows.updateOne({ _id: id }, { $set: { ...changes, rev: rev + 1 } });
    return result.matchedCount === 1;
  }

  /** Stores a window's report; a window evaluated twice after a crash keeps one report. */
  async saveReport(id: string, report: WindowReport): Promise<void> {
    await this.windows.updateOne({ _id: id }, { $set: { ...report, status: 'evaluated' }, $unset: { lastError: 1 } });
  }

  /** Closes a window for good: retrying it with every later event would cost a registry lookup each time. */
  async recordFailure(id: string, reason: string): Promise<void> {
    await this.windows.updateOne({ _id: id }, { $set: { lastError: reason, status: 'failed' } });
  }

  /** Evaluated windows of a pipeline, newest first (an HTTP list: a scan is fine here). */
  async reports(pipelineId: string, limit: number): Promise<ListedWindow[]> {
    return this.windows
      .find({ pipelineId, status: 'evaluated' }, { _id: 0, summariesJson: 0, appliedEventIds: 0, rev: 0 })
      .sort({ evaluatedAt: -1, windowIndex: -1 })
      .limit(limit)
      .lean();
  }
}
