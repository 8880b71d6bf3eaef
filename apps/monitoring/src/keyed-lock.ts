/**
 * Runs tasks one at a time per key within this process. FerretDB's conditional updates (`{_id, rev}`) are not
 * atomic under concurrency (two writers that read the same rev can both succeed, losing one write: measured on this
 * stack), so read-modify-write sequences on one document are serialised here; across replicas the rev check remains.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(task);
    this.tails.set(key, current);
    try {
      return await current;
    } finally {
      if (this.tails.get(key) === current) this.tails.delete(key);
    }
  }
}
