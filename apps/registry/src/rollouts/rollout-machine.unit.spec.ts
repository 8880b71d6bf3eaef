import { RolloutSpec } from '@keel/contracts';
import { describe, expect, it } from 'vitest';
import {
  aliasTargets,
  bakeElapsed,
  type ProgressiveStrategy,
  type Rollout,
  RolloutTransitionRefusedError,
  startRollout,
  transition,
  type TransitionInput,
} from './rollout-machine';

const t0 = new Date('2026-12-02T06:00:00Z');
const later = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

function rolloutOf(strategy: ProgressiveStrategy, plan: unknown = {}, baselineVersion: number | null = 3) {
  return startRollout({
    rolloutId: 'm/production/v4',
    pipelineId: 'm',
    modelName: 'm',
    strategy,
    candidateVersion: 4,
    ...(baselineVersion === null ? {} : { baselineVersion }),
    plan: RolloutSpec.parse(plan),
    reason: 'gates passed',
    actor: 'registry',
    at: t0,
  });
}

const fire = (rollout: Rollout, trigger: TransitionInput['trigger'], at = later(1)) =>
  transition(rollout, { trigger, reason: `${trigger} for the test`, actor: 'alice', at });

const canaryPlan = {
  strategy: 'canary',
  canary: {
    steps: [
      { weight: 10, bakeSeconds: 60 },
      { weight: 50, bakeSeconds: 60 },
    ],
  },
};

describe('rollout state machine', () => {
  it('walks a canary through its steps to promotion, the candidate taking each step weight', () => {
    let rollout = rolloutOf('canary', canaryPlan);
    expect(rollout).toMatchObject({ state: 'progressing', step: 0, candidateWeight: 10, mirrored: false });
    expect(bakeElapsed(rollout, later(59))).toBe(false);
    expect(bakeElapsed(rollout, later(60))).toBe(true);
    rollout = fire(rollout, 'analysis-passed', later(60));
    expect(rollout).toMatchObject({ state: 'progressing', step: 1, candidateWeight: 50, enteredAt: later(60) });
    expect(rollout.transition).toMatchObject({ from: 'progressing', to: 'progressing', trigger: 'analysis-passed' });
    rollout = fire(rollout, 'analysis-passed', later(120));
    expect(rollout).toMatchObject({ state: 'promoted', candidateWeight: 100 });
    expect(aliasTargets(rollout)).toEqual([
      { alias: 'previous', version: 3 },
      { alias: 'champion', version: 4 },
    ]);
  });

  it('rolls a failing canary back: no traffic for the candidate, the champion stays the baseline', () => {
    const rollout = fire(rolloutOf('canary', canaryPlan), 'analysis-failed');
    expect(rollout).toMatchObject({ state: 'rolled-back', candidateWeight: 0 });
    expect(rollout.transition).toMatchObject({ from: 'progressing', trigger: 'analysis-failed', actor: 'alice' });
    expect(aliasTargets(rollout)).toEqual([{ alias: 'champion', version: 3 }]);
  });

  it('stages first when the plan asks for it; a staging failure rejects the candidate before production', () => {
    const staged = rolloutOf('canary', { ...canaryPlan, staging: { enabled: true } });
    expect(staged).toMatchObject({ state: 'staging', candidateWeight: 0 });
    expect(aliasTargets(staged)).toEqual([{ alias: 'staging', version: 4 }]);
    const rejected = fire(staged, 'staging-failed');
    expect(rejected.state).toBe('rejected');
    expect(aliasTargets(rejected)).toEqual([]);
    expect(() => fire(rejected, 'promote')).toThrow(RolloutTransitionRefusedError);
    expect(fire(staged, 'staging-passed')).toMatchObject({ state: 'progressing', step: 0, candidateWeight: 10 });
  });

  it('pauses at the current weight, ignores analysis while paused, and resumes with a fresh bake', () => {
    const paused = fire(rolloutOf('canary', canaryPlan), 'pause', later(30));
    expect(paused).toMatchObject({ state: 'paused', candidateWeight: 10 });
    expect(bakeElapsed(paused, later(3600))).toBe(false);
    expect(() => fire(paused, 'analysis-passed')).toThrow(/cannot analysis-passed .* it is paused/);
    const resumed = fire(paused, 'resume', later(100));
    expect(resumed).toMatchObject({ state: 'progressing', step: 0, enteredAt: later(100) });
    expect(bakeElapsed(resumed, later(130))).toBe(false);
  });

  it('refuses what cannot happen in a state, saying why', () => {
    const promoted = fire(rolloutOf('canary', canaryPlan), 'promote');
    expect(() => fire(promoted, 'pause')).toThrow('cannot pause rollout m/production/v4: it is promoted (final)');
    expect(() => fire(promoted, 'abort')).toThrow(RolloutTransitionRefusedError);
    expect(() => fire(rolloutOf('canary', canaryPlan), 'resume')).toThrow(/it is progressing/);
    expect(() => fire(rolloutOf('canary', canaryPlan), 'start')).toThrow(RolloutTransitionRefusedError);
  });

  it('switches blue-green at once keeping the baseline warm, and switches back in one transition', () => {
    const switched = rolloutOf('blue-green', { strategy: 'blue-green' });
    expect(switched).toMatchObject({ state: 'progressing', candidateWeight: 100 });
    expect(aliasTargets(switched)).toEqual([
      { alias: 'challenger', version: 4 },
      { alias: 'previous', version: 3 },
      { alias: 'champion', version: 4 },
    ]);
    const promoted = fire(switched, 'promote');
    const back = fire(promoted, 'rollback');
    expect(back).toMatchObject({ state: 'rolled-back', candidateWeight: 0 });
    expect(aliasTargets(back)).toEqual([{ alias: 'champion', version: 3 }]);
    expect(() => fire(fire(rolloutOf('blue-green', {}, null), 'promote'), 'rollback')).toThrow(/no baseline/);
  });

  it('mirrors for shadow without giving the candidate any answers; A/B holds its split', () => {
    expect(rolloutOf('shadow')).toMatchObject({ candidateWeight: 0, mirrored: true });
    expect(rolloutOf('ab', { ab: { weight: 30 } })).toMatchObject({ candidateWeight: 30, mirrored: false });
    expect(aliasTargets(rolloutOf('shadow'))).toEqual([{ alias: 'challenger', version: 4 }]);
  });

  it('lets a newer candidate supersede an active rollout; an aborted rollout leaves the champion at the baseline', () => {
    const superseded = fire(rolloutOf('canary', canaryPlan), 'supersede');
    expect(superseded.state).toBe('aborted');
    expect(aliasTargets(superseded)).toEqual([{ alias: 'champion', version: 3 }]);
  });
});

describe('the spec rollout section', () => {
  it('defaults to replace, today’s behaviour', () => {
    expect(RolloutSpec.parse({}).strategy).toBe('replace');
  });

  it('refuses canary weights that do not increase', () => {
    const parsed = RolloutSpec.safeParse({
      strategy: 'canary',
      canary: {
        steps: [
          { weight: 50, bakeSeconds: 1 },
          { weight: 10, bakeSeconds: 1 },
        ],
      },
    });
    expect(parsed.error?.issues.map((issue) => issue.message)).toEqual(['canary weights must increase step by step']);
  });
});
