import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { mongoKeyedTable, tombstonesBefore, VersionedDocuments } from '@keel/coordination';
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
  /** Version of the window's state: every change claims the next one (compare-and-set, see DriftWindowRepository). */
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

/** The window's state, as its revisions hold it. */
type WindowState = Omit<DriftWindowDocument, '_id' | 'rev'>;

/** Revisions of the windows (compare-and-set claims); the retention sweep removes old ones. */
export const WINDOW_REVISIONS = 'drift_window_revisions';

/**
 * Drift windows and their reports (`drift_windows`, revisions in `drift_window_revisions`), read and written by `_id`
 * on the hot path. Every change is a compare-and-set (`VersionedDocuments`): of two replicas merging into the same
 * window at once (a partition handed over mid-event), one wins and the other reads the merged window and merges on
 * top of it, or finds its event applied (see docs/design/repositories.md).
 */
@Injectable()
export class DriftWindowRepository implements OnModuleInit {
  private readonly windows: Model<DriftWindowDocument>;
  private readonly versions: VersionedDocuments<WindowState>;

  constructor(infra: Infrastructure) {
    this.windows = infra.mongo.model<DriftWindowDocument>('DriftWindow', driftWindowSchema);
    this.versions = new VersionedDocuments<WindowState>({
      heads: mongoKeyedTable(infra.mongo, 'drift_windows'),
      revisions: mongoKeyedTable(infra.mongo, WINDOW_REVISIONS),
      versionField: 'rev',
      keepStates: 2,
    });
  }

  async onModuleInit(): Promise<void> {
    await this.windows.collection.dropIndex(FIELD_KEYED_UNIQUE_INDEX).catch(() => undefined);
  }

  async get(id: string): Promise<DriftWindowDocument | null> {
    const latest = await this.versions.read(id);
    return latest ? { ...latest.state, _id: id, rev: latest.version } : null;
  }

  /** Inserts a new window; false when another writer created it first (read it again). */
  create(window: DriftWindowDocument): Promise<boolean> {
    return this.versions.write(window._id, 0, stateOf(window));
  }

  /** Writes a merge on top of the window as read; false when another writer changed it first (read it again). */
  update(window: DriftWindowDocument, changes: Partial<WindowState>): Promise<boolean> {
    return this.versions.write(window._id, window.rev, { ...stateOf(window), ...changes });
  }

  /** Stores a window's report; a window evaluated twice after a crash keeps one report. */
  async saveReport(id: string, report: WindowReport): Promise<void> {
    await this.versions.update(id, (latest) => {
      if (!latest) return null;
      const { lastError: _cleared, ...state } = latest.state;
      return { ...state, ...report, status: 'evaluated' };
    });
  }

  /** Closes a window for good: retrying it with every later event would cost a registry lookup each time. */
  async recordFailure(id: string, reason: string): Promise<void> {
    await this.versions.update(id, (latest) =>
      latest ? { ...latest.state, lastError: reason, status: 'failed' } : null,
    );
  }

  /** Removes windows closed (evaluated or failed) before `cutoff` and their revisions (the retention sweep). */
  async deleteClosedBefore(cutoff: Date): Promise<number> {
    const old = {
      status: { $in: ['evaluated', 'failed'] as DriftWindowDocument['status'][] },
      $or: [{ evaluatedAt: { $lt: cutoff } }, { windowEnd: { $lt: cutoff } }],
    };
    const revisions = this.windows.db.collection(WINDOW_REVISIONS);
    await revisions.deleteMany(old);
    await revisions.deleteMany(tombstonesBefore(cutoff));
    return (await this.windows.deleteMany(old)).deletedCount;
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

/** A window's state without its `_id` and version, and without fields stored as undefined. */
function stateOf(window: DriftWindowDocument): WindowState {
  const { _id: _id, rev: _rev, ...state } = window;
  return Object.fromEntries(Object.entries(state).filter(([, value]) => value !== undefined)) as WindowState;
}
