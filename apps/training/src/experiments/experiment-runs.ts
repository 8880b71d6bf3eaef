import { derivedId, LOWER_IS_BETTER, type MetricName } from '@keel/contracts';

/**
 * One tracked run, MLflow-style. Three kinds share the shape: `training` (a training run: the package it wrote, its
 * chosen algorithm and holdout metrics), `candidate` (one algorithm of it, refit or trained and judged on the
 * holdout) and `trial` (one search trial, scored on the validation split). Candidates and trials name their training
 * run as `parentRunId`.
 */
export interface ExperimentRun {
  runId: string;
  pipelineId: string;
  kind: 'training' | 'candidate' | 'trial';
  parentRunId?: string;
  algorithm: string;
  params: Record<string, unknown>;
  /** Final metrics, on the split `evaluatedOn` names. */
  metrics: Record<string, number>;
  evaluatedOn: 'validation' | 'holdout';
  /** Metrics per step (gbdt: the validation loss after each boosting round). */
  steps?: { metric: string; values: number[] };
  /** Trials: the search that ran them, their place in it and the resource given. */
  search?: { strategy: string; index: number; config: number; resource: number | null };
  /** Whether this candidate (or trial) is the one its training run chose. */
  chosen?: boolean;
  durationMs: number;
  seed: number;
  datasetVersionId: string;
  datasetSha256: string;
  featureSetId: string;
  featureSetSha256: string;
  transformSha256: string;
  /** The training window, when features resolved one. */
  snapshotId?: string;
  /** See detectCodeVersion: a git commit (and dirty flag) or a package version with a build hash. */
  codeVersion: string;
  /** The trace that trained it (Jaeger: /api/traces/<traceId>). */
  traceId?: string;
  packageUri?: string;
  packageSha256?: string;
  createdAt: Date;
}

/** Run ids of a training run's children: stable for the same run, so a redelivery rewrites the same documents. */
export function candidateRunId(parentRunId: string, algorithm: string): string {
  return derivedId('run', [parentRunId, 'candidate', algorithm]);
}

export function trialRunId(parentRunId: string, algorithm: string, index: number): string {
  return derivedId('run', [parentRunId, 'trial', algorithm, index]);
}

/** Whether lower values of a metric are better (names outside the spec's metrics count as higher-is-better). */
export function lowerIsBetter(metric: string): boolean {
  return LOWER_IS_BETTER.includes(metric as MetricName);
}

/** Runs side by side: one column per run, one row per parameter and per metric (null where a run lacks it). */
export interface RunComparison {
  runIds: string[];
  runs: Pick<ExperimentRun, 'runId' | 'kind' | 'algorithm' | 'parentRunId' | 'evaluatedOn' | 'codeVersion'>[];
  params: Record<string, unknown[]>;
  metrics: Record<string, (number | null)[]>;
  /** Per metric, the run id with the best value among those that have it. */
  best: Record<string, string>;
}

export function compareRuns(runs: readonly ExperimentRun[]): RunComparison {
  const params: Record<string, unknown[]> = {};
  const metrics: Record<string, (number | null)[]> = {};
  for (const name of [...new Set(runs.flatMap((run) => Object.keys(run.params)))].sort()) {
    params[name] = runs.map((run) => (Object.hasOwn(run.params, name) ? run.params[name] : null));
  }
  const best: Record<string, string> = {};
  for (const name of [...new Set(runs.flatMap((run) => Object.keys(run.metrics)))].sort()) {
    metrics[name] = runs.map((run) => (Object.hasOwn(run.metrics, name) ? run.metrics[name] : null));
    let winner: ExperimentRun | undefined;
    for (const run of runs) {
      const value = run.metrics[name];
      if (value === undefined) continue;
      const current = winner?.metrics[name];
      if (current === undefined || (lowerIsBetter(name) ? value < current : value > current)) winner = run;
    }
    if (winner) best[name] = winner.runId;
  }
  return {
    runIds: runs.map((run) => run.runId),
    runs: runs.map(({ runId, kind, algorithm, parentRunId, evaluatedOn, codeVersion }) => ({
      runId,
      kind,
      algorithm,
      ...(parentRunId ? { parentRunId } : {}),
      evaluatedOn,
      codeVersion,
    })),
    params,
    metrics,
    best,
  };
}
