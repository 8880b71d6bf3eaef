import { type ObjectStore } from '@keel/storage';
import { type ModelPackage, parsePackage } from './model-package';

/** Where a model version's package lives and what its bytes hash to, as the registry records it. */
export interface ModelPackageRef {
  packageUri: string;
  packageSha256: string;
  /** When given, the package must belong to this pipeline. */
  pipelineId?: string;
}

/**
 * Packages hold a model and its training distribution summaries. Serving, monitoring and the registry parse and
 * validate a package on their event loop (about 9 ms of CPU per MiB), so the bound keeps one load within the 100 ms
 * any one input may hold a loop (docs/security/fuzz.md). A GBDT at the training defaults (500 rounds of 31 leaves,
 * 37 bytes a node) is about 1.1 MiB; training refuses to write a larger package than this, naming the limit.
 */
export const MAX_MODEL_PACKAGE_BYTES = 4 * 1024 * 1024;

/** A package over {@link MAX_MODEL_PACKAGE_BYTES}: no service would load it. */
export class ModelPackageTooLargeError extends Error {
  readonly code = 'package-too-large';
  readonly retryable = false;
  constructor(readonly bytes: number) {
    super(
      `the model package is ${bytes.toLocaleString('en-US')} bytes, over the ${MAX_MODEL_PACKAGE_BYTES.toLocaleString('en-US')} ` +
        'bytes a service loads (MAX_MODEL_PACKAGE_BYTES): train fewer rounds or leaves',
    );
    this.name = 'ModelPackageTooLargeError';
  }
}

/** The bytes are intact but are not a usable package for this ref; reading them again gives the same answer. */
export class InvalidModelPackageError extends Error {
  readonly code = 'package-invalid';
  readonly retryable = false;
  constructor(
    readonly packageUri: string,
    reason: string,
  ) {
    super(`model package ${packageUri} is unusable: ${reason}`);
    this.name = 'InvalidModelPackageError';
  }
}

/**
 * Reads a model package with the one verified read (sha256 and size checked while streaming) and parses it. Fails
 * with the storage lib's typed errors for missing or altered bytes and with {@link InvalidModelPackageError} for bytes
 * that are not a package of the expected pipeline; both carry `retryable`.
 */
export async function fetchModelPackage(
  objects: Pick<ObjectStore, 'getVerified'>,
  ref: ModelPackageRef,
): Promise<{ pkg: ModelPackage; bytes: Buffer }> {
  const bytes = await objects.getVerified({
    uri: ref.packageUri,
    sha256: ref.packageSha256,
    maxBytes: MAX_MODEL_PACKAGE_BYTES,
  });
  let pkg: ModelPackage;
  try {
    pkg = parsePackage(bytes);
  } catch (error) {
    throw new InvalidModelPackageError(ref.packageUri, (error as Error).message);
  }
  if (ref.pipelineId !== undefined && pkg.pipelineId !== ref.pipelineId) {
    throw new InvalidModelPackageError(
      ref.packageUri,
      `it belongs to pipeline "${pkg.pipelineId}", not "${ref.pipelineId}"`,
    );
  }
  return { pkg, bytes };
}
