import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type CleanRecord } from '../records/record-checks';

/** The good records of one data event, durable until a dataset version takes them (collection `staged_records`). */
export interface StagedBatch {
  /** The CloudEvent id: a redelivered event is the same document. */
  _id: string;
  pipelineId: string;
  /** JSON text of the checked records: record keys are free-form and must not meet Mongo's key rules. */
  recordsJson: string;
  rowCount: number;
  badCount: number;
  source?: string;
  topic: string;
  partition: number;
  offset: string;
  /** W3C trace context of the consumer span that staged it, so the cut continues the same trace. */
  traceparent?: string;
  tracestate?: string;
  /** Set once the bad records of this event are on the dead-letter topic, so a redelivery does not repeat them. */
  deadLettered: boolean;
  consumed: boolean;
  /** Per-pipeline arrival order. */
  sequence: number;
  stagedAt: Date;
  datasetVersionId?: string;
}

interface SequenceDocument {
  _id: string;
  value: number;
}

const stagedSchema = new Schema<StagedBatch>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    recordsJson: { type: String, required: true },
    rowCount: { type: Number, required: true },
    badCount: { type: Number, required: true },
    source: String,
    topic: { type: String, required: true },
    partition: { type: Number, required: true },
    offset: { type: String, required: true },
    traceparent: String,
    tracestate: String,
    deadLettered: { type: Boolean, required: true },
    consumed: { type: Boolean, required: true },
    sequence: { type: Number, required: true },
    stagedAt: { type: Date, required: true },
    datasetVersionId: String,
  },
  { collection: 'staged_records', versionKey: false },
);
stagedSchema.index({ pipelineId: 1, consumed: 1, sequence: 1 });

const sequenceSchema = new Schema<SequenceDocument>(
  { _id: { type: String, required: true }, value: { type: Number, required: true } },
  { collection: 'staged_record_sequences', versionKey: false },
);

/** Staged record batches in MongoDB. */
@Injectable()
export class StagingRepository implements OnModuleInit {
  private readonly staged: Model<StagedBatch>;
  private readonly sequences: Model<SequenceDocument>;

  constructor(infra: Infrastructure) {
    this.staged = infra.mongo.model<StagedBatch>('StagedBatch', stagedSchema);
    this.sequences = infra.mongo.model<SequenceDocument>('StagedBatchSequence', sequenceSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.staged.createIndexes();
  }

  /**
   * Stores a batch unless its event id is already staged; returns what is stored, which for a redelivery is the
   * first delivery's document (possibly already consumed).
   */
  async stage(batch: Omit<StagedBatch, 'sequence' | 'stagedAt' | 'consumed' | 'deadLettered'>): Promise<StagedBatch> {
    const existing = await this.staged.findById(batch._id).lean<StagedBatch>();
    if (existing) return existing;
    const sequence = await this.nextSequence(batch.pipelineId);
    await this.staged.updateOne(
      { _id: batch._id },
      { $setOnInsert: { ...batch, sequence, stagedAt: new Date(), consumed: false, deadLettered: false } },
      { upsert: true },
    );
    const stored = await this.staged.findById(batch._id).lean<StagedBatch>();
    if (!stored) throw new Error(`staged batch ${batch._id} vanished after its upsert`);
    return stored;
  }

  async markDeadLettered(id: string): Promise<void> {
    await this.staged.updateOne({ _id: id }, { $set: { deadLettered: true } });
  }

  /** Pipelines with batches waiting for a dataset version. */
  async pendingPipelines(): Promise<string[]> {
    return (await this.staged.distinct('pipelineId', { consumed: false })) as string[];
  }

  /** Rows waiting and when the newest batch arrived, without loading the records. */
  async pendingSummary(pipelineId: string): Promise<{ rows: number; newestAt?: Date }> {
    const docs = await this.staged
      .find({ pipelineId, consumed: false }, { rowCount: 1, stagedAt: 1 })
      .lean<Pick<StagedBatch, 'rowCount' | 'stagedAt'>[]>();
    let rows = 0;
    let newestAt: Date | undefined;
    for (const doc of docs) {
      rows += doc.rowCount;
      if (!newestAt || doc.stagedAt > newestAt) newestAt = doc.stagedAt;
    }
    return { rows, newestAt };
  }

  /** Waiting batches in arrival order, up to the first one that brings the total to `maxRows`. */
  async takePending(pipelineId: string, maxRows: number): Promise<StagedBatch[]> {
    const taken: StagedBatch[] = [];
    let rows = 0;
    const cursor = this.staged
      .find({ pipelineId, consumed: false })
      .sort({ sequence: 1 })
      .lean<StagedBatch[]>()
      .cursor();
    for await (const doc of cursor) {
      taken.push(doc as StagedBatch);
      rows += (doc as StagedBatch).rowCount;
      if (rows >= maxRows) break;
    }
    await cursor.close();
    return taken;
  }

  async markConsumed(ids: readonly string[], datasetVersionId: string | undefined): Promise<void> {
    await this.staged.updateMany(
      { _id: { $in: [...ids] } },
      { $set: { consumed: true, ...(datasetVersionId ? { datasetVersionId } : {}) } },
    );
  }

  records(batch: StagedBatch): CleanRecord[] {
    return JSON.parse(batch.recordsJson) as CleanRecord[];
  }

  private async nextSequence(pipelineId: string): Promise<number> {
    const doc = await this.sequences
      .findOneAndUpdate({ _id: pipelineId }, { $inc: { value: 1 } }, { upsert: true, returnDocument: 'after' })
      .lean<SequenceDocument>();
    return doc!.value;
  }
}
