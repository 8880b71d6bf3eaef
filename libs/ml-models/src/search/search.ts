import { InvalidParameterError } from '../core/errors';
import { Rng } from '../core/random';
import { type Params, sampleParams, type SearchSpace, validateSpace } from './space';

/** One evaluated configuration. */
export interface Trial {
  /** 0-based order of evaluation. */
  index: number;
  /** Which sampled configuration this is (successive halving re-evaluates configurations). */
  config: number;
  params: Params;
  /** Resource given to the objective (rounds, rows, epochs ...); null for plain random search. */
  budget: number | null;
  score: number;
}

/** Outcome of a search: the best trial (at the largest budget it reached) and all trials. */
export interface SearchResult {
  best: Trial | null;
  trials: Trial[];
  /** Why the search ended. */
  stoppedBy: 'completed' | 'trials' | 'time';
}

/** Options shared by all searches. */
export interface SearchOptions {
  seed?: number;
  /** 'maximize' (e.g. AUC) or 'minimize' (e.g. loss). Default 'maximize'. */
  direction?: 'maximize' | 'minimize';
  /** Stop after this many objective calls. */
  maxTrials?: number;
  /** Stop starting new trials once this much wall time has passed. */
  timeBudgetMs?: number;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
  /**
   * Objective calls in flight at once (default 1). Configurations are drawn in the same order and trials recorded in
   * start order whatever the concurrency, so a trial budget gives the same trials for a seed at any concurrency.
   */
  concurrency?: number;
}

/** Objective for random search; may be async. Non-finite scores count as the worst possible. */
export type Objective = (params: Params, trial: number) => number | Promise<number>;
/** Objective for budgeted searches: evaluate `params` with `budget` resources. */
export type BudgetedObjective = (params: Params, budget: number, trial: number) => number | Promise<number>;

class Runner {
  readonly trials: Trial[] = [];
  /** Objective calls started (finished ones are in `trials`). */
  private started = 0;
  readonly concurrency: number;
  stoppedBy: SearchResult['stoppedBy'] = 'completed';
  private readonly start: number;
  private readonly now: () => number;
  readonly sign: number;

  constructor(readonly options: SearchOptions) {
    this.now = options.now ?? (() => performance.now());
    this.start = this.now();
    this.sign = (options.direction ?? 'maximize') === 'maximize' ? 1 : -1;
    if (options.maxTrials !== undefined && !(Number.isInteger(options.maxTrials) && options.maxTrials >= 1)) {
      throw new InvalidParameterError('maxTrials', 'must be an integer ≥ 1');
    }
    if (options.timeBudgetMs !== undefined && !(options.timeBudgetMs > 0)) {
      throw new InvalidParameterError('timeBudgetMs', 'must be > 0');
    }
    this.concurrency = options.concurrency ?? 1;
    if (!(Number.isInteger(this.concurrency) && this.concurrency >= 1)) {
      throw new InvalidParameterError('concurrency', 'must be an integer ≥ 1');
    }
  }

  /** False (and records why) when the trial or time budget is used up. */
  canRun(): boolean {
    if (this.options.maxTrials !== undefined && this.started >= this.options.maxTrials) {
      this.stoppedBy = 'trials';
      return false;
    }
    if (this.options.timeBudgetMs !== undefined && this.now() - this.start >= this.options.timeBudgetMs) {
      this.stoppedBy = 'time';
      return false;
    }
    return true;
  }

  /** Score for ranking: higher is better; NaN and ±Infinity from a failed fit rank last. */
  key(score: number): number {
    return Number.isFinite(score) ? this.sign * score : -Infinity;
  }

  /**
   * Runs jobs with up to `concurrency` in flight while the budget allows; `next` draws the next job (undefined: none
   * left). Trials are recorded in start order once all have finished. Resolves false when the budget stopped it.
   */
  async runJobs(
    next: () => { config: number; params: Params; budget: number | null } | undefined,
    call: (params: Params, budget: number | null, trial: number) => number | Promise<number>,
  ): Promise<{ complete: boolean; scores: Map<number, number> }> {
    const finished: Trial[] = [];
    let complete = true;
    let failure: { error: unknown } | undefined;
    const lane = async () => {
      while (!failure) {
        const job = next();
        if (!job) return;
        if (!this.canRun()) {
          complete = false;
          return;
        }
        const index = this.started++;
        try {
          const score = await call(job.params, job.budget, index);
          finished.push({ index, config: job.config, params: job.params, budget: job.budget, score });
        } catch (error) {
          failure = { error };
        }
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, lane));
    if (failure) throw failure.error;
    finished.sort((a, b) => a.index - b.index);
    this.trials.push(...finished);
    return { complete, scores: new Map(finished.map((t) => [t.config, t.score])) };
  }

  result(): SearchResult {
    let best: Trial | null = null;
    for (const t of this.trials) {
      // Prefer larger budgets: a score at a small budget is not comparable with a full one.
      if (
        !best ||
        (t.budget ?? 0) > (best.budget ?? 0) ||
        ((t.budget ?? 0) === (best.budget ?? 0) && this.key(t.score) > this.key(best.score))
      ) {
        best = t;
      }
    }
    return { best, trials: this.trials, stoppedBy: this.stoppedBy };
  }
}

/**
 * Random search: draw configurations from `space` until `maxTrials` or `timeBudgetMs` runs out
 * (one of them is required). Deterministic for a seed (given a deterministic objective).
 */
export async function randomSearch(
  space: SearchSpace,
  objective: Objective,
  options: SearchOptions,
): Promise<SearchResult> {
  validateSpace(space);
  if (options.maxTrials === undefined && options.timeBudgetMs === undefined) {
    throw new InvalidParameterError('maxTrials', 'give maxTrials or timeBudgetMs');
  }
  const run = new Runner(options);
  const rng = new Rng(options.seed ?? 0);
  let config = 0;
  await run.runJobs(
    () => ({ config: config++, params: sampleParams(space, rng), budget: null }),
    (params, _budget, trial) => objective(params, trial),
  );
  return run.result();
}

/** Options for {@link successiveHalving} and {@link hyperband}. */
export interface HalvingOptions extends SearchOptions {
  minBudget: number;
  maxBudget: number;
  /** Keep the best 1/eta at each rung and multiply the budget by eta. Default 3. */
  eta?: number;
}

function checkHalving(o: HalvingOptions): { eta: number; rungs: number; integer: boolean } {
  const eta = o.eta ?? 3;
  if (!(eta >= 2)) throw new InvalidParameterError('eta', 'must be ≥ 2');
  if (!(o.minBudget > 0 && o.maxBudget >= o.minBudget)) {
    throw new InvalidParameterError('minBudget', 'need 0 < minBudget <= maxBudget');
  }
  const rungs = Math.floor(Math.log(o.maxBudget / o.minBudget) / Math.log(eta) + 1e-9);
  return { eta, rungs, integer: Number.isInteger(o.minBudget) && Number.isInteger(o.maxBudget) };
}

/** One bracket: `n` configurations starting at `rungs` rungs below the maximum budget. */
async function bracket(
  run: Runner,
  space: SearchSpace,
  objective: BudgetedObjective,
  rng: Rng,
  n: number,
  s: number,
  o: HalvingOptions,
  eta: number,
  integer: boolean,
  configBase: number,
): Promise<boolean> {
  let configs = Array.from({ length: n }, (_, i) => ({
    id: configBase + i,
    params: sampleParams(space, rng),
    key: -Infinity,
  }));
  for (let i = 0; i <= s; i++) {
    let budget = o.maxBudget * eta ** (i - s);
    if (integer) budget = Math.max(o.minBudget, Math.round(budget));
    let next = 0;
    const { complete, scores } = await run.runJobs(
      () => (next < configs.length ? { config: configs[next].id, params: configs[next++].params, budget } : undefined),
      (params, rungBudget, trial) => objective(params, rungBudget!, trial),
    );
    if (!complete) return false;
    for (const c of configs) c.key = run.key(scores.get(c.id)!);
    if (i === s) break;
    // Stable sort keeps sampling order among ties, so results stay deterministic.
    configs = [...configs].sort((a, b) => b.key - a.key).slice(0, Math.max(1, Math.floor(configs.length / eta)));
  }
  return true;
}

/**
 * Successive halving: evaluate `nConfigs` random configurations at `minBudget`, keep the best
 * 1/eta, multiply the budget by eta, and repeat up to `maxBudget`.
 */
export async function successiveHalving(
  space: SearchSpace,
  objective: BudgetedObjective,
  options: HalvingOptions & { nConfigs?: number },
): Promise<SearchResult> {
  validateSpace(space);
  const { eta, rungs, integer } = checkHalving(options);
  const n = options.nConfigs ?? Math.ceil(eta ** rungs);
  if (!(Number.isInteger(n) && n >= 1)) throw new InvalidParameterError('nConfigs', 'must be an integer ≥ 1');
  const run = new Runner(options);
  await bracket(run, space, objective, new Rng(options.seed ?? 0), n, rungs, options, eta, integer, 0);
  return run.result();
}

/**
 * Hyperband: successive-halving brackets from aggressive (many configurations, small budget)
 * to conservative (few, full budget), hedging against early scores being misleading. Repeats
 * the cycle while the trial or time budget allows, if one is given.
 */
export async function hyperband(
  space: SearchSpace,
  objective: BudgetedObjective,
  options: HalvingOptions,
): Promise<SearchResult> {
  validateSpace(space);
  const { eta, rungs, integer } = checkHalving(options);
  const run = new Runner(options);
  const rng = new Rng(options.seed ?? 0);
  let configBase = 0;
  const repeat = options.maxTrials !== undefined || options.timeBudgetMs !== undefined;
  do {
    for (let s = rungs; s >= 0; s--) {
      const n = Math.ceil(((rungs + 1) / (s + 1)) * eta ** s);
      if (!(await bracket(run, space, objective, rng, n, s, options, eta, integer, configBase))) return run.result();
      configBase += n;
    }
  } while (repeat && run.canRun());
  return run.result();
}
