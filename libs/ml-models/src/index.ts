export {
  InvalidInputError,
  InvalidModelError,
  InvalidParameterError,
  InvalidTrainingDataError,
  KeelModelError,
  UnknownCategoryError,
  type InvalidTrainingDataCode,
} from './core/errors';
export { matrixFromRows, type Labels, type Matrix } from './core/matrix';
export { Rng } from './core/random';
export {
  describeTransform,
  fitTransform,
  TransformRunner,
  type ColumnSpec,
  type FittedCategoricalColumn,
  type FittedColumn,
  type FittedNumericColumn,
  type FittedTransform,
  type RawRecord,
  type RawTable,
  type ColumnTable,
  type RawValue,
  type UnknownCategoryPolicy,
} from './preprocess/transform';
export { type LinearModelBody, type Task } from './linear/linear-model';
export { trainLogisticRegression, type LogisticRegressionOptions } from './linear/logistic';
export { trainLinearRegression, type LinearRegressionOptions } from './linear/ridge';
export { type GbdtModelBody } from './gbdt/gbdt-model';
export { trainGbdt, type GbdtOptions, type GbdtTrainingInfo } from './gbdt/train';
export {
  createModelDocument,
  MODEL_FORMAT,
  MODEL_VERSION,
  parseModel,
  serializeModel,
  stableStringify,
  validateModel,
  type ModelBody,
  type ModelDocument,
} from './model/document';
export { Predictor } from './model/predictor';
export { exportOnnx, ONNX_INPUT, ONNX_LABEL, ONNX_PROBABILITIES, ONNX_VARIABLE } from './onnx/export';
export { OnnxModel, type OnnxOutput } from './onnx/onnx-model';
export {
  hyperband,
  randomSearch,
  successiveHalving,
  type BudgetedObjective,
  type HalvingOptions,
  type Objective,
  type SearchOptions,
  type SearchResult,
  type Trial,
} from './search/search';
export { sampleParams, type Distribution, type Params, type SearchSpace } from './search/space';
