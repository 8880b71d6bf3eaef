import {
  type CastType,
  filterColumns,
  filterKeeps,
  isTimestampText,
  parseFilter,
  type SourceCleaning,
  TIMESTAMP_FORMS,
} from '@keel/contracts';
import { isDecimal } from '../records/record-checks';

/**
 * A source's declared cleaning applied to one row at a time (rename, trim, cast, missing, filter, in that order;
 * dedupe needs the rows around it, see CleanTableBuilder). Pure and deterministic: the same row always gives the same
 * result, so a retried pull gives the same version.
 */

/** What became of a row: kept (cleaned), dropped by a step (counted in the run), or refused by a cast (a reason). */
export type CleanedRow =
  | { kind: 'kept'; record: Record<string, unknown> }
  | { kind: 'dropped'; by: 'missing' | 'filter' }
  | { kind: 'refused'; reason: string };

/** Rows a pull's cleaning dropped, by the step that dropped them. */
export interface DroppedRows {
  missing: number;
  filter: number;
  dedupe: number;
}

export const noneDropped = (): DroppedRows => ({ missing: 0, filter: 0, dedupe: 0 });

/** Adds a version's dropped rows to its pull's run (`rowsDropped`, created at the first). */
export function addDropped(run: { rowsDropped?: DroppedRows }, dropped: DroppedRows | undefined): void {
  if (!dropped) return;
  const total = (run.rowsDropped ??= noneDropped());
  total.missing += dropped.missing;
  total.filter += dropped.filter;
  total.dedupe += dropped.dedupe;
}

/** Values quoted in a reason are cut to this many characters. */
const MAX_QUOTED_CHARS = 40;

function quoted(value: unknown): string {
  if (typeof value !== 'string') return typeof value === 'object' ? 'an object' : String(value);
  return JSON.stringify(value.length > MAX_QUOTED_CHARS ? `${value.slice(0, MAX_QUOTED_CHARS)}…` : value);
}

/** Absent, null or blank text: what the dataset's checks call missing too. */
export function isMissingValue(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

const TRUE_TEXT = new Set(['true', 't', 'yes', 'y', '1']);
const FALSE_TEXT = new Set(['false', 'f', 'no', 'n', '0']);
/** The largest time a Date holds, in milliseconds either side of the epoch. */
const MAX_TIME_MS = 8.64e15;

/** A present value converted to `type`, or undefined when it does not convert. */
export function castValue(type: CastType, value: unknown): unknown {
  switch (type) {
    case 'string':
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
        ? String(value)
        : undefined;
    case 'number':
    case 'integer': {
      const number =
        typeof value === 'number'
          ? value
          : typeof value === 'boolean'
            ? Number(value)
            : typeof value === 'string' && isDecimal(value.trim())
              ? Number(value.trim())
              : NaN;
      if (!Number.isFinite(number)) return undefined;
      return type === 'integer' && !Number.isSafeInteger(number) ? undefined : number;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (value === 1 || value === 0) return value === 1;
      if (typeof value !== 'string') return undefined;
      const text = value.trim().toLowerCase();
      return TRUE_TEXT.has(text) ? true : FALSE_TEXT.has(text) ? false : undefined;
    }
    case 'timestamp':
      // A number is milliseconds since the epoch (as the dataset's checks read it); text is kept as written, as the
      // checks keep it (a local time without a zone is UTC, not this machine's time zone), in the checks' grammar.
      if (typeof value === 'number') {
        return Number.isFinite(value) && Math.abs(value) <= MAX_TIME_MS ? new Date(value).toISOString() : undefined;
      }
      return typeof value === 'string' && isTimestampText(value) ? value : undefined;
  }
}

/** A source's cleaning (without dedupe) as a function of one row; undefined when it declares none of those steps. */
export function rowCleaner(cleaning: SourceCleaning | undefined): ((row: unknown) => CleanedRow) | undefined {
  if (!cleaning) return undefined;
  const rename = new Map(Object.entries(cleaning.rename ?? {}));
  const trimAll = cleaning.trim === true;
  const trimmed = Array.isArray(cleaning.trim) ? cleaning.trim : [];
  const casts = Object.entries(cleaning.cast ?? {});
  const missing = Object.entries(cleaning.missing ?? {});
  // Parsed once per pull; the spec was checked when it was stored, so this parses.
  const filter = cleaning.filter === undefined ? undefined : parseFilter(cleaning.filter);
  return (row) => {
    // Without a prototype, so a field named __proto__ or constructor is just a field.
    const record: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    const source = row as Record<string, unknown>;
    for (const name of Object.keys(source)) if (!rename.has(name)) record[name] = source[name];
    // Renames are simultaneous (a and b may swap). A row holding both a field and another of the name it is renamed
    // to (one not renamed itself), with different values, is refused: neither value may be lost silently.
    for (const [from, to] of rename) {
      if (!Object.prototype.hasOwnProperty.call(source, from)) continue;
      if (Object.prototype.hasOwnProperty.call(source, to) && !rename.has(to) && !sameValue(source[to], source[from])) {
        return {
          kind: 'refused',
          reason: `rename: ${from} ${quoted(source[from])} and ${to} ${quoted(source[to])} are both present`,
        };
      }
      record[to] = source[from];
    }
    if (trimAll) {
      for (const name of Object.keys(record)) {
        const value = record[name];
        if (typeof value === 'string') record[name] = value.trim();
      }
    } else {
      for (const name of trimmed) {
        const value = record[name];
        if (typeof value === 'string') record[name] = value.trim();
      }
    }
    for (const [name, type] of casts) {
      const value = record[name];
      if (isMissingValue(value)) continue;
      const cast = castValue(type, value);
      if (cast === undefined)
        return { kind: 'refused', reason: `cast: ${name} ${quoted(value)} is not ${article(type)}${forms(type)}` };
      record[name] = cast;
    }
    for (const [name, rule] of missing) {
      if (!isMissingValue(record[name])) continue;
      if (rule === 'drop') return { kind: 'dropped', by: 'missing' };
      record[name] = rule.default;
    }
    if (filter && !filterKeeps(filter, record)) return { kind: 'dropped', by: 'filter' };
    return { kind: 'kept', record };
  };
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (isMissingValue(a) && isMissingValue(b));
}

function article(type: CastType): string {
  return type === 'integer' ? 'an integer' : `a ${type}`;
}

/** What a refused timestamp may be instead (its grammar is stricter than "looks like a date"). */
function forms(type: CastType): string {
  return type === 'timestamp' ? `: write ${TIMESTAMP_FORMS}` : '';
}

/**
 * Dedupe by key over the rows of one version, in the source's order: `add` takes a kept row's key values and its slot
 * and says which slot to drop, if any (keep-last: the row it replaces; keep-first: this one).
 */
export class DedupeIndex {
  private readonly slots = new Map<string, number>();

  constructor(
    readonly key: readonly string[],
    private readonly keep: 'first' | 'last',
  ) {}

  static of(cleaning: SourceCleaning | undefined): DedupeIndex | undefined {
    return cleaning?.dedupe ? new DedupeIndex(cleaning.dedupe.key, cleaning.dedupe.keep) : undefined;
  }

  /**
   * The slot to drop now that the row whose key fields hold `values` is at `slot`, or -1. The values are those the
   * version stores (checked) for the dataset's columns, so `"1"`, `"1.0"` and `1` in a number column are one key.
   */
  add(values: readonly unknown[], slot: number): number {
    // JSON keeps 1 and "1" apart (for fields outside the dataset), and a missing part (null) is one value, as SQL's
    // DISTINCT ON has it.
    const key = JSON.stringify(values.map((value) => (value === undefined ? null : value)));
    const previous = this.slots.get(key);
    if (previous === undefined) {
      this.slots.set(key, slot);
      return -1;
    }
    if (this.keep === 'first') return slot;
    this.slots.set(key, slot);
    return previous;
  }
}

/**
 * The fields of a source's rows that a cleaning and the dataset's `columns` need, by the source's own names (before
 * rename): what a file's reader reads, leaving the others unread.
 */
export function fieldsNeeded(cleaning: SourceCleaning, columns: readonly string[]): Set<string> {
  const named = new Set<string>(columns);
  const add = (names: Iterable<string>) => {
    for (const name of names) named.add(name);
  };
  add(Object.keys(cleaning.cast ?? {}));
  add(Object.keys(cleaning.missing ?? {}));
  if (Array.isArray(cleaning.trim)) add(cleaning.trim);
  if (cleaning.filter !== undefined) add(filterColumns(parseFilter(cleaning.filter)).map((column) => column.name));
  add(cleaning.dedupe?.key ?? []);
  const renamedFrom = new Map(Object.entries(cleaning.rename ?? {}).map(([from, to]) => [to, from]));
  // A renamed field's source name, and the new name too: a row holding both is refused, so both are read.
  const needed = new Set(named);
  for (const name of named) {
    const from = renamedFrom.get(name);
    if (from !== undefined) needed.add(from);
  }
  return needed;
}
