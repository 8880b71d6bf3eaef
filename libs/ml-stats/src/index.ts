// Public API of @keel/ml-stats: framework-free metrics, fairness, robustness and drift statistics.
export { StatsInputError, type StatsErrorCode } from './errors';
export type { Numbers } from './internal/validate';

export {
  accuracy,
  confusionMatrix,
  f1,
  precision,
  recall,
  type Average,
  type ClassificationOptions,
  type ConfusionMatrix,
} from './metrics/classification';
export { averagePrecision, prAuc, rocAuc } from './metrics/ranking';
export { brierScore, calibrationBins, logLoss, type Calibration, type CalibrationBin } from './metrics/probabilistic';
export { mae, mape, r2, rmse } from './metrics/regression';
export { groupIndices, sliceBy, type GroupKey, type Pick } from './metrics/slice';

export {
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  equalOpportunityDifference,
  groupRates,
  type FairnessInput,
  type GroupRates,
} from './fairness/group-metrics';
