import { InvalidModelError } from '../core/errors';
import { CAT_WORDS, type GbdtModelBody } from '../gbdt/gbdt-model';
import { type LinearModelBody } from '../linear/linear-model';
import { type ModelDocument, validateModel } from '../model/document';
import { type Attr, ELEM_FLOAT, ELEM_INT64, encodeModel, type OnnxNode, type OnnxValue } from './onnx-proto';

/** Names of the exported graph's tensors. */
export const ONNX_INPUT = 'input';
export const ONNX_LABEL = 'label';
export const ONNX_PROBABILITIES = 'probabilities';
export const ONNX_VARIABLE = 'variable';

/**
 * Export a model to ONNX (ai.onnx.ml LinearClassifier / LinearRegressor /
 * TreeEnsembleClassifier / TreeEnsembleRegressor). The graph takes the *preprocessed* float
 * matrix `input` [N, nFeatures] (apply the document's preprocessing first); classifiers output
 * `label` [N] and `probabilities` [N, K], regressors `variable` [N, 1]. ONNX computes in
 * float32, so agreement with our float64 evaluator is to about 1e-6.
 */
export function exportOnnx(doc: ModelDocument): Uint8Array {
  validateModel(doc);
  const m = doc.model;
  const nodes = m.kind === 'linear' ? linearNodes(m) : treeNodes(m);
  const inputs: OnnxValue[] = [{ name: ONNX_INPUT, elemType: ELEM_FLOAT, dims: [null, m.nFeatures] }];
  const outputs: OnnxValue[] =
    m.task === 'regression'
      ? [{ name: ONNX_VARIABLE, elemType: ELEM_FLOAT, dims: [null, 1] }]
      : [
          { name: ONNX_LABEL, elemType: ELEM_INT64, dims: [null] },
          { name: ONNX_PROBABILITIES, elemType: ELEM_FLOAT, dims: [null, m.task === 'binary' ? 2 : m.nOutputs] },
        ];
  return encodeModel({
    graphName: `keel_${m.kind}_${m.task}`,
    nodes,
    inputs,
    outputs,
    docString: `features: ${doc.features.join(', ')}${doc.classes ? `; classes: ${doc.classes.join(', ')}` : ''}`,
  });
}

const ML = 'ai.onnx.ml';

function classOutputs(): string[] {
  return [ONNX_LABEL, ONNX_PROBABILITIES];
}

function classLabels(m: { task: string; nOutputs: number }): number[] {
  return Array.from({ length: m.task === 'binary' ? 2 : m.nOutputs }, (_, i) => i);
}

function linearNodes(m: LinearModelBody): OnnxNode[] {
  if (m.task === 'regression') {
    return [
      {
        opType: 'LinearRegressor',
        domain: ML,
        name: 'linear',
        inputs: [ONNX_INPUT],
        outputs: [ONNX_VARIABLE],
        attributes: [
          ['coefficients', { kind: 'floats', value: m.weights }],
          ['intercepts', { kind: 'floats', value: m.intercepts }],
          ['post_transform', { kind: 'string', value: 'NONE' }],
          ['targets', { kind: 'int', value: 1 }],
        ],
      },
    ];
  }
  // Binary: softmax over [0, z] equals [1 - σ(z), σ(z)], which avoids the runtime's special
  // cases for single-score binary classifiers.
  const binary = m.task === 'binary';
  const coefficients = binary ? [...new Array<number>(m.nFeatures).fill(0), ...m.weights] : m.weights;
  const intercepts = binary ? [0, m.intercepts[0]] : m.intercepts;
  return [
    {
      opType: 'LinearClassifier',
      domain: ML,
      name: 'linear',
      inputs: [ONNX_INPUT],
      outputs: classOutputs(),
      attributes: [
        ['classlabels_ints', { kind: 'ints', value: classLabels(m) }],
        ['coefficients', { kind: 'floats', value: coefficients }],
        ['intercepts', { kind: 'floats', value: intercepts }],
        ['multi_class', { kind: 'int', value: 0 }],
        ['post_transform', { kind: 'string', value: 'SOFTMAX' }],
      ],
    },
  ];
}

interface TreeAttrs {
  treeIds: number[];
  nodeIds: number[];
  featureIds: number[];
  values: number[];
  modes: string[];
  trueIds: number[];
  falseIds: number[];
  missingTrue: number[];
  leafTree: number[];
  leafNode: number[];
  leafOutput: number[];
  leafWeight: number[];
}

/**
 * Flatten our trees into ONNX's node lists. A categorical split becomes a chain of BRANCH_EQ
 * nodes, one per category in the left set, all pointing to the same left subtree (onnxruntime
 * evaluates such chains as set membership); a value in no set falls through to the right.
 */
function treeAttrs(m: GbdtModelBody, outputOf: (treeOutput: number) => number): TreeAttrs {
  const a: TreeAttrs = {
    treeIds: [],
    nodeIds: [],
    featureIds: [],
    values: [],
    modes: [],
    trueIds: [],
    falseIds: [],
    missingTrue: [],
    leafTree: [],
    leafNode: [],
    leafOutput: [],
    leafWeight: [],
  };
  for (let t = 0; t < m.treeRoots.length; t++) {
    const start = m.treeRoots[t];
    const end = t + 1 < m.treeRoots.length ? m.treeRoots[t + 1] : m.feature.length;
    let nextId = end - start;
    const push = (id: number, f: number, v: number, mode: string, tId: number, fId: number, miss: number) => {
      a.treeIds.push(t);
      a.nodeIds.push(id);
      a.featureIds.push(f);
      a.values.push(v);
      a.modes.push(mode);
      a.trueIds.push(tId);
      a.falseIds.push(fId);
      a.missingTrue.push(miss);
    };
    for (let n = start; n < end; n++) {
      const id = n - start;
      const f = m.feature[n];
      if (f < 0) {
        push(id, 0, 0, 'LEAF', 0, 0, 0);
        a.leafTree.push(t);
        a.leafNode.push(id);
        a.leafOutput.push(outputOf(m.treeOutputs[t]));
        a.leafWeight.push(m.value[n]);
        continue;
      }
      const left = m.left[n] - start;
      const right = m.right[n] - start;
      const co = m.catOffset[n];
      if (co < 0) {
        push(id, f, m.threshold[n], 'BRANCH_LEQ', left, right, m.missingLeft[n]);
        continue;
      }
      const cats: number[] = [];
      for (let w = 0; w < CAT_WORDS; w++) {
        for (let b = 0; b < 32; b++) if ((m.catBits[co + w] >>> b) & 1) cats.push(w * 32 + b);
      }
      if (cats.length === 0) throw new InvalidModelError(`categorical node ${n} has an empty category set`);
      let chainId = id;
      for (let i = 0; i < cats.length; i++) {
        const next = i + 1 < cats.length ? nextId++ : right;
        push(chainId, f, cats[i], 'BRANCH_EQ', left, next, i === 0 ? m.missingLeft[n] : 0);
        chainId = next;
      }
    }
  }
  return a;
}

function treeNodeAttributes(a: TreeAttrs): [string, Attr][] {
  return [
    ['nodes_falsenodeids', { kind: 'ints', value: a.falseIds }],
    ['nodes_featureids', { kind: 'ints', value: a.featureIds }],
    ['nodes_missing_value_tracks_true', { kind: 'ints', value: a.missingTrue }],
    ['nodes_modes', { kind: 'strings', value: a.modes }],
    ['nodes_nodeids', { kind: 'ints', value: a.nodeIds }],
    ['nodes_treeids', { kind: 'ints', value: a.treeIds }],
    ['nodes_truenodeids', { kind: 'ints', value: a.trueIds }],
    ['nodes_values', { kind: 'floats', value: a.values }],
  ];
}

function treeNodes(m: GbdtModelBody): OnnxNode[] {
  if (m.task === 'regression') {
    const a = treeAttrs(m, () => 0);
    return [
      {
        opType: 'TreeEnsembleRegressor',
        domain: ML,
        name: 'trees',
        inputs: [ONNX_INPUT],
        outputs: [ONNX_VARIABLE],
        attributes: [
          ['aggregate_function', { kind: 'string', value: 'SUM' }],
          ['base_values', { kind: 'floats', value: m.baseScores }],
          ['n_targets', { kind: 'int', value: 1 }],
          ...treeNodeAttributes(a),
          ['post_transform', { kind: 'string', value: 'NONE' }],
          ['target_ids', { kind: 'ints', value: a.leafOutput }],
          ['target_nodeids', { kind: 'ints', value: a.leafNode }],
          ['target_treeids', { kind: 'ints', value: a.leafTree }],
          ['target_weights', { kind: 'floats', value: a.leafWeight }],
        ],
      },
    ];
  }
  // Binary follows the converters' convention (one score, class id 0, LOGISTIC), which
  // onnxruntime expands to [1 - σ(F), σ(F)].
  const binary = m.task === 'binary';
  const a = treeAttrs(m, (o) => (binary ? 0 : o));
  return [
    {
      opType: 'TreeEnsembleClassifier',
      domain: ML,
      name: 'trees',
      inputs: [ONNX_INPUT],
      outputs: classOutputs(),
      attributes: [
        ['base_values', { kind: 'floats', value: m.baseScores }],
        ['class_ids', { kind: 'ints', value: a.leafOutput }],
        ['class_nodeids', { kind: 'ints', value: a.leafNode }],
        ['class_treeids', { kind: 'ints', value: a.leafTree }],
        ['class_weights', { kind: 'floats', value: a.leafWeight }],
        ['classlabels_int64s', { kind: 'ints', value: classLabels(m) }],
        ...treeNodeAttributes(a),
        ['post_transform', { kind: 'string', value: binary ? 'LOGISTIC' : 'SOFTMAX' }],
      ],
    },
  ];
}
