import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type ExperimentRun, lowerIsBetter } from './experiment-runs';

/** Filters and order of a run listing. */
export interface RunQuery {
  pipelineId: string;
  kind?: ExperimentRun['kind'];
  algorithm?: string;
  parentRunId?: string;
  codeVersion?: string;
  /** Sort by this metric (runs without it last), best first unless `order` says otherwise; else newest first. */
  sortBy?: string;
  order?: 'asc' | 'desc';
  limit: number;
}

/** `_id` = run id; params, metrics and steps are free-form maps of plain keys. */
const runSchema = new Schema<ExperimentRun & { _id: string }>(
  {
    _id: { type: String, required: true },
    runId: { type: String, required: true },
    pipelineId: { type: String, required: true },
    kind: { type: String, required: true },
    parentRunId: String,
    algorithm: { type: String, required: true },
    params: { type: Schema.Types.Mixed, required: true },
    metrics: { type: Schema.Types.Mixed, required: true },
    evaluatedOn: { type: String, required: true },
    steps: Schema.Types.Mixed,
    search: Schema.Types.Mixed,
    chosen: Boolean,
    durationMs: { type: Number, required: true },
    seed: { type: Number, required: true },
    datasetVersionId: { type: String, required: true },
    datasetSha256: { type: String, required: true },
    featureSetId: { type: String, required: true },
    featureSetSha256: { type: String, required: true },
    transformSha256: { type: String, required: true },
    snapshotId: String,
    codeVersion: { type: String, required: true },
    traceId: String,
    packageUri: String,
    packageSha256: String,
    createdAt: { type: Date, required: true },
  },
  { collection: 'experiment_runs', versionKey: false, minimize: false },
);
runSchema.index({ pipelineId: 1, kind: 1, createdAt: -1 });
runSchema.index({ parentRunId: 1 });

/** Training's experiment runs (collection `experiment_runs`): every training run, candidate and search trial. */
@Injectable()
export class ExperimentRunsRepository implements OnModuleInit {
  private readonly runs: Model<ExperimentRun & { _id: string }>;

  constructor(infra: Infrastructure) {
    this.runs =
      (infra.mongo.models.ExperimentRun as Model<ExperimentRun & { _id: string }> | undefined) ??
      infra.mongo.model<ExperimentRun & { _id: string }>('ExperimentRun', runSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.runs.createIndexes();
  }

  /** Upserts by run id: a redelivered training run rewrites the same documents; the first creation time is kept. */
  async saveAll(runs: readonly ExperimentRun[]): Promise<void> {
    if (runs.length === 0) return;
    await this.runs.bulkWrite(
      runs.map(({ createdAt, ...run }) => ({
        updateOne: {
          filter: { _id: run.runId },
          update: { $set: run, $setOnInsert: { createdAt } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  find(pipelineId: string, runId: string): Promise<ExperimentRun | null> {
    return this.runs.findOne({ _id: runId, pipelineId }, { _id: 0 }).lean<ExperimentRun>().exec();
  }

  findMany(pipelineId: string, runIds: readonly string[]): Promise<ExperimentRun[]> {
    return this.runs
      .find({ _id: { $in: [...runIds] }, pipelineId }, { _id: 0 })
      .lean<ExperimentRun[]>()
      .exec();
  }

  async list(query: RunQuery): Promise<ExperimentRun[]> {
    const filter: Record<string, unknown> = { pipelineId: query.pipelineId };
    for (const key of ['kind', 'algorithm', 'parentRunId', 'codeVersion'] as const) {
      if (query[key] !== undefined) filter[key] = query[key];
    }
    if (query.sortBy === undefined) {
      return this.runs
        .find(filter, { _id: 0 })
        .sort({ createdAt: -1, _id: 1 })
        .limit(query.limit)
        .lean<ExperimentRun[]>()
        .exec();
    }
    // Runs lacking the metric are left out rather than sorted among the best (stores order missing values first).
    const metric = `metrics.${query.sortBy}`;
    const ascending = (query.order ?? (lowerIsBetter(query.sortBy) ? 'asc' : 'desc')) === 'asc';
    return this.runs
      .find({ ...filter, [metric]: { $exists: true } }, { _id: 0 })
      .sort({ [metric]: ascending ? 1 : -1, _id: 1 })
      .limit(query.limit)
      .lean<ExperimentRun[]>()
      .exec();
  }
}
