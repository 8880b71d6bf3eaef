import { Injectable, type OnModuleInit } from '@nestjs/common';
import { tombstonesBefore } from '@keel/coordination';
import { Infrastructure } from '@keel/service-runtime';
import { type Collection } from 'mongodb';
import { type OutputSummary } from '../stream/partition-state';
import { type FeatureDriftReport, type PredictionDriftReport } from './drift-evaluator';

/** One feature's line in a window report: its test (statistic, value, threshold, verdict) and the usual figures. */
export type WindowFeatureReport = Omit<FeatureDriftReport, 'kind' | 'currentCount'>;
/** One model output's line (prediction drift against the version's first window). */
export type WindowPredictionReport = Omit<PredictionDriftReport, 'kind' | 'currentCount'>;

/** `_id` of a drift window: every hot-path lookup is by it (see docs/design/repositories.md). */
export function windowId(pipelineId: string, modelVersion: number, windowIndex: number): string {
  return `${pipelineId}|${modelVersion}|${windowIndex}`;
}

/**
 * A closed drift window of one model version: its report (`evaluated`), or why it could not be evaluated (`failed`).
 * Windows still filling live in the prediction stream's checkpoints, not here; `open` is what an earlier monitoring
 * left of a window it was filling.
 */
export interface DriftWindowDocument {
  _id: string;
  pipelineId: string;
  modelVersion: number;
  windowIndex: number;
  status: 'open' | 'evaluated' | 'failed';
  modelName?: string;
  rowCount: number;
  windowStart?: Date;
  windowEnd?: Date;
  features?: WindowFeatureReport[];
  /** Prediction drift (absent on a version's first window, whose outputs are the baseline). */
  predictions?: WindowPredictionReport[];
  /** How the pipeline cut its windows: by row count or by served time. */
  windowBy?: 'rows' | 'time';
  drifted?: boolean;
  /** The distribution of each model output over the window. */
  outputs?: OutputSummary[];
  evaluatedAt?: Date;
  /** Why the window failed, when it did. */
  lastError?: string;
}

/** A window as the report API lists it. */
export type ListedWindow = Omit<DriftWindowDocument, '_id'>;

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
    | 'outputs'
    | 'evaluatedAt'
    | 'windowBy'
  >
> &
  Pick<DriftWindowDocument, 'predictions'>;

/** Revisions an earlier monitoring kept of its windows while they filled; the retention sweep removes them. */
export const WINDOW_REVISIONS = 'drift_window_revisions';

/** A unique index on the window's fields would refuse an `_id`-keyed window whose fields a field-keyed one holds. */
const FIELD_KEYED_UNIQUE_INDEX = 'pipelineId_1_modelVersion_1_windowIndex_1';
const DUPLICATE_KEY = 11000;

/**
 * Closed drift windows and their reports (`drift_windows`). A window is written once, when it closes, by `_id`; the
 * windows a checkpoint interval closed go in one insert command. The same window closed again (a replay of the prediction log after a crash) computes the same report, and
 * its insert finds the window written and changes nothing.
 */
@Injectable()
export class DriftWindowRepository implements OnModuleInit {
  private readonly windows: Collection<DriftWindowDocument>;

  constructor(private readonly infra: Infrastructure) {
    this.windows = infra.mongo.collection<DriftWindowDocument>('drift_windows');
  }

  async onModuleInit(): Promise<void> {
    await this.windows.dropIndex(FIELD_KEYED_UNIQUE_INDEX).catch(() => undefined);
  }

  async get(id: string): Promise<DriftWindowDocument | null> {
    return this.windows.findOne({ _id: id });
  }

  /** Stores a closed window; false when it was stored before (the report then stays as first written). */
  async saveClosed(window: DriftWindowDocument): Promise<boolean> {
    try {
      await this.windows.insertOne(window);
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === DUPLICATE_KEY) return false;
      throw error;
    }
  }

  /**
   * Stores closed windows in one insert command (unordered: each document stands alone); those stored before keep
   * their first report. Returns how many were new.
   */
  async saveAllClosed(windows: readonly DriftWindowDocument[]): Promise<number> {
    if (windows.length === 0) return 0;
    try {
      return (await this.windows.insertMany([...windows], { ordered: false })).insertedCount;
    } catch (error) {
      const writeErrors = (error as { writeErrors?: { code?: unknown }[] | { code?: unknown } }).writeErrors;
      const errors = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
      if (errors.length === 0 || errors.some((writeError) => writeError.code !== DUPLICATE_KEY)) throw error;
      return windows.length - errors.length;
    }
  }

  /** Removes windows closed (evaluated or failed) before `cutoff`, and what an earlier monitoring left of them. */
  async deleteClosedBefore(cutoff: Date): Promise<number> {
    const old = {
      status: { $in: ['evaluated', 'failed'] as DriftWindowDocument['status'][] },
      $or: [{ evaluatedAt: { $lt: cutoff } }, { windowEnd: { $lt: cutoff } }],
    };
    const revisions = this.infra.mongo.collection(WINDOW_REVISIONS);
    await revisions.deleteMany(old);
    await revisions.deleteMany(tombstonesBefore(cutoff));
    return (await this.windows.deleteMany(old)).deletedCount;
  }

  /** Evaluated windows of a pipeline, newest first (an HTTP list: a scan is fine here). */
  async reports(pipelineId: string, limit: number): Promise<ListedWindow[]> {
    return this.windows
      .find(
        { pipelineId, status: 'evaluated' },
        { projection: { _id: 0, summariesJson: 0, appliedEventIds: 0, rev: 0 } },
      )
      .sort({ evaluatedAt: -1, windowIndex: -1 })
      .limit(limit)
      .toArray();
  }
}
