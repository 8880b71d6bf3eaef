import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ColumnSpec, type RawTable } from '@keel/ml-models';
import { CATEGORICAL as ADULT_CATEGORICAL } from '../drift/dataset';

/** A benchmark dataset already split into train and test, with 0/1 labels. */
export interface BenchDataset {
  name: string;
  train: RawTable;
  test: RawTable;
  yTrain: Uint8Array;
  yTest: Uint8Array;
  /** Feature columns and their kinds. */
  columns: { name: string; kind: 'numeric' | 'categorical' }[];
  /** Path of the CSV, for the Python peers. */
  path: string;
}

export const DATASETS_DIR = resolve(__dirname, '../../../../shared/datasets');

/** Minimal CSV reader: these files have no quoting. */
function readCsv(path: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  return { header: lines[0].split(','), rows: lines.slice(1).map((l) => l.split(',')) };
}

function toTable(header: string[], rows: string[][], columns: BenchDataset['columns']): RawTable {
  const table: Record<string, (string | number | null)[]> = {};
  for (const c of columns) {
    const j = header.indexOf(c.name);
    table[c.name] = rows.map((r) => (r[j] === '' ? null : c.kind === 'numeric' ? Number(r[j]) : r[j]));
  }
  return table;
}

/** Adult: the file's own `split` column; positive class `>50K`. */
export function loadAdult(): BenchDataset {
  const path = resolve(DATASETS_DIR, 'adult/adult.csv');
  const { header, rows } = readCsv(path);
  const cat = new Set<string>(ADULT_CATEGORICAL);
  const columns = header
    .filter((h) => h !== 'income' && h !== 'split')
    .map((name) => ({ name, kind: cat.has(name) ? ('categorical' as const) : ('numeric' as const) }));
  const si = header.indexOf('split');
  const yi = header.indexOf('income');
  const tr = rows.filter((r) => r[si] === 'train');
  const te = rows.filter((r) => r[si] === 'test');
  return {
    name: 'adult',
    train: toTable(header, tr, columns),
    test: toTable(header, te, columns),
    yTrain: Uint8Array.from(tr, (r) => (r[yi] === '>50K' ? 1 : 0)),
    yTest: Uint8Array.from(te, (r) => (r[yi] === '>50K' ? 1 : 0)),
    columns,
    path,
  };
}

/** Elec2: time-ordered, first 75 % train; positive class `UP`; timestamp and date dropped. */
export function loadElec2(): BenchDataset {
  const path = resolve(DATASETS_DIR, 'elec2/elec2.csv');
  const { header, rows } = readCsv(path);
  const columns = header
    .filter((h) => !['timestamp', 'date', 'class'].includes(h))
    .map((name) => ({ name, kind: 'numeric' as const }));
  const cut = Math.floor(rows.length * 0.75);
  const yi = header.indexOf('class');
  const tr = rows.slice(0, cut);
  const te = rows.slice(cut);
  return {
    name: 'elec2',
    train: toTable(header, tr, columns),
    test: toTable(header, te, columns),
    yTrain: Uint8Array.from(tr, (r) => (r[yi] === 'UP' ? 1 : 0)),
    yTest: Uint8Array.from(te, (r) => (r[yi] === 'UP' ? 1 : 0)),
    columns,
    path,
  };
}

/** Column specs for linear models: impute + standardise numerics, one-hot categoricals. */
export function linearSpecs(ds: BenchDataset): ColumnSpec[] {
  return ds.columns.map((c) =>
    c.kind === 'numeric'
      ? { name: c.name, kind: 'numeric', impute: 'mean', standardize: true }
      : { name: c.name, kind: 'categorical', encoding: 'onehot', unknown: 'missing' },
  );
}

/** Column specs for trees: raw numerics (NaN kept), integer-coded categoricals. */
export function treeSpecs(ds: BenchDataset): ColumnSpec[] {
  return ds.columns.map((c) =>
    c.kind === 'numeric'
      ? { name: c.name, kind: 'numeric', impute: 'none' }
      : { name: c.name, kind: 'categorical', encoding: 'code', unknown: 'missing' },
  );
}
