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
  consumer: string;
  eventId: string;
  topic: string;
  processedAt: Date;
}

const processedEventSchema = new Schema<ProcessedEventDocument>(
  {
    consumer: { type: String, required: true },
    eventId: { type: String, required: true },
    topic: { type: String, required: true },
    processedAt: { type: Date, required: true },
  },
  { collection: 'processed_events', versionKey: false },
);
// The unique index is what makes the guarantee hold across consumer instances, not the read before the write.
processedEventSchema.index({ consumer: 1, eventId: 1 }, { unique: true });

const DUPLICATE_KEY = 11000;

/** ProcessedEventStore in MongoDB (works on FerretDB: a plain unique compound index, no TTL). */
export class MongoProcessedEventStore implements ProcessedEventStore {
  private readonly model: Model<ProcessedEventDocument>;

  constructor(connection: Connection) {
    this.model =
      (connection.models.ProcessedEvent as Model<ProcessedEventDocument> | undefined) ??
      connection.model<ProcessedEventDocument>('ProcessedEvent', processedEventSchema);
  }

  /** Creates the unique index; call once at start-up. */
  async init(): Promise<void> {
    await this.model.createIndexes();
  }

  async has(consumer: string, eventId: string): Promise<boolean> {
    return (await this.model.exists({ consumer, eventId })) !== null;
  }

  async record(consumer: string, eventId: string, topic: string): Promise<void> {
    try {
      await this.model.create({ consumer, eventId, topic, processedAt: new Date() });
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
