/** An error as it crosses the thread boundary: structured clone would keep only its name, message and stack. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  retryable?: boolean;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code, retryable } = error as { code?: unknown; retryable?: unknown };
  return {
    name: error.name,
    message: error.message,
    stack: error.stack,
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof retryable === 'boolean' ? { retryable } : {}),
  };
}

/**
 * A task failed inside its worker. It carries the original's `name`, `message`, `code` and `retryable` flag as they
 * were, so the messaging lib treats it exactly as it would the original (a `NonRetryableError` or a `StorageError`
 * with `retryable: false` goes straight to the dead-letter topic under its code; anything else is retried).
 */
export class WorkerTaskError extends Error {
  readonly code?: string;
  /** Absent when the original did not say; the messaging lib then retries, as for any unknown error. */
  readonly retryable?: boolean;

  constructor(
    readonly task: string,
    serialized: SerializedError,
  ) {
    super(serialized.message);
    this.name = serialized.name;
    if (serialized.code !== undefined) this.code = serialized.code;
    if (serialized.retryable !== undefined) this.retryable = serialized.retryable;
    if (serialized.stack) this.stack = `${serialized.stack}\n    at worker task ${task}`;
  }
}
