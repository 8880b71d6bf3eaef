import { InvalidParameterError, InvalidTrainingDataError, UnknownCategoryError } from '../core/errors';
import { type Matrix } from '../core/matrix';

/** A raw cell: numbers or numeric strings for numeric columns, strings for categorical ones. */
export type RawValue = string | number | null | undefined;

/** Column-oriented raw table: column name → values (all columns the same length). */
export type RawTable = Readonly<Record<string, readonly RawValue[]>>;

/** Column-oriented raw table whose columns may be typed arrays (a Float64Array with NaN for missing numbers). */
export type ColumnTable = Readonly<Record<string, ArrayLike<RawValue>>>;

/** One raw row, keyed by column name. */
export type RawRecord = Readonly<Record<string, RawValue>>;

/**
 * What to do with a categorical value not seen at fit time:
 * `'error'` throws {@link UnknownCategoryError}; `'missing'` treats it like a missing value
 * (NaN code, which trees route to the learned default direction; all-zero one-hot).
 */
export type UnknownCategoryPolicy = 'error' | 'missing';

/** How to fit one column. */
export type ColumnSpec =
  | { name: string; kind: 'numeric'; impute?: 'mean' | 'median' | 'none'; standardize?: boolean }
  | { name: string; kind: 'categorical'; encoding?: 'code' | 'onehot'; unknown?: UnknownCategoryPolicy };

/** Fitted numeric column: `(isMissing(v) ? fill : v) - center) / scale`. `fill` null keeps NaN. */
export interface FittedNumericColumn {
  kind: 'numeric';
  name: string;
  fill: number | null;
  center: number;
  scale: number;
}

/** Fitted categorical column: category at index i has code i (sorted, so fitting is order-free). */
export interface FittedCategoricalColumn {
  kind: 'categorical';
  name: string;
  encoding: 'code' | 'onehot';
  unknown: UnknownCategoryPolicy;
  categories: string[];
}

export type FittedColumn = FittedNumericColumn | FittedCategoricalColumn;

/** A fitted, JSON-serialisable preprocessing step that turns raw rows into a feature matrix. */
export interface FittedTransform {
  columns: FittedColumn[];
  /** Output feature names, one per matrix column. */
  features: string[];
  /** Indices of output features that hold categorical codes (for trees' categorical splits). */
  categoricalFeatures: number[];
}

function isMissing(v: RawValue): boolean {
  return v === null || v === undefined || v === '' || (typeof v === 'number' && Number.isNaN(v));
}

function toNumber(column: string, v: RawValue): number {
  if (isMissing(v)) return NaN;
  const n = typeof v === 'number' ? v : Number(v);
  if (Number.isNaN(n)) {
    throw new InvalidTrainingDataError(
      'non_finite_feature',
      `column "${column}": ${JSON.stringify(v)} is not a number`,
    );
  }
  return n;
}

/** Fit the preprocessing on a raw table. Sorting categories makes the result independent of row order. */
export function fitTransform(table: RawTable, specs: readonly ColumnSpec[]): FittedTransform {
  const columns: FittedColumn[] = [];
  for (const spec of specs) {
    const values = table[spec.name];
    if (!values) throw new InvalidTrainingDataError('missing_column', `column "${spec.name}" is not in the table`);
    if (values.length === 0) throw new InvalidTrainingDataError('empty_data', `column "${spec.name}" is empty`);
    if (spec.kind === 'numeric') {
      const buf = new Float64Array(values.length);
      let m = 0;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const n = typeof v === 'number' ? v : toNumber(spec.name, v);
        if (n !== n) continue;
        if (n === Infinity || n === -Infinity) {
          throw new InvalidTrainingDataError('non_finite_feature', `column "${spec.name}" contains ${n}`);
        }
        buf[m++] = n;
      }
      const xs = buf.subarray(0, m);
      const impute = spec.impute ?? 'mean';
      if (xs.length === 0 && (impute !== 'none' || spec.standardize)) {
        throw new InvalidTrainingDataError('empty_data', `column "${spec.name}" has no non-missing values`);
      }
      let mean = 0;
      for (const v of xs) mean += v;
      mean /= Math.max(1, xs.length);
      let fill: number | null = null;
      if (impute === 'mean') fill = mean;
      else if (impute === 'median') {
        const s = xs.sort();
        const m = s.length >> 1;
        fill = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
      }
      let center = 0;
      let scale = 1;
      if (spec.standardize) {
        let ss = 0;
        for (const v of xs) ss += (v - mean) * (v - mean);
        const sd = Math.sqrt(ss / xs.length);
        center = mean;
        // A constant column would divide by zero; leave it centred only.
        scale = sd > 0 ? sd : 1;
      }
      columns.push({ kind: 'numeric', name: spec.name, fill, center, scale });
    } else {
      const cats = new Set<string>();
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (!isMissing(v)) cats.add(typeof v === 'string' ? v : String(v));
      }
      columns.push({
        kind: 'categorical',
        name: spec.name,
        encoding: spec.encoding ?? 'code',
        unknown: spec.unknown ?? 'error',
        categories: [...cats].sort(),
      });
    }
  }
  return describeTransform(columns);
}

/** Recompute output names and categorical indices from fitted columns. */
export function describeTransform(columns: FittedColumn[]): FittedTransform {
  const features: string[] = [];
  const categoricalFeatures: number[] = [];
  for (const c of columns) {
    if (c.kind === 'numeric') features.push(c.name);
    else if (c.encoding === 'code') {
      categoricalFeatures.push(features.length);
      features.push(c.name);
    } else {
      for (const cat of c.categories) features.push(`${c.name}=${cat}`);
    }
  }
  return { columns, features, categoricalFeatures };
}

/** Applies a fitted transform; builds category lookups once so per-row cost is a few map hits. */
export class TransformRunner {
  private readonly lookups: (Map<string, number> | null)[];
  readonly nFeatures: number;

  constructor(readonly fitted: FittedTransform) {
    this.lookups = fitted.columns.map((c) =>
      c.kind === 'categorical' ? new Map(c.categories.map((cat, i) => [cat, i])) : null,
    );
    this.nFeatures = fitted.features.length;
    for (const c of fitted.columns) {
      if (c.kind === 'numeric' && !(c.scale > 0)) throw new InvalidParameterError(c.name, 'scale must be > 0');
    }
  }

  /** Write one record's features into `out` starting at `offset`. */
  writeRecord(record: RawRecord, out: Float64Array | Float32Array, offset = 0): void {
    const cols = this.fitted.columns;
    let k = offset;
    for (let c = 0; c < cols.length; c++) {
      const col = cols[c];
      const raw = record[col.name];
      if (col.kind === 'numeric') {
        let v = toNumber(col.name, raw);
        if (v !== v && col.fill !== null) v = col.fill;
        out[k++] = (v - col.center) / col.scale;
      } else {
        const code = this.code(c, col, raw);
        if (col.encoding === 'code') out[k++] = code;
        else {
          const n = col.categories.length;
          for (let j = 0; j < n; j++) out[k + j] = j === code ? 1 : 0;
          k += n;
        }
      }
    }
  }

  private code(c: number, col: FittedCategoricalColumn, raw: RawValue): number {
    if (raw === '' || raw === null || raw === undefined) return NaN;
    if (typeof raw === 'number' && raw !== raw) return NaN;
    const s = typeof raw === 'string' ? raw : String(raw);
    const code = this.lookups[c]!.get(s);
    if (code !== undefined) return code;
    if (col.unknown === 'error') throw new UnknownCategoryError(col.name, s);
    return NaN;
  }

  /** Transform records into a row-major matrix. */
  records(records: readonly RawRecord[]): Matrix {
    const data = new Float64Array(records.length * this.nFeatures);
    for (let i = 0; i < records.length; i++) this.writeRecord(records[i], data, i * this.nFeatures);
    return { data, nRows: records.length, nCols: this.nFeatures };
  }

  /** Transform a column-oriented table into a row-major matrix. */
  table(table: ColumnTable): Matrix {
    const cols = this.fitted.columns;
    for (const c of cols) {
      if (!table[c.name])
        throw new InvalidTrainingDataError('missing_column', `column "${c.name}" is not in the table`);
    }
    const nRows = table[cols[0].name].length;
    for (const c of cols) {
      if (table[c.name].length !== nRows) {
        throw new InvalidTrainingDataError(
          'length_mismatch',
          `column "${c.name}" has ${table[c.name].length} values, expected ${nRows}`,
        );
      }
    }
    // Column by column: one lookup table and one branch pattern per column, not per cell.
    const d = this.nFeatures;
    const data = new Float64Array(nRows * d);
    let k = 0;
    for (let c = 0; c < cols.length; c++) {
      const col = cols[c];
      const values = table[col.name];
      if (col.kind === 'numeric') {
        const fill = col.fill;
        for (let i = 0; i < nRows; i++) {
          const raw = values[i];
          let v = typeof raw === 'number' ? raw : toNumber(col.name, raw);
          if (v !== v && fill !== null) v = fill;
          data[i * d + k] = (v - col.center) / col.scale;
        }
        k++;
      } else if (col.encoding === 'code') {
        for (let i = 0; i < nRows; i++) data[i * d + k] = this.code(c, col, values[i]);
        k++;
      } else {
        for (let i = 0; i < nRows; i++) {
          const code = this.code(c, col, values[i]);
          if (code === code) data[i * d + k + code] = 1;
        }
        k += col.categories.length;
      }
    }
    return { data, nRows, nCols: d };
  }
}
