import { describe, expect, it } from 'vitest';
import { planOf } from './rollout-router';

const rollout = {
  rolloutId: 'm/v4/7',
  state: 'progressing',
  baselineVersion: 3,
  candidateVersion: 4,
  candidateWeight: 10,
  mirrored: false,
  revision: 7,
};

describe('rollout routing plans', () => {
  it('splits traffic while a rollout progresses or is paused, by its weight or mirror', () => {
    expect(planOf(rollout)).toMatchObject({ baselineVersion: 3, candidateVersion: 4, candidateWeight: 10 });
    expect(planOf({ ...rollout, state: 'paused' })?.candidateWeight).toBe(10);
    expect(planOf({ ...rollout, candidateWeight: 0, mirrored: true })?.mirrored).toBe(true);
  });

  it('splits nothing once the rollout is final or when there is no baseline to split with', () => {
    for (const state of ['promoted', 'rolled-back', 'rejected', 'aborted'])
      expect(planOf({ ...rollout, state })).toBeNull();
    expect(planOf({ ...rollout, baselineVersion: 0 })).toBeNull();
  });
});
