import { type ModelRegistryApi } from '@keel/registry-client';
import { HealthRegistry, type Infrastructure } from '@keel/service-runtime';
import { binaryTestPackage, fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { servingEnvSchema } from '../config';
import { LoadedModel } from '../models/loaded-model';
import { ModelStore } from '../models/model-store';
import { planOf, ROLLOUT_PLANS_INDICATOR, RolloutRouter } from './rollout-router';

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

describe('RolloutRouter at start-up', () => {
  const spec = pipelineSpecFixture('adult-income', { id: 'adult-router' });
  const rows = fixtureRecords('adult', { count: 100, numeric: spec });
  const source = (version: number) => ({ version, packageUri: `s3://m/${version}`, packageSha256: '0'.repeat(64) });

  it('is not ready until its models are loaded and their rollouts read: a keyed caller is on its arm from the first request', async () => {
    const store = new ModelStore();
    for (const version of [1, 2]) store.add(LoadedModel.build(spec.id, binaryTestPackage(spec, rows), source(version)));
    store.bind(spec.id, 'champion', 1);
    store.bind(spec.id, 'challenger', 2);
    const asked: string[] = [];
    const registry = {
      findRollout: (name: string) => {
        asked.push(name);
        return Promise.resolve({
          ...rollout,
          rolloutId: `${name}/v2/3`,
          baselineVersion: 1,
          candidateVersion: 2,
          candidateWeight: 50,
          revision: 3,
        });
      },
    };
    const infra = {
      createConsumer: () => ({ on: () => undefined, start: () => Promise.resolve() }),
      pipelines: { get: () => Promise.resolve({ spec }) },
      publisher: { publish: () => Promise.resolve() },
    };
    const health = new HealthRegistry();
    const router = new RolloutRouter(
      infra as unknown as Infrastructure,
      store,
      health,
      registry as unknown as ModelRegistryApi,
      servingEnvSchema.parse({ MODEL_RESYNC_INTERVAL_MS: '60000', ROLLOUT_OBSERVATION_INTERVAL_MS: '60000' }),
      pino({ level: 'silent' }),
    );
    const plansReady = async () => (await health.readiness()).checks[ROLLOUT_PLANS_INDICATOR].status;
    try {
      router.onModuleInit();
      await router.onApplicationBootstrap();
      // The start-up model sync is not done: the rollouts are not asked for yet, and readiness waits.
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(asked).toEqual([]);
      expect(await plansReady()).toBe('down');
      store.markInitialSyncDone();
      await vi.waitFor(async () => expect(await plansReady()).toBe('up'), { timeout: 5_000 });
      expect(asked).toEqual([spec.id]);
      // Ready: every key lands on the arm the plan gives it, the candidate for about half of them.
      expect(router.planFor(spec.id)).toMatchObject({ candidateVersion: 2, candidateWeight: 50 });
      const arms = Array.from({ length: 100 }, (_, user) => router.route(spec.id, `user-${user}`)?.version);
      expect(new Set(arms)).toEqual(new Set([1, 2]));
    } finally {
      await router.onModuleDestroy();
    }
  });
});
