import { type PipelineSpecV1 } from '@keel/contracts';
import { type DatasetTable } from '@keel/datasets';
import { OTHER_CATEGORY } from '@keel/ml-stats';
import { fixtureTable, pipelineSpecFixture } from '@keel/testing';
import { describe, expect, it } from 'vitest';
import {
  judgeShift,
  measureShift,
  sampleVersion,
  type ShiftBaseline,
  shiftColumns,
  shiftFindings,
  summarizeVersion,
} from './shift-checks';

const adult = pipelineSpecFixture('adult-income', { id: 'adult-unit' });

function withShift(shift: NonNullable<PipelineSpecV1['validation']['shift']> | undefined): PipelineSpecV1 {
  return { ...adult, validation: { ...adult.validation, shift } };
}

/** The rows of `table` with `name`'s numbers moved by `by`. */
function moved(table: DatasetTable, name: string, by: number): DatasetTable {
  return {
    ...table,
    columns: table.columns.map((column) =>
      column.name === name
        ? { ...column, values: column.values.map((v) => (typeof v === 'number' ? v + by : v)) }
        : column,
    ),
  };
}

function baseline(spec: PipelineSpecV1, table: DatasetTable, against: 'reference' | 'previous'): ShiftBaseline {
  return {
    against,
    datasetVersionId: `ds-${against === 'reference' ? 'a' : 'b'}`.padEnd(19, '0'),
    summaries: summarizeVersion(spec, table),
  };
}

/** A table against a baseline, as the worker task measures it. */
const measure = (spec: PipelineSpecV1, table: DatasetTable, base: ShiftBaseline) =>
  measureShift(spec, sampleVersion(spec, table), base);

const first = fixtureTable('adult', adult, { count: 600 });
const similar = fixtureTable('adult', adult, { count: 600, from: 2_000 });

describe('summarizeVersion', () => {
  it('given Adult, when summarised, then every feature and the target have a summary, numeric ones on deciles', () => {
    const summaries = summarizeVersion(adult, first);
    expect(summaries.columns.map((c) => c.name)).toEqual(shiftColumns(adult).map((c) => c.name));
    expect(summaries.columns.map((c) => c.name)).toContain('income');
    const age = summaries.columns.find((c) => c.name === 'age')!;
    expect(age.kind).toBe('numeric');
    if (age.kind === 'numeric') {
      expect(age.summary.edges).toHaveLength(9);
      expect(age.summary.count).toBe(600);
    }
    expect(summaries.skipped).toEqual([]);
  });

  it('given a mistyped and an empty column, when summarised, then both are skipped with the reason', () => {
    const table: DatasetTable = {
      ...first,
      columns: first.columns.map((column) => {
        if (column.name === 'age') return { ...column, type: 'string', values: column.values.map(String) };
        if (column.name === 'workclass') return { ...column, values: column.values.map(() => null) };
        return column;
      }),
    };
    expect(summarizeVersion(adult, table).skipped).toEqual([
      { column: 'age', reason: 'string, not numeric' },
      { column: 'workclass', reason: 'no values' },
    ]);
  });

  it('given a numeric column with missing values, when sampled, then it keeps only its finite numbers, packed (review s25 #12)', () => {
    const table: DatasetTable = {
      ...first,
      columns: first.columns.map((column) =>
        column.name === 'age' ? { ...column, values: column.values.map((v, i) => (i % 4 ? v : null)) } : column,
      ),
    };
    const age = sampleVersion(adult, table).columns.find((c) => c.name === 'age')!;
    expect(age.kind === 'numeric' && age.values).toBeInstanceOf(Float64Array);
    if (age.kind === 'numeric') {
      expect(age.values).toHaveLength(450);
      expect(age.summary.count).toBe(450);
      expect(age.summary.missing).toBe(150);
    }
  });

  it('given the same rows twice, when summarised, then the JSON is identical (a redelivery stores the same bytes)', () => {
    expect(JSON.stringify(summarizeVersion(adult, first))).toBe(JSON.stringify(summarizeVersion(adult, first)));
  });
});

describe('measureShift', () => {
  it('given no shift spec, when a later version is measured, then every column has the default test and no action', () => {
    const spec = withShift(undefined);
    const shift = measure(spec, similar, baseline(spec, first, 'reference'));
    expect(shift.columns).toHaveLength(shiftColumns(adult).length);
    const age = shift.columns.find((c) => c.column === 'age')!;
    // 600 rows: Evidently's small-sample rule, KS at p < 0.05 (chi-square for categories).
    expect(age).toMatchObject({ kind: 'numeric', statistic: 'ks', threshold: 0.05, referenceCount: 600 });
    expect(age.action).toBeUndefined();
    expect(shift.columns.find((c) => c.column === 'income')).toMatchObject({ kind: 'categorical', statistic: 'chi2' });
    expect(judgeShift(spec, [shift])).toEqual([]);
  });

  it('given hours_per_week moved by 15 hours, when measured by normed Wasserstein, then it alone shifted past 0.3', () => {
    const spec = withShift({
      against: 'both',
      action: 'reject',
      numeric: { statistic: 'wasserstein', threshold: 0.3 },
      categorical: { statistic: 'jensen-shannon', threshold: 0.2 },
      columns: {},
    });
    const shift = measure(spec, moved(similar, 'hours_per_week', 15), baseline(spec, first, 'previous'));
    const hours = shift.columns.find((c) => c.column === 'hours_per_week')!;
    // About 15 / std(hours) ≈ 15 / 12: a normed Wasserstein distance above 1.
    expect(hours.value).toBeGreaterThan(1);
    expect(hours).toMatchObject({ statistic: 'wasserstein', threshold: 0.3, drifted: true, action: 'reject' });
    expect(shift.columns.filter((c) => c.drifted).map((c) => c.column)).toEqual(['hours_per_week']);
    const similarShift = measure(spec, similar, baseline(spec, first, 'previous'));
    expect(similarShift.columns.filter((c) => c.drifted)).toEqual([]);
  });

  it('given a column override, when measured, then it wins over the kind’s test and its action over the spec’s', () => {
    const spec = withShift({
      against: 'both',
      action: 'warn',
      numeric: { statistic: 'wasserstein', threshold: 0.3 },
      columns: { age: { statistic: 'psi', threshold: 0.25, action: 'reject' }, fnlwgt: { action: 'ignore' } },
    });
    const shift = measure(spec, similar, baseline(spec, first, 'reference'));
    expect(shift.columns.find((c) => c.column === 'age')).toMatchObject({
      statistic: 'psi',
      threshold: 0.25,
      action: 'reject',
    });
    // An override naming only an action keeps its kind's statistic and threshold.
    expect(shift.columns.find((c) => c.column === 'fnlwgt')).toMatchObject({
      statistic: 'wasserstein',
      threshold: 0.3,
      action: 'ignore',
    });
    expect(shift.columns.find((c) => c.column === 'hours_per_week')).toMatchObject({
      statistic: 'wasserstein',
      action: 'warn',
    });
  });

  it('given a category the baseline never had, when measured, then it has its own bin and shifts', () => {
    const spec = withShift({ against: 'both', action: 'reject', columns: {} });
    const table: DatasetTable = {
      ...similar,
      columns: similar.columns.map((column) =>
        column.name === 'workclass'
          ? { ...column, values: column.values.map((v, i) => (i % 3 ? v : 'Martian')) }
          : column,
      ),
    };
    const shift = measure(spec, table, baseline(spec, first, 'previous'));
    const workclass = shift.columns.find((c) => c.column === 'workclass')!;
    expect(workclass).toMatchObject({ statistic: 'chi2', drifted: true });
    expect(workclass.pValue).toBeLessThan(1e-6);
    expect(OTHER_CATEGORY).toBe('\u0000other');
  });

  describe('a categorical column whose rare categories change (review s25 #1)', () => {
    const spec = withShift({ against: 'both', action: 'reject', columns: {} });
    /** A version whose only rows are `workclass` values (every other column is absent, hence skipped). */
    const workclassOnly = (values: string[]): DatasetTable => ({
      rowCount: values.length,
      columns: [{ name: 'workclass', type: 'string', values }],
    });
    /** The baseline: 2,000 rows evenly over 25 categories, each 4 % (under 5 rows expected in 100). */
    const even = workclassOnly(Array.from({ length: 2_000 }, (_, i) => `c${i % 25}`));
    const against = (table: DatasetTable) => measure(spec, table, { ...baseline(spec, even, 'previous') });

    it('given a 100-row version all in c0 and c1, when measured, then workclass shifted (it was pooled to p = 1)', () => {
      const shift = against(workclassOnly(Array.from({ length: 100 }, (_, i) => (i % 2 ? 'c1' : 'c0'))));
      const workclass = shift.columns.find((c) => c.column === 'workclass')!;
      expect(workclass).toMatchObject({ statistic: 'chi2', drifted: true, action: 'reject' });
      expect(workclass.pValue).toBeLessThan(1e-50);
      expect(workclass.psi).toBeGreaterThan(1);
      expect(judgeShift(spec, [shift]).map((j) => j.column)).toEqual(['workclass']);
    });

    it('given 4 rows of each category, when measured, then it is skipped as not measurable, not passed as similar', () => {
      const shift = against(workclassOnly(Array.from({ length: 100 }, (_, i) => `c${i % 25}`)));
      expect(shift.columns.find((c) => c.column === 'workclass')).toBeUndefined();
      expect(shift.skipped).toContainEqual({
        column: 'workclass',
        reason: 'not measurable: every category has under 5 rows expected in both versions',
      });
    });
  });

  it('given a column the baseline has no summary of, or this version lacks, when measured, then it is skipped', () => {
    const spec = withShift(undefined);
    const base = baseline(spec, first, 'previous');
    base.summaries.columns = base.summaries.columns.filter((c) => c.name !== 'age');
    const table = { ...similar, columns: similar.columns.filter((c) => c.name !== 'workclass') };
    expect(measure(spec, table, base).skipped).toEqual([
      { column: 'age', reason: 'no numeric summary in the previous version' },
      { column: 'workclass', reason: 'absent' },
    ]);
  });

  it('given features a point-in-time join takes, when summarised and measured, then they are skipped as joined, not absent', () => {
    const spec = {
      ...withShift(undefined),
      entityColumns: ['person_id'],
      joins: [{ pipeline: 'work-features', entityKey: 'person_id', features: ['hours_per_week', 'workclass'] }],
    } as PipelineSpecV1;
    // the versions have no joined columns: features joins them at training
    const without = (table: DatasetTable) => ({
      ...table,
      columns: table.columns.filter((c) => c.name !== 'hours_per_week' && c.name !== 'workclass'),
    });
    const reason = 'joined from "work-features" at training (point-in-time), not a column of the version';
    const base = baseline(spec, without(first), 'reference');
    expect(base.summaries.skipped).toEqual([
      { column: 'workclass', reason },
      { column: 'hours_per_week', reason },
    ]);
    const measured = measure(spec, without(similar), base);
    expect(measured.skipped).toEqual(base.summaries.skipped);
    expect(measured.columns.map((c) => c.column)).not.toContain('hours_per_week');
    expect(measured.columns.length).toBe(shiftColumns(spec).length - 2);
  });
});

describe('p-value tests across columns (review s25 #11)', () => {
  const spec = withShift({ against: 'both', action: 'reject', columns: { age: { action: 'ignore' } } });
  // Rows 9,000-9,599 of the fixture: like the first 600, but fnlwgt's KS p-value is about 0.043 by chance.
  const chance = fixtureTable('adult', adult, { count: 600, from: 9_000 });

  it('given 14 judged columns on default tests and action reject, when a version like its baseline is judged, then no column rejects it', () => {
    const shift = measure(spec, chance, baseline(spec, first, 'previous'));
    const fnlwgt = shift.columns.find((c) => c.column === 'fnlwgt')!;
    expect(fnlwgt.pValue).toBeLessThan(0.05);
    // age is ignored, so 14 p-value tests share the 0.05.
    expect(fnlwgt).toMatchObject({ statistic: 'ks', threshold: 0.05 / 14, testedColumns: 14, drifted: false });
    expect(shift.columns.find((c) => c.column === 'age')).toMatchObject({ threshold: 0.05, action: 'ignore' });
    expect(judgeShift(spec, [shift])).toEqual([]);
  });

  it('given the spec undeclared, when measured, then thresholds are reported uncorrected', () => {
    const shift = measure(withShift(undefined), chance, baseline(spec, first, 'previous'));
    expect(shift.columns.find((c) => c.column === 'fnlwgt')).toMatchObject({ threshold: 0.05, drifted: true });
  });

  it('given a corrected threshold, when reported, then the finding says how it was divided', () => {
    const [finding] = shiftFindings([
      {
        column: 'sex',
        against: 'previous',
        datasetVersionId: 'ds-b000',
        statistic: 'chi2',
        value: 1e-9,
        threshold: 0.05 / 20,
        action: 'reject',
        testedColumns: 20,
      },
    ]);
    expect(finding.message).toBe(
      'sex shifted against the previous version ds-b000: chi2 1.000e-9, below the reject threshold 0.0025 (0.05 over 20 columns, Bonferroni)',
    );
  });
});

describe('judgeShift and shiftFindings', () => {
  const spec = withShift({
    against: 'previous',
    action: 'reject',
    numeric: { statistic: 'wasserstein', threshold: 0.3 },
    categorical: { statistic: 'jensen-shannon', threshold: 0.2 },
    columns: { capital_gain: { action: 'warn' }, age: { action: 'ignore' } },
  });
  const table = moved(moved(moved(similar, 'hours_per_week', 15), 'age', 30), 'capital_gain', 50_000);
  const shifts = [
    measure(spec, table, baseline(spec, first, 'reference')),
    measure(spec, table, baseline(spec, first, 'previous')),
  ];

  it('given against previous, when judged, then only the previous baseline counts and ignored columns do not', () => {
    const judged = judgeShift(spec, shifts);
    expect(judged.map((j) => [j.column, j.against, j.action])).toEqual([
      ['capital_gain', 'previous', 'warn'],
      ['hours_per_week', 'previous', 'reject'],
    ]);
  });

  it('given the judged shifts, when reported, then each finding names column, baseline, statistic, value and threshold', () => {
    const findings = shiftFindings(judgeShift(spec, shifts));
    expect(findings.map((f) => [f.check, f.column, f.severity])).toEqual([
      ['distribution-shift', 'capital_gain', 'warning'],
      ['distribution-shift', 'hours_per_week', 'error'],
    ]);
    expect(findings[1].message).toMatch(
      /^hours_per_week shifted against the previous version ds-b0+: wasserstein 1\.\d+, at or above the reject threshold 0\.3$/,
    );
  });

  it('given a p-value test, when reported, then the finding says the value is below the threshold', () => {
    const findings = shiftFindings([
      {
        column: 'sex',
        against: 'reference',
        datasetVersionId: 'ds-a000',
        statistic: 'chi2',
        value: 1.234e-9,
        threshold: 0.01,
        action: 'warn',
      },
    ]);
    expect(findings[0].message).toBe(
      'sex shifted against the reference version ds-a000: chi2 1.234e-9, below the warn threshold 0.01',
    );
  });
});
