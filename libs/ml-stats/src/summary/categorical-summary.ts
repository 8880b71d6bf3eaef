import { StatsInputError } from '../errors';

/** JSON form of a {@link CategoricalSummary}; counts as pairs so any category string (even "__proto__") is safe. */
export interface CategoricalSummaryJson {
  readonly kind: 'categorical';
  readonly version: 1;
  readonly counts: [category: string, count: number][];
  readonly missing: number;
}

/** Mergeable, JSON-serialisable count of each category of one feature over a window, plus missing values. */
export class CategoricalSummary {
  private readonly map = new Map<string, number>();
  private nMissing = 0;
  private n = 0;

  /** Adds a value; `null`/`undefined` count as missing. */
  add(value: string | null | undefined): void {
    if (value === null || value === undefined) {
      this.nMissing++;
      return;
    }
    this.map.set(value, (this.map.get(value) ?? 0) + 1);
    this.n++;
  }

  /** Adds `count` occurrences of one category at once (pre-aggregated data). */
  addCount(value: string, count: number): void {
    if (!Number.isInteger(count) || count < 0)
      throw new StatsInputError('invalid-argument', `count must be a non-negative integer, got ${count}`);
    if (count === 0) return;
    this.map.set(value, (this.map.get(value) ?? 0) + count);
    this.n += count;
  }

  /** Counts `count` missing values at once (a column absent from a batch). */
  addMissing(count: number): void {
    if (!Number.isInteger(count) || count < 0)
      throw new StatsInputError('invalid-argument', `count must be a non-negative integer, got ${count}`);
    this.nMissing += count;
  }

  addAll(values: ArrayLike<string | null>): this {
    for (let i = 0; i < values.length; i++) this.add(values[i]);
    return this;
  }

  /** Non-missing values seen. */
  get count(): number {
    return this.n;
  }
  get missing(): number {
    return this.nMissing;
  }
  /** Count per category (read-only view). */
  get counts(): ReadonlyMap<string, number> {
    return this.map;
  }

  merge(other: CategoricalSummary): CategoricalSummary {
    const out = CategoricalSummary.fromJSON(this.toJSON());
    for (const [k, v] of other.map) out.addCount(k, v);
    out.nMissing += other.nMissing;
    return out;
  }

  toJSON(): CategoricalSummaryJson {
    return {
      kind: 'categorical',
      version: 1,
      counts: [...this.map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
      missing: this.nMissing,
    };
  }

  static fromJSON(json: CategoricalSummaryJson): CategoricalSummary {
    if (json.kind !== 'categorical' || json.version !== 1) {
      throw new StatsInputError('invalid-argument', `not a version-1 categorical summary (kind ${json.kind})`);
    }
    const s = new CategoricalSummary();
    for (const [k, v] of json.counts) s.addCount(k, v);
    s.nMissing = json.missing;
    return s;
  }
}
