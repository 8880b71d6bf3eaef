import { InvalidModelError } from '../core/errors';
import { CAT_WORDS, type GbdtModelBody } from '../gbdt/gbdt-model';
import { type LinearModelBody } from '../linear/linear-model';
import { type FittedTransform } from '../preprocess/transform';

/** Identifies our model documents. */
export const MODEL_FORMAT = 'keel.model';
/** Current document version; readers reject other versions rather than guess. */
export const MODEL_VERSION = 1;

/** Any fitted model body. */
export type ModelBody = LinearModelBody | GbdtModelBody;

/**
 * Self-contained, versioned model: the fitted preprocessing, the model, class labels and the
 * training parameters. It holds no timestamps, so the same data and seed give identical bytes.
 */
export interface ModelDocument {
  format: typeof MODEL_FORMAT;
  version: typeof MODEL_VERSION;
  /** Class labels in output order (index 1 is the positive class for binary models). */
  classes: string[] | null;
  /** Input feature names after preprocessing. */
  features: string[];
  preprocessing: FittedTransform | null;
  model: ModelBody;
  /** Training parameters and summary, for provenance only. */
  training: Record<string, unknown>;
}

/** Wrap a fitted body into a document. */
export function createModelDocument(args: {
  model: ModelBody;
  preprocessing?: FittedTransform | null;
  features?: string[];
  classes?: string[] | null;
  training?: Record<string, unknown>;
}): ModelDocument {
  const features =
    args.features ?? args.preprocessing?.features ?? Array.from({ length: args.model.nFeatures }, (_, i) => `f${i}`);
  if (features.length !== args.model.nFeatures) {
    throw new InvalidModelError(`${features.length} feature names for a model of ${args.model.nFeatures} features`);
  }
  return {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    classes: args.classes ?? null,
    features,
    preprocessing: args.preprocessing ?? null,
    model: args.model,
    training: args.training ?? {},
  };
}

/** JSON with keys sorted at every level, so equal documents always serialise to equal bytes. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  if (value && typeof value === 'object') {
    // No prototype: a key "__proto__" (an entity of an online view) is kept, not taken as the prototype.
    const out = Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new InvalidModelError(`cannot serialise non-finite number ${value}`);
  }
  return value;
}

/** Serialise a document to canonical JSON. */
export function serializeModel(doc: ModelDocument): string {
  return stableStringify(doc);
}

/** Parse and check a serialised document (format, version and array shapes). */
export function parseModel(json: string): ModelDocument {
  let doc: ModelDocument;
  try {
    doc = JSON.parse(json) as ModelDocument;
  } catch (e) {
    throw new InvalidModelError(`not JSON: ${(e as Error).message}`);
  }
  validateModel(doc);
  return doc;
}

/** Structural validation, so a corrupt document fails loudly instead of predicting garbage. */
export function validateModel(doc: ModelDocument): void {
  if (!doc || typeof doc !== 'object') throw new InvalidModelError('document is not an object');
  if (doc.format !== MODEL_FORMAT)
    throw new InvalidModelError(`format is ${JSON.stringify(doc.format)}, expected "${MODEL_FORMAT}"`);
  if (doc.version !== MODEL_VERSION) throw new InvalidModelError(`unsupported version ${JSON.stringify(doc.version)}`);
  const m = doc.model;
  if (!m || (m.kind !== 'linear' && m.kind !== 'gbdt'))
    throw new InvalidModelError('model.kind must be "linear" or "gbdt"');
  if (!Array.isArray(doc.features) || doc.features.length !== m.nFeatures)
    throw new InvalidModelError('features do not match model.nFeatures');
  if (m.kind === 'linear') {
    if (m.weights.length !== m.nOutputs * m.nFeatures || m.intercepts.length !== m.nOutputs) {
      throw new InvalidModelError('linear weights have the wrong shape');
    }
  } else {
    const n = m.feature.length;
    for (const key of ['threshold', 'missingLeft', 'left', 'right', 'value', 'catOffset'] as const) {
      if (m[key].length !== n) throw new InvalidModelError(`model.${key} has ${m[key].length} entries, expected ${n}`);
    }
    if (m.treeRoots.length !== m.treeOutputs.length || m.baseScores.length !== m.nOutputs) {
      throw new InvalidModelError('tree roots, outputs or base scores have the wrong shape');
    }
    for (let t = 0; t < m.treeRoots.length; t++) {
      if (!(m.treeRoots[t] >= 0 && m.treeRoots[t] < n) || !(m.treeOutputs[t] >= 0 && m.treeOutputs[t] < m.nOutputs)) {
        throw new InvalidModelError(`tree ${t} has an invalid root or output`);
      }
    }
    for (let i = 0; i < n; i++) {
      if (m.catOffset[i] >= 0 && m.catOffset[i] + CAT_WORDS > m.catBits.length) {
        throw new InvalidModelError(`node ${i} points past the category bit sets`);
      }
      if (
        m.feature[i] >= m.nFeatures ||
        (m.feature[i] >= 0 && (m.left[i] <= i || m.right[i] <= i || m.left[i] >= n || m.right[i] >= n))
      ) {
        throw new InvalidModelError(`node ${i} is malformed`);
      }
    }
  }
}
