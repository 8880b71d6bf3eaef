import { RolloutSpec } from '@keel/contracts';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type RegistryConfig } from '../config';
import { type StagingValidator } from '../environments/staging-validator';
import { type AnalysisVerdict, type RolloutAnalysisSource } from './rollout-analysis';
import { RolloutDriver } from './rollout-driver';
import { type Rollout, startRollout } from './rollout-machine';
import { type RolloutsService } from './rollouts.service';

const t0 = new Date('2026-12-02T07:00:00Z');
const rollout: Rollout = startRollout({
  rolloutId: 'm/v4/3',
  pipelineId: 'm',
  modelName: 'm',
  strategy: 'canary',
  candidateVersion: 4,
  baselineVersion: 3,
  plan: RolloutSpec.parse({ strategy: 'canary', canary: { steps: [{ weight: 10, bakeSeconds: 60 }] } }),
  reason: 'gates passed',
  actor: 'registry',
  at: t0,
});

/** The driver against a rollouts service that records what it is asked to apply. */
function driverWith(verdict: AnalysisVerdict) {
  const applied: { trigger: string; reason: string; expect?: unknown }[] = [];
  const rollouts = {
    activeModels: () => Promise.resolve(['m']),
    current: () => Promise.resolve({ version: 3, state: rollout }),
    apply: (_model: string, trigger: string, by: { reason: string; expect?: unknown }) => {
      applied.push({ trigger, reason: by.reason, expect: by.expect });
      return Promise.resolve({ rollout: { version: 4, state: rollout }, applied: true });
    },
  } as unknown as RolloutsService;
  const evaluated: number[] = [];
  const analysis: RolloutAnalysisSource = {
    evaluate: (_rollout, revision) => {
      evaluated.push(revision);
      return Promise.resolve(verdict);
    },
  };
  const staging = { enabled: false } as StagingValidator;
  const driver = new RolloutDriver(
    rollouts,
    analysis,
    staging,
    { ROLLOUT_TICK_INTERVAL_MS: 1_000 } as RegistryConfig,
    pino({ level: 'silent' }),
  );
  return { driver, applied, evaluated };
}

describe('rollout driver', () => {
  it('advances a passing step only once its bake time is up', async () => {
    const { driver, applied } = driverWith({ outcome: 'pass', reason: 'all within thresholds' });
    expect(await driver.tick(new Date(t0.getTime() + 59_000))).toBe(0);
    expect(applied).toEqual([]);
  });

  it('rolls back at once on a failing analysis, mid-bake, guarded by the revision it decided on', async () => {
    const { driver, applied, evaluated } = driverWith({ outcome: 'fail', reason: 'error rate 0.2 > 0.01' });
    expect(await driver.tick(new Date(t0.getTime() + 5_000))).toBe(1);
    expect(evaluated).toEqual([3]);
    expect(applied).toEqual([
      { trigger: 'analysis-failed', reason: 'error rate 0.2 > 0.01', expect: { rolloutId: 'm/v4/3', revision: 3 } },
    ]);
  });

  it('advances on a passing analysis and leaves a waiting one alone', async () => {
    const passing = driverWith({ outcome: 'pass', reason: 'all within thresholds' });
    await passing.driver.tick(new Date(t0.getTime() + 60_000));
    expect(passing.applied.map((a) => a.trigger)).toEqual(['analysis-passed']);
    const waiting = driverWith({ outcome: 'wait', reason: '12 of 100 requests' });
    expect(await waiting.driver.tick(new Date(t0.getTime() + 60_000))).toBe(0);
    expect(waiting.applied).toEqual([]);
  });
});
