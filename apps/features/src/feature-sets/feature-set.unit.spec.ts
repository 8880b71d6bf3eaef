import { PipelineSpecV1 } from '@keel/contracts';
import { type DatasetTable, writeParquet } from '@keel/datasets';
import { describe, expect, it } from 'vitest';
import { buildFeatureSet, FeatureSetInputError } from './feature-set';

const spec = PipelineSpecV1.parse({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'toy',
  task: 'regression',
  target: { column: 'y' },
  timeColumn: 'ts',
  protectedAttributes: ['group'],
  features: [
    { name: 'x', type: 'numeric', impute: 'mean', standardize: false },
    { name: 'c', type: 'categorical' },
  ],
  split: { strategy: 'time', holdoutFraction: 0.25, validationFraction: 0 },
  training: { algorithms: ['linear-regression'], primaryMetric: 'rmse' },
});

const dataset: DatasetTable = {
  rowCount: 5,
  columns: [
    { name: 'ts', type: 'timestamp', values: ['2020-01-01', '2020-01-02', '2020-01-03', '2020-01-04', '2020-01-05'] },
    { name: 'x', type: 'number', values: [1, 3, null, 100, 7] },
    { name: 'c', type: 'string', values: ['a', 'b', 'a', 'z', 'b'] },
    { name: 'y', type: 'number', values: [10, 30, 20, null, 70] },
    { name: 'group', type: 'string', values: ['g1', 'g2', 'g1', 'g2', 'g1'] },
    { name: 'unused', type: 'string', values: ['u', 'u', 'u', 'u', 'u'] },
    { name: '_row_key', type: 'number', values: [11, 12, 13, 14, 15] },
  ],
};

describe('buildFeatureSet', () => {
  it('given a time split, then unlabelled rows are dropped, the latest row is held out and the transform sees train only', () => {
    const built = buildFeatureSet(dataset, spec);

    expect(built.rowCounts).toEqual({ train: 3, validation: 0, holdout: 1 });
    expect(built.table.columns.map((c) => c.name)).toEqual(['x', 'c', 'y', 'ts', 'group', '_row_key', 'split']);
    expect(built.table.columns.at(-1)!.values).toEqual(['train', 'train', 'train', 'holdout']);
    // Train rows x = 1, 3, null: mean 2 imputes; categories from train only (no "z", whose row had no target).
    expect(built.transform.columns).toEqual([
      { kind: 'numeric', name: 'x', fill: 2, center: 0, scale: 1 },
      { kind: 'categorical', name: 'c', encoding: 'code', unknown: 'missing', categories: ['a', 'b'] },
    ]);
  });

  it('given the same dataset twice, then the feature-set bytes are identical', () => {
    expect(writeParquet(buildFeatureSet(dataset, spec).table)).toEqual(
      writeParquet(buildFeatureSet(dataset, spec).table),
    );
  });

  it('given a dataset without a declared column, then it names the column', () => {
    const lacking = { ...dataset, columns: dataset.columns.filter((c) => c.name !== 'group') };
    expect(() => buildFeatureSet(lacking, spec)).toThrow(new FeatureSetInputError('dataset lacks column(s) group'));
  });
});
