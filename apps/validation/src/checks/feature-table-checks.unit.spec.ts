import { type DatasetTable, writeParquet } from '@keel/datasets';
import { featureTableFixture } from '@keel/testing';
import { describe, expect, it } from 'vitest';
import { measureBias } from './bias-checks';
import { shiftColumns } from './shift-checks';
import { checkDataset } from './validation.task';

/**
 * A feature table (`kind: FeatureTable`) has no target, labels or protected attributes: validation checks its schema,
 * missing values, categories, ranges and shift, and measures no bias. Each case fails if its skip goes (a table's
 * spec has no `target`, `protectedAttributes` or `validation.bias` to read).
 */
/** Customers' balance and segment by customer_id; a shifted feature rejects its version. */
const table = featureTableFixture({
  id: 'customers-validation',
  validation: { minRows: 10, shift: { against: 'previous', action: 'reject' } },
});

/** `rows` rows of customers numbered from `first`: a later version holds customers the first never had. */
function version(first: number, rows: number): DatasetTable {
  const each = <T>(value: (i: number) => T) => Array.from({ length: rows }, (_, i) => value(i));
  return {
    rowCount: rows,
    columns: [
      { name: 'balance', type: 'number', values: each((i) => (i * 37) % 1000) },
      { name: 'segment', type: 'string', values: each((i) => ['basic', 'gold', 'silver'][i % 3]) },
      {
        name: 'feature_time',
        type: 'timestamp',
        values: each((i) => new Date(Date.UTC(2026, 0, 1, i % 24)).toISOString()),
      },
      { name: 'customer_id', type: 'string', values: each((i) => `c${first + i}`) },
    ],
  };
}

const noProgress = { progress: () => undefined };
const uri = 's3://keel-datasets/customers-validation/v.parquet';

describe('validation of a feature table', () => {
  it('measures shift on its features alone (no target) and no bias', () => {
    expect(shiftColumns(table)).toEqual([
      { name: 'balance', kind: 'numeric' },
      { name: 'segment', kind: 'categorical' },
    ]);
    expect(measureBias(table, version(0, 50), new Map())).toEqual([]);
  });

  it('passes a first version and a later one of new customers, shift measured on the features, nothing on bias', async () => {
    const first = await checkDataset({ spec: table, dataset: writeParquet(version(0, 200)), uri }, noProgress);
    expect(first.findings).toEqual([]);
    expect(first.bias).toEqual([]);
    const later = await checkDataset(
      {
        spec: table,
        dataset: writeParquet(version(1_000, 200)),
        uri,
        reference: first.reference,
        baselines: [{ against: 'previous', datasetVersionId: 'ds-0000000000000001', summaries: first.summaries }],
      },
      noProgress,
    );
    // New entity ids are not unseen categories, and the unchanged features have not shifted.
    expect(later.findings).toEqual([]);
    expect(later.bias).toEqual([]);
    expect(later.shift.map((shift) => shift.columns.map((column) => column.column))).toEqual([['balance', 'segment']]);
    expect(later.shifted).toEqual([]);
  });
});
