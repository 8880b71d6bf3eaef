import { PipelineSpecV1 } from '@keel/contracts';
import { SPLIT_COLUMN, writeParquet } from '@keel/datasets';
import { fitTransform, stableStringify } from '@keel/ml-models';
import { beforeAll, describe, expect, it } from 'vitest';
import { halvingConfigs, resourceRange, searchAlgorithms, type TrialRunner } from './hyperparameter-search';
import {
  loadTrainingInputs,
  trainAndPackage,
  type TrainingInputs,
  type TrainingRunInput,
  variantFor,
} from './training-run.task';
import { runTrial } from './tuning';

const base = {
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'toy-search',
  task: 'binary-classification',
  target: { column: 'label', positive: 'yes' },
  features: [
    { name: 'x', type: 'numeric' },
    { name: 'z', type: 'numeric' },
    { name: 'c', type: 'categorical' },
  ],
  split: { validationFraction: 0.2 },
} as const;

function specWith(training: Record<string, unknown>): PipelineSpecV1 {
  return PipelineSpecV1.parse({ ...base, training: { primaryMetric: 'auc', seed: 7, ...training } });
}

/** 600 rows with a noisy non-linear label, its train/validation/holdout split and the transform fitted on train. */
function featureSet(): { featureSet: Uint8Array; transform: Uint8Array } {
  const n = 600;
  const x = Array.from({ length: n }, (_, i) => ((i * 37) % 101) / 10 - 5);
  const z = Array.from({ length: n }, (_, i) => ((i * 53) % 89) / 10 - 4.4);
  const c = x.map((_, i) => ['a', 'b', 'c'][(i * 7) % 3]);
  const label = x.map((v, i) => (v * v - 2 * z[i] + (c[i] === 'a' ? 3 : 0) + ((i * 31) % 11) - 5 > 4 ? 'yes' : 'no'));
  const split = x.map((_, i) => (i % 5 === 2 ? 'holdout' : i % 5 === 4 ? 'validation' : 'train'));
  const train = <T>(values: T[]) => values.filter((_, i) => split[i] === 'train');
  return {
    featureSet: writeParquet({
      rowCount: n,
      columns: [
        { name: 'x', type: 'number', values: x },
        { name: 'z', type: 'number', values: z },
        { name: 'c', type: 'string', values: c },
        { name: 'label', type: 'string', values: label },
        { name: SPLIT_COLUMN, type: 'string', values: split },
      ],
    }),
    transform: Buffer.from(
      stableStringify(
        fitTransform({ x: train(x), z: train(z), c: train(c) }, [
          { name: 'x', kind: 'numeric', impute: 'mean', standardize: true },
          { name: 'z', kind: 'numeric', impute: 'mean', standardize: true },
          { name: 'c', kind: 'categorical', encoding: 'code', unknown: 'missing' },
        ]),
      ),
    ),
  };
}

describe('hyperparameter search', { timeout: 120_000 }, () => {
  const bytes = featureSet();
  let inputs: TrainingInputs;
  const search = {
    gbdt: {
      strategy: 'successive-halving',
      trials: 13,
      eta: 3,
      minResource: 10,
      maxResource: 90,
      space: {
        learningRate: { kind: 'logUniform', min: 0.03, max: 0.5 },
        maxLeaves: { kind: 'int', min: 2, max: 16 },
        minSamplesLeaf: { kind: 'int', min: 5, max: 40 },
      },
    },
    'logistic-regression': { trials: 4, space: { l2: { kind: 'logUniform', min: 1e-5, max: 1 } } },
  };
  const spec = specWith({ algorithms: ['logistic-regression', 'gbdt'], search });
  beforeAll(async () => {
    inputs = await loadTrainingInputs(spec, bytes.featureSet, bytes.transform);
  });
  /** Trials in this process, counting how many run at once. */
  function inProcess(delayMs = 0): { runner: TrialRunner; most: () => number } {
    let inFlight = 0;
    let most = 0;
    const runner: TrialRunner = async (trial) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) =>
        setTimeout(resolve, delayMs * (((trial.params.maxLeaves as number | undefined) ?? 0) % 3)),
      );
      inFlight--;
      return runTrial(spec, inputs.data, variantFor(inputs, trial.algorithm), trial);
    };
    return { runner, most: () => most };
  }

  it('given a halving budget of 13 trials and eta 3, then rungs of 9, 3 and 1 configurations at 10, 30 and 90 rounds', async () => {
    const [logistic, gbdt] = await searchAlgorithms(spec, inProcess().runner, { concurrency: 1 });
    expect(logistic.trials).toHaveLength(4);
    expect(logistic.trials.every((t) => t.resource === null)).toBe(true);
    expect(gbdt.trials.map((t) => t.resource)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 30, 30, 30, 90]);
    // the best is the configuration that survived every rung, scored at the full resource
    expect(gbdt.bestTrial).toBe(12);
    expect(gbdt.best.validationScore).toBe(gbdt.trials[12].score);
    expect(gbdt.best.bestIteration).toBe(gbdt.trials[12].bestIteration);
    // bad configurations stopped early: the worst of the first rung never reached a larger resource
    const firstRung = gbdt.trials.slice(0, 9);
    const worst = firstRung.reduce((a, b) => (b.score < a.score ? b : a));
    expect(gbdt.trials.slice(9).some((t) => t.config === worst.config)).toBe(false);
  });

  it('given the same seed, when searched serially and 3 at a time, then trials and the best are identical', async () => {
    const strip = (outcomes: Awaited<ReturnType<typeof searchAlgorithms>>) =>
      outcomes.map(({ wallMs: _w, trials, ...rest }) => ({
        ...rest,
        trials: trials.map(({ trainMs: _t, ...trial }) => trial),
      }));
    const serial = await searchAlgorithms(spec, inProcess().runner, { concurrency: 1 });
    const parallel = inProcess(3);
    const concurrent = await searchAlgorithms(spec, parallel.runner, { concurrency: 3 });
    expect(parallel.most()).toBe(3);
    expect(strip(concurrent)).toEqual(strip(serial));
  });

  it('given the chosen configurations, when packaged, then each is refit on train and validation and the best by validation wins', async () => {
    const outcomes = await searchAlgorithms(spec, inProcess().runner, { concurrency: 2 });
    const features = {
      pipelineId: spec.id,
      datasetVersionId: `ds-${'d'.repeat(32)}`,
      datasetSha256: 'd'.repeat(64),
      featureSetId: `fs-${'f'.repeat(32)}`,
      featureSetUri: 's3://keel-features/toy/fs.parquet',
      featureSetSha256: 'f'.repeat(64),
      transformUri: 's3://keel-features/toy/t.json',
      transformSha256: 'e'.repeat(64),
      rowCounts: { train: 360, validation: 120, holdout: 120 },
    } as TrainingRunInput['features'];
    const run = () =>
      trainAndPackage(
        { spec, features, seed: 7, codeVersion: 'git:unit', ...bytes, tuned: outcomes.map((o) => o.best) },
        { progress: () => undefined },
      );
    const packaged = await run();
    const winner = outcomes.reduce((a, b) => (b.best.validationScore > a.best.validationScore ? b : a));
    expect(packaged.algorithm).toBe(winner.algorithm);
    expect(packaged.candidates.map((c) => c.validationScore)).toEqual(outcomes.map((o) => o.best.validationScore));
    const gbdt = packaged.candidates.find((c) => c.algorithm === 'gbdt')!;
    // the refit trains the rounds early stopping kept, with the tuned parameters
    expect(gbdt.params).toMatchObject({
      ...outcomes[1].best.params,
      maxIterations: outcomes[1].best.bestIteration,
      bestIteration: outcomes[1].best.bestIteration,
    });
    expect(packaged.metrics.auc).toBeGreaterThan(0.8);
    expect(Buffer.from((await run()).packageBytes).equals(Buffer.from(packaged.packageBytes))).toBe(true);
  });
});

describe('search budgets', () => {
  it('given a trial budget, then halving takes the most configurations whose schedule fits', () => {
    expect(halvingConfigs(13, 3, 2)).toBe(9); // 9 + 3 + 1
    expect(halvingConfigs(12, 3, 2)).toBe(8); // 8 + 2 + 1
    expect(halvingConfigs(undefined, 3, 2)).toBe(9);
    expect(halvingConfigs(1, 3, 2)).toBe(1);
  });

  it('given no resource bounds, then gbdt halves from 500 rounds and linear models from all rows', () => {
    const entry = { space: {}, strategy: 'successive-halving', eta: 3 } as const;
    expect(resourceRange('gbdt', entry)).toEqual({ min: 55, max: 500 });
    expect(resourceRange('logistic-regression', entry)).toEqual({ min: 1 / 9, max: 1 });
  });

  it('given a search the spec cannot run, then the spec is refused with the reason', () => {
    const bad = (search: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      PipelineSpecV1.safeParse({
        ...base,
        ...extra,
        training: { algorithms: ['gbdt'], primaryMetric: 'auc', search },
      }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(bad({ gbdt: { space: { learningRate: { kind: 'uniform', min: 0.1, max: 0.2 } } } })).toEqual([
      'training.search.gbdt: a search needs a budget: trials and/or maxSeconds',
    ]);
    expect(bad({ gbdt: { trials: 3, space: { leaves: { kind: 'int', min: 2, max: 8 } } } })?.[0]).toMatch(
      /training.search.gbdt.space.leaves: gbdt takes learningRate, maxIterations/,
    );
    expect(bad({ 'logistic-regression': { trials: 3, space: { l2: { kind: 'uniform', min: 0, max: 1 } } } })).toEqual([
      'training.search.logistic-regression: logistic-regression is not in training.algorithms',
    ]);
    expect(
      bad(
        { gbdt: { trials: 3, space: { l2: { kind: 'uniform', min: 0, max: 1 } } } },
        { split: { validationFraction: 0 } },
      ),
    ).toEqual(['training.search: a search scores trials on the validation split: split.validationFraction > 0']);
  });
});
