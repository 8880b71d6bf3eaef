import { InvalidInputError, InvalidParameterError, InvalidTrainingDataError } from './errors';

/** Dense row-major matrix: element (i, j) is `data[i * nCols + j]`. */
export interface Matrix {
  readonly data: Float64Array | Float32Array;
  readonly nRows: number;
  readonly nCols: number;
}

/** Labels: class indices 0..K-1 for classification, real values for regression. */
export type Labels = Float64Array | Float32Array | Int32Array | Uint8Array | readonly number[];

/** Build a matrix from nested arrays (convenient for tests and small inputs). */
export function matrixFromRows(rows: readonly (readonly number[])[]): Matrix {
  const nRows = rows.length;
  const nCols = nRows === 0 ? 0 : rows[0].length;
  const data = new Float64Array(nRows * nCols);
  for (let i = 0; i < nRows; i++) {
    if (rows[i].length !== nCols)
      throw new InvalidInputError(`row ${i} has ${rows[i].length} values, expected ${nCols}`);
    data.set(rows[i], i * nCols);
  }
  return { data, nRows, nCols };
}

/** Shared checks for every trainer: non-empty, consistent lengths, finite labels and features. */
export function checkTrainingData(x: Matrix, y: Labels, allowNaNFeatures: boolean): void {
  if (x.nRows === 0 || x.nCols === 0) {
    throw new InvalidTrainingDataError('empty_data', `training data is empty (${x.nRows} rows × ${x.nCols} columns)`);
  }
  if (x.data.length !== x.nRows * x.nCols) {
    throw new InvalidTrainingDataError(
      'length_mismatch',
      `matrix data has ${x.data.length} values but nRows × nCols = ${x.nRows * x.nCols}`,
    );
  }
  if (y.length !== x.nRows) {
    throw new InvalidTrainingDataError('length_mismatch', `${y.length} labels for ${x.nRows} rows`);
  }
  for (let i = 0; i < y.length; i++) {
    if (!Number.isFinite(y[i])) {
      throw new InvalidTrainingDataError('non_finite_label', `label at row ${i} is ${y[i]}`);
    }
  }
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v === Infinity || v === -Infinity || (!allowNaNFeatures && v !== v)) {
      throw new InvalidTrainingDataError(
        'non_finite_feature',
        `feature ${i % x.nCols} at row ${Math.floor(i / x.nCols)} is ${v}` +
          (allowNaNFeatures ? '' : ' (impute missing values first)'),
      );
    }
  }
}

/** Validate class labels 0..K-1 and return K (at least 2). */
export function countClasses(y: Labels, nClasses?: number): number {
  let max = -1;
  const seen = new Set<number>();
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isInteger(v) || v < 0) {
      throw new InvalidTrainingDataError('invalid_label', `class label at row ${i} is ${v}; expected an integer ≥ 0`);
    }
    if (nClasses !== undefined && v >= nClasses) {
      throw new InvalidTrainingDataError('invalid_label', `class label at row ${i} is ${v}; expected < ${nClasses}`);
    }
    if (v > max) max = v;
    seen.add(v);
  }
  if (seen.size < 2) {
    throw new InvalidTrainingDataError('single_class', `labels contain only one class (${[...seen].join(', ')})`);
  }
  return nClasses ?? max + 1;
}

/** Sample weights checked against the row count: finite, non-negative, some positive. Undefined stays undefined. */
export function checkSampleWeights(weights: ArrayLike<number> | undefined, rows: number): Float64Array | undefined {
  if (weights === undefined) return undefined;
  if (weights.length !== rows) {
    throw new InvalidParameterError('sampleWeights', `has ${weights.length} values for ${rows} rows`);
  }
  const checked = Float64Array.from(weights);
  if (checked.some((w) => !(w >= 0) || !Number.isFinite(w)) || !checked.some((w) => w > 0)) {
    throw new InvalidParameterError('sampleWeights', 'must be finite and non-negative, and not all zero');
  }
  return checked;
}
