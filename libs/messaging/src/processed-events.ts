import { type Connection, type Model, Schema } from 'mongoose';

/**
 * Remembers which CloudEvent ids a consumer has already applied, so an at-least-once redelivery has one effect.
 * Implementations must make `record` durable before it resolves.
 */
export interface ProcessedEventStore {
  has(consumer: string, eventId: string): Promise<boolean>;
  /** Records the id; recording an id twice is not an error. */
  record(consumer: string, eventId: string, topic: string): Promise<void>;
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
}
