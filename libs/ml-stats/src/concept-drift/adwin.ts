import { StatsInputError } from '../errors';

/** ADWIN parameters (River's names and defaults). */
export interface AdwinOptions {
  /** Confidence δ of a cut (default 0.002): smaller fires later and more surely. */
  delta?: number;
  /** Cuts are checked every `clock` values (default 32). */
  clock?: number;
  /** Entries a row of the histogram holds before its two oldest merge (default 5). */
  maxBuckets?: number;
  /** Values each side of a cut needs (default 5). */
  minWindowLength?: number;
  /** Values before the first check (default 10). */
  gracePeriod?: number;
}

/** Serialisable state of an Adwin detector. */
export interface AdwinJson {
  kind: 'adwin';
  options: Required<AdwinOptions>;
  total: number;
  variance: number;
  width: number;
  tick: number;
  detections: number;
  detected: boolean;
  lastStatistic: number;
  /** rows[i]: entries summarising 2^i values each, oldest first, as [total, variance] pairs. */
  rows: [number, number][][];
}

/**
 * ADaptive WINdowing (Bifet & Gavaldà, 2007) on a stream of values, with River's `drift.ADWIN` defaults and update
 * order (so detections land on the same values): the window is an exponential histogram whose row i holds entries of
 * 2^i values; every `clock` values each cut between entries, oldest first, splits the window into an older W0 and a
 * newer W1, and when |mean(W0) − mean(W1)| exceeds ε_cut (the Hoeffding-type bound with the window's variance) the
 * oldest entry is dropped and the cuts are checked again. As in River, the update after a detection starts a fresh
 * window. `statistic` is the largest |mean(W0) − mean(W1)| / ε_cut over the cuts of the last check: above 1 fires.
 */
export class Adwin {
  readonly options: Required<AdwinOptions>;
  private total = 0;
  private variance = 0;
  private width = 0;
  private tick = 0;
  private detections = 0;
  private detected = false;
  private lastStatistic = 0;
  private rows: [number, number][][] = [[]];

  constructor(options: AdwinOptions = {}) {
    this.options = {
      delta: options.delta ?? 0.002,
      clock: options.clock ?? 32,
      maxBuckets: options.maxBuckets ?? 5,
      minWindowLength: options.minWindowLength ?? 5,
      gracePeriod: options.gracePeriod ?? 10,
    };
    const { delta, clock, maxBuckets } = this.options;
    if (!(delta > 0 && delta < 1)) throw new StatsInputError('invalid-argument', 'delta must be in (0, 1)');
    if (!(clock >= 1) || !(maxBuckets >= 2)) {
      throw new StatsInputError('invalid-argument', 'clock must be >= 1 and maxBuckets >= 2');
    }
  }

  /** True when the last update detected a change. */
  get driftDetected(): boolean {
    return this.detected;
  }

  /** Largest |Δmean| / ε_cut over the cuts of the last check (0 when the last update checked none). */
  get statistic(): number {
    return this.lastStatistic;
  }

  /** Where the statistic fires. */
  get threshold(): number {
    return 1;
  }

  /** Values in the current window. */
  get windowWidth(): number {
    return this.width;
  }

  /** Mean of the current window (0 when empty). */
  get estimation(): number {
    return this.width === 0 ? 0 : this.total / this.width;
  }

  /** Adds one value; returns true when it completes a detection. */
  update(x: number): boolean {
    if (!Number.isFinite(x)) throw new StatsInputError('non-finite', 'an ADWIN value must be finite');
    if (this.detected) this.resetWindow();
    this.insert(x);
    this.detected = this.checkCuts();
    if (this.detected) this.detections += 1;
    return this.detected;
  }

  toJSON(): AdwinJson {
    return {
      kind: 'adwin',
      options: this.options,
      total: this.total,
      variance: this.variance,
      width: this.width,
      tick: this.tick,
      detections: this.detections,
      detected: this.detected,
      lastStatistic: this.lastStatistic,
      rows: this.rows.map((row) => row.map(([total, variance]) => [total, variance])),
    };
  }

  static fromJSON(json: AdwinJson): Adwin {
    const detector = new Adwin(json.options);
    detector.total = json.total;
    detector.variance = json.variance;
    detector.width = json.width;
    detector.tick = json.tick;
    detector.detections = json.detections;
    detector.detected = json.detected;
    detector.lastStatistic = json.lastStatistic;
    detector.rows = json.rows.length > 0 ? json.rows.map((row) => row.map(([t, v]) => [t, v])) : [[]];
    return detector;
  }

  private resetWindow(): void {
    this.total = 0;
    this.variance = 0;
    this.width = 0;
    this.tick = 0;
    this.detected = false;
    this.rows = [[]];
  }

  private insert(x: number): void {
    this.rows[0].push([x, 0]);
    this.width += 1;
    if (this.width > 1) {
      const fromMean = x - this.total / (this.width - 1);
      this.variance += ((this.width - 1) * fromMean * fromMean) / this.width;
    }
    this.total += x;
    this.mergeFullRows();
  }

  /** A row holding maxBuckets + 1 entries merges its two oldest into one entry of the next row, and so on up. */
  private mergeFullRows(): void {
    const { maxBuckets } = this.options;
    for (let i = 0; i < this.rows.length && this.rows[i].length === maxBuckets + 1; i++) {
      const size = 2 ** i;
      const [[total0, variance0], [total1, variance1]] = this.rows[i].splice(0, 2);
      const meanGap = total0 / size - total1 / size;
      if (i + 1 === this.rows.length) this.rows.push([]);
      this.rows[i + 1].push([total0 + total1, variance0 + variance1 + size * 0.5 * meanGap * meanGap]);
    }
  }

  /** Drops the oldest entry (the first of the last row). */
  private dropOldest(): void {
    const last = this.rows.length - 1;
    const size = 2 ** last;
    const [total, variance] = this.rows[last].shift()!;
    this.width -= size;
    this.total -= total;
    const gap = total / size - this.total / this.width;
    this.variance -= variance + (size * this.width * gap * gap) / (size + this.width);
    if (this.rows[last].length === 0 && last > 0) this.rows.pop();
  }

  private checkCuts(): boolean {
    this.tick += 1;
    this.lastStatistic = 0;
    const { clock, gracePeriod, minWindowLength } = this.options;
    if (this.tick % clock !== 0 || !(this.width > gracePeriod)) return false;
    let changed = false;
    for (let cutFound = true; cutFound;) {
      cutFound = false;
      let n0 = 0;
      let n1 = this.width;
      let u0 = 0;
      let u1 = this.total;
      scan: for (let i = this.rows.length - 1; i >= 0; i--) {
        const size = 2 ** i;
        const row = this.rows[i];
        for (let k = 0; k < row.length; k++) {
          n0 += size;
          n1 -= size;
          u0 += row[k][0];
          u1 -= row[k][0];
          // The newest entry is never a cut: W1 would be empty.
          if (i === 0 && k === row.length - 1) break scan;
          if (n1 < minWindowLength || n0 < minWindowLength) continue;
          const ratio = Math.abs(u0 / n0 - u1 / n1) / this.cutBound(n0, n1);
          if (ratio > this.lastStatistic) this.lastStatistic = ratio;
          if (ratio > 1) {
            cutFound = true;
            changed = true;
            if (this.width > 0) this.dropOldest();
            break scan;
          }
        }
      }
    }
    return changed;
  }

  /** ε_cut of a cut into n0 older and n1 newer values. */
  private cutBound(n0: number, n1: number): number {
    const { delta, minWindowLength } = this.options;
    const deltaPrime = Math.log((2 * Math.log(this.width)) / delta);
    const m = 1 / (n0 - minWindowLength + 1) + 1 / (n1 - minWindowLength + 1);
    return Math.sqrt(2 * m * (this.variance / this.width) * deltaPrime) + (2 / 3) * deltaPrime * m;
  }
}
