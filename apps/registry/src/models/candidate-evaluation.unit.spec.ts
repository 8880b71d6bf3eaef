import { type Scalar } from '@keel/contracts';
import { SPLIT_COLUMN, tableFromRecords, writeParquet } from '@keel/datasets';
import { TransformRunner } from '@keel/ml-models';
import { evaluatePackage, scoreMatrix, serializePackage } from '@keel/model-package';
import {
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  predictionStability,
} from '@keel/ml-stats';
import { binaryTestPackage, fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { describe, expect, it } from 'vitest';
import { evaluateCandidate, MAX_RECORDED_GROUPS } from './candidate-evaluation.task';
import { evaluateFairnessGates, evaluateRobustnessGate, verifyClaimedMetrics, VERIFIED_METRICS_GATE } from './gates';

const spec = pipelineSpecFixture('adult-income', { id: 'adult-eval-unit' });
const NUMERIC = spec.features.filter((f) => f.type === 'numeric').map((f) => f.name);

/** 600 Adult rows: the first 400 train a package, the last 200 are the feature set's holdout. */
function fixture() {
  const rows = fixtureRecords('adult', { count: 600, numeric: spec }) as Record<string, Scalar>[];
  const pkg = binaryTestPackage(spec, rows.slice(0, 400));
  const records = rows.map((row, i) => ({ ...row, [SPLIT_COLUMN]: i < 400 ? 'train' : 'holdout' }));
  const names = Object.keys(records[0]);
  const table = tableFromRecords(
    records,
    names.map((name) => ({ name, type: NUMERIC.includes(name) ? ('integer' as const) : ('string' as const) })),
  );
  return { rows, pkg, featureSet: writeParquet(table) };
}

describe('candidate evaluation', { timeout: 60_000 }, () => {
  const { rows, pkg, featureSet } = fixture();
  const holdout = rows.slice(400);
  const evaluate = () =>
    evaluateCandidate(
      { candidatePackage: serializePackage(pkg), featureSet, protectedAttributes: ['sex', 'race'] },
      { progress: () => undefined },
    );

  it('given a package and its feature set, then the holdout metrics are the package’s own on those rows', async () => {
    const out = await evaluate();
    const raw = Object.fromEntries(pkg.signature.inputs.map((i) => [i.name, holdout.map((r) => r[i.name] ?? null)]));
    expect(out.rows).toBe(200);
    expect(out.metrics).toEqual(
      evaluatePackage(
        pkg,
        raw as never,
        holdout.map((r) => r.income),
      ),
    );
  });

  it('given a package refit on the whole window, then the holdout metrics are those of its model from before the refit', async () => {
    // The served model here learnt the holdout itself; the metrics must come from the model that never saw it.
    const served = binaryTestPackage(spec, holdout).model;
    const refit = {
      ...pkg,
      model: served,
      evaluation: { model: pkg.model, fittedOn: { splits: ['train' as const], rows: 400 } },
    };
    const out = await evaluateCandidate(
      { candidatePackage: serializePackage(refit), featureSet, protectedAttributes: [] },
      { progress: () => undefined },
    );
    const raw = Object.fromEntries(pkg.signature.inputs.map((i) => [i.name, holdout.map((r) => r[i.name] ?? null)]));
    const labels = holdout.map((r) => r.income);
    expect(out.metrics).toEqual(evaluatePackage(pkg, raw as never, labels));
    expect(out.metrics).not.toEqual(evaluatePackage({ ...pkg, model: served }, raw as never, labels));
  });

  it('given protected attributes, then each one’s gaps are Fairlearn’s definitions on the holdout predictions', async () => {
    const out = await evaluate();
    const [sex, race] = out.fairness;
    expect(sex.attribute).toBe('sex');
    expect(sex.groups.map((g) => g.group)).toEqual(['Female', 'Male']);
    expect(race.attribute).toBe('race');
    // the same gaps as the library (itself checked against Fairlearn) gives on the package's holdout predictions
    const raw = Object.fromEntries(pkg.signature.inputs.map((i) => [i.name, holdout.map((r) => r[i.name] ?? null)]));
    const scores = scoreMatrix(pkg, new TransformRunner(pkg.model.preprocessing!).table(raw as never));
    const slice = {
      yTrue: holdout.map((r) => (r.income === '>50K' ? 1 : 0)),
      yPred: Array.from(scores, (p) => (p >= 0.5 ? 1 : 0)),
      sensitive: holdout.map((r) => String(r.sex)),
    };
    expect(sex.metrics).toEqual({
      demographic_parity_difference: demographicParityDifference(slice),
      demographic_parity_ratio: demographicParityRatio(slice),
      equalized_odds_difference: equalizedOddsDifference(slice),
    });
  });

  it('given a robustness gate, then the stability is the library’s on the first maxRows holdout rows, judged by its min', async () => {
    const gate = { min: 0.9, noiseScale: 0.5, swapRate: 0.3, missingRate: 0.2, seed: 7, maxRows: 150 };
    const out = await evaluateCandidate(
      { candidatePackage: serializePackage(pkg), featureSet, protectedAttributes: [], robustness: gate },
      { progress: () => undefined },
    );
    const inputs = pkg.signature.inputs;
    const rowsOf = holdout.slice(0, 150).map((r) => Object.fromEntries(inputs.map((i) => [i.name, r[i.name] ?? null])));
    const scoreRows = (batch: Record<string, unknown>[]) => {
      const raw = Object.fromEntries(inputs.map((i) => [i.name, batch.map((r) => r[i.name] ?? null)]));
      return scoreMatrix(pkg, new TransformRunner(pkg.model.preprocessing!).table(raw as never));
    };
    const expected = await predictionStability(rowsOf as never, scoreRows, {
      numericFeatures: inputs.filter((i) => i.kind === 'numeric').map((i) => i.name),
      categoricalFeatures: inputs.filter((i) => i.kind === 'categorical').map((i) => i.name),
      ...gate,
    });
    expect(out.robustness).toEqual({ ...expected, rows: 150 });
    expect(out.robustness!.score).toBeLessThan(1);

    const strict = evaluateRobustnessGate({ ...gate, min: 1 }, out.robustness);
    expect(strict).toMatchObject({
      gate: 'robustness score >= 1',
      passed: false,
      observed: expected.score,
      threshold: 1,
    });
    expect(strict.message).toMatch(
      /^score [0-9.]+ < min 1: decisions unchanged on 150 holdout rows under gaussian-noise [0-9.]+, category-swap [0-9.]+, missing-values [0-9.]+$/,
    );
    expect(evaluateRobustnessGate({ ...gate, min: 0 }, out.robustness).passed).toBe(true);
    expect(evaluateRobustnessGate(gate, undefined)).toMatchObject({
      passed: false,
      message: 'robustness was not measured on the holdout',
    });
  });

  it('given an event claiming more than the package scores, then verification fails naming the claim', async () => {
    const out = await evaluate();
    const honest = verifyClaimedMetrics(out.metrics, out.metrics, out.rows);
    expect(honest).toMatchObject({ gate: VERIFIED_METRICS_GATE, passed: true });
    const forged = verifyClaimedMetrics({ ...out.metrics, auc: 1 }, out.metrics, out.rows);
    expect(forged.passed).toBe(false);
    expect(forged.message).toBe(`on 200 holdout rows: auc claimed 1, recomputed ${out.metrics.auc}`);
  });

  it('given a protected attribute with a value per row, then the gaps cover every group and the record keeps the largest 64', async () => {
    const out = await evaluateCandidate(
      { candidatePackage: serializePackage(pkg), featureSet, protectedAttributes: ['fnlwgt'] },
      { progress: () => undefined },
    );
    const [weights] = out.fairness;
    const distinct = new Set(holdout.map((r) => String(r.fnlwgt))).size;
    expect(distinct).toBeGreaterThan(MAX_RECORDED_GROUPS);
    expect(weights.groupCount).toBe(distinct);
    expect(weights.groups).toHaveLength(MAX_RECORDED_GROUPS);
    const counts = new Map<string, number>();
    for (const r of holdout) counts.set(String(r.fnlwgt), (counts.get(String(r.fnlwgt)) ?? 0) + 1);
    const smallestKept = Math.min(...weights.groups.map((g) => g.count));
    expect([...counts.values()].filter((n) => n > smallestKept).length).toBeLessThanOrEqual(MAX_RECORDED_GROUPS);
    const raw = Object.fromEntries(pkg.signature.inputs.map((i) => [i.name, holdout.map((r) => r[i.name] ?? null)]));
    const scores = scoreMatrix(pkg, new TransformRunner(pkg.model.preprocessing!).table(raw as never));
    const slice = {
      yTrue: holdout.map((r) => (r.income === '>50K' ? 1 : 0)),
      yPred: Array.from(scores, (p) => (p >= 0.5 ? 1 : 0)),
      sensitive: holdout.map((r) => String(r.fnlwgt)),
    };
    expect(weights.metrics.demographic_parity_difference).toBe(demographicParityDifference(slice));
    const [failing] = evaluateFairnessGates(
      [{ attribute: 'fnlwgt', metric: 'demographic_parity_difference', max: -1 }],
      out.fairness,
    );
    expect(failing.message).toContain(`and ${distinct - MAX_RECORDED_GROUPS} smaller groups`);
  });

  it('given a fairness threshold the model cannot meet, then its gate fails with the measured gap and rates', async () => {
    const out = await evaluate();
    const gap = out.fairness[0].metrics.demographic_parity_difference!;
    const [strict, loose, ratio] = evaluateFairnessGates(
      [
        { attribute: 'sex', metric: 'demographic_parity_difference', max: gap / 2 },
        { attribute: 'sex', metric: 'demographic_parity_difference', max: 1 },
        { attribute: 'nobody', metric: 'demographic_parity_ratio', min: 0.8 },
      ],
      out.fairness,
    );
    expect(strict).toMatchObject({
      gate: `sex demographic_parity_difference <= ${gap / 2}`,
      passed: false,
      observed: gap,
      threshold: gap / 2,
    });
    expect(strict.message).toMatch(/selection rates Female [0-9.]+ \(n=\d+\), Male [0-9.]+ \(n=\d+\)/);
    expect(loose.passed).toBe(true);
    expect(ratio).toMatchObject({
      passed: false,
      message: 'demographic_parity_ratio undefined: "nobody" was not measured',
    });
  });
});
