/**
 * The windows a partition closed, reported in groups (a group commit): a window closing while no report is under way
 * starts one on the next turn of the event loop, with every window closed until then; windows closing while one is
 * under way wait for it and go together in the next. However small the windows, a partition sends one report (one
 * worker task, one produce request, one insert) per round trip, and under no load a window is reported at once.
 */
export class WindowReports<T> {
  private queued: T[] = [];
  /** The report that will take the queued windows (set while some are queued). */
  private next?: Promise<void>;
  /** The latest report started: the queue's reports run one after the other. */
  private last: Promise<void> = Promise.resolve();
  private failure?: { error: unknown };

  /** `report` reports a group of windows, in the order they closed; its failure is kept for {@link settled}. */
  constructor(private readonly report: (windows: T[]) => Promise<void>) {}

  /** Queues a closed window. */
  add(window: T): void {
    this.queued.push(window);
    if (this.next) return;
    const previous = this.last;
    this.next = (async () => {
      await previous.catch(() => undefined);
      // One macrotask later, so the windows the rest of a fetched batch closes join this report.
      await new Promise((resolve) => setImmediate(resolve));
      const windows = this.queued;
      this.queued = [];
      this.next = undefined;
      try {
        await this.report(windows);
      } catch (error) {
        this.failure ??= { error };
      }
    })();
    this.last = this.next;
  }

  /** Windows queued and not yet taken by a report. */
  get pending(): number {
    return this.queued.length;
  }

  /**
   * Resolves once every window queued so far is reported; rejects with the first failure of a report since the
   * queue was created (the partition's state is then reloaded, and its windows reported by the replay).
   */
  async settled(): Promise<void> {
    await this.last;
    if (this.failure) throw this.failure.error;
  }
}
