import { type PipelineSpecV1 } from '@keel/contracts';
import {
  type DatasetTable,
  SPLIT_COLUMN,
  type SplitName,
  SPLITS,
  transformInputs,
  WEIGHT_COLUMN,
} from '@keel/datasets';
import { NonRetryableError } from '@keel/messaging';
import {
  describeTransform,
  type FittedColumn,
  type FittedTransform,
  type Matrix,
  type RawTable,
  type RawValue,
  TransformRunner,
} from '@keel/ml-models';

/** The feature set cannot be trained on (missing column, unusable labels): retrying will not help. */
export class TrainingInputError extends NonRetryableError {
  constructor(message: string) {
    super(message, 'bad-feature-set');
    this.name = 'TrainingInputError';
  }
}

/** One split: raw feature columns (as serving receives them) and numeric labels. */
export interface SplitData {
  raw: RawTable;
  y: Float64Array;
  rows: number;
  /** Recency weights of the rows, when the feature set carries them. */
  weights?: Float64Array;
}

/** A feature set read for training. */
export interface TrainingData {
  task: PipelineSpecV1['task'];
  splits: Record<SplitName, SplitData>;
  /**
   * Binary classification: [negative label, positive label], label 1 is the positive one. Multiclass: the spec's
   * declared classes, label i is classes[i].
   */
  classes?: readonly (string | number)[];
}

/**
 * Splits the feature set by its `split` column and turns the target into numbers: 1/0 for the positive/negative
 * label of a binary task (the negative is the other label seen in the data), the index of the label in the spec's
 * declared classes for multiclass (a label outside them rejects the feature set, naming it), the value itself for
 * regression.
 */
export function prepareTrainingData(table: DatasetTable, spec: PipelineSpecV1): TrainingData {
  const byName = new Map(table.columns.map((c) => [c.name, c]));
  const needed = [...spec.features.map((f) => f.name), spec.target.column, SPLIT_COLUMN];
  const missing = needed.filter((name) => !byName.has(name));
  if (missing.length > 0) throw new TrainingInputError(`feature set lacks column(s) ${missing.join(', ')}`);
  const target = byName.get(spec.target.column)!.values;
  const splitOf = byName.get(SPLIT_COLUMN)!.values;

  let classes: TrainingData['classes'];
  let label: (v: number | string | boolean | null, row: number) => number;
  if (spec.task === 'binary-classification') {
    const positive = spec.target.positive!;
    const others = new Map<string, string | number>();
    for (const v of target)
      if (v !== null && String(v) !== String(positive)) others.set(String(v), v as string | number);
    if (others.size !== 1) {
      throw new TrainingInputError(
        `binary target "${spec.target.column}" needs exactly one label besides "${positive}", found ${others.size}` +
          (others.size ? ` (${[...others.keys()].slice(0, 5).join(', ')})` : ''),
      );
    }
    classes = [[...others.values()][0], positive];
    label = (v) => (String(v) === String(positive) ? 1 : 0);
  } else if (spec.task === 'multiclass-classification') {
    const declared = spec.target.classes!;
    const index = new Map(declared.map((name, i) => [name, i]));
    const unknown = new Set<string>();
    for (const v of target) if (v !== null && !index.has(String(v))) unknown.add(String(v));
    if (unknown.size > 0) {
      throw new TrainingInputError(
        `target "${spec.target.column}" has ${unknown.size} label(s) outside the declared classes ` +
          `(${[...unknown].slice(0, 5).join(', ')}${unknown.size > 5 ? ', …' : ''}); declare them in target.classes`,
      );
    }
    classes = declared;
    label = (v) => index.get(String(v))!;
  } else {
    label = (v, row) => {
      const n = typeof v === 'number' ? v : Number(v);
      if (v === null || !Number.isFinite(n)) throw new TrainingInputError(`target at row ${row} is ${String(v)}`);
      return n;
    };
  }

  const indices: Record<SplitName, number[]> = { train: [], validation: [], holdout: [] };
  for (let i = 0; i < table.rowCount; i++) {
    const split = splitOf[i] as SplitName;
    if (!indices[split]) throw new TrainingInputError(`row ${i} has unknown split ${String(splitOf[i])}`);
    if (target[i] !== null) indices[split].push(i);
  }
  if (indices.train.length === 0 || indices.holdout.length === 0) {
    throw new TrainingInputError(
      `need train and holdout rows, got ${indices.train.length} and ${indices.holdout.length}`,
    );
  }
  if (spec.task === 'multiclass-classification') {
    const seen = new Set(indices.train.map((i) => String(target[i])));
    if (seen.size < 2) {
      throw new TrainingInputError(
        `multiclass target "${spec.target.column}" has ${seen.size} class in the train split; a model needs at least 2`,
      );
    }
  }
  const splits = {} as Record<SplitName, SplitData>;
  const weights = byName.get(WEIGHT_COLUMN)?.values;
  for (const split of SPLITS) {
    const rows = indices[split];
    const raw: Record<string, RawValue[]> = {};
    for (const feature of spec.features) {
      const values = byName.get(feature.name)!.values;
      raw[feature.name] = transformInputs(rows.map((i) => values[i]));
    }
    splits[split] = {
      raw,
      y: Float64Array.from(rows, (i) => label(target[i], i)),
      rows: rows.length,
      ...(weights ? { weights: Float64Array.from(rows, (i) => Number(weights[i])) } : {}),
    };
  }
  return { task: spec.task, splits, classes };
}

/**
 * The transform a linear model uses: the fitted one with categories one-hot encoded (a linear model cannot use
 * integer codes) and missing numerics filled, since linear trainers need finite inputs. Derived from the fitted
 * transform only, so it is as reproducible as the transform itself and travels with the model in the same way.
 */
export function linearVariant(fitted: FittedTransform): FittedTransform {
  const columns = fitted.columns.map((c): FittedColumn =>
    c.kind === 'categorical' ? { ...c, encoding: 'onehot' } : { ...c, fill: c.fill ?? c.center },
  );
  return describeTransform(columns);
}

/** A transform and the splits it produced. */
export interface Featurized {
  transform: FittedTransform;
  matrices: Record<SplitName, Matrix>;
}

/** Applies a fitted transform to every split with the same runner serving uses. */
export function featurize(data: TrainingData, transform: FittedTransform): Featurized {
  const runner = new TransformRunner(transform);
  const matrices = {} as Record<SplitName, Matrix>;
  for (const split of SPLITS) {
    matrices[split] =
      data.splits[split].rows === 0
        ? { data: new Float64Array(0), nRows: 0, nCols: runner.nFeatures }
        : runner.table(data.splits[split].raw);
  }
  return { transform, matrices };
}
