import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type SnapshotRef } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

/** One materialized feature set (collection `feature_sets`), keyed by its feature-set id. */
export interface FeatureSetRecord {
  featureSetId: string;
  pipelineId: string;
  datasetVersionId: string;
  datasetSha256: string;
  featureSetUri: string;
  featureSetSha256: string;
  transformUri: string;
  transformSha256: string;
  rowCounts: { train: number; validation: number; holdout: number };
  /** The training window the rows came from; datasetVersionId is its newest version. */
  snapshot: SnapshotRef;
  createdAt: Date;
}

/** `_id` = feature-set id (it names its pipeline); written per event, so by `_id` alone (docs/design/repositories.md). */
const featureSetSchema = new Schema<FeatureSetRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
    featureSetId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    datasetVersionId: { type: String, required: true },
    datasetSha256: { type: String, required: true },
    featureSetUri: { type: String, required: true },
    featureSetSha256: { type: String, required: true },
    transformUri: { type: String, required: true },
    transformSha256: { type: String, required: true },
    rowCounts: {
      train: { type: Number, required: true },
      validation: { type: Number, required: true },
      holdout: { type: Number, required: true },
    },
    snapshot: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'feature_sets', versionKey: false },
);
featureSetSchema.index({ pipelineId: 1, createdAt: -1 });

/** Feature-set metadata in MongoDB; the bytes live in object storage. */
@Injectable()
export class FeatureSetsRepository implements OnModuleInit {
  private readonly model: Model<FeatureSetRecord & { _id: string }>;

  constructor(infra: Infrastructure) {
    this.model =
      (infra.mongo.models.FeatureSet as Model<FeatureSetRecord & { _id: string }> | undefined) ??
      infra.mongo.model<FeatureSetRecord & { _id: string }>('FeatureSet', featureSetSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.model.createIndexes();
  }

  /** Idempotent: a redelivered event rewrites the same document and keeps its first createdAt. */
  async upsert(record: Omit<FeatureSetRecord, 'createdAt'>, now = new Date()): Promise<void> {
    await this.model.updateOne(
      { _id: record.featureSetId },
      { $set: record, $setOnInsert: { createdAt: now } },
      { upsert: true },
    );
  }
}
