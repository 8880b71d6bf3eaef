import { status } from '@grpc/grpc-js';
import { type DeepPartial, ModelInferRequest } from '@keel/grpc-api';
import { type MetricsService } from '@keel/service-runtime';
import { binaryTestPackage, columnTensors, fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { servingEnvSchema, type ServingConfig } from '../config';
import { LoadedModel } from '../models/loaded-model';
import { OnlineViewIndex } from '../online/compact-view';
import { OnlineViewOverLimitError, type OnlineViews, OnlineViewUnavailableError } from '../online/online-views';
import { RolloutObservations } from '../routing/rollout-observations';
import { type RoutingPlan } from '../routing/routing-table';
import { ModelStore } from '../models/model-store';
import { grpcStatusOf } from './inference-errors';
import { InferenceMetrics } from './inference-metrics';
import { InferenceService, PREDICTION_ID_PARAMETER } from './inference.service';
import { type PredictionLogService, type ServedRequest } from './prediction-log.service';
import {
  type MirrorComparison,
  ROUTING_KEY_PARAMETER,
  type Route,
  type VersionObservation,
  type VersionRouter,
} from './version-router';

const spec = pipelineSpecFixture('adult-income', { id: 'adult-unit' });
const rows = fixtureRecords('adult', { count: 300, numeric: spec });
const source = (version: number) => ({
  version,
  packageUri: `s3://keel-models/unit/${version}`,
  packageSha256: '0'.repeat(64),
});

/**
 * Two versions of the Adult model, v1 the champion; v2 with a different regularisation (so their scores differ), or
 * trained on Private-workclass rows only and refusing any other workclass (`unknown: error`).
 */
function twoVersions(candidate: 'l2' | 'refusing' = 'l2'): ModelStore {
  const store = new ModelStore();
  store.add(LoadedModel.build(spec.id, binaryTestPackage(spec, rows, { l2: 1e-4 }), source(1)));
  const refusing = {
    ...spec,
    features: spec.features.map((f) => (f.name === 'workclass' ? { ...f, unknown: 'error' as const } : f)),
  };
  const v2 =
    candidate === 'l2'
      ? binaryTestPackage(spec, rows, { l2: 10 })
      : binaryTestPackage(
          refusing,
          rows.filter((row) => row.workclass === 'Private'),
        );
  store.add(LoadedModel.build(spec.id, v2, source(2)));
  store.bind(spec.id, 'champion', 1);
  store.markInitialSyncDone();
  return store;
}

function service(
  options: { router?: VersionRouter; config?: Partial<ServingConfig>; candidate?: 'l2' | 'refusing' } = {},
) {
  const logged: ServedRequest[] = [];
  const log = { schedule: (request: ServedRequest) => void logged.push(request) } as unknown as PredictionLogService;
  const metrics = new InferenceMetrics({ registry: new Registry() } as MetricsService);
  // No queue-delay shedding unless a test asks: a busy test machine must not refuse its calls.
  const config = {
    ...servingEnvSchema.parse({}),
    SERVING_MAX_QUEUE_DELAY_MS: 0,
    SERVING_MAX_EVENT_LOOP_UTILIZATION: 1,
    ...options.config,
  };
  const store = twoVersions(options.candidate);
  const inference = new InferenceService(store, metrics, log, config, options.router);
  return { inference, logged, metrics, store };
}

const request = (partial: DeepPartial<ModelInferRequest> = {}) =>
  ModelInferRequest.fromPartial({
    modelName: spec.id,
    inputs: columnTensors(spec, fixtureRecords('adult', { count: 3, from: 400, numeric: spec })),
    ...partial,
  });

const probabilities = (response: { outputs: { name: string; contents?: { fp64Contents: number[] } }[] }) =>
  response.outputs.find((output) => output.name === 'probability')!.contents!.fp64Contents;

/** A router with a fixed answer that records the keys it was asked with and the comparisons it was handed. */
function fixedRouter(route: Route | undefined) {
  const keys: (string | undefined)[] = [];
  const comparisons: MirrorComparison[] = [];
  const router: VersionRouter = {
    route: (_model, key) => {
      keys.push(key);
      return route;
    },
    mirrored: (_model, comparison) => void comparisons.push(comparison),
  };
  return { router, keys, comparisons };
}

/**
 * A champion (v1) and a shadow challenger (v2) both filling one numeric input from table "people" by "person_id",
 * each with its own join definition: v1's view holds 10 for it, v2's 60 (v2's view is not loaded when `v2Missing`,
 * over SERVING_MAX_ONLINE_ENTITIES when `v2OverLimit`). `router` replaces the shadow's (v1 answers, v2 mirrored).
 */
function joinedVersions(options: { v2Missing?: boolean; v2OverLimit?: boolean; router?: VersionRouter } = {}) {
  const store = new ModelStore();
  const pkg = binaryTestPackage(spec, rows, { l2: 1e-4 });
  const feature = pkg.signature.inputs.find((input) => input.kind === 'numeric')!.name;
  const withJoin = (joinSha256: string) => ({
    ...pkg,
    signature: {
      ...pkg.signature,
      inputs: pkg.signature.inputs.map((input) => (input.name === feature ? { ...input, nullable: true } : input)),
      joins: [{ pipeline: 'people', entityKey: 'person_id', features: [feature], joinSha256 }],
    },
  });
  store.add(LoadedModel.build(spec.id, withJoin('a'.repeat(64)), source(1)));
  store.add(LoadedModel.build(spec.id, withJoin('b'.repeat(64)), source(2)));
  store.bind(spec.id, 'champion', 1);
  store.markInitialSyncDone();
  const viewHolding = (value: number) =>
    OnlineViewIndex.parse(
      Buffer.from(JSON.stringify({ features: [{ name: feature, type: 'number' }], entities: { p1: [[0, [value]]] } })),
    );
  const online = {
    viewsFor: async (_pipelineId: string, joins: { pipeline: string; joinSha256?: string }[]) =>
      new Map(
        joins.map((join) => {
          if (join.joinSha256 === 'b'.repeat(64) && options.v2Missing) {
            throw new OnlineViewUnavailableError('the online view of feature table "people" is not loaded');
          }
          if (join.joinSha256 === 'b'.repeat(64) && options.v2OverLimit) {
            throw new OnlineViewOverLimitError(
              'the online view of feature table "people" is over SERVING_MAX_ONLINE_ENTITIES',
              'SERVING_MAX_ONLINE_ENTITIES',
            );
          }
          return [join.pipeline, viewHolding(join.joinSha256 === 'a'.repeat(64) ? 10 : 60)];
        }),
      ),
  } as unknown as OnlineViews;
  const logged: ServedRequest[] = [];
  const log = { schedule: (served: ServedRequest) => void logged.push(served) } as unknown as PredictionLogService;
  const metrics = new InferenceMetrics({ registry: new Registry() } as MetricsService);
  const config = {
    ...servingEnvSchema.parse({}),
    SERVING_MAX_QUEUE_DELAY_MS: 0,
    SERVING_MAX_EVENT_LOOP_UTILIZATION: 1,
  };
  const router = options.router ?? fixedRouter({ version: 1, mirror: 2 }).router;
  const inference = new InferenceService(store, metrics, log, config, router, online);
  const record = fixtureRecords('adult', { count: 1, from: 400, numeric: spec })[0];
  const joinedRequest = ModelInferRequest.fromPartial({
    modelName: spec.id,
    inputs: [
      ...columnTensors(spec, [record]).filter((tensor) => tensor.name !== feature),
      { name: 'person_id', datatype: 'BYTES', shape: [1], contents: { bytesContents: [Buffer.from('p1')] } },
    ],
  });
  return { inference, logged, metrics, feature, joinedRequest };
}

describe('InferenceService', () => {
  it('given a shadow challenger with its own join definition, then it is scored on its own view while the champion answers from its own', async () => {
    const { inference, logged, metrics, feature, joinedRequest } = joinedVersions();
    const answered = await inference.infer(joinedRequest);
    expect(answered.modelVersion).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(
      logged.map((served) => [served.modelVersion, Array.from(served.inputs.columns[feature] as Float64Array)]),
    ).toEqual([
      [1, [10]],
      [2, [60]],
    ]);
    expect((await metrics.mirrorFailures.get()).values).toEqual([]);
  });

  it('given a shadow challenger whose own view is not loaded, then the champion answers and the mirror failure is counted with that reason', async () => {
    const { inference, logged, metrics, joinedRequest } = joinedVersions({ v2Missing: true });
    expect((await inference.infer(joinedRequest)).modelVersion).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(logged.map((served) => served.modelVersion)).toEqual([1]);
    expect((await metrics.mirrorFailures.get()).values).toMatchObject([
      { labels: { model: spec.id, reason: 'view-unavailable' }, value: 1 },
    ]);
  });

  it("given a routed canary whose own view is over the limit or not loaded, then each of its calls counts as its failure in the rollout's report while the champion's answers are untouched", async () => {
    const plan: RoutingPlan = {
      rolloutId: `${spec.id}/v2/1`,
      baselineVersion: 1,
      candidateVersion: 2,
      candidateWeight: 50,
      mirrored: false,
      revision: 1,
    };
    const observations = new RolloutObservations();
    const canary = (v2: { v2OverLimit?: boolean; v2Missing?: boolean }) => {
      let calls = 0;
      // Alternates the arms: even calls to the champion, odd ones to the canary.
      const router: VersionRouter = {
        route: () => ({ version: calls++ % 2 === 0 ? 1 : 2 }),
        observed: (model, seen) => observations.record(model, plan, seen),
      };
      return joinedVersions({ ...v2, router });
    };
    const overLimit = canary({ v2OverLimit: true });
    const over = await Promise.allSettled([1, 2, 3, 4].map(() => overLimit.inference.infer(overLimit.joinedRequest)));
    const missing = canary({ v2Missing: true });
    const absent = await Promise.allSettled([1, 2].map(() => missing.inference.infer(missing.joinedRequest)));
    const codes = [...over, ...absent].map((result) =>
      result.status === 'fulfilled' ? result.value.modelVersion : grpcStatusOf(result.reason),
    );
    expect(codes).toEqual(['1', status.RESOURCE_EXHAUSTED, '1', status.RESOURCE_EXHAUSTED, '1', status.UNAVAILABLE]);
    // The champion answered from its own view, as without the canary.
    expect(
      overLimit.logged.map((served) => Array.from(served.inputs.columns[overLimit.feature] as Float64Array)),
    ).toEqual([[10], [10]]);
    const [report] = observations.drain('serving-1');
    expect(report.versions.sort((a, b) => a.version - b.version)).toEqual([
      expect.objectContaining({ version: 1, role: 'baseline', requests: 3, errors: 0 }),
      expect.objectContaining({ version: 2, role: 'candidate', requests: 3, errors: 3, samples: [] }),
    ]);
  });

  it('given a router, when a request names no version, then the routed version answers with its sticky key', async () => {
    const { router, keys } = fixedRouter({ version: 2 });
    const { inference, logged } = service({ router });
    const routed = await inference.infer(
      request({ parameters: { [ROUTING_KEY_PARAMETER]: { stringParam: 'user-7' } } }),
    );
    expect(routed.modelVersion).toBe('2');
    expect(keys).toEqual(['user-7']);
    expect(logged.map((served) => served.modelVersion)).toEqual([2]);
  });

  it('given a router, when a request names a version or alias, then that version answers and the router is not asked', async () => {
    const { router, keys } = fixedRouter({ version: 2 });
    const { inference } = service({ router });
    expect((await inference.infer(request({ modelVersion: '1' }))).modelVersion).toBe('1');
    expect((await inference.infer(request({ modelVersion: 'champion' }))).modelVersion).toBe('1');
    expect(keys).toEqual([]);
  });

  it('given a mirror, then the answer is the routed version alone and the mirror is logged under the same prediction id', async () => {
    const { router, comparisons } = fixedRouter({ version: 1, mirror: 2 });
    const { inference, logged } = service({ router });
    const plain = await service().inference.infer(request());
    const mirrored = await inference.infer(request());
    expect(probabilities(mirrored)).toEqual(probabilities(plain));
    expect(mirrored.modelVersion).toBe('1');
    await new Promise((resolve) => setImmediate(resolve));
    const predictionId = mirrored.parameters[PREDICTION_ID_PARAMETER].stringParam;
    expect(logged.map((served) => [served.modelVersion, served.predictionId])).toEqual([
      [1, predictionId],
      [2, predictionId],
    ]);
    expect(Array.from(logged[1].outputs.probability as Float64Array)).not.toEqual(probabilities(plain));
    expect(comparisons).toMatchObject([{ version: 1, mirrorVersion: 2, predictionId, rows: 3 }]);
  });

  it('given a route to a version not loaded here, then the champion answers and the fallback is counted', async () => {
    const { inference, metrics } = service({ router: fixedRouter({ version: 9 }).router });
    expect((await inference.infer(request())).modelVersion).toBe('1');
    expect((await metrics.routeFallbacks.get()).values[0].value).toBe(1);
  });

  it('given a routed version whose preprocessing refuses a row, then that request alone fails with INVALID_ARGUMENT and the router counts it against the version', async () => {
    const observed: VersionObservation[] = [];
    const router: VersionRouter = {
      route: () => ({ version: 2 }),
      observed: (_model, seen) => void observed.push(seen),
    };
    const { inference } = service({ router, candidate: 'refusing' });
    const of = (workclass: string) =>
      request({
        inputs: columnTensors(spec, [{ ...fixtureRecords('adult', { count: 1, numeric: spec })[0], workclass }]),
      });
    const results = await Promise.allSettled(
      [of('Private'), of('State-gov'), of('Private')].map((r) => inference.infer(r)),
    );
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (results[1] as PromiseRejectedResult).reason as Error;
    expect(grpcStatusOf(error)).toBe(status.INVALID_ARGUMENT);
    expect(error.message).toBe('input "workclass" has category "State-gov", unknown to model version 2');
    expect(observed.map((seen) => [seen.version, seen.code, seen.refused])).toEqual([
      [2, status.OK, false],
      [2, status.INVALID_ARGUMENT, true],
      [2, status.OK, false],
    ]);
  });

  it('given calls beyond the in-flight limit, then they fail fast with RESOURCE_EXHAUSTED, counted as shed', async () => {
    const { inference, metrics, logged } = service({
      config: { SERVING_MAX_IN_FLIGHT_REQUESTS: 2, SERVING_BATCH_MAX_DELAY_MS: 50 },
    });
    const calls = [1, 2, 3].map(() => inference.infer(request()));
    const results = await Promise.allSettled(calls);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    const error = (results[2] as PromiseRejectedResult).reason as Error;
    expect(grpcStatusOf(error)).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.message).toMatch(/SERVING_MAX_IN_FLIGHT_REQUESTS/);
    expect((await metrics.callsShed.get()).values).toMatchObject([{ labels: { reason: 'in-flight' }, value: 1 }]);
    // Nothing was done for the refused call; once the others are answered, calls are admitted again.
    expect(logged).toHaveLength(2);
    expect((await metrics.inFlight.get()).values[0].value).toBe(0);
    await expect(inference.infer(request())).resolves.toMatchObject({ modelVersion: '1' });
  });

  it('given more rows than the per-request limit, then INVALID_ARGUMENT says the limit', async () => {
    const { inference } = service({ config: { SERVING_MAX_ROWS_PER_REQUEST: 2 } });
    const error = (await inference.infer(request()).then(
      () => undefined,
      (failure: unknown) => failure,
    )) as Error;
    expect(grpcStatusOf(error)).toBe(status.INVALID_ARGUMENT);
    expect(error.message).toMatch(/at most 2 per request/);
  });

  it('given a model the registry reports that is still loading, then UNAVAILABLE says so; an unknown model is NOT_FOUND', async () => {
    const { inference, store } = service();
    const failure = (modelName: string) =>
      inference.infer(request({ modelName })).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
    store.setWanted('loading-model', new Map([['champion', 3]]));
    const loading = await failure('loading-model');
    expect(grpcStatusOf(loading)).toBe(status.UNAVAILABLE);
    expect(loading?.message).toMatch(/version 3 of model "loading-model" is still loading/);
    expect(grpcStatusOf(await failure('nobody-here'))).toBe(status.NOT_FOUND);
  });
});
