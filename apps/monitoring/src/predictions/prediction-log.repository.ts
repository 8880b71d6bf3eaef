import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

/** One served prediction, as monitoring keeps it; `_id` is the prediction id. */
export interface PredictionLogDocument {
  _id: string;
  pipelineId: string;
  modelName: string;
  modelVersion: number;
  requestId: string;
  predictionId: string;
  /** The CloudEvent that logged it: a retry of that event recognises its own earlier inserts. */
  eventId: string;
  servedAt: Date;
  /** JSON text: input keys are free-form column names, which must not hit Mongo key restrictions. */
  inputsJson: string;
  outputsJson: string;
  loggedAt: Date;
}

const DUPLICATE_KEY = 11000;

const predictionLogSchema = new Schema<PredictionLogDocument>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    modelName: { type: String, required: true },
    modelVersion: { type: Number, required: true },
    requestId: { type: String, required: true },
    predictionId: { type: String, required: true },
    eventId: { type: String, required: true },
    servedAt: { type: Date, required: true },
    inputsJson: { type: String, required: true },
    outputsJson: { type: String, required: true },
    loggedAt: { type: Date, required: true },
  },
  { collection: 'prediction_logs', versionKey: false },
);
// A prediction id is logged once, also against documents whose `_id` is not the prediction id (shape changes: see
// docs/design/repositories.md).
predictionLogSchema.index({ predictionId: 1 }, { unique: true });

/** The write errors of an unordered insert that failed, as the driver reports them (one or several). */
function writeErrorsOf(error: unknown): { code?: number; index: number }[] {
  const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
  if (Array.isArray(writeErrors)) return writeErrors as { code?: number; index: number }[];
  return writeErrors ? [writeErrors as { code?: number; index: number }] : [];
}

/** The durable prediction log (`prediction_logs`); per-event writes and reads are by `_id` alone. */
@Injectable()
export class PredictionLogRepository implements OnModuleInit {
  private readonly logs: Model<PredictionLogDocument>;

  constructor(infra: Infrastructure) {
    this.logs = infra.mongo.model<PredictionLogDocument>('PredictionLog', predictionLogSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.logs.createIndexes();
  }

  /**
   * Inserts the predictions (one unordered insert) and returns the indexes of those this event logs: the ones
   * inserted now, plus those an earlier attempt of the same event inserted (a retry after a crash). A prediction id
   * another event logged is a duplicate. No read before the write: duplicates are rare, and only they are looked up,
   * by `_id`.
   */
  async insertNew(documents: readonly PredictionLogDocument[]): Promise<number[]> {
    if (documents.length === 0) return [];
    const duplicates = new Set<number>();
    try {
      // The driver's typing wants ObjectId ids; ours are the prediction ids.
      await this.logs.collection.insertMany(documents.map((doc) => ({ ...doc })) as never[], { ordered: false });
    } catch (error) {
      const errors = writeErrorsOf(error);
      if (errors.length === 0 || errors.some((e) => e.code !== DUPLICATE_KEY)) throw error;
      for (const e of errors) duplicates.add(e.index);
    }
    const owned: number[] = [];
    for (let i = 0; i < documents.length; i++) {
      if (!duplicates.has(i)) owned.push(i);
      else {
        const stored = await this.logs.findById(documents[i]._id, { eventId: 1 }).lean();
        if (stored?.eventId === documents[i].eventId) owned.push(i);
      }
    }
    return owned;
  }

  /** Predictions logged for a pipeline (an HTTP count: a scan is fine here). */
  async countFor(pipelineId: string): Promise<number> {
    return this.logs.countDocuments({ pipelineId });
  }
}
