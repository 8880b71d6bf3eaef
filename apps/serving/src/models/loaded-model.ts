import { Predictor } from '@keel/ml-models';
import {
  type ModelPackage,
  outputColumnNames,
  outputsForTask,
  packageClasses,
  type SignatureOutput,
} from '@keel/model-package';
import { type InputColumn, type InputColumns } from '../inference/tensor-codec';

/**
 * A model's predictions for a batch, one column per output name, in row order: numbers as float64, labels as text.
 * A [rows, k] output (multiclass `probability`) is held as its k columns (`outputColumnNames`), so every column has
 * one value per row: batches slice and prediction logs log them like any other; the codec interleaves them.
 */
export type ModelOutputs = Record<string, Float64Array | readonly string[]>;

/** Where a loaded version came from, as the registry described it. */
export interface ModelSource {
  version: number;
  packageUri: string;
  packageSha256: string;
}

/**
 * One model version ready to serve: the parsed package and its compiled predictor. Immutable once built, so a
 * request that picked it up keeps a consistent model even if a newer version is swapped in meanwhile.
 */
export class LoadedModel {
  readonly predictor: Predictor;
  readonly outputs: readonly SignatureOutput[];
  /** The signature's input names, in order: the columns of the version's prediction log. */
  readonly inputNames: readonly string[];
  readonly loadedAt = new Date();
  private readonly positive: string;
  private readonly negative: string;
  /** Multiclass: the class labels in output order, and the columns their probabilities are held in. */
  private readonly classes: readonly string[];
  private readonly probabilityColumns: readonly string[];

  private constructor(
    readonly pipelineId: string,
    readonly pkg: ModelPackage,
    readonly source: ModelSource,
  ) {
    this.predictor = new Predictor(pkg.model);
    this.outputs = pkg.signature.outputs?.length
      ? pkg.signature.outputs
      : outputsForTask(pkg.task, packageClasses(pkg));
    this.inputNames = pkg.signature.inputs.map((input) => input.name);
    // Class order in the model document is the authority (index 1 = positive); the package target names them.
    const classes = pkg.model.classes ?? [];
    this.positive = String(pkg.target.positive ?? classes[1] ?? 'positive');
    this.negative = String(pkg.target.negative ?? classes[0] ?? `not ${this.positive}`);
    this.classes = pkg.task === 'multiclass-classification' ? packageClasses(pkg) : [];
    const probability = this.outputs.find((output) => output.name === 'probability');
    this.probabilityColumns = probability ? outputColumnNames(probability) : [];
  }

  get version(): number {
    return this.source.version;
  }

  /**
   * Builds the predictor and runs one smoke prediction on a synthetic row, so a package that parses but cannot
   * predict (wrong feature count, broken preprocessing) fails here, at load, and never replaces a working model.
   */
  static build(pipelineId: string, pkg: ModelPackage, source: ModelSource): LoadedModel {
    const model = new LoadedModel(pipelineId, pkg, source);
    const outputs = model.predict(model.syntheticRow());
    for (const [name, values] of Object.entries(outputs)) {
      const value = values[0];
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw new Error(`smoke prediction of ${pipelineId} v${source.version} gave ${name} = ${value}`);
      }
    }
    return model;
  }

  /**
   * Predicts decoded input columns (preprocessing is the package's own, column by column); one column per output,
   * all outputs. The label column repeats two shared strings, so a batch allocates no per-row objects.
   */
  predict(inputs: InputColumns): ModelOutputs {
    const probability = this.predictor.predictTable(inputs.columns);
    if (this.pkg.task === 'regression') return { prediction: probability };
    if (this.classes.length > 0) return this.multiclass(probability, inputs.rows);
    const label = new Array<string>(probability.length);
    for (let i = 0; i < probability.length; i++) label[i] = probability[i] >= 0.5 ? this.positive : this.negative;
    return { probability, label };
  }

  /** Row-major rows × k class probabilities → k probability columns and the most probable class's label. */
  private multiclass(probabilities: Float64Array, rows: number): ModelOutputs {
    const k = this.classes.length;
    const columns = this.probabilityColumns.map(() => new Float64Array(rows));
    const label = new Array<string>(rows);
    for (let i = 0; i < rows; i++) {
      let best = 0;
      for (let j = 0; j < k; j++) {
        const p = probabilities[i * k + j];
        columns[j][i] = p;
        if (p > probabilities[i * k + best]) best = j;
      }
      label[i] = this.classes[best];
    }
    const outputs: ModelOutputs = { label };
    this.probabilityColumns.forEach((name, j) => (outputs[name] = columns[j]));
    return outputs;
  }

  /** A row every fitted column accepts: 0 for numbers, the first fitted category (or null) for categories. */
  private syntheticRow(): InputColumns {
    const fitted = new Map((this.pkg.model.preprocessing?.columns ?? []).map((column) => [column.name, column]));
    const columns: Record<string, InputColumn> = {};
    for (const input of this.pkg.signature.inputs) {
      const column = fitted.get(input.name);
      columns[input.name] =
        input.kind === 'numeric'
          ? Float64Array.of(0)
          : [column?.kind === 'categorical' ? (column.categories[0] ?? null) : null];
    }
    return { rows: 1, columns };
  }
}
