import {
  type DatasetVersionId,
  durationMs,
  type PipelineId,
  type RecencyWeights,
  type SnapshotRef,
  type TrainingWindow,
  describeWindow,
  timestampTextMs,
} from '@keel/contracts';
import { type SnapshotJoin } from './point-in-time';
import { type DatasetColumn, type DatasetTable } from './table';

/** One validated dataset version (an immutable increment) a window may draw rows from. */
export interface SnapshotIncrement {
  datasetVersionId: string;
  sha256: string;
  uri: string;
  /** Position in the pipeline's chain of versions (1, 2, 3, ...). */
  sequence: number;
  rowCount: number;
}

/** Half-open row ranges `[from, to)` of one increment, ascending and disjoint. */
export type RowRanges = [number, number][];

/**
 * What a training window resolved to, stored content-addressed beside the feature set: the increments, oldest
 * first, and which of their rows the window took. Increments are immutable and named by their sha256, so the manifest
 * alone reproduces the exact rows a model saw.
 */
export interface SnapshotManifest {
  format: 'keel.snapshot';
  version: 1;
  pipelineId: string;
  window: TrainingWindow;
  recencyWeights?: RecencyWeights;
  /** The newest version in the snapshot: the data is "everything the window takes up to this version". */
  upTo: { datasetVersionId: string; sequence: number };
  increments: (SnapshotIncrement & { rows: RowRanges })[];
  rowCount: number;
  /** The feature tables joined point-in-time to the rows and the versions of each that were read; absent: none. */
  joins?: SnapshotJoin[];
}

/** Reference fields of a stored manifest (its URI and sha256 come from the object store). */
export function snapshotRef(
  manifest: SnapshotManifest,
  stored: { snapshotId: string; uri: string; sha256: string },
): SnapshotRef {
  return {
    snapshotId: stored.snapshotId,
    manifestUri: stored.uri,
    manifestSha256: stored.sha256,
    window: describeWindow(manifest.window, manifest.recencyWeights),
    upToDatasetVersionId: manifest.upTo.datasetVersionId as SnapshotRef['upToDatasetVersionId'],
    increments: manifest.increments.length,
    rows: manifest.rowCount,
    ...(manifest.joins
      ? {
          joinedTables: manifest.joins.map((join) => ({
            pipelineId: join.pipelineId as PipelineId,
            upToDatasetVersionId: join.increments[join.increments.length - 1].datasetVersionId as DatasetVersionId,
            increments: join.increments.length,
          })),
        }
      : {}),
  };
}

/**
 * The increments a window needs loaded, oldest first. `rows` windows know from row counts alone which increments
 * they reach into; `all` and `duration` windows need every one (a duration is measured from the newest time value).
 */
export function incrementsToLoad<T extends SnapshotIncrement>(window: TrainingWindow, increments: readonly T[]): T[] {
  const ordered = [...increments].sort((a, b) => a.sequence - b.sequence);
  if (window.type !== 'rows') return ordered;
  let needed = window.rows;
  let first = ordered.length;
  while (first > 0 && needed > 0) {
    first--;
    needed -= ordered[first].rowCount;
  }
  return ordered.slice(first);
}

/**
 * Epoch milliseconds of a time cell: a number is epoch ms, text is read by {@link timestampTextMs} (a zoneless time is
 * UTC, never the process's local time: the same cell must give the same instant on every machine, or a point-in-time
 * join's boundary moves). Ingestion stores no other text since it checks that grammar; text a version stored before
 * that (stored versions are not re-checked) is read by {@link legacyTimeMs}, as then, so its windows and joins
 * rebuild as they were.
 */
export function timeValueMs(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || value === '') return Number.NaN;
  const ms = timestampTextMs(value);
  return Number.isNaN(ms) ? legacyTimeMs(value) : ms;
}

/** The date-time the reading before the strict grammar took: `T` or space, a blank before an optional zone. */
const LEGACY_DATE_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * How a time cell was read before the strict grammar, kept for the text it refuses that stored versions may hold
 * (`T24:00:00`, `2023-02-29 10:00`, which Date.parse rolls over): a zoneless date-time is UTC, written out with its
 * zone before Date.parse reads it, so it gives the same instant under any TZ. Other text is what Date.parse makes of it.
 */
function legacyTimeMs(value: string): number {
  const match = LEGACY_DATE_TIME.exec(value.trim());
  if (!match) return Date.parse(value);
  const [, date, time, zone] = match;
  let offset = 'Z';
  if (zone && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    offset = `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2) || '00'}`;
  }
  return Date.parse(`${date}T${time}${offset}`);
}

function rangesOf(selected: (i: number) => boolean, rowCount: number): RowRanges {
  const ranges: RowRanges = [];
  let start = -1;
  for (let i = 0; i <= rowCount; i++) {
    const take = i < rowCount && selected(i);
    if (take && start < 0) start = i;
    if (!take && start >= 0) {
      ranges.push([start, i]);
      start = -1;
    }
  }
  return ranges;
}

const countRows = (ranges: RowRanges) => ranges.reduce((sum, [from, to]) => sum + to - from, 0);

/**
 * Resolves a window over loaded increments (oldest first, each with its table): which rows of which increment it
 * takes. Pure and deterministic. Rows without a readable time value fall outside a duration window.
 */
export function resolveWindow(args: {
  pipelineId: string;
  window: TrainingWindow;
  recencyWeights?: RecencyWeights;
  timeColumn?: string;
  increments: readonly (SnapshotIncrement & { table: DatasetTable })[];
}): SnapshotManifest {
  const { window, increments } = args;
  if (increments.length === 0) throw new Error('a window needs at least one dataset version');
  const ordered = [...increments].sort((a, b) => a.sequence - b.sequence);
  let selections: RowRanges[];
  if (window.type === 'all') {
    selections = ordered.map((inc) => (inc.table.rowCount > 0 ? [[0, inc.table.rowCount]] : []));
  } else if (window.type === 'rows') {
    let remaining = window.rows;
    selections = new Array<RowRanges>(ordered.length);
    for (let k = ordered.length - 1; k >= 0; k--) {
      const n = ordered[k].table.rowCount;
      const take = Math.min(n, remaining);
      remaining -= take;
      selections[k] = take > 0 ? [[n - take, n]] : [];
    }
  } else {
    if (!args.timeColumn) throw new Error('a duration window needs the time column');
    const times = ordered.map((inc) => timeColumnMs(inc.table, args.timeColumn!));
    let newest = -Infinity;
    for (const column of times) for (const t of column) if (t > newest) newest = t;
    const cutoff = newest - durationMs(window.duration);
    selections = times.map((column) => rangesOf((i) => column[i] >= cutoff, column.length));
  }
  const parts = ordered.map(({ table: _table, ...increment }, k) => ({ ...increment, rows: selections[k] }));
  const newest = ordered[ordered.length - 1];
  return {
    format: 'keel.snapshot',
    version: 1,
    pipelineId: args.pipelineId,
    window,
    ...(args.recencyWeights ? { recencyWeights: args.recencyWeights } : {}),
    upTo: { datasetVersionId: newest.datasetVersionId, sequence: newest.sequence },
    increments: parts.filter((part) => part.rows.length > 0),
    rowCount: parts.reduce((sum, part) => sum + countRows(part.rows), 0),
  };
}

function timeColumnMs(table: DatasetTable, timeColumn: string): Float64Array {
  const column = table.columns.find((c) => c.name === timeColumn);
  if (!column) throw new Error(`dataset has no time column "${timeColumn}"`);
  return Float64Array.from(column.values, timeValueMs);
}

/**
 * A stable key of a row: 52 bits hashed from its values. The same row has the same key in every window, every
 * dataset version and every pipeline fed the same data, so splits and "did a model train on this row" are decided
 * row by row across windows; identical rows share a key (and so a split: a duplicate never evaluates its twin).
 */
export function rowKey(values: readonly unknown[]): number {
  let a = 0x811c9dc5;
  let b = 0x9e3779b9;
  for (const value of values) {
    const text = value === null || value === undefined ? '\u0000' : `${typeof value}:${String(value)}`;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      a = Math.imul(a ^ code, 0x01000193);
      b = Math.imul(b ^ code, 0x5bd1e995);
    }
    a = Math.imul(a ^ 0x1f, 0x01000193);
    b = Math.imul(b ^ 0x1f, 0x5bd1e995);
  }
  const high = mix32(a) >>> 12; // 20 bits
  const low = mix32(b ^ 0x85ebca6b) >>> 0; // 32 bits
  return high * 0x100000000 + low;
}

/** A seeded number in [0, 1) from a row key: the same key and seed give the same number. */
export function unitHash(seed: number, key: number): number {
  const low = (key % 0x100000000) | 0;
  const high = Math.floor(key / 0x100000000) | 0;
  return (mix32(mix32(low ^ seed) ^ high) >>> 0) / 0x100000000;
}

/** murmur3's 32-bit finalizer. */
function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * A snapshot's rows as one table: the manifest's rows of each increment in order (the given columns), plus the
 * row-key column (from those columns' values).
 */
export function snapshotTable(
  manifest: SnapshotManifest,
  tables: ReadonlyMap<string, DatasetTable>,
  columns: readonly string[],
  rowKeyColumn: string,
): DatasetTable {
  const out: DatasetColumn[] = [];
  const keys: number[] = [];
  const values = columns.map(() => [] as DatasetColumn['values']);
  let types: DatasetColumn['type'][] | undefined;
  for (const increment of manifest.increments) {
    const table = tables.get(increment.sha256);
    if (!table) throw new Error(`increment ${increment.datasetVersionId} was not loaded`);
    const byName = new Map(table.columns.map((c) => [c.name, c]));
    const missing = columns.filter((name) => !byName.has(name));
    if (missing.length > 0) {
      throw new Error(`dataset version ${increment.datasetVersionId} lacks column(s) ${missing.join(', ')}`);
    }
    const source = columns.map((name) => byName.get(name)!);
    types ??= source.map((c) => c.type);
    const row = new Array<unknown>(source.length);
    for (const [from, to] of increment.rows) {
      for (let i = from; i < to; i++) {
        for (let c = 0; c < source.length; c++) {
          row[c] = source[c].values[i];
          values[c].push(source[c].values[i]);
        }
        keys.push(rowKey(row));
      }
    }
  }
  columns.forEach((name, c) => out.push({ name, type: types?.[c] ?? 'string', values: values[c] }));
  out.push({ name: rowKeyColumn, type: 'number', values: keys });
  return { rowCount: keys.length, columns: out };
}

/**
 * Recency weights of a snapshot's rows (in snapshotTable order): `0.5 ^ (age / halfLife)`, the age measured from the
 * newest row in data time or in rows. Rows without a time value get the smallest weight of the others.
 */
export function recencyWeights(weights: RecencyWeights, rowCount: number, times?: readonly unknown[]): number[] {
  if (weights.halfLifeRows !== undefined) {
    return Array.from({ length: rowCount }, (_, i) => 0.5 ** ((rowCount - 1 - i) / weights.halfLifeRows!));
  }
  if (!times) throw new Error('a half-life in data time needs the time column');
  const ms = times.map(timeValueMs);
  const newest = ms.reduce((max, t) => (t > max ? t : max), -Infinity);
  const halfLife = durationMs(weights.halfLife!);
  const raw = ms.map((t) => (Number.isFinite(t) ? 0.5 ** ((newest - t) / halfLife) : Number.NaN));
  const smallest = raw.reduce((min, w) => (w < min ? w : min), 1);
  return raw.map((w) => (Number.isNaN(w) ? smallest : w));
}
