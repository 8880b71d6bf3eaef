/**
 * Rollouts judged on live traffic: the registry and serving (real gRPC between them, real packages in MinIO, Kafka,
 * MongoDB and Jaeger) in one process, with clients sending requests all along. Serving routes each request by the
 * rollout's plan and reports what baseline and candidate did (mlops.model.rollout-observed.v1); the registry's driver
 * judges every step on those reports. A candidate that predicts a constant is rolled back on its own, with no failed
 * request; one that throws on some inputs is rolled back on its errors, which clients see only on its share of the
 * traffic; a good one advances step by step to champion; a shadow candidate never answers; an A/B key keeps its arm
 * across a restart of serving.
 */
import { type AddressInfo, createServer } from 'node:net';
import { status, type ServiceError } from '@grpc/grpc-js';
import {
  ModelRolloutTransitionedV1,
  ModelTrainedV1,
  type PipelineSpecV1,
  PredictionLoggedV2,
  type RolloutSpec,
  WellKnownAlias,
} from '@keel/contracts';
import { type ModelInferResponse } from '@keel/grpc-api';
import { serializePackage } from '@keel/model-package';
import { BUCKETS, ObjectStore } from '@keel/storage';
import { SERVICE_CONFIG } from '@keel/service-runtime';
import { startTelemetry, type Telemetry } from '@keel/telemetry';
import {
  binaryTestPackage,
  columnTensors,
  eventually,
  findTraces,
  fixtureRecords,
  InferenceClient,
  pipelineSpecFixture,
  type ServiceUnderTest,
  stackEndpoints,
  startServiceUnderTest,
  uniqueName,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryEnvSchema } from '../../apps/registry/src/config';
import { AliasMovesService } from '../../apps/registry/src/models/alias-moves.service';
import { ModelVersionsRepository } from '../../apps/registry/src/models/model-versions.repository';
import { RegistryModule } from '../../apps/registry/src/registry.module';
import {
  ROLLOUT_OBSERVATIONS_COLLECTION,
  RolloutObservationsStore,
} from '../../apps/registry/src/rollouts/rollout-observations';
import { servingEnvSchema } from '../../apps/serving/src/config';
import { ServingModule } from '../../apps/serving/src/serving.module';

type Row = Record<string, string | number | null>;
type RolloutInput = Record<string, unknown>;

/**
 * A candidate that throws on some inputs: trained only on rows whose workclass is Private (or missing), and declaring
 * that a workclass it never saw is an error rather than a missing value (`unknown: error`). A quarter of the rows
 * have another workclass, so about two requests of four rows in three are refused: INVALID_ARGUMENT naming the input.
 */
const REFUSES_UNSEEN_WORKCLASS = 'refuses unseen workclasses';

const SERVICE_NAME = 'keel-rollouts-int';
const ROWS_PER_REQUEST = 4;
/**
 * A good candidate: retrained with l2 1.1e-4 instead of 1e-4, so its predictions barely move (PSI 0.003 on all rows;
 * between 200 and 1,500 sampled rows, 0.13 at the 99th percentile against the 0.2 threshold).
 */
const GOOD_L2 = 1.1e-4;

/**
 * Thresholds for a shared, busy test machine: few requests (60 of 4 rows: the 200 prediction samples PSI needs), and
 * latency hiccups under 250 ms are not the model's.
 */
const analysis = { minRequests: 60, maxErrorRate: 0.01, maxPredictionPsi: 0.2, p99LatencyFloorMs: 250 };

/** A canary of 10 % then 50 %, 30 s each: a broken candidate is rolled back mid-way through its first step. */
const TEN_PERCENT_CANARY = {
  strategy: 'canary',
  canary: {
    steps: [
      { weight: 10, bakeSeconds: 30 },
      { weight: 50, bakeSeconds: 30 },
    ],
    analysis,
  },
};

describe('rollouts judged on live traffic through serving', () => {
  const database = `keel_it_rollserve_${Date.now().toString(36)}`;
  const template = pipelineSpecFixture('adult-income', { id: 'rollouts-template' });
  const rows = fixtureRecords('adult', { count: 600, numeric: template }) as Row[];
  const objects = new ObjectStore(stackEndpoints.s3);
  const models: string[] = [];
  let telemetry: Telemetry;
  let registry: ServiceUnderTest;
  let serving: ServiceUnderTest;
  let client: InferenceClient;
  let servingPort: number;

  /** Serving on `servingPort`, following the registry; ready once its models and their rollouts are read. */
  async function startServing(): Promise<void> {
    serving = await startServiceUnderTest({
      service: 'serving',
      envSchema: servingEnvSchema,
      features: [ServingModule],
      database,
      env: {
        REGISTRY_GRPC_URL: registry.grpcAddress!,
        GRPC_PORT: String(servingPort),
        ROLLOUT_OBSERVATION_INTERVAL_MS: '500',
        MODEL_RESYNC_INTERVAL_MS: '1000',
      },
    });
    client = new InferenceClient(serving.grpcAddress!);
  }

  beforeAll(async () => {
    telemetry = startTelemetry(SERVICE_NAME);
    // The registry tries staged candidates on this serving: its port is chosen before either starts.
    servingPort = await freePort();
    await objects.ensureBuckets(Object.values(BUCKETS));
    registry = await startServiceUnderTest({
      service: 'registry',
      envSchema: registryEnvSchema,
      features: [RegistryModule],
      database,
      telemetry,
      // Its rollout-observations group is new each run and reads that topic from the start (this run's reports are
      // the only ones of its models).
      consumers: { models: [ModelTrainedV1] },
      env: { ROLLOUT_TICK_INTERVAL_MS: '500', STAGING_SERVING_GRPC_URL: `127.0.0.1:${servingPort}` },
      record: {
        topics: [ModelRolloutTransitionedV1.topic, PredictionLoggedV2.topic],
        keep: (event) => models.includes(event.key ?? ''),
      },
    });
    await startServing();
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await serving?.close();
    await registry?.close();
    await telemetry?.shutdown();
  });

  const http = () => request(registry.app.getHttpServer());

  /**
   * A model whose v1 (logistic regression, l2 1e-4) is champion and serving, with a candidate trained on the same
   * rows with `candidateL2` registered as v2, and the given rollout plan.
   */
  async function modelWith(
    rollout: RolloutInput,
    candidateL2: number | 'not a package' | typeof REFUSES_UNSEEN_WORKCLASS,
    protectedAttributes: string[] = [],
  ): Promise<{ name: string; spec: PipelineSpecV1 }> {
    const name = uniqueName('rollsrv');
    models.push(name);
    const spec = pipelineSpecFixture('adult-income', {
      id: name,
      rollout: rollout as RolloutSpec,
      protectedAttributes,
    });
    await registry.infra.pipelines.apply(spec);
    for (const [i, l2] of [1e-4, candidateL2].entries()) {
      const body =
        l2 === 'not a package'
          ? Buffer.from(`{"format":"keel.package","version":1,"pipelineId":"${name}"`)
          : l2 === REFUSES_UNSEEN_WORKCLASS
            ? serializePackage(refusingPackage(spec))
            : serializePackage(binaryTestPackage(spec, rows.slice(0, 300), { l2 }));
      const stored = await objects.putContentAddressed(BUCKETS.models, `test/${name}`, body, { extension: '.json' });
      await registry.app.get(ModelVersionsRepository).register({
        modelName: name,
        pipelineId: name,
        packageUri: stored.uri,
        packageSha256: stored.sha256,
        algorithm: 'logistic-regression',
        metrics: { auc: 0.9 },
        lineage: {
          datasetVersionId: `ds-${'a'.repeat(16)}`,
          datasetSha256: 'a'.repeat(64),
          featureSetId: `fs-${'b'.repeat(16)}`,
          featureSetSha256: 'b'.repeat(64),
          codeVersion: 'test',
          seed: i + 1,
          runId: `run-${i + 1}`,
        },
        gates: [],
        gatesPassed: true,
      });
    }
    await registry.app
      .get(AliasMovesService)
      .setAlias({ modelName: name, alias: WellKnownAlias.CHAMPION, version: 1, reason: 'first', changedBy: 'test' });
    await eventually(`serving answers ${name} with v1`, async () => {
      const answer = await infer(name, spec, 0).catch(() => undefined);
      return answer?.modelVersion === '1' ? true : undefined;
    });
    return { name, spec };
  }

  /** The spec's package trained on Private-workclass rows only, refusing the workclasses it never saw. */
  function refusingPackage(spec: PipelineSpecV1) {
    const refusing = {
      ...spec,
      features: spec.features.map((f) => (f.name === 'workclass' ? { ...f, unknown: 'error' as const } : f)),
    };
    const seen = rows.slice(0, 300).filter((row) => row.workclass === 'Private' || row.workclass === null);
    return binaryTestPackage(refusing, seen);
  }

  const infer = (name: string, spec: PipelineSpecV1, i: number, modelVersion = '') => {
    const start = (i * ROWS_PER_REQUEST) % (rows.length - ROWS_PER_REQUEST);
    return client.modelInfer({
      modelName: name,
      modelVersion,
      inputs: columnTensors(spec, rows.slice(start, start + ROWS_PER_REQUEST)),
    });
  };

  const rolloutOf = async (name: string) =>
    (await http().get(`/api/v1/models/${name}/rollout`)).body as {
      state: string;
      revision: number;
      transition: { trigger: string; reason: string; at: string };
    };

  /**
   * Starts the rollout of v2 and keeps four clients sending requests until it is final; every answer and failure is
   * counted, and `check` sees each answer.
   */
  async function rollOut(
    name: string,
    spec: PipelineSpecV1,
    check: (answer: ModelInferResponse, i: number) => Promise<void> = () => Promise.resolve(),
  ) {
    const started = await http()
      .post(`/api/v1/models/${name}/rollouts`)
      .send({ version: 2, actor: 'alice', reason: 'roll v2 out' });
    expect(started.status).toBe(200);
    const answeredBy = new Map<string, number>();
    const mismatches: string[] = [];
    /** Each failed request's status and details. */
    const failures: { code?: number; details: string }[] = [];
    let failed = 0;
    let sent = 0;
    let done = false;
    const worker = async () => {
      while (!done) {
        const i = sent++;
        let answer: ModelInferResponse;
        try {
          answer = await infer(name, spec, i);
        } catch (error) {
          failed += 1;
          failures.push({
            code: (error as ServiceError).code,
            details: (error as ServiceError).details ?? String(error),
          });
          continue;
        }
        answeredBy.set(answer.modelVersion, (answeredBy.get(answer.modelVersion) ?? 0) + 1);
        await check(answer, i).catch((error: unknown) => mismatches.push(String(error)));
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    const final = await eventually(
      `the rollout of ${name} to finish`,
      async () => {
        const rollout = await rolloutOf(name);
        return ['promoted', 'rolled-back', 'rejected', 'aborted'].includes(rollout.state) ? rollout : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    done = true;
    await Promise.all(workers);
    return { final, answeredBy, failed, failures, sent, mismatches };
  }

  /**
   * An automatic rollback is on the record: in the champion's alias history, as a transition event on Kafka, and as
   * exactly one trace in Jaeger (asked through its search API) holding the decision, the alias moves and serving's
   * receipt of the transition; and serving follows it, answering only with v1 again.
   */
  async function expectRollbackRecorded(name: string, spec: PipelineSpecV1): Promise<void> {
    // The transition's effects follow its record: the event is published after the aliases and their history moved.
    const rolledBack = await registry.recorder.waitFor(
      (event) => event.key === name && (event.data as { to?: string }).to === 'rolled-back',
    );
    expect(rolledBack.data).toMatchObject({ trigger: 'analysis-failed', candidateWeight: 0, actor: 'registry' });
    const championNow = await http().get(`/api/v1/models/${name}/aliases/champion`);
    expect(championNow.body.version).toBe(1);
    const history = await http().get(`/api/v1/models/${name}/aliases/champion/history`);
    expect(
      (history.body.moves as { reason: string }[]).some((move) =>
        /analysis-failed → rolled-back: candidate v2/.test(move.reason),
      ),
    ).toBe(true);
    const traceId = rolledBack.headers.traceparent?.split('-')[1];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const traces = await eventually(
      'the rollback in Jaeger, received by serving',
      async () => {
        const found = await findTraces({
          service: SERVICE_NAME,
          operation: 'rollout analysis-failed',
          tags: { 'keel.model.name': name },
        });
        const received = found[0]?.spans.some((span) =>
          span.tags.some(
            (tag) => tag.key === 'messaging.consumer.group.name' && /(^|\.)rollouts-/.test(String(tag.value)),
          ),
        );
        return received ? found : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    expect(traces).toHaveLength(1);
    const [trace] = traces;
    expect(trace.traceID).toBe(traceId);
    const roots = trace.spans.filter((span) => span.references.length === 0);
    expect(roots.map((span) => span.operationName)).toEqual(['rollout analysis-failed']);
    expect(trace.spans.map((span) => span.operationName)).toContain('move alias');

    await eventually('only v1 answers', async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => infer(name, spec, i)));
      return answers.every((answer) => answer.modelVersion === '1') ? true : undefined;
    });
  }

  const transitions = async (name: string, count: number) =>
    (
      await registry.recorder.waitForAll(
        (event) => event.key === name && event.topic === ModelRolloutTransitionedV1.topic,
        count,
      )
    ).map((event) => event.data as { to: string; trigger: string; reason: string });

  it('rolls a 10 % canary that predicts a constant back on its own; the champion keeps answering, no request fails', async () => {
    // l2 1e6 shrinks every weight to ~1e-8: the same probability for everyone.
    const { name, spec } = await modelWith(TEN_PERCENT_CANARY, 1e6);
    const { final, answeredBy, failed } = await rollOut(name, spec);
    expect(final.state, final.transition.reason).toBe('rolled-back');
    expect(final.transition.trigger).toBe('analysis-failed');
    expect(final.transition.reason).toMatch(
      /candidate v2 probability PSI [\d.]+ against the baseline's on the same traffic > 0.2/,
    );
    // Rolled back mid-bake (30 s steps): the candidate answered its share of the first step only.
    expect(failed).toBe(0);
    expect(answeredBy.get('2') ?? 0).toBeGreaterThanOrEqual(analysis.minRequests);
    expect((answeredBy.get('2') ?? 0) / ((answeredBy.get('1') ?? 0) + (answeredBy.get('2') ?? 0))).toBeLessThan(0.2);

    // The champion stayed; the rollback is in its alias history, on Kafka and in one trace; serving follows.
    await expectRollbackRecorded(name, spec);
  }, 240_000);

  it('rolls a 10 % canary that throws on some inputs back on its own; clients see its errors only on its share, each a clear INVALID_ARGUMENT', async () => {
    const { name, spec } = await modelWith(TEN_PERCENT_CANARY, REFUSES_UNSEEN_WORKCLASS);
    const { final, answeredBy, failed, failures, sent } = await rollOut(name, spec);
    expect(final.state, final.transition.reason).toBe('rolled-back');
    expect(final.transition.trigger).toBe('analysis-failed');
    expect(final.transition.reason).toMatch(/^candidate v2 error rate [\d.]+ > 0.01 \(\d+ failed of \d+\)$/);
    // It did throw, on the candidate's share only: no more failed requests than the canary's 10 %.
    expect(failed).toBeGreaterThan(0);
    expect(failed / sent).toBeLessThanOrEqual(0.1);
    // Each failure is that request's own clear refusal, and serving kept answering every other request.
    for (const failure of failures) {
      expect(failure.code).toBe(status.INVALID_ARGUMENT);
      expect(failure.details).toMatch(/^input "workclass" has category "[^"]+", unknown to model version 2$/);
    }
    expect(answeredBy.get('1') ?? 0).toBeGreaterThan(0);

    await expectRollbackRecorded(name, spec);
  }, 240_000);

  it('rolls a canary back whose positive rate gaps between the groups of a protected attribute beyond maxFairnessGap', async () => {
    // The Adult model predicts "> 50K" far more often for men than for women; a 1-point budget cannot hold.
    const { name, spec } = await modelWith(
      {
        strategy: 'canary',
        canary: { steps: [{ weight: 50, bakeSeconds: 30 }], analysis: { ...analysis, maxFairnessGap: 0.01 } },
      },
      GOOD_L2,
      ['sex'],
    );
    const { final, failed } = await rollOut(name, spec);
    expect(final.state, final.transition.reason).toBe('rolled-back');
    expect(final.transition.reason).toMatch(
      /^candidate v2 positive-rate gap on sex [\d.]+ \((Male|Female) [\d.]+, (Male|Female) [\d.]+\) > 0.01$/,
    );
    expect(failed).toBe(0);
  }, 240_000);

  it('tries a good candidate in staging, then advances its canary step by step to champion, no request failing', async () => {
    const { name, spec } = await modelWith(
      {
        strategy: 'canary',
        staging: { enabled: true, maxP99LatencyMs: 1_000, sampleRequests: 20, loadTimeoutSeconds: 60 },
        canary: {
          steps: [
            { weight: 10, bakeSeconds: 2 },
            { weight: 50, bakeSeconds: 2 },
          ],
          analysis,
        },
      },
      GOOD_L2,
    );
    const { final, answeredBy, failed } = await rollOut(name, spec);
    expect(final.state, final.transition.reason).toBe('promoted');
    expect(failed).toBe(0);
    expect(answeredBy.get('2') ?? 0).toBeGreaterThan(analysis.minRequests);
    const moved = await transitions(name, 4);
    expect(moved.map((t) => `${t.trigger}:${t.to}`)).toEqual([
      'start:staging',
      'staging-passed:progressing',
      'analysis-passed:progressing',
      'analysis-passed:promoted',
    ]);
    expect(moved[1].reason).toMatch(
      /^v2 loaded in staging and answered: p99 [\d.]+ ms over 20 sample requests ≤ 1000 ms$/,
    );
    const passed = moved.filter((t) => t.trigger === 'analysis-passed');
    for (const t of passed)
      expect(t.reason).toMatch(
        /^within thresholds: \d+ candidate requests, error rate 0, p99 ratio [\d.]+, probability PSI/,
      );
    expect((await http().get(`/api/v1/models/${name}/aliases/champion`)).body.version).toBe(2);
  }, 240_000);

  it('never answers from a shadow candidate: answers are byte-identical to the champion alone, the mirror is logged and compared', async () => {
    const { name, spec } = await modelWith({ strategy: 'shadow', shadow: { durationSeconds: 3, analysis } }, GOOD_L2);
    let compared = 0;
    /** When v2 answered: only after its promotion (the clients keep sending until they see it). */
    const candidateAnswers: number[] = [];
    const { final, answeredBy, failed, mismatches } = await rollOut(name, spec, async (answer, i) => {
      if (answer.modelVersion !== '1') {
        candidateAnswers.push(Date.now());
        return;
      }
      if (i % 25 !== 0) return;
      // The same rows asked of v1 by number: the same bytes back.
      const alone = await infer(name, spec, i, '1');
      expect(Buffer.from(JSON.stringify(answer.outputs))).toEqual(Buffer.from(JSON.stringify(alone.outputs)));
      compared += 1;
    });
    expect(mismatches.slice(0, 3)).toEqual([]);
    expect(failed).toBe(0);
    expect(compared).toBeGreaterThan(0);
    expect(answeredBy.get('1') ?? 0).toBeGreaterThan(analysis.minRequests);
    expect(final.state, final.transition.reason).toBe('promoted');
    expect(candidateAnswers.filter((at) => at < new Date(final.transition.at).getTime())).toEqual([]);
    // The candidate's mirrored answers were logged (monitoring's input) for requests served before its promotion, and
    // compared with the champion's on the same rows.
    const mirrored = await registry.recorder.waitFor((event) => {
      const data = event.data as { modelVersion?: number; servedAt?: number[] };
      return (
        event.key === name &&
        event.topic === PredictionLoggedV2.topic &&
        data.modelVersion === 2 &&
        (data.servedAt?.[0] ?? Infinity) < new Date(final.transition.at).getTime()
      );
    });
    expect(mirrored).toBeDefined();
    const observed = await registry.infra.mongo
      .collection(ROLLOUT_OBSERVATIONS_COLLECTION)
      .find({ modelName: name })
      .toArray();
    const shadowRows = observed.reduce((sum, report) => sum + ((report.shadow as { rows?: number })?.rows ?? 0), 0);
    expect(shadowRows).toBeGreaterThan(0);
  }, 240_000);

  it('keeps each A/B key on one arm across requests and across a restart of serving, with both arms answering', async () => {
    const { name, spec } = await modelWith(
      { strategy: 'ab', ab: { weight: 50, minSamplesPerArm: 1_000_000, maxDurationSeconds: 3_600 } },
      GOOD_L2,
    );
    const started = await http()
      .post(`/api/v1/models/${name}/rollouts`)
      .send({ version: 2, actor: 'alice', reason: 'A/B v2' });
    expect(started.body).toMatchObject({ state: 'progressing', candidateWeight: 50 });
    const keyed = (user: number) =>
      client.modelInfer({
        modelName: name,
        parameters: { keel_routing_key: { stringParam: `user-${user}` } },
        inputs: columnTensors(spec, rows.slice(user, user + 1)),
      });
    // Serving follows the plan once the transition reaches it and the candidate is loaded.
    await eventually('both arms answer', async () => {
      const versions = new Set(
        (await Promise.all(Array.from({ length: 40 }, (_, u) => keyed(u)))).map((a) => a.modelVersion),
      );
      return versions.size === 2 ? true : undefined;
    });
    const first = await Promise.all(Array.from({ length: 60 }, (_, u) => keyed(u)));
    for (let round = 0; round < 3; round++) {
      const again = await Promise.all(Array.from({ length: 60 }, (_, u) => keyed(u)));
      expect(again.map((a) => a.modelVersion)).toEqual(first.map((a) => a.modelVersion));
    }
    const candidates = first.filter((a) => a.modelVersion === '2').length;
    expect(candidates).toBeGreaterThan(10);
    expect(candidates).toBeLessThan(50);

    // A restarted serving is ready only once it has read the rollout: every key is on its arm from the first answer.
    client.close();
    await serving.close();
    await startServing();
    await eventually('serving ready again', async () =>
      (await request(serving.app.getHttpServer()).get('/health/ready')).status === 200 ? true : undefined,
    );
    const afterRestart = await Promise.all(Array.from({ length: 60 }, (_, u) => keyed(u)));
    expect(afterRestart.map((a) => a.modelVersion)).toEqual(first.map((a) => a.modelVersion));
    // Far from its samples, the test stays open: the driver neither promotes nor rolls back.
    expect((await rolloutOf(name)).state).toBe('progressing');

    // Old reports are swept once their rollout is over; this active one's stay, whatever their age.
    const reports = registry.infra.mongo.collection(ROLLOUT_OBSERVATIONS_COLLECTION);
    await eventually(`reports of ${name}`, async () =>
      (await reports.countDocuments({ modelName: name })) > 0 ? true : undefined,
    );
    // The first scenario's rollout (rolled back) is over.
    const finished = models[0];
    expect(finished).not.toBe(name);
    expect(await reports.countDocuments({ modelName: finished })).toBeGreaterThan(0);
    const retention = Number(registry.app.get(SERVICE_CONFIG).ROLLOUT_OBSERVATION_RETENTION_HOURS) * 3_600_000;
    const swept = await registry.app.get(RolloutObservationsStore).sweep(new Date(Date.now() + retention + 60_000));
    expect(swept).toBeGreaterThan(0);
    expect(await reports.countDocuments({ modelName: finished })).toBe(0);
    expect(await reports.countDocuments({ modelName: name })).toBeGreaterThan(0);
    await http().post(`/api/v1/models/${name}/rollout/abort`).send({ actor: 'alice', reason: 'enough' });
  }, 120_000);

  it('switches blue-green in one call and back in one, under load, failing no request', async () => {
    const { name, spec } = await modelWith(
      { strategy: 'blue-green', blueGreen: { keepPreviousSeconds: 3_600 } },
      GOOD_L2,
    );
    const answeredBy: string[] = [];
    let failed = 0;
    let sent = 0;
    let done = false;
    const worker = async () => {
      while (!done) {
        try {
          answeredBy.push((await infer(name, spec, sent++)).modelVersion);
        } catch {
          failed += 1;
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    const answersFrom = (version: string) =>
      eventually(`v${version} answers`, async () => {
        const mark = answeredBy.length;
        await new Promise((resolve) => setTimeout(resolve, 200));
        const recent = answeredBy.slice(mark);
        return recent.length > 0 && recent.every((v) => v === version) ? true : undefined;
      });
    await answersFrom('1');
    const switched = await http()
      .post(`/api/v1/models/${name}/rollouts`)
      .send({ version: 2, actor: 'alice', reason: 'switch to green' });
    expect(switched.body).toMatchObject({ state: 'progressing', candidateWeight: 100 });
    await answersFrom('2');
    const back = await http()
      .post(`/api/v1/models/${name}/rollout/rollback`)
      .send({ actor: 'alice', reason: 'switch back to blue' });
    expect(back.body).toMatchObject({ state: 'rolled-back', candidateWeight: 0 });
    await answersFrom('1');
    done = true;
    await Promise.all(workers);
    expect(failed).toBe(0);
    expect(answeredBy.length).toBeGreaterThan(50);
  }, 120_000);

  it.each([
    ['cannot load', 'not a package' as const, 1_000, /^v2 did not load in staging within 3 s$/],
    [
      'breaches the latency budget',
      1e-3,
      0.001,
      /^v2 breached the staging latency budget: p99 [\d.]+ ms over 5 sample requests > 0.001 ms$/,
    ],
  ])(
    'never lets a version that %s in staging reach production',
    async (_what, candidate, budgetMs, reason) => {
      const { name } = await modelWith(
        {
          strategy: 'canary',
          staging: { enabled: true, maxP99LatencyMs: budgetMs, sampleRequests: 5, loadTimeoutSeconds: 3 },
          canary: { steps: [{ weight: 10, bakeSeconds: 1 }], analysis: { minRequests: 0 } },
        },
        candidate,
      );
      const started = await http()
        .post(`/api/v1/models/${name}/rollouts`)
        .send({ version: 2, actor: 'alice', reason: 'roll v2 out' });
      expect(started.body).toMatchObject({ state: 'staging' });
      const final = await eventually(
        'the staging trial',
        async () => {
          const rollout = await rolloutOf(name);
          return rollout.state === 'staging' ? undefined : rollout;
        },
        { timeoutMs: 60_000 },
      );
      expect(final).toMatchObject({ state: 'rejected', transition: { trigger: 'staging-failed' } });
      expect(final.transition.reason).toMatch(reason);
      expect((await http().get(`/api/v1/models/${name}/aliases/champion`)).body.version).toBe(1);
      expect((await http().get(`/api/v1/models/${name}/aliases/challenger`)).status).toBe(404);
    },
    120_000,
  );
});

/** A TCP port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
