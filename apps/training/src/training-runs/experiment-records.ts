import { type EventData, type FeaturesMaterializedV1 } from '@keel/contracts';
import { candidateRunId, type ExperimentRun, trialRunId } from '../experiments/experiment-runs';
import { type AlgorithmSearchOutcome } from './hyperparameter-search';
import { type CandidateRecord } from './training-runs.repository';

type FeaturesMaterialized = EventData<typeof FeaturesMaterializedV1>;

/** What a finished training run tells its experiment records. */
export interface FinishedTraining {
  runId: string;
  features: FeaturesMaterialized;
  seed: number;
  codeVersion: string;
  traceId?: string;
  chosen: string;
  params: Record<string, unknown>;
  metrics: Record<string, number>;
  candidates: readonly CandidateRecord[];
  search?: readonly AlgorithmSearchOutcome[];
  packageUri: string;
  packageSha256: string;
  durationMs: number;
  at: Date;
}

/** The training run, each candidate algorithm and each search trial as experiment runs (children name the run). */
export function experimentRunsOf(training: FinishedTraining): ExperimentRun[] {
  const { features, runId } = training;
  const common = {
    pipelineId: features.pipelineId,
    seed: training.seed,
    datasetVersionId: features.datasetVersionId,
    datasetSha256: features.datasetSha256,
    featureSetId: features.featureSetId,
    featureSetSha256: features.featureSetSha256,
    transformSha256: features.transformSha256,
    ...(features.snapshot ? { snapshotId: features.snapshot.snapshotId } : {}),
    codeVersion: training.codeVersion,
    ...(training.traceId ? { traceId: training.traceId } : {}),
    createdAt: training.at,
  };
  const runs: ExperimentRun[] = [
    {
      ...common,
      runId,
      kind: 'training',
      algorithm: training.chosen,
      params: training.params,
      metrics: training.metrics,
      evaluatedOn: 'holdout',
      durationMs: training.durationMs,
      packageUri: training.packageUri,
      packageSha256: training.packageSha256,
    },
  ];
  for (const candidate of training.candidates) {
    runs.push({
      ...common,
      runId: candidateRunId(runId, candidate.algorithm),
      kind: 'candidate',
      parentRunId: runId,
      algorithm: candidate.algorithm,
      params: candidate.params,
      metrics: candidate.metrics,
      evaluatedOn: 'holdout',
      chosen: candidate.algorithm === training.chosen,
      durationMs: candidate.trainMs,
    });
  }
  for (const search of training.search ?? []) {
    for (const trial of search.trials) {
      runs.push({
        ...common,
        runId: trialRunId(runId, search.algorithm, trial.index),
        kind: 'trial',
        parentRunId: runId,
        algorithm: search.algorithm,
        params: trial.params,
        metrics: trial.metrics,
        evaluatedOn: 'validation',
        ...(trial.validationLoss ? { steps: { metric: 'validation_loss', values: trial.validationLoss } } : {}),
        search: { strategy: search.strategy, index: trial.index, config: trial.config, resource: trial.resource },
        chosen: search.algorithm === training.chosen && trial.index === search.bestTrial,
        durationMs: trial.trainMs,
      });
    }
  }
  return runs;
}
