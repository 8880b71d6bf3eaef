import { type BusinessGate } from '@keel/contracts';

/** What a candidate's holdout predictions cost by the spec's prices, per 1,000 predictions. */
export interface BusinessCost {
  costPer1000: number;
  rows: number;
  /** Binary classification: counts of each outcome of the decision (probability ≥ 0.5). */
  outcomes?: { truePositive: number; falsePositive: number; trueNegative: number; falseNegative: number };
}

/**
 * Expected cost per 1,000 predictions: the mean cost of a holdout prediction × 1,000. Classification prices each
 * outcome with the cost matrix (yTrue 1 = positive); regression prices |error| or error² with errorCost. No rows: 0.
 */
export function businessCost(gate: BusinessGate, yTrue: Float64Array, scores: Float64Array): BusinessCost {
  const rows = yTrue.length;
  if (gate.costMatrix) {
    const outcomes = { truePositive: 0, falsePositive: 0, trueNegative: 0, falseNegative: 0 };
    for (let i = 0; i < rows; i++) {
      const decided = scores[i] >= 0.5;
      if (yTrue[i] === 1) outcomes[decided ? 'truePositive' : 'falseNegative']++;
      else outcomes[decided ? 'falsePositive' : 'trueNegative']++;
    }
    const prices = gate.costMatrix;
    const total =
      outcomes.truePositive * prices.truePositive +
      outcomes.falsePositive * prices.falsePositive +
      outcomes.trueNegative * prices.trueNegative +
      outcomes.falseNegative * prices.falseNegative;
    return { costPer1000: rows === 0 ? 0 : (total / rows) * 1_000, rows, outcomes };
  }
  const { perUnit, of } = gate.errorCost!;
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const error = Math.abs(scores[i] - yTrue[i]);
    total += perUnit * (of === 'squared-error' ? error * error : error);
  }
  return { costPer1000: rows === 0 ? 0 : (total / rows) * 1_000, rows };
}
