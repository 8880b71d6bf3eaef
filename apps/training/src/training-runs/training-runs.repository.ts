import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type EventData, type SnapshotRef, type TrainingRequestedV2, type TrainingTrigger } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

type TrainingRequested = EventData<typeof TrainingRequestedV2>;

/** One candidate algorithm of a run, with its holdout metrics. */
export interface CandidateRecord {
  algorithm: string;
  params: Record<string, unknown>;
  metrics: Record<string, number>;
  trainMs: number;
  /** With a search: the primary metric of the configuration's best trial on the validation split. */
  validationScore?: number;
}

/** How one algorithm's hyperparameter search went (its trials are runs of their own). */
export interface SearchSummary {
  algorithm: string;
  strategy: string;
  trials: number;
  stoppedBy: string;
  wallMs: number;
  bestTrial: number;
  bestParams: Record<string, unknown>;
  validationScore: number;
}

/** A finished training run (collection `training_runs`), keyed by the package it produced. */
export interface TrainingRunRecord {
  runId: string;
  pipelineId: string;
  featureSetId: string;
  /** The training window the run saw. */
  snapshot?: SnapshotRef;
  /** Why it ran. */
  trigger: TrainingTrigger;
  candidates: CandidateRecord[];
  /** Per algorithm, when the spec declares a search. */
  search?: SearchSummary[];
  chosen: string;
  packageUri: string;
  packageSha256: string;
  seed: number;
  startedAt: Date;
  finishedAt: Date;
}

/**
 * A training request and what came of it (collection `training_requests`), one per pipeline and request id: recorded
 * when the HTTP API accepts it, and when features' answer (the request's window) has been trained on.
 */
export interface TrainingRequestRecord {
  pipelineId: string;
  requestId: string;
  reason: string;
  requestedBy: string;
  details?: string;
  /** superseded: answered by the request `supersededBy` names (training re-requested it; GET follows it). */
  status: 'requested' | 'trained' | 'superseded';
  supersededBy?: string;
  /** The request this one replaces. */
  supersedes?: string;
  requestedAt?: Date;
  runId?: string;
  packageSha256?: string;
  snapshotId?: string;
  trainedAt?: Date;
}

/** `_id` = run id; runs are written per event, so by `_id` alone (see docs/design/repositories.md). */
const runSchema = new Schema<TrainingRunRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
    runId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    featureSetId: { type: String, required: true },
    snapshot: { type: Schema.Types.Mixed, required: false },
    trigger: { type: Schema.Types.Mixed, required: true },
    // Mixed: params and metrics are free-form maps of plain keys.
    candidates: { type: Schema.Types.Mixed, required: true },
    search: { type: Schema.Types.Mixed, required: false },
    chosen: { type: String, required: true },
    packageUri: { type: String, required: true },
    packageSha256: { type: String, required: true },
    seed: { type: Number, required: true },
    startedAt: { type: Date, required: true },
    finishedAt: { type: Date, required: true },
  },
  { collection: 'training_runs', versionKey: false },
);
runSchema.index({ pipelineId: 1, finishedAt: -1 });

/** `_id` = requestKey(pipeline id, request id): request ids come from whoever asks, so two pipelines may share one. */
const requestSchema = new Schema<TrainingRequestRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    requestId: { type: String, required: true },
    reason: { type: String, required: true },
    requestedBy: { type: String, required: true },
    details: String,
    status: { type: String, required: true },
    supersededBy: String,
    supersedes: String,
    requestedAt: Date,
    runId: String,
    packageSha256: String,
    snapshotId: String,
    trainedAt: Date,
  },
  { collection: 'training_requests', versionKey: false },
);

function requestKey(pipelineId: string, requestId: string): string {
  return `${pipelineId}\u0000${requestId}`;
}

/** Unique indexes an earlier shape of `training_requests` had, which would refuse documents without a dedupe key. */
const LEGACY_REQUEST_INDEXES = ['dedupeKey_1', 'pipelineId_1_dedupeKey_1'] as const;

/** Training's own collections. All writes are upserts by `_id`: the run id or the request key. */
@Injectable()
export class TrainingRunsRepository implements OnModuleInit {
  private readonly runs: Model<TrainingRunRecord & { _id: string }>;
  private readonly requests: Model<TrainingRequestRecord & { _id: string }>;

  constructor(infra: Infrastructure) {
    // Reuse models a second instance on the same connection already registered (tests).
    const model = <T>(name: string, schema: Schema<T>): Model<T> =>
      (infra.mongo.models[name] as Model<T> | undefined) ?? infra.mongo.model<T>(name, schema);
    this.runs = model('TrainingRun', runSchema);
    this.requests = model('TrainingRequest', requestSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.runs.createIndexes();
    for (const index of LEGACY_REQUEST_INDEXES) await this.requests.collection.dropIndex(index).catch(() => undefined);
  }

  /** Same pipeline and package ⇒ same run id ⇒ one document, whatever the redeliveries; the first start time is kept. */
  async saveRun(run: TrainingRunRecord): Promise<void> {
    const { startedAt, ...rest } = run;
    await this.runs.updateOne({ _id: run.runId }, { $set: rest, $setOnInsert: { startedAt } }, { upsert: true });
  }

  findRun(runId: string): Promise<TrainingRunRecord | null> {
    return this.runs.findById(runId, { _id: 0 }).lean<TrainingRunRecord>().exec();
  }

  findRequest(pipelineId: string, requestId: string): Promise<TrainingRequestRecord | null> {
    return this.requests.findById(requestKey(pipelineId, requestId), { _id: 0 }).lean<TrainingRequestRecord>().exec();
  }

  /** A request the HTTP API accepted; a retry of the same request id leaves an outcome already recorded alone. */
  async recordRequest(request: TrainingRequested, now = new Date()): Promise<void> {
    await this.requests.updateOne(
      { _id: requestKey(request.pipelineId, request.requestId) },
      {
        $setOnInsert: {
          pipelineId: request.pipelineId,
          requestId: request.requestId,
          reason: request.reason,
          requestedBy: request.requestedBy,
          ...(request.details === undefined ? {} : { details: request.details }),
          ...(request.supersedes === undefined ? {} : { supersedes: request.supersedes }),
          status: 'requested',
          requestedAt: now,
        },
      },
      { upsert: true },
    );
  }

  /**
   * A request whose feature set training refused and asked for again under `supersededBy`: answered by that request.
   * An outcome already recorded (a trained request's feature set redelivered after the spec changed) is kept.
   */
  async recordRequestSuperseded(
    superseded: Pick<TrainingRequestRecord, 'pipelineId' | 'requestId' | 'reason' | 'requestedBy'> & {
      supersededBy: string;
    },
    now = new Date(),
  ): Promise<void> {
    const _id = requestKey(superseded.pipelineId, superseded.requestId);
    const set = { status: 'superseded', supersededBy: superseded.supersededBy };
    const updated = await this.requests.updateOne({ _id, status: { $ne: 'trained' } }, { $set: set });
    if (updated.matchedCount > 0) return;
    // Not recorded here (a request from before this collection) or trained: inserted, or left as it is.
    await this.requests.updateOne(
      { _id },
      {
        $setOnInsert: {
          pipelineId: superseded.pipelineId,
          requestId: superseded.requestId,
          reason: superseded.reason,
          requestedBy: superseded.requestedBy,
          requestedAt: now,
          ...set,
        },
      },
      { upsert: true },
    );
  }

  /** The run a request's window trained; a redelivery records the same run again. */
  async recordRequestOutcome(
    outcome: Pick<TrainingRequestRecord, 'pipelineId' | 'requestId' | 'reason' | 'requestedBy' | 'runId'> & {
      packageSha256: string;
      snapshotId?: string;
    },
    now = new Date(),
  ): Promise<void> {
    await this.requests.updateOne(
      { _id: requestKey(outcome.pipelineId, outcome.requestId) },
      {
        $set: {
          status: 'trained',
          runId: outcome.runId,
          packageSha256: outcome.packageSha256,
          ...(outcome.snapshotId ? { snapshotId: outcome.snapshotId } : {}),
          trainedAt: now,
        },
        $setOnInsert: {
          pipelineId: outcome.pipelineId,
          requestId: outcome.requestId,
          reason: outcome.reason,
          requestedBy: outcome.requestedBy,
        },
      },
      { upsert: true },
    );
  }
}
