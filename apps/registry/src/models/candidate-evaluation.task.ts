import { type BusinessGate, type FairnessGate, type RobustnessGate } from '@keel/contracts';
import { Predictor, type RawValue, TransformRunner } from '@keel/ml-models';
import {
  evaluationMetrics,
  heldOutView,
  packageClasses,
  parsePackage,
  scoreMatrix,
  targetValues,
} from '@keel/model-package';
import {
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  groupRates,
  type GroupRates,
  predictionStability,
  type RobustnessReport,
  type Row,
} from '@keel/ml-stats';
import { asBuffer, defineWorkerTask, type WorkerTaskContext } from '@keel/workers';
import { type BusinessCost, businessCost } from './business-cost';
import { buildEvaluationReport, type EvaluationReport } from './evaluation-report';
import { holdoutIndices, packageInputs, readFeatureSet, takeRows } from './evaluation-rows';

export interface CandidateEvaluationInput {
  /** The package's and its feature set's bytes, both verified against their sha256. */
  candidatePackage: Uint8Array;
  featureSet: Uint8Array;
  /** Protected attributes to slice by (binary classification). */
  protectedAttributes: readonly string[];
  /** The spec's robustness gate: its perturbations are run on the holdout (binary classification). */
  robustness?: RobustnessGate;
  /** The spec's business gate: its prices applied to the holdout predictions. */
  business?: BusinessGate;
  /** Columns the evaluation report slices its metrics by (the protected attributes), any task. */
  sliceAttributes?: readonly string[];
}

export type FairnessMetric = FairnessGate['metric'];

/**
 * Most groups of one protected attribute a version record keeps (the largest by holdout rows). The gaps are computed
 * over every group; only the stored list is cut. Without a cap an attribute with a value per row (an id declared
 * protected to keep it in the feature set, as the chaos run does) stored one entry per holdout row in the version's
 * document: 450 KB at 4,500 rows, past MongoDB's 16 MiB document limit near 160,000, and every read of the model's
 * versions paid for it.
 */
export const MAX_RECORDED_GROUPS = 64;

/** One protected attribute's groups and gaps on the holdout; a gap Fairlearn leaves undefined carries the reason. */
export interface AttributeFairness {
  attribute: string;
  /** The largest groups, at most MAX_RECORDED_GROUPS, in the order of their names. */
  groups: GroupRates[];
  /** How many groups the holdout had (more than `groups.length` when the list was cut); absent in older records. */
  groupCount?: number;
  metrics: Partial<Record<FairnessMetric, number>>;
  undefinedMetrics: Partial<Record<FairnessMetric, string>>;
}

export interface CandidateEvaluationOutput {
  rows: number;
  metrics: Record<string, number>;
  fairness: AttributeFairness[];
  /** Prediction stability on (up to `maxRows` of) the holdout, when a robustness gate asked for it. */
  robustness?: RobustnessReport & { rows: number };
  /** Expected cost per 1,000 holdout predictions, when a business gate asked for it. */
  business?: BusinessCost;
  /** Overall and sliced metrics, confusion matrix, threshold analysis, calibration: stored beside the version. */
  report: EvaluationReport;
}

/** Missing attribute values form their own group. */
const MISSING = '(missing)';

/**
 * The candidate's holdout metrics recomputed from its package and the holdout rows of the feature set it names, the
 * code path serving runs (its own fitted preprocessing, then its model); and for binary classification, each
 * protected attribute's selection, true and false positive rates by group and Fairlearn's gaps. Pure.
 */
export async function evaluateCandidate(
  input: CandidateEvaluationInput,
  { progress }: Pick<WorkerTaskContext, 'progress'>,
): Promise<CandidateEvaluationOutput> {
  progress({ stage: 'read' });
  // The model the package's metrics were measured on: a served model refit on the whole window saw the holdout.
  const pkg = heldOutView(parsePackage(asBuffer(input.candidatePackage)));
  const { table } = await readFeatureSet(input.featureSet);
  const rows = takeRows(table, holdoutIndices(table, pkg.target.column));
  const target = rows.columns.find((c) => c.name === pkg.target.column)!.values;
  if (!pkg.model.preprocessing) throw new Error(`package of ${pkg.modelName} has no preprocessing`);
  progress({ stage: 'score', total: rows.rowCount });
  const scores =
    rows.rowCount === 0
      ? new Float64Array(0)
      : scoreMatrix(pkg, new TransformRunner(pkg.model.preprocessing).table(packageInputs(pkg, rows)));
  const binary = pkg.task === 'binary-classification';
  const yTrue = targetValues(pkg, target);
  const metrics = evaluationMetrics(pkg.task, yTrue, scores);
  const fairness: AttributeFairness[] = [];
  if (binary && rows.rowCount > 0) {
    const yPred = Float64Array.from(scores, (p) => (p >= 0.5 ? 1 : 0));
    for (const attribute of input.protectedAttributes) {
      const values = rows.columns.find((c) => c.name === attribute)?.values;
      if (!values) throw new Error(`the feature set lacks the protected attribute "${attribute}"`);
      const sensitive = values.map((v) => (v === null || v === '' ? MISSING : String(v)));
      const slice = { yTrue, yPred, sensitive };
      const groups = groupRates(slice);
      const entry: AttributeFairness = {
        attribute,
        groups: largestGroups(groups, MAX_RECORDED_GROUPS),
        groupCount: groups.length,
        metrics: {},
        undefinedMetrics: {},
      };
      const gaps: [FairnessMetric, () => number][] = [
        ['demographic_parity_difference', () => demographicParityDifference(slice)],
        ['demographic_parity_ratio', () => demographicParityRatio(slice)],
        ['equalized_odds_difference', () => equalizedOddsDifference(slice)],
      ];
      for (const [name, compute] of gaps) {
        try {
          entry.metrics[name] = compute();
        } catch (error) {
          entry.undefinedMetrics[name] = (error as Error).message;
        }
      }
      fairness.push(entry);
    }
  }
  const robustness =
    binary && input.robustness && rows.rowCount > 0
      ? await stabilityOnHoldout(pkg, packageInputs(pkg, rows), input.robustness)
      : undefined;
  const business = input.business ? businessCost(input.business, yTrue, scores) : undefined;
  const sliceColumns: Record<string, string[]> = {};
  for (const attribute of input.sliceAttributes ?? []) {
    const values = rows.columns.find((c) => c.name === attribute)?.values;
    if (values) sliceColumns[attribute] = values.map((v) => (v === null || v === '' ? MISSING : String(v)));
  }
  return {
    rows: rows.rowCount,
    metrics,
    fairness,
    report: buildEvaluationReport(pkg.task, yTrue, scores, sliceColumns, packageClasses(pkg)),
    ...(robustness ? { robustness } : {}),
    ...(business ? { business } : {}),
  };
}

/** The `limit` groups with the most rows (ties by name), kept in the order of their names. */
export function largestGroups(groups: readonly GroupRates[], limit: number): GroupRates[] {
  if (groups.length <= limit) return [...groups];
  const kept = new Set(
    [...groups].sort((a, b) => b.count - a.count || String(a.group).localeCompare(String(b.group))).slice(0, limit),
  );
  return groups.filter((group) => kept.has(group));
}

/**
 * The gate's perturbations on the first `maxRows` holdout rows, scored by the package's own preprocessing and model
 * (serving's path): numeric inputs get noise, categorical ones swaps, any may go missing.
 */
async function stabilityOnHoldout(
  pkg: ReturnType<typeof parsePackage>,
  inputs: Record<string, RawValue[]>,
  gate: RobustnessGate,
): Promise<RobustnessReport & { rows: number }> {
  const names = pkg.signature.inputs.map((i) => i.name);
  const count = Math.min(gate.maxRows, inputs[names[0]]?.length ?? 0);
  const rows: Row[] = Array.from({ length: count }, (_, r) =>
    Object.fromEntries(names.map((name) => [name, inputs[name][r] ?? null])),
  );
  const predictor = new Predictor(pkg.model);
  const report = await predictionStability(rows, (batch) => predictor.predictRecords(batch), {
    numericFeatures: pkg.signature.inputs.filter((i) => i.kind === 'numeric').map((i) => i.name),
    categoricalFeatures: pkg.signature.inputs.filter((i) => i.kind === 'categorical').map((i) => i.name),
    noiseScale: gate.noiseScale,
    swapRate: gate.swapRate,
    missingRate: gate.missingRate,
    seed: gate.seed,
  });
  return { ...report, rows: count };
}

/** {@link evaluateCandidate} on a worker thread. */
export const candidateEvaluationTask = defineWorkerTask(
  __filename,
  'candidateEvaluationTask',
  (input: CandidateEvaluationInput, context: WorkerTaskContext) => evaluateCandidate(input, context),
);
