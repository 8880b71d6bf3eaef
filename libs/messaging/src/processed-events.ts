import { type Connection, type Model, Schema } from 'mongoose';

/**
 * Remembers which CloudEvent ids a consumer has already applied, so an at-least-once redelivery has one effect.
 * Implementations must make `record` durable before it resolves.
 */
export interface ProcessedEventStore {
  has(consumer: string, eventId: string): Promise<boolean>;
  /** Records the id; recording an id twice is not an error. */
  record(consumer: string, eventId: string, topic: string): Promise<void>;
  /** The ids among `eventIds` already recorded, in one round trip (batched consumption). */
  hasMany(consumer: string, eventIds: readonly string[]): Promise<Set<string>>;
  /** Records the ids in one round trip; ids recorded before are not an error. */
  recordMany(consumer: string, eventIds: readonly string[], topic: string): Promise<void>;
}

interface ProcessedEventDocument {
  _id: string;
  consumer: string;
  eventId: string;
  topic: string;
  processedAt: Date;
}

const processedEventSchema = new Schema<ProcessedEventDocument>(
  {
    _id: { type: String, required: true },
    consumer: { type: String, required: true },
    eventId: { type: String, required: true },
    topic: { type: String, required: true },
    processedAt: { type: Date, required: true },
  },
  { collection: 'processed_events', versionKey: false },
);

const DUPLICATE_KEY = 11000;

/** True when every failed write of an (unordered) insert was a duplicate key. */
function onlyDuplicates(error: unknown): boolean {
  const { code, writeErrors } = error as { code?: unknown; writeErrors?: { code?: unknown }[] };
  if (Array.isArray(writeErrors) && writeErrors.length > 0) return writeErrors.every((e) => e.code === DUPLICATE_KEY);
  return code === DUPLICATE_KEY;
}

/**
 * The document key is the (consumer, event id) pair itself: the `_id` index makes the guarantee hold across consumer
 * instances, and this lookup runs for every consumed record, so it is an `_id`-only filter (see
 * docs/design/repositories.md).
 */
function processedKey(consumer: string, eventId: string): string {
  return `${consumer}\u0000${eventId}`;
}

/**
 * ProcessedEventStore in MongoDB: `_id` lookups only. Ids expire by `sweep`, run rarely by the runtime: the
 * Mongo-compatible server used locally has no TTL indexes (see docs/design/repositories.md), so expiry is a periodic
 * scan-and-delete on `processedAt`.
 */
export class MongoProcessedEventStore implements ProcessedEventStore {
  private readonly model: Model<ProcessedEventDocument>;

  constructor(connection: Connection) {
    this.model =
      (connection.models.ProcessedEvent as Model<ProcessedEventDocument> | undefined) ??
      connection.model<ProcessedEventDocument>('ProcessedEvent', processedEventSchema);
  }

  /** Nothing to create: the `_id` index is the unique index. Kept so callers need not know. */
  async init(): Promise<void> {
    await this.model.createCollection().catch(() => undefined);
  }

  /** Deletes ids recorded before `olderThan`; returns how many. Safe to run from every replica at once. */
  async sweep(olderThan: Date): Promise<number> {
    const { deletedCount } = await this.model.deleteMany({ processedAt: { $lt: olderThan } });
    return deletedCount;
  }

  async has(consumer: string, eventId: string): Promise<boolean> {
    return (await this.model.exists({ _id: processedKey(consumer, eventId) })) !== null;
  }

  async record(consumer: string, eventId: string, topic: string): Promise<void> {
    try {
      await this.model.create({
        _id: processedKey(consumer, eventId),
        consumer,
        eventId,
        topic,
        processedAt: new Date(),
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== DUPLICATE_KEY) throw error;
    }
  }

  // `_id` $in: answered from the `_id` index (see docs/design/repositories.md).
  async hasMany(consumer: string, eventIds: readonly string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const byKey = new Map(eventIds.map((eventId) => [processedKey(consumer, eventId), eventId]));
    const found = await this.model.find({ _id: { $in: [...byKey.keys()] } }, { _id: 1 }).lean<{ _id: string }[]>();
    return new Set(found.map((doc) => byKey.get(doc._id)!));
  }

  // One unordered insert (docs/design/repositories.md, rule 3); a duplicate is an id recorded before.
  async recordMany(consumer: string, eventIds: readonly string[], topic: string): Promise<void> {
    if (eventIds.length === 0) return;
    const processedAt = new Date();
    const docs = [...new Set(eventIds)].map((eventId) => ({
      _id: processedKey(consumer, eventId),
      consumer,
      eventId,
      topic,
      processedAt,
    }));
    await this.model.insertMany(docs, { ordered: false }).catch((error: unknown) => {
      if (!onlyDuplicates(error)) throw error;
    });
  }
}

/** In-memory store for unit tests. */
export class InMemoryProcessedEventStore implements ProcessedEventStore {
  private readonly seen = new Set<string>();
  async has(consumer: string, eventId: string): Promise<boolean> {
    return this.seen.has(`${consumer}\u0000${eventId}`);
  }
  async record(consumer: string, eventId: string): Promise<void> {
    this.seen.add(`${consumer}\u0000${eventId}`);
  }
  async hasMany(consumer: string, eventIds: readonly string[]): Promise<Set<string>> {
    return new Set(eventIds.filter((eventId) => this.seen.has(`${consumer}\u0000${eventId}`)));
  }
  async recordMany(consumer: string, eventIds: readonly string[]): Promise<void> {
    for (const eventId of eventIds) this.seen.add(`${consumer}\u0000${eventId}`);
  }
}
