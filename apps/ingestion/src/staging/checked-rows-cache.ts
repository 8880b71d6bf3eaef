import { type CodedColumns } from '../records/record-checks';

/**
 * Rows checked on this thread, by the staged text they were written as: the staging thread checks a fetch's records
 * (prepare-records.task.ts) and later encodes their cut (cut-encode.task.ts), which without this would parse the
 * same rows back from their staged JSON. Keyed by the text itself, so a hit is the rows that text holds whoever
 * staged it; anything else (another replica's batches, ones from before a restart, rows evicted) is parsed as before.
 * Module state of the thread that loads it: in any other thread it is simply never hit.
 */
const cache = new Map<string, { rows: CodedColumns; at: number }>();
let cachedCells = 0;

/**
 * Cells kept at most, counted as rows × columns whatever their form: about 100-300 bytes a plain cell, a few for a
 * dictionary-coded one (its code; the dictionary is shared), so rows of coded columns are over-counted and fewer
 * kept than would fit. The rows of a few versions of a wide pipeline.
 */
export const MAX_CACHED_CELLS = 4_000_000;
/** Rows not cut after this long (a redelivery's, an encoding thrown away) make room for new ones. */
export const STALE_AFTER_MS = 60_000;

function cellsOf(rows: CodedColumns): number {
  return rows.rows * rows.columns.length;
}

/**
 * Keeps `rows`, staged as `text` (`JSON.stringify(rows)`), for the cut. When full, stale entries make room, and
 * otherwise these rows are not kept: the oldest rows are the next to be cut, so evicting them for newer ones (when
 * staging runs ahead of the cuts) would make every cut parse.
 */
export function rememberCheckedRows(
  text: string,
  rows: CodedColumns,
  { maxCells = MAX_CACHED_CELLS, now = Date.now() }: { maxCells?: number; now?: number } = {},
): void {
  const cells = cellsOf(rows);
  if (cells > maxCells || cache.has(text)) return;
  for (const [key, old] of cache) {
    if (cachedCells + cells <= maxCells || now - old.at < STALE_AFTER_MS) break;
    cache.delete(key);
    cachedCells -= cellsOf(old.rows);
  }
  if (cachedCells + cells > maxCells) return;
  cache.set(text, { rows, at: now });
  cachedCells += cells;
}

/**
 * The rows staged as `text` if this thread checked them, taken out of the cache (a cut reads them once); undefined
 * otherwise. Equal to `JSON.parse(text)` (checkColumnsOf holds negative zeros as zeros, as the text does).
 */
export function takeCheckedRows(text: string): CodedColumns | undefined {
  const entry = cache.get(text);
  if (entry === undefined) return undefined;
  cache.delete(text);
  cachedCells -= cellsOf(entry.rows);
  return entry.rows;
}

/** Empties the cache (tests). */
export function forgetCheckedRows(): void {
  cache.clear();
  cachedCells = 0;
}
