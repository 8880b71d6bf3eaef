import { datasetColumns, joinedFeatures, type PipelineSpecV1 } from '@keel/contracts';
import {
  type DatasetColumn,
  type DatasetTable,
  ROW_KEY_COLUMN,
  SPLIT_COLUMN,
  type SplitName,
  takeRows,
  transformInputs,
  WEIGHT_COLUMN,
} from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import { type ColumnSpec, type FittedTransform, fitTransform, type RawValue } from '@keel/ml-models';
import { assignSplits } from './split';

/** The dataset cannot become a feature set (a column is missing, a value is unusable): retrying will not help. */
export class FeatureSetInputError extends NonRetryableError {
  constructor(message: string) {
    super(message, 'bad-dataset');
    this.name = 'FeatureSetInputError';
  }
}

/** A materialized feature set before it is stored. */
export interface BuiltFeatureSet {
  /**
   * Raw feature columns, target, time column and protected attributes of the labelled rows, their row keys (and
   * weights, when the spec asks for recency weights), plus `split`.
   */
  table: DatasetTable;
  /** Preprocessing fitted on the train rows only. */
  transform: FittedTransform;
  rowCounts: Record<SplitName, number>;
}

/** ml-models' column specs from the pipeline's feature declarations. */
export function columnSpecs(spec: PipelineSpecV1): ColumnSpec[] {
  return spec.features.map((feature) =>
    feature.type === 'numeric'
      ? { name: feature.name, kind: 'numeric', impute: feature.impute, standardize: feature.standardize }
      : { name: feature.name, kind: 'categorical', encoding: feature.encoding, unknown: feature.unknown },
  );
}

/**
 * Splits a window's rows (a snapshot table: the dataset columns plus the row-key column, and the weight column when
 * the spec asks for recency weights) as the spec says and fits the preprocessing on the train split only, so nothing
 * about the validation or holdout rows leaks into the transform. Rows without a target are dropped: they can neither
 * train nor evaluate a model. Pure and deterministic: the same table and spec give the same feature set.
 */
export function buildFeatureSet(dataset: DatasetTable, spec: PipelineSpecV1): BuiltFeatureSet {
  // The window's own columns, and the features joined point-in-time from feature tables (none without joins).
  const datasetNames = [...datasetColumns(spec), ...joinedFeatures(spec)];
  const reserved = [SPLIT_COLUMN, ROW_KEY_COLUMN, WEIGHT_COLUMN].filter((name) => datasetNames.includes(name));
  if (reserved.length > 0) throw new FeatureSetInputError(`"${reserved[0]}" is a reserved column name`);
  const names = [
    ...datasetNames,
    ROW_KEY_COLUMN,
    ...(dataset.columns.some((c) => c.name === WEIGHT_COLUMN) ? [WEIGHT_COLUMN] : []),
  ];
  const byName = new Map(dataset.columns.map((c) => [c.name, c]));
  const missing = names.filter((name) => !byName.has(name));
  if (missing.length > 0) throw new FeatureSetInputError(`dataset lacks column(s) ${missing.join(', ')}`);

  const target = byName.get(spec.target.column)!;
  const labelled: number[] = [];
  for (let i = 0; i < dataset.rowCount; i++) if (target.values[i] !== null) labelled.push(i);
  if (labelled.length < 3) throw new FeatureSetInputError(`only ${labelled.length} rows have a target value`);
  const rows = takeRows({ rowCount: dataset.rowCount, columns: names.map((name) => byName.get(name)!) }, labelled);

  const times = spec.timeColumn ? rows.columns.find((c) => c.name === spec.timeColumn)!.values : undefined;
  const keys = rows.columns.find((c) => c.name === ROW_KEY_COLUMN)!.values as number[];
  const splits = assignSplits(spec.split, rows.rowCount, times, keys);
  const trainRaw: Record<string, RawValue[]> = {};
  for (const feature of spec.features) {
    const values = rows.columns.find((c) => c.name === feature.name)!.values;
    trainRaw[feature.name] = transformInputs(values.filter((_, i) => splits[i] === 'train'));
  }
  let transform: FittedTransform;
  try {
    transform = fitTransform(trainRaw, columnSpecs(spec));
  } catch (error) {
    throw new FeatureSetInputError(`cannot fit the transform: ${(error as Error).message}`);
  }
  const splitColumn: DatasetColumn = { name: SPLIT_COLUMN, type: 'string', values: splits };
  const rowCounts = { train: 0, validation: 0, holdout: 0 };
  for (const split of splits) rowCounts[split]++;
  return { table: { rowCount: rows.rowCount, columns: [...rows.columns, splitColumn] }, transform, rowCounts };
}
