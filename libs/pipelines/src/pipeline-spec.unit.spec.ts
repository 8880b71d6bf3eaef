import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidPipelineSpecError } from './errors';
import { parsePipelineSpec, parseSpecDocument } from './pipeline-store';

const fixture = (name: string) => readFileSync(join(__dirname, '../../../fixtures/pipelines', name), 'utf8');

describe('pipeline spec keel/v1', () => {
  it.each(['adult-income.yaml', 'adult-education.yaml', 'bike-demand.yaml'])(
    'parses the bundled %s with defaults filled in',
    (name) => {
      const spec = parsePipelineSpec(fixture(name));
      expect(spec.features.length).toBeGreaterThan(5);
      expect(spec.validation.maxMissingRate).toBe(0.3);
    },
  );

  it('parses the bundled feature table, which a model pipeline reader refuses naming its kind', () => {
    const table = parseSpecDocument(fixture('customer-features.yaml'));
    expect(table).toMatchObject({ kind: 'FeatureTable', entityColumns: ['customer_id'], validation: { minRows: 10 } });
    expect(() => parsePipelineSpec(fixture('customer-features.yaml'))).toThrow(
      /kind: a FeatureTable, where a model pipeline is needed/,
    );
  });

  it('names a model-only section of a feature table by its path', () => {
    const text = `${fixture('customer-features.yaml')}\ntask: regression\ntarget: { column: balance }\n`;
    expect(() => parseSpecDocument(text)).toThrow(
      'invalid pipeline spec: task: a FeatureTable has no model: "task" belongs to kind Pipeline; ' +
        'target: a FeatureTable has no model: "target" belongs to kind Pipeline',
    );
  });

  it.each([
    ['a target that is also a feature', (s: string) => s.replace('column: income', 'column: age'), /target/],
    [
      'a regression metric for classification',
      (s: string) => s.replace('primaryMetric: auc', 'primaryMetric: rmse'),
      /primaryMetric/,
    ],
    ['an unknown algorithm', (s: string) => s.replace('[logistic-regression, gbdt]', '[svm]'), /algorithms/],
    ['a bad pipeline id', (s: string) => s.replace('id: adult-income', 'id: Adult Income'), /id/],
  ])('rejects %s, naming the field', (_name, mutate, field) => {
    let error: unknown;
    try {
      parsePipelineSpec(mutate(fixture('adult-income.yaml')));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidPipelineSpecError);
    expect((error as InvalidPipelineSpecError).issues.join('\n')).toMatch(field);
  });

  it.each([
    ['flow collections', `id: x\nfeatures: ${'['.repeat(40)}${']'.repeat(40)}\n`],
    ['block mappings', Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')],
    ['an object', JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) as unknown],
  ])(
    'refuses %s nested deeper than JSON_MAX_DEPTH before validating, and never prints YAML warnings',
    (_what, input) => {
      expect(() => parsePipelineSpec(input, 32)).toThrow(/deeper than 32 levels \(JSON_MAX_DEPTH\)/);
    },
  );

  it('caps the features (PIPELINE_SPEC_MAX_FEATURES) and the values of a document (PIPELINE_SPEC_MAX_VALUES)', () => {
    const spec = parsePipelineSpec(fixture('adult-income.yaml'));
    const withFeatures = (count: number) => ({
      ...spec,
      features: Array.from({ length: count }, (_, i) => ({ name: `f${i}`, type: 'numeric' })),
    });
    expect(parsePipelineSpec(withFeatures(1_000)).features).toHaveLength(1_000);
    expect(() => parsePipelineSpec(withFeatures(1_001))).toThrow(
      /at most 1000 features \(PIPELINE_SPEC_MAX_FEATURES\)/,
    );
    expect(() => parsePipelineSpec(withFeatures(10_000))).toThrow(/values \(PIPELINE_SPEC_MAX_VALUES\)/);
    expect(() => parsePipelineSpec(`features:\n${'- 1\n'.repeat(30_000)}`)).toThrow(InvalidPipelineSpecError);
  });

  describe('multiclass-classification', () => {
    const base = () => parsePipelineSpec(fixture('adult-education.yaml'));
    const issues = (change: (spec: Record<string, unknown>) => void): string => {
      const spec = JSON.parse(JSON.stringify(base())) as Record<string, unknown>;
      change(spec);
      try {
        parsePipelineSpec(spec);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidPipelineSpecError);
        return (error as InvalidPipelineSpecError).issues.join('\n');
      }
      return '';
    };
    const target = (spec: Record<string, unknown>) => spec.target as Record<string, unknown>;

    it('takes the declared classes, in output order, and the multiclass metrics', () => {
      const spec = base();
      expect(spec.task).toBe('multiclass-classification');
      expect(spec.target.classes).toEqual(['no-diploma', 'high-school', 'some-college', 'degree']);
      expect(spec.training.primaryMetric).toBe('f1_macro');
    });

    it.each([
      [
        'no classes',
        (s: Record<string, unknown>) => delete target(s).classes,
        /target\.classes.*needs target\.classes/,
      ],
      [
        'two classes',
        (s: Record<string, unknown>) => (target(s).classes = ['a', 'b']),
        /at least 3 classes, got 2; two classes are binary-classification/,
      ],
      [
        'a class twice',
        (s: Record<string, unknown>) => (target(s).classes = ['a', 'b', 'a']),
        /class "a" is declared twice/,
      ],
      ['an empty class', (s: Record<string, unknown>) => (target(s).classes = ['a', 'b', '']), /target\.classes\.2/],
      [
        '101 classes',
        (s: Record<string, unknown>) => (target(s).classes = Array.from({ length: 101 }, (_, i) => `c${i}`)),
        /at most 100 classes \(MAX_CLASSES\)/,
      ],
      [
        'a positive label',
        (s: Record<string, unknown>) => (target(s).positive = 'degree'),
        /multiclass classification has no positive label/,
      ],
      [
        'a binary metric',
        (s: Record<string, unknown>) => ((s.training as Record<string, unknown>).primaryMetric = 'auc'),
        /not a multiclass-classification metric/,
      ],
      [
        'linear regression',
        (s: Record<string, unknown>) => ((s.training as Record<string, unknown>).algorithms = ['linear-regression']),
        /linear-regression does not fit multiclass-classification/,
      ],
      [
        'a fairness gate',
        (s: Record<string, unknown>) =>
          (s.fairnessGates = [{ attribute: 'sex', metric: 'demographic_parity_difference', max: 0.1 }]),
        /fairness gates judge binary decisions/,
      ],
      [
        'a business gate',
        (s: Record<string, unknown>) =>
          (s.businessGate = { costMatrix: { falsePositive: 1, falseNegative: 1 }, maxCostPer1000: 10 }),
        /multiclass has none/,
      ],
      [
        'a robustness gate',
        (s: Record<string, unknown>) => (s.robustnessGate = { min: 0.9 }),
        /binary classification only/,
      ],
    ])('rejects %s, naming the field', (_name, change, message) => {
      expect(issues(change)).toMatch(message);
    });

    it('watches a performance drop in accuracy or f1_macro, the metrics its label windows carry', () => {
      const drop = (metric: string) => (s: Record<string, unknown>) =>
        (s.retrainPolicy = { triggers: { performanceDrop: { metric, below: 0.4 } } });
      expect(issues(drop('f1_macro'))).toBe('');
      expect(issues(drop('auc'))).toMatch(
        /retrainPolicy\.triggers\.performanceDrop\.metric.*carry accuracy, f1_macro, not auc/,
      );
    });

    it('refuses classes on the other tasks', () => {
      const spec = parsePipelineSpec(fixture('adult-income.yaml'));
      expect(() => parsePipelineSpec({ ...spec, target: { ...spec.target, classes: ['a', 'b', 'c'] } })).toThrow(
        /classes are declared by multiclass-classification, not binary-classification/,
      );
    });
  });
});
