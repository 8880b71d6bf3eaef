import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type SnapshotRef, type TrainingTrigger } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type AttributeFairness, type CandidateEvaluationOutput } from './candidate-evaluation.task';
import { type GateOutcome } from './gates';

/** Where a version came from: data, features, code and run. */
export interface VersionLineage {
  datasetVersionId: string;
  datasetSha256: string;
  featureSetId: string;
  featureSetSha256: string;
  codeVersion: string;
  seed: number;
  runId: string;
  /** Where the feature set lies: its holdout rows evaluate this version against later candidates. */
  featureSetUri?: string;
  /** The training window the version saw. */
  snapshot?: SnapshotRef;
}

/**
 * Candidate and champion scored on the same rows when the version was registered: the candidate's holdout rows the
 * champion never trained or validated on.
 */
export interface ChampionComparisonRecord {
  championVersion: number;
  metric: string;
  candidate: number;
  champion: number;
  rows: number;
  excludedRows: number;
  evaluationData: string;
  candidateMetrics: Record<string, number>;
  championMetrics: Record<string, number>;
}

/** An algorithm the training run judged on the holdout; the run id is its experiment run in training. */
export interface CandidateSummary {
  algorithm: string;
  runId: string;
  metrics: Record<string, number>;
  validationScore?: number;
  chosen: boolean;
}

/**
 * How the registry checked the metrics a version was judged on: `verified` (recomputed on the holdout, the claims
 * hold), `failed` (they did not, or could not be recomputed), `unverified` (the event named no feature set).
 */
export interface MetricsVerification {
  status: 'verified' | 'failed' | 'unverified';
  reason: string;
  /** What the training event claimed. */
  claimedMetrics: Record<string, number>;
  /** Holdout rows recomputed on. */
  rows?: number;
  /** Per protected attribute: groups' rates and Fairlearn's gaps on the holdout. */
  fairness?: AttributeFairness[];
  /** Prediction stability under the robustness gate's perturbations, when the spec has one. */
  robustness?: CandidateEvaluationOutput['robustness'];
  /** Expected cost per 1,000 holdout predictions by the business gate's prices, when the spec has one. */
  business?: CandidateEvaluationOutput['business'];
  /** The evaluation report (overall and sliced metrics, confusion matrix, thresholds, calibration) in object storage. */
  evaluationReport?: { uri: string; sha256: string };
}

/** One registered model version (collection `model_versions`). */
export interface ModelVersionRecord {
  modelName: string;
  version: number;
  pipelineId: string;
  packageUri: string;
  packageSha256: string;
  algorithm: string;
  /** The metrics the gates judged: recomputed by the registry unless `verification.status` is `unverified`. */
  metrics: Record<string, number>;
  verification?: MetricsVerification;
  lineage: VersionLineage;
  gates: GateOutcome[];
  gatesPassed: boolean;
  /** Why the run that produced it happened. */
  trigger?: TrainingTrigger;
  comparison?: ChampionComparisonRecord;
  /** Every candidate of the run that produced it, the losers included. */
  candidates?: CandidateSummary[];
  createdAt: Date;
}

const gateSchema = new Schema<GateOutcome>(
  { gate: String, passed: Boolean, observed: Number, threshold: Number, message: String },
  { _id: false },
);

const modelVersionSchema = new Schema<ModelVersionRecord>(
  {
    modelName: { type: String, required: true },
    version: { type: Number, required: true },
    pipelineId: { type: String, required: true },
    packageUri: { type: String, required: true },
    packageSha256: { type: String, required: true },
    algorithm: { type: String, required: true },
    // Keys are metric names (checked for Mongo-safe keys before insert).
    metrics: { type: Schema.Types.Mixed, required: true },
    lineage: {
      datasetVersionId: String,
      datasetSha256: String,
      featureSetId: String,
      featureSetSha256: String,
      codeVersion: String,
      seed: Number,
      runId: String,
      featureSetUri: String,
      snapshot: Schema.Types.Mixed,
    },
    trigger: Schema.Types.Mixed,
    comparison: Schema.Types.Mixed,
    candidates: Schema.Types.Mixed,
    verification: Schema.Types.Mixed,
    gates: { type: [gateSchema], default: [] },
    gatesPassed: { type: Boolean, required: true },
    createdAt: { type: Date, required: true },
  },
  { collection: 'model_versions', versionKey: false, minimize: false },
);
modelVersionSchema.index({ modelName: 1, version: 1 }, { unique: true });
// The same package registered twice is one version: idempotent by content.
modelVersionSchema.index({ modelName: 1, packageSha256: 1 }, { unique: true });

const DUPLICATE_KEY = 11000;

function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: unknown }).code === DUPLICATE_KEY;
}

/** Model versions in MongoDB, numbered 1, 2, 3 … per model without transactions. */
@Injectable()
export class ModelVersionsRepository implements OnModuleInit {
  private readonly model: Model<ModelVersionRecord>;

  constructor(infra: Infrastructure) {
    this.model =
      (infra.mongo.models.ModelVersion as Model<ModelVersionRecord> | undefined) ??
      infra.mongo.model<ModelVersionRecord>('ModelVersion', modelVersionSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.model.createIndexes();
  }

  findByPackage(modelName: string, packageSha256: string): Promise<ModelVersionRecord | null> {
    return this.model.findOne({ modelName, packageSha256 }, { _id: 0 }).lean<ModelVersionRecord>();
  }

  find(modelName: string, version: number): Promise<ModelVersionRecord | null> {
    return this.model.findOne({ modelName, version }, { _id: 0 }).lean<ModelVersionRecord>();
  }

  /** Every version of a model, newest first. */
  list(modelName: string): Promise<ModelVersionRecord[]> {
    return this.model.find({ modelName }, { _id: 0 }).sort({ version: -1 }).lean<ModelVersionRecord[]>();
  }

  /**
   * Registers a package as the model's next version, or returns the version already holding it (`created: false`).
   * The number is the current max + 1; a concurrent insert taking it trips the unique index and we read again.
   */
  async register(
    draft: Omit<ModelVersionRecord, 'version' | 'createdAt'>,
  ): Promise<{ record: ModelVersionRecord; created: boolean }> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const existing = await this.findByPackage(draft.modelName, draft.packageSha256);
      if (existing) return { record: existing, created: false };
      const latest = await this.model
        .findOne({ modelName: draft.modelName }, { version: 1 })
        .sort({ version: -1 })
        .lean<{ version: number }>();
      const record: ModelVersionRecord = { ...draft, version: (latest?.version ?? 0) + 1, createdAt: new Date() };
      try {
        await this.model.create(record);
        return { record, created: true };
      } catch (error) {
        // Either the number or the package was taken concurrently; the next pass tells which.
        if (!isDuplicateKey(error)) throw error;
      }
    }
    throw new Error(`could not allocate a version of ${draft.modelName}: too many concurrent registrations`);
  }
}
