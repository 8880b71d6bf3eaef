import { type Algorithm, type AlgorithmSearch, LOWER_IS_BETTER, type PipelineSpecV1 } from '@keel/contracts';
import {
  hyperband,
  type Params,
  randomSearch,
  type SearchOptions,
  type SearchResult,
  type SearchSpace,
  successiveHalving,
} from '@keel/ml-models';
import { type TrialOutcome, type TrialSetup, type TunedConfiguration } from './tuning';

/** Runs one trial somewhere (a worker thread in the service, in-process in tests). */
export type TrialRunner = (trial: TrialSetup) => Promise<TrialOutcome>;

/** One trial as recorded: its configuration, resource and what it measured. */
export interface TrialRecord extends TrialOutcome {
  algorithm: Algorithm;
  /** 0-based, in start order, per algorithm. */
  index: number;
  /** Which drawn configuration (halving evaluates one configuration at several resources). */
  config: number;
  params: Params;
  resource: number | null;
}

/** The search of one algorithm: every trial, the best one, why it ended, how long it took. */
export interface AlgorithmSearchOutcome {
  algorithm: Algorithm;
  strategy: AlgorithmSearch['strategy'] | 'defaults';
  trials: TrialRecord[];
  best: TunedConfiguration;
  bestTrial: number;
  stoppedBy: SearchResult['stoppedBy'];
  wallMs: number;
}

export interface SearchRunOptions {
  /** Trials in flight at once. */
  concurrency: number;
  now?: () => number;
}

/** Halving's resource: boosting rounds for gbdt, the fraction of training rows for linear models. */
export function resourceRange(algorithm: Algorithm, search: AlgorithmSearch): { min: number; max: number } {
  const max = search.maxResource ?? (algorithm === 'gbdt' ? 500 : 1);
  const min = search.minResource ?? max / search.eta ** 2;
  // Rounding down keeps max/min at eta² or above, so the default schedule keeps its three rungs.
  return algorithm === 'gbdt' ? { min: Math.max(1, Math.floor(min)), max: Math.round(max) } : { min, max };
}

/**
 * Successive halving's configurations for a trial budget: the most whose whole schedule (n, n/eta, ... down to one,
 * over the rungs) fits in `trials`; without a budget, eta^rungs.
 */
export function halvingConfigs(trials: number | undefined, eta: number, rungs: number): number {
  const schedule = (n: number) => {
    let total = 0;
    let k = n;
    for (let i = 0; i <= rungs; i++) {
      total += k;
      k = Math.max(1, Math.floor(k / eta));
    }
    return total;
  };
  if (trials === undefined) return Math.ceil(eta ** rungs);
  let n = Math.max(1, trials);
  while (n > 1 && schedule(n) > trials) n--;
  return n;
}

/**
 * Searches every algorithm of the spec under its declared budget (one trial of its defaults when it declares no
 * search), trials running `concurrency` at a time. With a trial budget the trials, their scores and the best
 * configuration depend only on the seed and the data; a time budget makes the count depend on the machine.
 */
export async function searchAlgorithms(
  spec: PipelineSpecV1,
  runTrial: TrialRunner,
  options: SearchRunOptions,
): Promise<AlgorithmSearchOutcome[]> {
  const out: AlgorithmSearchOutcome[] = [];
  for (const algorithm of spec.training.algorithms) {
    out.push(await searchOne(spec, algorithm, runTrial, options));
  }
  return out;
}

async function searchOne(
  spec: PipelineSpecV1,
  algorithm: Algorithm,
  runTrial: TrialRunner,
  options: SearchRunOptions,
): Promise<AlgorithmSearchOutcome> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const seed = spec.training.seed;
  const search = spec.training.search?.[algorithm];
  const outcomes = new Map<number, TrialOutcome>();
  const evaluate = async (params: Params, resource: number | null, trial: number) => {
    const outcome = await runTrial({ algorithm, params, resource, seed });
    outcomes.set(trial, outcome);
    return outcome.score;
  };
  let result: SearchResult;
  if (!search) {
    const score = await evaluate({}, null, 0);
    const only = { index: 0, config: 0, params: {}, budget: null, score };
    result = { best: only, trials: [only], stoppedBy: 'completed' };
  } else {
    const space = search.space as SearchSpace;
    const common: SearchOptions = {
      seed: search.seed ?? seed,
      direction: LOWER_IS_BETTER.includes(spec.training.primaryMetric) ? 'minimize' : 'maximize',
      ...(search.trials !== undefined ? { maxTrials: search.trials } : {}),
      ...(search.maxSeconds !== undefined ? { timeBudgetMs: search.maxSeconds * 1000 } : {}),
      concurrency: options.concurrency,
      now,
    };
    if (search.strategy === 'random') {
      result = await randomSearch(space, (params, trial) => evaluate(params, null, trial), common);
    } else {
      const { min, max } = resourceRange(algorithm, search);
      const halving = { ...common, minBudget: min, maxBudget: max, eta: search.eta };
      const objective = (params: Params, budget: number, trial: number) => evaluate(params, budget, trial);
      if (search.strategy === 'hyperband') result = await hyperband(space, objective, halving);
      else {
        const rungs = Math.floor(Math.log(max / min) / Math.log(search.eta) + 1e-9);
        const nConfigs = halvingConfigs(search.trials, search.eta, rungs);
        result = await successiveHalving(space, objective, { ...halving, nConfigs });
      }
    }
  }
  const trials: TrialRecord[] = result.trials.map((t) => ({
    algorithm,
    index: t.index,
    config: t.config,
    params: t.params,
    resource: t.budget,
    ...outcomes.get(t.index)!,
  }));
  if (!result.best) throw new Error(`the search of ${algorithm} ran no trial`);
  const bestTrial = trials[result.best.index];
  return {
    algorithm,
    strategy: search?.strategy ?? 'defaults',
    trials,
    best: {
      algorithm,
      params: bestTrial.params,
      validationScore: bestTrial.score,
      ...(bestTrial.bestIteration !== undefined ? { bestIteration: bestTrial.bestIteration } : {}),
    },
    bestTrial: bestTrial.index,
    stoppedBy: result.stoppedBy,
    wallMs: Math.round(now() - started),
  };
}
