import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { KeyedLock } from '../keyed-lock';
import { type Allocation, allocateRows } from './window-numbering';

/**
 * Arrival counter of one model version's predictions, which numbers them into drift windows. Found by its `_id`
 * (counterId) only, so it carries no pipelineId or modelVersion field a filter could match on.
 */
export interface CounterDocument {
  _id: string;
  count: number;
  /** Window size fixed when the version's first prediction arrived, so a spec change never renumbers windows. */
  windowRows: number;
  /** Windows below it are evaluated or failed; the next full one is evaluated from here. */
  nextWindowToEvaluate: number;
  /** JSON text of the latest events' allocations, so a retried event gets the same row numbers (and windows) again. */
  recentJson?: string;
  /** Writes so far (allocations are serialised per counter in this process). */
  rev: number;
}

/** `_id` of a version's counter. */
export function counterId(pipelineId: string, modelVersion: number): string {
  return `${pipelineId}|${modelVersion}`;
}

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

/** A counter keyed by its fields rather than its `_id`, as older releases wrote them; migrated at start-up. */
const FIELD_KEYED_COUNTER_INDEX = 'pipelineId_1_modelVersion_1';
interface FieldKeyedCounter {
  _id: unknown;
  pipelineId: string;
  modelVersion: number;
  count: number;
  windowRows: number;
}

/**
 * Per-version arrival counters (`monitoring_counters`): allocations of row numbers, and how far evaluation got.
 * `_id`-only filters, allocations serialised per counter (see docs/design/repositories.md).
 */
@Injectable()
export class WindowCounterRepository implements OnModuleInit {
  private readonly counters: Model<CounterDocument>;
  private readonly counterLock = new KeyedLock();

  constructor(infra: Infrastructure) {
    this.counters = infra.mongo.model<CounterDocument>('MonitoringCounter', counterSchema);
  }

  async onModuleInit(): Promise<void> {
    await this.migrateFieldKeyedCounters();
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
    return this.counterLock.run(_id, async () => {
      let counter = await this.counters.findById(_id).lean<CounterDocument>();
      if (!counter) {
        const fresh: CounterDocument = { _id, count: 0, windowRows, nextWindowToEvaluate: 0, rev: 0 };
        await this.counters.updateOne({ _id }, { $setOnInsert: fresh }, { upsert: true });
        counter = (await this.counters.findById(_id).lean<CounterDocument>())!;
      }
      const recent = JSON.parse(counter.recentJson ?? '[]') as Allocation[];
      const { allocation, remember } = allocateRows(counter.count, recent, eventId, added);
      if (!remember) return { allocation, counter };
      // _id-only filter, safe because counterLock serialises this read-modify-write.
      const updated = await this.counters
        .findOneAndUpdate(
          { _id },
          { $inc: { count: added, rev: 1 }, $set: { recentJson: JSON.stringify(remember) } },
          { returnDocument: 'after' },
        )
        .lean<CounterDocument>();
      if (!updated) throw new Error(`counter ${_id} vanished during an allocation`);
      return { allocation: { ...allocation, before: updated.count - added }, counter: updated };
    });
  }

  /** Records that windows below `windowIndex` are done (never moves back). */
  async evaluatedThrough(pipelineId: string, modelVersion: number, windowIndex: number): Promise<void> {
    await this.counters.updateOne(
      { _id: counterId(pipelineId, modelVersion) },
      { $max: { nextWindowToEvaluate: windowIndex } },
    );
  }

  /**
   * Field-keyed counters become `_id`-keyed ones that continue their count; a window such a counter left partly
   * filled is skipped (its rows were never summarised), later windows are evaluated as usual.
   */
  private async migrateFieldKeyedCounters(): Promise<void> {
    await this.counters.collection.dropIndex(FIELD_KEYED_COUNTER_INDEX).catch(() => undefined);
    const fieldKeyed = (await this.counters.collection
      .find({ _id: { $type: 'objectId' } } as never)
      .toArray()) as unknown as FieldKeyedCounter[];
    for (const old of fieldKeyed) {
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
