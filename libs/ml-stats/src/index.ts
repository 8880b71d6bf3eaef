// Public API of @keel/ml-stats: framework-free metrics, fairness, robustness and drift statistics.
export { StatsInputError, type StatsErrorCode } from './errors';
export type { Numbers } from './internal/validate';

export {
  accuracy,
  confusionMatrix,
  f1,
  perClassMetrics,
  precision,
  recall,
  type Average,
  type ClassificationOptions,
  type ClassMetrics,
  type ConfusionMatrix,
} from './metrics/classification';
export { averagePrecision, prAuc, rocAuc } from './metrics/ranking';
export {
  brierScore,
  calibrationBins,
  logLoss,
  multiclassLogLoss,
  type Calibration,
  type CalibrationBin,
} from './metrics/probabilistic';
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
export {
  type FacetBias,
  PRE_TRAINING_BIAS_METRICS,
  preTrainingBias,
  type PreTrainingBiasInput,
  type PreTrainingBiasMetric,
} from './fairness/pretraining-bias';

export { chiSquareCdf, chiSquareSf, logGamma, regularizedGammaP, regularizedGammaQ } from './special/gamma';
export { kolmogorovNSf, kolmogorovSf, smirnovSf } from './special/kolmogorov';

export { chiSquareContingency, chiSquareGoodnessOfFit, type ChiSquareResult } from './drift/chi-square';
export { jensenShannonDistance, type LogBase } from './drift/jensen-shannon';
export { ksPValue, ksTwoSample, type KsMethod, type KsResult } from './drift/ks';
export {
  categoricalProportions,
  evidentlyNumericBins,
  fillZeroesLikeEvidently,
  histogramCounts,
  proportions,
  psi,
  psiEvidently,
  psiFromCounts,
  quantileEdges,
  sturgesEdges,
} from './drift/psi';
export { MIN_EXPECTED_COUNT, OTHER_CATEGORY, type PooledCategories, poolRareCategories } from './drift/pool-categories';
export { populationStd, wassersteinDistance, wassersteinNormed } from './drift/wasserstein';
export {
  columnDriftReport,
  type ColumnDriftReport,
  defaultDriftStatistic,
  DRIFT_STATISTIC,
  DRIFT_STATISTICS,
  isDrift,
  SMALL_SAMPLE_ROWS,
  testDrift,
  type ColumnKind,
  type DriftStatistic,
  type DriftStatisticName,
  type DriftTestChoice,
  type DriftTestResult,
} from './drift/statistics';

export { CategoricalSummary, type CategoricalSummaryJson } from './summary/categorical-summary';
export {
  compareCategorical,
  compareNumeric,
  type CategoricalDrift,
  type DriftThresholds,
  type NumericDrift,
} from './summary/compare';
export { KllSketch, type KllSketchJson, type WeightedItems } from './summary/kll';
export {
  edgesFromSketch,
  NumericSummary,
  type NumericSummaryJson,
  type NumericSummaryOptions,
} from './summary/numeric-summary';

export { Adwin, type AdwinJson, type AdwinOptions } from './concept-drift/adwin';
export {
  createDetector,
  type DetectorConfig,
  type DetectorJson,
  detectorFromJson,
  type DriftDetector,
} from './concept-drift/detector';
export { PageHinkley, type PageHinkleyJson, type PageHinkleyOptions } from './concept-drift/page-hinkley';

export { cbpe, type CbpeEstimate, type CbpeOptions, type CbpeReference } from './estimation/cbpe';
export { IsotonicRegression } from './estimation/isotonic';

export { Prng } from './random/prng';
export {
  predictionStability,
  type FeatureValue,
  type PerturbationResult,
  type Predict,
  type RobustnessOptions,
  type RobustnessReport,
  type Row,
} from './robustness/stability';
