import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type Scalar } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

/** One served prediction, as monitoring keeps it. */
export interface PredictionLogDocument {
  pipelineId: string;
  modelName: string;
  modelVersion: number;
  requestId: string;
  predictionId: string;
  servedAt: Date;
  /** JSON text: input keys are free-form column names, which must not hit Mongo key restrictions. */
  inputsJson: string;
  outputsJson: string;
  windowIndex: number;
  loggedAt: Date;
}

/** A logged prediction with its inputs decoded. */
export interface LoggedPrediction {
  predictionId: string;
  modelName: string;
  servedAt: Date;
  inputs: Record<string, Scalar>;
}

interface CounterDocument {
  pipelineId: string;
  modelVersion: number;
  count: number;
  /** Window size fixed when the version's first prediction arrived, so a spec change never renumbers windows. */
  windowRows: number;
}

const DUPLICATE_KEY = 11000;

const predictionLogSchema = new Schema<PredictionLogDocument>(
  {
    pipelineId: { type: String, required: true },
    modelName: { type: String, required: true },
    modelVersion: { type: Number, required: true },
    requestId: { type: String, required: true },
    predictionId: { type: String, required: true },
    servedAt: { type: Date, required: true },
    inputsJson: { type: String, required: true },
    outputsJson: { type: String, required: true },
    windowIndex: { type: Number, required: true },
    loggedAt: { type: Date, required: true },
  },
  { collection: 'prediction_logs', versionKey: false },
);
predictionLogSchema.index({ predictionId: 1 }, { unique: true });
predictionLogSchema.index({ pipelineId: 1, modelVersion: 1, windowIndex: 1 });

const counterSchema = new Schema<CounterDocument>(
  {
    pipelineId: { type: String, required: true },
    modelVersion: { type: Number, required: true },
    count: { type: Number, required: true },
    windowRows: { type: Number, required: true },
  },
  { collection: 'monitoring_counters', versionKey: false },
);
counterSchema.index({ pipelineId: 1, modelVersion: 1 }, { unique: true });

/** The durable prediction log (`prediction_logs`) and the per-version arrival counters (`monitoring_counters`). */
@Injectable()
export class PredictionLogRepository implements OnModuleInit {
  private readonly logs: Model<PredictionLogDocument>;
  private readonly counters: Model<CounterDocument>;

  constructor(infra: Infrastructure) {
    this.logs = infra.mongo.model<PredictionLogDocument>('PredictionLog', predictionLogSchema);
    this.counters = infra.mongo.model<CounterDocument>('MonitoringCounter', counterSchema);
  }

  async onModuleInit(): Promise<void> {
    await Promise.all([this.logs.createIndexes(), this.counters.createIndexes()]);
  }

  /** Window index of each prediction id already logged. */
  async windowsOf(predictionIds: readonly string[]): Promise<Map<string, number>> {
    const found = await this.logs
      .find({ predictionId: { $in: predictionIds } }, { predictionId: 1, windowIndex: 1 })
      .lean();
    return new Map(found.map((doc) => [doc.predictionId, doc.windowIndex]));
  }

  /**
   * Advances the version's counter by `added` (0 reads it) and returns the new count and the window size.
   * Deliberately without a projection: upsert + returnDocument 'after' is kept to the findAndModify form FerretDB
   * supports.
   */
  async advance(
    pipelineId: string,
    modelVersion: number,
    added: number,
    windowRows: number,
  ): Promise<{ count: number; windowRows: number }> {
    const counter = await this.counters
      .findOneAndUpdate(
        { pipelineId, modelVersion },
        { $inc: { count: added }, $setOnInsert: { windowRows } },
        { upsert: true, returnDocument: 'after' },
      )
      .lean();
    if (!counter) throw new Error(`counter of ${pipelineId} v${modelVersion} was not returned`);
    return { count: counter.count, windowRows: counter.windowRows };
  }

  /**
   * Inserts predictions not logged yet. One unordered insert rather than per-document upserts (FerretDB runs those
   * one by one, ~100 ms each); a prediction id that is already there (a concurrent redelivery) is left as it is.
   */
  async insertMissing(documents: readonly PredictionLogDocument[]): Promise<void> {
    if (documents.length === 0) return;
    try {
      await this.logs.collection.insertMany(
        documents.map((doc) => ({ ...doc })),
        { ordered: false },
      );
    } catch (error) {
      const writeErrors = (error as { writeErrors?: { code?: number }[] | { code?: number } }).writeErrors;
      const errors = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
      if (errors.length === 0 || errors.some((e) => e.code !== DUPLICATE_KEY)) throw error;
    }
  }

  /** The predictions of one window, in arrival order as far as servedAt tells. */
  async windowRows(pipelineId: string, modelVersion: number, windowIndex: number): Promise<LoggedPrediction[]> {
    const docs = await this.logs.find({ pipelineId, modelVersion, windowIndex }).sort({ servedAt: 1 }).lean();
    return docs.map((doc) => ({
      predictionId: doc.predictionId,
      modelName: doc.modelName,
      servedAt: doc.servedAt,
      inputs: JSON.parse(doc.inputsJson) as Record<string, Scalar>,
    }));
  }

  async countFor(pipelineId: string): Promise<number> {
    return this.logs.countDocuments({ pipelineId });
  }
}
