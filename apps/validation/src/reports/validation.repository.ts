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

const referenceSchema = new Schema<ValidationReference>(
  {
    pipelineId: { type: String, required: true },
    datasetVersionId: { type: String, required: true },
    // Plain subdocuments: {name, type, missingRate, min?, max?, categories?}; column names are values, never keys.
    columns: { type: Schema.Types.Mixed, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'validation_references', versionKey: false },
);
referenceSchema.index({ pipelineId: 1 }, { unique: true });

const findingSchema = { _id: false, check: String, column: String, severity: String, message: String };
const reportSchema = new Schema<ValidationReport>(
  {
    pipelineId: { type: String, required: true },
    datasetVersionId: { type: String, required: true },
    reportUri: { type: String, required: true },
    passed: { type: Boolean, required: true },
    findings: { type: [findingSchema], required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'validation_reports', versionKey: false },
);
reportSchema.index({ datasetVersionId: 1 }, { unique: true });
reportSchema.index({ pipelineId: 1, createdAt: -1 });

const DUPLICATE_KEY = 11000;

/** References and reports in MongoDB. */
@Injectable()
export class ValidationRepository implements OnModuleInit {
  private readonly references: Model<ValidationReference>;
  private readonly reports: Model<ValidationReport>;

  constructor(infra: Infrastructure) {
    this.references = infra.mongo.model<ValidationReference>('ValidationReference', referenceSchema);
    this.reports = infra.mongo.model<ValidationReport>('ValidationReport', reportSchema);
  }

  async onModuleInit(): Promise<void> {
    await Promise.all([this.references.createIndexes(), this.reports.createIndexes()]);
  }

  async reference(pipelineId: string): Promise<ValidationReference | null> {
    return this.references.findOne({ pipelineId }, { _id: 0 }).lean<ValidationReference>();
  }

  /** Stores the pipeline's reference unless one exists; returns the stored one (the first version's wins). */
  async setReferenceOnce(reference: ValidationReference): Promise<ValidationReference> {
    try {
      await this.references.updateOne(
        { pipelineId: reference.pipelineId },
        { $setOnInsert: reference },
        { upsert: true },
      );
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
      { datasetVersionId: report.datasetVersionId },
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
