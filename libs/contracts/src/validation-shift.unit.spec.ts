import { describe, expect, it } from 'vitest';
import { PipelineSpecV1 } from './pipeline-spec';

const base = {
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'elec2',
  task: 'binary-classification',
  target: { column: 'class', positive: 'UP' },
  features: [
    { name: 'nswprice', type: 'numeric' },
    { name: 'day', type: 'categorical' },
  ],
  training: { algorithms: ['gbdt'], primaryMetric: 'accuracy' },
} as const;

/** The issues of a spec whose validation.shift is `shift`, as "path: message". */
function issues(shift: unknown): string[] {
  const result = PipelineSpecV1.safeParse({ ...base, validation: { shift } });
  return (result.error?.issues ?? []).map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('validation.shift in the spec', () => {
  it('is absent by default: shift is measured and reported, never judged', () => {
    expect(PipelineSpecV1.parse(base).validation.shift).toBeUndefined();
  });

  it('declared empty, compares with both baselines by the default tests and warns', () => {
    expect(PipelineSpecV1.parse({ ...base, validation: { shift: {} } }).validation.shift).toEqual({
      against: 'both',
      action: 'warn',
      columns: {},
    });
  });

  it('accepts tests per kind and per column, the target included', () => {
    const shift = {
      against: 'previous',
      action: 'reject',
      numeric: { statistic: 'wasserstein', threshold: 0.2 },
      categorical: { statistic: 'jensen-shannon', threshold: 0.15 },
      columns: { day: { action: 'ignore' }, class: { statistic: 'psi', threshold: 0.25, action: 'warn' } },
    };
    expect(issues(shift)).toEqual([]);
  });

  it('refuses a threshold without its statistic, a p-value threshold of 1 or more, and tests that do not fit', () => {
    expect(
      issues({
        numeric: { threshold: 0.2 },
        categorical: { statistic: 'ks' },
        columns: {
          day: { statistic: 'chi2', threshold: 1 },
          nswprice: { statistic: 'chi2' },
          class: { statistic: 'wasserstein' },
          nope: { action: 'ignore' },
        },
      }),
    ).toEqual([
      'validation.shift.numeric.threshold: a threshold needs its statistic (p-values and distances cut opposite ways)',
      'validation.shift.columns.day.threshold: a p-value threshold must be below 1 (every column would count as shifted)',
      'validation.shift.categorical: ks does not apply to categorical columns',
      'validation.shift.columns.nswprice: chi2 does not apply to numeric column "nswprice"',
      'validation.shift.columns.class: wasserstein does not apply to categorical column "class"',
      'validation.shift.columns.nope: no feature or target "nope" (shift is measured on the features and the target)',
    ]);
  });

  it('refuses an unknown action or baseline', () => {
    expect(issues({ action: 'ignore', against: 'first' })).toEqual([
      expect.stringMatching(/^validation\.shift\.against: /),
      expect.stringMatching(/^validation\.shift\.action: /),
    ]);
  });
});
