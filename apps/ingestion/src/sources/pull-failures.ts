import { LeaseLostError } from '@keel/coordination';
import { S3Error } from 'minio';
import { DatabaseError } from 'pg';
import { HttpSourceError } from './http-reader';
import { type SourceRun } from './source-state.repository';

/**
 * The source as declared cannot be pulled by this ingestion, whatever the upstream does: a secret or connection URL
 * its spec names is not in ingestion's environment, or it holds more rows than the spec's maxRows.
 */
export class SourceConfigError extends Error {}

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
 * The HTTP status a failed pull answers with, by what failed: 422 when the source's declaration cannot work, 502
 * when the system it reads failed or refused (an API's answer, the source's PostgreSQL, the bucket's object store, a
 * connection to any of them), 409 when another replica took the pull over, and 500 for anything else (Keel's own
 * stores, a bug). Only a 500 is unexpected: the others are the source's state, not ingestion's.
 */
export function failedPullStatus(reason: unknown): 409 | 422 | 500 | 502 {
  if (reason instanceof SourceConfigError) return 422;
  if (reason instanceof LeaseLostError) return 409;
  if (reason instanceof HttpSourceError || reason instanceof DatabaseError || reason instanceof S3Error) return 502;
  // A socket's own failure (ECONNREFUSED, ENOTFOUND, ECONNRESET) as node-postgres and minio pass it on; Keel's stores'
  // drivers wrap theirs in their own errors.
  if (reason instanceof Error && typeof (reason as NodeJS.ErrnoException).syscall === 'string') return 502;
  // node-postgres reports a connection the server closed (pg_terminate_backend, a restart) as a plain Error; which
  // of that or the server's own DatabaseError (57P01) a pull sees depends on which arrives first.
  if (reason instanceof Error && /^Connection terminated( unexpectedly)?$/.test(reason.message)) return 502;
  return 500;
}

/** Whether a failure is the source's (logged as a warning with its run) rather than ingestion's (an error). */
export const expectedPullFailure = (reason: unknown) => failedPullStatus(reason) !== 500;
