import { LeaseLostError } from '@keel/coordination';
import { DatabaseError } from 'pg';
import { type SourceRun } from './source-state.repository';

/**
 * The source as declared cannot be pulled by this ingestion, whatever the upstream does: a secret or connection URL
 * its spec names is not in ingestion's environment, or it holds more rows than the spec's maxRows.
 */
export class SourceConfigError extends Error {}

/**
 * The source's own system failed or refused a read: its API, its PostgreSQL, its bucket, or a connection to one of
 * them. Tagged where the read happens, because the same clients (minio's, a socket's errors) also serve Keel's own
 * stores, whose failure is ingestion's outage, not the source's.
 */
export class SourceReadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SourceReadError';
  }
}

/** An error thrown by a read of the source, as a SourceReadError (the original as its cause, its message kept). */
export function asSourceRead(error: unknown): unknown {
  if (error instanceof SourceReadError || error instanceof SourceConfigError) return error;
  if (error instanceof Error && error.name === 'AbortError') return error;
  return new SourceReadError(error instanceof Error ? error.message : String(error), { cause: error });
}

/** Awaits a read of the source, its failure tagged as the source's. */
export const fromSource = <T>(read: Promise<T>): Promise<T> =>
  read.catch((error: unknown) => {
    throw asSourceRead(error);
  });

/** The items of a stream read from the source, its failure tagged as the source's. */
export async function* fromSourceStream<T>(items: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* items;
  } catch (error) {
    throw asSourceRead(error);
  }
}

/**
 * A PostgreSQL error caused by the declaration itself: SQLSTATE class 42 (a table, column or query of the spec that
 * does not exist or parse, a missing privilege) or 28 (the connection's user or password refused).
 */
const declaredWrong = (error: unknown) =>
  error instanceof DatabaseError && typeof error.code === 'string' && /^(42|28)/.test(error.code);

/** A pull that failed, with its run (status failed, the reason in `error`), which its caller answers with. */
export class SourcePullFailedError extends Error {
  constructor(
    readonly run: SourceRun,
    readonly reason: unknown,
  ) {
    super(run.error, { cause: reason });
    this.name = 'SourcePullFailedError';
  }
}

/**
 * The HTTP status a failed pull answers with, by what failed: 422 when the source's declaration cannot work (its
 * secrets, maxRows, or a table, column, query or login PostgreSQL refuses), 502 when the system it reads failed or
 * refused (SourceReadError: an API's answer, the source's PostgreSQL, the source's bucket, a connection to any of
 * them), 409 when another replica took the pull over, and 500 for anything else (Keel's own stores, a bug). Only a
 * 500 is unexpected: the others are the source's state, not ingestion's.
 */
export function failedPullStatus(reason: unknown): 409 | 422 | 500 | 502 {
  if (reason instanceof SourceConfigError) return 422;
  if (reason instanceof LeaseLostError) return 409;
  // node-postgres serves only sources (Keel's stores are MinIO and FerretDB), so its errors are the source's even
  // where a read was not tagged.
  const cause = reason instanceof SourceReadError ? reason.cause : reason;
  if (declaredWrong(cause)) return 422;
  if (reason instanceof SourceReadError || reason instanceof DatabaseError) return 502;
  return 500;
}

/** Whether a failure is the source's (logged as a warning with its run) rather than ingestion's (an error). */
export const expectedPullFailure = (reason: unknown) => failedPullStatus(reason) !== 500;
