import { binaryTestPackage, fixtureRecords, pipelineSpecFixture } from '@keel/testing';
import { describe, expect, it } from 'vitest';
import { rowTensors, sampleRows } from './staging-validator';

describe('staging sample traffic', () => {
  const spec = pipelineSpecFixture('adult-income', { id: 'staging-samples' });
  const pkg = binaryTestPackage(spec, fixtureRecords('adult', { count: 200, numeric: spec }), { l2: 1e-3 });

  it('draws every value from the training reference, mixing them across rows', () => {
    const rows = sampleRows(pkg, 30);
    expect(rows).toHaveLength(30);
    for (const input of pkg.signature.inputs) {
      const reference = pkg.reference[input.name];
      const seen = new Set(rows.map((row) => row[input.name]));
      if (reference.kind === 'categorical') {
        const categories = new Set(reference.summary.counts.map(([value]) => value));
        for (const value of seen) expect(categories.has(value as string)).toBe(true);
      } else {
        for (const value of seen) expect(typeof value).toBe('number');
      }
      const distinct =
        reference.kind === 'categorical' ? reference.summary.counts.length : reference.summary.edges.length;
      expect(seen.size).toBe(Math.min(distinct, 30) || 1);
    }
  });

  it('sends each row as one tensor per input, typed by the signature', () => {
    const tensors = rowTensors(pkg, sampleRows(pkg, 1)[0]);
    expect(tensors.map((tensor) => tensor.name)).toEqual(pkg.signature.inputs.map((input) => input.name));
    const age = tensors.find((tensor) => tensor.name === 'age')!;
    expect(age).toMatchObject({ datatype: 'FP64', shape: [1] });
    expect(age.contents?.fp64Contents).toHaveLength(1);
    const workclass = tensors.find((tensor) => tensor.name === 'workclass')!;
    expect(workclass).toMatchObject({ datatype: 'BYTES', shape: [1] });
  });
});
