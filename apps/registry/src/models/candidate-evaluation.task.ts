import { type FairnessGate } from '@keel/contracts';
import { TransformRunner } from '@keel/ml-models';
import { evaluationMetrics, parsePackage, scoreMatrix } from '@keel/model-package';
import {
  demographicParityDifference,
  demographicParityRatio,
  equalizedOddsDifference,
  groupRates,
  type GroupRates,
} from '@keel/ml-stats';
import { asBuffer, defineWorkerTask, type WorkerTaskContext } from '@keel/workers';
import { holdoutIndices, packageInputs, readFeatureSet, takeRows } from './evaluation-rows';

export interface CandidateEvaluationInput {
  /** The package's and its feature set's bytes, both verified against their sha256. */
  candidatePackage: Uint8Array;
  featureSet: Uint8Array;
  /** Protected attributes to slice by (binary classification). */
  protectedAttributes: readonly string[];
}

export type FairnessMetric = FairnessGate['metric'];

/** One protected attribute's groups and gaps on the holdout; a gap Fairlearn leaves undefined carries the reason. */
export interface AttributeFairness {
  attribute: string;
  groups: GroupRates[];
  metrics: Partial<Record<FairnessMetric, number>>;
  undefinedMetrics: Partial<Record<FairnessMetric, string>>;
}

export interface CandidateEvaluationOutput {
  rows: number;
  metrics: Record<string, number>;
  fairness: AttributeFairness[];
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
  const pkg = parsePackage(asBuffer(input.candidatePackage));
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
  const yTrue = binary
    ? Float64Array.from(target, (v) => (String(v) === String(pkg.target.positive) ? 1 : 0))
    : Float64Array.from(target, (v) => Number(v));
  const metrics = evaluationMetrics(pkg.task, yTrue, scores);
  const fairness: AttributeFairness[] = [];
  if (binary && rows.rowCount > 0) {
    const yPred = Float64Array.from(scores, (p) => (p >= 0.5 ? 1 : 0));
    for (const attribute of input.protectedAttributes) {
      const values = rows.columns.find((c) => c.name === attribute)?.values;
      if (!values) throw new Error(`the feature set lacks the protected attribute "${attribute}"`);
      const sensitive = values.map((v) => (v === null || v === '' ? MISSING : String(v)));
      const slice = { yTrue, yPred, sensitive };
      const entry: AttributeFairness = { attribute, groups: groupRates(slice), metrics: {}, undefinedMetrics: {} };
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
  return { rows: rows.rowCount, metrics, fairness };
}

/** {@link evaluateCandidate} on a worker thread. */
export const candidateEvaluationTask = defineWorkerTask(
  __filename,
  'candidateEvaluationTask',
  (input: CandidateEvaluationInput, context: WorkerTaskContext) => evaluateCandidate(input, context),
);
