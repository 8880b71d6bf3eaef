/**
 * Drift windows number a model version's predictions in arrival order: prediction n (1-based) belongs to window
 * floor((n - 1) / windowRows), so window w holds predictions w·windowRows + 1 … (w + 1)·windowRows.
 */
export function windowIndexOf(count: number, windowRows: number): number {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
  if (!Number.isInteger(windowRows) || windowRows < 1)
    throw new RangeError(`windowRows must be ≥ 1, got ${windowRows}`);
  return Math.floor((count - 1) / windowRows);
}

/** Number of windows that are full once `count` predictions have been numbered (windows 0 … result − 1). */
export function fullWindows(count: number, windowRows: number): number {
  return Math.floor(count / windowRows);
}

/**
 * Window of each of `added` predictions numbered after `countBefore` (the counter advanced to countBefore + added).
 */
export function assignWindows(countBefore: number, added: number, windowRows: number): number[] {
  return Array.from({ length: added }, (_, i) => windowIndexOf(countBefore + i + 1, windowRows));
}

/** Rows an event numbered: `added` rows from count `before` + 1 on. */
export interface Allocation {
  eventId: string;
  before: number;
  added: number;
}

/** Allocations a counter remembers: far more than the events other partitions can number while one event is retried. */
export const RECENT_ALLOCATIONS = 256;

/**
 * Numbers `added` rows of an event on a counter at `count`, once per event id: an event found among the `recent`
 * allocations gets the allocation it had and nothing to remember; otherwise its rows follow the count, and
 * `remember` is the bounded list of allocations to store with the advanced counter.
 */
export function allocateRows(
  count: number,
  recent: readonly Allocation[],
  eventId: string,
  added: number,
): { allocation: Allocation; remember?: Allocation[] } {
  const known = recent.find((allocation) => allocation.eventId === eventId);
  if (known) return { allocation: known };
  const allocation = { eventId, before: count, added };
  return { allocation, remember: [...recent.slice(-(RECENT_ALLOCATIONS - 1)), allocation] };
}

/**
 * The rows of an allocation grouped by window, in window order: row i is prediction `before + i + 1`, so an event's
 * rows may spill over two windows. Rows beyond the allocation's `added` are not numbered and left out.
 */
export function rowsByWindow<Row>(
  allocation: Allocation,
  rows: readonly Row[],
  windowRows: number,
): Map<number, Row[]> {
  const windows = assignWindows(allocation.before, Math.min(allocation.added, rows.length), windowRows);
  const byWindow = new Map<number, Row[]>();
  windows.forEach((windowIndex, i) => {
    const inWindow = byWindow.get(windowIndex) ?? [];
    inWindow.push(rows[i]);
    byWindow.set(windowIndex, inWindow);
  });
  return byWindow;
}
