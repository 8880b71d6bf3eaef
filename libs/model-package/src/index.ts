export { argmaxRows, evaluatePackage, evaluationMetrics, packageClasses, scoreMatrix, targetValues } from './evaluate';
export {
  fetchModelPackage,
  InvalidModelPackageError,
  MAX_MODEL_PACKAGE_BYTES,
  ModelPackageTooLargeError,
  type ModelPackageRef,
} from './fetch-model-package';
export {
  buildReference,
  type EvaluationModel,
  type FeatureReference,
  type FittedOn,
  heldOutView,
  type ModelPackage,
  outputColumnNames,
  outputsForTask,
  PACKAGE_FORMAT,
  PACKAGE_VERSION,
  type PackageLineage,
  parsePackage,
  serializePackage,
  type SignatureInput,
  type SignatureJoin,
  type SignatureOutput,
  signatureFromSpec,
  signatureJoins,
  type TensorDatatype,
} from './model-package';
export { checkPackageStructure, PACKAGE_LIMITS, PackageStructureError } from './package-structure';
