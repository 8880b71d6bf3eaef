import { z } from 'zod';
import { type ColumnType, DriftStatisticName, PipelineId } from './common';
import { DataSource, sourcesIssues } from './data-sources';
import { ConceptDriftDetector } from './events/label-window-closed';
import { joinedFeatures, joinsIssues, MAX_JOINS, PointInTimeJoinSpec } from './point-in-time-joins';
import { type FeatureTableSpecV1, type PipelineSpec } from './pipeline-spec-table';
import { AlertsSpec, RetrainPolicy } from './retrain-policy';
import { RolloutSpec } from './rollout';
import { searchIssues, TrainingSearch } from './training-search';
import { RecencyWeights, TrainingWindow } from './training-window';

/**
 * The pipeline spec, `keel/v1`: what ML engineers declare once per pipeline, as YAML or JSON. Every service reads the
 * current version from the pipeline store; applying a changed spec appends a new version.
 */

/**
 * Most features one spec may declare. Every service validates specs on its event loop (the registry on apply, every
 * reader on a cache miss), and validation grows with the features: at this cap it stays well inside the 100 ms any
 * one input may hold a loop (docs/security/fuzz.md). A contract limit, the same in every service.
 */
export const PIPELINE_SPEC_MAX_FEATURES = 1_000;

/**
 * Most values (objects, arrays and scalars) one spec document may hold, checked in one pass before validation: a
 * spec of {@link PIPELINE_SPEC_MAX_FEATURES} features with every option spelled out and a drift test each is about
 * 10,000.
 */
export const PIPELINE_SPEC_MAX_VALUES = 20_000;

const ColumnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a simple column name');

export const NumericFeature = z.object({
  name: ColumnName,
  type: z.literal('numeric'),
  /** Missing values are imputed with the training split's statistic ('none' keeps NaN for trees). */
  impute: z.enum(['mean', 'median', 'none']).default('median'),
  standardize: z.boolean().default(true),
  /** Records with a missing value are accepted (and imputed) unless this is false. */
  nullable: z.boolean().default(true),
});

export const CategoricalFeature = z.object({
  name: ColumnName,
  type: z.literal('categorical'),
  encoding: z.enum(['code', 'onehot']).default('code'),
  /** What serving does with a category the training data never had. */
  unknown: z.enum(['missing', 'error']).default('missing'),
  nullable: z.boolean().default(true),
});

export const FeatureSpec = z.discriminatedUnion('type', [NumericFeature, CategoricalFeature]);
export type FeatureSpec = z.infer<typeof FeatureSpec>;

export const Algorithm = z.enum(['logistic-regression', 'linear-regression', 'gbdt']);
export type Algorithm = z.infer<typeof Algorithm>;

const classificationMetrics = ['auc', 'accuracy', 'precision', 'recall', 'f1', 'log_loss'] as const;
/**
 * Multiclass metrics, scikit-learn's definitions: `_macro` is the unweighted mean over the declared classes,
 * `_weighted` weights each class by its support, `f1_micro` pools the counts (equal to accuracy for single-label
 * data); log_loss is the multinomial cross-entropy of the class probabilities.
 */
const multiclassMetrics = [
  'accuracy',
  'f1_macro',
  'f1_weighted',
  'f1_micro',
  'precision_macro',
  'recall_macro',
  'log_loss',
] as const;
const regressionMetrics = ['rmse', 'mae', 'r2', 'mape'] as const;
export const MetricName = z.enum([
  ...classificationMetrics,
  'f1_macro',
  'f1_weighted',
  'f1_micro',
  'precision_macro',
  'recall_macro',
  ...regressionMetrics,
]);
export type MetricName = z.infer<typeof MetricName>;

/** What a pipeline predicts: one of two labels, one of several declared classes, or a number. */
export const PipelineTask = z.enum(['binary-classification', 'multiclass-classification', 'regression']);
export type PipelineTask = z.infer<typeof PipelineTask>;

/**
 * Most classes a multiclass target may declare: a GBDT grows one tree per class per round and every served row
 * carries one probability per class, so the cost of training, serving and the prediction log grows with it.
 */
export const MAX_CLASSES = 100;

/** The metrics a task is judged by (the primary metric and the metric gates must be among them). */
export function metricsOfTask(task: PipelineTask): readonly MetricName[] {
  if (task === 'regression') return regressionMetrics;
  return task === 'multiclass-classification' ? multiclassMetrics : classificationMetrics;
}

/** Metrics where lower is better; gates and model selection use this. */
export const LOWER_IS_BETTER: readonly MetricName[] = ['log_loss', 'rmse', 'mae', 'mape'];

export const MetricGate = z
  .object({
    metric: MetricName,
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .refine((gate) => gate.min !== undefined || gate.max !== undefined, 'a gate needs min or max');
export type MetricGate = z.infer<typeof MetricGate>;

/**
 * A fairness gate on the candidate's holdout predictions (label = probability ≥ 0.5), per protected attribute, with
 * Fairlearn's definitions: demographic parity difference (max − min selection rate) and ratio (min ÷ max), equalized
 * odds difference (the larger of the TPR and FPR spreads). Binary classification only.
 */
export const FairnessGate = z
  .object({
    attribute: ColumnName,
    metric: z.enum(['demographic_parity_difference', 'demographic_parity_ratio', 'equalized_odds_difference']),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .refine((gate) => gate.min !== undefined || gate.max !== undefined, 'a gate needs min or max');
export type FairnessGate = z.infer<typeof FairnessGate>;

/**
 * A robustness gate on the candidate's holdout rows (binary classification): the share of rows whose decision
 * (probability ≥ 0.5) is unchanged under each perturbation — Gaussian noise of `noiseScale` × each numeric feature's
 * standard deviation, categories swapped for another seen one at `swapRate`, values made missing at `missingRate` —
 * and the worst of the three must be at least `min`. Seeded: the same package and rows give the same score.
 */
export const RobustnessGate = z.object({
  min: z.number().min(0).max(1),
  noiseScale: z.number().nonnegative().default(0.1),
  swapRate: z.number().min(0).max(1).default(0.1),
  missingRate: z.number().min(0).max(1).default(0.05),
  seed: z.number().int().default(1),
  /** Perturb at most this many holdout rows (the first ones): the gate's cost stays bounded. */
  maxRows: z.number().int().positive().max(100_000).default(5_000),
});
export type RobustnessGate = z.infer<typeof RobustnessGate>;

/**
 * A business gate on the candidate's holdout predictions: the expected cost per 1,000 predictions must not exceed
 * `maxCostPer1000`. Binary classification prices each outcome of the decision (probability ≥ 0.5) with `costMatrix`
 * (a gain is a negative cost); regression prices the error with `errorCost`, per unit of absolute or squared error.
 */
export const BusinessGate = z
  .object({
    costMatrix: z
      .object({
        truePositive: z.number().default(0),
        falsePositive: z.number(),
        trueNegative: z.number().default(0),
        falseNegative: z.number(),
      })
      .optional(),
    errorCost: z
      .object({
        perUnit: z.number().nonnegative(),
        of: z.enum(['absolute-error', 'squared-error']).default('absolute-error'),
      })
      .optional(),
    maxCostPer1000: z.number(),
  })
  .refine((gate) => (gate.costMatrix === undefined) !== (gate.errorCost === undefined), {
    message: 'a business gate needs either costMatrix (classification) or errorCost (regression)',
  });
export type BusinessGate = z.infer<typeof BusinessGate>;

/**
 * Pre-training bias metrics of a dataset version per protected attribute, SageMaker Clarify's definitions: each value
 * (facet d) of the attribute against the other rows (a). class_imbalance (n_a − n_d)/n; difference_in_proportions_of_
 * labels q_a − q_d (q the share of positive labels); kl_divergence, js_divergence, lp_norm, total_variation_distance
 * and kolmogorov_smirnov between the label distributions P_a and P_d; representation_change is the facet's share of
 * rows minus its share in the pipeline's reference version.
 */
/** Metrics of the labels: classification only. */
const labelBiasMetrics = [
  'difference_in_proportions_of_labels',
  'kl_divergence',
  'js_divergence',
  'lp_norm',
  'total_variation_distance',
  'kolmogorov_smirnov',
] as const;
export const PreTrainingBiasMetricName = z.enum(['class_imbalance', ...labelBiasMetrics, 'representation_change']);
export type PreTrainingBiasMetricName = z.infer<typeof PreTrainingBiasMetricName>;
export const LABEL_BIAS_METRICS: readonly PreTrainingBiasMetricName[] = labelBiasMetrics;

/**
 * A pre-training bias check in validation: when the metric's magnitude for any facet of the attribute exceeds `warn`
 * the version passes with a warning; above `reject` it is rejected. Signed metrics (class imbalance, difference in
 * proportions, representation change) are judged by their absolute value.
 */
export const BiasCheck = z
  .object({
    attribute: ColumnName,
    metric: PreTrainingBiasMetricName,
    warn: z.number().nonnegative().optional(),
    reject: z.number().nonnegative().optional(),
  })
  .refine((check) => check.warn !== undefined || check.reject !== undefined, 'a bias check needs warn or reject')
  .refine(
    (check) => check.warn === undefined || check.reject === undefined || check.warn <= check.reject,
    'warn must not exceed reject',
  );
export type BiasCheck = z.infer<typeof BiasCheck>;

/** What a column's shift past its threshold does: a warning on a validated version, or its rejection; or nothing. */
export const ShiftAction = z.enum(['warn', 'reject', 'ignore']);
export type ShiftAction = z.infer<typeof ShiftAction>;

/**
 * A shift test: the statistic (the default for the column's kind and the samples' size when absent), its threshold
 * (the statistic's default when absent) and the action. A threshold needs its statistic: a p-value and a distance cut
 * opposite ways, and the default statistic changes with the number of rows.
 */
export const ShiftTest = z
  .object({
    statistic: DriftStatisticName.optional(),
    /** Distances (psi, jensen-shannon, wasserstein): shifted at or above it; p-values (ks, chi2): below it. */
    threshold: z.number().positive().optional(),
    action: ShiftAction.optional(),
  })
  .refine((test) => test.threshold === undefined || test.statistic !== undefined, {
    message: 'a threshold needs its statistic (p-values and distances cut opposite ways)',
    path: ['threshold'],
  })
  .refine(
    (test) =>
      test.threshold === undefined || !(test.statistic === 'ks' || test.statistic === 'chi2') || test.threshold < 1,
    { message: 'a p-value threshold must be below 1 (every column would count as shifted)', path: ['threshold'] },
  );
export type ShiftTest = z.infer<typeof ShiftTest>;

/**
 * Distribution shift of each feature and the target between dataset versions, in validation: against the pipeline's
 * reference (its first version: slow drift), against its previous accepted version (a sudden jump), or both. The
 * statistics are monitoring's (libs/ml-stats); without a statistic a column gets Evidently's default for its kind and
 * sample size (KS or chi-square at p < 0.05 up to 1,000 rows, normed Wasserstein or Jensen-Shannon at 0.1 above).
 * Declared, a shift warns unless `action` (or a column's) says reject; undeclared, the numbers are only reported.
 */
export const ShiftSpec = z.object({
  against: z.enum(['reference', 'previous', 'both']).default('both'),
  /** What a shifted column does unless its test names an action. */
  action: z.enum(['warn', 'reject']).default('warn'),
  /** Every numeric feature's (and a regression target's) test, unless `columns` names one. */
  numeric: ShiftTest.optional(),
  /** Every categorical feature's (and a classification target's) test, unless `columns` names one. */
  categorical: ShiftTest.optional(),
  /** Per feature or target, by name; a test naming only an action keeps its kind's statistic and threshold. */
  columns: z.record(z.string(), ShiftTest).default({}),
});
export type ShiftSpec = z.infer<typeof ShiftSpec>;

/** Performance on joined labels: label windows, concept drift on the error stream. */
export const PerformanceSpec = z
  .object({
    /** Joined labels per label window (per model version, in join order). */
    windowLabels: z.number().int().min(10).max(100_000).default(500),
    conceptDrift: z
      .object({
        detector: ConceptDriftDetector.default('adwin'),
        /** ADWIN's confidence δ: smaller fires later and more surely. */
        adwinDelta: z.number().gt(0).lt(1).default(0.002),
        /** Page-Hinkley: tolerated change δ, threshold λ, and observations before it may fire. */
        pageHinkleyDelta: z.number().nonnegative().default(0.005),
        pageHinkleyThreshold: z.number().positive().default(50),
        pageHinkleyMinInstances: z.number().int().positive().default(30),
      })
      .prefault({}),
  })
  .prefault({});
export type PerformanceSpec = z.infer<typeof PerformanceSpec>;

/** A column's drift test: a statistic and, optionally, its threshold (the statistic's default otherwise). */
export const DriftTest = z.object({
  statistic: DriftStatisticName,
  /** Distances: drift at or above it; p-value tests (ks, chi2): drift below it. */
  threshold: z.number().positive().optional(),
});
export type DriftTest = z.infer<typeof DriftTest>;

/**
 * Which drift test judges which column. Without a choice, a column gets the default for its kind and sample size:
 * KS (numeric) or chi-square (categorical) at p < 0.05 up to 1,000 rows, the normed Wasserstein (numeric) or
 * Jensen-Shannon (categorical) distance at 0.1 above (Evidently's rule).
 */
export const DriftSpec = z.object({
  /** Every numeric feature's test, unless `features` names one. */
  numeric: DriftTest.optional(),
  /** Every categorical feature's test, unless `features` names one. */
  categorical: DriftTest.optional(),
  /** Per feature, by name. */
  features: z.record(z.string(), DriftTest).default({}),
  /**
   * Prediction drift: each model output of a window compared with the same output over the version's first window
   * (its baseline). `statistic` applies to outputs of its kind; the default rule otherwise.
   */
  predictions: z
    .object({
      enabled: z.boolean().default(true),
      numeric: DriftTest.optional(),
      categorical: DriftTest.optional(),
    })
    .prefault({}),
});
export type DriftSpec = z.infer<typeof DriftSpec>;

/** A spec's features: at least one, at most PIPELINE_SPEC_MAX_FEATURES. */
export const DeclaredFeatures = z
  .array(FeatureSpec)
  .min(1)
  .max(PIPELINE_SPEC_MAX_FEATURES, `at most ${PIPELINE_SPEC_MAX_FEATURES} features (PIPELINE_SPEC_MAX_FEATURES)`);

/** Sources ingestion pulls from (PostgreSQL, HTTP JSON APIs, object-store prefixes), on a schedule or on demand; none by default. */
export const PipelineSources = z.array(DataSource).max(32).default([]);

/** How ingestion cuts a pipeline's records into dataset versions (model pipelines and feature tables alike). */
export const IngestionSpec = z
  .object({
    /** A dataset version is cut when this many records are staged ... */
    batchRows: z.number().int().positive().max(5_000_000).default(100_000),
    /** ... or when no record has arrived for this long. */
    flushAfterMs: z.number().int().positive().default(3_000),
  })
  .prefault({});

/**
 * The checks validation applies to every pipeline's dataset versions (a model pipeline adds bias on its labels), and
 * `validationShift` after them. Apart, because zod writes keys in shape order and a stored spec is compared as text:
 * a model pipeline's `validation` keeps its order (bias before shift), so an unchanged spec stays one version.
 */
export const dataValidationChecks = {
  maxMissingRate: z.number().min(0).max(1).default(0.3),
  /** Share of rows with a category the reference never had, per column. */
  maxUnseenCategoryRate: z.number().min(0).max(1).default(0.05),
  /** Numeric values may exceed the reference range by this fraction of its width. */
  rangeTolerance: z.number().min(0).default(0.5),
  minRows: z.number().int().positive().default(100),
};

/** Distribution shift between versions; absent: measured and reported, never judged (see ShiftSpec). */
export const validationShift = ShiftSpec.optional();

export const PipelineSpecV1 = z
  .object({
    apiVersion: z.literal('keel/v1'),
    kind: z.literal('Pipeline', { error: 'kind is Pipeline (a model pipeline) or FeatureTable (a feature table)' }),
    id: PipelineId,
    description: z.string().max(2_000).optional(),
    task: PipelineTask,
    target: z.object({
      column: ColumnName,
      /** For binary classification: the label value counted as positive (e.g. ">50K"). */
      positive: z.union([z.string(), z.number()]).optional(),
      /**
       * For multiclass classification (required there, at least 3): the class labels, in the order of the served
       * `probability` output's columns. Declared rather than learned from the data, so every version of the
       * pipeline answers with the same columns in the same order and a retrain never reorders a client's output.
       * Training rejects a feature set with a label outside the list; a label outside it joined at monitoring time
       * is counted (and scored as an error), never dropped silently.
       */
      classes: z
        .array(z.string().min(1).max(256))
        .max(MAX_CLASSES, `at most ${MAX_CLASSES} classes (MAX_CLASSES)`)
        .optional(),
    }),
    protectedAttributes: z
      .array(ColumnName)
      .max(PIPELINE_SPEC_MAX_FEATURES, `at most ${PIPELINE_SPEC_MAX_FEATURES} (PIPELINE_SPEC_MAX_FEATURES)`)
      .default([]),
    timeColumn: ColumnName.optional(),
    /** Entity keys every dataset version carries (strings, not features unless declared so): what joins match on. */
    entityColumns: z.array(ColumnName).max(MAX_JOINS).optional(),
    /** Feature tables joined point-in-time to the rows (point-in-time-joins.ts); absent: none (optional, not
     * defaulted, so a spec without joins stores exactly as before). */
    joins: z.array(PointInTimeJoinSpec).max(MAX_JOINS).optional(),
    features: DeclaredFeatures,
    ingestion: IngestionSpec,
    sources: PipelineSources,
    validation: z
      .object({
        ...dataValidationChecks,
        /** Pre-training bias thresholds; the metrics of every protected attribute are in the report regardless. */
        bias: z.array(BiasCheck).default([]),
        shift: validationShift,
      })
      .prefault({}),
    split: z
      .object({
        /**
         * random: each row's split is a seeded hash of its dataset version's content and its row number, so a row
         * keeps its split in every window that contains it (a holdout row never trains a later model); time: ordered
         * by timeColumn, the latest rows held out.
         */
        strategy: z.enum(['random', 'time']).default('random'),
        holdoutFraction: z.number().gt(0).lt(1).default(0.2),
        validationFraction: z.number().min(0).lt(1).default(0.1),
        seed: z.number().int().default(42),
      })
      .prefault({}),
    training: z.object({
      algorithms: z.array(Algorithm).min(1),
      primaryMetric: MetricName,
      seed: z.number().int().default(42),
      /** Which of the pipeline's accumulated data a run trains on; every row by default. */
      window: TrainingWindow.default({ type: 'all' }),
      /** Optional: weigh recent rows more (exponential decay by age). */
      recencyWeights: RecencyWeights.optional(),
      /** Hyperparameter search per algorithm, under a budget; absent: each algorithm trains its defaults. */
      search: TrainingSearch.optional(),
      /**
       * Refit the winning configuration on every row of the window (train, validation and holdout) for the served
       * model, after its held-out metrics are measured: on drifting data the newest rows matter most, and a split must
       * not keep them out of what serves. The package carries both models; the registry verifies the metrics and
       * compares with the champion on the model from before the refit. Absent: true. false: the served model is the
       * one the metrics were measured on.
       */
      refitOnWholeWindow: z.boolean().optional(),
    }),
    gates: z.array(MetricGate).default([]),
    /** Fairness thresholds per protected attribute, checked by the registry on the holdout it recomputes. */
    fairnessGates: z.array(FairnessGate).default([]),
    /** Prediction stability under perturbations, checked by the registry on the holdout it recomputes. */
    robustnessGate: RobustnessGate.optional(),
    /** Expected cost per 1,000 predictions, checked by the registry on the holdout it recomputes. */
    businessGate: BusinessGate.optional(),
    rollout: RolloutSpec.prefault({}),
    monitoring: z
      .object({
        /** Predictions per drift window (when the windows are by row count, the default). */
        windowRows: z.number().int().positive().default(500),
        /**
         * Windows by time instead: each window spans this many seconds of served time (the rows' servedAt, so a
         * replay at any speed makes the same windows), aligned to the epoch. A window closes when the version's first
         * row of a later window arrives; a row older than the open window is counted into it.
         */
        windowSeconds: z.number().int().positive().optional(),
        /** Set: every feature is judged by PSI at this threshold, unless `drift` names another test for it. */
        psiThreshold: z.number().positive().optional(),
        /** Which test judges which column; absent: the defaults (or PSI at psiThreshold when that is set). */
        drift: DriftSpec.optional(),
      })
      .prefault({}),
    performance: PerformanceSpec,
    /**
     * Monitoring's retrain policy. Absent: every validated dataset version trains (and a drifting model version asks
     * once). Present: the first version trains, and later retrains are the policy's decisions.
     */
    retrainPolicy: RetrainPolicy.optional(),
    /** Alerts raised for this pipeline (on the alerts topic and to the configured webhooks). */
    alerts: AlertsSpec.prefault({}),
  })
  .superRefine((spec, ctx) => {
    const names = spec.features.map((feature) => feature.name);
    checkDriftTests(spec, ctx);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate)
      ctx.addIssue({ code: 'custom', path: ['features'], message: `feature "${duplicate}" is declared twice` });
    if (names.includes(spec.target.column)) {
      ctx.addIssue({ code: 'custom', path: ['target', 'column'], message: 'the target cannot also be a feature' });
    }
    if (spec.task === 'binary-classification' && spec.target.positive === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['target', 'positive'],
        message: 'binary classification needs the positive label',
      });
    }
    checkClasses(spec, ctx);
    const allowed: readonly string[] = metricsOfTask(spec.task);
    if (!allowed.includes(spec.training.primaryMetric)) {
      ctx.addIssue({ code: 'custom', path: ['training', 'primaryMetric'], message: `not a ${spec.task} metric` });
    }
    spec.gates.forEach((gate, i) => {
      if (!allowed.includes(gate.metric)) {
        ctx.addIssue({ code: 'custom', path: ['gates', i, 'metric'], message: `not a ${spec.task} metric` });
      }
    });
    spec.fairnessGates.forEach((gate, i) => {
      if (spec.task !== 'binary-classification') {
        ctx.addIssue({
          code: 'custom',
          path: ['fairnessGates', i],
          message:
            spec.task === 'multiclass-classification'
              ? "fairness gates judge binary decisions (Fairlearn's definitions); for multiclass the evaluation report " +
                'gives accuracy and per-class selection rates by group'
              : 'fairness gates need binary classification',
        });
      }
      if (!spec.protectedAttributes.includes(gate.attribute)) {
        ctx.addIssue({
          code: 'custom',
          path: ['fairnessGates', i, 'attribute'],
          message: `"${gate.attribute}" is not in protectedAttributes`,
        });
      }
    });
    if (spec.robustnessGate && spec.task !== 'binary-classification') {
      ctx.addIssue({
        code: 'custom',
        path: ['robustnessGate'],
        message: 'the robustness gate compares decisions at 0.5: binary classification only',
      });
    }
    if (spec.businessGate && spec.task === 'multiclass-classification') {
      ctx.addIssue({
        code: 'custom',
        path: ['businessGate'],
        message: 'the business gate prices binary decisions (costMatrix) or regression errors; multiclass has none',
      });
    } else if (spec.businessGate) {
      const regression = spec.task === 'regression';
      if (regression ? !spec.businessGate.errorCost : !spec.businessGate.costMatrix) {
        ctx.addIssue({
          code: 'custom',
          path: ['businessGate'],
          message: regression ? 'regression is priced by errorCost' : 'classification is priced by costMatrix',
        });
      }
    }
    checkShiftTests(spec, ctx);
    spec.validation.bias.forEach((check, i) => {
      if (!spec.protectedAttributes.includes(check.attribute)) {
        ctx.addIssue({
          code: 'custom',
          path: ['validation', 'bias', i, 'attribute'],
          message: `"${check.attribute}" is not in protectedAttributes`,
        });
      }
      if (spec.task === 'regression' && LABEL_BIAS_METRICS.includes(check.metric)) {
        ctx.addIssue({
          code: 'custom',
          path: ['validation', 'bias', i, 'metric'],
          message: `${check.metric} compares label distributions: classification only`,
        });
      }
      if (spec.task === 'multiclass-classification' && check.metric === 'difference_in_proportions_of_labels') {
        ctx.addIssue({
          code: 'custom',
          path: ['validation', 'bias', i, 'metric'],
          message: `${check.metric} is about a positive label: binary classification only`,
        });
      }
    });
    for (const algorithm of spec.training.algorithms) {
      const fits = spec.task === 'regression' ? algorithm !== 'logistic-regression' : algorithm !== 'linear-regression';
      if (!fits)
        ctx.addIssue({
          code: 'custom',
          path: ['training', 'algorithms'],
          message: `${algorithm} does not fit ${spec.task}`,
        });
    }
    for (const issue of joinsIssues(spec)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    for (const issue of sourcesIssues(spec.sources, datasetSchema(spec))) {
      ctx.addIssue({ code: 'custom', path: ['sources', ...issue.path], message: issue.message });
    }
    if (spec.training.search) {
      for (const issue of searchIssues(spec.training.search, spec.training.algorithms, spec.split.validationFraction)) {
        ctx.addIssue({ code: 'custom', path: ['training', 'search', ...issue.path], message: issue.message });
      }
    }
    if (spec.training.window.type === 'duration' && !spec.timeColumn) {
      ctx.addIssue({ code: 'custom', path: ['training', 'window'], message: 'a duration window needs timeColumn' });
    }
    if (spec.training.recencyWeights?.halfLife !== undefined && !spec.timeColumn) {
      ctx.addIssue({
        code: 'custom',
        path: ['training', 'recencyWeights', 'halfLife'],
        message: 'a half-life in data time needs timeColumn (or use halfLifeRows)',
      });
    }
    checkWindowMetrics(spec, ctx);
    if (spec.split.strategy === 'time' && !spec.timeColumn) {
      ctx.addIssue({ code: 'custom', path: ['split', 'strategy'], message: 'a time split needs timeColumn' });
    }
  });

export type PipelineSpecV1 = z.infer<typeof PipelineSpecV1>;
export type PipelineSpecInput = z.input<typeof PipelineSpecV1>;

/**
 * The target's class list: a multiclass task declares at least 3 distinct classes (two are a binary task, which has a
 * positive label, AUC and thresholds) and no positive label; the other tasks declare none.
 */
function checkClasses(
  spec: { task: PipelineTask; target: { positive?: unknown; classes?: string[] } },
  ctx: z.RefinementCtx,
): void {
  const { classes } = spec.target;
  const path = ['target', 'classes'];
  if (spec.task !== 'multiclass-classification') {
    if (classes !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `classes are declared by multiclass-classification, not ${spec.task}`,
      });
    }
    return;
  }
  if (spec.target.positive !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['target', 'positive'],
      message: 'multiclass classification has no positive label; declare target.classes',
    });
  }
  if (classes === undefined) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: 'multiclass classification needs target.classes, the class labels in output order',
    });
    return;
  }
  const duplicate = classes.find((name, i) => classes.indexOf(name) !== i);
  if (duplicate !== undefined) {
    ctx.addIssue({ code: 'custom', path, message: `class "${duplicate}" is declared twice` });
  } else if (classes.length < 3) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: `multiclass classification needs at least 3 classes, got ${classes.length}; two classes are binary-classification`,
    });
  }
}

/** Metrics a closed label window of each task carries (mlops.label-window.closed.v1). */
const WINDOW_METRICS: Record<PipelineTask, readonly string[]> = {
  'binary-classification': ['accuracy', 'precision', 'recall', 'f1', 'auc'],
  'multiclass-classification': ['accuracy', 'f1_macro'],
  regression: ['rmse', 'mae'],
};

/** A performance drop (retrain trigger or alert) that is switched on watches a metric its task's windows carry. */
function checkWindowMetrics(
  spec: {
    task: PipelineTask;
    retrainPolicy?: { triggers: { performanceDrop: DropBound } };
    alerts: { performanceDrop?: DropBound };
  },
  ctx: z.RefinementCtx,
): void {
  const drops: [(string | number)[], DropBound | undefined][] = [
    [['retrainPolicy', 'triggers', 'performanceDrop', 'metric'], spec.retrainPolicy?.triggers.performanceDrop],
    [['alerts', 'performanceDrop', 'metric'], spec.alerts.performanceDrop],
  ];
  for (const [path, drop] of drops) {
    if (!drop || (drop.below === undefined && drop.above === undefined)) continue;
    if (!WINDOW_METRICS[spec.task].includes(drop.metric)) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `${spec.task} label windows carry ${WINDOW_METRICS[spec.task].join(', ')}, not ${drop.metric}`,
      });
    }
  }
}

type DropBound = { metric: string; below?: number; above?: number };

/**
 * Whether a spec is a feature table (no model: no feature set, training, registration or monitoring): the one way to
 * ask, narrowing the type either way. Here rather than beside the table's schema, which imports this module's values
 * (this one imports only its types, so neither module needs the other loaded first).
 */
export function isFeatureTable(spec: PipelineSpec): spec is FeatureTableSpecV1 {
  return spec.kind === 'FeatureTable';
}

/**
 * Columns a dataset version of this pipeline holds: features (but those joined from feature tables), target, time
 * column, protected attributes, entity columns. A feature table's: its features, time column and entity columns.
 */
export function datasetColumns(spec: PipelineSpec): string[] {
  if (isFeatureTable(spec)) return tableColumns(spec);
  const joined = joinedFeatures(spec);
  const own = spec.features.filter((feature) => !joined.has(feature.name));
  const columns = [...own.map((feature) => feature.name), spec.target.column];
  for (const extra of [spec.timeColumn, ...spec.protectedAttributes, ...(spec.entityColumns ?? [])]) {
    if (extra && !columns.includes(extra)) columns.push(extra);
  }
  return columns;
}

function tableColumns(spec: FeatureTableSpecV1): string[] {
  const columns = spec.features.map((feature) => feature.name);
  for (const extra of [spec.timeColumn, ...spec.entityColumns, spec.createdTimeColumn]) {
    if (extra && !columns.includes(extra)) columns.push(extra);
  }
  return columns;
}

/** What a dataset column is to its pipeline: decides how ingestion checks its values and validation its column. */
export type DatasetColumnRole = 'numeric' | 'categorical' | 'target' | 'time' | 'attribute' | 'entity';

/** One column of every dataset version of a pipeline. */
export interface DatasetColumnSpec {
  name: string;
  type: ColumnType;
  role: DatasetColumnRole;
  nullable: boolean;
}

/**
 * Columns and types of every dataset version of a pipeline, in datasetColumns order: numeric features are numbers,
 * categorical features strings, the time column a timestamp, the target a number (regression) or a string
 * (classification), protected attributes and entity columns that are not features nullable strings. A feature
 * table's entity columns are strings that are never missing (a row without its key could never be joined), and its
 * created time a nullable timestamp.
 */
export function datasetSchema(spec: PipelineSpec): DatasetColumnSpec[] {
  return datasetColumns(spec).map((name): DatasetColumnSpec => {
    const feature = spec.features.find((f) => f.name === name);
    if (feature?.type === 'numeric') return { name, type: 'number', role: 'numeric', nullable: feature.nullable };
    if (feature) return { name, type: 'string', role: 'categorical', nullable: feature.nullable };
    if (isFeatureTable(spec)) {
      if (name === spec.timeColumn) return { name, type: 'timestamp', role: 'time', nullable: false };
      // Only breaks ties of equal feature times: a row without it is still a row.
      if (name === spec.createdTimeColumn) return { name, type: 'timestamp', role: 'time', nullable: true };
      return { name, type: 'string', role: 'entity', nullable: false };
    }
    if (name === spec.target.column) {
      return { name, type: spec.task === 'regression' ? 'number' : 'string', role: 'target', nullable: false };
    }
    if (name === spec.timeColumn) return { name, type: 'timestamp', role: 'time', nullable: false };
    if (!spec.protectedAttributes.includes(name)) return { name, type: 'string', role: 'entity', nullable: true };
    return { name, type: 'string', role: 'attribute', nullable: true };
  });
}

/** Statistics that apply to one column kind only. */
const NUMERIC_ONLY: readonly DriftStatisticName[] = ['ks', 'wasserstein'];
const CATEGORICAL_ONLY: readonly DriftStatisticName[] = ['chi2'];

function fits(statistic: DriftStatisticName, kind: 'numeric' | 'categorical'): boolean {
  return !(kind === 'numeric' ? CATEGORICAL_ONLY : NUMERIC_ONLY).includes(statistic);
}

/** Shift tests fit their column kind and name a feature or the target (a feature table has no target). */
export function checkShiftTests(
  spec: {
    task?: PipelineTask;
    target?: { column: string };
    features: { name: string; type: 'numeric' | 'categorical' }[];
    validation: { shift?: ShiftSpec };
  },
  ctx: z.RefinementCtx,
): void {
  const { shift } = spec.validation;
  if (!shift) return;
  const path = ['validation', 'shift'];
  for (const kind of ['numeric', 'categorical'] as const) {
    const statistic = shift[kind]?.statistic;
    if (statistic && !fits(statistic, kind)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, kind],
        message: `${statistic} does not apply to ${kind} columns`,
      });
    }
  }
  const targetKind = spec.task === 'regression' ? 'numeric' : 'categorical';
  for (const [name, test] of Object.entries(shift.columns)) {
    const kind = name === spec.target?.column ? targetKind : spec.features.find((f) => f.name === name)?.type;
    if (!kind) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'columns', name],
        message: spec.target
          ? `no feature or target "${name}" (shift is measured on the features and the target)`
          : `no feature "${name}" (shift is measured on the features)`,
      });
    } else if (test.statistic && !fits(test.statistic, kind)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'columns', name],
        message: `${test.statistic} does not apply to ${kind} column "${name}"`,
      });
    }
  }
}

/** Drift tests name declared features and fit their kind. */
function checkDriftTests(
  spec: { features: { name: string; type: 'numeric' | 'categorical' }[]; monitoring: { drift?: DriftSpec } },
  ctx: z.RefinementCtx,
): void {
  const { drift } = spec.monitoring;
  if (!drift) return;
  const path = ['monitoring', 'drift'];
  for (const kind of ['numeric', 'categorical'] as const) {
    for (const [where, test] of [
      [[kind], drift[kind]],
      [['predictions', kind], drift.predictions[kind]],
    ] as const) {
      if (test && !fits(test.statistic, kind)) {
        ctx.addIssue({
          code: 'custom',
          path: [...path, ...where],
          message: `${test.statistic} does not apply to ${kind} columns`,
        });
      }
    }
    // Output summaries carry no reference bins: numeric outputs are compared by their sketches.
    const output = drift.predictions.numeric;
    if (output && (output.statistic === 'psi' || output.statistic === 'jensen-shannon')) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'predictions', 'numeric'],
        message: `${output.statistic} needs bins; numeric outputs take ks or wasserstein`,
      });
    }
  }
  for (const [name, test] of Object.entries(drift.features)) {
    const feature = spec.features.find((candidate) => candidate.name === name);
    if (!feature) {
      ctx.addIssue({ code: 'custom', path: [...path, 'features', name], message: `no feature "${name}"` });
    } else if (!fits(test.statistic, feature.type)) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'features', name],
        message: `${test.statistic} does not apply to ${feature.type} feature "${name}"`,
      });
    }
  }
}
