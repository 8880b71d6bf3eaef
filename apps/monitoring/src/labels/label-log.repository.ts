import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

/** Ground truth for one prediction, joined to `prediction_logs` by predictionId. */
export interface LabelLogDocument {
  predictionId: string;
  pipelineId: string;
  label: number | string;
  observedAt: Date;
}

/** As stored: `_id` is the prediction id, so the per-event upsert is an `_id`-only filter. */
interface StoredLabel extends LabelLogDocument {
  _id: string;
}

const labelLogSchema = new Schema<StoredLabel>(
  {
    _id: { type: String, required: true },
    predictionId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    label: { type: Schema.Types.Mixed, required: true },
    observedAt: { type: Date, required: true },
  },
  { collection: 'label_logs', versionKey: false },
);
labelLogSchema.index({ pipelineId: 1, observedAt: 1 });

/** A unique index on predictionId would refuse an `_id`-keyed label while a field-keyed one holds its prediction id. */
const FIELD_KEYED_UNIQUE_INDEX = 'predictionId_1';

/** Labels received for earlier predictions (`label_logs`), keyed by prediction id (see docs/design/repositories.md). */
@Injectable()
export class LabelLogRepository implements OnModuleInit {
  private readonly labels: Model<StoredLabel>;

  constructor(infra: Infrastructure) {
    this.labels = infra.mongo.model<StoredLabel>('LabelLog', labelLogSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.labels.createIndexes();
    await this.migrateFieldKeyedLabels();
  }

  /** Upserts by prediction id: redelivery rewrites the same values, a corrected label replaces the earlier one. */
  async upsertMany(documents: readonly LabelLogDocument[]): Promise<void> {
    if (documents.length === 0) return;
    await this.labels.bulkWrite(
      documents.map((doc) => ({
        updateOne: { filter: { _id: doc.predictionId }, update: { $set: doc }, upsert: true },
      })),
      { ordered: false },
    );
  }

  async countFor(pipelineId: string): Promise<number> {
    return this.labels.countDocuments({ pipelineId });
  }

  /**
   * Field-keyed labels (ObjectId `_id`) become `_id`-keyed ones; a label already stored under its prediction id is
   * newer and stays. The copy is written before the original is deleted, so a crash in between loses nothing.
   */
  private async migrateFieldKeyedLabels(): Promise<void> {
    await this.labels.collection.dropIndex(FIELD_KEYED_UNIQUE_INDEX).catch(() => undefined);
    const fieldKeyed = await this.labels.collection.find({ _id: { $type: 'objectId' } } as never).toArray();
    for (const { _id: oldId, ...label } of fieldKeyed as unknown as (LabelLogDocument & { _id: unknown })[]) {
      await this.labels.updateOne({ _id: label.predictionId }, { $setOnInsert: label }, { upsert: true });
      await this.labels.collection.deleteOne({ _id: oldId } as never);
    }
  }
}
