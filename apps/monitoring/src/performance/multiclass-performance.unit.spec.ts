import { PipelineSpecV1 } from '@keel/contracts';
import { accuracy, f1 } from '@keel/ml-stats';
import { describe, expect, it } from 'vitest';
import { scoredRow } from '../labels/label-join.service';
import { windowEvent } from './performance-ledger';
import { errorOf, performanceMetrics, UNKNOWN_CLASS } from './performance-metrics';
import { type ClosedLabelWindow, VersionPerformance } from './version-performance';

const CLASSES = ['no-diploma', 'high-school', 'some-college', 'degree'];
const spec = PipelineSpecV1.parse({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'edu',
  task: 'multiclass-classification',
  target: { column: 'education_level', classes: CLASSES },
  features: [{ name: 'age', type: 'numeric' }],
  training: { algorithms: ['gbdt'], primaryMetric: 'f1_macro' },
});

describe('multiclass performance on joined labels', () => {
  it('scores a joined label as class indices; an undeclared label is UNKNOWN_CLASS, an undeclared prediction unscorable', () => {
    const served = (label: string) => ({ outputs: { label, probability_0: 0.1 } });
    expect(scoredRow(spec, served('degree'), 'some-college')).toEqual({ score: 3, label: 2 });
    expect(scoredRow(spec, served('degree'), 'apprenticeship')).toEqual({ score: 3, label: UNKNOWN_CLASS });
    expect(scoredRow(spec, served('masters'), 'degree')).toBeUndefined();
    expect(scoredRow(spec, served('degree'), '')).toBeUndefined();
  });

  it('reports accuracy and f1_macro, scikit-learn style, and the 0/1 error stream', () => {
    const predicted = [0, 1, 2, 3, 1, 1, 2, 0];
    const truth = [0, 1, 2, 2, 1, 0, UNKNOWN_CLASS, 0];
    expect(performanceMetrics('multiclass-classification', predicted, truth)).toEqual({
      accuracy: accuracy(truth, predicted),
      f1_macro: f1(truth, predicted, { average: 'macro' }),
    });
    expect(performanceMetrics('multiclass-classification', predicted, truth).accuracy).toBe(5 / 8);
    expect(predicted.map((p, i) => errorOf('multiclass-classification', p, truth[i]))).toEqual([
      0, 0, 0, 1, 0, 1, 1, 0,
    ]);
  });

  it('closes label windows whose event counts the undeclared labels', () => {
    const performance = VersionPerformance.start(
      { pipelineId: 'edu', modelName: 'edu', modelVersion: 1 },
      { task: 'multiclass-classification', windowLabels: 10, detector: { kind: 'adwin' } },
    );
    const closed: ClosedLabelWindow[] = [];
    for (let i = 0; i < 10; i++) {
      const label = i === 4 || i === 7 ? UNKNOWN_CLASS : i % 4;
      const window = performance.add({ score: i % 4, label, servedAt: 1_000 + i }).closed;
      if (window) closed.push(window);
    }
    expect(closed).toHaveLength(1);
    const event = windowEvent(performance, closed[0]);
    expect(event.task).toBe('multiclass-classification');
    expect(event.unknownClassLabels).toBe(2);
    expect(event.metrics.accuracy).toBe(0.8);
    expect(event.conceptDrift.errorMean).toBeCloseTo(0.2, 12);
  });
});
