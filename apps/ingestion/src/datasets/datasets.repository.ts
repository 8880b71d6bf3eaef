import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type ColumnType } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

/** One immutable dataset version of a pipeline, as stored in the `datasets` collection. */
export interface DatasetVersion {
  datasetVersionId: string;
  pipelineId: string;
  uri: string;
  sha256: string;
  sizeBytes: number;
  format: 'parquet';
  rowCount: number;
  columns: { name: string; type: ColumnType }[];
  sources: string[];
  parentVersionId?: string;
  createdAt: Date;
}

const datasetSchema = new Schema<DatasetVersion>(
  {
    datasetVersionId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    uri: { type: String, required: true },
    sha256: { type: String, required: true },
    sizeBytes: { type: Number, required: true },
    format: { type: String, required: true },
    rowCount: { type: Number, required: true },
    columns: { type: [{ _id: false, name: String, type: { type: String } }], required: true },
    sources: { type: [String], required: true },
    parentVersionId: { type: String, required: false },
    createdAt: { type: Date, required: true },
  },
  { collection: 'datasets', versionKey: false },
);
// Content-addressed: the same bytes for the same pipeline are one version, however often they are written.
datasetSchema.index({ pipelineId: 1, sha256: 1 }, { unique: true });
datasetSchema.index({ pipelineId: 1, createdAt: -1 });

const DUPLICATE_KEY = 11000;

/** Dataset versions in MongoDB. */
@Injectable()
export class DatasetsRepository implements OnModuleInit {
  private readonly model: Model<DatasetVersion>;

  constructor(infra: Infrastructure) {
    this.model = infra.mongo.model<DatasetVersion>('IngestedDataset', datasetSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.model.createIndexes();
  }

  /** Newest version of a pipeline, the parent of the next one. */
  async latest(pipelineId: string): Promise<DatasetVersion | null> {
    return this.model.findOne({ pipelineId }, { _id: 0 }).sort({ createdAt: -1 }).lean<DatasetVersion>();
  }

  async find(pipelineId: string, sha256: string): Promise<DatasetVersion | null> {
    return this.model.findOne({ pipelineId, sha256 }, { _id: 0 }).lean<DatasetVersion>();
  }

  /** Inserts the version unless it exists; either way returns what is stored (the first writer wins). */
  async upsert(version: DatasetVersion): Promise<DatasetVersion> {
    try {
      await this.model.updateOne(
        { pipelineId: version.pipelineId, sha256: version.sha256 },
        { $setOnInsert: version },
        { upsert: true },
      );
    } catch (error) {
      // Two writers raced on the same content; the other one's document is as good as ours.
      if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
    }
    const stored = await this.find(version.pipelineId, version.sha256);
    if (!stored) throw new Error(`dataset ${version.datasetVersionId} vanished after its upsert`);
    return stored;
  }

  /** Versions of a pipeline, newest first. */
  async list(pipelineId: string, limit = 100): Promise<DatasetVersion[]> {
    return this.model.find({ pipelineId }, { _id: 0 }).sort({ createdAt: -1 }).limit(limit).lean<DatasetVersion[]>();
  }
}
