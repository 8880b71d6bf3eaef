import { describe, expect, it } from 'vitest';
import { diffDatasets } from './dataset-diff';

describe('diffDatasets', () => {
  it('given a column added, one removed and one retyped, then the schema diff names each and diffs the rest', () => {
    const diff = diffDatasets(
      {
        rowCount: 4,
        columns: [
          { name: 'x', type: 'number', values: [1, 2, 3, null] },
          { name: 'c', type: 'string', values: ['a', 'a', 'b', 'old'] },
          { name: 'gone', type: 'string', values: ['g', 'g', 'g', 'g'] },
          { name: 'flag', type: 'string', values: ['y', 'n', 'y', 'n'] },
        ],
      },
      {
        rowCount: 2,
        columns: [
          { name: 'x', type: 'integer', values: [10, 20] },
          { name: 'c', type: 'string', values: ['a', 'new'] },
          { name: 'flag', type: 'number', values: [1, 0] },
          { name: 'extra', type: 'boolean', values: [true, false] },
        ],
      },
    );
    expect(diff.rows).toEqual({ from: 4, to: 2, change: -2 });
    expect(diff.schema).toEqual({
      added: [{ name: 'extra', type: 'boolean' }],
      removed: [{ name: 'gone', type: 'string' }],
      typeChanged: [{ name: 'flag', from: 'string', to: 'number' }],
    });
    expect(diff.columns.map((c) => c.name)).toEqual(['x', 'c']);
    const [x, c] = diff.columns;
    expect(x).toMatchObject({
      kind: 'numeric',
      from: { count: 3, missingRate: 0.25, mean: 2, min: 1, max: 3 },
      to: { count: 2, missingRate: 0, mean: 15, min: 10, max: 20 },
    });
    expect(x.kind === 'numeric' && x.ksStatistic).toBe(1);
    expect(c).toMatchObject({
      kind: 'categorical',
      from: { count: 4, categories: 3 },
      to: { count: 2, categories: 2 },
      added: ['new'],
      removed: ['b', 'old'],
    });
  });

  it('given a column without values on one side, then its statistics are null rather than NaN', () => {
    const diff = diffDatasets(
      { rowCount: 2, columns: [{ name: 'x', type: 'number', values: [null, null] }] },
      { rowCount: 1, columns: [{ name: 'x', type: 'number', values: [5] }] },
    );
    expect(diff.columns[0]).toMatchObject({
      from: { count: 0, missingRate: 1, mean: null },
      psi: null,
      ksPValue: null,
    });
  });
});
