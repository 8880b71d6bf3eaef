import { Injectable, type OnModuleInit } from '@nestjs/common';
import { type EventData, type FeaturesMaterializedV1 } from '@keel/contracts';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;

/** One candidate algorithm of a run, with its holdout metrics. */
export interface CandidateRecord {
  algorithm: string;
  params: Record<string, unknown>;
  metrics: Record<string, number>;
  trainMs: number;
}

/** A finished training run (collection `training_runs`), keyed by the package it produced. */
export interface TrainingRunRecord {
  runId: string;
  pipelineId: string;
  featureSetId: string;
  candidates: CandidateRecord[];
  chosen: string;
  packageUri: string;
  packageSha256: string;
  seed: number;
  startedAt: Date;
  finishedAt: Date;
}

/** The newest feature set training has seen per pipeline (collection `training_inputs`): what retraining uses. */
export interface TrainingInputRecord {
  pipelineId: string;
  features: FeaturesMaterialized;
  updatedAt: Date;
}

export type TrainingRequestStatus = 'accepted' | 'trained' | 'failed';

/** A retraining request and its outcome (collection `training_requests`), one per pipeline and dedupe key. */
export interface TrainingRequestRecord {
  dedupeKey: string;
  pipelineId: string;
  eventId: string;
  reason: string;
  requestedBy: string;
  status: TrainingRequestStatus;
  receivedAt: Date;
  /** Later requests with the same key inside the cooldown, folded into this one. */
  duplicates: number;
  runId?: string;
  packageSha256?: string;
  error?: string;
  finishedAt?: Date;
}

const runSchema = new Schema<TrainingRunRecord>(
  {
    runId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    featureSetId: { type: String, required: true },
    // Mixed: params and metrics are free-form maps of plain keys.
    candidates: { type: Schema.Types.Mixed, required: true },
    chosen: { type: String, required: true },
    packageUri: { type: String, required: true },
    packageSha256: { type: String, required: true },
    seed: { type: Number, required: true },
    startedAt: { type: Date, required: true },
    finishedAt: { type: Date, required: true },
  },
  { collection: 'training_runs', versionKey: false },
);
runSchema.index({ runId: 1 }, { unique: true });
runSchema.index({ pipelineId: 1, finishedAt: -1 });

const inputSchema = new Schema<TrainingInputRecord>(
  {
    pipelineId: { type: String, required: true },
    features: { type: Schema.Types.Mixed, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'training_inputs', versionKey: false },
);
inputSchema.index({ pipelineId: 1 }, { unique: true });

const requestSchema = new Schema<TrainingRequestRecord>(
  {
    dedupeKey: { type: String, required: true },
    pipelineId: { type: String, required: true },
    eventId: { type: String, required: true },
    reason: { type: String, required: true },
    requestedBy: { type: String, required: true },
    status: { type: String, required: true },
    receivedAt: { type: Date, required: true },
    duplicates: { type: Number, required: true },
    runId: String,
    packageSha256: String,
    error: String,
    finishedAt: Date,
  },
  { collection: 'training_requests', versionKey: false },
);
// Dedupe keys come from whoever asks, so two pipelines may use the same one.
requestSchema.index({ pipelineId: 1, dedupeKey: 1 }, { unique: true });

/** Training's own collections. All writes are upserts keyed by run id, pipeline id or dedupe key. */
@Injectable()
export class TrainingRunsRepository implements OnModuleInit {
  private readonly runs: Model<TrainingRunRecord>;
  private readonly inputs: Model<TrainingInputRecord>;
  private readonly requests: Model<TrainingRequestRecord>;

  constructor(infra: Infrastructure) {
    // Reuse models a second instance on the same connection already registered (tests).
    const model = <T>(name: string, schema: Schema<T>): Model<T> =>
      (infra.mongo.models[name] as Model<T> | undefined) ?? infra.mongo.model<T>(name, schema);
    this.runs = model('TrainingRun', runSchema);
    this.inputs = model('TrainingInput', inputSchema);
    this.requests = model('TrainingRequest', requestSchema);
  }

  async onModuleInit(): Promise<void> {
    await Promise.all([this.runs.createIndexes(), this.inputs.createIndexes(), this.requests.createIndexes()]);
  }

  /** Same pipeline and package ⇒ same run id ⇒ one document, whatever the redeliveries; the first start time is kept. */
  async saveRun(run: TrainingRunRecord): Promise<void> {
    const { startedAt, ...rest } = run;
    await this.runs.updateOne({ runId: run.runId }, { $set: rest, $setOnInsert: { startedAt } }, { upsert: true });
  }

  async saveInput(features: FeaturesMaterialized, now = new Date()): Promise<void> {
    await this.inputs.updateOne(
      { pipelineId: features.pipelineId },
      { $set: { features, updatedAt: now } },
      { upsert: true },
    );
  }

  findInput(pipelineId: string): Promise<TrainingInputRecord | null> {
    return this.inputs.findOne({ pipelineId }, { _id: 0 }).lean<TrainingInputRecord>().exec();
  }

  findRequest(pipelineId: string, dedupeKey: string): Promise<TrainingRequestRecord | null> {
    return this.requests.findOne({ pipelineId, dedupeKey }, { _id: 0 }).lean<TrainingRequestRecord>().exec();
  }

  /** Starts (or restarts, after a failure or the cooldown) the request of this pipeline and dedupe key. */
  async acceptRequest(request: Omit<TrainingRequestRecord, 'status' | 'duplicates'>): Promise<void> {
    await this.requests.updateOne(
      { pipelineId: request.pipelineId, dedupeKey: request.dedupeKey },
      {
        $set: { ...request, status: 'accepted', duplicates: 0 },
        $unset: { runId: '', packageSha256: '', error: '', finishedAt: '' },
      },
      { upsert: true },
    );
  }

  async countDuplicate(pipelineId: string, dedupeKey: string): Promise<void> {
    await this.requests.updateOne({ pipelineId, dedupeKey }, { $inc: { duplicates: 1 } });
  }

  async finishRequest(
    pipelineId: string,
    dedupeKey: string,
    outcome: { status: 'trained'; runId: string; packageSha256: string } | { status: 'failed'; error: string },
    now = new Date(),
  ): Promise<void> {
    await this.requests.updateOne({ pipelineId, dedupeKey }, { $set: { ...outcome, finishedAt: now } });
  }
}
