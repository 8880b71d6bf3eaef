import { StatsInputError } from '../errors';
import { KllSketch, type KllSketchJson } from './kll';

/** JSON form of a {@link NumericSummary} (all numbers finite, so it round-trips through JSON.stringify). */
export interface NumericSummaryJson {
  readonly kind: 'numeric';
  readonly version: 1;
  readonly edges: number[];
  readonly binCounts: number[];
  readonly count: number;
  readonly missing: number;
  readonly mean: number;
  /** Sum of squared deviations from the mean (Welford's M2). */
  readonly m2: number;
  readonly sketch: KllSketchJson;
}

/** Options for a new summary. */
export interface NumericSummaryOptions {
  /** KLL accuracy parameter; default 1024 (≈ 0.2 % rank error, ~3k retained values). */
  readonly sketchK?: number;
  /** Sketch seed; default 1. Equal seeds and insertion orders give identical summaries. */
  readonly seed?: number;
}

/**
 * Mergeable, JSON-serialisable summary of one numeric feature over a window: counts in fixed bins (interior `edges`,
 * normally the reference quantiles, so bins are (−∞, e₀], (e₀, e₁], …, (eₖ₋₁, ∞)), count of missing values, mean and
 * variance (Welford/Chan), and a KLL sketch for KS and Wasserstein. Memory is O(bins + k) whatever the window length.
 */
export class NumericSummary {
  private readonly bins: Float64Array;
  private n = 0;
  private nMissing = 0;
  private mu = 0;
  private m2 = 0;
  private sketchState: KllSketch;
  private readonly interior: Float64Array;

  constructor(edges: ArrayLike<number>, options: NumericSummaryOptions = {}) {
    this.interior = Float64Array.from(edges);
    for (let i = 0; i < this.interior.length; i++) {
      if (!Number.isFinite(this.interior[i]) || (i > 0 && !(this.interior[i] > this.interior[i - 1]))) {
        throw new StatsInputError('invalid-argument', 'edges must be finite and strictly increasing');
      }
    }
    this.bins = new Float64Array(this.interior.length + 1);
    this.sketchState = new KllSketch(options.sketchK ?? 1024, options.seed ?? 1);
  }

  /** Interior bin edges. */
  get edges(): Float64Array {
    return this.interior;
  }
  /** Count per bin (length edges + 1). */
  get binCounts(): Float64Array {
    return this.bins;
  }
  /** Non-missing values seen. */
  get count(): number {
    return this.n;
  }
  get missing(): number {
    return this.nMissing;
  }
  get mean(): number {
    return this.mu;
  }
  /** Population standard deviation (ddof 0, as numpy). */
  get std(): number {
    return this.n ? Math.sqrt(this.m2 / this.n) : 0;
  }
  get sketch(): KllSketch {
    return this.sketchState;
  }

  /** Adds a value; `null`/`undefined` count as missing. NaN and ±Infinity throw (encode missing as null). */
  add(value: number | null | undefined): void {
    if (value === null || value === undefined) {
      this.nMissing++;
      return;
    }
    if (!Number.isFinite(value)) {
      throw new StatsInputError('non-finite', `numeric summary got ${value}; pass null for a missing value`);
    }
    // Bin i holds (e_{i-1}, e_i]: the number of edges strictly below the value.
    this.bins[lowerBoundStrict(this.interior, value)]++;
    this.n++;
    const delta = value - this.mu;
    this.mu += delta / this.n;
    this.m2 += delta * (value - this.mu);
    this.sketchState.update(value);
  }

  /** Counts `count` missing values at once (a column absent from a batch). */
  addMissing(count: number): void {
    if (!Number.isInteger(count) || count < 0)
      throw new StatsInputError('invalid-argument', `count must be a non-negative integer, got ${count}`);
    this.nMissing += count;
  }

  /** Adds many values. */
  addAll(values: ArrayLike<number | null>): this {
    for (let i = 0; i < values.length; i++) this.add(values[i]);
    return this;
  }

  /** A new summary of both windows. Both must use the same edges. */
  merge(other: NumericSummary): NumericSummary {
    if (other.interior.length !== this.interior.length || other.interior.some((e, i) => e !== this.interior[i])) {
      throw new StatsInputError('invalid-argument', 'cannot merge numeric summaries with different bin edges');
    }
    const out = NumericSummary.fromJSON(this.toJSON());
    for (let i = 0; i < out.bins.length; i++) out.bins[i] += other.bins[i];
    const n = this.n + other.n;
    if (n > 0) {
      // Chan et al. pairwise update of mean and M2.
      const delta = other.mu - this.mu;
      out.mu = this.mu + (delta * other.n) / n;
      out.m2 = this.m2 + other.m2 + (delta * delta * this.n * other.n) / n;
    }
    out.n = n;
    out.nMissing = this.nMissing + other.nMissing;
    out.sketchState = this.sketchState.merge(other.sketchState);
    return out;
  }

  /**
   * The same summary on other bin edges (another sample's quantiles, to compare with it): `values`, the ones this
   * summary was built from, counted again into the new bins; count, mean, variance and the sketch copied rather than
   * rebuilt, so comparing one sample with several references sketches it once.
   */
  rebin(edges: ArrayLike<number>, values: ArrayLike<number | null>): NumericSummary {
    const out = new NumericSummary(edges, { sketchK: this.sketchState.k });
    let counted = 0;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value === null || value === undefined) continue;
      out.bins[lowerBoundStrict(out.interior, value)]++;
      counted++;
    }
    if (counted !== this.n) {
      throw new StatsInputError('invalid-argument', `rebin got ${counted} values, the summary holds ${this.n}`);
    }
    out.n = this.n;
    out.nMissing = this.nMissing;
    out.mu = this.mu;
    out.m2 = this.m2;
    out.sketchState = KllSketch.fromJSON(this.sketchState.toJSON());
    return out;
  }

  toJSON(): NumericSummaryJson {
    return {
      kind: 'numeric',
      version: 1,
      edges: Array.from(this.interior),
      binCounts: Array.from(this.bins),
      count: this.n,
      missing: this.nMissing,
      mean: this.mu,
      m2: this.m2,
      sketch: this.sketchState.toJSON(),
    };
  }

  static fromJSON(json: NumericSummaryJson): NumericSummary {
    if (json.kind !== 'numeric' || json.version !== 1) {
      throw new StatsInputError('invalid-argument', `not a version-1 numeric summary (kind ${json.kind})`);
    }
    const s = new NumericSummary(json.edges, { sketchK: json.sketch.k });
    if (json.binCounts.length !== s.bins.length) {
      throw new StatsInputError('invalid-argument', 'numeric summary JSON: binCounts length does not match edges');
    }
    s.bins.set(json.binCounts);
    s.n = json.count;
    s.nMissing = json.missing;
    s.mu = json.mean;
    s.m2 = json.m2;
    s.sketchState = KllSketch.fromJSON(json.sketch);
    return s;
  }

  /**
   * A summary of a reference sample whose bins are its own quantiles (`bins` equal-mass bins; duplicate edges from
   * ties are dropped). For references too large to hold, build a sketch first and use {@link edgesFromSketch}.
   */
  static fromReference(
    values: ArrayLike<number | null>,
    bins = 10,
    options: NumericSummaryOptions = {},
  ): NumericSummary {
    const sketch = new KllSketch(options.sketchK ?? 1024, options.seed ?? 1);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v !== null && v !== undefined) sketch.update(v);
    }
    return new NumericSummary(edgesFromSketch(sketch, bins), options).addAll(values);
  }
}

/** Number of elements of ascending `sorted` strictly less than `value` (numpy searchsorted side='left'). */
function lowerBoundStrict(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `bins − 1` interior edges at the sketch's quantiles i/bins, duplicates removed. */
export function edgesFromSketch(sketch: KllSketch, bins: number): Float64Array {
  if (!Number.isInteger(bins) || bins < 2)
    throw new StatsInputError('invalid-argument', `bins must be an integer ≥ 2, got ${bins}`);
  if (sketch.count === 0) throw new StatsInputError('empty', 'cannot derive bin edges from an empty reference');
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const q = sketch.quantile(i / bins);
    if (edges.length === 0 || q > edges[edges.length - 1]) edges.push(q);
  }
  return Float64Array.from(edges);
}
