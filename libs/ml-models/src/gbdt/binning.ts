import { InvalidTrainingDataError } from '../core/errors';
import { type Matrix } from '../core/matrix';

/** Largest number of non-missing bins per feature; feature f's missing values (NaN) get bin `nBins[f]`. */
export const MAX_BINS = 255;
/** Largest float32; stands in for +∞ in thresholds because JSON has no Infinity. */
export const F32_MAX = 3.4028234663852886e38;

/**
 * Per-feature binning fitted on training data. Numeric features get up to `maxBins` quantile
 * bins; value `x` falls in the first bin `b` with `x <= thresholds[b]` (thresholds are float32
 * values, so float32 runtimes such as ONNX compare exactly like we do). Categorical features use
 * their integer code as the bin.
 */
export interface BinMapper {
  nFeatures: number;
  isCategorical: Uint8Array;
  /** Non-missing bins per feature; bin `nBins[f]` holds the missing values. */
  nBins: Uint16Array;
  /** Upper bin edges per numeric feature (length nBins - 1). */
  thresholds: Float64Array[];
}

/** Fit bin edges on the rows `rows` of `x`. */
export function fitBinMapper(x: Matrix, rows: Uint32Array, categorical: readonly number[], maxBins: number): BinMapper {
  const d = x.nCols;
  const isCategorical = new Uint8Array(d);
  for (const c of categorical) isCategorical[c] = 1;
  const nBins = new Uint16Array(d);
  const thresholds: Float64Array[] = [];
  const col = new Float64Array(rows.length);
  for (let f = 0; f < d; f++) {
    let m = 0;
    for (let i = 0; i < rows.length; i++) {
      const v = x.data[rows[i] * d + f];
      if (v === v) col[m++] = v;
    }
    if (isCategorical[f]) {
      let max = -1;
      for (let i = 0; i < m; i++) {
        const v = col[i];
        if (!Number.isInteger(v) || v < 0 || v >= MAX_BINS) {
          throw new InvalidTrainingDataError(
            v >= MAX_BINS ? 'too_many_categories' : 'invalid_category_code',
            `categorical feature ${f} has code ${v}; codes must be integers in [0, ${MAX_BINS - 1}]`,
          );
        }
        if (v > max) max = v;
      }
      nBins[f] = Math.max(1, max + 1);
      thresholds.push(new Float64Array(0));
      continue;
    }
    const sorted = col.subarray(0, m).sort();
    const cuts = numericCuts(sorted, maxBins);
    thresholds.push(cuts);
    nBins[f] = cuts.length + 1;
  }
  return { nFeatures: d, isCategorical, nBins, thresholds };
}

/** Cut points between distinct values so that each bin holds about n / maxBins values. */
function numericCuts(sorted: Float64Array, maxBins: number): Float64Array {
  const n = sorted.length;
  const cuts: number[] = [];
  if (n === 0) return new Float64Array(0);
  let distinct = 1;
  for (let i = 1; i < n; i++) if (sorted[i] !== sorted[i - 1]) distinct++;
  const perBin = distinct <= maxBins ? 0 : n / maxBins;
  let nextBoundary = perBin;
  for (let i = 1; i < n; i++) {
    if (sorted[i] === sorted[i - 1]) continue;
    // A cut between sorted[i-1] and sorted[i] once enough values are to its left.
    if (perBin === 0 || i >= nextBoundary) {
      const t = Math.fround((sorted[i - 1] + sorted[i]) / 2);
      if (cuts.length === 0 || t > cuts[cuts.length - 1]) cuts.push(t);
      if (perBin) while (nextBoundary <= i) nextBoundary += perBin;
      if (cuts.length === maxBins - 1) break;
    }
  }
  return Float64Array.from(cuts);
}

/**
 * Start of each feature's slots in a histogram (`nBins[f] + 1` slots of [grad, hess]).
 * Packing features tightly keeps a whole histogram in L1 cache for typical data.
 */
export function histogramOffsets(nBins: Uint16Array): Int32Array {
  const off = new Int32Array(nBins.length + 1);
  for (let f = 0; f < nBins.length; f++) off[f + 1] = off[f] + (nBins[f] + 1) * 2;
  return off;
}

/** Bin of one numeric value: first `b` with `v <= thresholds[b]`. */
export function binNumeric(t: Float64Array, v: number): number {
  let lo = 0;
  let hi = t.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v <= t[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Bin the rows `rows` of `x` into a row-major `rows.length × nFeatures` byte matrix. */
export function binRows(mapper: BinMapper, x: Matrix, rows: Uint32Array): Uint8Array {
  const d = x.nCols;
  const out = new Uint8Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) {
    const src = rows[i] * d;
    const dst = i * d;
    for (let f = 0; f < d; f++) {
      const v = x.data[src + f];
      if (v !== v) out[dst + f] = mapper.nBins[f];
      else if (mapper.isCategorical[f]) {
        // Codes unseen in training are in no split's category set, so they go right, as at inference.
        if (!Number.isInteger(v) || v < 0 || v >= MAX_BINS) {
          throw new InvalidTrainingDataError('invalid_category_code', `categorical feature ${f} has code ${v}`);
        }
        out[dst + f] = v;
      } else out[dst + f] = binNumeric(mapper.thresholds[f], v);
    }
  }
  return out;
}
