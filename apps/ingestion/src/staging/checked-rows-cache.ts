import { type CleanRows } from '../records/record-checks';

/**
 * Rows checked on this thread, by the staged text they were written as: the staging thread checks a fetch's records
 * (prepare-records.task.ts) and later encodes their cut (cut-encode.task.ts), which without this would parse the
 * same rows back from their staged JSON. Keyed by the text itself, so a hit is the rows that text holds whoever
 * staged it; anything else (another replica's batches, ones from before a restart, rows evicted) is parsed as before.
 * Module state of the thread that loads it: in any other thread it is simply never hit.
 */
const cache = new Map<string, CleanRows>();
let cachedCells = 0;

/** Cells kept at most (about 100-300 bytes each): the rows of a few versions of a wide pipeline. */
export const MAX_CACHED_CELLS = 4_000_000;

function cellsOf(rows: CleanRows): number {
  return rows.rows.length * rows.columns.length;
}

/** Keeps `rows`, staged as `text` (`JSON.stringify(rows)`), for the cut; the oldest entries make room. */
export function rememberCheckedRows(text: string, rows: CleanRows, maxCells = MAX_CACHED_CELLS): void {
  const cells = cellsOf(rows);
  if (cells > maxCells || cache.has(text)) return;
  for (const [key, old] of cache) {
    if (cachedCells + cells <= maxCells) break;
    cache.delete(key);
    cachedCells -= cellsOf(old);
  }
  cache.set(text, rows);
  cachedCells += cells;
}

/**
 * The rows staged as `text` if this thread checked them, taken out of the cache (a cut reads them once); undefined
 * otherwise. Equal to `JSON.parse(text)` but for negative zeros, which the text holds as `0`: callers map `-0` to `0`.
 */
export function takeCheckedRows(text: string): CleanRows | undefined {
  const rows = cache.get(text);
  if (rows === undefined) return undefined;
  cache.delete(text);
  cachedCells -= cellsOf(rows);
  return rows;
}

/** Empties the cache (tests). */
export function forgetCheckedRows(): void {
  cache.clear();
  cachedCells = 0;
}
