import { type ServiceError, status } from '@grpc/grpc-js';
import { NonRetryableError } from '@keel/messaging';

/** The registry has no such model, version or alias: asking again will not make it appear. */
export class RegistryNotFoundError extends NonRetryableError {
  constructor(message: string) {
    super(message, 'registry-not-found');
    this.name = 'RegistryNotFoundError';
  }
}

/** The registry refused the request itself (an empty name, a version that is not a positive integer). */
export class RegistryInvalidArgumentError extends NonRetryableError {
  constructor(message: string) {
    super(message, 'registry-invalid-argument');
    this.name = 'RegistryInvalidArgumentError';
  }
}

/** The registry refused a rollout transition in the rollout's current state (pausing a promoted rollout, ...). */
export class RegistryFailedPreconditionError extends NonRetryableError {
  constructor(message: string) {
    super(message, 'registry-failed-precondition');
    this.name = 'RegistryFailedPreconditionError';
  }
}

/** The registry could not answer (down, overloaded, past the deadline, failing inside): worth retrying. */
export class RegistryUnavailableError extends Error {
  readonly retryable = true;
  readonly code = 'registry-unavailable';
  constructor(
    message: string,
    /** The gRPC status the call ended with. */
    readonly grpcStatus: status,
  ) {
    super(message);
    this.name = 'RegistryUnavailableError';
  }
}

/** The one mapping from a failed registry call to a typed error; `call` names the call in the message. */
export function registryError(call: string, error: ServiceError): Error {
  const message = `registry ${call}: ${error.details || error.message}`;
  switch (error.code) {
    case status.NOT_FOUND:
      return new RegistryNotFoundError(message);
    case status.INVALID_ARGUMENT:
      return new RegistryInvalidArgumentError(message);
    case status.FAILED_PRECONDITION:
      return new RegistryFailedPreconditionError(message);
    default:
      return new RegistryUnavailableError(message, error.code);
  }
}
