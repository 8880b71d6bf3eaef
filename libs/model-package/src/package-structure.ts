import { type GbdtModelBody, type LinearModelBody, type ModelDocument } from '@keel/ml-models';

/** 32-bit words in a categorical node's bit set (ml-models' gbdt layout: codes 0..255). */
const CAT_WORDS = 8;

/**
 * Bounds of a package serving will load, far above any model Keel trains (the Adult GBDT has ~3,000 nodes) and low
 * enough that a package at the limit loads in bounded time and memory.
 */
export const PACKAGE_LIMITS = {
  nodes: 5_000_000,
  trees: 100_000,
  features: 100_000,
  outputs: 1_000,
  signatureColumns: 10_000,
  categories: 1_000_000,
} as const;

/** A package whose structure is unusable: a tree node with two parents, an index out of range, a NaN threshold... */
export class PackageStructureError extends Error {
  readonly code = 'package-structure';
  constructor(message: string) {
    super(message);
    this.name = 'PackageStructureError';
  }
}

const fail = (message: string): never => {
  throw new PackageStructureError(message);
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(value: unknown, what: string, max: number, min = 0): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    fail(`${what} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  }
  return value as number;
}

/** An array of finite numbers (integers from `min` to `max` when given), of `length` entries when given. */
function numbers(
  value: unknown,
  what: string,
  { length, integer, min, max }: { length?: number; integer?: boolean; min?: number; max?: number } = {},
): number[] {
  if (!Array.isArray(value)) return fail(`${what} must be an array`);
  if (length !== undefined && value.length !== length) fail(`${what} has ${value.length} entries, expected ${length}`);
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${what}[${i}] is not a finite number`);
    const n = v as number;
    if (integer && !Number.isInteger(n)) fail(`${what}[${i}] is not an integer`);
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
      fail(`${what}[${i}] = ${n} is outside ${min ?? '-∞'}..${max ?? '∞'}`);
    }
  }
  return value as number[];
}

function strings(value: unknown, what: string, max: number): string[] {
  if (!Array.isArray(value)) return fail(`${what} must be an array`);
  if (value.length > max) fail(`${what} has ${value.length} entries, at most ${max} allowed`);
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') fail(`${what}[${i}] is not a string`);
  return value as string[];
}

/**
 * Every tree node has exactly one parent except the roots, which have none; children come after their parent (so
 * no cycle), every index is in range, every threshold and leaf value finite. With parents before children, one
 * parent per non-root node makes every node reachable from a root and every tree a tree.
 */
function checkTrees(m: GbdtModelBody): void {
  const nFeatures = count(m.nFeatures, 'model.nFeatures', PACKAGE_LIMITS.features, 1);
  const nOutputs = count(m.nOutputs, 'model.nOutputs', PACKAGE_LIMITS.outputs, 1);
  const feature = numbers(m.feature, 'model.feature', { integer: true, min: -1, max: nFeatures - 1 });
  const n = feature.length;
  if (n > PACKAGE_LIMITS.nodes) fail(`the model has ${n} tree nodes, at most ${PACKAGE_LIMITS.nodes} allowed`);
  numbers(m.threshold, 'model.threshold', { length: n });
  numbers(m.value, 'model.value', { length: n });
  numbers(m.missingLeft, 'model.missingLeft', { length: n, integer: true, min: 0, max: 1 });
  const left = numbers(m.left, 'model.left', { length: n, integer: true, min: -1, max: n - 1 });
  const right = numbers(m.right, 'model.right', { length: n, integer: true, min: -1, max: n - 1 });
  const catBits = numbers(m.catBits, 'model.catBits', { integer: true, min: 0, max: 0xffffffff });
  if (catBits.length > n * CAT_WORDS) fail(`model.catBits has ${catBits.length} words for ${n} nodes`);
  const catOffset = numbers(m.catOffset, 'model.catOffset', {
    length: n,
    integer: true,
    min: -1,
    max: Math.max(-1, catBits.length - CAT_WORDS),
  });
  numbers(m.baseScores, 'model.baseScores', { length: nOutputs });
  const roots = numbers(m.treeRoots, 'model.treeRoots', { integer: true, min: 0, max: n - 1 });
  if (roots.length > PACKAGE_LIMITS.trees) fail(`the model has ${roots.length} trees, at most ${PACKAGE_LIMITS.trees}`);
  numbers(m.treeOutputs, 'model.treeOutputs', { length: roots.length, integer: true, min: 0, max: nOutputs - 1 });
  const parents = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (feature[i] === -1) continue;
    if (catOffset[i] >= 0 && catOffset[i] + CAT_WORDS > catBits.length) fail(`node ${i}'s category set is cut off`);
    for (const child of [left[i], right[i]]) {
      if (child <= i) fail(`node ${i} has child ${child}, which is not after it`);
      if (++parents[child] > 1) fail(`node ${child} has two parents`);
    }
  }
  for (const root of roots) if (parents[root]++ !== 0) fail(`tree root ${root} has a parent or is a root twice`);
  const orphan = parents.indexOf(0);
  if (orphan >= 0) fail(`node ${orphan} is reachable from no tree root`);
}

function checkLinear(m: LinearModelBody): void {
  const nFeatures = count(m.nFeatures, 'model.nFeatures', PACKAGE_LIMITS.features, 1);
  const nOutputs = count(m.nOutputs, 'model.nOutputs', PACKAGE_LIMITS.outputs, 1);
  numbers(m.weights, 'model.weights', { length: nFeatures * nOutputs });
  numbers(m.intercepts, 'model.intercepts', { length: nOutputs });
}

function checkPreprocessing(doc: ModelDocument): void {
  const pre: unknown = doc.preprocessing;
  if (pre === null || pre === undefined) return;
  if (!isPlainObject(pre) || !Array.isArray(pre.columns)) return fail('preprocessing must be an object with columns');
  strings(pre.features, 'preprocessing.features', PACKAGE_LIMITS.features);
  numbers(pre.categoricalFeatures, 'preprocessing.categoricalFeatures', {
    integer: true,
    min: 0,
    max: (pre.features as string[]).length - 1,
  });
  for (const [i, column] of (pre.columns as unknown[]).entries()) {
    if (!isPlainObject(column) || typeof column.name !== 'string') fail(`preprocessing.columns[${i}] has no name`);
    const c = column as Record<string, unknown>;
    if (c.kind === 'numeric') {
      numbers([c.center, c.scale, ...(c.fill === null ? [] : [c.fill])], `preprocessing.columns[${i}] statistics`);
    } else if (c.kind === 'categorical') {
      strings(c.categories, `preprocessing.columns[${i}].categories`, PACKAGE_LIMITS.categories);
    } else {
      fail(`preprocessing.columns[${i}].kind must be numeric or categorical`);
    }
  }
}

/**
 * Structural checks of a parsed package before serving uses it, on top of ml-models' shape checks: every field of
 * the expected kind, the signature's columns named and typed, tree shape (one parent per node, reachable nodes, index
 * ranges, finite thresholds and leaf values) and size caps ({@link PACKAGE_LIMITS}). Linear in the package's size.
 */
export function checkPackageStructure(raw: unknown): void {
  if (!isPlainObject(raw)) fail('the package is not a JSON object');
  const pkg = raw as Record<string, unknown>;
  for (const field of ['pipelineId', 'modelName', 'task'] as const) {
    if (typeof pkg[field] !== 'string') fail(`"${field}" must be a string`);
  }
  for (const field of ['signature', 'model', 'lineage', 'reference'] as const) {
    if (!isPlainObject(pkg[field])) fail(`"${field}" must be an object`);
  }
  if (pkg.metrics !== undefined) {
    if (!isPlainObject(pkg.metrics)) fail('"metrics" must be an object');
    for (const [name, value] of Object.entries(pkg.metrics as object)) {
      if (value !== null && typeof value !== 'number') fail(`metrics.${name} is not a number`);
    }
  }
  const signature = pkg.signature as Record<string, unknown>;
  for (const side of ['inputs', 'outputs'] as const) {
    const columns = signature[side];
    if (!Array.isArray(columns)) return fail(`signature.${side} must be an array`);
    if (columns.length > PACKAGE_LIMITS.signatureColumns) fail(`signature.${side} has too many columns`);
    for (const [i, column] of columns.entries()) {
      if (!isPlainObject(column) || typeof column.name !== 'string' || column.name === '') {
        fail(`signature.${side}[${i}] has no name`);
      }
      if (!['FP64', 'FP32', 'INT64', 'BYTES'].includes((column as { datatype: string }).datatype)) {
        fail(`signature.${side}[${i}] has an unknown datatype`);
      }
      const shape = (column as { shape?: unknown }).shape;
      if (
        shape !== undefined &&
        !(
          Array.isArray(shape) &&
          shape.length === 1 &&
          Number.isInteger(shape[0]) &&
          (shape[0] as number) >= 1 &&
          (shape[0] as number) <= PACKAGE_LIMITS.outputs
        )
      ) {
        fail(`signature.${side}[${i}].shape must be [k] with 1 ≤ k ≤ ${PACKAGE_LIMITS.outputs}`);
      }
    }
  }
  if (signature.joins !== undefined) checkJoins(signature);
  checkModelDocument(pkg.model as Record<string, unknown>);
  if (pkg.task === 'multiclass-classification') checkMulticlass(pkg, pkg.model as Record<string, unknown>);
  if (pkg.evaluation !== undefined) {
    const evaluation = pkg.evaluation;
    if (!isPlainObject(evaluation) || !isPlainObject(evaluation.model)) fail('"evaluation.model" must be an object');
    try {
      checkModelDocument((evaluation as Record<string, Record<string, unknown>>).model);
      if (pkg.task === 'multiclass-classification') {
        checkMulticlass(pkg, (evaluation as Record<string, Record<string, unknown>>).model);
      }
    } catch (error) {
      if (error instanceof PackageStructureError) fail(`evaluation.${error.message}`);
      throw error;
    }
  }
}

/** A model document's body, features, classes and preprocessing (messages name it `model.`). */
function checkModelDocument(doc: Record<string, unknown>): void {
  if (!isPlainObject(doc.model)) fail('model.model must be an object');
  strings(doc.features, 'model.features', PACKAGE_LIMITS.features);
  if (doc.classes !== null && doc.classes !== undefined) strings(doc.classes, 'model.classes', PACKAGE_LIMITS.outputs);
  const body = doc.model as { kind?: unknown };
  if (body.kind === 'gbdt') checkTrees(body as GbdtModelBody);
  else if (body.kind === 'linear') checkLinear(body as LinearModelBody);
  else fail('model.model.kind must be "linear" or "gbdt"');
  checkPreprocessing(doc as unknown as ModelDocument);
}

/**
 * A multiclass package names one class per model output, and its probability output has one column per class:
 * serving shapes its answers by them, so a package that disagrees with itself fails here, at load.
 */
function checkMulticlass(pkg: Record<string, unknown>, doc: Record<string, unknown>): void {
  const body = doc.model as { task?: unknown; nOutputs?: unknown };
  const classes = doc.classes as string[] | null | undefined;
  if (body.task !== 'multiclass' || !Array.isArray(classes) || classes.length !== body.nOutputs) {
    return fail('a multiclass package needs a multiclass model with one class name per output');
  }
  const target = pkg.target as { classes?: unknown } | undefined;
  if (target?.classes !== undefined && JSON.stringify(target.classes) !== JSON.stringify(classes)) {
    fail('target.classes differ from model.classes');
  }
  for (const output of (pkg.signature as { outputs: { shape?: number[] }[] }).outputs) {
    if (output.shape && output.shape[0] !== classes.length) {
      fail(`signature output shape [${output.shape.join(', ')}] does not match ${classes.length} classes`);
    }
  }
}

/** Point-in-time joins name a table, an entity key input and features that are nullable inputs of the signature. */
function checkJoins(signature: Record<string, unknown>): void {
  const joins = signature.joins;
  if (!Array.isArray(joins) || joins.length > PACKAGE_LIMITS.signatureColumns) fail('signature.joins must be an array');
  const inputs = new Map((signature.inputs as { name: string; nullable?: unknown }[]).map((c) => [c.name, c]));
  for (const [i, join] of (joins as unknown[]).entries()) {
    if (!isPlainObject(join) || typeof join.pipeline !== 'string' || typeof join.entityKey !== 'string') {
      fail(`signature.joins[${i}] needs a pipeline and an entityKey`);
    }
    const { features, maxAgeMs, joinSha256 } = join as { features?: unknown; maxAgeMs?: unknown; joinSha256?: unknown };
    if (maxAgeMs !== undefined && !(typeof maxAgeMs === 'number' && maxAgeMs > 0)) {
      fail(`signature.joins[${i}].maxAgeMs must be a positive number`);
    }
    if (joinSha256 !== undefined && !(typeof joinSha256 === 'string' && /^[0-9a-f]{64}$/.test(joinSha256))) {
      fail(`signature.joins[${i}].joinSha256 must be a sha256 in hex`);
    }
    if (!Array.isArray(features) || features.length === 0) fail(`signature.joins[${i}].features must be a list`);
    for (const name of features as unknown[]) {
      if (typeof name !== 'string' || inputs.get(name)?.nullable !== true) {
        fail(`signature.joins[${i}] joins ${JSON.stringify(name)}, which is not a nullable input`);
      }
    }
  }
}
