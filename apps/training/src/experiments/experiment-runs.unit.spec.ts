import { describe, expect, it } from 'vitest';
import { compareRuns, type ExperimentRun } from './experiment-runs';

function run(runId: string, params: Record<string, unknown>, metrics: Record<string, number>): ExperimentRun {
  return {
    runId,
    pipelineId: 'p',
    kind: 'trial',
    parentRunId: 'run-parent',
    algorithm: 'gbdt',
    params,
    metrics,
    evaluatedOn: 'validation',
    durationMs: 1,
    seed: 42,
    datasetVersionId: 'ds',
    datasetSha256: 'd'.repeat(64),
    featureSetId: 'fs',
    featureSetSha256: 'f'.repeat(64),
    transformSha256: 'e'.repeat(64),
    codeVersion: 'git:abc',
    createdAt: new Date(0),
  };
}

describe('compareRuns', () => {
  it('given three runs, then params and metrics sit side by side in the order asked, with the best per metric', () => {
    const comparison = compareRuns([
      run('a', { learningRate: 0.1, maxLeaves: 31 }, { auc: 0.91, log_loss: 0.3 }),
      run('b', { learningRate: 0.05 }, { auc: 0.93, log_loss: 0.32 }),
      run('c', { learningRate: 0.2, maxLeaves: 8 }, { auc: 0.9 }),
    ]);
    expect(comparison.runIds).toEqual(['a', 'b', 'c']);
    expect(comparison.params).toEqual({ learningRate: [0.1, 0.05, 0.2], maxLeaves: [31, null, 8] });
    expect(comparison.metrics).toEqual({ auc: [0.91, 0.93, 0.9], log_loss: [0.3, 0.32, null] });
    // higher AUC is better, lower log loss is
    expect(comparison.best).toEqual({ auc: 'b', log_loss: 'a' });
    expect(comparison.runs[0]).toEqual({
      runId: 'a',
      kind: 'trial',
      algorithm: 'gbdt',
      parentRunId: 'run-parent',
      evaluatedOn: 'validation',
      codeVersion: 'git:abc',
    });
  });
});
