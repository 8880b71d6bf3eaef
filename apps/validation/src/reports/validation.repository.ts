import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type DriftStatisticName, type ShiftAction } from '@keel/contracts';
import { type ShiftBaselineKind } from '../checks/shift-checks';
import { type Finding, type ReferenceColumn } from '../checks/validation-checks';

/** The reference of a pipeline (collection `validation_references`): set by its first validated version. */
export interface ValidationReference {
  pipelineId: string;
  datasetVersionId: string;
  columns: ReferenceColumn[];
  /**
   * The reference version's per-column summaries, set with the reference itself (so a version validated before the
   * reference's report is saved is still compared with it); absent on references set before shift was measured,
   * until the first later version computes them from the reference's rows.
   */
  summariesUri?: string;
  createdAt: Date;
}

/** One column against one baseline, as the REST report lists it (the full numbers are in the report object). */
export interface ShiftLine {
  column: string;
  against: ShiftBaselineKind;
  statistic: DriftStatisticName;
  value: number;
  threshold: number;
  drifted: boolean;
  /** What the spec's validation.shift does with a shift of this column; absent when the spec declares none. */
  action?: ShiftAction;
}

/** A version's shift: the baselines it was measured against (null: none) and each column against each. */
export interface ShiftOutcome {
  referenceVersionId: string | null;
  previousVersionId: string | null;
  columns: ShiftLine[];
}

/** The outcome of validating one version (collection `validation_reports`); the full report is in object storage. */
export interface ValidationReport {
  pipelineId: string;
  datasetVersionId: string;
  reportUri: string;
  passed: boolean;
  findings: Finding[];
  createdAt: Date;
  /** The version's place in its pipeline's chain (absent for events from before sequences): orders "previous". */
  sequence?: number;
  /** The version's per-column summaries (content-addressed JSON) that later versions' shift is measured against. */
  summariesUri?: string;
  /**
   * The previous accepted version this one was compared with, fixed by its first validation (null: none) so that a
   * redelivery, or versions accepted since, cannot change its outcome. Absent on reports from before shift.
   */
  previousVersionId?: string | null;
  shift?: ShiftOutcome;
}

/** A version a later one may be compared with: its id and where its summaries are (absent: validated before shift). */
export interface ShiftBaselineVersion {
  datasetVersionId: string;
  summariesUri?: string;
}

/** `_id` = pipeline id: read for every version validated, so by `_id` alone (see docs/design/repositories.md). */
const referenceSchema = new Schema<ValidationReference & { _id: string }>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    datasetVersionId: { type: String, required: true },
    // Plain subdocuments: {name, type, missingRate, min?, max?, categories?}; column names are values, never keys.
    columns: { type: Schema.Types.Mixed, required: true },
    summariesUri: { type: String, required: false },
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
    sequence: { type: Number, required: false },
    summariesUri: { type: String, required: false },
    previousVersionId: { type: String, required: false },
    // Plain subdocuments {referenceVersionId, previousVersionId, columns: [...]}: column names are values, never keys.
    shift: { type: Schema.Types.Mixed, required: false },
  },
  { collection: 'validation_reports', versionKey: false },
);
reportSchema.index({ pipelineId: 1, createdAt: -1 });
// "The latest accepted version before this one": by sequence, newest first.
reportSchema.index({ pipelineId: 1, sequence: -1 });

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

  /**
   * Sets the summaries of a reference set before shift was measured, unless another validation set them first;
   * returns the stored URI (the first one's wins, so every later version is compared with the same summaries).
   */
  async setReferenceSummariesOnce(pipelineId: string, summariesUri: string): Promise<string> {
    await this.references.updateOne({ _id: pipelineId, summariesUri: { $exists: false } }, { $set: { summariesUri } });
    const stored = await this.reference(pipelineId);
    if (!stored?.summariesUri) throw new Error(`reference of ${pipelineId} has no summaries after setting them`);
    return stored.summariesUri;
  }

  /**
   * One report per dataset version: a redelivery replaces it with the same outcome. Its creation time and its
   * previous version are kept from the first validation.
   */
  async saveReport(report: ValidationReport): Promise<void> {
    const { createdAt, previousVersionId, ...outcome } = report;
    await this.reports.updateOne(
      { _id: report.datasetVersionId },
      {
        $set: outcome,
        $setOnInsert: { createdAt, ...(previousVersionId === undefined ? {} : { previousVersionId }) },
      },
      { upsert: true },
    );
  }

  /** A version's report, if it was validated before. */
  async report(datasetVersionId: string): Promise<ValidationReport | null> {
    return this.reports.findById(datasetVersionId, { _id: 0 }).lean<ValidationReport>();
  }

  /**
   * The pipeline's latest accepted version before this one: the passed version with the highest sequence below its
   * sequence; for a version without a sequence (an event from before sequences), the passed version validated last.
   */
  async previousAccepted(
    pipelineId: string,
    datasetVersionId: string,
    sequence: number | undefined,
  ): Promise<ShiftBaselineVersion | null> {
    const filter =
      sequence === undefined
        ? { pipelineId, passed: true, _id: { $ne: datasetVersionId } }
        : { pipelineId, passed: true, sequence: { $lt: sequence } };
    const [previous] = await this.reports
      .find(filter, { _id: 0, datasetVersionId: 1, summariesUri: 1 })
      .sort(sequence === undefined ? { createdAt: -1 } : { sequence: -1 })
      .limit(1)
      .lean<ShiftBaselineVersion[]>();
    return previous ?? null;
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
