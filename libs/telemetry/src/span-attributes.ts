/**
 * Span attribute names Keel adds to its own spans, spelled once. They follow OpenTelemetry's naming rules: lower
 * case, dot-separated namespaces under `keel.`, snake_case inside a component. Use the OTel semantic-convention
 * constants (`messaging.*`, `rpc.*`, `db.*`) for what those already name.
 */
export const KeelAttr = {
  PIPELINE_ID: 'keel.pipeline.id',
  /** Version of a pipeline spec (1, 2, … per pipeline). */
  PIPELINE_VERSION: 'keel.pipeline.version',
  DATASET_VERSION: 'keel.dataset.version',
  DATASET_ROWS: 'keel.dataset.rows',
  FEATURE_SET_ID: 'keel.feature_set.id',
  MODEL_NAME: 'keel.model.name',
  MODEL_VERSION: 'keel.model.version',
  MODEL_ALIAS: 'keel.model.alias',
  MODEL_ALGORITHM: 'keel.model.algorithm',
  /** A rollout of a candidate version, its state after a transition and what triggered the transition. */
  ROLLOUT_ID: 'keel.rollout.id',
  ROLLOUT_STATE: 'keel.rollout.state',
  ROLLOUT_TRIGGER: 'keel.rollout.trigger',
  PACKAGE_URI: 'keel.package.uri',
  TRAINING_RUN_ID: 'keel.training.run_id',
  /** What a consumer did with an event: handled, duplicate or dead-lettered. */
  EVENT_OUTCOME: 'keel.event.outcome',
  /** The server-generated id of one inference request's predictions (row i is `<id>-<i>`). */
  PREDICTION_ID: 'keel.prediction.id',
  /** Rows (or records, or inference instances) one operation handled. */
  BATCH_SIZE: 'keel.batch.size',
  /** A drift window of a model version (0-based, in arrival order of its predictions). */
  DRIFT_WINDOW_INDEX: 'keel.drift.window_index',
  DRIFT_PSI_THRESHOLD: 'keel.drift.psi_threshold',
  /** Whether any feature of the window reached the PSI threshold. */
  DRIFT_DRIFTED: 'keel.drift.drifted',
  /** Comma-separated names of the features that drifted. */
  DRIFT_DRIFTED_FEATURES: 'keel.drift.drifted_features',
  DRIFT_MAX_PSI: 'keel.drift.max_psi',
  /** Records of a data event or upload that passed the spec's checks, and those that did not. */
  RECORDS_GOOD: 'keel.records.good',
  RECORDS_BAD: 'keel.records.bad',
  STAGED_BATCHES: 'keel.staged.batches',
  UPLOAD_BYTES: 'keel.upload.bytes',
  VALIDATION_PASSED: 'keel.validation.passed',
  /** The versions a dataset version's shift was measured against ('none' when there was none). */
  VALIDATION_SHIFT_REFERENCE: 'keel.validation.shift.reference_version',
  VALIDATION_SHIFT_PREVIOUS: 'keel.validation.shift.previous_version',
  /** Comma-separated `column/against/statistic=value` of the columns past their spec threshold. */
  VALIDATION_SHIFTED_COLUMNS: 'keel.validation.shift.shifted_columns',
  /** How many of those shifted columns reject the version (their action is reject). */
  VALIDATION_SHIFT_REJECTED: 'keel.validation.shift.rejected_columns',
  SPLIT_STRATEGY: 'keel.split.strategy',
  ROWS_TRAIN: 'keel.rows.train',
  ROWS_VALIDATION: 'keel.rows.validation',
  ROWS_HOLDOUT: 'keel.rows.holdout',
  /** Prefix of one attribute per holdout metric: `keel.metric.auc`, `keel.metric.rmse`, ... */
  METRIC_PREFIX: 'keel.metric.',
  TRAINING_REQUEST_DUPLICATE: 'keel.training_request.duplicate',
  /** The worker-pool task a span ran (`parseCsvTask`), and the thread it ran on. */
  WORKER_TASK: 'keel.worker.task',
  WORKER_THREAD_ID: 'keel.worker.thread_id',
  /** Attributes of a `worker.progress` event: the step, and how far it got when the worker knows. */
  WORKER_STAGE: 'keel.worker.stage',
  WORKER_DONE: 'keel.worker.done',
  WORKER_TOTAL: 'keel.worker.total',
  /** A retrain policy's decision: the signal it heard, fired or suppressed, its sequence and the request it sent. */
  RETRAIN_SIGNAL: 'keel.retrain.signal',
  RETRAIN_OUTCOME: 'keel.retrain.outcome',
  RETRAIN_DECISION: 'keel.retrain.decision',
  TRAINING_REQUEST_ID: 'keel.training_request.id',
  /** An alert's kind and deduplication key. */
  ALERT_KIND: 'keel.alert.kind',
  ALERT_KEY: 'keel.alert.key',
} as const;

export type KeelAttrName = (typeof KeelAttr)[keyof typeof KeelAttr];
