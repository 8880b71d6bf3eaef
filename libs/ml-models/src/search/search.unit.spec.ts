import { describe, expect, it } from 'vitest';
import { InvalidParameterError } from '../core/errors';
import { hyperband, randomSearch, successiveHalving } from './search';
import { type SearchSpace, sampleParams } from './space';
import { Rng } from '../core/random';
import { trainGbdt } from '../gbdt/train';
import { createModelDocument } from '../model/document';
import { Predictor } from '../model/predictor';
import { auc, syntheticBinary } from '../testing/synthetic';

const space: SearchSpace = {
  lr: { kind: 'logUniform', min: 1e-3, max: 1 },
  leaves: { kind: 'int', min: 2, max: 64 },
  frac: { kind: 'uniform', min: 0.5, max: 1 },
  loss: { kind: 'choice', values: ['a', 'b'] },
};

/** Best at lr = 0.1; a larger budget always helps and reduces noise. */
const objective = (p: Record<string, unknown>, budget = 100) => -Math.abs(Math.log10(p.lr as number) + 1) - 1 / budget;

describe('sampleParams', () => {
  it('given a space, when sampling, then every value respects its distribution', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 200; i++) {
      const p = sampleParams(space, rng);
      expect(p.lr).toBeGreaterThanOrEqual(1e-3);
      expect(p.lr).toBeLessThanOrEqual(1);
      expect(Number.isInteger(p.leaves)).toBe(true);
      expect(p.leaves).toBeGreaterThanOrEqual(2);
      expect(p.leaves).toBeLessThanOrEqual(64);
      expect(['a', 'b']).toContain(p.loss);
    }
  });
});

describe('randomSearch', () => {
  it('given a trial budget, when searching, then it runs exactly that many trials and finds a good lr', async () => {
    const r = await randomSearch(space, (p) => objective(p), { maxTrials: 60, seed: 3 });
    expect(r.trials.length).toBe(60);
    expect(r.stoppedBy).toBe('trials');
    expect(Math.abs(Math.log10(r.best!.params.lr as number) + 1)).toBeLessThan(0.2);
  });

  it('given the same seed, when searching twice, then the trials are identical', async () => {
    const a = await randomSearch(space, (p) => objective(p), { maxTrials: 10, seed: 9 });
    const b = await randomSearch(space, (p) => objective(p), { maxTrials: 10, seed: 9 });
    expect(a.trials).toEqual(b.trials);
  });

  it('given a time budget, when the clock passes it, then the search stops', async () => {
    let t = 0;
    const r = await randomSearch(space, () => ((t += 10), 0), { timeBudgetMs: 35, now: () => t });
    expect(r.trials.length).toBe(4);
    expect(r.stoppedBy).toBe('time');
  });

  it("given direction 'minimize' and an async objective, when searching, then the lowest score wins", async () => {
    const r = await randomSearch(space, async (p) => Promise.resolve(p.frac as number), {
      maxTrials: 20,
      direction: 'minimize',
    });
    expect(r.best!.score).toBe(Math.min(...r.trials.map((t) => t.score)));
  });

  it('given a NaN score, when ranking, then it never wins', async () => {
    const r = await randomSearch(space, (_p, i) => (i === 0 ? NaN : -i), { maxTrials: 3 });
    expect(r.best!.index).toBe(1);
  });

  it('given bad options, when searching, then InvalidParameterError is thrown', async () => {
    await expect(randomSearch(space, () => 0, {})).rejects.toBeInstanceOf(InvalidParameterError);
    await expect(randomSearch({}, () => 0, { maxTrials: 1 })).rejects.toThrow(/empty/);
    await expect(
      randomSearch({ x: { kind: 'logUniform', min: 0, max: 1 } }, () => 0, { maxTrials: 1 }),
    ).rejects.toThrow(/min > 0/);
  });
});

describe('successiveHalving', () => {
  it('given 9 configs, eta 3 and budgets 1..9, then rungs hold 9, 3 and 1 trials at budgets 1, 3, 9', async () => {
    const r = await successiveHalving(space, (p, b) => objective(p, b), {
      minBudget: 1,
      maxBudget: 9,
      eta: 3,
      seed: 1,
    });
    expect(r.trials.map((t) => t.budget)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 9]);
    // The survivor of each rung is the best of the previous one.
    const rung0 = r.trials.slice(0, 9);
    const bestConfig = rung0.reduce((a, b) => (b.score > a.score ? b : a)).config;
    expect(r.best!.config).toBe(bestConfig);
    expect(r.best!.budget).toBe(9);
  });

  it('given a trial budget smaller than the schedule, then it stops early', async () => {
    const r = await successiveHalving(space, (p, b) => objective(p, b), { minBudget: 1, maxBudget: 9, maxTrials: 5 });
    expect(r.trials.length).toBe(5);
    expect(r.stoppedBy).toBe('trials');
  });
});

describe('hyperband', () => {
  it('given budgets 1..9 and eta 3, then it runs brackets of 9, 5 and 3 configurations', async () => {
    const r = await hyperband(space, (p, b) => objective(p, b), { minBudget: 1, maxBudget: 9, eta: 3, seed: 2 });
    // Bracket s=2: 9@1, 3@3, 1@9; s=1: 5@3, 1@9 (floor(5/3)); s=0: 3@9.
    expect(r.trials.length).toBe(9 + 3 + 1 + 5 + 1 + 3);
    expect(r.best!.budget).toBe(9);
    const again = await hyperband(space, (p, b) => objective(p, b), { minBudget: 1, maxBudget: 9, eta: 3, seed: 2 });
    expect(again.trials).toEqual(r.trials);
  });
});

describe('concurrent trials', () => {
  /** An async objective whose calls finish out of order; counts the calls in flight. */
  function delayed() {
    let inFlight = 0;
    let most = 0;
    const call = async (p: Record<string, unknown>, budget = 100) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, (p.leaves as number) % 5));
      inFlight--;
      return objective(p, budget);
    };
    return { call, most: () => most };
  }

  it('given concurrency 3, when searching at random, then at most 3 run at once and the trials equal the serial ones', async () => {
    const serial = await randomSearch(space, (p) => objective(p), { maxTrials: 12, seed: 5 });
    const objectiveFn = delayed();
    const parallel = await randomSearch(space, (p) => objectiveFn.call(p), { maxTrials: 12, seed: 5, concurrency: 3 });
    expect(objectiveFn.most()).toBe(3);
    expect(parallel.trials).toEqual(serial.trials);
    expect(parallel.stoppedBy).toBe('trials');
  });

  it('given concurrency 4, when halving, then each rung runs in parallel and the result equals the serial one', async () => {
    const options = { minBudget: 1, maxBudget: 9, eta: 3, seed: 1 };
    const serial = await successiveHalving(space, (p, b) => objective(p, b), options);
    const objectiveFn = delayed();
    const parallel = await successiveHalving(space, (p, b) => objectiveFn.call(p, b), { ...options, concurrency: 4 });
    expect(objectiveFn.most()).toBe(4);
    expect(parallel.trials).toEqual(serial.trials);
    expect(parallel.best).toEqual(serial.best);
    expect(parallel.stoppedBy).toBe('completed');
  });

  it('given a failing trial, when searching concurrently, then the search rejects with its error', async () => {
    await expect(
      randomSearch(
        space,
        async (_p, i) => {
          await Promise.resolve();
          if (i === 2) throw new Error('trial 2 failed');
          return i;
        },
        { maxTrials: 6, concurrency: 2 },
      ),
    ).rejects.toThrow('trial 2 failed');
  });
});

describe('search over a real trainer', () => {
  it('given GBDT rounds as the budget, when running successive halving, then the best model beats the worst', async () => {
    const train = syntheticBinary(800, 1);
    const valid = syntheticBinary(400, 2);
    const r = await successiveHalving(
      { learningRate: { kind: 'logUniform', min: 0.01, max: 0.5 }, maxLeaves: { kind: 'int', min: 2, max: 16 } },
      (p, rounds) => {
        const { model } = trainGbdt(train.x, train.y, {
          objective: 'binary',
          maxIterations: rounds,
          learningRate: p.learningRate as number,
          maxLeaves: p.maxLeaves as number,
          categoricalFeatures: [2],
        });
        return auc(valid.y, new Predictor(createModelDocument({ model })).predictBatch(valid.x));
      },
      { minBudget: 5, maxBudget: 45, eta: 3, seed: 4 },
    );
    const worst = Math.min(...r.trials.map((t) => t.score));
    expect(r.best!.score).toBeGreaterThan(worst);
    expect(r.best!.score).toBeGreaterThan(0.85);
  });
});
