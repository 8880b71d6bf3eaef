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

const labelLogSchema = new Schema<LabelLogDocument>(
  {
    predictionId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    label: { type: Schema.Types.Mixed, required: true },
    observedAt: { type: Date, required: true },
  },
  { collection: 'label_logs', versionKey: false },
);
labelLogSchema.index({ predictionId: 1 }, { unique: true });
labelLogSchema.index({ pipelineId: 1, observedAt: 1 });

/** Labels received for earlier predictions (`label_logs`). */
@Injectable()
export class LabelLogRepository implements OnModuleInit {
  private readonly labels: Model<LabelLogDocument>;

  constructor(infra: Infrastructure) {
    this.labels = infra.mongo.model<LabelLogDocument>('LabelLog', labelLogSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.labels.createIndexes();
  }

  /** Upserts by predictionId: redelivery rewrites the same values, a corrected label replaces the earlier one. */
  async upsertMany(documents: readonly LabelLogDocument[]): Promise<void> {
    if (documents.length === 0) return;
    await this.labels.bulkWrite(
      documents.map((doc) => ({
        updateOne: { filter: { predictionId: doc.predictionId }, update: { $set: doc }, upsert: true },
      })),
      { ordered: false },
    );
  }

  async countFor(pipelineId: string): Promise<number> {
    return this.labels.countDocuments({ pipelineId });
  }
}
