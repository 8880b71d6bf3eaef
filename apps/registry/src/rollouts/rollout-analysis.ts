import { type Rollout } from './rollout-machine';

/** What an analysis concluded about a rollout's current step. */
export type AnalysisVerdict =
  | { outcome: 'pass'; reason: string }
  | { outcome: 'fail'; reason: string }
  /** Not enough evidence yet (too few requests, labels still to come): the step keeps running. */
  | { outcome: 'wait'; reason: string };

/**
 * Judges a rollout's candidate against the champion once its step has baked, with the thresholds of the rollout's
 * plan. The driver asks it; a failing verdict rolls back at once, a passing one advances.
 */
export interface RolloutAnalysisSource {
  evaluate(rollout: Rollout): Promise<AnalysisVerdict>;
}

export const ROLLOUT_ANALYSIS = Symbol('RolloutAnalysisSource');

/** Passes every step once its bake time is up: the plan's timing alone, where no signals are wired in. */
export class BakeTimeOnlyAnalysis implements RolloutAnalysisSource {
  evaluate(rollout: Rollout): Promise<AnalysisVerdict> {
    return Promise.resolve({
      outcome: 'pass',
      reason: `step ${rollout.step + 1} baked its time; no analysis signals are wired in`,
    });
  }
}
