import { type VersionTimeRange } from './time-range.task';

/** The earliest and latest event time (ms) of a training window's rows. */
export interface TimeBounds {
  minMs: number;
  maxMs: number;
}

/**
 * Bounds of the event times of a window's rows, from the time ranges recorded with its versions (of the whole
 * versions: a window taking part of one only narrows what it joins, so the bounds stay safe). Undefined, and then no
 * table version is skipped, when a version's range is not known (recorded before ranges were, or of another column
 * than the spec's timeColumn now) or no row has a readable time.
 */
export function windowTimeBounds(
  versions: readonly { timeRange?: VersionTimeRange }[],
  timeColumn: string | undefined,
): TimeBounds | undefined {
  if (!timeColumn) return undefined;
  let minMs = Number.POSITIVE_INFINITY;
  let maxMs = Number.NEGATIVE_INFINITY;
  for (const { timeRange } of versions) {
    if (timeRange?.column !== timeColumn || timeRange.unreadable) return undefined;
    if (timeRange.minMs === undefined || timeRange.maxMs === undefined) continue;
    minMs = Math.min(minMs, timeRange.minMs);
    maxMs = Math.max(maxMs, timeRange.maxMs);
  }
  return minMs <= maxMs ? { minMs, maxMs } : undefined;
}

/**
 * The versions of a feature table (oldest first) a window's point-in-time join must read: the others cannot give
 * any row a value, so the joined values are the same without them (the join takes, per row, the latest table row of
 * its entity at or before the row's time; dropping rows that are never that row, and keeping the others' order,
 * changes no choice). Skipped, by the feature-time range recorded with the version:
 * - a version with no readable feature time (its rows are never taken);
 * - a version whose rows are all later than the window's last row (no row sees them);
 * - with maxAgeMs, a version whose rows are all older than the window's first row by more than it: for any row such
 *   a table row is too old, and so is any row that would be taken in its place (at or before it in time).
 * Without maxAgeMs an old version may hold an entity's latest value for every later row, so old versions are read
 * (telling which without reading them would need per-entity records). A version without a range (recorded before
 * ranges were and not backfilled yet), with an unreadable one or with one of another column is read. At least one version is kept: the worker
 * refuses a table without versions, while one that gives no row a value gives the same as none.
 */
export function tableVersionsToRead<T extends { timeRange?: VersionTimeRange }>(
  versions: readonly T[],
  featureTime: string,
  rows: TimeBounds | undefined,
  maxAgeMs: number | undefined,
): T[] {
  if (!rows) return [...versions];
  const read = versions.filter(({ timeRange }) => {
    if (timeRange?.column !== featureTime || timeRange.unreadable) return true;
    if (timeRange.minMs === undefined || timeRange.maxMs === undefined) return false;
    // The join's own freshness test (rowTime - featureTime <= maxAgeMs) for the best case, the window's first row
    // against the version's latest row: the same arithmetic, so fractional-ms times at the boundary agree with it.
    return timeRange.minMs <= rows.maxMs && (maxAgeMs === undefined || rows.minMs - timeRange.maxMs <= maxAgeMs);
  });
  return read.length === 0 && versions.length > 0 ? [versions[versions.length - 1]] : read;
}

/** What a window's join reads of a table: the versions, and the column types the first version of the cut gives. */
export interface JoinReads<T> {
  read: T[];
  /**
   * When the cut's first version is skipped: the type it gives each joined column (featureTableOf types a column by the
   * first version it reads, so these keep the types an unpruned join has). Absent: the first version is read.
   */
  columnTypes?: [name: string, type: string][];
}

/**
 * tableVersionsToRead, made to change nothing but what is read: a version it skips is read after all unless its
 * recorded columns show it has every column the join reads (`columns`) with a declared type (else the unpruned join
 * fails on it, or types a column from its values); when the cut's first version is skipped, its declared types are
 * returned for the join to type the columns as reading it would.
 */
export function joinReads<T extends { timeRange?: VersionTimeRange }>(
  versions: readonly T[],
  featureTime: string,
  rows: TimeBounds | undefined,
  maxAgeMs: number | undefined,
  columns: readonly string[],
): JoinReads<T> {
  const pruned = new Set(tableVersionsToRead(versions, featureTime, rows, maxAgeMs));
  const typesOf = (version: T) => {
    const recorded = recordedColumns(version.timeRange);
    if (!recorded) return undefined;
    const types = columns.map((name): [string, string] | undefined => {
      const type = recorded.get(name);
      return typeof type === 'string' ? [name, type] : undefined;
    });
    return types.every((entry) => entry !== undefined) ? (types as [string, string][]) : undefined;
  };
  const read = versions.filter((version) => pruned.has(version) || typesOf(version) === undefined);
  const first = versions[0];
  if (first === undefined || read[0] === first) return { read };
  return { read, columnTypes: typesOf(first)! };
}

/** A version's recorded columns and declared types, or undefined when not recorded (or not readable as such). */
function recordedColumns(timeRange: VersionTimeRange | undefined): Map<string, string | null> | undefined {
  if (!timeRange?.columns) return undefined;
  try {
    const parsed = JSON.parse(timeRange.columns) as unknown;
    if (!Array.isArray(parsed)) return undefined;
    const columns = new Map<string, string | null>();
    for (const entry of parsed) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') return undefined;
      columns.set(entry[0], typeof entry[1] === 'string' ? entry[1] : null);
    }
    return columns;
  } catch {
    return undefined;
  }
}
