import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidPipelineSpecError } from './errors';
import { parsePipelineSpec } from './pipeline-store';

const fixture = (name: string) => readFileSync(join(__dirname, '../../../fixtures/pipelines', name), 'utf8');

describe('pipeline spec keel/v1', () => {
  it.each(['adult-income.yaml', 'bike-demand.yaml'])('parses the bundled %s with defaults filled in', (name) => {
    const spec = parsePipelineSpec(fixture(name));
    expect(spec.features.length).toBeGreaterThan(5);
    expect(spec.validation.maxMissingRate).toBe(0.3);
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
});
