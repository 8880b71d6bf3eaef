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

/** `_id` = run id; runs are written per event, so by `_id` alone (see docs/design/repositories.md). */
const runSchema = new Schema<TrainingRunRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
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
runSchema.index({ pipelineId: 1, finishedAt: -1 });

/** `_id` = pipeline id. */
const inputSchema = new Schema<TrainingInputRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    features: { type: Schema.Types.Mixed, required: true },
    updatedAt: { type: Date, required: true },
  },
  { collection: 'training_inputs', versionKey: false },
);

/** `_id` = requestKey(pipeline id, dedupe key): dedupe keys come from whoever asks, so two pipelines may share one. */
const requestSchema = new Schema<TrainingRequestRecord & { _id: string }>(
  {
    _id: { type: String, required: true },
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

function requestKey(pipelineId: string, dedupeKey: string): string {
  return `${pipelineId}\u0000${dedupeKey}`;
}

/** Unique indexes of the shape keyed by fields (ObjectId `_id`), which would refuse the `_id`-keyed documents. */
const LEGACY_INDEXES = { inputs: 'pipelineId_1', requests: ['dedupeKey_1', 'pipelineId_1_dedupeKey_1'] } as const;

/** Training's own collections. All writes are upserts by `_id`: the run id, the pipeline id or the request key. */
@Injectable()
export class TrainingRunsRepository implements OnModuleInit {
  private readonly runs: Model<TrainingRunRecord & { _id: string }>;
  private readonly inputs: Model<TrainingInputRecord & { _id: string }>;
  private readonly requests: Model<TrainingRequestRecord & { _id: string }>;

  constructor(infra: Infrastructure) {
    // Reuse models a second instance on the same connection already registered (tests).
    const model = <T>(name: string, schema: Schema<T>): Model<T> =>
      (infra.mongo.models[name] as Model<T> | undefined) ?? infra.mongo.model<T>(name, schema);
    this.runs = model('TrainingRun', runSchema);
    this.inputs = model('TrainingInput', inputSchema);
    this.requests = model('TrainingRequest', requestSchema);
  }

  async onModuleInit(): Promise<void> {
    await Promise.all([this.runs.createIndexes(), this.migrateLegacy()]);
  }

  /** Inputs and requests with an ObjectId `_id` are rewritten under their key; runs keep theirs (nothing reads them). */
  private async migrateLegacy(): Promise<void> {
    await this.inputs.collection.dropIndex(LEGACY_INDEXES.inputs).catch(() => undefined);
    for (const index of LEGACY_INDEXES.requests) await this.requests.collection.dropIndex(index).catch(() => undefined);
    const objectIds = { _id: { $type: 'objectId' } } as never;
    for (const old of await this.inputs.collection.find(objectIds).toArray()) {
      const { _id, ...input } = old as unknown as TrainingInputRecord & { _id: unknown };
      await this.inputs.updateOne({ _id: input.pipelineId }, { $setOnInsert: input }, { upsert: true });
      await this.inputs.collection.deleteOne({ _id } as never);
    }
    for (const old of await this.requests.collection.find(objectIds).toArray()) {
      const { _id, ...request } = old as unknown as TrainingRequestRecord & { _id: unknown };
      const key = requestKey(request.pipelineId, request.dedupeKey);
      await this.requests.updateOne({ _id: key }, { $setOnInsert: request }, { upsert: true });
      await this.requests.collection.deleteOne({ _id } as never);
    }
  }

  /** Same pipeline and package ⇒ same run id ⇒ one document, whatever the redeliveries; the first start time is kept. */
  async saveRun(run: TrainingRunRecord): Promise<void> {
    const { startedAt, ...rest } = run;
    await this.runs.updateOne({ _id: run.runId }, { $set: rest, $setOnInsert: { startedAt } }, { upsert: true });
  }

  async saveInput(features: FeaturesMaterialized, now = new Date()): Promise<void> {
    await this.inputs.updateOne(
      { _id: features.pipelineId },
      { $set: { pipelineId: features.pipelineId, features, updatedAt: now } },
      { upsert: true },
    );
  }

  findInput(pipelineId: string): Promise<TrainingInputRecord | null> {
    return this.inputs.findById(pipelineId, { _id: 0 }).lean<TrainingInputRecord>().exec();
  }

  findRequest(pipelineId: string, dedupeKey: string): Promise<TrainingRequestRecord | null> {
    return this.requests.findById(requestKey(pipelineId, dedupeKey), { _id: 0 }).lean<TrainingRequestRecord>().exec();
  }

  /** Starts (or restarts, after a failure or the cooldown) the request of this pipeline and dedupe key. */
  async acceptRequest(request: Omit<TrainingRequestRecord, 'status' | 'duplicates'>): Promise<void> {
    await this.requests.updateOne(
      { _id: requestKey(request.pipelineId, request.dedupeKey) },
      {
        $set: { ...request, status: 'accepted', duplicates: 0 },
        $unset: { runId: '', packageSha256: '', error: '', finishedAt: '' },
      },
      { upsert: true },
    );
  }

  async countDuplicate(pipelineId: string, dedupeKey: string): Promise<void> {
    await this.requests.updateOne({ _id: requestKey(pipelineId, dedupeKey) }, { $inc: { duplicates: 1 } });
  }

  async finishRequest(
    pipelineId: string,
    dedupeKey: string,
    outcome: { status: 'trained'; runId: string; packageSha256: string } | { status: 'failed'; error: string },
    now = new Date(),
  ): Promise<void> {
    await this.requests.updateOne(
      { _id: requestKey(pipelineId, dedupeKey) },
      { $set: { ...outcome, finishedAt: now } },
    );
  }
}
