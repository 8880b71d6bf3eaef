import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type FeatureDriftReport } from './drift-evaluator';

/** One feature's line in a window report. */
export type WindowFeatureReport = Pick<FeatureDriftReport, 'feature' | 'psi' | 'jensenShannon' | 'pValue' | 'drifted'>;

/** A drift window of one model version: open while it fills, then its evaluation report. */
export interface DriftWindowDocument {
  pipelineId: string;
  modelVersion: number;
  windowIndex: number;
  /** `failed`: evaluation hit a failure retrying cannot fix (unknown model version, unreadable package). */
  status: 'open' | 'evaluated' | 'failed';
  modelName?: string;
  rowCount?: number;
  windowStart?: Date;
  windowEnd?: Date;
  features?: WindowFeatureReport[];
  drifted?: boolean;
  evaluatedAt?: Date;
  /** Why the last evaluation attempt failed, when it did; the window stays open and is retried. */
  lastError?: string;
}

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
    pipelineId: { type: String, required: true },
    modelVersion: { type: Number, required: true },
    windowIndex: { type: Number, required: true },
    status: { type: String, enum: ['open', 'evaluated', 'failed'], required: true },
    modelName: String,
    rowCount: Number,
    windowStart: Date,
    windowEnd: Date,
    features: { type: [featureSchema], default: undefined },
    drifted: Boolean,
    evaluatedAt: Date,
    lastError: String,
  },
  { collection: 'drift_windows', versionKey: false },
);
driftWindowSchema.index({ pipelineId: 1, modelVersion: 1, windowIndex: 1 }, { unique: true });
driftWindowSchema.index({ pipelineId: 1, evaluatedAt: -1 });

/** Drift windows and their reports (`drift_windows`). */
@Injectable()
export class DriftWindowRepository implements OnModuleInit {
  private readonly windows: Model<DriftWindowDocument>;

  constructor(infra: Infrastructure) {
    this.windows = infra.mongo.model<DriftWindowDocument>('DriftWindow', driftWindowSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.windows.createIndexes();
  }

  /** Records that these windows exist (status open) unless they already do. */
  async ensureOpen(pipelineId: string, modelVersion: number, windowIndexes: readonly number[]): Promise<void> {
    if (windowIndexes.length === 0) return;
    await this.windows.bulkWrite(
      windowIndexes.map((windowIndex) => ({
        updateOne: {
          filter: { pipelineId, modelVersion, windowIndex },
          update: { $setOnInsert: { pipelineId, modelVersion, windowIndex, status: 'open' as const } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  /** Open windows of a version with an index below `fullWindows`: full, and not evaluated yet. */
  async openFullWindows(pipelineId: string, modelVersion: number, fullWindows: number): Promise<number[]> {
    const docs = await this.windows
      .find({ pipelineId, modelVersion, status: 'open', windowIndex: { $lt: fullWindows } }, { windowIndex: 1 })
      .sort({ windowIndex: 1 })
      .lean();
    return docs.map((doc) => doc.windowIndex);
  }

  async isEvaluated(pipelineId: string, modelVersion: number, windowIndex: number): Promise<boolean> {
    const doc = await this.windows.findOne({ pipelineId, modelVersion, windowIndex }, { status: 1 }).lean();
    return doc?.status === 'evaluated';
  }

  /** Stores a window's report; upsert, so a window evaluated twice after a crash keeps one report. */
  async saveReport(report: Required<Omit<DriftWindowDocument, 'lastError'>>): Promise<void> {
    const { pipelineId, modelVersion, windowIndex } = report;
    await this.windows.updateOne(
      { pipelineId, modelVersion, windowIndex },
      { $set: report, $unset: { lastError: 1 } },
      { upsert: true },
    );
  }

  async recordFailure(pipelineId: string, modelVersion: number, windowIndex: number, reason: string): Promise<void> {
    // Closed for good: re-trying it with every later event of the model would cost a registry lookup each time.
    await this.windows.updateOne(
      { pipelineId, modelVersion, windowIndex, status: 'open' },
      { $set: { lastError: reason, status: 'failed' } },
    );
  }

  /** Evaluated windows of a pipeline, newest first. */
  async reports(pipelineId: string, limit: number): Promise<DriftWindowDocument[]> {
    return this.windows
      .find({ pipelineId, status: 'evaluated' }, { _id: 0 })
      .sort({ evaluatedAt: -1, windowIndex: -1 })
      .limit(limit)
      .lean();
  }
}
