import { type Rollout } from './rollout-machine';

/** What an analysis concluded about a rollout's current step. */
export type AnalysisVerdict =
  | { outcome: 'pass'; reason: string }
  | { outcome: 'fail'; reason: string }
  /** Not enough evidence yet (too few requests, labels still to come): the step keeps running. */
  | { outcome: 'wait'; reason: string };

/**
 * Judges a rollout's candidate against the champion on the current step (the rollout at `revision`), with the
 * thresholds of the rollout's plan. The driver asks it every tick; a failing verdict rolls back at once, a passing
 * one advances once the step's bake time is up.
 */
export interface RolloutAnalysisSource {
  evaluate(rollout: Rollout, revision: number, now: Date): Promise<AnalysisVerdict>;
}

export const ROLLOUT_ANALYSIS = Symbol('RolloutAnalysisSource');
