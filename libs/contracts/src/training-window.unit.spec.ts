import { describe, expect, it } from 'vitest';
import { TrainingRequestedV2, upcastTrainingRequestedV1 } from './events/training-requested-v2';
import { PipelineSpecV1 } from './pipeline-spec';
import { describeWindow, durationMs } from './training-window';

const base = {
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'elec2',
  task: 'binary-classification',
  target: { column: 'class', positive: 'UP' },
  features: [{ name: 'nswprice', type: 'numeric' }],
  training: { algorithms: ['gbdt'], primaryMetric: 'accuracy' },
} as const;

describe('training windows in the spec', () => {
  it('defaults to all data, without weights', () => {
    const spec = PipelineSpecV1.parse(base);
    expect(spec.training.window).toEqual({ type: 'all' });
    expect(spec.training.recencyWeights).toBeUndefined();
  });

  it('accepts the last N rows and recency weights by rows', () => {
    const spec = PipelineSpecV1.parse({
      ...base,
      training: { ...base.training, window: { type: 'rows', rows: 4800 }, recencyWeights: { halfLifeRows: 1000 } },
    });
    expect(describeWindow(spec.training.window, spec.training.recencyWeights)).toBe(
      'last 4800 rows, half-life 1000 rows',
    );
  });

  it('refuses a duration window or a half-life in data time without a time column, and a bad duration', () => {
    const issues = (training: object, extra: object = {}) =>
      PipelineSpecV1.safeParse({ ...base, ...extra, training: { ...base.training, ...training } }).error?.issues.map(
        (issue) => issue.message,
      );
    expect(issues({ window: { type: 'duration', duration: '7d' } })).toEqual(['a duration window needs timeColumn']);
    expect(issues({ recencyWeights: { halfLife: '7d' } })).toEqual([
      'a half-life in data time needs timeColumn (or use halfLifeRows)',
    ]);
    expect(issues({ window: { type: 'duration', duration: '7 days' } }, { timeColumn: 'date' })?.[0]).toContain(
      'a positive integer and a unit',
    );
    expect(issues({ recencyWeights: { halfLife: '1d', halfLifeRows: 3 } }, { timeColumn: 'date' })).toEqual([
      'give exactly one of halfLife and halfLifeRows',
    ]);
  });

  it('reads durations in every unit', () => {
    expect(['250ms', '30s', '5m', '12h', '7d', '2w'].map(durationMs)).toEqual([
      250, 30_000, 300_000, 43_200_000, 604_800_000, 1_209_600_000,
    ]);
  });
});

describe('training.requested v1 read as v2', () => {
  it('keys the request by its dedupe key and names drift as feature drift', () => {
    const v2 = upcastTrainingRequestedV1({
      pipelineId: 'adult-income',
      reason: 'drift',
      requestedBy: 'monitoring',
      dedupeKey: 'adult-income:drift:v3',
    } as never);
    expect(TrainingRequestedV2.schema.parse(v2)).toEqual({
      pipelineId: 'adult-income',
      requestId: 'adult-income:drift:v3',
      reason: 'feature-drift',
      requestedBy: 'monitoring',
    });
  });

  it('turns a dedupe key with spaces into a valid request id', () => {
    const v2 = upcastTrainingRequestedV1({
      pipelineId: 'adult-income',
      reason: 'performance',
      requestedBy: 'ops',
      dedupeKey: ' weekly check #3',
    } as never);
    expect(TrainingRequestedV2.schema.safeParse(v2).success).toBe(true);
    expect(v2.reason).toBe('performance-drop');
  });
});
