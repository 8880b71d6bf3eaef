import { Inject, Injectable } from '@nestjs/common';
import { ROLLOUT_LATENCY_BOUNDS_MS, type RolloutAnalysis, type RolloutSpec } from '@keel/contracts';
import { chiSquareSf } from '@keel/ml-stats';
import { ROOT_LOGGER, SERVICE_CONFIG, serviceAuthorization } from '@keel/service-runtime';
import { type Logger } from 'pino';
import { type RegistryConfig } from '../config';
import { type AnalysisVerdict, type RolloutAnalysisSource } from './rollout-analysis';
import { bakeElapsed, type Rollout } from './rollout-machine';
import { RolloutObservationsStore, type StepObservations, type VersionTotals } from './rollout-observations';

/**
 * Fewest prediction samples per version before their distributions are compared: with ten bins, PSI's sampling
 * noise between two samples of one distribution is about 9 / 200 ≈ 0.05 from here.
 */
export const MIN_PSI_SAMPLES = 200;

/**
 * PSI of the candidate's predictions against the baseline's: ten equal-width bins over the baseline's range (values
 * beyond it count in the end bins), each bin's count smoothed by ½ so a bin one small sample left empty reads as
 * noise, not shift. Differences inside one bin (a probability of 1e-6 against 1e-3) are not a shift that matters.
 */
export function predictionPsi(baseline: readonly number[], candidate: readonly number[], bins = 10): number {
  let [lo, hi] = [Infinity, -Infinity];
  for (const value of baseline) [lo, hi] = [Math.min(lo, value), Math.max(hi, value)];
  const width = hi > lo ? (hi - lo) / bins : 1;
  const proportions = (values: readonly number[]) => {
    const counts = new Array<number>(bins).fill(0.5);
    for (const value of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((value - lo) / width)))] += 1;
    const total = values.length + bins * 0.5;
    return counts.map((count) => count / total);
  };
  const [b, c] = [proportions(baseline), proportions(candidate)];
  return b.reduce((sum, p, bin) => sum + (c[bin] - p) * Math.log(c[bin] / p), 0);
}

/** Accuracy of one version on labelled feedback: how many labels, and the share of them predicted right. */
export interface LabelledAccuracy {
  labelled: number;
  accuracy: number;
}

/** The labelled accuracy of the rollout's two versions, where monitoring has it. */
export interface StepLabels {
  baseline?: LabelledAccuracy;
  candidate?: LabelledAccuracy;
}

/** The plan's thresholds for the rollout's strategy (A/B concludes by its own test, not these). */
export function analysisOf(rollout: Pick<Rollout, 'strategy' | 'plan'>): RolloutAnalysis {
  switch (rollout.strategy) {
    case 'shadow':
      return rollout.plan.shadow.analysis;
    case 'blue-green':
      return rollout.plan.blueGreen.analysis;
    default:
      return rollout.plan.canary.analysis;
  }
}

/** The p99 of latency buckets (the upper bound of the bucket holding it; twice the last bound above them all). */
export function p99OfBuckets(counts: readonly number[]): number | undefined {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (let bucket = 0; bucket < counts.length; bucket++) {
    seen += counts[bucket];
    if (seen >= 0.99 * total) {
      return ROLLOUT_LATENCY_BOUNDS_MS[bucket] ?? 2 * ROLLOUT_LATENCY_BOUNDS_MS[ROLLOUT_LATENCY_BOUNDS_MS.length - 1];
    }
  }
  return undefined;
}

const round = (value: number, digits = 4) => Number(value.toFixed(digits));

/**
 * Judges one rollout step on what serving saw of baseline and candidate over the same traffic (the step's revision)
 * and on labelled accuracy: fails at once when the candidate's failures already exceed the error budget of
 * `minRequests` requests, waits until the candidate has `minRequests`, then checks p99 latency against the
 * baseline's, the PSI of its predictions against the baseline's and, with enough labels, its accuracy. Pure.
 */
export function judgeStep(input: {
  analysis: RolloutAnalysis;
  step: StepObservations;
  /** Shadow: the candidate scored mirrored copies, so its latency is not an answer's and is not compared. */
  mirrored: boolean;
  labels?: StepLabels;
}): AnalysisVerdict {
  const { analysis, step, mirrored, labels } = input;
  const candidate = step.candidate;
  if (!candidate || candidate.requests === 0) {
    return analysis.minRequests === 0
      ? { outcome: 'pass', reason: 'no candidate traffic observed; the plan asks for none (minRequests 0)' }
      : { outcome: 'wait', reason: 'no candidate traffic observed yet' };
  }
  const figures: string[] = [`${candidate.requests} candidate requests`];
  // Even if every request still to come succeeded, the rate at minRequests would exceed the budget.
  const errorRate = candidate.errors / Math.max(candidate.requests, analysis.minRequests);
  if (errorRate > analysis.maxErrorRate) {
    return {
      outcome: 'fail',
      reason: `candidate v${candidate.version} error rate ${round(errorRate)} > ${analysis.maxErrorRate} (${candidate.errors} failed of ${candidate.requests})`,
    };
  }
  figures.push(`error rate ${round(errorRate)}`);
  if (candidate.requests < analysis.minRequests) {
    return { outcome: 'wait', reason: `${candidate.requests} of ${analysis.minRequests} candidate requests` };
  }
  const baseline = step.baseline;
  if (!mirrored && baseline && baseline.requests >= analysis.minRequests) {
    const verdict = latencyVerdict(analysis, baseline, candidate, figures);
    if (verdict) return verdict;
  }
  if (baseline) {
    const verdict = distributionVerdict(analysis, baseline, candidate, figures);
    if (verdict) return verdict;
  }
  const unfair = fairnessVerdict(analysis, candidate, figures);
  if (unfair) return unfair;
  if (step.shadow.rows > 0) figures.push(`agreement ${round(step.shadow.agreed / step.shadow.rows)}`);
  const b = labels?.baseline;
  const c = labels?.candidate;
  if (b && c && b.labelled >= analysis.minLabels && c.labelled >= analysis.minLabels) {
    const delta = c.accuracy - b.accuracy;
    if (delta < analysis.minAccuracyDelta) {
      return {
        outcome: 'fail',
        reason: `candidate accuracy ${round(c.accuracy)} vs baseline ${round(b.accuracy)}: delta ${round(delta)} < ${analysis.minAccuracyDelta} (${c.labelled} and ${b.labelled} labels)`,
      };
    }
    figures.push(`accuracy delta ${round(delta)}`);
  }
  return { outcome: 'pass', reason: `within thresholds: ${figures.join(', ')}` };
}

/** Fewest rows a protected group needs before its positive rate counts in the fairness gap. */
export const MIN_GROUP_ROWS = 30;

/**
 * The candidate's largest gap of the positive rate between the groups of one protected attribute (groups with
 * MIN_GROUP_ROWS rows or more), against `maxFairnessGap` when the plan sets it.
 */
function fairnessVerdict(
  analysis: RolloutAnalysis,
  candidate: VersionTotals,
  figures: string[],
): AnalysisVerdict | undefined {
  if (analysis.maxFairnessGap === undefined) return undefined;
  let worst: { attribute: string; gap: number; high: string; low: string } | undefined;
  for (const attribute of new Set(candidate.groups.map((group) => group.attribute))) {
    const rates = candidate.groups
      .filter((group) => group.attribute === attribute && group.rows >= MIN_GROUP_ROWS)
      .map((group) => ({ name: group.group || '(missing)', rate: group.positives / group.rows }))
      .sort((a, b) => b.rate - a.rate);
    if (rates.length < 2) continue;
    const [high, low] = [rates[0], rates[rates.length - 1]];
    const gap = high.rate - low.rate;
    if (!worst || gap > worst.gap) {
      worst = { attribute, gap, high: `${high.name} ${round(high.rate)}`, low: `${low.name} ${round(low.rate)}` };
    }
  }
  if (!worst) return undefined;
  if (worst.gap > analysis.maxFairnessGap) {
    return {
      outcome: 'fail',
      reason: `candidate v${candidate.version} positive-rate gap on ${worst.attribute} ${round(worst.gap)} (${worst.high}, ${worst.low}) > ${analysis.maxFairnessGap}`,
    };
  }
  figures.push(`fairness gap ${round(worst.gap)} on ${worst.attribute}`);
  return undefined;
}

function latencyVerdict(
  analysis: RolloutAnalysis,
  baseline: VersionTotals,
  candidate: VersionTotals,
  figures: string[],
): AnalysisVerdict | undefined {
  const floor = analysis.p99LatencyFloorMs;
  const p99c = Math.max(p99OfBuckets(candidate.latencyCounts) ?? 0, floor);
  const p99b = Math.max(p99OfBuckets(baseline.latencyCounts) ?? 0, floor);
  if (p99b <= 0) return undefined;
  const ratio = p99c / p99b;
  if (ratio > analysis.maxP99LatencyRatio) {
    return {
      outcome: 'fail',
      reason: `candidate v${candidate.version} p99 ${p99c} ms is ${round(ratio, 2)}× the baseline's ${p99b} ms > ${analysis.maxP99LatencyRatio}×`,
    };
  }
  figures.push(`p99 ratio ${round(ratio, 2)}`);
  return undefined;
}

function distributionVerdict(
  analysis: RolloutAnalysis,
  baseline: VersionTotals,
  candidate: VersionTotals,
  figures: string[],
): AnalysisVerdict | undefined {
  if (baseline.output === undefined || baseline.output !== candidate.output) return undefined;
  if (baseline.samples.length < MIN_PSI_SAMPLES || candidate.samples.length < MIN_PSI_SAMPLES) return undefined;
  const psi = predictionPsi(baseline.samples, candidate.samples);
  if (psi > analysis.maxPredictionPsi) {
    return {
      outcome: 'fail',
      reason: `candidate v${candidate.version} ${candidate.output} PSI ${round(psi)} against the baseline's on the same traffic > ${analysis.maxPredictionPsi}`,
    };
  }
  figures.push(`${candidate.output} PSI ${round(psi)}`);
  return undefined;
}

/** Successes (correct answers, or failed requests) out of n, per arm of an A/B test. */
export interface ArmCounts {
  successes: number;
  n: number;
}

/** Pooled two-proportion z-test: the candidate's rate minus the baseline's, z, and the two-sided p-value. */
export function twoProportionTest(baseline: ArmCounts, candidate: ArmCounts): { delta: number; z: number; p: number } {
  const [p1, p2] = [baseline.successes / baseline.n, candidate.successes / candidate.n];
  const pooled = (baseline.successes + candidate.successes) / (baseline.n + candidate.n);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / baseline.n + 1 / candidate.n));
  const z = se > 0 ? (p2 - p1) / se : 0;
  return { delta: p2 - p1, z, p: chiSquareSf(z * z, 1) };
}

/**
 * Spread of the differences between the arms' rates the sequential test is tuned to find (the standard deviation of
 * its normal mixture over the difference): a few points of accuracy or error rate, what a retrained model moves.
 */
export const AB_MIXTURE_SD = 0.05;

/**
 * Always-valid test of two proportions (mSPRT: Johari, Pekelis & Walsh, "Always valid inference", 2017): the
 * likelihood ratio of "the rates differ by θ, θ ~ N(0, τ²)" against "they are equal", on the normal approximation of
 * the difference with its pooled variance V: Λ = √(V / (V + τ²)) · exp(δ² τ² / (2 V (V + τ²))), and p = min(1, 1/Λ).
 * The driver looks at an A/B test every tick; stopping the first time p < α keeps the chance of a false conclusion at
 * most α however often it looks, where a fixed-sample z-test read at every tick crosses α by chance far more often.
 */
export function sequentialTwoProportionTest(
  baseline: ArmCounts,
  candidate: ArmCounts,
  mixtureSd = AB_MIXTURE_SD,
): { delta: number; p: number } {
  const delta = candidate.successes / candidate.n - baseline.successes / baseline.n;
  const pooled = (baseline.successes + candidate.successes) / (baseline.n + candidate.n);
  const variance = pooled * (1 - pooled) * (1 / baseline.n + 1 / candidate.n);
  if (!(variance > 0)) return { delta, p: 1 };
  const tau2 = mixtureSd * mixtureSd;
  const logLambda =
    0.5 * Math.log(variance / (variance + tau2)) + (delta * delta * tau2) / (2 * variance * (variance + tau2));
  return { delta, p: Math.min(1, Math.exp(-logLambda)) };
}

/**
 * Concludes an A/B test on its metric (accuracy on labelled feedback: higher is better; error rate: lower is better)
 * with the always-valid sequential test at the plan's significance, so that looking at it every tick does not inflate
 * false conclusions: a significant win promotes, a significant loss rolls back, and a test that has not concluded
 * when `maxDurationSeconds` is up keeps the champion (rolled back, with the figures).
 */
export function judgeAb(
  ab: RolloutSpec['ab'],
  arms: { baseline?: ArmCounts; candidate?: ArmCounts },
  ended: boolean,
): AnalysisVerdict {
  const { baseline, candidate } = arms;
  const sizes = `n ${candidate?.n ?? 0} candidate, ${baseline?.n ?? 0} baseline`;
  if (!baseline || !candidate || baseline.n < ab.minSamplesPerArm || candidate.n < ab.minSamplesPerArm) {
    return ended
      ? {
          outcome: 'fail',
          reason: `A/B on ${ab.metric} ended without ${ab.minSamplesPerArm} samples per arm (${sizes})`,
        }
      : { outcome: 'wait', reason: `A/B on ${ab.metric}: ${sizes} of ${ab.minSamplesPerArm} per arm` };
  }
  const test = sequentialTwoProportionTest(baseline, candidate);
  const rate = (arm: ArmCounts) => round(arm.successes / arm.n);
  const figures = `${ab.metric} ${rate(candidate)} candidate vs ${rate(baseline)} baseline, always-valid p ${round(test.p)} (${sizes})`;
  if (test.p < ab.significance && test.delta !== 0) {
    const better = ab.metric === 'accuracy' ? test.delta > 0 : test.delta < 0;
    return better
      ? { outcome: 'pass', reason: `A/B: candidate significantly better: ${figures} < ${ab.significance}` }
      : { outcome: 'fail', reason: `A/B: candidate significantly worse: ${figures} < ${ab.significance}` };
  }
  return ended
    ? {
        outcome: 'fail',
        reason: `A/B ended with no significant difference: ${figures} ≥ ${ab.significance}; the champion stays`,
      }
    : { outcome: 'wait', reason: `A/B not significant yet: ${figures}` };
}

/** One closed window of labelled predictions, as monitoring's performance view lists it (newest first). */
export interface LabelWindowView {
  labelledCount: number;
  /** Earliest servedAt of the window's predictions. */
  firstServedAt: string;
  metrics?: { accuracy?: number };
}

/** Most label windows monitoring lists per version (its limit). */
const MONITORING_MAX_WINDOWS = 100;

/** Monitoring's performance per model version, as it answers `GET /api/v1/pipelines/:id/performance?windows=N`. */
interface PerformanceAnswer {
  versions?: { modelVersion: number; windows?: LabelWindowView[] }[];
}

/**
 * Accuracy on the labels of predictions served in the current step: the closed label windows whose predictions were
 * all served since `since` (a window straddling the step's start is left out), weighted by their labels. Both
 * versions are then judged on the same stretch of traffic, where monitoring's rolling accuracy would compare the
 * champion's older traffic with the candidate's newer one.
 */
export function accuracySince(
  windows: readonly LabelWindowView[] | undefined,
  since: Date,
): LabelledAccuracy | undefined {
  let labelled = 0;
  let correct = 0;
  for (const window of windows ?? []) {
    const accuracy = window.metrics?.accuracy;
    if (accuracy === undefined || !(new Date(window.firstServedAt).getTime() >= since.getTime())) continue;
    labelled += window.labelledCount;
    correct += accuracy * window.labelledCount;
  }
  return labelled > 0 ? { labelled, accuracy: correct / labelled } : undefined;
}

/**
 * The registry's analysis on real signals: serving's reports of the step (rollout-observations) and, when
 * MONITORING_HTTP_URL is set, each version's accuracy on labelled feedback for predictions served in the step. A/B rollouts conclude
 * on their sequential significance test (judgeAb): error rate from serving's reports, accuracy from monitoring.
 */
@Injectable()
export class SignalAnalysis implements RolloutAnalysisSource {
  private readonly logger: Logger;
  private readonly authorization?: string;

  constructor(
    private readonly observations: RolloutObservationsStore,
    @Inject(SERVICE_CONFIG) private readonly config: RegistryConfig,
    @Inject(ROOT_LOGGER) logger: Logger,
  ) {
    this.logger = logger.child({ component: 'rollout-analysis' });
    this.authorization = serviceAuthorization(config);
  }

  async evaluate(rollout: Rollout, revision: number, now = new Date()): Promise<AnalysisVerdict> {
    const step = await this.observations.step(rollout.rolloutId, revision);
    const labels = await this.labels(rollout);
    if (rollout.strategy === 'ab') {
      const ab = rollout.plan.ab;
      const arm = (role: 'baseline' | 'candidate'): ArmCounts | undefined => {
        if (ab.metric === 'error-rate') {
          const seen = step[role];
          return seen ? { successes: seen.errors, n: seen.requests } : undefined;
        }
        const labelled = labels?.[role];
        return labelled
          ? { successes: Math.round(labelled.accuracy * labelled.labelled), n: labelled.labelled }
          : undefined;
      };
      return judgeAb(ab, { baseline: arm('baseline'), candidate: arm('candidate') }, bakeElapsed(rollout, now));
    }
    return judgeStep({ analysis: analysisOf(rollout), step, mirrored: rollout.mirrored, labels });
  }

  /**
   * Baseline's and candidate's accuracy on labels of predictions served in the current step (monitoring's closed
   * label windows); none when monitoring is not configured or does not answer.
   */
  private async labels(rollout: Rollout): Promise<StepLabels | undefined> {
    if (!this.config.MONITORING_HTTP_URL || rollout.baselineVersion === undefined) return undefined;
    const url = `${this.config.MONITORING_HTTP_URL}/api/v1/pipelines/${encodeURIComponent(rollout.pipelineId)}/performance?windows=${MONITORING_MAX_WINDOWS}`;
    try {
      const response = await fetch(url, {
        headers: this.authorization ? { authorization: this.authorization } : {},
        signal: AbortSignal.timeout(2_000),
      });
      if (!response.ok) throw new Error(`monitoring answered ${response.status}`);
      const answer = (await response.json()) as PerformanceAnswer;
      const since = new Date(rollout.enteredAt);
      const of = (version: number | undefined) =>
        accuracySince(answer.versions?.find((entry) => entry.modelVersion === version)?.windows, since);
      return { baseline: of(rollout.baselineVersion), candidate: of(rollout.candidateVersion) };
    } catch (error) {
      this.logger.debug({ err: error, pipelineId: rollout.pipelineId }, 'no labelled accuracy from monitoring');
      return undefined;
    }
  }
}
