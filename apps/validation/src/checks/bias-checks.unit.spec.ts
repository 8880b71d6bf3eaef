import { type DatasetTable } from '@keel/datasets';
import { parsePipelineSpec } from '@keel/pipelines';
import { describe, expect, it } from 'vitest';
import { biasFindings, measureBias, referenceShares, withFacetShares } from './bias-checks';
import { inferReference } from './validation-checks';

const spec = parsePipelineSpec({
  apiVersion: 'keel/v1',
  kind: 'Pipeline',
  id: 'bias-unit',
  task: 'binary-classification',
  target: { column: 'y', positive: 'yes' },
  protectedAttributes: ['sex'],
  features: [{ name: 'age', type: 'numeric' }],
  validation: {
    minRows: 4,
    bias: [
      { attribute: 'sex', metric: 'class_imbalance', warn: 0.1, reject: 0.5 },
      { attribute: 'sex', metric: 'difference_in_proportions_of_labels', reject: 0.2 },
      { attribute: 'sex', metric: 'representation_change', warn: 0.05 },
    ],
  },
  training: { algorithms: ['gbdt'], primaryMetric: 'auc' },
});

/** The hand-computed fixture of libs/ml-stats (F: 1 of 4 positive, M: 3 of 6), as a dataset version. */
function version(sex: (string | null)[], y: string[]): DatasetTable {
  return {
    rowCount: sex.length,
    columns: [
      { name: 'age', type: 'number', values: sex.map((_, i) => 20 + i) },
      { name: 'y', type: 'string', values: y },
      { name: 'sex', type: 'string', values: sex },
    ],
  };
}
const first = version(
  ['F', 'F', 'F', 'F', 'M', 'M', 'M', 'M', 'M', 'M'],
  ['yes', 'no', 'no', 'no', 'yes', 'yes', 'yes', 'no', 'no', 'no'],
);

describe('pre-training bias in validation', () => {
  const reference = withFacetShares(inferReference(first), first, spec.protectedAttributes);

  it('records each protected attribute’s facet shares in the reference', () => {
    expect(reference.find((c) => c.name === 'sex')?.shares).toEqual([
      { value: 'F', share: 0.4 },
      { value: 'M', share: 0.6 },
    ]);
    expect(reference.find((c) => c.name === 'age')?.shares).toBeUndefined();
  });

  it('measures Clarify’s metrics per facet, the report’s numbers, and warns or rejects by the spec’s thresholds', () => {
    const [sex] = measureBias(spec, first, referenceShares(reference));
    expect(sex).toMatchObject({ attribute: 'sex', rows: 10 });
    const [f, m] = sex.facets;
    expect(f).toMatchObject({ facet: 'F', count: 4, share: 0.4, referenceShare: 0.4, positiveProportion: 0.25 });
    expect(f.metrics.class_imbalance).toBeCloseTo(0.2, 14);
    expect(f.metrics.difference_in_proportions_of_labels).toBeCloseTo(0.25, 14);
    expect(f.metrics.kl_divergence).toBeCloseTo(0.5 * Math.log(4 / 3), 14);
    expect(f.metrics.representation_change).toBe(0);
    expect(m.metrics.class_imbalance).toBeCloseTo(-0.2, 14);

    // |CI| 0.2 > warn 0.1 for both facets; |DPL| 0.25 > reject 0.2 for both
    const findings = biasFindings(spec.validation.bias, [sex]);
    expect(findings.map((f) => [f.severity, f.message])).toEqual([
      ['warning', 'sex=F (n=4 of 10): class_imbalance 0.2, |0.2| above the warn threshold 0.1'],
      ['warning', 'sex=M (n=6 of 10): class_imbalance -0.2, |-0.2| above the warn threshold 0.1'],
      ['error', 'sex=F (n=4 of 10): difference_in_proportions_of_labels 0.25, |0.25| above the reject threshold 0.2'],
      ['error', 'sex=M (n=6 of 10): difference_in_proportions_of_labels -0.25, |-0.25| above the reject threshold 0.2'],
    ]);
  });

  it('holds a later version’s representation to the reference’s shares; missing values are a facet', () => {
    const later = version(['F', 'M', 'M', 'M', 'M', null], ['yes', 'no', 'yes', 'no', 'yes', 'no']);
    const [sex] = measureBias(spec, later, referenceShares(reference));
    expect(sex.facets.map((f) => [f.facet, f.referenceShare])).toEqual([
      ['(missing)', 0],
      ['F', 0.4],
      ['M', 0.6],
    ]);
    expect(sex.facets[1].metrics.representation_change).toBeCloseTo(1 / 6 - 0.4, 14);
    const representation = biasFindings([spec.validation.bias[2]], [sex]);
    expect(representation.map((f) => f.message)).toEqual([
      'sex=(missing) (n=1 of 6): representation_change 0.166667, |0.166667| above the warn threshold 0.05',
      'sex=F (n=1 of 6): representation_change -0.233333, |-0.233333| above the warn threshold 0.05',
      'sex=M (n=4 of 6): representation_change 0.0666667, |0.0666667| above the warn threshold 0.05',
    ]);
  });

  it('a reference set before bias checks has no shares: representation change is a warning that it could not run', () => {
    const [sex] = measureBias(spec, first, referenceShares(inferReference(first)));
    const findings = biasFindings([spec.validation.bias[2]], [sex]);
    expect(findings[0]).toMatchObject({
      severity: 'warning',
      message: 'sex=F: representation_change undefined: the reference recorded no shares',
    });
  });

  it('refuses a spec whose bias check names no protected attribute or a label metric for regression', () => {
    const base = { ...spec, validation: { ...spec.validation } } as Record<string, unknown>;
    expect(() =>
      parsePipelineSpec({ ...base, validation: { bias: [{ attribute: 'age', metric: 'class_imbalance', warn: 1 }] } }),
    ).toThrow(/"age" is not in protectedAttributes/);
    expect(() =>
      parsePipelineSpec({
        ...base,
        task: 'regression',
        target: { column: 'y' },
        training: { algorithms: ['gbdt'], primaryMetric: 'rmse' },
        validation: { bias: [{ attribute: 'sex', metric: 'kl_divergence', reject: 1 }] },
      }),
    ).toThrow(/kl_divergence compares label distributions: classification only/);
  });
});
