import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { hasLegacyKey, predictionKey } from '../prediction-key';

/** One served prediction, as monitoring keeps it; `_id` is predictionKey(pipelineId, predictionId). */
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
// The retention sweep deletes by age.
predictionLogSchema.index({ loggedAt: 1 });

/** The unique index on the prediction id alone, which refused the same prediction id in a second pipeline. */
const PIPELINE_BLIND_UNIQUE_INDEX = 'predictionId_1';

/**
 * The per-prediction log (`prediction_logs`) of earlier releases, which wrote one document per served row: no longer
 * written (served predictions are archived in bulk, see PredictionArchive); kept for retention and key migration.
 */
@Injectable()
export class PredictionLogRepository implements OnModuleInit {
  private readonly logs: Model<PredictionLogDocument>;

  constructor(infra: Infrastructure) {
    this.logs = infra.mongo.model<PredictionLogDocument>('PredictionLog', predictionLogSchema);
  }

  /** Drops the index that would refuse a prediction id in a second pipeline; older keys migrate in the background. */
  async onModuleInit(): Promise<void> {
    await this.logs.collection.dropIndex(PIPELINE_BLIND_UNIQUE_INDEX).catch(() => undefined);
    await this.logs.createIndexes();
  }

  /**
   * Moves logs keyed by the bare prediction id to the pipeline-scoped key: a copy under the new key first (a copy
   * that exists is a duplicate and fine), then the old one deleted by `_id`, so a crash in between leaves a copy the
   * next run recognises. One scan of the keys, in small batches with pauses so the hot path keeps the store; run
   * after start-up (a large log takes minutes) and safe on several replicas at once. Returns how many it moved.
   */
  async migrateLegacyKeys(batchSize = 100, pauseMs = 50): Promise<number> {
    let moved = 0;
    let batch: string[] = [];
    const flush = async () => {
      for (const id of batch) {
        const legacy = await this.logs.collection.findOne({ _id: id } as never);
        if (!legacy) continue;
        try {
          const copy = { ...legacy, _id: predictionKey(legacy.pipelineId, legacy.predictionId) };
          await this.logs.collection.insertOne(copy as never);
        } catch (error) {
          if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
        }
        await this.logs.collection.deleteOne({ _id: id } as never);
        moved++;
      }
      batch = [];
      await sleep(pauseMs);
    };
    const keys = this.logs.collection.find({}, { projection: { _id: 1, pipelineId: 1, predictionId: 1 } });
    for await (const key of keys as AsyncIterable<Pick<PredictionLogDocument, '_id' | 'pipelineId' | 'predictionId'>>) {
      if (!hasLegacyKey(key)) continue;
      batch.push(key._id);
      if (batch.length >= batchSize) await flush();
    }
    await flush();
    return moved;
  }

  /** Removes logs written before `cutoff` (the retention sweep); returns how many. */
  async deleteLoggedBefore(cutoff: Date): Promise<number> {
    return (await this.logs.deleteMany({ loggedAt: { $lt: cutoff } })).deletedCount;
  }
}
