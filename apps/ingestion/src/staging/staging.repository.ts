import { randomUUID, webcrypto } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { BUCKETS, formatObjectUri } from '@keel/storage';
import { type Collection } from 'mongodb';
import { type Model, Schema } from 'mongoose';
import { type NewestPending } from './quiet-period';

/**
 * Where staged rows live: one object per `stageMany` call (what one fetch of a partition brought) in the datasets
 * bucket under this prefix, holding the JSON texts of its events' rows one after another. Pipeline ids never start
 * with a dot, so no version key (`<pipelineId>/<sha256>.parquet`) is ever under it.
 */
export const STAGING_PREFIX = '.staging/';

/** Staged texts kept in memory for this process's cuts (UTF-16 code units); past it a cut reads the object. */
const MAX_CACHED_CHARS = 64 * 1024 * 1024;

/** An orphaned staging object (its batches never inserted: a crash in between) is deleted after this long. */
const ORPHAN_AFTER_MS = 10 * 60_000;

/** Where one batch's rows are in its staging object: `[start, end)` of the object's text, and the object's hash. */
export interface PayloadRef {
  key: string;
  sha256: string;
  start: number;
  end: number;
}

/**
 * One data event's good records waiting for a dataset version (collection `staged_records`), without the records
 * themselves: those are a slice of a staging object (`payload`), written once per fetch rather than once per event
 * (before, a `staged_record_payloads` document per event carried them, and the document store wrote and read every
 * staged byte, which bounded the drain). The documents that the pending scans (start-up, rescans) and the per-tick
 * reads go through stay small. A batch is deleted once its version is durable, and its object with the last batch
 * that points to it, so staging only ever holds pending batches.
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
  /** Where its rows are; absent on batches staged before (their rows are in `staged_record_payloads`). */
  payload?: PayloadRef;
}

/** What the records consumer stages: the batch and the JSON text of its checked rows. */
export type NewStagedBatch = Omit<StagedBatch, 'sequence' | 'stagedAt' | 'deadLettered' | 'payload'> & {
  /**
   * JSON text of the checked rows, a `CodedColumns` (record-checks.ts) (column names are free-form and must not meet
   * Mongo's key rules, and text is what the engine decodes fast).
   */
  rowsJson: string;
};

/** A batch document as stored: one written before payloads were split off carries its records inline. */
type StoredBatch = StagedBatch & { recordsJson?: string; consumed?: boolean };

/**
 * A batch's staged rows: `rowsJson` (a `CodedColumns` (record-checks.ts), or a `CleanColumns` or `CleanRows` staged
 * before), or `recordsJson` (an array of records) staged before that.
 */
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
    payload: {
      type: new Schema<PayloadRef>({ key: String, sha256: String, start: Number, end: Number }, { _id: false }),
      required: false,
    },
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
 * Staged record batches: small documents in MongoDB, their rows in object storage. Every per-event write is an
 * insert (the unique `_id` index says whether the event was staged before, in the same round trip; upstream FerretDB's
 * SQLite backend scans for an `_id` lookup, see docs/design/repositories.md), and every per-cut read is by `_id`.
 */
@Injectable()
export class StagingRepository {
  private readonly staged: Model<StoredBatch>;
  private readonly payloads: Model<PayloadDocument>;
  private readonly heads: Model<HeadDocument>;
  /**
   * The rows this process staged, by batch id, until they are cut: a cut in the process that staged them (the usual
   * case) reads nothing back. Another replica's batches, or ones from before a restart, are read from their object.
   */
  private readonly cached = new Map<string, string>();
  private cachedChars = 0;

  constructor(private readonly infra: Infrastructure) {
    this.staged = infra.mongo.model<StoredBatch>('StagedBatch', stagedSchema);
    this.payloads = infra.mongo.model<PayloadDocument>('StagedBatchPayload', payloadSchema);
    this.heads = infra.mongo.model<HeadDocument>('StagedBatchSequence', headSchema);
  }

  /**
   * Stores batches (one per event) unless their event id is already staged; returns, in the same order, what is
   * stored (for a redelivery before the cut, the first delivery's document) and whether this call staged it. Four
   * writes whatever the number of batches and rows: the batches take their sequence numbers from their pipeline's
   * head while the rows go to one new staging object, then the batch documents, which point into the object, are
   * inserted (one unordered insert, docs/design/repositories.md rule 3), and only then are their ids listed in the
   * head, so a cut never finds a listed id whose batch is still to come. A crash in between leaves an object no batch
   * points to, which start-up deletes, or batches not listed in their head, which start-up and the cut timer's
   * rescans list; never a batch without its rows. A redelivery lists its id in the head twice; the cut reads each id
   * once and takes every copy off. A redelivered batch keeps its first document, hence its first object; the new
   * object's slice of it is never read.
   */
  async stageMany(batches: readonly NewStagedBatch[]): Promise<{ batch: StagedBatch; created: boolean }[]> {
    if (batches.length === 0) return [];
    const sequences = new Map<NewStagedBatch, number>();
    const text = batches.map((batch) => batch.rowsJson).join('');
    const bytes = Buffer.from(text, 'utf8');
    const key = `${STAGING_PREFIX}${randomUUID()}.json`;
    // Hashed on libuv's thread pool (Web Crypto is asynchronous), not on the event loop, while the object uploads.
    const digest = webcrypto.subtle.digest('SHA-256', bytes);
    digest.catch(() => undefined);
    const putObject = this.infra.objects.put({ bucket: BUCKETS.datasets, key }, bytes, 'application/json');
    putObject.catch(() => undefined);
    const groups = byPipeline(batches);
    for (const [pipelineId, group] of groups) {
      const head = await this.heads
        .findOneAndUpdate(
          { _id: pipelineId },
          { $inc: { value: group.length } },
          { upsert: true, returnDocument: 'after' },
        )
        .lean<HeadDocument>();
      group.forEach((batch, i) => sequences.set(batch, head!.value - group.length + 1 + i));
    }
    await putObject;
    const object = { key, sha256: Buffer.from(await digest).toString('hex') };
    const refs: PayloadRef[] = [];
    for (let i = 0, at = 0; i < batches.length; at += batches[i].rowsJson.length, i++) {
      refs.push({ ...object, start: at, end: at + batches[i].rowsJson.length });
    }
    const stagedAt = new Date();
    // Absent fields stay absent (the driver would store `undefined` as null, which no reader expects).
    const stored: StagedBatch[] = batches.map(({ rowsJson: _rows, ...fields }, i) => ({
      ...(Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as typeof fields),
      sequence: sequences.get(batches[i])!,
      stagedAt,
      deadLettered: false,
      payload: refs[i],
    }));
    let duplicates = false;
    const stagedCollection = this.staged.collection as unknown as Collection<StagedBatch>;
    await stagedCollection.insertMany(stored, { ordered: false }).catch((error: unknown) => {
      if (!onlyDuplicates(error)) throw error;
      duplicates = true;
    });
    // Listed in their heads only now that they are inserted: a cut reading the head meanwhile took ids without a batch
    // for a crash's leftovers and dropped them, and their batches waited for the next rescan (2026-12-03, 25 s).
    for (const [pipelineId, group] of groups) {
      await this.heads.updateOne(
        { _id: pipelineId },
        { $push: { pending: { $each: group.map((batch) => batch._id) } } },
      );
    }
    const results: { batch: StagedBatch; created: boolean }[] = [];
    if (!duplicates) {
      for (const batch of stored) results.push({ batch, created: true });
    } else {
      // Some were staged before (a redelivery, or a concurrent delivery that won): their first document is the
      // batch. A document carrying the sequence this call took is this call's; the head's sequence is never handed
      // out twice.
      const existing = new Map((await this.byIds(stored.map((batch) => batch._id))).map((doc) => [doc._id, doc]));
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
      // No batch points to this call's object: nothing will ever read it.
      if (results.every((result) => !result.created)) await this.removeObjects([key]);
    }
    for (const [i, result] of results.entries()) {
      if (!result.created || this.cachedChars + batches[i].rowsJson.length > MAX_CACHED_CHARS) continue;
      this.cached.set(result.batch._id, batches[i].rowsJson);
      this.cachedChars += batches[i].rowsJson.length;
    }
    return results;
  }

  async markDeadLettered(id: string): Promise<void> {
    await this.staged.updateOne({ _id: id }, { $set: { deadLettered: true } });
  }

  /**
   * Start-up (and the cut timer's rescans): what is pending per pipeline, from one scan of the (small) collection.
   * Batches marked consumed are deleted and pending ones not listed in their head are added to it, so the invariants
   * above hold from here on; with `sweepObjects`, staging objects no batch points to are deleted too.
   */
  async recover(options: { sweepObjects?: boolean } = {}): Promise<Map<string, PendingState>> {
    await this.staged.collection.deleteMany({ consumed: true });
    const docs = await this.staged
      .find({}, { pipelineId: 1, rowCount: 1, stagedAt: 1, sequence: 1, 'payload.key': 1 })
      .sort({ sequence: 1 })
      .lean<Pick<StagedBatch, '_id' | 'pipelineId' | 'rowCount' | 'stagedAt' | 'sequence' | 'payload'>[]>();
    if (options.sweepObjects) await this.sweepObjects(new Set(docs.map((doc) => doc.payload?.key)));
    // Rows cached for batches another replica cut meanwhile: nothing here will read them.
    const pendingIds = new Set(docs.map((doc) => doc._id));
    for (const id of [...this.cached.keys()]) if (!pendingIds.has(id)) this.uncache(id);
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
   * the `_id`s in the pipeline's head. Ids whose batch is gone (a cut's deletes, or a batch consumed before it was
   * listed again) are dropped from the head; `dropped` counts them. `stageMany` lists ids only once their batches are
   * inserted, so an id without a batch is never one still being staged.
   *
   * `ahead`: the next cut taken while the current one (`ahead.excluding`, its batches) is still being written and
   * closed. Its batches are left alone, and nothing is dropped: the taking stops at the first id without a batch.
   */
  async takePending(
    pipelineId: string,
    maxRows: number,
    ahead?: { excluding: ReadonlySet<string> },
  ): Promise<{ batches: StagedBatch[]; dropped: number }> {
    const head = await this.heads.findById(pipelineId).lean<HeadDocument>();
    const ids = [...new Set(head?.pending ?? [])].filter((id) => !ahead?.excluding.has(id));
    const found = new Map((await this.byIds(ids)).map((batch) => [batch._id, batch]));
    const taken: StagedBatch[] = [];
    const gone: string[] = [];
    let rows = 0;
    for (const id of ids) {
      const batch = found.get(id);
      if (ahead && (!batch || batch.consumed)) break;
      if (!batch || batch.consumed) {
        // A batch marked consumed is already in a dataset version.
        if (batch) await this.staged.deleteOne({ _id: id });
        this.uncache(id);
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
   * Once their version is durable: deletes the batches (by `_id`), then their payloads (older batches' documents,
   * and the staging objects no pending batch points to any more), then takes them off the head. Safe to repeat (the
   * cut log repeats it after a crash; an object left behind by a crash is swept at start-up).
   */
  async consume(pipelineId: string, ids: readonly string[]): Promise<void> {
    const keys = new Set<string>();
    if (ids.length > 0) {
      for (const doc of await this.byIds(ids)) if (doc.payload) keys.add(doc.payload.key);
      await this.staged.deleteMany({ _id: { $in: [...ids] } });
      await this.payloads.deleteMany({ _id: { $in: [...ids] } });
    }
    for (const id of ids) this.uncache(id);
    if (keys.size > 0) {
      // A fetch's object may hold batches of other pipelines, or ones this cut left for the next: one scan of the
      // (small, pending-only) collection per cut says which objects nothing points to now.
      const still = await this.staged
        .find({ 'payload.key': { $in: [...keys] } }, { 'payload.key': 1 })
        .lean<Pick<StagedBatch, 'payload'>[]>();
      for (const doc of still) keys.delete(doc.payload!.key);
      await this.removeObjects([...keys]);
    }
    await this.heads.updateOne({ _id: pipelineId }, { $pullAll: { pending: [...ids] } });
  }

  /**
   * The batches' staged payloads in the batches' order: from memory when this process staged them, else from their
   * staging objects (each read once), else (batches staged before objects) from the payload documents or inline;
   * decoded by the cut on a worker thread.
   */
  async payloadsOf(batches: readonly StagedBatch[]): Promise<StagedPayload[]> {
    if (batches.length === 0) return [];
    const objects = new Map<string, Promise<string>>();
    const legacy = batches.filter((batch) => !batch.payload && !this.cached.has(batch._id));
    const documents =
      legacy.length === 0
        ? []
        : await this.payloads.find({ _id: { $in: legacy.map((batch) => batch._id) } }).lean<PayloadDocument[]>();
    const byId = new Map(documents.map((payload) => [payload._id, payload]));
    const texts: StagedPayload[] = [];
    for (const batch of batches) {
      const cached = this.cached.get(batch._id);
      if (cached !== undefined) {
        texts.push({ rowsJson: cached });
        continue;
      }
      const ref = batch.payload;
      if (ref) {
        let object = objects.get(ref.key);
        if (!object) {
          const uri = formatObjectUri({ bucket: BUCKETS.datasets, key: ref.key });
          object = this.infra.objects.getVerified({ uri, sha256: ref.sha256 }).then((bytes) => bytes.toString('utf8'));
          objects.set(ref.key, object);
        }
        texts.push({ rowsJson: (await object).slice(ref.start, ref.end) });
        continue;
      }
      const payload: Pick<PayloadDocument, 'rowsJson' | 'recordsJson'> | null =
        byId.get(batch._id) ??
        (await this.staged.findById(batch._id, { recordsJson: 1 }).lean<Pick<StoredBatch, 'recordsJson'>>());
      if (typeof payload?.rowsJson === 'string') texts.push({ rowsJson: payload.rowsJson });
      else if (typeof payload?.recordsJson === 'string') texts.push({ recordsJson: payload.recordsJson });
      else throw new Error(`staged batch ${batch._id} has no records`);
    }
    return texts;
  }

  private uncache(id: string): void {
    const text = this.cached.get(id);
    if (text === undefined) return;
    this.cached.delete(id);
    this.cachedChars -= text.length;
  }

  /** Deletes staging objects (a missing one is not an error). */
  private async removeObjects(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await this.infra.objects.client.removeObjects(BUCKETS.datasets, [...keys]);
  }

  /**
   * Deletes staging objects that no batch points to and that are old enough that no `stageMany` can still be
   * inserting batches into them (a crash between the object and its batches, or between a cut's deletes).
   */
  private async sweepObjects(referenced: ReadonlySet<string | undefined>): Promise<void> {
    const orphans: string[] = [];
    const before = Date.now() - ORPHAN_AFTER_MS;
    const listing = this.infra.objects.client.listObjectsV2(BUCKETS.datasets, STAGING_PREFIX, true);
    for await (const item of listing as AsyncIterable<{ name?: string; lastModified?: Date }>) {
      if (!item.name || referenced.has(item.name)) continue;
      if (item.lastModified && item.lastModified.getTime() < before) orphans.push(item.name);
    }
    for (let i = 0; i < orphans.length; i += 1_000) await this.removeObjects(orphans.slice(i, i + 1_000));
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
