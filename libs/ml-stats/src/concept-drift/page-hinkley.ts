import { StatsInputError } from '../errors';

/** Page-Hinkley parameters (River's names and defaults). */
export interface PageHinkleyOptions {
  /** Observations before the test may fire (default 30). */
  minInstances?: number;
  /** Magnitude of change tolerated (default 0.005). */
  delta?: number;
  /** λ: the cumulative deviation that fires (default 50). */
  threshold?: number;
  /** Forgetting factor of the cumulative sums (default 1 − 1e-4). */
  alpha?: number;
  /** Changes looked for: increases, decreases or both (default both). */
  mode?: 'up' | 'down' | 'both';
}

/** Serialisable state of a PageHinkley detector. */
export interface PageHinkleyJson {
  kind: 'page-hinkley';
  options: Required<PageHinkleyOptions>;
  n: number;
  mean: number;
  sumIncrease: number;
  sumDecrease: number;
  minIncrease: number | null;
  maxDecrease: number;
  detected: boolean;
  lastStatistic: number;
}

/**
 * The two-sided Page-Hinkley test on a stream (a CUSUM of deviations from the running mean), as River's
 * `drift.PageHinkley`: after a detection, the next update starts afresh. `statistic` is the larger of the two
 * one-sided test values after the last update (0 before minInstances); the test fires when it exceeds `threshold`.
 */
export class PageHinkley {
  readonly options: Required<PageHinkleyOptions>;
  private n = 0;
  private mean = 0;
  private sumIncrease = 0;
  private sumDecrease = 0;
  private minIncrease = Number.POSITIVE_INFINITY;
  // River starts the running maximum at -1, not -∞; kept for parity (it only matters on the first few values).
  private maxDecrease = -1;
  private detected = false;
  private lastStatistic = 0;

  constructor(options: PageHinkleyOptions = {}) {
    this.options = {
      minInstances: options.minInstances ?? 30,
      delta: options.delta ?? 0.005,
      threshold: options.threshold ?? 50,
      alpha: options.alpha ?? 1 - 0.0001,
      mode: options.mode ?? 'both',
    };
    if (!(this.options.threshold > 0)) throw new StatsInputError('invalid-argument', 'threshold must be > 0');
    if (!(this.options.minInstances >= 1)) throw new StatsInputError('invalid-argument', 'minInstances must be >= 1');
  }

  /** True when the last update detected a change. */
  get driftDetected(): boolean {
    return this.detected;
  }

  /** The larger one-sided test value after the last update (what is compared with the threshold). */
  get statistic(): number {
    return this.lastStatistic;
  }

  get threshold(): number {
    return this.options.threshold;
  }

  /** Adds one value; returns true when it completes a detection. */
  update(x: number): boolean {
    if (!Number.isFinite(x)) throw new StatsInputError('non-finite', 'a Page-Hinkley value must be finite');
    if (this.detected) this.reset();
    this.n += 1;
    this.mean += (x - this.mean) / this.n;
    const deviation = x - this.mean;
    const { alpha, delta, minInstances, threshold, mode } = this.options;
    this.sumIncrease = alpha * this.sumIncrease + deviation - delta;
    this.sumDecrease = alpha * this.sumDecrease + deviation + delta;
    if (this.sumIncrease < this.minIncrease) this.minIncrease = this.sumIncrease;
    if (this.sumDecrease > this.maxDecrease) this.maxDecrease = this.sumDecrease;
    this.lastStatistic = 0;
    if (this.n >= minInstances) {
      const increase = this.sumIncrease - this.minIncrease;
      const decrease = this.maxDecrease - this.sumDecrease;
      const tested = mode === 'up' ? increase : mode === 'down' ? decrease : Math.max(increase, decrease);
      this.lastStatistic = Math.max(0, tested);
      this.detected = tested > threshold;
    }
    return this.detected;
  }

  toJSON(): PageHinkleyJson {
    return {
      kind: 'page-hinkley',
      options: this.options,
      n: this.n,
      mean: this.mean,
      sumIncrease: this.sumIncrease,
      sumDecrease: this.sumDecrease,
      minIncrease: Number.isFinite(this.minIncrease) ? this.minIncrease : null,
      maxDecrease: this.maxDecrease,
      detected: this.detected,
      lastStatistic: this.lastStatistic,
    };
  }

  static fromJSON(json: PageHinkleyJson): PageHinkley {
    const detector = new PageHinkley(json.options);
    detector.n = json.n;
    detector.mean = json.mean;
    detector.sumIncrease = json.sumIncrease;
    detector.sumDecrease = json.sumDecrease;
    detector.minIncrease = json.minIncrease ?? Number.POSITIVE_INFINITY;
    detector.maxDecrease = json.maxDecrease;
    detector.detected = json.detected;
    detector.lastStatistic = json.lastStatistic;
    return detector;
  }

  private reset(): void {
    this.n = 0;
    this.mean = 0;
    this.sumIncrease = 0;
    this.sumDecrease = 0;
    this.minIncrease = Number.POSITIVE_INFINITY;
    this.maxDecrease = -1;
    this.detected = false;
  }
}
