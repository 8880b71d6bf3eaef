import { describe, expect, it } from 'vitest';
import { decideChampion, evaluateGates } from './gates';

describe('evaluateGates', () => {
  it('given a min gate met, when evaluated, then it passes with observed and threshold', () => {
    expect(evaluateGates([{ metric: 'auc', min: 0.8 }], { auc: 0.9 })).toEqual([
      { gate: 'auc >= 0.8', passed: true, observed: 0.9, threshold: 0.8, message: 'auc >= 0.8 holds (0.9)' },
    ]);
  });

  it('given a metric exactly on the bound, then the gate passes', () => {
    expect(evaluateGates([{ metric: 'auc', min: 0.8 }], { auc: 0.8 })[0].passed).toBe(true);
    expect(evaluateGates([{ metric: 'rmse', max: 10 }], { rmse: 10 })[0].passed).toBe(true);
  });

  it('given a max gate exceeded, then it fails naming the bound', () => {
    expect(evaluateGates([{ metric: 'rmse', max: 10 }], { rmse: 12.5 })).toEqual([
      { gate: 'rmse <= 10', passed: false, observed: 12.5, threshold: 10, message: 'rmse 12.5 > max 10' },
    ]);
  });

  it('given a range gate, then the violated bound is the threshold', () => {
    const [below] = evaluateGates([{ metric: 'r2', min: 0.5, max: 0.99 }], { r2: 0.4 });
    expect(below).toMatchObject({ gate: 'r2 in [0.5, 0.99]', passed: false, threshold: 0.5 });
    const [above] = evaluateGates([{ metric: 'r2', min: 0.5, max: 0.99 }], { r2: 0.995 });
    expect(above).toMatchObject({ passed: false, threshold: 0.99, message: 'r2 0.995 > max 0.99' });
  });

  it('given a metric the run did not report, then its gate fails without an observed value', () => {
    expect(evaluateGates([{ metric: 'f1', min: 0.5 }], { auc: 0.99 })).toEqual([
      {
        gate: 'f1 >= 0.5',
        passed: false,
        threshold: 0.5,
        message: 'metric "f1" was not reported by the training run',
      },
    ]);
  });

  it('given no gates, then there is nothing to fail', () => {
    expect(evaluateGates([], { auc: 0.1 })).toEqual([]);
  });
});

describe('decideChampion', () => {
  const candidate = (version: number, metrics: Record<string, number>) => ({ version, metrics });

  it('given failed gates, then the champion does not move', () => {
    expect(
      decideChampion({ gatesPassed: false, primaryMetric: 'auc', candidate: candidate(2, { auc: 0.99 }) }),
    ).toEqual({
      move: false,
      reason: 'version 2 failed its gates',
    });
  });

  it('given no champion and passed gates, then the version becomes champion', () => {
    expect(
      decideChampion({ gatesPassed: true, primaryMetric: 'auc', candidate: candidate(1, { auc: 0.7 }) }).move,
    ).toBe(true);
  });

  it.each([
    ['higher auc moves', 'auc', 0.91, 0.9, true],
    ['equal auc moves', 'auc', 0.9, 0.9, true],
    ['lower auc stays', 'auc', 0.89, 0.9, false],
    ['lower rmse moves', 'rmse', 9, 10, true],
    ['equal rmse moves', 'rmse', 10, 10, true],
    ['higher rmse stays', 'rmse', 11, 10, false],
    ['higher log_loss stays', 'log_loss', 0.5, 0.4, false],
  ] as const)('given %s', (_name, metric, mine, theirs, move) => {
    const decision = decideChampion({
      gatesPassed: true,
      primaryMetric: metric,
      candidate: candidate(2, { [metric]: mine }),
      champion: candidate(1, { [metric]: theirs }),
    });
    expect(decision.move).toBe(move);
  });

  it('given a candidate without the primary metric and a champion, then it stays', () => {
    const decision = decideChampion({
      gatesPassed: true,
      primaryMetric: 'auc',
      candidate: candidate(2, { f1: 0.9 }),
      champion: candidate(1, { auc: 0.8 }),
    });
    expect(decision).toEqual({ move: false, reason: 'v2 has no auc to compare with champion v1' });
  });

  it('given the candidate is already champion, then nothing moves', () => {
    const same = candidate(3, { auc: 0.9 });
    expect(decideChampion({ gatesPassed: true, primaryMetric: 'auc', candidate: same, champion: same }).move).toBe(
      false,
    );
  });

  it('given a comparison on the same rows against this champion, then it decides rather than each own holdout', () => {
    // Each on its own holdout the candidate looks worse; on the same rows it is better.
    const decision = decideChampion({
      gatesPassed: true,
      primaryMetric: 'rmse',
      candidate: candidate(3, { rmse: 12 }),
      champion: candidate(2, { rmse: 10 }),
      comparison: { championVersion: 2, candidate: 9, champion: 11, rows: 500 },
    });
    expect(decision).toEqual({
      move: true,
      reason: 'v3 is at least as good: rmse 9 vs 11 of champion v2 on the same 500 rows (lower is better)',
    });
  });

  it('given a comparison made against another champion, then each own holdout decides', () => {
    const decision = decideChampion({
      gatesPassed: true,
      primaryMetric: 'rmse',
      candidate: candidate(4, { rmse: 12 }),
      champion: candidate(3, { rmse: 10 }),
      comparison: { championVersion: 2, candidate: 9, champion: 11, rows: 500 },
    });
    expect(decision.move).toBe(false);
    expect(decision.reason).toContain('each on its own holdout');
  });
});
