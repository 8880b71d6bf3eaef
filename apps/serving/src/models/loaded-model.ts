import { Predictor } from '@keel/ml-models';
import { type ModelPackage, outputsForTask, type SignatureOutput } from '@keel/model-package';

/** A model's predictions for a batch, one array per output name, in row order. */
export type ModelOutputs = Record<string, number[] | string[]>;

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

  private constructor(
    readonly pipelineId: string,
    readonly pkg: ModelPackage,
    readonly source: ModelSource,
  ) {
    this.predictor = new Predictor(pkg.model);
    this.outputs = pkg.signature.outputs?.length ? pkg.signature.outputs : outputsForTask(pkg.task);
    this.inputNames = pkg.signature.inputs.map((input) => input.name);
    // Class order in the model document is the authority (index 1 = positive); the package target names them.
    const classes = pkg.model.classes ?? [];
    this.positive = String(pkg.target.positive ?? classes[1] ?? 'positive');
    this.negative = String(pkg.target.negative ?? classes[0] ?? `not ${this.positive}`);
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
    const outputs = model.predict([model.syntheticRow()]);
    for (const [name, values] of Object.entries(outputs)) {
      const value = values[0];
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw new Error(`smoke prediction of ${pipelineId} v${source.version} gave ${name} = ${value}`);
      }
    }
    return model;
  }

  /** Predicts raw rows (preprocessing is the package's own); one array per output, all outputs. */
  predict(rows: readonly Record<string, string | number | null>[]): ModelOutputs {
    const scores = this.predictor.predictRecords(rows);
    const values = Array.from(scores);
    if (this.pkg.task === 'regression') return { prediction: values };
    return {
      probability: values,
      label: values.map((p) => (p >= 0.5 ? this.positive : this.negative)),
    };
  }

  /** A row every fitted column accepts: 0 for numbers, the first fitted category (or null) for categories. */
  private syntheticRow(): Record<string, string | number | null> {
    const fitted = new Map((this.pkg.model.preprocessing?.columns ?? []).map((column) => [column.name, column]));
    const row: Record<string, string | number | null> = {};
    for (const input of this.pkg.signature.inputs) {
      const column = fitted.get(input.name);
      row[input.name] =
        input.kind === 'numeric' ? 0 : column?.kind === 'categorical' ? (column.categories[0] ?? null) : null;
    }
    return row;
  }
}
