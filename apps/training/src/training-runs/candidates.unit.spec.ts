import { describe, expect, it } from 'vitest';
import { selectBest } from './candidates';

describe('selectBest', () => {
  const candidates: { metrics: Record<string, number> }[] = [
    { metrics: { auc: 0.9, log_loss: 0.3, rmse: 10 } },
    { metrics: { auc: 0.93, log_loss: 0.35, rmse: 8 } },
    { metrics: { auc: 0.93, log_loss: 0.2 } },
  ];

  it('given a higher-is-better metric, then the highest wins and ties go to the earlier candidate', () => {
    expect(selectBest(candidates, 'auc')).toBe(1);
  });

  it('given a lower-is-better metric, then the lowest wins', () => {
    expect(selectBest(candidates, 'log_loss')).toBe(2);
    expect(selectBest(candidates, 'rmse')).toBe(1);
  });

  it('given no candidate with the metric, then it says which metric is missing', () => {
    expect(() => selectBest(candidates, 'r2')).toThrow('no candidate has the primary metric "r2"');
  });
});
