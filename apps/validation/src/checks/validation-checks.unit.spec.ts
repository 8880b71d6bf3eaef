import { type DatasetTable } from '@keel/datasets';
import { parsePipelineSpec } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { inferReference, profileTable, validateDataset } from './validation-checks';

const spec = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'unit-pipeline',
  task: 'binary-classification',
  target: { column: 'y', positive: 'yes' },
  features: [
    { name: 'age', type: 'numeric', nullable: false },
    { name: 'hours', type: 'numeric' },
    { name: 'color', type: 'categorical' },
  ],
  validation: { minRows: 4, maxMissingRate: 0.25, maxUnseenCategoryRate: 0.25, rangeTolerance: 0.5 },
  training: { algorithms: ['gbdt'], primaryMetric: 'auc' },
});

function table(
  columns: Record<string, { type: DatasetTable['columns'][number]['type']; values: (number | string | null)[] }>,
): DatasetTable {
  const entries = Object.entries(columns);
  return { rowCount: entries[0][1].values.length, columns: entries.map(([name, c]) => ({ name, ...c })) };
}

const reference = table({
  age: { type: 'number', values: [20, 30, 40, 60] },
  hours: { type: 'number', values: [10, 20, null, 40] },
  color: { type: 'string', values: ['red', 'blue', 'red', null] },
  y: { type: 'string', values: ['yes', 'no', 'no', 'yes'] },
});

describe('inferReference and profileTable', () => {
  it('records type, missing rate, numeric range and sorted categories', () => {
    const ref = inferReference(reference);
    expect(ref).toEqual([
      { name: 'age', type: 'number', missingRate: 0, min: 20, max: 60 },
      { name: 'hours', type: 'number', missingRate: 0.25, min: 10, max: 40 },
      { name: 'color', type: 'string', missingRate: 0.25, categories: ['blue', 'red'] },
      { name: 'y', type: 'string', missingRate: 0, categories: ['no', 'yes'] },
    ]);
    expect(profileTable(reference)[0]).toEqual({
      name: 'age',
      type: 'number',
      missingRate: 0,
      min: 20,
      max: 60,
      mean: 37.5,
    });
    expect(profileTable(reference)[2]).toMatchObject({ distinctCount: 2 });
  });
});

describe('validateDataset', () => {
  const ref = inferReference(reference);

  it('passes the reference itself with no findings', () => {
    expect(validateDataset(spec, reference, ref)).toEqual([]);
  });

  it('rejects missing and mistyped columns, too few rows and missing targets', () => {
    // given a version with a string age, no hours column, three rows and a missing target
    const version = table({
      age: { type: 'string', values: ['20', '30', '40'] },
      color: { type: 'string', values: ['red', 'red', 'blue'] },
      y: { type: 'string', values: ['yes', null, 'no'] },
    });
    // then every problem is an error naming its column
    expect(validateDataset(spec, version, ref)).toEqual([
      { check: 'min-rows', severity: 'error', message: '3 rows, fewer than the 4 the spec requires' },
      { check: 'column-type', column: 'age', severity: 'error', message: 'column age is string, expected number' },
      { check: 'required-column', column: 'hours', severity: 'error', message: 'column hours is missing' },
      { check: 'target-missing', column: 'y', severity: 'error', message: 'target y is missing in 1 rows' },
    ]);
  });

  it('rejects missing values in a non-nullable feature and missing rates above the limit', () => {
    const version = table({
      age: { type: 'number', values: [20, null, 30, 40] },
      hours: { type: 'number', values: [null, null, 10, 20] },
      color: { type: 'string', values: ['red', 'red', 'red', 'red'] },
      y: { type: 'string', values: ['yes', 'no', 'no', 'yes'] },
    });
    expect(validateDataset(spec, version, ref).map((f) => [f.check, f.column, f.severity])).toEqual([
      ['missing-values', 'age', 'error'],
      ['missing-rate', 'hours', 'error'],
    ]);
  });

  it('rejects unseen categories above the limit, warns below it, and warns on values beyond the widened range', () => {
    // given age range [20, 60] widened by 0.5 x 40 to [0, 80]
    const version = table({
      age: { type: 'number', values: [0, 80, 81, 30] },
      hours: { type: 'number', values: [10, 20, 30, 40] },
      color: { type: 'string', values: ['green', 'pink', 'red', 'blue'] },
      y: { type: 'string', values: ['yes', 'no', 'no', 'yes'] },
    });
    const findings = validateDataset(spec, version, ref);
    expect(findings).toEqual([
      {
        check: 'numeric-range',
        column: 'age',
        severity: 'warning',
        message: '1 values of age are outside the reference range [20, 60] widened to [0, 80]',
      },
      {
        check: 'unseen-category',
        column: 'color',
        severity: 'error',
        message: '50.0% of rows have color categories the reference never had ("green", "pink"); limit 25.0%',
      },
    ]);
    const fewUnseen = table({
      ...Object.fromEntries(version.columns.map((c) => [c.name, c])),
      color: { type: 'string', values: ['green', 'red', 'red', 'blue'] },
    });
    expect(validateDataset(spec, fewUnseen, ref).find((f) => f.check === 'unseen-category')?.severity).toBe('warning');
  });
});

describe('validateDataset for a multiclass target', () => {
  const multiclass = parsePipelineSpec({
    apiVersion: 'keel/v1',
    kind: 'Pipeline',
    id: 'unit-multiclass',
    task: 'multiclass-classification',
    target: { column: 'y', classes: ['low', 'mid', 'high'] },
    features: [{ name: 'age', type: 'numeric' }],
    validation: { minRows: 4 },
    training: { algorithms: ['gbdt'], primaryMetric: 'f1_macro' },
  });

  it('passes declared labels and rejects labels outside target.classes, naming them', () => {
    const declared = table({
      age: { type: 'number', values: [20, 30, 40, 60] },
      y: { type: 'string', values: ['low', 'mid', 'high', 'mid'] },
    });
    expect(validateDataset(multiclass, declared, [])).toEqual([]);
    const undeclared = table({
      age: { type: 'number', values: [20, 30, 40, 60] },
      y: { type: 'string', values: ['low', 'extreme', 'high', 'extreme'] },
    });
    expect(validateDataset(multiclass, undeclared, [])).toEqual([
      {
        check: 'undeclared-class',
        column: 'y',
        severity: 'error',
        message: '2 rows (50.0%) have y labels outside target.classes ("extreme")',
      },
    ]);
  });
});
