import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Infrastructure } from '@keel/service-runtime';
import { type Model, Schema } from 'mongoose';
import { mongoKeyedTable, VersionedDocuments } from '@keel/coordination';
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
  /** Version of the counter's state: every change claims the next one (compare-and-set, see CounterRepository). */
  rev: number;
}

/** The counter's state, as its revisions hold it. */
type CounterState = Omit<CounterDocument, '_id' | 'rev'>;

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

/** Revisions of the counters (compare-and-set claims); superseded ones are tombstones the retention sweep removes. */
export const COUNTER_REVISIONS = 'monitoring_counter_revisions';

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
 * Per-version arrival counters (`monitoring_counters`, revisions in `monitoring_counter_revisions`): allocations of
 * row numbers, and how far evaluation got. Every change is a compare-and-set (`VersionedDocuments`), so two replicas
 * that handle the same version's events at once (a partition handed over mid-event) never number a row twice or lose
 * an allocation; `counterLock` keeps this process's own changes from colliding (see docs/design/repositories.md).
 */
@Injectable()
export class WindowCounterRepository implements OnModuleInit {
  private readonly counters: Model<CounterDocument>;
  private readonly versions: VersionedDocuments<CounterState>;
  private readonly counterLock = new KeyedLock();

  constructor(infra: Infrastructure) {
    this.counters = infra.mongo.model<CounterDocument>('MonitoringCounter', counterSchema);
    this.versions = new VersionedDocuments<CounterState>({
      heads: mongoKeyedTable(infra.mongo, 'monitoring_counters'),
      revisions: mongoKeyedTable(infra.mongo, COUNTER_REVISIONS),
      versionField: 'rev',
      keepStates: 4,
    });
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
      let allocation: Allocation | undefined;
      const { current } = await this.versions.update(_id, (latest) => {
        const state = latest?.state ?? { count: 0, windowRows, nextWindowToEvaluate: 0 };
        const recent = JSON.parse(state.recentJson ?? '[]') as Allocation[];
        const allocated = allocateRows(state.count, recent, eventId, added);
        allocation = allocated.allocation;
        if (!allocated.remember) return null;
        return { ...state, count: state.count + added, recentJson: JSON.stringify(allocated.remember) };
      });
      if (!current || !allocation) throw new Error(`counter ${_id} has no state after an allocation`);
      return { allocation, counter: { _id, ...current.state, rev: current.version } };
    });
  }

  /** Records that windows below `windowIndex` are done (never moves back). */
  async evaluatedThrough(pipelineId: string, modelVersion: number, windowIndex: number): Promise<void> {
    const _id = counterId(pipelineId, modelVersion);
    await this.counterLock.run(_id, () =>
      this.versions.update(_id, (latest) =>
        latest && latest.state.nextWindowToEvaluate < windowIndex
          ? { ...latest.state, nextWindowToEvaluate: windowIndex }
          : null,
      ),
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
