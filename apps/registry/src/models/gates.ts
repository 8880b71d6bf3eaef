import { LOWER_IS_BETTER, type MetricGate, type MetricName } from '@keel/contracts';

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
