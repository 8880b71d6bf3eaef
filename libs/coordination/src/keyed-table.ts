import { type Connection } from 'mongoose';

/** A document addressed by its string `_id`, with any other fields. */
export interface KeyedDocument {
  _id: string;
  [field: string]: unknown;
}

/**
 * The few operations coordination needs from a collection, every one by `_id` alone (docs/design/repositories.md).
 * Only `insert` is atomic against concurrent writers; everything built here rests on it.
 */
export interface KeyedTable {
  find(id: string): Promise<KeyedDocument | null>;
  /** Inserts the document; false when one with the same `_id` exists (someone else claimed it first). */
  insert(document: KeyedDocument): Promise<boolean>;
  /** Sets fields of an existing document; false when there is none. Not conditional, so not a guard. */
  set(id: string, fields: Record<string, unknown>): Promise<boolean>;
  /**
   * Writes `fields` unless the stored document's numeric `field` is already >= `value` (creating it when missing).
   * Best effort: the engine evaluates the filter and the write apart, so a concurrent writer may interleave; callers
   * use it for hints that readers verify, never as a guard.
   */
  raise(id: string, field: string, value: number, fields: Record<string, unknown>): Promise<void>;
  /**
   * Removes fields of a document, and sets `set` in the same write (a tombstone keeps its `_id`, so the id can never
   * be claimed again).
   */
  unset(id: string, fields: readonly string[], set?: Record<string, unknown>): Promise<void>;
  remove(id: string): Promise<void>;
}

const DUPLICATE_KEY = 11000;

/** True for MongoDB's duplicate-key error (code 11000), the signal that an insert-claim was lost. */
export function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === DUPLICATE_KEY;
}

/** A KeyedTable over a MongoDB (or FerretDB) collection of the given connection. */
export function mongoKeyedTable(connection: Connection, collectionName: string): KeyedTable {
  const collection = connection.collection<KeyedDocument>(collectionName);
  return {
    async find(id) {
      return (await collection.findOne({ _id: id })) as KeyedDocument | null;
    },
    async insert(document) {
      try {
        await collection.insertOne(document);
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    },
    async set(id, fields) {
      const result = await collection.updateOne({ _id: id }, { $set: fields });
      return result.matchedCount === 1;
    },
    async raise(id, field, value, fields) {
      try {
        await collection.updateOne({ _id: id, [field]: { $lt: value } }, { $set: fields }, { upsert: true });
      } catch (error) {
        // The document exists with `field` >= value: the upsert's insert met its `_id`.
        if (!isDuplicateKey(error)) throw error;
      }
    },
    async unset(id, fields, set) {
      const unsetting = Object.fromEntries(fields.map((f) => [f, 1 as const]));
      await collection.updateOne({ _id: id }, set ? { $unset: unsetting, $set: set } : { $unset: unsetting });
    },
    async remove(id) {
      await collection.deleteOne({ _id: id });
    },
  };
}

/** An in-memory KeyedTable with the same semantics, for unit tests of code built on coordination. */
export class MemoryKeyedTable implements KeyedTable {
  readonly documents = new Map<string, KeyedDocument>();

  async find(id: string): Promise<KeyedDocument | null> {
    await Promise.resolve();
    const found = this.documents.get(id);
    return found ? structuredClone(found) : null;
  }

  async insert(document: KeyedDocument): Promise<boolean> {
    await Promise.resolve();
    if (this.documents.has(document._id)) return false;
    this.documents.set(document._id, structuredClone(document));
    return true;
  }

  async set(id: string, fields: Record<string, unknown>): Promise<boolean> {
    await Promise.resolve();
    const found = this.documents.get(id);
    if (!found) return false;
    Object.assign(found, structuredClone(fields));
    return true;
  }

  async raise(id: string, field: string, value: number, fields: Record<string, unknown>): Promise<void> {
    await Promise.resolve();
    const found = this.documents.get(id);
    if (!found) this.documents.set(id, { _id: id, ...structuredClone(fields) });
    else if (typeof found[field] !== 'number' || (found[field] as number) < value) {
      Object.assign(found, structuredClone(fields));
    }
  }

  async unset(id: string, fields: readonly string[], set?: Record<string, unknown>): Promise<void> {
    await Promise.resolve();
    const found = this.documents.get(id);
    if (!found) return;
    for (const field of fields) delete found[field];
    if (set) Object.assign(found, structuredClone(set));
  }

  async remove(id: string): Promise<void> {
    await Promise.resolve();
    this.documents.delete(id);
  }
}
