import { ModelRolloutTransitionedV1, type RolloutSpec } from '@keel/contracts';
import { RegistryClient, RegistryFailedPreconditionError } from '@keel/registry-client';
import {
  pipelineSpecFixture,
  type ServiceUnderTest,
  startServiceUnderTest,
  TopicRecorder,
  uniqueName,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryEnvSchema } from '../config';
import { AliasMovesService } from '../models/alias-moves.service';
import { ModelVersionsRepository } from '../models/model-versions.repository';
import { RegistryModule } from '../registry.module';
import { RolloutDriver } from './rollout-driver';

type RolloutInput = Partial<Omit<RolloutSpec, 'canary'>> & { canary?: Partial<RolloutSpec['canary']> };

/**
 * Rollouts on the real stack with two registry replicas sharing one database: transitions are claimed by unique
 * inserts, so concurrent controls and driver ticks never apply one transition twice.
 */
describe('rollouts in the registry', () => {
  const database = `keel_it_rollouts_${Date.now().toString(36)}`;
  let replicas: ServiceUnderTest[] = [];
  let recorder: TopicRecorder;
  const models: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      replicas.push(
        await startServiceUnderTest({
          service: 'registry',
          envSchema: registryEnvSchema,
          features: [RegistryModule],
          database,
          // The test drives ticks itself.
          env: { ROLLOUT_TICK_INTERVAL_MS: '3600000' },
        }),
      );
    }
    // After the replicas: their start-up creates the topic.
    recorder = await TopicRecorder.start({
      topics: [ModelRolloutTransitionedV1.topic],
      keep: (event) => models.includes(event.key ?? ''),
      clientId: 'rollouts-int',
    });
  });

  afterAll(async () => {
    await recorder?.stop();
    await Promise.all(replicas.map((replica) => replica.close()));
    replicas = [];
  });

  const http = (replica = 0) => request(replicas[replica].app.getHttpServer());

  /** A model with versions 1..count registered, v1 champion, and the given rollout plan in its spec. */
  async function modelWith(rollout: RolloutInput, count = 2): Promise<string> {
    const name = uniqueName('roll');
    models.push(name);
    const spec = pipelineSpecFixture('adult-income', { id: name, rollout: rollout as RolloutSpec });
    await replicas[0].infra.pipelines.apply(spec);
    const versions = replicas[0].app.get(ModelVersionsRepository);
    for (let i = 1; i <= count; i++) {
      await versions.register({
        modelName: name,
        pipelineId: name,
        packageUri: `s3://keel-models/test/${name}/${i}.json`,
        packageSha256: `${i}`.padStart(64, '0'),
        algorithm: 'logistic-regression',
        metrics: { auc: 0.9 },
        lineage: {
          datasetVersionId: `ds-${'a'.repeat(16)}`,
          datasetSha256: 'a'.repeat(64),
          featureSetId: `fs-${'b'.repeat(16)}`,
          featureSetSha256: 'b'.repeat(64),
          codeVersion: 'test',
          seed: i,
          runId: `run-${i}`,
        },
        gates: [],
        gatesPassed: true,
      });
    }
    await replicas[0].app
      .get(AliasMovesService)
      .setAlias({ modelName: name, alias: 'champion', version: 1, reason: 'first', changedBy: 'test' });
    return name;
  }

  const start = (name: string, body: Record<string, unknown> = {}) =>
    http()
      .post(`/api/v1/models/${name}/rollouts`)
      .send({ version: 2, actor: 'alice', reason: 'try v2', ...body });
  const control = (name: string, action: string, replica = 0) =>
    http(replica)
      .post(`/api/v1/models/${name}/rollout/${action}`)
      .send({ actor: 'bob', reason: `${action} by hand` });
  const championHistory = async (name: string) =>
    (await http().get(`/api/v1/models/${name}/aliases/champion/history`)).body.moves as {
      version: number;
      changedBy: string;
      reason: string;
    }[];
  const tickBoth = (now: Date) => Promise.all(replicas.map((replica) => replica.app.get(RolloutDriver).tick(now)));
  const secondsAfter = (instant: Date, seconds: number) => new Date(instant.getTime() + seconds * 1000);

  it('advances a canary step by step on bake timers (no traffic asked for) to 100 % and makes the candidate champion', async () => {
    const name = await modelWith({
      strategy: 'canary',
      canary: {
        steps: [
          { weight: 10, bakeSeconds: 60 },
          { weight: 50, bakeSeconds: 60 },
        ],
        // No serving here: the steps pass on their bake time alone.
        analysis: { minRequests: 0 } as RolloutSpec['canary']['analysis'],
      },
    });
    const started = await start(name);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ state: 'progressing', step: 0, candidateWeight: 10, candidateVersion: 2 });
    const atTenPercent = new Date();
    const challenger = await http().get(`/api/v1/models/${name}/aliases/challenger`);
    expect(challenger.body.version).toBe(2);

    // Before the bake time nothing moves; after it, both replicas ticking at once advance the step once.
    expect(await tickBoth(secondsAfter(atTenPercent, 30))).toEqual([0, 0]);
    const firstTick = await tickBoth(secondsAfter(atTenPercent, 61));
    expect(firstTick.reduce((a, b) => a + b, 0)).toBe(1);
    expect((await http(1).get(`/api/v1/models/${name}/rollout`)).body).toMatchObject({ step: 1, candidateWeight: 50 });
    const secondTick = await tickBoth(secondsAfter(atTenPercent, 122));
    expect(secondTick.reduce((a, b) => a + b, 0)).toBe(1);
    const done = (await http().get(`/api/v1/models/${name}/rollout`)).body;
    expect(done).toMatchObject({ state: 'promoted', candidateWeight: 100 });
    expect((await http().get(`/api/v1/models/${name}/aliases/champion`)).body.version).toBe(2);
    expect((await http().get(`/api/v1/models/${name}/aliases/previous`)).body.version).toBe(1);

    const transitions = (await http().get(`/api/v1/models/${name}/rollout/history`)).body.transitions as {
      transition: { trigger: string };
      state: string;
    }[];
    expect(transitions.map((t) => `${t.transition.trigger}:${t.state}`)).toEqual([
      'start:progressing',
      'analysis-passed:progressing',
      'analysis-passed:promoted',
    ]);
    const events = await recorder.waitForAll((event) => event.key === name, 3);
    expect(events.map((event) => (event.data as { to: string }).to)).toEqual([
      'progressing',
      'progressing',
      'promoted',
    ]);

    // Which version answered for the champion at 10 %: v1 for 90 %, v2 for 10 %.
    const answered = await http().get(`/api/v1/models/${name}/aliases/champion/answered`).query({
      at: atTenPercent.toISOString(),
    });
    expect(answered.body.versions).toEqual([
      { version: 1, weight: 90, role: 'champion' },
      { version: 2, weight: 10, role: 'candidate' },
    ]);
    // The driver's clock ran ahead (the ticks above): after the promotion, v2 answered alone.
    const now = await http()
      .get(`/api/v1/models/${name}/aliases/champion/answered`)
      .query({
        at: secondsAfter(atTenPercent, 123).toISOString(),
      });
    expect(now.body.versions).toEqual([{ version: 2, weight: 100, role: 'champion' }]);
  });

  it('lets a person pause, resume and roll back, recording actor and reason; a refused action says why', async () => {
    const name = await modelWith({ strategy: 'canary' });
    await start(name);
    // The same pause on both replicas at once: exactly one applies it, the other is told it is already paused.
    const [a, b] = await Promise.all([control(name, 'pause', 0), control(name, 'pause', 1)]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect((a.status === 409 ? a : b).body.error).toMatch(/cannot pause .* it is paused/);
    expect((await control(name, 'analysis-passed')).status).toBe(404);
    expect((await control(name, 'resume')).body).toMatchObject({ state: 'progressing', candidateWeight: 10 });
    const rolledBack = await control(name, 'rollback', 1);
    expect(rolledBack.body).toMatchObject({
      state: 'rolled-back',
      candidateWeight: 0,
      transition: { trigger: 'rollback', actor: 'bob', reason: 'rollback by hand' },
    });
    expect((await control(name, 'promote')).status).toBe(409);
    expect((await http().post(`/api/v1/models/${name}/rollout/pause`).send({ reason: 'no actor' })).status).toBe(400);

    // Every transition is a line in the champion's history, which never moved off v1.
    const history = await championHistory(name);
    expect(history.map((move) => move.version)).toEqual([1, 1, 1, 1, 1]);
    expect(history[0]).toMatchObject({ changedBy: 'bob', reason: expect.stringMatching(/rollback → rolled-back/) });
    const events = await recorder.waitForAll((event) => event.key === name, 4);
    expect(events.map((event) => (event.data as { trigger: string }).trigger)).toEqual([
      'start',
      'pause',
      'resume',
      'rollback',
    ]);
    // A replayed start of the same candidate does not start it again.
    expect((await start(name)).body).toMatchObject({ started: false, state: 'rolled-back' });
  });

  it('switches blue-green in one gRPC call and back in one, keeping the previous version warm', async () => {
    const name = await modelWith({ strategy: 'blue-green' });
    const client = new RegistryClient(replicas[1].grpcAddress!);
    try {
      const switched = await client.startRollout(name, 2, { actor: 'carol', reason: 'switch to v2' });
      expect(switched).toMatchObject({ state: 'progressing', candidateWeight: 100, baselineVersion: 1 });
      const afterSwitch = new Date();
      expect((await client.resolveAlias(name, 'champion')).version).toBe(2);
      expect((await client.resolveAlias(name, 'previous')).version).toBe(1);
      const back = await client.controlRollout(name, 'rollback', { actor: 'carol', reason: 'switch back' });
      expect(back).toMatchObject({ state: 'rolled-back', actor: 'carol', reason: 'switch back', trigger: 'rollback' });
      expect((await client.resolveAlias(name, 'champion')).version).toBe(1);
      expect((await client.findRollout(name))?.state).toBe('rolled-back');
      await expect(client.controlRollout(name, 'pause', { actor: 'carol', reason: 'late' })).rejects.toThrow(
        RegistryFailedPreconditionError,
      );
      const answered = await client.whichVersionAnswered(name, 'champion', afterSwitch);
      expect(answered.versions).toEqual([{ version: 2, weight: 100, role: 'champion' }]);
    } finally {
      client.close();
    }
  });

  it('stages first when the spec asks; a failed staging trial never reaches production', async () => {
    const name = await modelWith({
      strategy: 'canary',
      staging: { enabled: true, maxP99LatencyMs: 100, sampleRequests: 5, loadTimeoutSeconds: 60 },
    });
    expect((await start(name)).body).toMatchObject({ state: 'staging', candidateWeight: 0 });
    const environments = await http().get(`/api/v1/models/${name}/environments`);
    expect(environments.body).toMatchObject({
      staging: { version: 2 },
      production: { version: 1, rollout: { state: 'staging', candidateWeight: 0 } },
    });
    const failed = await http()
      .post(`/api/v1/models/${name}/rollout/staging-result`)
      .send({ passed: false, actor: 'staging-validator', reason: 'p99 412 ms > 100 ms' });
    expect(failed.body).toMatchObject({ state: 'rejected' });
    expect((await http().get(`/api/v1/models/${name}/aliases/challenger`)).status).toBe(404);
    expect((await http().get(`/api/v1/models/${name}/aliases/champion`)).body.version).toBe(1);
    expect((await control(name, 'promote')).status).toBe(409);
  });
});
