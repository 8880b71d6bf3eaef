/**
 * Every way reading or writing an artifact can fail, as a closed union. `retryable` says whether the same call may
 * succeed later: a missing or altered object will not heal by waiting, an unreachable server may. The messaging lib
 * reads `retryable` and `code` as they are, so a consumer that lets a storage error escape gets the right outcome
 * (retry with backoff, or straight to the dead-letter topic with this code) without mapping it itself.
 */
export type StorageErrorCode =
  'object-not-found' | 'object-integrity' | 'object-too-large' | 'storage-rejected' | 'storage-unavailable';

const RETRYABLE: Readonly<Record<StorageErrorCode, boolean>> = {
  'object-not-found': false,
  'object-integrity': false,
  'object-too-large': false,
  'storage-rejected': false,
  'storage-unavailable': true,
};

export class StorageError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: StorageErrorCode,
    readonly uri: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
    this.retryable = RETRYABLE[code];
  }
}

/** Bytes read back do not hash to the sha256 they were announced with: the object was altered or truncated. */
export class IntegrityError extends StorageError {
  constructor(
    uri: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super('object-integrity', uri, `integrity check failed for ${uri}: expected sha256 ${expected}, got ${actual}`);
    this.name = 'IntegrityError';
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(uri: string) {
    super('object-not-found', uri, `object not found: ${uri}`);
    this.name = 'ObjectNotFoundError';
  }
}

export class ObjectTooLargeError extends StorageError {
  constructor(
    uri: string,
    readonly maxBytes: number,
  ) {
    super('object-too-large', uri, `object ${uri} is larger than the ${maxBytes} bytes this read allows`);
    this.name = 'ObjectTooLargeError';
  }
}

/** S3 error codes that say the request itself is wrong (credentials, bucket, key), so repeating it cannot help. */
const REJECTED_S3_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'InvalidObjectName',
]);
const NOT_FOUND_S3_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket']);

/** The one mapping from a storage client failure to a typed {@link StorageError}. */
export function toStorageError(error: unknown, uri: string): StorageError {
  if (error instanceof StorageError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NOT_FOUND_S3_CODES.has(code)) return new ObjectNotFoundError(uri);
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && REJECTED_S3_CODES.has(code)) {
    return new StorageError('storage-rejected', uri, `storage refused ${uri}: ${code}: ${message}`, { cause: error });
  }
  // Connection refused or reset, timeouts, 5xx: the server may be back on the next attempt.
  return new StorageError('storage-unavailable', uri, `storage unavailable for ${uri}: ${message}`, { cause: error });
}
