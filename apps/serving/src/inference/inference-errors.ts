import { status } from '@grpc/grpc-js';
import { InvalidInputError, UnknownCategoryError } from '@keel/ml-models';
import { OnlineViewOverLimitError, OnlineViewUnavailableError } from '../online/online-views';
import { InvalidInferInputError } from './tensor-codec';

/**
 * The version's own preprocessing refused an input its signature accepts (a category its training data never had,
 * under an `unknown: error` policy). INVALID_ARGUMENT to the caller, who can fix the row; but in a rollout it is the
 * version's failure, since the other version may well take the same row.
 */
export class ModelRefusedInputError extends InvalidInferInputError {
  constructor(message: string, input?: string) {
    super(message, input);
    this.name = 'ModelRefusedInputError';
  }
}

/** The named model (or the named version of it) is not loaded here. */
export class ModelNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelNotFoundError';
  }
}

/**
 * The named model (or version) is about to be served here but is not loaded yet: serving is starting, or the registry
 * moved an alias to a version still loading. UNAVAILABLE (HTTP 503): a retry will find it, where NOT_FOUND would tell
 * the client the model does not exist.
 */
export class ModelLoadingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadingError';
  }
}

/** Serving is at its in-flight limit: the caller should retry with backoff (RESOURCE_EXHAUSTED, HTTP 429). */
export class ServerBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerBusyError';
  }
}

/**
 * gRPC status of a failure: the caller's mistakes are INVALID_ARGUMENT / NOT_FOUND, overload RESOURCE_EXHAUSTED, a
 * model still loading or a joined feature table's online view not loaded UNAVAILABLE (RESOURCE_EXHAUSTED when the view
 * is over a memory limit), anything else INTERNAL.
 */
export function grpcStatusOf(error: unknown): status {
  if (error instanceof InvalidInferInputError || error instanceof UnknownCategoryError) return status.INVALID_ARGUMENT;
  if (error instanceof InvalidInputError) return status.INVALID_ARGUMENT;
  if (error instanceof ModelNotFoundError) return status.NOT_FOUND;
  if (error instanceof ServerBusyError) return status.RESOURCE_EXHAUSTED;
  if (error instanceof ModelLoadingError) return status.UNAVAILABLE;
  if (error instanceof OnlineViewOverLimitError) return status.RESOURCE_EXHAUSTED;
  if (error instanceof OnlineViewUnavailableError) return status.UNAVAILABLE;
  return status.INTERNAL;
}

/** Status names as Prometheus label values (OK, INVALID_ARGUMENT, ...). */
export function statusName(code: status): string {
  return status[code] ?? String(code);
}
