import { Injectable } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Collection } from 'mongodb';
import { type Model, Schema } from 'mongoose';
import { type NewestPending } from './quiet-period';

/**
 * One data event's good records waiting for a dataset version (collection `staged_records`), without the records
 * themselves: those are in `staged_record_payloads` under the same `_id`. The documents that the pending scans
 * (start-up, rescans) and the per-tick reads go through stay small, and each payload is read once, at the cut. A
 * batch is deleted once its version is durable, so both collections only ever hold pending batches.
 */
export interface StagedBatch {
  /** The CloudEvent id: a redelivered event is the same document. */
  _id: string;
  pipelineId: string;
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

/** What the records consumer stages: the batch and the JSON text of its checked rows. */
export type NewStagedBatch = Omit<StagedBatch, 'sequence' | 'stagedAt' | 'deadLettered'> & {
  /**
   * JSON text of the checked rows, a `CleanRows` (record-checks.ts) (column names are free-form and must not meet Mongo's key
   * rules, and text is what the engine decodes fast).
   */
  rowsJson: string;
};

/** A batch document as stored: one written before payloads were split off carries its records inline. */
type StoredBatch = StagedBatch & { recordsJson?: string; consumed?: boolean };

/** A batch's staged rows: `rowsJson` (a `CleanRows` (record-checks.ts)), or `recordsJson` (an array of records) staged before. */
interface PayloadDocument {
  _id: string;
  rowsJson?: string;
  recordsJson?: string;
}

/** A batch's payload as staged, for the cut to decode (on a worker thread). */
export type StagedPayload = { rowsJson: string } | { recordsJson: string };

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

const stagedSchema = new Schema<StoredBatch>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    recordsJson: String,
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

const payloadSchema = new Schema<PayloadDocument>(
  { _id: { type: String, required: true }, rowsJson: String, recordsJson: String },
  { collection: 'staged_record_payloads', versionKey: false },
);

const headSchema = new Schema<HeadDocument>(
  { _id: { type: String, required: true }, value: { type: Number, required: true }, pending: [String] },
  { collection: 'staged_record_sequences', versionKey: false },
);

const DUPLICATE_KEY = 11000;

const isDuplicateKey = (error: unknown) => (error as { code?: unknown }).code === DUPLICATE_KEY;

/** True when every failed write of an unordered insert was a duplicate key (an `_id` written before). */
function onlyDuplicates(error: unknown): boolean {
  const { writeErrors } = error as { writeErrors?: { code?: unknown }[] | { code?: unknown } };
  if (Array.isArray(writeErrors) && writeErrors.length > 0) return writeErrors.every((e) => e.code === DUPLICATE_KEY);
  return isDuplicateKey(error);
}

/**
 * Staged record batches in MongoDB. Every per-event write is an insert (the unique `_id` index says whether the
 * event was staged before, in the same round trip; upstream FerretDB's SQLite backend scans for an `_id` lookup, see
 * docs/design/repositories.md), and every per-cut read is by `_id`.
 */
@Injectable()
export class StagingRepository {
  private readonly staged: Model<StoredBatch>;
  private readonly payloads: Model<PayloadDocument>;
  private readonly heads: Model<HeadDocument>;

  constructor(infra: Infrastructure) {
    this.staged = infra.mongo.model<StoredBatch>('StagedBatch', stagedSchema);
    this.payloads = infra.mongo.model<PayloadDocument>('StagedBatchPayload', payloadSchema);
    this.heads = infra.mongo.model<HeadDocument>('StagedBatchSequence', headSchema);
  }

  /**
   * Stores batches (one per event) unless their event id is already staged; returns, in the same order, what is
   * stored (for a redelivery before the cut, the first delivery's document) and whether this call staged it. Three
   * writes whatever the number of batches: the ids join their pipeline's head first, then the payloads are inserted,
   * then the batches (unordered inserts, docs/design/repositories.md rule 3). A crash in between leaves ids without a
   * batch, which the cut drops, never a batch no cut would find or one without its records. A redelivery lists its id
   * in the head twice; the cut reads each id once and takes every copy off.
   */
  async stageMany(batches: readonly NewStagedBatch[]): Promise<{ batch: StagedBatch; created: boolean }[]> {
    if (batches.length === 0) return [];
    const sequences = new Map<NewStagedBatch, number>();
    for (const [pipelineId, group] of byPipeline(batches)) {
      const head = await this.heads
        .findOneAndUpdate(
          { _id: pipelineId },
          { $inc: { value: group.length }, $push: { pending: { $each: group.map((batch) => batch._id) } } },
          { upsert: true, returnDocument: 'after' },
        )
        .lean<HeadDocument>();
      group.forEach((batch, i) => sequences.set(batch, head!.value - group.length + 1 + i));
    }
    // A redelivery's payload is the same event's records, so an existing one is kept as it is.
    await (this.payloads.collection as unknown as Collection<PayloadDocument>)
      .insertMany(
        batches.map((batch) => ({ _id: batch._id, rowsJson: batch.rowsJson })),
        { ordered: false },
      )
      .catch((error: unknown) => {
        if (!onlyDuplicates(error)) throw error;
      });
    const stagedAt = new Date();
    // Absent fields stay absent (the driver would store `undefined` as null, which no reader expects).
    const stored: StagedBatch[] = batches.map(({ rowsJson: _rows, ...fields }, i) => ({
      ...(Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as typeof fields),
      sequence: sequences.get(batches[i])!,
      stagedAt,
      deadLettered: false,
    }));
    let duplicates = false;
    const stagedCollection = this.staged.collection as unknown as Collection<StagedBatch>;
    await stagedCollection.insertMany(stored, { ordered: false }).catch((error: unknown) => {
      if (!onlyDuplicates(error)) throw error;
      duplicates = true;
    });
    if (!duplicates) return stored.map((batch) => ({ batch, created: true }));
    // Some were staged before (a redelivery, or a concurrent delivery that won): their first document is the batch.
    // A document carrying the sequence this call took is this call's; the head's sequence is never handed out twice.
    const existing = new Map((await this.byIds(stored.map((batch) => batch._id))).map((doc) => [doc._id, doc]));
    const results: { batch: StagedBatch; created: boolean }[] = [];
    for (const batch of stored) {
      const found = existing.get(batch._id);
      if (!found) throw new Error(`staged batch ${batch._id} vanished after a duplicate insert`);
      if (found.sequence === batch.sequence) {
        results.push({ batch, created: true });
        continue;
      }
      if (found.consumed) {
        // A batch marked consumed is already in a dataset version.
        await this.staged.deleteOne({ _id: found._id });
        await this.payloads.deleteOne({ _id: found._id });
      }
      results.push({ batch: found, created: false });
    }
    return results;
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
   * Waiting batches in arrival order, up to the first one that brings the total to `maxRows`, read in one query by
   * the `_id`s in the pipeline's head. Ids whose batch is gone (a crash between the head and the batch, or after a
   * cut's deletes) are dropped from the head; `dropped` counts them.
   */
  async takePending(pipelineId: string, maxRows: number): Promise<{ batches: StagedBatch[]; dropped: number }> {
    const head = await this.heads.findById(pipelineId).lean<HeadDocument>();
    const ids = [...new Set(head?.pending ?? [])];
    const found = new Map((await this.byIds(ids)).map((batch) => [batch._id, batch]));
    const taken: StagedBatch[] = [];
    const gone: string[] = [];
    let rows = 0;
    for (const id of ids) {
      const batch = found.get(id);
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
   * The pipeline's newest pending batch (its head's last listed batch, read by `_id`): when it was staged and where
   * its records came from, for a quiet-period cut on any replica. Null when nothing is pending.
   */
  async newestPending(pipelineId: string): Promise<NewestPending | null> {
    const head = await this.heads.findById(pipelineId).lean<HeadDocument>();
    const ids = head?.pending ?? [];
    for (let i = ids.length - 1; i >= 0; i--) {
      const batch = await this.staged.findById(ids[i], { stagedAt: 1, topic: 1, partition: 1 }).lean<NewestPending>();
      if (batch) return { stagedAt: batch.stagedAt, topic: batch.topic, partition: batch.partition };
    }
    return null;
  }

  /** Batches by `_id`, in arrival order (a planned cut's batches; one deleted meanwhile is left out). */
  async load(ids: readonly string[]): Promise<StagedBatch[]> {
    return (await this.byIds(ids)).sort((a, b) => a.sequence - b.sequence);
  }

  /**
   * Once their version is durable: deletes the batches one by one by `_id`, then their payloads, then takes them off
   * the head. Safe to repeat (the cut log repeats it after a crash).
   */
  async consume(pipelineId: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) await this.staged.deleteOne({ _id: id });
    if (ids.length > 0) await this.payloads.deleteMany({ _id: { $in: [...ids] } });
    await this.heads.updateOne({ _id: pipelineId }, { $pullAll: { pending: [...ids] } });
  }

  /**
   * The batches' staged payloads in the batches' order, from one query of the payloads (a batch staged before
   * payloads were split off carries its records itself); decoded by the cut on a worker thread.
   */
  async payloadsOf(batches: readonly StagedBatch[]): Promise<StagedPayload[]> {
    if (batches.length === 0) return [];
    const payloads = await this.payloads
      .find({ _id: { $in: batches.map((batch) => batch._id) } })
      .lean<PayloadDocument[]>();
    const byId = new Map(payloads.map((payload) => [payload._id, payload]));
    const texts: StagedPayload[] = [];
    for (const batch of batches) {
      const payload: Pick<PayloadDocument, 'rowsJson' | 'recordsJson'> | null =
        byId.get(batch._id) ??
        (await this.staged.findById(batch._id, { recordsJson: 1 }).lean<Pick<StoredBatch, 'recordsJson'>>());
      if (typeof payload?.rowsJson === 'string') texts.push({ rowsJson: payload.rowsJson });
      else if (typeof payload?.recordsJson === 'string') texts.push({ recordsJson: payload.recordsJson });
      else throw new Error(`staged batch ${batch._id} has no records`);
    }
    return texts;
  }

  /** Batch documents (without inline records) by `_id`, in one query; absent ones are left out. */
  private byIds(ids: readonly string[]): Promise<StoredBatch[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.staged.find({ _id: { $in: [...ids] } }, { recordsJson: 0 }).lean<StoredBatch[]>();
  }
}

function byPipeline(batches: readonly NewStagedBatch[]): Map<string, NewStagedBatch[]> {
  const groups = new Map<string, NewStagedBatch[]>();
  for (const batch of batches) {
    const group = groups.get(batch.pipelineId);
    if (group) group.push(batch);
    else groups.set(batch.pipelineId, [batch]);
  }
  return groups;
}
