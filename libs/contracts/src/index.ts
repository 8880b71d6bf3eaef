export { AliasName, WellKnownAlias } from './aliases';
export {
  ColumnType,
  DatasetVersionId,
  DriftStatisticName,
  FeatureSetId,
  ModelVersionNumber,
  ObjectUri,
  PipelineId,
  Scalar,
  Sha256,
  Timestamp,
} from './common';
export {
  type CloudEventAttributes,
  type DecodedCloudEvent,
  decodeCloudEvent,
  isStructuredCloudEvent,
  encodeCloudEventHeaders,
  headerValue,
  MalformedEventError,
  type RawHeaders,
} from './cloudevents';
export { derivedId } from './derived-id';
export { deadLetterTopic, defineEvent, type EventContract, type EventData } from './event-contract';
export { ModelAliasChangedV1 } from './events/alias-changed';
export { ModelRolloutTransitionedV1 } from './events/rollout-transitioned';
export {
  ModelRolloutObservedV1,
  ROLLOUT_GROUPS_MAX,
  ROLLOUT_LATENCY_BOUNDS_MS,
  ROLLOUT_SAMPLE_MAX,
  RolloutGroupObservation,
  RolloutVersionObservation,
} from './events/rollout-observed';
export { AlertKind, AlertRaisedV1, AlertSeverity } from './events/alert-raised';
export { DataRecordsV1 } from './events/data-records';
export { OnlineViewUpdatedV1 } from './events/online-view-updated';
export { DatasetIngestedV1 } from './events/dataset-ingested';
export { DatasetRejectedV1 } from './events/dataset-rejected';
export { DatasetValidatedV1, ShiftedColumn, ValidationFinding, VersionShift } from './events/dataset-validated';
export { DriftDetectedV1 } from './events/drift-detected';
export { FeaturesMaterializedV1 } from './events/features-materialized';
export { LabelReceivedV1 } from './events/label-received';
export { ConceptDriftDetector, LabelWindowClosedV1, PerformanceMetrics } from './events/label-window-closed';
export { ChampionComparison, GateResult, ModelRegisteredV1 } from './events/model-registered';
export { ModelTrainedV1 } from './events/model-trained';
export { PredictionLoggedV1 } from './events/prediction-logged';
export { PREDICTION_LOG_MAX_ROWS, PredictionLoggedV2 } from './events/prediction-logged-v2';
export { TrainingFailedV1 } from './events/training-failed';
export { TrainingRequestedV1 } from './events/training-requested';
export { TrainingRequestedV2, upcastTrainingRequestedV1 } from './events/training-requested-v2';
export {
  CanaryStep,
  DeploymentEnvironment,
  FINAL_ROLLOUT_STATES,
  ManualRolloutAction,
  RolloutAnalysis,
  RolloutSpec,
  RolloutState,
  RolloutStrategy,
  RolloutTrigger,
} from './rollout';
export { allTopics, contractForTopic, eventRegistry } from './registry';
export {
  Algorithm,
  BiasCheck,
  ShiftAction,
  ShiftSpec,
  ShiftTest,
  BusinessGate,
  DriftSpec,
  DriftTest,
  CategoricalFeature,
  datasetColumns,
  type DatasetColumnRole,
  type DatasetColumnSpec,
  datasetSchema,
  FairnessGate,
  FeatureSpec,
  isFeatureTable,
  LABEL_BIAS_METRICS,
  LOWER_IS_BETTER,
  MAX_CLASSES,
  MetricGate,
  metricsOfTask,
  MetricName,
  NumericFeature,
  type PipelineSpecInput,
  PerformanceSpec,
  PipelineSpecV1,
  PipelineTask,
  PIPELINE_SPEC_MAX_FEATURES,
  PIPELINE_SPEC_MAX_VALUES,
  PreTrainingBiasMetricName,
  RobustnessGate,
} from './pipeline-spec';
export {
  FeatureTableSpecV1,
  type FeatureTableSpecInput,
  MODEL_ONLY_SECTIONS,
  parseAnyPipelineSpec,
  type PipelineSpec,
  safeParsePipelineSpec,
} from './pipeline-spec-table';
export {
  featureTimeMoveIssues,
  joinDefinitionSha256,
  joinedFeatures,
  joinTableIssues,
  MAX_JOINS,
  PointInTimeJoinSpec,
  withJoinFeatureTimes,
} from './point-in-time-joins';
export { AlertsSpec, RetrainPolicy } from './retrain-policy';
export {
  DataSource,
  FILE_FORMATS,
  type FileFormat,
  fileFormatOf,
  HttpPagination,
  HttpSource,
  ObjectStoreSource,
  PostgresSource,
  SourceId,
} from './data-sources';
export {
  type ComparisonOperator,
  type FilterExpression,
  filterColumns,
  filterKeeps,
  type FilterLiteral,
  FilterSyntaxError,
  MAX_FILTER_CHARS,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LIST,
  parseFilter,
} from './filter-expression';
export {
  CAST_TYPES,
  type CastType,
  type CleanedColumn,
  CLEANING_STEPS,
  cleaningIssues,
  cleaningSteps,
  type CleaningStep,
  describeCleaning,
  SourceCleaning,
} from './source-cleaning';
export {
  AlgorithmSearch,
  SEARCHABLE_PARAMS,
  SearchDistribution,
  SearchStrategy,
  TrainingSearch,
} from './training-search';
export {
  describeWindow,
  Duration,
  durationMs,
  RecencyWeights,
  SnapshotRef,
  TrainingReason,
  TrainingTrigger,
  TrainingWindow,
} from './training-window';
export {
  checkJsonDepth,
  checkValueCount,
  checkValueDepth,
  checkYamlBlockDepth,
  DEFAULT_MAX_DEPTH,
  DocumentTooDeepError,
  DocumentTooLargeError,
} from './limits';
export { isTimestampText, TIMESTAMP_FORMS, timestampTextMs } from './timestamps';
