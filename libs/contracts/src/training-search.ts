import { z } from 'zod';

/**
 * Hyperparameter search in the pipeline spec (`training.search`): per algorithm, a space, a strategy and a budget.
 * Trials train on the train split and are scored by the primary metric on the validation split; the best
 * configuration of each algorithm is refit on train and validation together and judged on the holdout.
 */

/** One hyperparameter's distribution (the shape `@keel/ml-models` samples from). */
export const SearchDistribution = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('uniform'), min: z.number(), max: z.number() }),
  z.object({ kind: z.literal('logUniform'), min: z.number().positive(), max: z.number().positive() }),
  z.object({ kind: z.literal('int'), min: z.number().int(), max: z.number().int() }),
  z.object({ kind: z.literal('choice'), values: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1) }),
]);
export type SearchDistribution = z.infer<typeof SearchDistribution>;

/**
 * random: configurations drawn from the space; successive-halving and hyperband: many configurations on a small
 * resource, the best 1/eta promoted to eta times more (bad trials stop early). The resource is boosting rounds for
 * gbdt and the fraction of training rows for linear models.
 */
export const SearchStrategy = z.enum(['random', 'successive-halving', 'hyperband']);
export type SearchStrategy = z.infer<typeof SearchStrategy>;

/** Hyperparameters a search may vary, per algorithm (the trainers' option names). */
export const SEARCHABLE_PARAMS = {
  gbdt: [
    'learningRate',
    'maxIterations',
    'maxLeaves',
    'maxDepth',
    'minSamplesLeaf',
    'minHessianLeaf',
    'l2',
    'minGain',
    'subsample',
    'colsample',
  ],
  'logistic-regression': ['l2'],
  'linear-regression': ['l2'],
} as const;

export const AlgorithmSearch = z
  .object({
    space: z.record(z.string(), SearchDistribution),
    strategy: SearchStrategy.default('random'),
    /** Most trials (trainings) the search runs. */
    trials: z.number().int().min(1).max(10_000).optional(),
    /** No trial starts after this many seconds of the search (the trials then depend on the machine's speed). */
    maxSeconds: z.number().positive().max(86_400).optional(),
    /** Seed of the configurations drawn; the spec's training seed by default. */
    seed: z.number().int().optional(),
    /** Halving: keep the best 1/eta of a rung, give it eta times the resource. */
    eta: z.number().int().min(2).max(10).default(3),
    /** Halving: the smallest and largest resource (gbdt: rounds, default 500 and 500/eta²; linear: row fraction, 1 and 1/eta²). */
    minResource: z.number().positive().optional(),
    maxResource: z.number().positive().optional(),
  })
  .refine((search) => search.trials !== undefined || search.maxSeconds !== undefined, {
    message: 'a search needs a budget: trials and/or maxSeconds',
  });
export type AlgorithmSearch = z.infer<typeof AlgorithmSearch>;

/** `training.search`: per algorithm of `training.algorithms`; an algorithm without an entry trains its defaults. */
export const TrainingSearch = z.object({
  'logistic-regression': AlgorithmSearch.optional(),
  'linear-regression': AlgorithmSearch.optional(),
  gbdt: AlgorithmSearch.optional(),
});
export type TrainingSearch = z.infer<typeof TrainingSearch>;

/** Problems of a search the schema alone cannot see: parameter names, bounds, resources, the validation split. */
export function searchIssues(
  search: TrainingSearch,
  algorithms: readonly string[],
  validationFraction: number,
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  if (validationFraction <= 0) {
    issues.push({ path: [], message: 'a search scores trials on the validation split: split.validationFraction > 0' });
  }
  for (const [algorithm, entry] of Object.entries(search) as [keyof typeof SEARCHABLE_PARAMS, AlgorithmSearch][]) {
    if (!entry) continue;
    if (!algorithms.includes(algorithm)) {
      issues.push({ path: [algorithm], message: `${algorithm} is not in training.algorithms` });
    }
    const allowed: readonly string[] = SEARCHABLE_PARAMS[algorithm];
    for (const [name, d] of Object.entries(entry.space)) {
      if (!allowed.includes(name)) {
        issues.push({ path: [algorithm, 'space', name], message: `${algorithm} takes ${allowed.join(', ')}` });
      } else if (d.kind !== 'choice' && !(d.min <= d.max)) {
        issues.push({ path: [algorithm, 'space', name], message: 'needs min <= max' });
      }
    }
    if (entry.strategy !== 'random') {
      if (algorithm === 'gbdt' && 'maxIterations' in entry.space) {
        issues.push({
          path: [algorithm, 'space', 'maxIterations'],
          message: 'halving gives gbdt its rounds as the resource: set maxResource instead',
        });
      }
      const max = entry.maxResource ?? (algorithm === 'gbdt' ? 500 : 1);
      const min = entry.minResource ?? max / entry.eta ** 2;
      if (!(min <= max)) issues.push({ path: [algorithm, 'minResource'], message: 'needs minResource <= maxResource' });
      if (algorithm !== 'gbdt' && max > 1) {
        issues.push({ path: [algorithm, 'maxResource'], message: 'a linear model’s resource is a row fraction ≤ 1' });
      }
    }
  }
  return issues;
}
