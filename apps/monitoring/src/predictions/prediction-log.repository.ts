import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { KeyedLock } from '../keyed-lock';

/** One served prediction, as monitoring keeps it; `_id` is the prediction id. */
export interface PredictionLogDocument {
  _id: string;
  pipelineId: string;
  modelName: string;
  modelVersion: number;
  requestId: string;
  predictionId: string;
  /** The CloudEvent that logged it: a retry of that event recognises its own earlier inserts. */
  eventId: string;
  servedAt: Date;
  /** JSON text: input keys are free-form column names, which must not hit Mongo key restrictions. */
  inputsJson: string;
  outputsJson: string;
  loggedAt: Date;
}

/** Rows a predictions event numbered: `added` rows from count `before` + 1 on. */
export interface Allocation {
  eventId: string;
  before: number;
  added: number;
}

/**
 * Arrival counter of one model version (`_id` = counterId, which names the pipeline and version). No pipelineId or
 * modelVersion fields: the first shape's code filtered counters by them, so a replica of it still running could
 * otherwise $inc this counter behind its allocations.
 */
export interface CounterDocument {
  _id: string;
  count: number;
  /** Window size fixed when the version's first prediction arrived, so a spec change never renumbers windows. */
  windowRows: number;
  /** Windows below it are evaluated or failed; the next full one is evaluated from here. */
  nextWindowToEvaluate: number;
  /**
   * JSON text of the latest events' allocations, so a retried event gets the same row numbers (and windows) again.
   * Text rather than an array of subdocuments: FerretDB decodes a string far faster.
   */
  recentJson?: string;
  /** Writes so far (allocations are serialised per counter in this process). */
  rev: number;
}

/** `_id` of a version's counter. */
export function counterId(pipelineId: string, modelVersion: number): string {
  return `${pipelineId}|${modelVersion}`;
}

const DUPLICATE_KEY = 11000;
/** Allocations kept: far more than the events other partitions can number while one event is being retried. */
const RECENT_ALLOCATIONS = 256;

const predictionLogSchema = new Schema<PredictionLogDocument>(
  {
    _id: { type: String, required: true },
    pipelineId: { type: String, required: true },
    modelName: { type: String, required: true },
    modelVersion: { type: Number, required: true },
    requestId: { type: String, required: true },
    predictionId: { type: String, required: true },
    eventId: { type: String, required: true },
    servedAt: { type: Date, required: true },
    inputsJson: { type: String, required: true },
    outputsJson: { type: String, required: true },
    loggedAt: { type: Date, required: true },
  },
  { collection: 'prediction_logs', versionKey: false },
);
// Also guards against documents of the first shape (ObjectId `_id`) holding the same prediction id.
predictionLogSchema.index({ predictionId: 1 }, { unique: true });

const counterSchema = new Schema<CounterDocument>(
  {
    _id: { type: String, required: true },
    count: { type: Number, required: true },
    windowRows: { type: Number, required: true },
    nextWindowToEvaluate: { type: Number, required: true },
    recentJson: String,
    rev: { type: Number, required: true },
  },
  { collection: 'monitoring_counters', versionKey: false },
);

/** The counters' first shape, keyed by fields (migrated at start-up). */
const LEGACY_COUNTER_INDEX = 'pipelineId_1_modelVersion_1';
interface LegacyCounter {
  _id: unknown;
  pipelineId: string;
  modelVersion: number;
  count: number;
  windowRows: number;
}

/**
 * The durable prediction log (`prediction_logs`) and the per-version arrival counters (`monitoring_counters`).
 * Every per-event query is an `_id` equality: FerretDB scans the whole collection for anything else.
 */
@Injectable()
export class PredictionLogRepository implements OnModuleInit {
  private readonly logs: Model<PredictionLogDocument>;
  private readonly counters: Model<CounterDocument>;
  private readonly counterLock = new KeyedLock();

  constructor(infra: Infrastructure) {
    this.logs = infra.mongo.model<PredictionLogDocument>('PredictionLog', predictionLogSchema);
    this.counters = infra.mongo.model<CounterDocument>('MonitoringCounter', counterSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.logs.createIndexes();
    await this.migrateLegacyCounters();
  }

  /**
   * Inserts the predictions (one unordered insert; FerretDB runs per-document upserts one by one) and returns the
   * indexes of those this event logs: the ones inserted now, plus those an earlier attempt of the same event
   * inserted (a retry after a crash). A prediction id another event logged is a duplicate. No read before the
   * write: duplicates are rare, and only they are looked up, by `_id`.
   */
  async insertNew(documents: readonly PredictionLogDocument[]): Promise<number[]> {
    if (documents.length === 0) return [];
    const duplicates = new Set<number>();
    try {
      // The driver's typing wants ObjectId ids; ours are the prediction ids.
      await this.logs.collection.insertMany(documents.map((doc) => ({ ...doc })) as never[], { ordered: false });
    } catch (error) {
      const writeErrors = (error as { writeErrors?: { code?: number; index: number }[] | { code?: number } })
        .writeErrors;
      const errors = (Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : []) as {
        code?: number;
        index: number;
      }[];
      if (errors.length === 0 || errors.some((e) => e.code !== DUPLICATE_KEY)) throw error;
      for (const e of errors) duplicates.add(e.index);
    }
    const owned: number[] = [];
    for (let i = 0; i < documents.length; i++) {
      if (!duplicates.has(i)) owned.push(i);
      else {
        const stored = await this.logs.findById(documents[i]._id, { eventId: 1 }).lean();
        if (stored?.eventId === documents[i].eventId) owned.push(i);
      }
    }
    return owned;
  }

  /**
   * Numbers `added` predictions of an event for the version, once per event id: a retried event gets the allocation
   * it had. Creates the counter (with the window size) on the version's first event.
   */
  async allocate(
    pipelineId: string,
    modelVersion: number,
    eventId: string,
    added: number,
    windowRows: number,
  ): Promise<{ allocation: Allocation; counter: CounterDocument }> {
    const _id = counterId(pipelineId, modelVersion);
    return this.counterLock.run(_id, () =>
      this.allocateOnce(_id, pipelineId, modelVersion, eventId, added, windowRows),
    );
  }

  private async allocateOnce(
    _id: string,
    pipelineId: string,
    modelVersion: number,
    eventId: string,
    added: number,
    windowRows: number,
  ): Promise<{ allocation: Allocation; counter: CounterDocument }> {
    let counter = await this.counters.findById(_id).lean<CounterDocument>();
    if (!counter) {
      const fresh: CounterDocument = { _id, count: 0, windowRows, nextWindowToEvaluate: 0, rev: 0 };
      await this.counters.updateOne({ _id }, { $setOnInsert: fresh }, { upsert: true });
      counter = (await this.counters.findById(_id).lean<CounterDocument>())!;
    }
    const recent = JSON.parse(counter.recentJson ?? '[]') as Allocation[];
    const known = recent.find((allocation) => allocation.eventId === eventId);
    if (known) return { allocation: known, counter };
    const allocation = { eventId, before: counter.count, added };
    // Filtered by _id alone: FerretDB scans the collection for any other condition (a `{_id, rev}` filter too), and
    // its conditional updates are not atomic anyway; this process serialises allocations per counter (counterLock).
    const updated = await this.counters
      .findOneAndUpdate(
        { _id },
        {
          $inc: { count: added, rev: 1 },
          $set: { recentJson: JSON.stringify([...recent.slice(-(RECENT_ALLOCATIONS - 1)), allocation]) },
        },
        { returnDocument: 'after' },
      )
      .lean<CounterDocument>();
    if (!updated) throw new Error(`counter ${_id} vanished during an allocation`);
    return { allocation: { ...allocation, before: updated.count - added }, counter: updated };
  }

  getCounter(pipelineId: string, modelVersion: number): Promise<CounterDocument | null> {
    return this.counters.findById(counterId(pipelineId, modelVersion)).lean<CounterDocument>();
  }

  /** Records that windows below `windowIndex` are done (never moves back). */
  async evaluatedThrough(pipelineId: string, modelVersion: number, windowIndex: number): Promise<void> {
    await this.counters.updateOne(
      { _id: counterId(pipelineId, modelVersion) },
      { $max: { nextWindowToEvaluate: windowIndex } },
    );
  }

  /** Predictions logged for a pipeline (an HTTP count: a scan is fine here). */
  async countFor(pipelineId: string): Promise<number> {
    return this.logs.countDocuments({ pipelineId });
  }

  /**
   * Counters of the first shape (ObjectId `_id`) become `_id`-keyed ones that continue their count; a window the old
   * code left partly filled is skipped (its rows were not summarised), later windows are evaluated as usual.
   */
  private async migrateLegacyCounters(): Promise<void> {
    await this.counters.collection.dropIndex(LEGACY_COUNTER_INDEX).catch(() => undefined);
    const legacy = (await this.counters.collection
      .find({ _id: { $type: 'objectId' } } as never)
      .toArray()) as unknown as LegacyCounter[];
    for (const old of legacy) {
      const migrated: CounterDocument = {
        _id: counterId(old.pipelineId, old.modelVersion),
        count: old.count,
        windowRows: old.windowRows,
        nextWindowToEvaluate: Math.ceil(old.count / old.windowRows),
        rev: 0,
      };
      await this.counters.updateOne({ _id: migrated._id }, { $setOnInsert: migrated }, { upsert: true });
      await this.counters.collection.deleteOne({ _id: old._id } as never);
    }
  }
}
