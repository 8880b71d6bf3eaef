import { StatsInputError } from '../errors';
import { assertFinite, assertNonEmpty, assertSameLength, type Numbers } from '../internal/validate';
import { chiSquareSf } from '../special/gamma';

/** A chi-square test result. */
export interface ChiSquareResult {
  readonly statistic: number;
  readonly pValue: number;
  readonly dof: number;
}

function assertCounts(name: string, values: Numbers): void {
  assertFinite(name, values);
  for (let i = 0; i < values.length; i++) {
    if (values[i] < 0) throw new StatsInputError('out-of-range', `${name}[${i}] is ${values[i]}; counts must be ≥ 0`);
  }
}

/**
 * Pearson goodness of fit, `scipy.stats.chisquare(observed, expected)`: Σ (o − e)² / e with k − 1 degrees of freedom.
 * The totals must agree (relative 1e-8, as SciPy checks). An expected count of 0 makes the statistic infinite, so it
 * throws `undefined` (a category absent from the reference: use {@link chiSquareContingency} instead).
 */
export function chiSquareGoodnessOfFit(observed: Numbers, expected: Numbers): ChiSquareResult {
  assertSameLength(['observed', 'expected'], [observed, expected]);
  assertNonEmpty('observed', observed);
  assertCounts('observed', observed);
  assertCounts('expected', expected);
  let so = 0;
  let se = 0;
  for (let i = 0; i < observed.length; i++) {
    so += observed[i];
    se += expected[i];
  }
  if (Math.abs(so - se) > 1e-8 * Math.max(so, se)) {
    throw new StatsInputError('invalid-argument', `observed total ${so} differs from expected total ${se}`);
  }
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) {
    const e = expected[i];
    if (e === 0) {
      if (observed[i] === 0) continue;
      throw new StatsInputError('undefined', `expected[${i}] is 0 but observed[${i}] is ${observed[i]}`);
    }
    statistic += (observed[i] - e) ** 2 / e;
  }
  const dof = observed.length - 1;
  return { statistic, pValue: dof > 0 ? chiSquareSf(statistic, dof) : 1, dof };
}

/**
 * Test of independence on an r × c table of counts, `scipy.stats.chi2_contingency(table, correction)`; with
 * `correction` (default true, as SciPy) Yates' continuity correction applies when there is 1 degree of freedom.
 * For drift, rows are the reference and current windows and columns the categories. A table with one column
 * (0 degrees of freedom) returns statistic 0, p-value 1, as SciPy does.
 */
export function chiSquareContingency(table: readonly Numbers[], correction = true): ChiSquareResult {
  assertNonEmpty('table', table);
  const cols = table[0].length;
  assertNonEmpty('table[0]', table[0]);
  table.forEach((row, i) => {
    assertSameLength(['table[0]', `table[${i}]`], [table[0], row]);
    assertCounts(`table[${i}]`, row);
  });
  const rowSums = table.map((row) => {
    let s = 0;
    for (let j = 0; j < cols; j++) s += row[j];
    return s;
  });
  const colSums = new Float64Array(cols);
  for (const row of table) for (let j = 0; j < cols; j++) colSums[j] += row[j];
  const total = rowSums.reduce((s, v) => s + v, 0);
  const dof = (table.length - 1) * (cols - 1);
  if (dof === 0) return { statistic: 0, pValue: 1, dof: 0 };
  let statistic = 0;
  for (let i = 0; i < table.length; i++) {
    for (let j = 0; j < cols; j++) {
      const e = (rowSums[i] * colSums[j]) / total;
      if (e === 0) {
        throw new StatsInputError(
          'undefined',
          `expected frequency of cell (${i}, ${j}) is 0: a row or column is empty`,
        );
      }
      let o = table[i][j];
      if (dof === 1 && correction) {
        const diff = e - o;
        o += Math.sign(diff) * Math.min(0.5, Math.abs(diff));
      }
      statistic += (o - e) ** 2 / e;
    }
  }
  return { statistic, pValue: chiSquareSf(statistic, dof), dof };
}
