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
  /** The parent's sequence plus one (1 for a pipeline's first version): "version 17" of a pipeline. */
  sequence?: number;
  createdAt: Date;
}

const datasetSchema = new Schema<DatasetVersion & { _id: string }>(
  {
    _id: { type: String, required: true },
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
    sequence: { type: Number, required: false },
    createdAt: { type: Date, required: true },
  },
  { collection: 'datasets', versionKey: false },
);
// Content-addressed: the same bytes for the same pipeline are one version, however often they are written.
datasetSchema.index({ pipelineId: 1, sha256: 1 }, { unique: true });
datasetSchema.index({ pipelineId: 1, createdAt: -1 });

/** The newest version of a pipeline (`dataset_heads`, `_id` = pipeline id): the parent of the next one. */
export interface HeadDocument {
  _id: string;
  datasetVersionId: string;
  createdAt: Date;
  /** The newest version's sequence, so the next write numbers its version without reading the parent. */
  sequence?: number;
}

const headSchema = new Schema<HeadDocument>(
  {
    _id: { type: String, required: true },
    datasetVersionId: { type: String, required: true },
    createdAt: { type: Date, required: true },
    sequence: { type: Number, required: false },
  },
  { collection: 'dataset_heads', versionKey: false },
);

const DUPLICATE_KEY = 11000;
const WITHOUT_ID = { _id: 0 } as const;

/**
 * Dataset versions in MongoDB, stored under `_id` = datasetVersionId (derived from the pipeline id and the content
 * hash); the write path looks versions and heads up by `_id` alone (see docs/design/repositories.md).
 */
@Injectable()
export class DatasetsRepository implements OnModuleInit {
  private readonly model: Model<DatasetVersion & { _id: string }>;
  private readonly heads: Model<HeadDocument>;

  constructor(infra: Infrastructure) {
    this.model = infra.mongo.model<DatasetVersion & { _id: string }>('IngestedDataset', datasetSchema);
    this.heads = infra.mongo.model<HeadDocument>('IngestedDatasetHead', headSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.model.createIndexes();
  }

  /** The pipeline's head (its newest version's id, time and sequence), by `_id`; null before its first version. */
  async head(pipelineId: string): Promise<HeadDocument | null> {
    return this.heads.findById(pipelineId).lean<HeadDocument>();
  }

  /** Newest version of a pipeline, the parent of the next one. */
  async latest(pipelineId: string): Promise<DatasetVersion | null> {
    const head = await this.heads.findById(pipelineId).lean<HeadDocument>();
    if (head) return this.get(head.datasetVersionId);
    // A pipeline without a head but with versions: one scan, then the head takes over.
    return this.model.findOne({ pipelineId }, WITHOUT_ID).sort({ createdAt: -1 }).lean<DatasetVersion>();
  }

  /**
   * The version stored with `lineage` among its sources: a PostgreSQL pull's lineage names its source and the range
   * of rows, so this finds the version an interrupted pull wrote for a planned range whatever bytes encoding them
   * gives now. A scan of the pipeline's versions on FerretDB: only a pull resuming a plan made by a build before plans
   * recorded their version's id asks (once, after that upgrade).
   */
  async findBySource(pipelineId: string, lineage: string): Promise<DatasetVersion | null> {
    return this.model.findOne({ pipelineId, sources: lineage }, WITHOUT_ID).lean<DatasetVersion>();
  }

  async get(datasetVersionId: string): Promise<DatasetVersion | null> {
    return this.model.findById(datasetVersionId, WITHOUT_ID).lean<DatasetVersion>();
  }

  /** Inserts the version unless it exists; either way returns what is stored (the first writer wins). */
  async upsert(version: DatasetVersion): Promise<DatasetVersion> {
    try {
      const { upsertedCount } = await this.model.updateOne(
        { _id: version.datasetVersionId },
        { $setOnInsert: { _id: version.datasetVersionId, ...version } },
        { upsert: true },
      );
      // Inserted by this call: what is stored is `version` itself, no read needed.
      if (upsertedCount === 1) return version;
    } catch (error) {
      // Two writers raced on the same content; the other one's document is as good as ours.
      if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
    }
    const stored =
      (await this.get(version.datasetVersionId)) ??
      // The same pipeline and content may be stored under another id; that document is the version: a rare scan.
      (await this.model
        .findOne({ pipelineId: version.pipelineId, sha256: version.sha256 }, WITHOUT_ID)
        .lean<DatasetVersion>());
    if (!stored) throw new Error(`dataset ${version.datasetVersionId} vanished after its upsert`);
    return stored;
  }

  /**
   * Makes `version` the pipeline's newest unless a newer one is already recorded, in one conditional upsert (the
   * pattern of KeyedTable.raise): two writers of one pipeline (two sources, a pull and a cut) advance it in any order
   * and the newer version stays the head. `known`, a head the caller has just read, only spares the write when it is
   * already as new; it is never the guard (a head read before an upsert can be stale by the time of the advance).
   */
  async advanceHead(version: DatasetVersion, known?: HeadDocument | null): Promise<void> {
    if (known && known.createdAt.getTime() >= version.createdAt.getTime()) return;
    try {
      await this.heads.updateOne(
        { _id: version.pipelineId, createdAt: { $lt: version.createdAt } },
        {
          $set: {
            datasetVersionId: version.datasetVersionId,
            createdAt: version.createdAt,
            ...(version.sequence === undefined ? {} : { sequence: version.sequence }),
          },
        },
        { upsert: true },
      );
    } catch (error) {
      // The head exists and is as new or newer: the upsert's insert met its `_id`.
      if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
    }
  }

  /** A pipeline's version by its id or its sequence number ("17"); an HTTP read, so a scan is fine for the number. */
  async find(pipelineId: string, idOrSequence: string): Promise<DatasetVersion | null> {
    const found = /^[1-9][0-9]{0,9}$/.test(idOrSequence)
      ? await this.model.findOne({ pipelineId, sequence: Number(idOrSequence) }, WITHOUT_ID).lean<DatasetVersion>()
      : await this.get(idOrSequence);
    return found?.pipelineId === pipelineId ? found : null;
  }

  /** Versions of a pipeline, newest first (an HTTP list: a scan is fine here). */
  async list(pipelineId: string, limit = 100): Promise<DatasetVersion[]> {
    return this.model.find({ pipelineId }, WITHOUT_ID).sort({ createdAt: -1 }).limit(limit).lean<DatasetVersion[]>();
  }
}
