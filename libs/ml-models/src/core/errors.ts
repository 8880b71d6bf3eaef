/** Machine-readable reasons for rejecting training data. */
export type InvalidTrainingDataCode =
  | 'empty_data'
  | 'length_mismatch'
  | 'non_finite_label'
  | 'invalid_label'
  | 'single_class'
  | 'non_finite_feature'
  | 'invalid_category_code'
  | 'too_many_categories'
  | 'missing_column';

/** Base class of every error thrown by `@keel/ml-models`; `code` is stable and safe to branch on. */
export class KeelModelError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The training data cannot produce a meaningful model (e.g. NaN labels, one class, empty data). */
export class InvalidTrainingDataError extends KeelModelError {
  constructor(code: InvalidTrainingDataCode, message: string) {
    super(code, message);
  }
  declare readonly code: InvalidTrainingDataCode;
}

/** A hyperparameter is outside its valid range. */
export class InvalidParameterError extends KeelModelError {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super('invalid_parameter', `${parameter}: ${message}`);
  }
}

/** A categorical value unseen at fit time arrived while the column's policy is `'error'`. */
export class UnknownCategoryError extends KeelModelError {
  constructor(
    readonly column: string,
    readonly value: string,
  ) {
    super('unknown_category', `column "${column}": unknown category ${JSON.stringify(value)} (policy is 'error')`);
  }
}

/** A model document is malformed, of another format, or of an unsupported version. */
export class InvalidModelError extends KeelModelError {
  constructor(message: string) {
    super('invalid_model', message);
  }
}

/** Inference input has the wrong shape. */
export class InvalidInputError extends KeelModelError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}
