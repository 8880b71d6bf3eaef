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
