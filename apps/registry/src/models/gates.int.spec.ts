import { type EventData, ModelRegisteredV1, ModelTrainedV1, type Scalar, WellKnownAlias } from '@keel/contracts';
import { SPLIT_COLUMN, tableFromRecords, writeParquet } from '@keel/datasets';
import { evaluatePackage, serializePackage } from '@keel/model-package';
import { BUCKETS } from '@keel/storage';
import {
  binaryTestPackage,
  fixtureRecords,
  pipelineSpecFixture,
  type ServiceUnderTest,
  startServiceUnderTest,
  uniqueName,
  uniquePipelineId,
} from '@keel/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryEnvSchema } from '../config';
import { RegistryModule } from '../registry.module';

/**
 * The registry's gates on what it can verify, on UCI Adult with sex and race protected: it recomputes the
 * candidate's holdout metrics from the package and the feature set the event names, and applies the spec's fairness
 * thresholds to the gaps it measured there.
 */
describe('registry gates on verified metrics', () => {
  const fair = pipelineSpecFixture('adult-income', {
    id: uniquePipelineId('gates-fair'),
    gates: [{ metric: 'auc', min: 0.5 }],
    fairnessGates: [
      { attribute: 'sex', metric: 'demographic_parity_difference', max: 0.01 },
      { attribute: 'race', metric: 'demographic_parity_ratio', min: 0.01 },
    ],
    // Perturbations no model shrugs off entirely: some decisions flip, so a minimum of 1 fails.
    robustnessGate: { min: 1, noiseScale: 1, swapRate: 0.5, missingRate: 0.5, seed: 1, maxRows: 5_000 },
    // Every error costs, so only a perfect model would cost nothing.
    businessGate: {
      costMatrix: { truePositive: 0, falsePositive: 1, trueNegative: 0, falseNegative: 5 },
      maxCostPer1000: 0,
    },
  });
  const forged = pipelineSpecFixture('adult-income', { id: uniquePipelineId('gates-forged'), gates: [] });
  let sut: ServiceUnderTest;
  const http = () => request(sut.app.getHttpServer());

  beforeAll(async () => {
    sut = await startServiceUnderTest({
      service: 'registry',
      envSchema: registryEnvSchema,
      features: [RegistryModule],
      pipelines: [fair, forged],
      consumers: { models: [ModelTrainedV1] },
      record: { topics: [ModelRegisteredV1.topic] },
    });
  });

  afterAll(async () => {
    await sut?.close();
  });

  /** A package trained on 1,200 Adult rows and a feature set whose holdout is the next 800; stored; the honest event. */
  async function trained(spec: typeof fair) {
    const rows = fixtureRecords('adult', { count: 2_000, numeric: spec }) as Record<string, Scalar>[];
    const numeric = spec.features.filter((f) => f.type === 'numeric').map((f) => f.name);
    const records = rows.map((row, i) => ({ ...row, [SPLIT_COLUMN]: i < 1_200 ? 'train' : 'holdout' }));
    const table = tableFromRecords(
      records,
      Object.keys(records[0]).map((name) => ({
        name,
        type: numeric.includes(name) ? ('integer' as const) : ('string' as const),
      })),
    );
    const featureSet = await sut.infra.objects.putContentAddressed(
      BUCKETS.features,
      `${spec.id}/feature-sets`,
      writeParquet(table),
      { extension: '.parquet' },
    );
    const pkg = binaryTestPackage(spec, rows.slice(0, 1_200));
    pkg.lineage.featureSetSha256 = featureSet.sha256;
    const holdout = rows.slice(1_200);
    const raw = Object.fromEntries(pkg.signature.inputs.map((i) => [i.name, holdout.map((r) => r[i.name] ?? null)]));
    pkg.metrics = evaluatePackage(
      pkg,
      raw as never,
      holdout.map((r) => r.income),
    );
    const stored = await sut.infra.objects.putContentAddressed(BUCKETS.models, spec.id, serializePackage(pkg), {
      extension: '.json',
    });
    return {
      pipelineId: spec.id,
      runId: uniqueName('run'),
      algorithm: 'logistic-regression',
      packageUri: stored.uri,
      packageSha256: stored.sha256,
      metrics: pkg.metrics,
      datasetSha256: '0'.repeat(64),
      featureSetId: `fs-${featureSet.sha256.slice(0, 32)}`,
      featureSetSha256: featureSet.sha256,
      featureSetUri: featureSet.uri,
    } as EventData<typeof ModelTrainedV1>;
  }

  async function registered(event: EventData<typeof ModelTrainedV1>) {
    await sut.infra.publisher.publish(ModelTrainedV1, event, { id: uniqueName('trained') });
    return (
      await sut.recorder.waitForEvent(ModelRegisteredV1, (e) => e.data.packageSha256 === event.packageSha256, {
        timeoutMs: 60_000,
      })
    ).data;
  }

  it('rejects a version whose sex gap exceeds the spec’s threshold, with the measured gaps, and moves no alias', async () => {
    const event = await trained(fair);
    const data = await registered(event);
    expect(data.gatesPassed).toBe(false);
    const byName = new Map(data.gates.map((gate) => [gate.gate, gate]));
    expect(byName.get('metrics verified on the holdout')?.passed).toBe(true);
    expect(byName.get('auc >= 0.5')?.passed).toBe(true);
    const sex = byName.get('sex demographic_parity_difference <= 0.01')!;
    expect(sex.passed).toBe(false);
    expect(sex.observed).toBeGreaterThan(0.01);
    expect(sex.message).toMatch(/selection rates Female .* Male /);
    expect(byName.get('race demographic_parity_ratio >= 0.01')).toBeDefined();
    const robustness = byName.get('robustness score >= 1')!;
    expect(robustness).toMatchObject({ passed: false, threshold: 1 });
    expect(robustness.observed).toBeLessThan(1);
    expect(robustness.message).toMatch(/decisions unchanged on 800 holdout rows under gaussian-noise /);
    const business = byName.get('expected cost per 1000 predictions <= 0')!;
    expect(business).toMatchObject({ passed: false, threshold: 0 });
    expect(business.observed).toBeGreaterThan(0);
    expect(business.message).toMatch(/^cost [0-9.]+ > max 0: TP \d+, FP \d+, TN \d+, FN \d+ of 800 holdout rows$/);

    const { versions } = (await http().get(`/api/v1/models/${fair.id}/versions`).expect(200)).body;
    expect(versions[0]).toMatchObject({
      gatesPassed: false,
      metrics: event.metrics,
      verification: { status: 'verified', rows: 800 },
    });
    const fairness = versions[0].verification.fairness as {
      attribute: string;
      metrics: Record<string, number>;
      groups: { group: string; selectionRate: number }[];
    }[];
    expect(fairness.map((f) => f.attribute)).toEqual(['sex', 'race']);
    expect(fairness[0].metrics.demographic_parity_difference).toBe(sex.observed);
    expect(versions[0].verification.robustness).toMatchObject({ rows: 800, score: robustness.observed });
    expect(versions[0].verification.business).toMatchObject({ rows: 800, costPer1000: business.observed });
    await http().get(`/api/v1/models/${fair.id}/aliases/${WellKnownAlias.CHAMPION}`).expect(404);

    // the evaluation report behind the gates, stored with the version and read over HTTP
    const report = (
      await http().get(`/api/v1/models/${fair.id}/versions/${versions[0].version}/evaluation`).expect(200)
    ).body;
    expect(report).toMatchObject({ task: 'binary-classification', rows: 800, metrics: event.metrics });
    expect(report.slices.map((slice: { attribute: string }) => slice.attribute)).toEqual(['sex', 'race']);
    const female = report.slices[0].groups.find((g: { group: string }) => g.group === 'Female');
    expect(female.rates.selectionRate).toBe(fairness[0].groups.find((g) => g.group === 'Female')!.selectionRate);
    const matrix = report.confusionMatrix;
    expect(matrix.truePositive + matrix.falsePositive + matrix.trueNegative + matrix.falseNegative).toBe(800);
    expect(report.thresholds).toHaveLength(21);
    expect(report.calibration.bins).toHaveLength(10);
  });

  it('rejects a forged event whose metrics the package does not score, naming the claim', async () => {
    const event = await trained(forged);
    const data = await registered({ ...event, metrics: { ...event.metrics, auc: 1 } });
    expect(data.gatesPassed).toBe(false);
    const verification = data.gates.find((gate) => gate.gate === 'metrics verified on the holdout')!;
    expect(verification.passed).toBe(false);
    expect(verification.message).toBe(`on 800 holdout rows: auc claimed 1, recomputed ${event.metrics.auc}`);
    const { versions } = (await http().get(`/api/v1/models/${forged.id}/versions`).expect(200)).body;
    // the version keeps the recomputed metrics; the claims are kept beside them
    expect(versions[0].metrics.auc).toBe(event.metrics.auc);
    expect(versions[0].verification).toMatchObject({ status: 'failed', claimedMetrics: { auc: 1 } });
    await http().get(`/api/v1/models/${forged.id}/aliases/${WellKnownAlias.CHAMPION}`).expect(404);
  });

  it('rejects by default a forged event that names no feature set, however good its claims', async () => {
    const spec = pipelineSpecFixture('adult-income', { id: uniquePipelineId('gates-unnamed'), gates: [] });
    await sut.infra.pipelines.apply(spec);
    const { featureSetUri, ...event } = await trained(spec);
    expect(featureSetUri).toBeDefined(); // the package and its holdout exist; the event just does not say where
    const data = await registered({ ...event, metrics: { auc: 1, accuracy: 1 } });
    expect(data.gatesPassed).toBe(false);
    expect(data.gates).toEqual([
      {
        gate: 'metrics verified on the holdout',
        passed: false,
        message: 'the event names no feature set to recompute the metrics on',
      },
    ]);
    const { versions } = (await http().get(`/api/v1/models/${spec.id}/versions`).expect(200)).body;
    expect(versions[0]).toMatchObject({ gatesPassed: false, metrics: {}, verification: { status: 'unverified' } });
    expect(versions[0].verification.claimedMetrics).toEqual({ auc: 1, accuracy: 1 });
    await http().get(`/api/v1/models/${spec.id}/aliases/${WellKnownAlias.CHAMPION}`).expect(404);
  });
});
