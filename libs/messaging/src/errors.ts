/**
 * Failures a handler can raise, explicit about retrying. Anything else thrown by a handler is classified by
 * `classifyFailure` (driver signs first, unknown errors as transient).
 */
export class NonRetryableError extends Error {
  readonly retryable = false;
  constructor(
    message: string,
    readonly code = 'non-retryable',
  ) {
    super(message);
    this.name = 'NonRetryableError';
  }
}

/** The event's data does not satisfy its contract's schema. */
export class SchemaValidationError extends NonRetryableError {
  constructor(
    readonly topic: string,
    readonly issues: readonly string[],
  ) {
    super(`event data does not match ${topic}: ${issues.join('; ')}`, 'schema-validation');
    this.name = 'SchemaValidationError';
  }
}

/** Whether a failure may succeed when tried again, and what in the error said so (for logs and dead letters). */
export interface FailureClass {
  retryable: boolean;
  reason: string;
}

/** MongoDB driver errors that mean the server was unreachable or busy, not that the operation was wrong. */
const MONGO_TRANSIENT_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
  'MongoWaitQueueTimeoutError',
  'MongoServerClosedError',
]);
const MONGO_TRANSIENT_LABELS = [
  'RetryableWriteError',
  'TransientTransactionError',
  'ResetPool',
  'SystemOverloadedError',
];
/** Server error codes of a node that is shutting down, stepping down or timing out. */
const MONGO_TRANSIENT_CODES = new Set([6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** gRPC status codes: the call may succeed later (UNAVAILABLE, DEADLINE_EXCEEDED, ...) or never will. */
const GRPC_RETRYABLE = new Map<number, string>([
  [1, 'CANCELLED'],
  [2, 'UNKNOWN'],
  [4, 'DEADLINE_EXCEEDED'],
  [8, 'RESOURCE_EXHAUSTED'],
  [10, 'ABORTED'],
  [13, 'INTERNAL'],
  [14, 'UNAVAILABLE'],
]);
const GRPC_PERMANENT = new Map<number, string>([
  [3, 'INVALID_ARGUMENT'],
  [5, 'NOT_FOUND'],
  [6, 'ALREADY_EXISTS'],
  [7, 'PERMISSION_DENIED'],
  [9, 'FAILED_PRECONDITION'],
  [11, 'OUT_OF_RANGE'],
  [12, 'UNIMPLEMENTED'],
  [16, 'UNAUTHENTICATED'],
]);

/** Node system error codes of a peer that is down or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

type ErrorFields = {
  name?: unknown;
  code?: unknown;
  retryable?: unknown;
  retriable?: unknown;
  errorLabels?: unknown;
  errorLabelSet?: unknown;
  cause?: unknown;
};

function causeChain(error: unknown): ErrorFields[] {
  const chain: ErrorFields[] = [];
  for (let current = error; typeof current === 'object' && current !== null && chain.length < 8;) {
    chain.push(current as ErrorFields);
    current = (current as ErrorFields).cause;
  }
  return chain;
}

function hasMongoTransientLabel(error: ErrorFields): boolean {
  const labels = Array.isArray(error.errorLabels)
    ? (error.errorLabels as unknown[])
    : error.errorLabelSet instanceof Set
      ? [...(error.errorLabelSet as Set<unknown>)]
      : [];
  return labels.some((label) => MONGO_TRANSIENT_LABELS.includes(String(label)));
}

/**
 * Sorts a failure into retryable or not. In order: an explicit `retryable` flag anywhere in the cause chain (Keel's
 * own errors: NonRetryableError, StorageError, the registry client's errors) decides; then the drivers' own
 * signs: kafkajs's `retriable` (a KafkaJSNumberOfRetriesExceeded is a broker that stayed away, so retryable), the
 * MongoDB driver's network and server-selection errors and transient labels, gRPC status codes, and Node's network
 * error codes. Anything else is treated as transient, because an unknown error is more often a flaky dependency
 * than a poison message; the retry budget bounds how long such a record holds its partition.
 */
export function classifyFailure(error: unknown): FailureClass {
  const chain = causeChain(error);
  for (const link of chain) {
    if (typeof link.retryable === 'boolean') {
      return { retryable: link.retryable, reason: `${String(link.name ?? 'error')} says retryable=${link.retryable}` };
    }
  }
  const top = chain[0];
  if (!top) return { retryable: true, reason: 'non-error value thrown (treated as transient)' };
  const name = typeof top.name === 'string' ? top.name : '';
  if (name.startsWith('KafkaJS')) {
    if (name === 'KafkaJSNumberOfRetriesExceeded') return { retryable: true, reason: 'kafka retries exhausted' };
    const root = chain[chain.length - 1];
    const retriable = root.retriable === true || top.retriable === true;
    return { retryable: retriable, reason: `kafka ${retriable ? 'retriable' : 'non-retriable'} ${name}` };
  }
  for (const link of chain) {
    const linkName = typeof link.name === 'string' ? link.name : '';
    if (MONGO_TRANSIENT_NAMES.has(linkName)) return { retryable: true, reason: `mongodb ${linkName}` };
    if (linkName.startsWith('Mongo') && hasMongoTransientLabel(link)) {
      return { retryable: true, reason: `mongodb transient ${linkName}` };
    }
    if (linkName.startsWith('Mongo') && typeof link.code === 'number' && MONGO_TRANSIENT_CODES.has(link.code)) {
      return { retryable: true, reason: `mongodb server code ${link.code}` };
    }
    if (typeof link.code === 'string' && NETWORK_CODES.has(link.code)) {
      return { retryable: true, reason: `network ${link.code}` };
    }
  }
  // A grpc-js ServiceError: numeric `code` with `details` and `metadata`.
  if (typeof top.code === 'number' && 'details' in top && 'metadata' in top) {
    const retryable = GRPC_RETRYABLE.get(top.code);
    if (retryable) return { retryable: true, reason: `grpc ${retryable}` };
    const permanent = GRPC_PERMANENT.get(top.code);
    if (permanent) return { retryable: false, reason: `grpc ${permanent}` };
  }
  return { retryable: true, reason: 'unknown error (treated as transient)' };
}

/** True unless the failure will fail the same way when tried again (see `classifyFailure`). */
export function isRetryable(error: unknown): boolean {
  return classifyFailure(error).retryable;
}

export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (typeof name === 'string') return name;
  }
  return 'Error';
}
