import {
  type DeploymentEnvironment,
  FINAL_ROLLOUT_STATES,
  type RolloutSpec,
  type RolloutState,
  type RolloutStrategy,
  type RolloutTrigger,
  WellKnownAlias,
} from '@keel/contracts';

/** The strategies that run a rollout (`replace` moves the champion at once and never creates one). */
export type ProgressiveStrategy = Exclude<RolloutStrategy, 'replace'>;

/** The alias that keeps the version a blue-green switch replaced, warm for an instant switch back. */
export const PREVIOUS_ALIAS = 'previous';

/** How a rollout got into its current state. */
export interface RolloutTransition {
  from?: RolloutState;
  to: RolloutState;
  trigger: RolloutTrigger;
  reason: string;
  actor: string;
  at: Date;
}

/** A rollout of one candidate version of a model into production, as persisted after each transition. */
export interface Rollout {
  rolloutId: string;
  pipelineId: string;
  modelName: string;
  strategy: ProgressiveStrategy;
  candidateVersion: number;
  /** The champion when the rollout started; absent when the model had none. */
  baselineVersion?: number;
  state: RolloutState;
  /** Canary step index (0-based); 0 for the other strategies. */
  step: number;
  /** Share of production traffic the candidate answers, percent. */
  candidateWeight: number;
  /** Whether the candidate gets a mirrored copy of production traffic (shadow). */
  mirrored: boolean;
  /** The spec's rollout section when the rollout started: a spec change does not alter a rollout under way. */
  plan: RolloutSpec;
  startedAt: Date;
  /** When the current state or step began: bake times count from here. */
  enteredAt: Date;
  transition: RolloutTransition;
}

export interface TransitionInput {
  trigger: RolloutTrigger;
  reason: string;
  actor: string;
  at: Date;
}

/** A transition the machine refuses in the rollout's current state, with the reason in words. */
export class RolloutTransitionRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RolloutTransitionRefusedError';
  }
}

export const isFinal = (state: RolloutState) => FINAL_ROLLOUT_STATES.includes(state);

/** The environment a rollout's current state acts in: staging while it is tried there, production after. */
export const environmentOf = (rollout: Pick<Rollout, 'state'>): DeploymentEnvironment =>
  rollout.state === 'staging' ? 'staging' : 'production';

/** Traffic the candidate gets in a state: its share of answers, and whether it sees a mirrored copy. */
export function trafficOf(
  strategy: ProgressiveStrategy,
  state: RolloutState,
  step: number,
  plan: RolloutSpec,
): { candidateWeight: number; mirrored: boolean } {
  if (state === 'promoted') return { candidateWeight: 100, mirrored: false };
  // A paused rollout holds the traffic of the step it was paused at.
  if (state !== 'progressing' && state !== 'paused') return { candidateWeight: 0, mirrored: false };
  switch (strategy) {
    case 'canary':
      return { candidateWeight: plan.canary.steps[step].weight, mirrored: false };
    case 'ab':
      return { candidateWeight: plan.ab.weight, mirrored: false };
    case 'shadow':
      return { candidateWeight: 0, mirrored: true };
    case 'blue-green':
      return { candidateWeight: 100, mirrored: false };
  }
}

/** The first state of a rollout: staging when the plan asks for it, else the first production step. */
export function startRollout(input: {
  rolloutId: string;
  pipelineId: string;
  modelName: string;
  strategy: ProgressiveStrategy;
  candidateVersion: number;
  baselineVersion?: number;
  plan: RolloutSpec;
  reason: string;
  actor: string;
  at: Date;
}): Rollout {
  const { reason, actor, at, ...identity } = input;
  const state: RolloutState = input.plan.staging.enabled ? 'staging' : 'progressing';
  return {
    ...identity,
    state,
    step: 0,
    ...trafficOf(input.strategy, state, 0, input.plan),
    startedAt: at,
    enteredAt: at,
    transition: { to: state, trigger: 'start', reason, actor, at },
  };
}

const ACTIVE: readonly RolloutState[] = ['staging', 'progressing', 'paused'];

/** Where each trigger may fire from, and where it leads (`advance` decides between the next step and promotion). */
const TABLE: Record<
  Exclude<RolloutTrigger, 'start'>,
  { from: readonly RolloutState[]; to: RolloutState | 'advance' }
> = {
  'staging-passed': { from: ['staging'], to: 'progressing' },
  'staging-failed': { from: ['staging'], to: 'rejected' },
  'analysis-passed': { from: ['progressing'], to: 'advance' },
  'analysis-failed': { from: ['progressing', 'paused'], to: 'rolled-back' },
  promote: { from: ACTIVE, to: 'promoted' },
  // Also after promotion: switching back to the baseline (blue-green keeps it warm for exactly this).
  rollback: { from: [...ACTIVE, 'promoted'], to: 'rolled-back' },
  pause: { from: ['progressing'], to: 'paused' },
  resume: { from: ['paused'], to: 'progressing' },
  abort: { from: ACTIVE, to: 'aborted' },
  supersede: { from: ACTIVE, to: 'aborted' },
};

/**
 * The rollout after `input.trigger`, or RolloutTransitionRefusedError when the trigger cannot fire in the current
 * state (pausing a promoted rollout, advancing a paused one, ...). Pure: persistence and effects are the caller's.
 */
export function transition(current: Rollout, input: TransitionInput): Rollout {
  if (input.trigger === 'start') throw new RolloutTransitionRefusedError('a rollout is started once, by startRollout');
  const rule = TABLE[input.trigger];
  if (!rule.from.includes(current.state)) {
    throw new RolloutTransitionRefusedError(
      `cannot ${input.trigger} rollout ${current.rolloutId}: it is ${current.state}` +
        (isFinal(current.state) ? ' (final)' : ''),
    );
  }
  if (current.state === 'promoted' && current.baselineVersion === undefined) {
    throw new RolloutTransitionRefusedError(`cannot roll back rollout ${current.rolloutId}: there is no baseline`);
  }
  let state: RolloutState;
  let step = current.step;
  if (rule.to === 'advance') {
    const lastStep = current.strategy !== 'canary' || step + 1 >= current.plan.canary.steps.length;
    state = lastStep ? 'promoted' : 'progressing';
    if (!lastStep) step += 1;
  } else {
    state = rule.to;
  }
  // A resumed step bakes its full time again: what was seen before the pause may be stale.
  return {
    ...current,
    state,
    step,
    ...trafficOf(current.strategy, state, step, current.plan),
    enteredAt: input.at,
    transition: {
      from: current.state,
      to: state,
      trigger: input.trigger,
      reason: input.reason,
      actor: input.actor,
      at: input.at,
    },
  };
}

/**
 * Where the aliases stand once a rollout is in its state. Serving follows aliases: `staging` loads the candidate for
 * its trial, `challenger` keeps it loaded in production while it takes a share, `champion` answers by default and
 * `previous` keeps a switched-out version warm. Applying these is idempotent (an alias already there does not move).
 */
export function aliasTargets(rollout: Rollout): { alias: string; version: number }[] {
  const { candidateVersion: candidate, baselineVersion: baseline } = rollout;
  switch (rollout.state) {
    case 'staging':
      return [{ alias: WellKnownAlias.STAGING, version: candidate }];
    case 'progressing':
    case 'paused':
      if (rollout.strategy === 'blue-green') {
        return [
          { alias: WellKnownAlias.CHALLENGER, version: candidate },
          ...(baseline !== undefined ? [{ alias: PREVIOUS_ALIAS, version: baseline }] : []),
          { alias: WellKnownAlias.CHAMPION, version: candidate },
        ];
      }
      return [{ alias: WellKnownAlias.CHALLENGER, version: candidate }];
    case 'promoted':
      return [
        ...(baseline !== undefined ? [{ alias: PREVIOUS_ALIAS, version: baseline }] : []),
        { alias: WellKnownAlias.CHAMPION, version: candidate },
      ];
    case 'rolled-back':
    case 'aborted':
      return baseline !== undefined ? [{ alias: WellKnownAlias.CHAMPION, version: baseline }] : [];
    case 'rejected':
      return [];
  }
}

/** Whether a bake timer or analysis may move the rollout now: progressing and its step's time is up. */
export function bakeElapsed(rollout: Rollout, now: Date): boolean {
  if (rollout.state !== 'progressing') return false;
  const seconds =
    rollout.strategy === 'canary'
      ? rollout.plan.canary.steps[rollout.step].bakeSeconds
      : rollout.strategy === 'shadow'
        ? rollout.plan.shadow.durationSeconds
        : rollout.strategy === 'ab'
          ? rollout.plan.ab.maxDurationSeconds
          : rollout.plan.blueGreen.keepPreviousSeconds;
  return now.getTime() - new Date(rollout.enteredAt).getTime() >= seconds * 1000;
}
