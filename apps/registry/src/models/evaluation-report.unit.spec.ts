import { evaluationMetrics } from '@keel/model-package';
import { calibrationBins, groupRates } from '@keel/ml-stats';
import { describe, expect, it } from 'vitest';
import { buildEvaluationReport, REPORT_THRESHOLDS, thresholdPoint } from './evaluation-report';

describe('evaluation report', () => {
  it('slices metrics and rates per group: each group’s own metrics, and Fairlearn’s rates (the library MetricFrame checks)', () => {
    const yTrue = Float64Array.of(1, 0, 1, 0, 1, 0, 1, 1);
    const scores = Float64Array.of(0.8, 0.7, 0.3, 0.2, 0.9, 0.6, 0.4, 0.55);
    const sex = ['F', 'F', 'F', 'F', 'M', 'M', 'M', 'M'];
    const report = buildEvaluationReport('binary-classification', yTrue, scores, { sex });
    const [slice] = report.slices;
    expect(slice.attribute).toBe('sex');
    const decisions = Float64Array.from(scores, (p) => (p >= 0.5 ? 1 : 0));
    const rates = groupRates({ yTrue, yPred: decisions, sensitive: sex });
    for (const [k, group] of slice.groups.entries()) {
      const rows = sex.flatMap((s, i) => (s === group.group ? [i] : []));
      const pick = (from: Float64Array) => Float64Array.from(rows, (i) => from[i]);
      expect(group.rows).toBe(4);
      expect(group.metrics).toEqual(evaluationMetrics('binary-classification', pick(yTrue), pick(scores)));
      const { selectionRate, truePositiveRate, falsePositiveRate } = rates[k];
      expect(group.rates).toEqual({ selectionRate, truePositiveRate, falsePositiveRate });
    }
    // F: decisions 1,1,0,0 on truths 1,0,1,0; M: 1,1,0,1 on 1,0,1,1
    expect(slice.groups.map((g) => g.rates)).toEqual([
      { selectionRate: 0.5, truePositiveRate: 0.5, falsePositiveRate: 0.5 },
      { selectionRate: 0.75, truePositiveRate: 2 / 3, falsePositiveRate: 1 },
    ]);
  });

  it('gives overall metrics, the confusion matrix at 0.5, ROC/PR points at every 0.05 and calibration bins', () => {
    const yTrue = Float64Array.of(1, 1, 0, 0, 0, 1);
    const scores = Float64Array.of(0.9, 0.4, 0.6, 0.1, 0.2, 0.8);
    const report = buildEvaluationReport('binary-classification', yTrue, scores, {});
    expect(report.metrics).toEqual(evaluationMetrics('binary-classification', yTrue, scores));
    // at 0.5: TP 0.9, 0.8; FN 0.4; FP 0.6; TN 0.1, 0.2
    expect(report.confusionMatrix).toEqual({
      threshold: 0.5,
      truePositive: 2,
      falsePositive: 1,
      trueNegative: 2,
      falseNegative: 1,
    });
    expect(report.thresholds!.map((t) => t.threshold)).toEqual(REPORT_THRESHOLDS);
    const half = report.thresholds![10];
    expect(half).toEqual(thresholdPoint(yTrue, scores, 0.5));
    expect(half).toMatchObject({ precision: 2 / 3, recall: 2 / 3, falsePositiveRate: 1 / 3, f1: 2 / 3 });
    // threshold 0 selects all (ROC's (1, 1)), 1 selects none: precision undefined there
    expect(report.thresholds![0]).toMatchObject({ selectionRate: 1, recall: 1, falsePositiveRate: 1 });
    expect(report.thresholds![20]).toMatchObject({ selectionRate: 0, recall: 0, precision: null });
    expect(report.calibration).toEqual(calibrationBins(yTrue, scores, 10));
  });

  it('regression: overall and sliced metrics, no classification curves', () => {
    const report = buildEvaluationReport('regression', Float64Array.of(1, 2, 3, 4), Float64Array.of(1, 2, 4, 4), {
      region: ['n', 'n', 's', 's'],
    });
    expect(report.metrics.mae).toBe(0.25);
    expect(report.slices[0].groups.map((g) => [g.group, g.metrics.mae])).toEqual([
      ['n', 0],
      ['s', 0.5],
    ]);
    expect(report.confusionMatrix).toBeUndefined();
    expect(report.thresholds).toBeUndefined();
  });

  describe('multiclass', () => {
    const classes = ['a', 'b', 'c'];
    // Six rows, three classes; the prediction is each row's most probable class: a, b, c, a, c, c.
    const yTrue = Float64Array.of(0, 1, 2, 1, 2, 2);
    const scores = Float64Array.of(
      ...[0.7, 0.2, 0.1],
      ...[0.1, 0.8, 0.1],
      ...[0.2, 0.2, 0.6],
      ...[0.5, 0.3, 0.2],
      ...[0.1, 0.3, 0.6],
      ...[0.3, 0.3, 0.4],
    );
    const group = ['F', 'F', 'F', 'M', 'M', 'M'];
    const report = buildEvaluationReport('multiclass-classification', yTrue, scores, { sex: group }, classes);

    it('gives the K × K confusion matrix and each class’s precision, recall, F1 and support', () => {
      expect(report.classes).toEqual(classes);
      expect(report.classConfusionMatrix).toEqual([
        [1, 0, 0],
        [1, 1, 0],
        [0, 0, 3],
      ]);
      expect(report.perClass).toEqual([
        { class: 'a', precision: 0.5, recall: 1, f1: 2 / 3, support: 1 },
        { class: 'b', precision: 1, recall: 0.5, f1: 2 / 3, support: 2 },
        { class: 'c', precision: 1, recall: 1, f1: 1, support: 3 },
      ]);
      expect(report.metrics).toEqual(evaluationMetrics('multiclass-classification', yTrue, scores));
      expect(report.metrics.accuracy).toBe(5 / 6);
      expect(report.confusionMatrix).toBeUndefined();
      expect(report.thresholds).toBeUndefined();
    });

    it('slices metrics by group with each class’s selection rate and the largest gap per class', () => {
      const [slice] = report.slices;
      expect(slice.groups.map((g) => [g.group, g.rows, g.classSelectionRates])).toEqual([
        ['F', 3, { a: 1 / 3, b: 1 / 3, c: 1 / 3 }],
        ['M', 3, { a: 1 / 3, b: 0, c: 2 / 3 }],
      ]);
      expect(slice.groups[0].metrics.accuracy).toBe(1);
      expect(slice.groups[1].metrics.accuracy).toBe(2 / 3);
      expect(slice.groups[1].metrics).toEqual(
        evaluationMetrics('multiclass-classification', yTrue.slice(3), scores.slice(9)),
      );
      expect(slice.classSelectionRateDifference).toEqual({ a: 0, b: 1 / 3, c: 1 / 3 });
    });
  });
});
