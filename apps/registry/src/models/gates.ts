import {
  type BusinessGate,
  type FairnessGate,
  LOWER_IS_BETTER,
  type MetricGate,
  type MetricName,
  type RobustnessGate,
} from '@keel/contracts';
import { type AttributeFairness, type CandidateEvaluationOutput } from './candidate-evaluation.task';

/** Outcome of one spec gate against a version's metrics (the shape of the contract's GateResult). */
export interface GateOutcome {
  gate: string;
  passed: boolean;
  observed?: number;
  threshold?: number;
  message: string;
}

/** Human-readable name of a gate, e.g. `auc >= 0.85`, `rmse <= 120`, `r2 in [0.5, 0.99]`. */
export function gateName(gate: MetricGate): string {
  if (gate.min !== undefined && gate.max !== undefined) return `${gate.metric} in [${gate.min}, ${gate.max}]`;
  return gate.min !== undefined ? `${gate.metric} >= ${gate.min}` : `${gate.metric} <= ${gate.max}`;
}

/**
 * Applies every spec gate to the metrics. A metric the run did not report fails its gate: a gate nobody can check
 * must not let a model through. `threshold` is the bound that failed, or the lower bound (else upper) when passing.
 */
export function evaluateGates(gates: readonly MetricGate[], metrics: Readonly<Record<string, number>>): GateOutcome[] {
  return gates.map((gate) => {
    const gateLabel = gateName(gate);
    const observed = Object.hasOwn(metrics, gate.metric) ? metrics[gate.metric] : undefined;
    if (observed === undefined) {
      return {
        gate: gateLabel,
        passed: false,
        threshold: gate.min ?? gate.max,
        message: `metric "${gate.metric}" was not reported by the training run`,
      };
    }
    if (gate.min !== undefined && observed < gate.min) {
      return {
        gate: gateLabel,
        passed: false,
        observed,
        threshold: gate.min,
        message: `${gate.metric} ${observed} < min ${gate.min}`,
      };
    }
    if (gate.max !== undefined && observed > gate.max) {
      return {
        gate: gateLabel,
        passed: false,
        observed,
        threshold: gate.max,
        message: `${gate.metric} ${observed} > max ${gate.max}`,
      };
    }
    return {
      gate: gateLabel,
      passed: true,
      observed,
      threshold: gate.min ?? gate.max,
      message: `${gateLabel} holds (${observed})`,
    };
  });
}

/** Claimed and recomputed metrics agree when they differ by at most this (the same code gives the same bits). */
const METRIC_TOLERANCE = 1e-9;

/** The name of the gate that checks the event's metrics against the registry's own computation. */
export const VERIFIED_METRICS_GATE = 'metrics verified on the holdout';

/**
 * Whether the metrics a training event claims are the ones the registry recomputed from the package on the holdout:
 * each claimed metric must be recomputed and equal (a forged `auc: 1` fails here, naming what it claimed).
 */
export function verifyClaimedMetrics(
  claimed: Readonly<Record<string, number>>,
  recomputed: Readonly<Record<string, number>>,
  rows: number,
): GateOutcome {
  const wrong = Object.entries(claimed)
    .filter(([name, value]) => {
      const mine = recomputed[name];
      return mine === undefined || !(Math.abs(mine - value) <= METRIC_TOLERANCE * Math.max(1, Math.abs(value)));
    })
    .map(([name, value]) => `${name} claimed ${value}, recomputed ${recomputed[name] ?? 'nothing'}`);
  if (wrong.length > 0) {
    return { gate: VERIFIED_METRICS_GATE, passed: false, message: `on ${rows} holdout rows: ${wrong.join('; ')}` };
  }
  return { gate: VERIFIED_METRICS_GATE, passed: true, message: `recomputed on ${rows} holdout rows; the claims hold` };
}

/** A gate that could not be checked: it fails, with the reason. */
export function uncheckableGate(gate: string, message: string): GateOutcome {
  return { gate, passed: false, message };
}

/** Human-readable name of a fairness gate, e.g. `sex demographic_parity_difference <= 0.1`. */
export function fairnessGateName(gate: FairnessGate): string {
  const bounds =
    gate.min !== undefined && gate.max !== undefined
      ? `in [${gate.min}, ${gate.max}]`
      : gate.min !== undefined
        ? `>= ${gate.min}`
        : `<= ${gate.max}`;
  return `${gate.attribute} ${gate.metric} ${bounds}`;
}

/**
 * Applies every fairness gate to the gaps measured on the holdout. A gap that is undefined there (a group without
 * positives) or an attribute that was not measured fails its gate: a gate nobody can check must not let a model by.
 */
export function evaluateFairnessGates(
  gates: readonly FairnessGate[],
  measured: readonly AttributeFairness[],
): GateOutcome[] {
  return gates.map((gate) => {
    const name = fairnessGateName(gate);
    const attribute = measured.find((m) => m.attribute === gate.attribute);
    const observed = attribute?.metrics[gate.metric];
    if (!attribute || observed === undefined) {
      const why = attribute?.undefinedMetrics[gate.metric] ?? `"${gate.attribute}" was not measured`;
      return {
        gate: name,
        passed: false,
        threshold: gate.min ?? gate.max,
        message: `${gate.metric} undefined: ${why}`,
      };
    }
    const unlisted = (attribute.groupCount ?? attribute.groups.length) - attribute.groups.length;
    const rates =
      attribute.groups.map((g) => `${String(g.group)} ${g.selectionRate.toFixed(4)} (n=${g.count})`).join(', ') +
      (unlisted > 0 ? ` and ${unlisted} smaller groups` : '');
    const detail = `selection rates ${rates}`;
    if (gate.min !== undefined && observed < gate.min) {
      return {
        gate: name,
        passed: false,
        observed,
        threshold: gate.min,
        message: `${gate.attribute} ${gate.metric} ${observed} < min ${gate.min}; ${detail}`,
      };
    }
    if (gate.max !== undefined && observed > gate.max) {
      return {
        gate: name,
        passed: false,
        observed,
        threshold: gate.max,
        message: `${gate.attribute} ${gate.metric} ${observed} > max ${gate.max}; ${detail}`,
      };
    }
    return {
      gate: name,
      passed: true,
      observed,
      threshold: gate.min ?? gate.max,
      message: `${name} holds (${observed}); ${detail}`,
    };
  });
}

/** Human-readable name of the robustness gate, e.g. `robustness score >= 0.95`. */
export const robustnessGateName = (gate: RobustnessGate) => `robustness score >= ${gate.min}`;

/**
 * The robustness gate against the stability measured on the holdout: the worst perturbation's share of unchanged
 * decisions must reach `min`; the message names each perturbation's agreement. Not measured: it fails.
 */
export function evaluateRobustnessGate(
  gate: RobustnessGate,
  measured: CandidateEvaluationOutput['robustness'],
): GateOutcome {
  const name = robustnessGateName(gate);
  if (!measured) {
    return { gate: name, passed: false, threshold: gate.min, message: 'robustness was not measured on the holdout' };
  }
  const detail = measured.perturbations.map((p) => `${p.perturbation} ${p.decisionAgreement.toFixed(4)}`).join(', ');
  const passed = measured.score >= gate.min;
  return {
    gate: name,
    passed,
    observed: measured.score,
    threshold: gate.min,
    message: `${passed ? 'holds' : `score ${measured.score} < min ${gate.min}`}: decisions unchanged on ${measured.rows} holdout rows under ${detail}`,
  };
}

/** Human-readable name of the business gate, e.g. `expected cost per 1000 predictions <= 120`. */
export const businessGateName = (gate: BusinessGate) => `expected cost per 1000 predictions <= ${gate.maxCostPer1000}`;

/** The business gate against the cost measured on the holdout; the message gives the outcomes priced. Not measured: fails. */
export function evaluateBusinessGate(gate: BusinessGate, measured: CandidateEvaluationOutput['business']): GateOutcome {
  const name = businessGateName(gate);
  if (!measured) {
    return {
      gate: name,
      passed: false,
      threshold: gate.maxCostPer1000,
      message: 'the cost was not measured on the holdout',
    };
  }
  const o = measured.outcomes;
  const detail = o
    ? `TP ${o.truePositive}, FP ${o.falsePositive}, TN ${o.trueNegative}, FN ${o.falseNegative} of ${measured.rows} holdout rows`
    : `${gate.errorCost!.of} priced on ${measured.rows} holdout rows`;
  const passed = measured.costPer1000 <= gate.maxCostPer1000;
  return {
    gate: name,
    passed,
    observed: measured.costPer1000,
    threshold: gate.maxCostPer1000,
    message: `${passed ? 'holds' : `cost ${measured.costPer1000} > max ${gate.maxCostPer1000}`}: ${detail}`,
  };
}

/** The registry's decision about the `champion` alias for a newly registered version. */
export interface ChampionDecision {
  move: boolean;
  reason: string;
}

/**
 * Whether a version takes the champion alias: its gates must pass, and it must be at least as good as the current
 * champion by the primary metric (ties move, so a retrain on fresh data with equal quality is served).
 */
export function decideChampion(args: {
  gatesPassed: boolean;
  primaryMetric: MetricName;
  candidate: { version: number; metrics: Readonly<Record<string, number>> };
  champion?: { version: number; metrics: Readonly<Record<string, number>> };
  /** Both scored on the same rows; used instead of each one's own holdout when it was made against this champion. */
  comparison?: { championVersion: number; candidate: number; champion: number; rows: number };
}): ChampionDecision {
  const { gatesPassed, primaryMetric, candidate, champion, comparison } = args;
  if (!gatesPassed) return { move: false, reason: `version ${candidate.version} failed its gates` };
  if (!champion) return { move: true, reason: `first version to pass its gates (v${candidate.version})` };
  if (champion.version === candidate.version)
    return { move: false, reason: `v${candidate.version} is already champion` };
  const sameRows = comparison?.championVersion === champion.version ? comparison : undefined;
  const mine = sameRows ? sameRows.candidate : candidate.metrics[primaryMetric];
  const theirs = sameRows ? sameRows.champion : champion.metrics[primaryMetric];
  if (mine === undefined) {
    return {
      move: false,
      reason: `v${candidate.version} has no ${primaryMetric} to compare with champion v${champion.version}`,
    };
  }
  if (theirs === undefined) {
    return {
      move: true,
      reason: `champion v${champion.version} has no ${primaryMetric}; v${candidate.version} has ${mine}`,
    };
  }
  const lowerIsBetter = LOWER_IS_BETTER.includes(primaryMetric);
  const atLeastAsGood = lowerIsBetter ? mine <= theirs : mine >= theirs;
  const data = sameRows ? `on the same ${sameRows.rows} rows` : 'each on its own holdout';
  const versus = `${primaryMetric} ${mine} vs ${theirs} of champion v${champion.version} ${data} (${lowerIsBetter ? 'lower' : 'higher'} is better)`;
  return atLeastAsGood
    ? { move: true, reason: `v${candidate.version} is at least as good: ${versus}` }
    : { move: false, reason: `v${candidate.version} is worse: ${versus}` };
}
