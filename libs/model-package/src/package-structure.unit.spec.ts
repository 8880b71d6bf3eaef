import { describe, expect, it } from 'vitest';
import { checkPackageStructure, PackageStructureError } from './package-structure';

/** Two trees: 0 -> (1, 2) and 3 (a lone leaf). */
function pkg(model: Record<string, unknown> = {}) {
  return {
    format: 'keel.package',
    version: 1,
    pipelineId: 'p',
    modelName: 'p',
    task: 'binary-classification',
    signature: { inputs: [{ name: 'x', datatype: 'FP64', kind: 'numeric', nullable: true }], outputs: [] },
    lineage: {},
    reference: {},
    metrics: { auc: 0.9 },
    model: {
      format: 'keel.model',
      version: 1,
      classes: ['no', 'yes'],
      features: ['x'],
      preprocessing: null,
      training: {},
      model: {
        kind: 'gbdt',
        task: 'binary',
        nFeatures: 1,
        nOutputs: 1,
        baseScores: [0],
        treeRoots: [0, 3],
        treeOutputs: [0, 0],
        feature: [0, -1, -1, -1],
        threshold: [0.5, 0, 0, 0],
        missingLeft: [1, 0, 0, 0],
        left: [1, -1, -1, -1],
        right: [2, -1, -1, -1],
        value: [0, -1, 1, 0.1],
        catOffset: [-1, -1, -1, -1],
        catBits: [],
        ...model,
      },
    },
  };
}

describe('checkPackageStructure', () => {
  it('accepts a well-formed forest', () => {
    expect(() => checkPackageStructure(pkg())).not.toThrow();
  });

  it.each([
    ['a node with two parents', { left: [1, -1, -1, -1], right: [1, -1, -1, -1] }, /two parents/],
    [
      'a child before its parent',
      { treeRoots: [1, 3], feature: [-1, 0, -1, -1], left: [-1, 0, -1, -1], right: [-1, 2, -1, -1] },
      /not after it/,
    ],
    ['an unreachable node', { treeRoots: [0], treeOutputs: [0] }, /reachable from no tree root/],
    ['a NaN-like threshold', { threshold: [null, 0, 0, 0] }, /threshold\[0\] is not a finite number/],
    ['a feature out of range', { feature: [5, -1, -1, -1] }, /model.feature\[0\] = 5 is outside/],
    ['a child out of range', { right: [9, -1, -1, -1] }, /model.right\[0\] = 9 is outside/],
    ['a category set past the bit sets', { catOffset: [0, -1, -1, -1] }, /catOffset\[0\] = 0 is outside/],
    ['a root given twice', { treeRoots: [0, 0], treeOutputs: [0, 0] }, /root 0 has a parent or is a root twice/],
    ['arrays of the wrong length', { value: [0] }, /model.value has 1 entries, expected 4/],
    ['a huge node count', { nFeatures: 1e9 }, /nFeatures must be an integer from 1 to/],
  ])('refuses %s', (_what, change, message) => {
    expect(() => checkPackageStructure(pkg(change))).toThrow(message);
  });

  it('checks the model from before a refit as it checks the served one, naming it', () => {
    const measured = (change: Record<string, unknown>) => ({ ...pkg(), evaluation: { model: pkg(change).model } });
    expect(() => checkPackageStructure(measured({}))).not.toThrow();
    expect(() => checkPackageStructure(measured({ right: [9, -1, -1, -1] }))).toThrow(
      /^evaluation\.model\.right\[0\] = 9 is outside/,
    );
    expect(() => checkPackageStructure({ ...pkg(), evaluation: 'no' })).toThrow(/"evaluation.model" must be an object/);
  });

  it('refuses what is not a package object, with a clear error', () => {
    for (const value of [null, [], 'x', { ...pkg(), signature: 'no' }]) {
      expect(() => checkPackageStructure(value)).toThrow(PackageStructureError);
    }
  });

  it("takes a signature join's definition hash when it is a sha256, refusing anything else", () => {
    const joined = (join: Record<string, unknown>) => {
      const base = pkg();
      return {
        ...base,
        signature: { ...base.signature, joins: [{ pipeline: 't', entityKey: 'k', features: ['x'], ...join }] },
      };
    };
    expect(() => checkPackageStructure(joined({}))).not.toThrow(); // trained before hashes
    expect(() => checkPackageStructure(joined({ joinSha256: 'a'.repeat(64) }))).not.toThrow();
    expect(() => checkPackageStructure(joined({ joinSha256: 'x' }))).toThrow(/joinSha256 must be a sha256/);
  });
});
