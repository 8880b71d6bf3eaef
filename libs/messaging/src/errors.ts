/**
 * Failures a handler can raise, explicit about retrying. Anything else thrown by a handler is treated as transient
 * (retried with backoff, then dead-lettered), because an unknown error is more often a flaky dependency than a
 * poison message.
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

/** True unless the error says it must not be retried. */
export function isRetryable(error: unknown): boolean {
  return !(typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === false);
}

export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (typeof name === 'string') return name;
  }
  return 'Error';
}
