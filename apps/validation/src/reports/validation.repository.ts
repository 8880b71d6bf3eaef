import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type Finding, type ReferenceColumn } from '../checks/validation-checks';

/** The reference of a pipeline (collection `validation_references`): set by its first validated version. */
export interface ValidationReference {
  pipelineId: string;
  datasetVersionId: string;
  columns: ReferenceColumn[];
  createdAt: Date;
}

/** The outcome of validating one version (collection `validation_reports`); the full report is in object storage. */
export interface ValidationReport {
  pipelineId: string;
  datasetVersionId: string;
  reportUri: string;
  passed: boolean;
  findings: Finding[];
  createdAt: Date;
}

/** `_id` = pipeline id: read for every version validated, so by `_id` alone (see docs/design/repositories.md). */
const referenceSchema = new Schema<ValidationReference & { _id: string }>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    datasetVersionId: { type: String, required: true },
    // Plain subdocuments: {name, type, missingRate, min?, max?, categories?}; column names are values, never keys.
    columns: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'validation_references', versionKey: false },
);

const findingSchema = { _id: false, check: String, column: String, severity: String, message: String };
/** `_id` = dataset version id (it names its pipeline). */
const reportSchema = new Schema<ValidationReport & { _id: string }>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    datasetVersionId: { type: String, required: true },
    reportUri: { type: String, required: true },
    passed: { type: Boolean, required: true },
    findings: { type: [findingSchema], required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'validation_reports', versionKey: false },
);
reportSchema.index({ pipelineId: 1, createdAt: -1 });

const DUPLICATE_KEY = 11000;

/** Unique indexes of the shape keyed by fields (ObjectId `_id`), which would refuse the `_id`-keyed documents. */
const LEGACY_INDEXES = { references: 'pipelineId_1', reports: 'datasetVersionId_1' } as const;

/** References and reports in MongoDB. */
@Injectable()
export class ValidationRepository implements OnModuleInit {
  private readonly references: Model<ValidationReference & { _id: string }>;
  private readonly reports: Model<ValidationReport & { _id: string }>;

  constructor(infra: Infrastructure) {
    this.references = infra.mongo.model<ValidationReference & { _id: string }>('ValidationReference', referenceSchema);
    this.reports = infra.mongo.model<ValidationReport & { _id: string }>('ValidationReport', reportSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.migrateLegacy();
    await this.reports.createIndexes();
  }

  /** References and reports with an ObjectId `_id` are rewritten under their key, the first reference kept. */
  private async migrateLegacy(): Promise<void> {
    await this.references.collection.dropIndex(LEGACY_INDEXES.references).catch(() => undefined);
    await this.reports.collection.dropIndex(LEGACY_INDEXES.reports).catch(() => undefined);
    const objectIds = { _id: { $type: 'objectId' } } as never;
    for (const old of await this.references.collection.find(objectIds).toArray()) {
      const { _id, ...reference } = old as unknown as ValidationReference & { _id: unknown };
      await this.references.updateOne({ _id: reference.pipelineId }, { $setOnInsert: reference }, { upsert: true });
      await this.references.collection.deleteOne({ _id } as never);
    }
    for (const old of await this.reports.collection.find(objectIds).toArray()) {
      const { _id, ...report } = old as unknown as ValidationReport & { _id: unknown };
      await this.reports.updateOne({ _id: report.datasetVersionId }, { $setOnInsert: report }, { upsert: true });
      await this.reports.collection.deleteOne({ _id } as never);
    }
  }

  async reference(pipelineId: string): Promise<ValidationReference | null> {
    return this.references.findById(pipelineId, { _id: 0 }).lean<ValidationReference>();
  }

  /** Stores the pipeline's reference unless one exists; returns the stored one (the first version's wins). */
  async setReferenceOnce(reference: ValidationReference): Promise<ValidationReference> {
    try {
      await this.references.updateOne({ _id: reference.pipelineId }, { $setOnInsert: reference }, { upsert: true });
    } catch (error) {
      if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
    }
    const stored = await this.reference(reference.pipelineId);
    if (!stored) throw new Error(`reference of ${reference.pipelineId} vanished after its upsert`);
    return stored;
  }

  /** One report per dataset version: a redelivery replaces it with the same outcome. */
  async saveReport(report: ValidationReport): Promise<void> {
    const { createdAt, ...outcome } = report;
    await this.reports.updateOne(
      { _id: report.datasetVersionId },
      { $set: outcome, $setOnInsert: { createdAt } },
      { upsert: true },
    );
  }

  /** Reports of a pipeline, newest first. */
  async listReports(pipelineId: string, limit = 100): Promise<ValidationReport[]> {
    return this.reports
      .find({ pipelineId }, { _id: 0 })
      .sort({ createdAt: -1 })
      .limit(limit)
      .lean<ValidationReport[]>();
  }
}
