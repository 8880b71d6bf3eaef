import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { hasLegacyKey, predictionKey } from '../prediction-key';

/** Ground truth for one prediction, joined to `prediction_logs` by predictionId. */
export interface LabelLogDocument {
  predictionId: string;
  pipelineId: string;
  label: number | string;
  observedAt: Date;
}

/**
 * As stored: `_id` is predictionKey(pipelineId, predictionId), so the per-event upsert is an `_id`-only filter and two
 * pipelines' labels of the same prediction id never meet.
 */
interface StoredLabel extends LabelLogDocument {
  _id: string;
  /** When monitoring stored it, which the retention sweep goes by (observedAt is the sender's clock). */
  receivedAt?: Date;
}

const labelLogSchema = new Schema<StoredLabel>(
  {
    _id: { type: String, required: true },
    predictionId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    label: { type: Schema.Types.Mixed, required: true },
    observedAt: { type: Date, required: true },
    receivedAt: { type: Date, required: false },
  },
  { collection: 'label_logs', versionKey: false },
);
labelLogSchema.index({ pipelineId: 1, observedAt: 1 });
labelLogSchema.index({ receivedAt: 1 });

/** A unique index on predictionId would refuse an `_id`-keyed label while a field-keyed one holds its prediction id. */
const FIELD_KEYED_UNIQUE_INDEX = 'predictionId_1';

/** Labels received for earlier predictions (`label_logs`), keyed by pipeline and prediction id (docs/design/repositories.md). */
@Injectable()
export class LabelLogRepository implements OnModuleInit {
  private readonly labels: Model<StoredLabel>;

  constructor(infra: Infrastructure) {
    this.labels = infra.mongo.model<StoredLabel>('LabelLog', labelLogSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.labels.collection.dropIndex(FIELD_KEYED_UNIQUE_INDEX).catch(() => undefined);
    await this.labels.createIndexes();
  }

  /** Upserts by pipeline and prediction id: redelivery rewrites the same values, a corrected label replaces the earlier one. */
  async upsertMany(documents: readonly LabelLogDocument[]): Promise<void> {
    if (documents.length === 0) return;
    const receivedAt = new Date();
    await this.labels.bulkWrite(
      documents.map((doc) => ({
        updateOne: {
          filter: { _id: predictionKey(doc.pipelineId, doc.predictionId) },
          update: { $set: { ...doc, receivedAt } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  /** Removes labels received before `cutoff` (the retention sweep; older labels without receivedAt go by observedAt). */
  async deleteReceivedBefore(cutoff: Date): Promise<number> {
    const result = await this.labels.deleteMany({
      $or: [{ receivedAt: { $lt: cutoff } }, { receivedAt: { $exists: false }, observedAt: { $lt: cutoff } }],
    });
    return result.deletedCount;
  }

  async countFor(pipelineId: string): Promise<number> {
    return this.labels.countDocuments({ pipelineId });
  }

  /**
   * Labels under an older key (an ObjectId, or the bare prediction id) move to the pipeline-scoped one; a label
   * already stored under the new key is newer and stays. The copy is written before the original is deleted, so a
   * crash in between loses nothing. One scan, run after start-up (see PredictionLogRepository.migrateLegacyKeys).
   */
  async migrateLegacyKeys(): Promise<void> {
    const cursor = this.labels.collection.find({}, { projection: { _id: 1, pipelineId: 1, predictionId: 1 } });
    for await (const key of cursor as AsyncIterable<{ _id: unknown; pipelineId: string; predictionId: string }>) {
      if (!hasLegacyKey(key)) continue;
      const legacy = (await this.labels.collection.findOne({ _id: key._id } as never)) as unknown as
        (LabelLogDocument & { _id: unknown }) | null;
      if (!legacy) continue;
      const { _id: oldId, ...label } = legacy;
      await this.labels.updateOne(
        { _id: predictionKey(label.pipelineId, label.predictionId) },
        { $setOnInsert: label },
        { upsert: true },
      );
      await this.labels.collection.deleteOne({ _id: oldId } as never);
    }
  }
}
