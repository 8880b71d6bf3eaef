import { StatsInputError } from '../errors';
import { assertBinary, assertFinite, assertNonEmpty, assertSameLength, type Numbers } from '../internal/validate';
import { groupIndices, type GroupKey } from '../metrics/slice';

/** Binary truth and predictions (0/1) with the sensitive feature of each row. */
export interface FairnessInput {
  readonly yTrue: Numbers;
  readonly yPred: Numbers;
  readonly sensitive: ArrayLike<GroupKey>;
}

/**
 * Rates of one sensitive group. A rate whose denominator is empty (a group with no actual positives has no TPR)
 * is `null` rather than Fairlearn's silent 0, and the difference metrics that need it throw.
 */
export interface GroupRates {
  readonly group: GroupKey;
  readonly count: number;
  readonly selectionRate: number;
  readonly truePositiveRate: number | null;
  readonly falsePositiveRate: number | null;
}

/** Selection rate P(ŷ=1), TPR P(ŷ=1 | y=1) and FPR P(ŷ=1 | y=0) per group, groups in sorted order. */
export function groupRates(input: FairnessInput): GroupRates[] {
  const { yTrue, yPred, sensitive } = input;
  assertSameLength(['yTrue', 'yPred', 'sensitive'], [yTrue, yPred, sensitive]);
  assertNonEmpty('yTrue', yTrue);
  assertFinite('yTrue', yTrue);
  assertFinite('yPred', yPred);
  assertBinary('yTrue', yTrue);
  assertBinary('yPred', yPred);
  const out: GroupRates[] = [];
  for (const [group, rows] of groupIndices(sensitive)) {
    let selected = 0;
    let positives = 0;
    let truePositives = 0;
    let falsePositives = 0;
    for (const i of rows) {
      if (yPred[i] === 1) selected++;
      if (yTrue[i] === 1) {
        positives++;
        if (yPred[i] === 1) truePositives++;
      } else if (yPred[i] === 1) falsePositives++;
    }
    const negatives = rows.length - positives;
    out.push({
      group,
      count: rows.length,
      selectionRate: selected / rows.length,
      truePositiveRate: positives > 0 ? truePositives / positives : null,
      falsePositiveRate: negatives > 0 ? falsePositives / negatives : null,
    });
  }
  return out;
}

type RateName = 'selectionRate' | 'truePositiveRate' | 'falsePositiveRate';

function ratesOf(rates: GroupRates[], name: RateName): number[] {
  if (rates.length < 2) {
    throw new StatsInputError('undefined', 'fairness differences need at least 2 sensitive groups');
  }
  return rates.map((r) => {
    const value = r[name];
    if (value === null) {
      const why = name === 'truePositiveRate' ? 'no actual positives' : 'no actual negatives';
      throw new StatsInputError(
        'undefined',
        `group ${JSON.stringify(r.group)} has ${why}, so its ${name} is undefined`,
      );
    }
    return value;
  });
}

const spread = (values: number[]): number => Math.max(...values) - Math.min(...values);

/** Fairlearn `demographic_parity_difference` (between_groups): max − min selection rate. 0 is parity. */
export function demographicParityDifference(input: FairnessInput): number {
  return spread(ratesOf(groupRates(input), 'selectionRate'));
}

/**
 * Fairlearn `demographic_parity_ratio` (between_groups): min ÷ max selection rate. 1 is parity.
 * Throws `undefined` when no group is ever selected (0/0).
 */
export function demographicParityRatio(input: FairnessInput): number {
  const rates = ratesOf(groupRates(input), 'selectionRate');
  const max = Math.max(...rates);
  if (max === 0) throw new StatsInputError('undefined', 'demographic parity ratio is 0/0: no group has any selection');
  return Math.min(...rates) / max;
}

/** Fairlearn `equal_opportunity_difference`: max − min true positive rate across groups. */
export function equalOpportunityDifference(input: FairnessInput): number {
  return spread(ratesOf(groupRates(input), 'truePositiveRate'));
}

/** Fairlearn `equalized_odds_difference` (agg worst_case): the larger of the TPR and FPR spreads. */
export function equalizedOddsDifference(input: FairnessInput): number {
  const rates = groupRates(input);
  return Math.max(spread(ratesOf(rates, 'truePositiveRate')), spread(ratesOf(rates, 'falsePositiveRate')));
}
