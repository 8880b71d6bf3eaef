import { Injectable } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { type CleanRecord } from '../records/record-checks';

/**
 * The good records of one data event, durable until a dataset version takes them (collection `staged_records`).
 * A batch is deleted once its version is durable, so the collection only ever holds pending batches.
 */
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
  /** Per-pipeline arrival order. */
  sequence: number;
  stagedAt: Date;
}

/**
 * A pipeline's staging head (`staged_record_sequences`, `_id` = pipeline id): the arrival sequence and the ids of
 * its pending batches in arrival order, so a cut reads its batches by `_id` (see docs/design/repositories.md).
 */
interface HeadDocument {
  _id: string;
  value: number;
  pending?: string[];
}

/** What is pending for one pipeline, as the start-up scan finds it. */
export interface PendingState {
  batches: number;
  rows: number;
  newestAt: Date;
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
    sequence: { type: Number, required: true },
    stagedAt: { type: Date, required: true },
  },
  { collection: 'staged_records', versionKey: false },
);

const headSchema = new Schema<HeadDocument>(
  { _id: { type: String, required: true }, value: { type: Number, required: true }, pending: [String] },
  { collection: 'staged_record_sequences', versionKey: false },
);

/** Staged record batches in MongoDB; every per-event and per-cut query is by `_id`. */
@Injectable()
export class StagingRepository {
  private readonly staged: Model<StagedBatch>;
  private readonly heads: Model<HeadDocument>;

  constructor(infra: Infrastructure) {
    this.staged = infra.mongo.model<StagedBatch>('StagedBatch', stagedSchema);
    this.heads = infra.mongo.model<HeadDocument>('StagedBatchSequence', headSchema);
  }

  /**
   * Stores a batch unless its event id is already staged; returns what is stored (for a redelivery before the cut,
   * the first delivery's document) and whether this call staged it. The id joins the pipeline's head before the
   * batch is written: a crash in between leaves an id without a batch, which the cut drops, never a batch no cut
   * would find.
   */
  async stage(
    batch: Omit<StagedBatch, 'sequence' | 'stagedAt' | 'deadLettered'>,
  ): Promise<{ batch: StagedBatch; created: boolean }> {
    const existing = await this.staged.findById(batch._id).lean<StagedBatch & { consumed?: boolean }>();
    if (existing) {
      // A redelivery before the cut (rare): an _id read of the head tells whether the batch is listed there.
      if (existing.consumed) {
        // A batch marked consumed is already in a dataset version.
        await this.staged.deleteOne({ _id: existing._id });
        return { batch: existing, created: false };
      }
      const listed = await this.heads.findById(batch.pipelineId).lean<HeadDocument>();
      if (listed?.pending?.includes(existing._id)) return { batch: existing, created: false };
      // Every pending batch is listed in its head: adopt one that is not.
      await this.heads.updateOne(
        { _id: batch.pipelineId },
        { $push: { pending: existing._id }, $setOnInsert: { value: existing.sequence } },
        { upsert: true },
      );
      return { batch: existing, created: true };
    }
    const head = await this.heads
      .findOneAndUpdate(
        { _id: batch.pipelineId },
        { $inc: { value: 1 }, $push: { pending: batch._id } },
        { upsert: true, returnDocument: 'after' },
      )
      .lean<HeadDocument>();
    const stored: StagedBatch = { ...batch, sequence: head!.value, stagedAt: new Date(), deadLettered: false };
    const result = await this.staged.updateOne({ _id: batch._id }, { $setOnInsert: stored }, { upsert: true });
    if (result.upsertedCount === 1) return { batch: stored, created: true };
    // A concurrent delivery of the same event won; its document is the batch (our extra head entry is dropped later).
    const winner = await this.staged.findById(batch._id).lean<StagedBatch>();
    if (!winner) throw new Error(`staged batch ${batch._id} vanished after its upsert`);
    return { batch: winner, created: false };
  }

  async markDeadLettered(id: string): Promise<void> {
    await this.staged.updateOne({ _id: id }, { $set: { deadLettered: true } });
  }

  /**
   * Start-up: what is pending per pipeline, from one scan of the (small) collection. Batches marked consumed are
   * deleted and pending ones not listed in their head are added to it, so the invariants above hold from here on.
   */
  async recover(): Promise<Map<string, PendingState>> {
    await this.staged.collection.deleteMany({ consumed: true });
    const docs = await this.staged
      .find({}, { pipelineId: 1, rowCount: 1, stagedAt: 1, sequence: 1 })
      .sort({ sequence: 1 })
      .lean<Pick<StagedBatch, '_id' | 'pipelineId' | 'rowCount' | 'stagedAt' | 'sequence'>[]>();
    const pending = new Map<string, PendingState>();
    const idsByPipeline = new Map<string, string[]>();
    for (const doc of docs) {
      const state = pending.get(doc.pipelineId) ?? { batches: 0, rows: 0, newestAt: doc.stagedAt };
      state.batches++;
      state.rows += doc.rowCount;
      if (doc.stagedAt > state.newestAt) state.newestAt = doc.stagedAt;
      pending.set(doc.pipelineId, state);
      idsByPipeline.set(doc.pipelineId, [...(idsByPipeline.get(doc.pipelineId) ?? []), doc._id]);
    }
    for (const [pipelineId, ids] of idsByPipeline) {
      const head = await this.heads.findById(pipelineId).lean<HeadDocument>();
      const listed = new Set(head?.pending ?? []);
      const missing = ids.filter((id) => !listed.has(id));
      if (missing.length > 0) {
        await this.heads.updateOne(
          { _id: pipelineId },
          { $push: { pending: { $each: missing } }, $setOnInsert: { value: 0 } },
          { upsert: true },
        );
      }
    }
    return pending;
  }

  /**
   * Waiting batches in arrival order, up to the first one that brings the total to `maxRows`, read by `_id` from
   * the pipeline's head. Ids whose batch is gone (a crash between the head and the batch, or after a cut's deletes)
   * are dropped from the head; `dropped` counts them.
   */
  async takePending(pipelineId: string, maxRows: number): Promise<{ batches: StagedBatch[]; dropped: number }> {
    const head = await this.heads.findById(pipelineId).lean<HeadDocument>();
    const taken: StagedBatch[] = [];
    const gone: string[] = [];
    const seen = new Set<string>();
    let rows = 0;
    for (const id of head?.pending ?? []) {
      if (seen.has(id)) continue;
      seen.add(id);
      const batch = await this.staged.findById(id).lean<StagedBatch & { consumed?: boolean }>();
      if (!batch || batch.consumed) {
        // A batch marked consumed is already in a dataset version.
        if (batch) await this.staged.deleteOne({ _id: id });
        gone.push(id);
        continue;
      }
      taken.push(batch);
      rows += batch.rowCount;
      if (rows >= maxRows) break;
    }
    if (gone.length > 0) await this.heads.updateOne({ _id: pipelineId }, { $pullAll: { pending: gone } });
    return { batches: taken.sort((a, b) => a.sequence - b.sequence), dropped: gone.length };
  }

  /**
   * When the pipeline's newest pending batch was staged: its head's last listed batch, read by `_id` (a replica that
   * did not stage them checks this before a quiet-period cut). Null when nothing is pending.
   */
  async newestStagedAt(pipelineId: string): Promise<Date | null> {
    const head = await this.heads.findById(pipelineId).lean<HeadDocument>();
    const ids = head?.pending ?? [];
    for (let i = ids.length - 1; i >= 0; i--) {
      const batch = await this.staged.findById(ids[i], { stagedAt: 1 }).lean<Pick<StagedBatch, 'stagedAt'>>();
      if (batch) return batch.stagedAt;
    }
    return null;
  }

  /** Batches by `_id`, in arrival order (a planned cut's batches; one deleted meanwhile is left out). */
  async load(ids: readonly string[]): Promise<StagedBatch[]> {
    const batches: StagedBatch[] = [];
    for (const id of ids) {
      const batch = await this.staged.findById(id).lean<StagedBatch>();
      if (batch) batches.push(batch);
    }
    return batches.sort((a, b) => a.sequence - b.sequence);
  }

  /** Once their version is durable: deletes the batches one by one by `_id`, then takes them off the head. */
  async consume(pipelineId: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) await this.staged.deleteOne({ _id: id });
    await this.heads.updateOne({ _id: pipelineId }, { $pullAll: { pending: [...ids] } });
  }

  records(batch: StagedBatch): CleanRecord[] {
    return JSON.parse(batch.recordsJson) as CleanRecord[];
  }
}
